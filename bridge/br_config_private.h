#ifndef BR_CONFIG_PRIVATE_H
#define BR_CONFIG_PRIVATE_H

/*
 * Internal to br_config*.c: the table of settings (br_config_table.c),
 * which the reader (br_config.c) fills struct br_config from and the dump
 * prints.
 */

#include <stddef.h>

#include "br_ini.h"

/* The section of free-form "mail domain = XMPP domain" lines. */
#define BR_CONFIG_DOMAINS_SECTION "domains"

/* Every setting, in the order of the dump and of the example file. */
extern const struct br_ini_setting br_config__settings[];
extern const size_t br_config__setting_count;

/*
 * Whether a new value of s in a SIGHUP reload takes effect only at the next
 * start (sockets, connections, the component, the state directory): the
 * reload then logs the change and keeps the running value. Everything else
 * applies at once. tidings.conf(5) says it for each key.
 */
bool br_config__needs_restart(const struct br_ini_setting *s);

#endif
