/*
 * XEP-0004 data forms: one structure for forms we build and forms we are
 * sent, its renderer and its bounded parser.
 */
#include "xm_form.h"

#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

struct xm_form_option {
	char *label; /* may be NULL */
	char *value;
};

struct xm_form_field {
	enum xm_field_type type;
	char *var, *label, *desc; /* each may be NULL */
	bool required;
	char **values;
	size_t n_values, cap_values;
	struct xm_form_option *options;
	size_t n_options, cap_options;
};

struct xm_form {
	enum xm_form_type type;
	char *title;	    /* may be NULL */
	char *instructions; /* may be NULL; lines separated by '\n' */
	struct xm_form_field **fields;
	size_t n_fields, cap_fields;
};

static const char *const form_types[] = {
    [XM_FORM_FORM] = "form",
    [XM_FORM_SUBMIT] = "submit",
    [XM_FORM_CANCEL] = "cancel",
    [XM_FORM_RESULT] = "result",
};

static const char *const field_types[] = {
    [XM_FIELD_BOOLEAN] = "boolean",
    [XM_FIELD_FIXED] = "fixed",
    [XM_FIELD_HIDDEN] = "hidden",
    [XM_FIELD_JID_MULTI] = "jid-multi",
    [XM_FIELD_JID_SINGLE] = "jid-single",
    [XM_FIELD_LIST_MULTI] = "list-multi",
    [XM_FIELD_LIST_SINGLE] = "list-single",
    [XM_FIELD_TEXT_MULTI] = "text-multi",
    [XM_FIELD_TEXT_PRIVATE] = "text-private",
    [XM_FIELD_TEXT_SINGLE] = "text-single",
};

const char *xm_form_type_str(enum xm_form_type type)
{
	ut_assert(type >= XM_FORM_FORM && type <= XM_FORM_RESULT);
	return form_types[type];
}

const char *xm_field_type_str(enum xm_field_type type)
{
	ut_assert(type <= XM_FIELD_TEXT_SINGLE);
	return type == XM_FIELD_NONE ? NULL : field_types[type];
}

static char *clean_line(const char *s)
{
	return s == NULL ? NULL
			 : ut_utf8_clean_str(s, strlen(s), UT_CLEAN_ONELINE, 0);
}

static char *clean_lines(const char *s)
{
	return s == NULL
		   ? NULL
		   : ut_utf8_clean_str(s, strlen(s), UT_CLEAN_MULTILINE, 0);
}

static bool multi_valued(enum xm_field_type type)
{
	return type == XM_FIELD_NONE || type == XM_FIELD_JID_MULTI ||
	       type == XM_FIELD_LIST_MULTI || type == XM_FIELD_TEXT_MULTI;
}

/* ---- building ---- */

struct xm_form *xm_form_new(enum xm_form_type type, const char *title,
			    const char *instructions)
{
	struct xm_form *f = xcalloc(1, sizeof(*f));

	ut_assert(type >= XM_FORM_FORM && type <= XM_FORM_RESULT);
	f->type = type;
	f->title = clean_line(title);
	f->instructions = clean_lines(instructions);
	return f;
}

static struct xm_form_field *field_append(struct xm_form *f,
					  enum xm_field_type type, char *var)
{
	struct xm_form_field *fl = xcalloc(1, sizeof(*fl));

	fl->type = type;
	fl->var = var;
	if (f->n_fields == f->cap_fields) {
		f->cap_fields = f->cap_fields * 2 + 4;
		f->fields =
		    xreallocarray(f->fields, f->cap_fields, sizeof(*f->fields));
	}
	f->fields[f->n_fields++] = fl;
	return fl;
}

struct xm_form_field *xm_form_add_field(struct xm_form *f,
					enum xm_field_type type,
					const char *var, const char *label)
{
	struct xm_form_field *fl;

	ut_assert(type <= XM_FIELD_TEXT_SINGLE);
	ut_assert(var != NULL || type == XM_FIELD_FIXED ||
		  type == XM_FIELD_NONE);
	ut_assert(var == NULL || (strlen(var) <= XM_FORM_VAR_MAX &&
				  xm_form_field_get(f, var) == NULL));
	fl = field_append(f, type, xstrdup_null(var));
	fl->label = clean_line(label);
	return fl;
}

void xm_form_field_set_desc(struct xm_form_field *fl, const char *desc)
{
	free(fl->desc);
	fl->desc = clean_line(desc);
}

void xm_form_field_set_required(struct xm_form_field *fl, bool required)
{
	fl->required = required;
}

static void value_push(struct xm_form_field *fl, char *value)
{
	if (fl->n_values == fl->cap_values) {
		fl->cap_values = fl->cap_values * 2 + 2;
		fl->values = xreallocarray(fl->values, fl->cap_values,
					   sizeof(*fl->values));
	}
	fl->values[fl->n_values++] = value;
}

static void values_clear(struct xm_form_field *fl)
{
	for (size_t i = 0; i < fl->n_values; i++)
		free(fl->values[i]);
	fl->n_values = 0;
}

void xm_form_field_add_value(struct xm_form_field *fl, const char *value)
{
	if (!multi_valued(fl->type))
		values_clear(fl);
	if (fl->type != XM_FIELD_TEXT_MULTI) {
		value_push(fl, clean_line(value != NULL ? value : ""));
		return;
	}
	char *text = clean_lines(value != NULL ? value : "");
	const char *line = text;
	for (;;) {
		const char *nl = strchr(line, '\n');
		if (nl == NULL) {
			value_push(fl, xstrdup(line));
			break;
		}
		value_push(fl, xstrndup(line, (size_t)(nl - line)));
		line = nl + 1;
	}
	free(text);
}

void xm_form_field_set_bool(struct xm_form_field *fl, bool value)
{
	values_clear(fl);
	value_push(fl, xstrdup(value ? "1" : "0"));
}

void xm_form_field_add_option(struct xm_form_field *fl, const char *label,
			      const char *value)
{
	if (fl->n_options == fl->cap_options) {
		fl->cap_options = fl->cap_options * 2 + 4;
		fl->options = xreallocarray(fl->options, fl->cap_options,
					    sizeof(*fl->options));
	}
	fl->options[fl->n_options].label = clean_line(label);
	fl->options[fl->n_options].value =
	    clean_line(value != NULL ? value : "");
	fl->n_options++;
}

/* One <name>line</name> per line of text. */
static void add_lines(xmpp_stanza_t *parent, const char *name, const char *text)
{
	char *copy = xstrdup(text), *line = copy, *nl;

	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		xm_elem_add_text_child(parent, name, line);
		line = nl + 1;
	}
	xm_elem_add_text_child(parent, name, line);
	free(copy);
}

static void render_field(xmpp_stanza_t *x, const struct xm_form_field *fl)
{
	xmpp_stanza_t *el = xm_elem_add_text_child(x, "field", NULL);

	if (fl->type != XM_FIELD_NONE)
		xm_elem_set_attr(el, "type", xm_field_type_str(fl->type));
	xm_elem_set_attr(el, "var", fl->var);
	xm_elem_set_attr(el, "label", fl->label);
	if (fl->desc != NULL)
		xm_elem_add_text_child(el, "desc", fl->desc);
	if (fl->required)
		xm_elem_add_text_child(el, "required", NULL);
	for (size_t i = 0; i < fl->n_values; i++)
		xm_elem_add_text_child(el, "value", fl->values[i]);
	for (size_t i = 0; i < fl->n_options; i++) {
		xmpp_stanza_t *o = xm_elem_add_text_child(el, "option", NULL);

		xm_elem_set_attr(o, "label", fl->options[i].label);
		xm_elem_add_text_child(o, "value", fl->options[i].value);
	}
}

xmpp_stanza_t *xm_form_to_stanza(const struct xm_form *f, xmpp_ctx_t *sctx)
{
	xmpp_stanza_t *x = xm_elem_new(sctx, "x", XM_NS_DATA_FORMS);

	xm_elem_set_attr(x, "type", xm_form_type_str(f->type));
	if (f->title != NULL)
		xm_elem_add_text_child(x, "title", f->title);
	if (f->instructions != NULL)
		add_lines(x, "instructions", f->instructions);
	for (size_t i = 0; i < f->n_fields; i++)
		render_field(x, f->fields[i]);
	return x;
}

/* ---- parsing ---- */

/* An element of the form's namespace (children inherit it). */
static bool form_elem(xmpp_stanza_t *el, const char *name)
{
	const char *ns;

	if (!xmpp_stanza_is_tag(el) ||
	    strcmp(xmpp_stanza_get_name(el), name) != 0)
		return false;
	ns = xmpp_stanza_get_ns(el);
	return ns == NULL || strcmp(ns, XM_NS_DATA_FORMS) == 0;
}

xmpp_stanza_t *xm_form_find(xmpp_stanza_t *parent)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(parent); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);

		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "x") == 0 && ns != NULL &&
		    strcmp(ns, XM_NS_DATA_FORMS) == 0)
			return c;
	}
	return NULL;
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	}
	return -1;
}

struct parse_state {
	struct xm_form *f;
	size_t fields_seen;
	size_t text_bytes;
};

/* The text of a <value/>, bounded; -1 when too long. */
static int value_text(struct parse_state *ps, xmpp_stanza_t *v, char **text_r)
{
	struct ut_buf raw = UT_BUF_INIT;

	for (xmpp_stanza_t *t = xmpp_stanza_get_children(v); t != NULL;
	     t = xmpp_stanza_get_next(t)) {
		const char *s;
		size_t len;

		if (!xmpp_stanza_is_text(t) ||
		    (s = xmpp_stanza_get_text_ptr(t)) == NULL)
			continue;
		len = strlen(s);
		if (len > XM_FORM_VALUE_MAX - raw.len) {
			ut_buf_free(&raw);
			return -1;
		}
		ut_buf_append(&raw, s, len);
	}
	ps->text_bytes += raw.len;
	*text_r = ut_utf8_clean_str(raw.data, raw.len, 0, 0);
	ut_buf_free(&raw);
	return 0;
}

static int parse_field(struct parse_state *ps, xmpp_stanza_t *el,
		       const char **error_r)
{
	const char *var = xmpp_stanza_get_attribute(el, "var");
	const char *type = xmpp_stanza_get_attribute(el, "type");
	enum xm_field_type ftype = XM_FIELD_NONE;
	struct xm_form_field *fl;

	if (++ps->fields_seen > XM_FORM_FIELDS_MAX) {
		*error_r = "too many fields";
		return -1;
	}
	if (type != NULL) {
		int t = lookup(field_types, UT_N_ELEMENTS(field_types), type);

		if (t <= 0) {
			*error_r = "unknown field type";
			return -1;
		}
		ftype = (enum xm_field_type)t;
	}
	if (var == NULL)
		return 0;
	if (strlen(var) > XM_FORM_VAR_MAX || !ut_utf8_valid(var, strlen(var))) {
		*error_r = "field name too long";
		return -1;
	}
	if (xm_form_field_get(ps->f, var) != NULL) {
		*error_r = "two fields with the same name";
		return -1;
	}
	fl = field_append(ps->f, ftype, xstrdup(var));
	for (xmpp_stanza_t *v = xmpp_stanza_get_children(el); v != NULL;
	     v = xmpp_stanza_get_next(v)) {
		char *text;

		if (!form_elem(v, "value"))
			continue;
		if (fl->n_values == XM_FORM_VALUES_MAX) {
			*error_r = "too many values in a field";
			return -1;
		}
		if (value_text(ps, v, &text) < 0) {
			*error_r = "value too long";
			return -1;
		}
		value_push(fl, text);
		if (ps->text_bytes > XM_FORM_TEXT_MAX) {
			*error_r = "form too large";
			return -1;
		}
	}
	return 0;
}

int xm_form_parse(xmpp_stanza_t *x, struct xm_form **f_r, const char **error_r)
{
	const char *ns = xmpp_stanza_get_ns(x);
	const char *type;
	struct parse_state ps = {0};
	int t;

	*f_r = NULL;
	if (!xmpp_stanza_is_tag(x) || strcmp(xmpp_stanza_get_name(x), "x") ||
	    ns == NULL || strcmp(ns, XM_NS_DATA_FORMS) != 0) {
		*error_r = "not a data form";
		return -1;
	}
	type = xmpp_stanza_get_type(x);
	t = type != NULL ? lookup(form_types, UT_N_ELEMENTS(form_types), type)
			 : -1;
	if (t <= 0) {
		*error_r = "missing or unknown form type";
		return -1;
	}
	ps.f = xcalloc(1, sizeof(*ps.f));
	ps.f->type = (enum xm_form_type)t;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(x); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (form_elem(c, "field") && parse_field(&ps, c, error_r) < 0) {
			xm_form_free(&ps.f);
			return -1;
		}
	}
	*f_r = ps.f;
	return 0;
}

/* ---- reading ---- */

enum xm_form_type xm_form_get_type(const struct xm_form *f)
{
	return f->type;
}

size_t xm_form_field_count(const struct xm_form *f)
{
	return f->n_fields;
}

const struct xm_form_field *xm_form_field_at(const struct xm_form *f, size_t i)
{
	ut_assert(i < f->n_fields);
	return f->fields[i];
}

const struct xm_form_field *xm_form_field_get(const struct xm_form *f,
					      const char *var)
{
	for (size_t i = 0; i < f->n_fields; i++) {
		if (f->fields[i]->var != NULL &&
		    strcmp(f->fields[i]->var, var) == 0)
			return f->fields[i];
	}
	return NULL;
}

const char *xm_form_field_var(const struct xm_form_field *fl)
{
	return fl->var;
}

enum xm_field_type xm_form_field_type(const struct xm_form_field *fl)
{
	return fl->type;
}

size_t xm_form_field_value_count(const struct xm_form_field *fl)
{
	return fl->n_values;
}

const char *xm_form_field_value(const struct xm_form_field *fl, size_t i)
{
	ut_assert(i < fl->n_values);
	return fl->values[i];
}

const char *xm_form_get_value(const struct xm_form *f, const char *var)
{
	const struct xm_form_field *fl = xm_form_field_get(f, var);

	return fl != NULL && fl->n_values > 0 ? fl->values[0] : NULL;
}

static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int xm_form_get_bool(const struct xm_form *f, const char *var, bool dflt,
		     bool *value_r)
{
	const struct xm_form_field *fl = xm_form_field_get(f, var);
	const char *s, *end;
	size_t len;

	*value_r = dflt;
	if (fl == NULL || fl->n_values == 0)
		return 0;
	if (fl->n_values > 1)
		return -1;
	s = fl->values[0];
	end = s + strlen(s);
	while (s < end && xml_space(*s))
		s++;
	while (end > s && xml_space(end[-1]))
		end--;
	len = (size_t)(end - s);
	if ((len == 1 && *s == '1') || (len == 4 && memcmp(s, "true", 4) == 0))
		*value_r = true;
	else if ((len == 1 && *s == '0') ||
		 (len == 5 && memcmp(s, "false", 5) == 0))
		*value_r = false;
	else
		return -1;
	return 0;
}

void xm_form_free(struct xm_form **fp)
{
	struct xm_form *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	for (size_t i = 0; i < f->n_fields; i++) {
		struct xm_form_field *fl = f->fields[i];

		values_clear(fl);
		free(fl->values);
		for (size_t k = 0; k < fl->n_options; k++) {
			free(fl->options[k].label);
			free(fl->options[k].value);
		}
		free(fl->options);
		free(fl->var);
		free(fl->label);
		free(fl->desc);
		free(fl);
	}
	free(f->fields);
	free(f->title);
	free(f->instructions);
	free(f);
}
