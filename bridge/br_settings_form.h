#ifndef BR_SETTINGS_FORM_H
#define BR_SETTINGS_FORM_H

/*
 * The settings form (XEP-0004) of the ad-hoc command "settings"
 * (br_adhoc.h), both ways, generated from the one table of settings
 * (br_settings.h):
 *
 * - one field per setting, var = the setting's name: a boolean field for a
 *   boolean setting, a list-single field with one option per value (the
 *   table's value labels) for an enum; each with the user's value, and a
 *   description saying whether it is the user's choice or the
 *   organisation's default (and which);
 * - a boolean field "reset" (BR_SETTINGS_FORM_RESET), false: back to the
 *   organisation's defaults.
 *
 * A submitted form is read all-or-nothing (br_settings_form_read()).
 *
 * Plain data, no I/O, any thread.
 */

#include "br_config.h"
#include "br_settings.h"
#include "xm_form.h"

#define BR_SETTINGS_FORM_RESET "reset"

/* The form (type form) showing s; cfg gives the defaults. Free it with
   xm_form_free(). */
struct xm_form *br_settings_form_new(const struct br_config *cfg,
				     const struct br_settings *s);

/*
 * Reads a submitted settings form against cur, the user's settings now:
 * - a setting whose field is absent or has no value stays as it is;
 * - a boolean takes XEP-0004's "1"/"true"/"0"/"false", an enum one of its
 *   names (ASCII case-insensitive); one value at most;
 * - only a value that differs from cur's becomes a change (a form sent
 *   back unchanged does not make the defaults the user's own choices); a
 *   value equal to the default that differs from the user's choice is
 *   stored as a choice too, as "set" does;
 * - reset true: every setting the user changed goes back to the default,
 *   whatever the other fields say (they are still checked);
 * - other fields are ignored.
 * Returns 0 with *ch_r (possibly no change), or -1 when a field holds a
 * value its setting does not take: *ch_r then changes nothing and
 * *error_r (xmalloc'ed) names each such field and what it takes.
 */
int br_settings_form_read(const struct xm_form *submitted,
			  const struct br_settings *cur,
			  struct br_settings_change *ch_r, char **error_r);

/*
 * What was done, for the note that completes the command, after ch was
 * applied and the settings reloaded into after: "Saved: notify = no,
 * hold_when = away." (a reset setting is named with "(default)"), or
 * "Nothing changed." (xmalloc'ed).
 */
char *br_settings_change_text(const struct br_settings_change *ch,
			      const struct br_settings *after);

#endif
