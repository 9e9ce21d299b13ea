#ifndef BR_SETTINGS_H
#define BR_SETTINGS_H

/*
 * Each user's settings (claim 2): what the user changed, kept in the
 * ledger, over the organisation's defaults from the config's [defaults]
 * section. One table of settings (name, type, allowed values, label) serves
 * the text commands, the XEP-0050 settings form and the config.
 *
 *   notify            yes/no: a message for each new mail
 *   summary_on_login  yes/no: a summary of the mailbox when coming online
 *   hold_when         never/dnd/away: hold notifications while the user's
 *                     presence is dnd (or away, which also covers xa and
 *                     dnd); a summary follows when they are back
 *   nudge             off/offer/auto: after the user sends a mail (a copy
 *                     appended to their Sent mailbox), nothing, an offer
 *                     to remind its recipients over chat ("nudge"), or
 *                     the reminders at once
 *   receipts          yes/no: tell the user when a local recipient has
 *                     read a mail they sent (if the recipient shares it)
 *   share_read        yes/no: let local senders learn that the user has
 *                     read their mail (their receipts)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "br_config.h"
#include "br_ledger.h"

enum br_setting_id {
	BR_SETTING_NOTIFY,
	BR_SETTING_SUMMARY_ON_LOGIN,
	BR_SETTING_HOLD_WHEN,
	BR_SETTING_NUDGE,
	BR_SETTING_RECEIPTS,
	BR_SETTING_SHARE_READ,
	BR_SETTING_COUNT
};

enum br_hold_when { BR_HOLD_NEVER, BR_HOLD_DND, BR_HOLD_AWAY };

/* The values of setting nudge. */
enum br_nudge_mode { BR_NUDGE_OFF, BR_NUDGE_OFFER, BR_NUDGE_AUTO };

/* A user's effective settings. */
struct br_settings {
	int64_t v[BR_SETTING_COUNT];
	bool changed[BR_SETTING_COUNT]; /* by the user (else the default) */
};

struct br_setting_info {
	const char *name;	   /* as in commands, forms and [defaults] */
	const char *label;	   /* for forms */
	const char *const *values; /* enum names; NULL: a boolean */
	/* For forms: a label for each of values (same order), or NULL. */
	const char *const *value_labels;
};

const struct br_setting_info *br_setting_info(enum br_setting_id id);
/* The id of a setting name, or -1. */
int br_setting_lookup(const char *name);
/*
 * Parses a value of setting id ("on/off/yes/no/true/false/1/0" for a
 * boolean, one of the names for an enum; ASCII case-insensitive). Returns
 * 0 with *v_r, or -1.
 */
int br_setting_parse(enum br_setting_id id, const char *text, int64_t *v_r);
/* The value as text ("yes"/"no", or the enum's name). */
const char *br_setting_format(enum br_setting_id id, int64_t v);
/* The values setting id takes, for a reply: "yes or no", "never, dnd or
   away" (xmalloc'ed). */
char *br_setting_choices(enum br_setting_id id);
/* The organisation's default of setting id ([defaults] in cfg). */
int64_t br_setting_default(const struct br_config *cfg, enum br_setting_id id);

/* The user's settings: the ledger's, else cfg's defaults. */
void br_settings_load(const struct br_config *cfg, struct br_ledger *l,
		      const char *user, struct br_settings *s_r);
/* Stores one; a value equal to the default is stored too (the user chose
   it; a later change of [defaults] does not move it). 0 or -1. */
int br_settings_set(struct br_ledger *l, const char *user,
		    enum br_setting_id id, int64_t v);
/* Forgets the user's choice: back to the default. */
int br_settings_reset(struct br_ledger *l, const char *user,
		      enum br_setting_id id);

/* Several changes at once (the settings form). */
enum br_setting_op {
	BR_SETTING_KEEP = 0, /* leave it as it is */
	BR_SETTING_SET,	     /* store v (the user chose it) */
	BR_SETTING_RESET,    /* forget the user's choice: the default */
};

struct br_settings_change {
	enum br_setting_op op[BR_SETTING_COUNT];
	int64_t v[BR_SETTING_COUNT]; /* for BR_SETTING_SET */
};

/* Some op is not BR_SETTING_KEEP. */
bool br_settings_change_any(const struct br_settings_change *ch);
/*
 * Applies ch to the user's settings, before being what br_settings_load()
 * gave before. Returns 0, or -1 when the ledger refused a change; then the
 * changes made so far are undone, back to before, as far as the ledger
 * takes the undo. (While writes fail, br_ledger.h keeps settings in memory
 * and counts them as made, so today that does not happen.)
 */
int br_settings_apply(struct br_ledger *l, const char *user,
		      const struct br_settings *before,
		      const struct br_settings_change *ch);

#endif
