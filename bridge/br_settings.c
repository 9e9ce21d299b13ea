#include <stdlib.h>
#include <string.h>

#include "br_settings.h"
#include "ut_parse.h"
#include "ut_str.h"

static const char *const hold_values[] = {"never", "dnd", "away", NULL};

static const struct br_setting_info infos[BR_SETTING_COUNT] = {
    [BR_SETTING_NOTIFY] = {"notify", "A message for each new mail", NULL},
    [BR_SETTING_SUMMARY_ON_LOGIN] = {"summary_on_login",
				     "A summary of my mailbox when I come "
				     "online",
				     NULL},
    [BR_SETTING_HOLD_WHEN] = {"hold_when",
			      "Hold notifications while I am (away also "
			      "covers xa and dnd)",
			      hold_values},
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

static int64_t default_of(const struct br_config *cfg, enum br_setting_id id)
{
	switch (id) {
	case BR_SETTING_NOTIFY:
		return cfg->default_notify;
	case BR_SETTING_SUMMARY_ON_LOGIN:
		return cfg->default_summary_on_login;
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
		s_r->v[i] = default_of(cfg, (enum br_setting_id)i);
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
