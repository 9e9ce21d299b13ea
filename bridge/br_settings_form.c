#include <stdlib.h>
#include <string.h>

#include "br_settings_form.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

#define FORM_TITLE "Mail notification settings"
#define FORM_INSTRUCTIONS                                                      \
	"Choose how I tell you about new mail and about the mail you send, "   \
	"and whether senders learn that you read theirs. A setting you never " \
	"changed follows your organisation's default."

struct xm_form *br_settings_form_new(const struct br_config *cfg,
				     const struct br_settings *s)
{
	struct xm_form *f =
	    xm_form_new(XM_FORM_FORM, FORM_TITLE, FORM_INSTRUCTIONS);

	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		enum br_setting_id id = (enum br_setting_id)i;
		const struct br_setting_info *in = br_setting_info(id);
		struct xm_form_field *fl;
		char *desc;

		if (in->values == NULL) {
			fl = xm_form_add_field(f, XM_FIELD_BOOLEAN, in->name,
					       in->label);
			xm_form_field_set_bool(fl, s->v[i] != 0);
		} else {
			fl = xm_form_add_field(f, XM_FIELD_LIST_SINGLE,
					       in->name, in->label);
			for (size_t j = 0; in->values[j] != NULL; j++)
				xm_form_field_add_option(
				    fl,
				    in->value_labels != NULL
					? in->value_labels[j]
					: NULL,
				    in->values[j]);
			xm_form_field_add_value(fl,
						br_setting_format(id, s->v[i]));
		}
		desc = s->changed[i]
			   ? xasprintf("Your choice; the organisation's "
				       "default is %s.",
				       br_setting_format(
					   id, br_setting_default(cfg, id)))
			   : xstrdup("The organisation's default.");
		xm_form_field_set_desc(fl, desc);
		free(desc);
	}
	struct xm_form_field *reset =
	    xm_form_add_field(f, XM_FIELD_BOOLEAN, BR_SETTINGS_FORM_RESET,
			      "Back to the organisation's defaults");
	xm_form_field_set_desc(reset, "Forgets every choice above.");
	xm_form_field_set_bool(reset, false);
	return f;
}

/* The value of one setting's field into *v_r; *present_r false when the
   field is absent or empty. 0, or -1 when the value is not one it takes. */
static int read_one(const struct xm_form *f, enum br_setting_id id,
		    bool *present_r, int64_t *v_r)
{
	const struct br_setting_info *in = br_setting_info(id);
	const struct xm_form_field *fl = xm_form_field_get(f, in->name);

	*present_r = fl != NULL && xm_form_field_value_count(fl) > 0;
	if (!*present_r)
		return 0;
	if (in->values == NULL) {
		bool b;
		if (xm_form_get_bool(f, in->name, false, &b) < 0)
			return -1;
		*v_r = b;
		return 0;
	}
	if (xm_form_field_value_count(fl) > 1)
		return -1;
	return br_setting_parse(id, xm_form_field_value(fl, 0), v_r);
}

int br_settings_form_read(const struct xm_form *submitted,
			  const struct br_settings *cur,
			  struct br_settings_change *ch_r, char **error_r)
{
	struct br_settings_change ch = {0};
	struct ut_buf errors = UT_BUF_INIT;
	bool reset = false;

	*error_r = NULL;
	memset(ch_r, 0, sizeof(*ch_r));
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		enum br_setting_id id = (enum br_setting_id)i;
		bool present;
		int64_t v = 0;

		if (read_one(submitted, id, &present, &v) < 0) {
			char *choices = br_setting_choices(id);
			ut_buf_appendf(&errors, "%s%s takes %s.",
				       errors.len > 0 ? " " : "",
				       br_setting_info(id)->name, choices);
			free(choices);
		} else if (present && v != cur->v[i]) {
			ch.op[i] = BR_SETTING_SET;
			ch.v[i] = v;
		}
	}
	if (xm_form_get_bool(submitted, BR_SETTINGS_FORM_RESET, false, &reset) <
	    0)
		ut_buf_appendf(&errors,
			       "%s" BR_SETTINGS_FORM_RESET " takes yes or no.",
			       errors.len > 0 ? " " : "");
	if (errors.len > 0) {
		*error_r =
		    xasprintf("Nothing was saved: %s", ut_buf_str(&errors));
		ut_buf_free(&errors);
		return -1;
	}
	ut_buf_free(&errors);
	for (int i = 0; reset && i < BR_SETTING_COUNT; i++)
		ch.op[i] = cur->changed[i] ? BR_SETTING_RESET : BR_SETTING_KEEP;
	*ch_r = ch;
	return 0;
}

char *br_settings_change_text(const struct br_settings_change *ch,
			      const struct br_settings *after)
{
	struct ut_buf b = UT_BUF_INIT;

	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		enum br_setting_id id = (enum br_setting_id)i;

		if (ch->op[i] == BR_SETTING_KEEP)
			continue;
		ut_buf_appendf(&b, "%s%s = %s%s", b.len == 0 ? "Saved: " : ", ",
			       br_setting_info(id)->name,
			       br_setting_format(id, after->v[i]),
			       ch->op[i] == BR_SETTING_RESET ? " (default)"
							     : "");
	}
	if (b.len == 0)
		ut_buf_append_str(&b, "Nothing changed");
	ut_buf_append_c(&b, '.');
	return ut_buf_steal(&b);
}
