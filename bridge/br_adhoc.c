#include <stdlib.h>

#include "br_adhoc.h"
#include "br_jidmap.h"
#include "br_settings.h"
#include "br_settings_form.h"
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

int br_adhoc_new(struct xm_adhoc *a, const struct br_adhoc_deps *deps,
		 struct br_adhoc **ba_r)
{
	struct br_adhoc *ba = xcalloc(1, sizeof(*ba));

	ba->d = *deps;
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
