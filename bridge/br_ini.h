#ifndef BR_INI_H
#define BR_INI_H

/*
 * The INI reader under br_config: lines of "[section]", "key = value" and
 * comments, with no knowledge of which sections and keys exist (the
 * callbacks decide), and the typed values a table of settings is made of
 * (parsed and printed the same way). Internal to the bridge; br_config.c
 * holds tidings' own table.
 *
 * The format:
 * - a comment is a whole line whose first non-blank byte is ';' or '#';
 *   a '#' or ';' after a value is part of the value;
 * - white space (space, tab) around sections, keys and values is trimmed,
 *   and a trailing CR is dropped;
 * - a value may be wrapped in double quotes to keep white space at its
 *   ends; no escapes exist inside the quotes;
 * - an empty value, a control character or invalid UTF-8 in a value, a NUL
 *   byte anywhere, a line longer than BR_INI_LINE_MAX bytes and a key before
 *   any section are errors.
 * Errors come back as "name:line: message".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#define BR_INI_LINE_MAX 4096

/* Types of settings and how each is stored in the caller's struct. */
enum br_ini_type {
	BR_INI_STRING,	 /* char * */
	BR_INI_SECRET,	 /* char *, never printed */
	BR_INI_UINT,	 /* unsigned, within [min, max] */
	BR_INI_PORT,	 /* uint16_t, 1..65535 */
	BR_INI_MSECS,	 /* uint64_t, ut_parse_msecs, within [min, max] */
	BR_INI_SIZE,	 /* uint64_t bytes, ut_parse_size, within [min, max] */
	BR_INI_BOOL,	 /* bool: yes/no, true/false, on/off, 1/0 */
	BR_INI_MODE,	 /* unsigned, octal, at most 0777 */
	BR_INI_ENUM,	 /* int: index into values */
	BR_INI_WORD,	 /* char *: one of values */
	BR_INI_LIST,	 /* char ** and a size_t count at count_off */
	BR_INI_LOGLEVEL, /* enum ut_log_level */
	BR_INI_TRACE,	 /* unsigned mask of enum ut_trace */
};

/* One typed setting, stored at offset off of a caller-defined struct. */
struct br_ini_setting {
	const char *section;
	const char *key;
	enum br_ini_type type;
	size_t off;
	size_t count_off; /* BR_INI_LIST only */
	uint64_t min, max;
	/* BR_INI_ENUM, BR_INI_WORD: the allowed values, NULL-terminated. */
	const char *const *values;
	/* Parsed like a value from the file; NULL: required, or unset. */
	const char *def;
	bool required;
	const char *desc;
};

/*
 * Callbacks return NULL to go on, or an xmalloc'ed message (without the
 * "name:line: " prefix, which the reader adds) to stop with that error.
 * section is the trimmed name between the brackets; value is unquoted.
 */
struct br_ini_callbacks {
	char *(*section_cb)(const char *section, unsigned line, void *ctx);
	char *(*key_cb)(const char *section, const char *key, const char *value,
			unsigned line, void *ctx);
};

/* Reads text[0..len) (NULs included, so they can be refused). Returns 0, or
   -1 with the xmalloc'ed "name:line: message" in *error_r. */
int br_ini_parse(const char *name, const char *text, size_t len,
		 const struct br_ini_callbacks *cbs, void *ctx, char **error_r);

/*
 * Reads the whole regular file path, refusing more than max_bytes. On
 * success *text_r is xmalloc'ed and NUL-terminated, *len_r its length and
 * *st_r the fstat() of the open file (for mode checks). Returns 0, or -1
 * with an xmalloc'ed "path: message" in *error_r.
 */
int br_ini_read_file(const char *path, size_t max_bytes, char **text_r,
		     size_t *len_r, struct stat *st_r, char **error_r);

/*
 * Parses v (non-empty) as a value of s and stores it into obj, replacing
 * (and freeing) what was there. Returns NULL, or an xmalloc'ed
 * "[section] key: 'v' is not ..." message; obj is unchanged then.
 */
char *br_ini_set_value(void *obj, const struct br_ini_setting *s,
		       const char *v);
/* Prints the value of s in obj the way br_ini_set_value() reads it back
   (secrets as "(hidden)", which must be handled by the caller if needed). */
void br_ini_print_value(FILE *out, const void *obj,
			const struct br_ini_setting *s);
/* Frees what s owns in obj (strings, lists) and clears it. */
void br_ini_free_value(void *obj, const struct br_ini_setting *s);

#endif
