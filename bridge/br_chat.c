#include <stdlib.h>
#include <string.h>

#include "br_chat.h"
#include "br_command.h"
#include "br_nudge.h"
#include "br_settings.h"
#include "ut_buf.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

#define BODY_MAX_BYTES 4096 /* of a command message that is parsed */

static const char help_text[] =
    "I tell you about new mail. Commands:\n"
    "help \xE2\x80\x94 this text\n"
    "settings \xE2\x80\x94 show your settings\n"
    "set <name> <value> \xE2\x80\x94 change one, e.g. set notify off, "
    "set hold_when away (set <name> default: the organisation's)\n"
    "check \xE2\x80\x94 a summary of your mailbox now\n"
    "nudge \xE2\x80\x94 remind the recipients of the mail you sent last "
    "to check their mail\n"
    "nudge <name> \xE2\x80\x94 remind one of them (an address, the part "
    "before the @, or a JID)\n"
    "Clients with ad-hoc commands also list \"Mail notification settings\", a "
    "form for the same.";

/* Replies to msg (to its from, from the component) with text. */
static void reply(const struct br_inbound_deps *d, xmpp_stanza_t *msg,
		  const char *text)
{
	const char *to = xmpp_stanza_get_from(msg);
	char *id = xm_id_new();
	xmpp_stanza_t *r =
	    xm_message_new(d->sctx, "chat", d->cfg->component, to, id);
	xm_message_set_body(r, text);
	d->send(d->send_ctx, r);
	xmpp_stanza_release(r);
	free(id);
}

/* `nudge` / `nudge NAME` (c->word: "" for every recipient): the
   recipients of the sender's latest mail (br_nudge.h). */
static void nudge(const struct br_inbound_deps *d, const char *key,
		  xmpp_stanza_t *msg, const struct br_command *c)
{
	char *bare = xm_jid_bare(xmpp_stanza_get_from(msg));

	if (bare == NULL || d->nudge == NULL)
		reply(d, msg, "Sorry, nudges are not available here.");
	else
		br_nudge_command(d->nudge, key, bare,
				 c->word[0] != '\0' ? c->word : NULL);
	free(bare);
}

static void show_settings(const struct br_inbound_deps *d, const char *key,
			  xmpp_stanza_t *msg)
{
	struct br_settings s;
	struct ut_buf b = UT_BUF_INIT;

	br_settings_load(d->cfg, d->ledger, key, &s);
	ut_buf_append_str(&b, "Your settings:");
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		const struct br_setting_info *in =
		    br_setting_info((enum br_setting_id)i);
		ut_buf_appendf(&b, "\n%s = %s%s", in->name,
			       br_setting_format((enum br_setting_id)i, s.v[i]),
			       s.changed[i] ? "" : " (default)");
	}
	ut_buf_append_str(&b, "\nChange one with: set <name> <value>");
	reply(d, msg, ut_buf_str(&b));
	ut_buf_free(&b);
}

static void set_setting(const struct br_inbound_deps *d, const char *key,
			xmpp_stanza_t *msg, const struct br_command *c)
{
	int id = br_setting_lookup(c->name);
	int64_t v = 0;
	char *text;

	if (id < 0) {
		text = xasprintf("There is no setting \"%s\". Send "
				 "\"settings\" to see them.",
				 c->name);
	} else if (strcmp(c->value, "default") == 0) {
		text = br_settings_reset(d->ledger, key, id) < 0
			   ? xstrdup("Sorry, that could not be saved.")
			   : xasprintf("%s is back to the default.", c->name);
	} else if (br_setting_parse(id, c->value, &v) < 0) {
		char *choices = br_setting_choices(id);
		text = xasprintf("%s takes %s.", c->name, choices);
		free(choices);
	} else if (br_settings_set(d->ledger, key, id, v) < 0) {
		text = xstrdup("Sorry, that could not be saved.");
	} else {
		text = xasprintf("%s is now %s.", c->name,
				 br_setting_format(id, v));
	}
	br_router_settings_changed(d->router, key);
	reply(d, msg, text);
	free(text);
}

void br_chat_message(const struct br_inbound_deps *d, const char *key,
		     xmpp_stanza_t *msg, const char *body)
{
	struct br_command c;
	size_t len = strlen(body);
	char *text;

	br_command_parse(body, len < BODY_MAX_BYTES ? len : BODY_MAX_BYTES, &c);
	switch (c.kind) {
	case BR_COMMAND_NONE:
		return;
	case BR_COMMAND_HELP:
		reply(d, msg, help_text);
		return;
	case BR_COMMAND_SETTINGS:
		show_settings(d, key, msg);
		return;
	case BR_COMMAND_SET:
		set_setting(d, key, msg, &c);
		return;
	case BR_COMMAND_BAD_SET:
		reply(d, msg,
		      "Say it as: set <name> <value>, e.g. set notify off.");
		return;
	case BR_COMMAND_NUDGE:
		nudge(d, key, msg, &c);
		return;
	case BR_COMMAND_BAD_NUDGE:
		reply(d, msg,
		      "Say it as: nudge (everyone you sent your latest mail "
		      "to) or nudge <name> (one of them).");
		return;
	case BR_COMMAND_CHECK: {
		char *bare = xm_jid_bare(xmpp_stanza_get_from(msg));
		if (bare == NULL || br_router_summary(d->router, bare) < 0)
			reply(d, msg, "Sorry, I cannot check your mailbox.");
		free(bare);
		return;
	}
	case BR_COMMAND_UNKNOWN:
	default:
		text = xasprintf("I do not know \"%s\". Send \"help\" for what "
				 "I understand.",
				 c.word);
		reply(d, msg, text);
		free(text);
		return;
	}
}
