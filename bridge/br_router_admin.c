/*
 * What the control socket (tidingsctl) asks of the router: what it holds
 * for a user, a resync of their mailboxes, a test notification. See the
 * control part of br_router.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "br_router_private.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

void br_router_user_info(const struct br_router *r, const char *key,
			 struct br_router_user_info *info_r)
{
	memset(info_r, 0, sizeof(*info_r));
	const struct br_user *u = ut_hash_get(r->users, key);
	if (u == NULL)
		return;
	info_r->in_memory = true;
	info_r->held = u->held_count + u->held_extra;
	info_r->digest_due =
	    info_r->held > 0 && uv_is_active((const uv_handle_t *)&u->timer);
	info_r->summary_due = u->missed;
	info_r->window_singles = u->window_singles;
	info_r->resync_queued = u->walk_queued;
	size_t klen = strlen(key);
	for (const struct br_scan *s = r->scans; s != NULL; s = s->next)
		if (strncmp(s->key, key, klen) == 0 && s->key[klen] == '\n')
			info_r->reconciliations++;
}

bool br_router_knows(struct br_router *r, const char *key)
{
	int found = 0;
	uint32_t uidvalidity, last_uid;

	if (ut_hash_get(r->users, key) != NULL)
		return true;
	br_router__turn(r);
	return br_ledger_mailbox_get(r->d.ledger, key, "INBOX", &found,
				     &uidvalidity, &last_uid) == 0 &&
	       found;
}

int br_router_resync(struct br_router *r, const char *key)
{
	int64_t now = (int64_t)time(NULL);
	int marked = 0;

	if (r->d.imap == NULL || r->closing)
		return -1;
	br_router__turn(r);
	struct br_user *u = br_user__get(r, key);
	if (u == NULL)
		return -1;
	for (size_t i = 0; i < r->cfg->mailbox_count; i++) {
		/* The ledger keys INBOX so, whatever the config's case. */
		const char *mailbox =
		    strcasecmp(r->cfg->mailboxes[i], "INBOX") == 0
			? "INBOX"
			: r->cfg->mailboxes[i];
		int found = 0;
		uint32_t uidvalidity = 0, last_uid = 0;
		if (br_ledger_mailbox_get(r->d.ledger, u->key, mailbox, &found,
					  &uidvalidity, &last_uid) < 0)
			continue;
		/* A mailbox never seen: INBOX only (a first-seen row is
		   scanned by delivery date); nothing lies above UID max. */
		if ((!found && strcmp(mailbox, "INBOX") != 0) ||
		    last_uid == UINT32_MAX)
			continue;
		if (br_ledger_due_set(r->d.ledger, u->key, mailbox,
				      last_uid + 1, now) == 0)
			marked++;
	}
	ut_log(UT_LOG_INFO, u->prefix,
	       "resync asked over the control socket: %d mailboxes due",
	       marked);
	br_due__walk_user(r, u, false);
	return marked;
}

int br_router_send_test(struct br_router *r, const char *key, const char *body,
			char **id_r)
{
	if (r->closing)
		return -1;
	br_router__turn(r);
	struct br_user *u = br_user__get(r, key);
	if (u == NULL)
		return -1;
	char *id = xm_id_new();
	xmpp_stanza_t *st = xm_message_new(r->d.sctx, r->cfg->message_type,
					   r->cfg->component, u->jid, id);
	xm_message_set_body(st, body);
	xm_elem_adopt(st, xm_elem_new(r->d.sctx, "test", BR_NS_MAIL));
	br_router__deliver(u, st, NULL, 0);
	xmpp_stanza_release(st);
	ut_log(UT_LOG_INFO, u->prefix,
	       "sent a test notification (id %s) asked over the control "
	       "socket",
	       id);
	*id_r = id;
	return 0;
}
