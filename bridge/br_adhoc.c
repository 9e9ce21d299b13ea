#include <stdlib.h>

#include <string.h>

#include "br_adhoc.h"
#include "br_jidmap.h"
#include "br_sendmail_form.h"
#include "br_settings.h"
#include "br_settings_form.h"
#include "ms_smtp.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define SETTINGS_NODE "settings"
#define SETTINGS_NAME "Mail notification settings"

struct br_adhoc {
	struct br_adhoc_deps d;
};

/* Local users only: the one test of br_jidmap. */
static bool local_cb(const char *requester, void *ctx)
{
	struct br_adhoc *ba = ctx;
	char *key = NULL;
	bool ok = br_jidmap_sender(ba->d.cfg, requester, &key, NULL) == 0;

	free(key);
	return ok;
}

/* The form with the settings stored now, and a note (may be NULL). */
static void reply_form(struct br_adhoc *ba, struct xm_adhoc_call *call,
		       const char *key, enum xm_adhoc_note note_type,
		       const char *note)
{
	struct br_settings s;
	struct xm_form *f;

	br_settings_load(ba->d.cfg, ba->d.ledger, key, &s);
	f = br_settings_form_new(ba->d.cfg, &s);
	xm_adhoc_call_reply_form(call, f, XM_ADHOC_ALLOW_COMPLETE,
				 XM_ADHOC_COMPLETE, note_type, note);
	xm_form_free(&f);
}

static void submit(struct br_adhoc *ba, struct xm_adhoc_call *call,
		   const char *key, const struct xm_form *in)
{
	struct br_settings before, after;
	struct br_settings_change ch;
	char *error = NULL, *text;

	br_settings_load(ba->d.cfg, ba->d.ledger, key, &before);
	if (in == NULL) {
		/* Complete without a form: nothing to save. */
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO,
				       "Nothing changed.", NULL);
		return;
	}
	if (br_settings_form_read(in, &before, &ch, &error) < 0) {
		reply_form(ba, call, key, XM_ADHOC_NOTE_ERROR, error);
		free(error);
		return;
	}
	if (br_settings_apply(ba->d.ledger, key, &before, &ch) < 0) {
		if (ba->d.router != NULL)
			br_router_settings_changed(ba->d.router, key);
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_ERROR,
				       "Sorry, your settings could not be "
				       "saved. Nothing was changed.",
				       NULL);
		return;
	}
	if (br_settings_change_any(&ch) && ba->d.router != NULL)
		br_router_settings_changed(ba->d.router, key);
	br_settings_load(ba->d.cfg, ba->d.ledger, key, &after);
	text = br_settings_change_text(&ch, &after);
	log_debug("settings: %s: %s (ad-hoc command)", key, text);
	xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO, text, NULL);
	free(text);
}

static void settings_cb(struct xm_adhoc_call *call, void *ctx)
{
	struct br_adhoc *ba = ctx;
	char *key = NULL;

	/* The helper asked local_cb just now: this succeeds. */
	if (br_jidmap_sender(ba->d.cfg, xm_adhoc_call_requester(call), &key,
			     NULL) < 0) {
		xm_adhoc_call_error(call, "cancel", "forbidden", NULL, NULL);
	} else if (xm_adhoc_call_first(call)) {
		reply_form(ba, call, key, XM_ADHOC_NOTE_INFO, NULL);
	} else {
		submit(ba, call, key, xm_adhoc_call_submitted_form(call));
	}
	free(key);
	xm_adhoc_call_release(&call);
}

/* ---- send-mail ---- */

/* People the form lists: local users whose presence is known, but the
   one asking. */
struct people {
	struct br_sendmail_person *v;
	size_t n;
	const char *self;
};

#define PEOPLE_SCANNED_MAX 500 /* looked at for the form's list */

static int person_cb(const char *key, const char *bare,
		     enum br_presence presence, void *ctx)
{
	struct people *pl = ctx;
	(void)bare;
	if (strcmp(key, pl->self) == 0)
		return 0;
	pl->v[pl->n].address = key; /* replaced by the address below */
	pl->v[pl->n].presence = br_presence_word(presence);
	return ++pl->n >= PEOPLE_SCANNED_MAX;
}

static struct xm_form *sendmail_form(struct br_adhoc *ba, const char *key)
{
	struct people pl = {xcalloc(PEOPLE_SCANNED_MAX, sizeof(*pl.v)), 0, key};
	char *from = br_jidmap_key_address(ba->d.cfg, key);

	if (ba->d.online != NULL)
		br_online_foreach(ba->d.online, person_cb, &pl);
	for (size_t i = 0; i < pl.n; i++)
		pl.v[i].address =
		    br_jidmap_key_address(ba->d.cfg, pl.v[i].address);
	struct xm_form *f = br_sendmail_form_new(from, pl.v, pl.n);
	for (size_t i = 0; i < pl.n; i++)
		free((char *)pl.v[i].address);
	free(pl.v);
	free(from);
	return f;
}

static void sendmail_submit(struct br_adhoc *ba, struct xm_adhoc_call *call,
			    const char *key, const char *bare)
{
	const struct xm_form *in = xm_adhoc_call_submitted_form(call);
	struct br_sendmail_request req;
	char *error = NULL;
	const char *reason;

	if (in == NULL) {
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO,
				       "Nothing was sent.", NULL);
		return;
	}
	if (br_sendmail_form_read(in, (size_t)ba->d.cfg->send_body_max,
				  MS_SMTP_RCPTS_MAX, &req, &error) < 0) {
		/* The form again, with what was wrong. */
		struct xm_form *f = sendmail_form(ba, key);
		xm_adhoc_call_reply_form(call, f, XM_ADHOC_ALLOW_COMPLETE,
					 XM_ADHOC_COMPLETE, XM_ADHOC_NOTE_ERROR,
					 error);
		xm_form_free(&f);
		free(error);
		return;
	}
	struct br_send_request r = {
	    .user = key,
	    .jid = bare,
	    .tell_from = ba->d.cfg->component,
	    .to = req.to.v,
	    .n_to = req.to.n,
	    .cc = req.cc.v,
	    .n_cc = req.cc.n,
	    .subject = req.subject,
	    .body = req.body,
	    .body_len = req.body_len,
	    .parent = BR_SEND_NEW,
	};
	if (br_sender_submit(ba->d.sender, &r, &reason, &error) < 0) {
		char *text = xasprintf("Not sent: %s.", error);
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_ERROR, text, NULL);
		free(text);
		free(error);
	} else {
		struct ut_buf b = UT_BUF_INIT;
		ut_buf_append_str(&b, "Sending to ");
		for (size_t i = 0; i < req.to.n + req.cc.n; i++)
			ut_buf_appendf(&b, "%s%s", i > 0 ? ", " : "",
				       i < req.to.n
					   ? req.to.v[i].addr
					   : req.cc.v[i - req.to.n].addr);
		ut_buf_appendf(&b, "; %s tells you in a chat when it is sent.",
			       ba->d.cfg->component);
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO, ut_buf_str(&b),
				       NULL);
		ut_buf_free(&b);
	}
	br_sendmail_request_clear(&req);
}

static void sendmail_cb(struct xm_adhoc_call *call, void *ctx)
{
	struct br_adhoc *ba = ctx;
	char *key = NULL, *bare = NULL;

	if (br_jidmap_sender(ba->d.cfg, xm_adhoc_call_requester(call), &key,
			     &bare) < 0) {
		xm_adhoc_call_error(call, "cancel", "forbidden", NULL, NULL);
	} else if (xm_adhoc_call_first(call)) {
		struct xm_form *f = sendmail_form(ba, key);
		xm_adhoc_call_reply_form(call, f, XM_ADHOC_ALLOW_COMPLETE,
					 XM_ADHOC_COMPLETE, XM_ADHOC_NOTE_INFO,
					 NULL);
		xm_form_free(&f);
	} else {
		sendmail_submit(ba, call, key, bare);
	}
	free(key);
	free(bare);
	xm_adhoc_call_release(&call);
}

int br_adhoc_new(struct xm_adhoc *a, const struct br_adhoc_deps *deps,
		 struct br_adhoc **ba_r)
{
	struct br_adhoc *ba = xcalloc(1, sizeof(*ba));

	ba->d = *deps;
	if (deps->sender != NULL &&
	    xm_adhoc_register(a, BR_SENDMAIL_NODE, BR_SENDMAIL_NAME, local_cb,
			      sendmail_cb, ba) < 0) {
		free(ba);
		*ba_r = NULL;
		return -1;
	}
	if (xm_adhoc_register(a, SETTINGS_NODE, SETTINGS_NAME, local_cb,
			      settings_cb, ba) < 0) {
		free(ba);
		*ba_r = NULL;
		return -1;
	}
	*ba_r = ba;
	return 0;
}

void br_adhoc_free(struct br_adhoc **ba)
{
	free(*ba);
	*ba = NULL;
}
