#ifndef BR_RELOAD_H
#define BR_RELOAD_H

/*
 * Reloading the configuration (SIGHUP, `tidingsctl reload`) and applying
 * the [log] settings.
 *
 * A reload reads cfg->path again with br_config_load(), with the same
 * checks as at start. A file with any error changes nothing: the error
 * ("file:line: message") is logged as
 *   reload: refused, keeping the running configuration: FILE:LINE: ...
 * and returned. Otherwise each setting of the table (br_config_private.h)
 * whose value changed is either
 *   - one that takes effect only at the next start
 *     (br_config__needs_restart(): sockets, connections, the component,
 *     the state directory, [domains]): logged at warn and kept, e.g.
 *       reload: [xmpp] port changed: needs a restart, kept 5347
 *     (a secret's value is never printed: "kept the running value"); or
 *   - any other: moved into the running struct br_config (the same
 *     pointer every module holds, so they see it at their next read) and
 *     logged at info, e.g.
 *       reload: [notify] burst_max changed: applied, now 1 (was 3)
 * Values derived from a list follow it: [events] trusted_users gives
 * trusted_uids, trust_owner and trust_any; [control] trusted_users gives
 * control_uids. ([events] trusted_users = owner also needs [mail]
 * auth_master_socket; while that one waits for a restart, trusted_users
 * waits too.) Then what copied values at start is told: the [log]
 * settings (br_reload_apply_log), the event socket's trusted writers
 * (ms_evsock_set_trust) and the router's users' settings (a new [defaults]
 * value reaches users who never chose their own: br_router_config_changed).
 * Last comes one summary line at info, e.g.
 *   reload: 2 settings applied, 1 needs a restart
 *
 * Loop thread only.
 */

#include <stdbool.h>

#include "br_config.h"
#include "br_router.h"
#include "ms_authmaster.h"
#include "ms_evsock.h"

/* What holds copies of reloadable settings; each may be NULL. */
struct br_reload_targets {
	struct ms_evsock *events;
	/* The owner check of [events] trusted_users = owner. */
	struct ms_authmaster *authmaster;
	struct br_router *router;
	/* For br_reload_apply_log(). */
	const char *log_ident;
	bool log_debug;
};

/*
 * Reloads cfg (see above). Returns 0 with an xmalloc'ed one-line summary
 * in *summary_r ("reload: 2 settings applied, 1 needs a restart", or
 * "reload: no change"), or -1 with the xmalloc'ed error in *error_r
 * ("FILE:LINE: message"); cfg is unchanged then.
 */
int br_reload(struct br_config *cfg, const struct br_reload_targets *t,
	      char **summary_r, char **error_r);

/*
 * The comparison alone (br_reload() without reading the file or telling
 * the targets): moves every changed setting that may change at once from
 * fresh into cfg, and logs each change as above. fresh is left holding the
 * values cfg had (free it with br_config_free). Counts the settings
 * applied and those kept for a restart.
 */
void br_reload_merge(struct br_config *cfg, struct br_config *fresh,
		     unsigned *applied_r, unsigned *kept_r);

/*
 * Makes cfg's [log] settings take effect: level (with debug, for -d:
 * debug whatever [log] level says), trace mask, and target, with ident (a
 * string that stays valid, e.g. "tidingsd") and facility for syslog.
 * Before switching to syslog, warns (on stderr still) when nothing can be
 * written at /dev/log. At start and after a reload.
 */
void br_reload_apply_log(const struct br_config *cfg, const char *ident,
			 bool debug);

#endif
