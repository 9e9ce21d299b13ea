#ifndef XM_FORM_H
#define XM_FORM_H

/*
 * XEP-0004 data forms, both ways, in one plain structure:
 * - a builder: xm_form_new(), xm_form_add_field() and the field setters,
 *   then xm_form_to_stanza() renders <x xmlns='jabber:x:data'/>;
 * - a parser of a form someone sent (normally type='submit'), bounded,
 *   with getters by field name.
 *
 * Text given to the builder may come from anywhere (a mail subject, a
 * user's JID): it is cleaned with ut_utf8_clean() when it is stored, so the
 * rendered form is always valid to send. Titles, labels, descriptions,
 * option labels and the values of single-line fields are cleaned to one
 * line (UT_CLEAN_ONELINE); instructions and the values of text-multi fields
 * keep their line breaks and are rendered one <instructions/> or <value/>
 * per line, as XEP-0004 asks.
 *
 * The parser (xm_form_parse) reads the <field/> elements' var, type and
 * <value/>s (labels, options, descriptions and anything unknown are
 * ignored) and refuses, with a static reason:
 * - more than XM_FORM_FIELDS_MAX fields, or more than XM_FORM_VALUES_MAX
 *   values in one field;
 * - a var longer than XM_FORM_VAR_MAX bytes, a value longer than
 *   XM_FORM_VALUE_MAX bytes (as received), more than XM_FORM_TEXT_MAX
 *   bytes of values in the whole form;
 * - two fields with the same var (XEP-0004 wants them unique: which one
 *   would count?);
 * - a missing or unknown form type, an unknown field type.
 * A field without var (only 'fixed' fields may lack one) is skipped, but
 * counts towards XM_FORM_FIELDS_MAX. Values
 * are cleaned with ut_utf8_clean() (no flags: invalid UTF-8 becomes
 * U+FFFD, characters XML forbids are dropped; white space is kept). The
 * text of a <value/> is the concatenation of its text children; elements
 * inside it are ignored.
 *
 * Plain data, no I/O, any thread (one form per thread at a time). Aborts
 * only on out-of-memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <strophe.h>

#define XM_NS_DATA_FORMS "jabber:x:data"

/* Parser bounds. */
#define XM_FORM_FIELDS_MAX 64
#define XM_FORM_VALUES_MAX 256
#define XM_FORM_VAR_MAX	   256
#define XM_FORM_VALUE_MAX  4096
#define XM_FORM_TEXT_MAX   ((size_t)256 * 1024)

enum xm_form_type {
	XM_FORM_FORM = 1,
	XM_FORM_SUBMIT,
	XM_FORM_CANCEL,
	XM_FORM_RESULT,
};

enum xm_field_type {
	XM_FIELD_NONE = 0, /* no type attribute (usual in submitted forms) */
	XM_FIELD_BOOLEAN,
	XM_FIELD_FIXED,
	XM_FIELD_HIDDEN,
	XM_FIELD_JID_MULTI,
	XM_FIELD_JID_SINGLE,
	XM_FIELD_LIST_MULTI,
	XM_FIELD_LIST_SINGLE,
	XM_FIELD_TEXT_MULTI,
	XM_FIELD_TEXT_PRIVATE,
	XM_FIELD_TEXT_SINGLE,
};

struct xm_form;
struct xm_form_field;

/* ---- building ---- */

/* A new empty form. title and instructions may be NULL. */
struct xm_form *xm_form_new(enum xm_form_type type, const char *title,
			    const char *instructions);
/*
 * Appends a field and returns it (owned by the form, valid until
 * xm_form_free()). var may be NULL only for XM_FIELD_FIXED (or
 * XM_FIELD_NONE); label may be NULL. var must be unique in the form and at
 * most XM_FORM_VAR_MAX bytes of clean text (an invariant: it is the
 * program's own name for the field).
 */
struct xm_form_field *xm_form_add_field(struct xm_form *f,
					enum xm_field_type type,
					const char *var, const char *label);
void xm_form_field_set_desc(struct xm_form_field *fl, const char *desc);
void xm_form_field_set_required(struct xm_form_field *fl, bool required);
/*
 * Adds a value. For a text-multi field a value with line breaks becomes one
 * value per line. Single-value fields take at most one value (a second
 * call replaces the first).
 */
void xm_form_field_add_value(struct xm_form_field *fl, const char *value);
/* Sets a boolean field's value ("1" or "0"). */
void xm_form_field_set_bool(struct xm_form_field *fl, bool value);
/* Adds an <option/> (list-single, list-multi); label may be NULL. */
void xm_form_field_add_option(struct xm_form_field *fl, const char *label,
			      const char *value);
/* Renders the form: <x xmlns='jabber:x:data' type=...>. The caller
   releases it (or adopts it into a parent with xm_elem_adopt()). */
xmpp_stanza_t *xm_form_to_stanza(const struct xm_form *f, xmpp_ctx_t *sctx);

/* ---- parsing ---- */

/*
 * Parses x, an <x xmlns='jabber:x:data'/> element (anything else is
 * refused). On success *f_r is a new form (free with xm_form_free()).
 * Returns 0, or -1 with a static reason in *error_r and *f_r NULL.
 */
int xm_form_parse(xmpp_stanza_t *x, struct xm_form **f_r, const char **error_r);
/* The first <x xmlns='jabber:x:data'/> child of parent, or NULL. */
xmpp_stanza_t *xm_form_find(xmpp_stanza_t *parent);

/* ---- reading (built or parsed forms) ---- */

enum xm_form_type xm_form_get_type(const struct xm_form *f);
size_t xm_form_field_count(const struct xm_form *f);
/* Fields in document order; i < xm_form_field_count(). */
const struct xm_form_field *xm_form_field_at(const struct xm_form *f, size_t i);
/* The field with this var, or NULL. */
const struct xm_form_field *xm_form_field_get(const struct xm_form *f,
					      const char *var);
/* NULL for a field without var. */
const char *xm_form_field_var(const struct xm_form_field *fl);
enum xm_field_type xm_form_field_type(const struct xm_form_field *fl);
size_t xm_form_field_value_count(const struct xm_form_field *fl);
/* i < xm_form_field_value_count(); valid while the form lives. */
const char *xm_form_field_value(const struct xm_form_field *fl, size_t i);

/* The first value of field var; NULL when the field is absent or has no
   value. */
const char *xm_form_get_value(const struct xm_form *f, const char *var);
/*
 * Field var as a boolean: "1"/"true" or "0"/"false" (XML Schema boolean,
 * surrounding spaces allowed). An absent field or one without a value
 * gives dflt. Returns 0, or -1 (and *value_r = dflt) when the field has
 * several values or another text.
 */
int xm_form_get_bool(const struct xm_form *f, const char *var, bool dflt,
		     bool *value_r);

/* Frees the form and its fields; sets *f to NULL. No-op on NULL. */
void xm_form_free(struct xm_form **f);

/* "form", "submit", "cancel", "result" (static). */
const char *xm_form_type_str(enum xm_form_type type);
/* "boolean", "text-single", ... ; NULL for XM_FIELD_NONE. */
const char *xm_field_type_str(enum xm_field_type type);

#endif
