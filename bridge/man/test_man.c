/*
 * Tests of the man pages that gen-man makes.
 *
 *   test-man keys PAGE GROFF       tidings.conf(5) against the table
 *   test-man render GROFF MANDOC PAGE...   every page renders cleanly
 *
 * keys: in the roff source of tidings.conf(5), the KEYS part holds every
 * key of br_config__settings exactly once, under its section's ".SS", and
 * nothing else; each entry says the key's description, type and range or
 * values, its default or "Required.", and whether a reload applies it as
 * br_config__needs_restart() says; RELOAD names every section. With GROFF
 * (not ""), the page as groff renders it shows each key as a tag under its
 * section's heading.
 * render: groff -man -Tutf8 -ww -z prints nothing for any page, nor does
 * mandoc -Tlint when MANDOC is not "". Without groff the test is skipped
 * (exit 77).
 */

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "br_config_private.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

static const char *page_path, *groff_path;

/* ---- helpers ---- */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	struct ut_buf b = UT_BUF_INIT;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ut_buf_append(&b, chunk, n);
	fclose(f);
	ut_buf_append(&b, "", 0);
	return ut_buf_steal(&b);
}

/* Runs argv, stdout and stderr into one xmalloc'ed string; *status_r is
   the exit status, or -1 when it did not exit normally. */
static char *run(const char *const *argv, int *status_r)
{
	int fds[2];
	struct ut_buf b = UT_BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int status;

	ut_assert(pipe(fds) == 0);
	pid_t pid = fork();
	ut_assert(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ut_assert(n > 0);
		ut_buf_append(&b, chunk, (size_t)n);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		ut_assert(errno == EINTR);
	*status_r = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ut_buf_append(&b, "", 0);
	return ut_buf_steal(&b);
}

/* The text roff source stands for, for the escapes gen-man writes: font
   changes and \% \& dropped, \- as '-', \e as '\', \[uXXXX] as UTF-8. */
static char *plain(const char *s)
{
	struct ut_buf b = UT_BUF_INIT;

	for (const char *p = s; *p != '\0'; p++) {
		if (p[0] != '\\') {
			ut_buf_append(&b, p, 1);
		} else if (p[1] == 'f' && p[2] != '\0') {
			p += 2;
		} else if (p[1] == '%' || p[1] == '&') {
			p++;
		} else if (p[1] == '-') {
			ut_buf_append(&b, "-", 1);
			p++;
		} else if (p[1] == 'e') {
			ut_buf_append(&b, "\\", 1);
			p++;
		} else if (strncmp(p, "\\[u", 3) == 0 && strchr(p, ']')) {
			/* \[uXXXX] back to UTF-8 */
			unsigned long cp = strtoul(p + 3, NULL, 16);
			char u[4];
			size_t n = cp < 0x80	  ? 1
				   : cp < 0x800	  ? 2
				   : cp < 0x10000 ? 3
						  : 4;
			for (size_t k = n; k-- > 1; cp >>= 6)
				u[k] = (char)(0x80 | (cp & 0x3f));
			u[0] = (char)(n == 1 ? cp : (0xf00 >> n) | cp);
			ut_buf_append(&b, u, n);
			p = strchr(p, ']');
		} else {
			ut_buf_append(&b, p, 1);
		}
	}
	ut_buf_append(&b, "", 0);
	return ut_buf_steal(&b);
}

/* ---- keys: the roff source ---- */

/* One ".TP" entry of the KEYS part. */
struct entry {
	char *section, *key;
	char *body; /* plain text, lines joined by ' ' */
	int seen;
};

static struct entry *entries;
static size_t entry_count;
static char *reload_part; /* the RELOAD part's source */

/* Splits the source into the entries of KEYS and the RELOAD part. */
static void parse_page(const char *text)
{
	enum { OTHER, KEYS, RELOAD } part = OTHER;
	char *section = NULL;
	struct entry *cur = NULL;
	struct ut_buf body = UT_BUF_INIT, reload = UT_BUF_INIT;
	const char *p = text;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len);
		p += len + (p[len] == '\n');
		bool ends = strncmp(line, ".TP", 3) == 0 ||
			    strncmp(line, ".SS", 3) == 0 ||
			    strncmp(line, ".SH", 3) == 0;
		if (cur != NULL && ends) {
			ut_buf_append(&body, "", 0);
			cur->body = plain(ut_buf_str(&body));
			ut_buf_reset(&body);
			cur = NULL;
		}
		if (strncmp(line, ".SH ", 4) == 0) {
			part = strcmp(line, ".SH KEYS") == 0	 ? KEYS
			       : strcmp(line, ".SH RELOAD") == 0 ? RELOAD
								 : OTHER;
		} else if (part == RELOAD) {
			ut_buf_append_str(&reload, line);
			ut_buf_append(&reload, "\n", 1);
		} else if (part == KEYS && strncmp(line, ".SS \"[", 6) == 0) {
			free(section);
			section = xstrndup(line + 6, strcspn(line + 6, "]"));
		} else if (part == KEYS && strcmp(line, ".TP") == 0) {
			/* The key follows on the next line. */
			len = strcspn(p, "\n");
			char *tag = xstrndup(p, len);
			p += len + (p[len] == '\n');
			T_CHECK(strncmp(tag, ".B \\%", 5) == 0);
			T_CHECK(section != NULL);
			entries = xreallocarray(entries, entry_count + 1,
						sizeof(*entries));
			cur = &entries[entry_count++];
			*cur = (struct entry){
			    .section = xstrdup(section ? section : "?"),
			    .key = plain(tag + 3)};
			free(tag);
		} else if (cur != NULL) {
			ut_buf_append_str(&body, body.len > 0 ? " " : "");
			ut_buf_append_str(&body, line);
		}
		free(line);
	}
	if (cur != NULL) {
		ut_buf_append(&body, "", 0);
		cur->body = plain(ut_buf_str(&body));
	}
	ut_buf_free(&body);
	ut_buf_append(&reload, "", 0);
	reload_part = ut_buf_steal(&reload);
	free(section);
}

static struct entry *find_entry(const char *section, const char *key)
{
	for (size_t i = 0; i < entry_count; i++) {
		if (strcmp(entries[i].section, section) == 0 &&
		    strcmp(entries[i].key, key) == 0)
			return &entries[i];
	}
	return NULL;
}

static bool has(const char *body, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool has(const char *body, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *want = xvasprintf(fmt, ap);
	va_end(ap);
	bool found = strstr(body, want) != NULL;
	if (!found)
		fprintf(stderr, "  missing: \"%s\"\n", want);
	free(want);
	return found;
}

static void test_every_key_once(void)
{
	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		struct entry *e = find_entry(s->section, s->key);
		if (e == NULL)
			fprintf(stderr, "no entry for [%s] %s\n", s->section,
				s->key);
		T_CHECK(e != NULL);
		if (e != NULL)
			e->seen++;
	}
	/* Nothing twice, nothing that is not in the table. */
	for (size_t i = 0; i < entry_count; i++) {
		if (entries[i].seen != 1)
			fprintf(stderr, "[%s] %s: %d times in the table\n",
				entries[i].section, entries[i].key,
				entries[i].seen);
		T_CHECK_INT(entries[i].seen, 1);
	}
	T_CHECK_INT(entry_count, br_config__setting_count);
}

/* The facts of each entry. */
static void test_entry_facts(void)
{
	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		const struct entry *e = find_entry(s->section, s->key);
		if (e == NULL)
			continue; /* test_every_key_once says it */
		const char *b = e->body;
		int before = t_failures_;

		T_CHECK(has(b, "%s", s->desc));
		T_CHECK(has(b, "Type: "));
		if (s->required)
			T_CHECK(has(b, "Required."));
		else
			T_CHECK(strstr(b, "Required.") == NULL);
		if (s->def != NULL)
			T_CHECK(has(b, "Default: %s.", s->def));
		else if (!s->required)
			T_CHECK(has(b, "Default: unset."));
		if (br_config__needs_restart(s)) {
			T_CHECK(has(b, "Changing it needs a restart."));
			T_CHECK(strstr(b, "Applies on reload.") == NULL);
		} else {
			T_CHECK(has(b, "Applies on reload."));
			T_CHECK(strstr(b, "needs a restart") == NULL);
		}
		switch (s->type) {
		case BR_INI_UINT:
			T_CHECK(has(b, "whole number, %" PRIu64 " to %" PRIu64,
				    s->min, s->max));
			break;
		case BR_INI_PORT:
			T_CHECK(has(b, "port number, 1 to 65535"));
			break;
		case BR_INI_MSECS:
			T_CHECK(has(b, "Type: duration, "));
			break;
		case BR_INI_SIZE:
			T_CHECK(has(b, "Type: size, "));
			break;
		case BR_INI_BOOL:
			T_CHECK(has(b, "Type: boolean"));
			break;
		case BR_INI_ENUM:
		case BR_INI_WORD:
			for (size_t v = 0; s->values[v] != NULL; v++)
				T_CHECK(has(b, "%s%s", v == 0 ? "one of " : "",
					    s->values[v]));
			break;
		case BR_INI_SECRET:
			T_CHECK(has(b, "secret"));
			break;
		default:
			break;
		}
		if (t_failures_ != before)
			fprintf(stderr, "  in the entry of [%s] %s: %s\n",
				s->section, s->key, b);
	}
}

/* Ranges in the units a file uses, for the two keys the README names. */
static void test_ranges_in_units(void)
{
	const struct entry *e = find_entry("xmpp", "reconnect_min");
	T_CHECK(e != NULL && has(e->body, "duration, 10ms to 1m."));
	e = find_entry("xmpp", "max_stanza_size");
	T_CHECK(e != NULL && has(e->body, "size, 64K to 64M."));
	e = find_entry("mail", "reply_window");
	T_CHECK(e != NULL && has(e->body, "duration, 0 to 366d."));
}

/* RELOAD lists every section, and [domains]. */
static void test_reload_sections(void)
{
	for (size_t i = 0; i < br_config__setting_count; i++)
		T_CHECK(has(reload_part, ".B [%s]\n",
			    br_config__settings[i].section));
	T_CHECK(has(reload_part, ".B [%s]\n", BR_CONFIG_DOMAINS_SECTION));
	/* A key of a mixed section that needs a restart is named, and one
	   that does not is not. */
	T_CHECK(has(reload_part, "\\%%imap_host,\n"));
	T_CHECK(strstr(reload_part, "send_limit") == NULL);
}

static void test_no_markers_left(void)
{
	static const char *const markers[] = {"@KEYS@", "@RESTART_KEYS@",
					      "@VERSION@", "@DATE@"};
	char *text = read_all(page_path);
	for (size_t i = 0; i < UT_N_ELEMENTS(markers); i++)
		T_CHECK(strstr(text, markers[i]) == NULL);
	free(text);
}

/* ---- keys: the page groff renders ---- */

/* Each key is a tag (7 columns in) under its section's heading (3 in),
   once. */
static void test_rendered(void)
{
	const char *argv[] = {groff_path, "-man",    "-Tutf8", "-P-cbou",
			      "-rLL=78n", page_path, NULL};
	int status;
	char *text = run(argv, &status);
	char *section = NULL;
	int *seen = xcalloc(br_config__setting_count, sizeof(*seen));

	T_CHECK_INT(status, 0);
	for (char *line = strtok(text, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		if (line[0] != ' ') { /* a .SH heading ends a section */
			ut_free(&section);
			continue;
		}
		if (strncmp(line, "   [", 4) == 0) {
			free(section);
			section = xstrndup(line + 4, strcspn(line + 4, "]"));
			continue;
		}
		if (section == NULL || strncmp(line, "       ", 7) != 0 ||
		    line[7] == ' ')
			continue;
		size_t len = strcspn(line + 7, " ");
		for (size_t i = 0; i < br_config__setting_count; i++) {
			const struct br_ini_setting *s =
			    &br_config__settings[i];
			if (strcmp(s->section, section) == 0 &&
			    strlen(s->key) == len &&
			    strncmp(s->key, line + 7, len) == 0)
				seen[i]++;
		}
	}
	for (size_t i = 0; i < br_config__setting_count; i++) {
		if (seen[i] != 1)
			fprintf(stderr, "[%s] %s: %d times in the page\n",
				br_config__settings[i].section,
				br_config__settings[i].key, seen[i]);
		T_CHECK_INT(seen[i], 1);
	}
	free(seen);
	free(section);
	free(text);
}

static int keys_main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	page_path = argv[2];
	groff_path = argv[3][0] != '\0' ? argv[3] : NULL;
	char *text = read_all(page_path);
	parse_page(text);
	free(text);

	T_RUN(test_every_key_once);
	T_RUN(test_entry_facts);
	T_RUN(test_ranges_in_units);
	T_RUN(test_reload_sections);
	T_RUN(test_no_markers_left);
	if (groff_path != NULL)
		T_RUN(test_rendered);
	else
		printf("groff not found: the rendered page is not checked\n");

	for (size_t i = 0; i < entry_count; i++) {
		free(entries[i].section);
		free(entries[i].key);
		free(entries[i].body);
	}
	free(entries);
	free(reload_part);
	return T_DONE();
}

/* ---- render ---- */

static char **pages;
static size_t page_count;
static const char *mandoc_path;

/* A command that prints nothing and exits 0 for each page. */
static void check_quiet(const char *const *cmd, size_t n)
{
	for (size_t i = 0; i < page_count; i++) {
		const char *argv[8];
		int status;
		ut_assert(n + 2 <= UT_N_ELEMENTS(argv));
		memcpy(argv, cmd, n * sizeof(*cmd));
		argv[n] = pages[i];
		argv[n + 1] = NULL;
		char *out = run(argv, &status);
		if (status != 0 || out[0] != '\0')
			fprintf(stderr, "%s %s: exit %d:\n%s", cmd[0], pages[i],
				status, out);
		T_CHECK_INT(status, 0);
		T_CHECK_STR(out, "");
		free(out);
	}
}

static void test_groff_quiet(void)
{
	const char *cmd[] = {groff_path, "-man", "-Tutf8", "-ww", "-z"};
	check_quiet(cmd, UT_N_ELEMENTS(cmd));
}

static void test_mandoc_quiet(void)
{
	const char *cmd[] = {mandoc_path, "-Tlint", "-Wstyle"};
	check_quiet(cmd, UT_N_ELEMENTS(cmd));
}

/* The version and the date made it into every page. */
static void test_filled_in(void)
{
	for (size_t i = 0; i < page_count; i++) {
		char *text = read_all(pages[i]);
		T_CHECK(strstr(text, "@VERSION@") == NULL);
		T_CHECK(strstr(text, "@DATE@") == NULL);
		T_CHECK(strstr(text, "\"tidings 0.") != NULL);
		free(text);
	}
}

static int render_main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	groff_path = argv[2][0] != '\0' ? argv[2] : NULL;
	mandoc_path = argv[3][0] != '\0' ? argv[3] : NULL;
	pages = argv + 4;
	page_count = (size_t)argc - 4;
	if (groff_path == NULL) {
		printf("groff not found (apt-get install groff-base)\n");
		return 77;
	}
	T_RUN(test_filled_in);
	T_RUN(test_groff_quiet);
	if (mandoc_path != NULL)
		T_RUN(test_mandoc_quiet);
	else
		printf("mandoc not found: mandoc -Tlint not run\n");
	return T_DONE();
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keys") == 0)
		return keys_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return render_main(argc, argv);
	fprintf(stderr, "usage: test-man keys PAGE GROFF\n"
			"       test-man render GROFF MANDOC PAGE...\n");
	return 2;
}
