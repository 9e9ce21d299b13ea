/*
 * Reloading the configuration (see br_reload.h): the new file is read
 * whole and checked like at start; then each setting of the table is
 * compared, and the ones that may change at once are swapped into the
 * running struct (the old values leave with the new struct, which is
 * freed).
 */
#include <errno.h>
#include <stddef.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_config_private.h"
#include "br_ini.h"
#include "br_reload.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define F(field) offsetof(struct br_config, field)

/* A value as the dump prints it (xmalloc'ed); "(unset)" for a string
   that is not set. Never for a secret. */
static char *value_text(const struct br_config *cfg,
			const struct br_ini_setting *s)
{
	if ((s->type == BR_INI_STRING || s->type == BR_INI_WORD) &&
	    *(char *const *)((const char *)cfg + s->off) == NULL)
		return xstrdup("(unset)");
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	ut_assert(mem != NULL);
	br_ini_print_value(mem, cfg, s);
	ut_assert(fclose(mem) == 0);
	return text;
}

static bool same_string(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static bool same_value(const struct br_config *a, const struct br_config *b,
		       const struct br_ini_setting *s)
{
	if (s->type == BR_INI_SECRET)
		return same_string(*(char *const *)((const char *)a + s->off),
				   *(char *const *)((const char *)b + s->off));
	char *x = value_text(a, s), *y = value_text(b, s);
	bool same = strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* How many bytes a setting's value takes in struct br_config. */
static size_t value_size(enum br_ini_type type)
{
	switch (type) {
	case BR_INI_STRING:
	case BR_INI_SECRET:
	case BR_INI_WORD:
		return sizeof(char *);
	case BR_INI_LIST:
		return sizeof(char **);
	case BR_INI_UINT:
	case BR_INI_MODE:
	case BR_INI_TRACE:
		return sizeof(unsigned);
	case BR_INI_PORT:
		return sizeof(uint16_t);
	case BR_INI_MSECS:
	case BR_INI_SIZE:
		return sizeof(uint64_t);
	case BR_INI_BOOL:
		return sizeof(bool);
	case BR_INI_ENUM:
		return sizeof(int);
	case BR_INI_LOGLEVEL:
		return sizeof(enum ut_log_level);
	}
	ut_assert(!"unknown setting type");
	return 0;
}

static void swap_bytes(void *a, void *b, size_t n)
{
	unsigned char tmp[sizeof(uint64_t) > sizeof(void *) ? sizeof(uint64_t)
							    : sizeof(void *)];
	ut_assert(n <= sizeof(tmp));
	memcpy(tmp, a, n);
	memcpy(a, b, n);
	memcpy(b, tmp, n);
}

#define SWAP_FIELD(a, b, field)                                                \
	swap_bytes(&(a)->field, &(b)->field, sizeof((a)->field))

/* Swaps s's value (and a list's count, and what is derived from it)
   between the two structs. */
static void swap_value(struct br_config *a, struct br_config *b,
		       const struct br_ini_setting *s)
{
	swap_bytes((char *)a + s->off, (char *)b + s->off, value_size(s->type));
	if (s->type == BR_INI_LIST)
		swap_bytes((char *)a + s->count_off, (char *)b + s->count_off,
			   sizeof(size_t));
	if (s->off == F(trusted_users)) {
		SWAP_FIELD(a, b, trusted_uids);
		SWAP_FIELD(a, b, trusted_uid_count);
		SWAP_FIELD(a, b, trust_owner);
		SWAP_FIELD(a, b, trust_any);
	} else if (s->off == F(control_users)) {
		SWAP_FIELD(a, b, control_uids);
		SWAP_FIELD(a, b, control_uid_count);
	}
}

/* [domains] as a whole (outside the table; always needs a restart). */
static bool same_domain_maps(const struct br_config *a,
			     const struct br_config *b)
{
	if (a->domain_map_count != b->domain_map_count)
		return false;
	for (size_t i = 0; i < a->domain_map_count; i++) {
		if (strcmp(a->domain_maps[i].mail, b->domain_maps[i].mail) !=
			0 ||
		    strcmp(a->domain_maps[i].xmpp, b->domain_maps[i].xmpp) != 0)
			return false;
	}
	return true;
}

/* Whether s must wait for a restart: the table says so, or (trusted_users
   = owner) it needs a setting that waits for one. */
static bool waits_for_restart(const struct br_config *cfg,
			      const struct br_config *fresh,
			      const struct br_ini_setting *s)
{
	if (br_config__needs_restart(s))
		return true;
	return s->off == F(trusted_users) && fresh->trust_owner &&
	       !same_string(cfg->auth_master_socket, fresh->auth_master_socket);
}

static void log_kept(const struct br_config *cfg, const struct br_config *fresh,
		     const struct br_ini_setting *s)
{
	if (s->type == BR_INI_SECRET) {
		log_warn("reload: [%s] %s changed: needs a restart, kept the "
			 "running value",
			 s->section, s->key);
		return;
	}
	char *old = value_text(cfg, s), *new = value_text(fresh, s);
	if (br_config__needs_restart(s))
		log_warn("reload: [%s] %s changed: needs a restart, kept %s "
			 "(the file says %s)",
			 s->section, s->key, old, new);
	else
		log_warn("reload: [%s] %s changed: needs a restart (with "
			 "[mail] auth_master_socket), kept %s (the file says "
			 "%s)",
			 s->section, s->key, old, new);
	free(old);
	free(new);
}

static void log_applied(const struct br_config *cfg,
			const struct br_config *fresh,
			const struct br_ini_setting *s)
{
	if (s->type == BR_INI_SECRET) {
		log_info("reload: [%s] %s changed: applied", s->section,
			 s->key);
		return;
	}
	char *old = value_text(cfg, s), *new = value_text(fresh, s);
	log_info("reload: [%s] %s changed: applied, now %s (was %s)",
		 s->section, s->key, new, old);
	free(old);
	free(new);
}

void br_reload_merge(struct br_config *cfg, struct br_config *fresh,
		     unsigned *applied_r, unsigned *kept_r)
{
	unsigned applied = 0, kept = 0;

	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		if (same_value(cfg, fresh, s))
			continue;
		if (waits_for_restart(cfg, fresh, s)) {
			log_kept(cfg, fresh, s);
			kept++;
			continue;
		}
		log_applied(cfg, fresh, s);
		swap_value(cfg, fresh, s);
		applied++;
	}
	if (!same_domain_maps(cfg, fresh)) {
		log_warn("reload: [%s] changed: needs a restart, kept the "
			 "running mapping",
			 BR_CONFIG_DOMAINS_SECTION);
		kept++;
	}
	*applied_r = applied;
	*kept_r = kept;
}

void br_reload_apply_log(const struct br_config *cfg, const char *ident,
			 bool debug)
{
	ut_log_set_level(debug ? UT_LOG_DEBUG : cfg->log_level);
	ut_log_set_trace(cfg->trace_mask);
	if (cfg->log_target != BR_LOG_SYSLOG) {
		ut_log_to_stderr();
		return;
	}
	int facility;
	/* The table allows only names that parse. */
	ut_assert(ut_log_facility_parse(cfg->log_facility, &facility) == 0);
	if (!ut_log_is_syslog() && access(_PATH_LOG, W_OK) < 0)
		log_warn("log: %s: %s: lines sent to syslog are lost until "
			 "a syslog daemon listens there",
			 _PATH_LOG, strerror(errno));
	ut_log_to_syslog(ident, facility);
}

int br_reload(struct br_config *cfg, const struct br_reload_targets *t,
	      char **summary_r, char **error_r)
{
	struct br_config *fresh = NULL;
	char *error = NULL;
	unsigned applied, kept;

	if (br_config_load(cfg->path, 0, &fresh, &error) < 0) {
		log_error("reload: refused, keeping the running configuration: "
			  "%s",
			  error);
		*error_r = error;
		return -1;
	}
	br_reload_merge(cfg, fresh, &applied, &kept);
	br_config_free(&fresh);

	if (t->events != NULL) {
		struct ms_evsock_settings es = {
		    .trusted_uids = cfg->trusted_uids,
		    .trusted_uid_count = cfg->trusted_uid_count,
		    .trust_any = cfg->trust_any,
		    .owner_check = cfg->trust_owner ? t->authmaster : NULL,
		};
		ms_evsock_set_trust(t->events, &es);
	}
	if (t->router != NULL)
		br_router_config_changed(t->router);
	if (applied == 0 && kept == 0)
		*summary_r = xstrdup("reload: no change");
	else
		*summary_r = xasprintf(
		    "reload: %u setting%s applied, %u need%s a restart",
		    applied, applied == 1 ? "" : "s", kept,
		    kept == 1 ? "s" : "");
	/* Before the [log] settings: a new target gets the lines after. */
	log_info("%s", *summary_r);
	br_reload_apply_log(cfg, t->log_ident, t->log_debug);
	return 0;
}
