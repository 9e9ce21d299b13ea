#include <stdlib.h>
#include <string.h>

#include "br_settings.h"
#include "ut_buf.h"
#include "ut_parse.h"
#include "ut_str.h"

static const char *const hold_values[] = {"never", "dnd", "away", NULL};
static const char *const hold_labels[] = {
    "Never", "When I am busy (dnd)",
    "When I am away, extended away (xa) or busy (dnd)", NULL};
/* As enum br_nudge_mode. */
static const char *const nudge_values[] = {"off", "offer", "auto", NULL};
static const char *const nudge_labels[] = {
    "Never", "Offer it (I reply \"nudge\" to send it)", "At once", NULL};

static const struct br_setting_info infos[BR_SETTING_COUNT] = {
    [BR_SETTING_NOTIFY] = {"notify", "A message for each new mail", NULL, NULL},
    [BR_SETTING_SUMMARY_ON_LOGIN] = {"summary_on_login",
				     "A summary of my mailbox when I come "
				     "online",
				     NULL, NULL},
    [BR_SETTING_HOLD_WHEN] = {"hold_when",
			      "Hold notifications while I am (away also "
			      "covers xa and dnd)",
			      hold_values, hold_labels},
    [BR_SETTING_NUDGE] = {"nudge",
			  "After I send a mail, remind its recipients over "
			  "chat to check their mail",
			  nudge_values, nudge_labels},
    [BR_SETTING_RECEIPTS] = {"receipts",
			     "Tell me when a recipient has read a mail I sent",
			     NULL, NULL},
    [BR_SETTING_SHARE_READ] = {"share_read",
			       "Let senders know when I have read their mail",
			       NULL, NULL},
};

const struct br_setting_info *br_setting_info(enum br_setting_id id)
{
	return &infos[id];
}

int br_setting_lookup(const char *name)
{
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		if (ut_ascii_caseeq(infos[i].name, name))
			return i;
	}
	return -1;
}

int br_setting_parse(enum br_setting_id id, const char *text, int64_t *v_r)
{
	const struct br_setting_info *in = &infos[id];
	if (in->values == NULL) {
		bool b;
		if (ut_parse_bool(text, &b) < 0)
			return -1;
		*v_r = b;
		return 0;
	}
	for (int i = 0; in->values[i] != NULL; i++) {
		if (ut_ascii_caseeq(in->values[i], text)) {
			*v_r = i;
			return 0;
		}
	}
	return -1;
}

const char *br_setting_format(enum br_setting_id id, int64_t v)
{
	const struct br_setting_info *in = &infos[id];
	if (in->values == NULL)
		return v ? "yes" : "no";
	for (int64_t i = 0; in->values[i] != NULL; i++) {
		if (i == v)
			return in->values[i];
	}
	return "?";
}

char *br_setting_choices(enum br_setting_id id)
{
	const struct br_setting_info *in = &infos[id];
	struct ut_buf b = UT_BUF_INIT;

	if (in->values == NULL)
		ut_buf_append_str(&b, "yes or no");
	for (size_t i = 0; in->values != NULL && in->values[i] != NULL; i++)
		ut_buf_appendf(&b, "%s%s",
			       i == 0			   ? ""
			       : in->values[i + 1] == NULL ? " or "
							   : ", ",
			       in->values[i]);
	return ut_buf_steal(&b);
}

int64_t br_setting_default(const struct br_config *cfg, enum br_setting_id id)
{
	switch (id) {
	case BR_SETTING_NOTIFY:
		return cfg->default_notify;
	case BR_SETTING_SUMMARY_ON_LOGIN:
		return cfg->default_summary_on_login;
	case BR_SETTING_NUDGE:
		return cfg->default_nudge;
	case BR_SETTING_RECEIPTS:
		return cfg->default_receipts;
	case BR_SETTING_SHARE_READ:
		return cfg->default_share_read;
	case BR_SETTING_HOLD_WHEN:
	default:
		return cfg->default_hold_when;
	}
}

void br_settings_load(const struct br_config *cfg, struct br_ledger *l,
		      const char *user, struct br_settings *s_r)
{
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		int found = 0;
		int64_t v = 0;
		s_r->v[i] = br_setting_default(cfg, (enum br_setting_id)i);
		s_r->changed[i] = false;
		if (br_ledger_setting_get(l, user, infos[i].name, &found, &v) ==
			0 &&
		    found &&
		    br_setting_format((enum br_setting_id)i, v)[0] != '?') {
			s_r->v[i] = v;
			s_r->changed[i] = true;
		}
	}
}

int br_settings_set(struct br_ledger *l, const char *user,
		    enum br_setting_id id, int64_t v)
{
	return br_ledger_setting_set(l, user, infos[id].name, v);
}

int br_settings_reset(struct br_ledger *l, const char *user,
		      enum br_setting_id id)
{
	return br_ledger_setting_set(l, user, infos[id].name, -1);
}

bool br_settings_change_any(const struct br_settings_change *ch)
{
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		if (ch->op[i] != BR_SETTING_KEEP)
			return true;
	}
	return false;
}

/* Puts setting id back as it was in before. */
static void undo(struct br_ledger *l, const char *user,
		 const struct br_settings *before, enum br_setting_id id)
{
	int ret = before->changed[id]
		      ? br_settings_set(l, user, id, before->v[id])
		      : br_settings_reset(l, user, id);
	(void)ret; /* the ledger logged it; nothing more to do */
}

int br_settings_apply(struct br_ledger *l, const char *user,
		      const struct br_settings *before,
		      const struct br_settings_change *ch)
{
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		enum br_setting_id id = (enum br_setting_id)i;
		int ret = 0;

		if (ch->op[i] == BR_SETTING_SET)
			ret = br_settings_set(l, user, id, ch->v[i]);
		else if (ch->op[i] == BR_SETTING_RESET)
			ret = br_settings_reset(l, user, id);
		if (ret == 0)
			continue;
		for (int j = 0; j < i; j++) {
			if (ch->op[j] != BR_SETTING_KEEP)
				undo(l, user, before, (enum br_setting_id)j);
		}
		return -1;
	}
	return 0;
}
