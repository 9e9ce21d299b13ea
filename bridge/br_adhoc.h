#ifndef BR_ADHOC_H
#define BR_ADHOC_H

/*
 * The bridge's XEP-0050 ad-hoc commands on the component JID, on the
 * component's helper (xm_adhoc.h), which does the protocol, discovery and
 * sessions. Two commands:
 *
 *   node "settings", "Mail notification settings": the user's settings as
 *   a form (br_settings_form.h), one stage. Submitting it (action complete
 *   or execute) checks every field first and saves nothing when one is
 *   invalid: the form comes back with the values stored now and an error
 *   note naming the fields (the session goes on). Otherwise only the
 *   values that differ from the user's are stored (or the choices
 *   forgotten, with reset), the router is told (br_router_settings_changed)
 *   and the command completes with a note saying what was saved, or
 *   "Nothing changed.". When the ledger refuses a change, what was changed
 *   is undone and the command completes with an error note. Cancel is the
 *   helper's.
 *
 *   node "send-mail", "Send a mail" (only while mail from chat is on:
 *   deps->sender): the form of br_sendmail_form.h, listing local people
 *   whose presence is known with it. A submitted form that does not read
 *   comes back with an error note naming the fields; otherwise the mail
 *   goes to br_sender_submit() as a new mail and the command completes
 *   with "Sending to …" (the result comes as a chat from the component),
 *   or with an error note saying why it was refused (the send limit, …).
 *
 * Only local users (br_jidmap_sender(): a JID of a served domain that maps
 * to a mailbox) may see or run a command; the helper answers anyone else
 * forbidden on every stage and lists nothing to them in discovery, so
 * nobody else learns anything about mailboxes.
 *
 * Loop thread only; the stage callbacks answer at once.
 */

#include "br_config.h"
#include "br_ledger.h"
#include "br_online.h"
#include "br_router.h"
#include "br_sender.h"
#include "xm_adhoc.h"

struct br_adhoc;

struct br_adhoc_deps {
	const struct br_config *cfg;
	struct br_ledger *ledger;
	/* Told about each change; NULL: nobody to tell (tests). */
	struct br_router *router;
	/* Mail from chat; NULL: off (no send-mail command). */
	struct br_sender *sender;
	/* Whose presence to show in send-mail's form; NULL: nobody's. */
	struct br_online *online;
};

/*
 * Registers the commands on a. deps' objects must outlive the helper: a
 * has no way to unregister, so free the result only once a is closed
 * (xm_component_close() closes it). Returns 0 with *ba_r, or -1 when a
 * command's node is registered on a already.
 */
int br_adhoc_new(struct xm_adhoc *a, const struct br_adhoc_deps *deps,
		 struct br_adhoc **ba_r);
/* Frees; sets *ba to NULL. No-op on NULL. */
void br_adhoc_free(struct br_adhoc **ba);

#endif
