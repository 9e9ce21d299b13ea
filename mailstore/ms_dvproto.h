#ifndef MS_DVPROTO_H
#define MS_DVPROTO_H

/*
 * What Dovecot's two auth protocols share on the wire, as Dovecot 2.3
 * speaks them (src/lib/strescape.c, src/auth/auth-client-connection.c and
 * auth-master-connection.c): the tokenizing and checking under
 * ms_acproto.c (auth-client: password checks) and ms_amproto.c
 * (auth-master: userdb lookups). Pure functions, no I/O; what each command
 * means stays with its protocol.
 *
 * Lines are TAB-separated and end with '\n' (not part of what is split
 * here). After the command and the id come fields "key=value" or a bare
 * flag "key". Values are "tab-escaped": \001 followed by '0', '1', 't',
 * 'r' or 'n' stands for NUL, \001, TAB, CR and LF. Numbers are strict
 * decimals: digits only, no sign, no blank.
 *
 * Every line is hostile input: errors are xmalloc'ed one-line messages of
 * bounded length that quote at most a short cleaned excerpt of the line.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ut_buf.h"

/* A line split at its TABs. */
struct ms_dvproto_line {
	char **f; /* n fields, NUL-terminated, pointing into copy */
	size_t n; /* at least 1 */
	char *copy;
	size_t len;
};

/*
 * Checks line (len bytes, without its '\n', need not be NUL-terminated):
 * at most line_max bytes, no NUL, CR or LF byte. Returns 0 with *l holding
 * the fields of a copy (free it with ms_dvproto_line_free()), or -1 with
 * an error in *error_r and nothing to free.
 */
int ms_dvproto_split(const char *line, size_t len, size_t line_max,
		     struct ms_dvproto_line *l, char **error_r);
/* Wipes the copy (it may hold a password: an OK for a proxy carries
   pass=) and frees it. */
void ms_dvproto_line_free(struct ms_dvproto_line *l);

/* Sets *error_r to fmt (one %s) with a cleaned excerpt of field; returns
   -1. */
int ms_dvproto_fail(char **error_r, const char *fmt, const char *field);

/* True when every \001 in s is followed by one of the five escape
   letters. */
bool ms_dvproto_escapes_ok(const char *s);
/* Appends s (checked with ms_dvproto_escapes_ok()) unescaped to out. */
void ms_dvproto_unescape(const char *s, struct ut_buf *out);
/* Unescapes value (checked) into dst as clean one-line UTF-8 of at most
   dst_size - 1 bytes, NUL-terminated. */
void ms_dvproto_clean_into(const char *value, char *dst, size_t dst_size);

/* A strict decimal of at most max into *r; 0 or -1. */
int ms_dvproto_parse_num(const char *s, uint32_t max, uint32_t *r);
/* The nonzero request id in f[1] of a line of n fields. */
int ms_dvproto_parse_id(char **f, size_t n, uint32_t *id_r, char **error_r);
/* "VERSION\t<major>\t<minor>". */
int ms_dvproto_parse_version(char **f, size_t n, uint32_t *major_r,
			     uint32_t *minor_r, char **error_r);
/* "<command>\t<number>" (SPID, CUID): the number is checked, not kept. */
int ms_dvproto_parse_number_line(char **f, size_t n, char **error_r);

/*
 * One field after the id. Returns 1 with *key_r and *value_r pointing
 * into f (cut at its '='; *value_r is NULL for a flag without '='), 0 for
 * an empty field (Dovecot ends a field-less line with a TAB: skip it), or
 * -1 with an error for an empty key or a bad escape.
 */
int ms_dvproto_field(char *f, const char **key_r, const char **value_r,
		     char **error_r);

/* True when s may be sent as a name (a user or service): 1 to max bytes,
   no byte below 0x20 and no DEL. */
bool ms_dvproto_name_ok(const char *s, size_t max);

#endif
