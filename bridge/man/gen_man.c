/*
 * gen-man: makes a man page from its template at build time.
 *
 *   gen-man TEMPLATE OUTPUT VERSION DATE
 *
 * Copies TEMPLATE to OUTPUT, replacing "@VERSION@" and "@DATE@" wherever
 * they occur, and two lines that hold nothing but a marker:
 * - "@KEYS@": every key of the settings table (br_config__settings), one
 *   ".SS [section]" per section and one ".TP" entry per key: its name, its
 *   description, its type in words with its range or values, its default
 *   or "Required.", and whether a reload applies it
 *   (br_config__needs_restart());
 * - "@RESTART_KEYS@": per section, the keys a reload cannot change.
 * So tidings.conf(5) is written from the table itself and cannot drift
 * from it. All text taken from the table is escaped for roff here.
 * Exits 0, or 1 with a message on stderr (OUTPUT is then removed).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br_config_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* The words ut_log_level_parse() and ut_trace_parse() take; checked
   against them at start, as they have no table of their own. */
static const char *const log_levels[] = {"error", "warn", "info", "debug",
					 "trace"};
static const char *const trace_words[] = {"xmpp", "imap", "events", "ledger"};

/*
 * Writes s as roff text within a line: backslashes as \e, every hyphen as
 * \- (the table names keys, paths, options and commands, which must copy
 * as typed), UTF-8 as \[uXXXX]. Returns -1 on bytes that are not text
 * (a broken table). Where lines start is put_paragraph()'s business.
 */
static int put_text(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p == '\\') {
			fputs("\\e", out);
		} else if (*p == '-') {
			fputs("\\-", out);
		} else if (*p < 0x20 || *p == 0x7f) {
			return -1;
		} else if (*p < 0x80) {
			fputc(*p, out);
		} else {
			/* A UTF-8 sequence of 2 to 4 bytes. */
			unsigned n = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : 1;
			uint32_t cp = *p & (0x3f >> n);
			if (*p < 0xc2 || *p > 0xf4)
				return -1;
			for (unsigned i = 1; i <= n; i++) {
				if ((p[i] & 0xc0) != 0x80)
					return -1;
				cp = cp << 6 | (p[i] & 0x3f);
			}
			p += n;
			fprintf(out, "\\[u%04" PRIX32 "]", cp);
		}
	}
	return 0;
}

/*
 * Writes text (roff text without line ends) as lines: a new line after
 * each sentence (". " before a capital letter), as roff wants for its
 * sentence spacing, and at a space before LINE_WIDTH bytes; a line that
 * would start with '.' or '\'' (a request) starts with \& instead.
 */
#define LINE_WIDTH 78
static void put_paragraph(FILE *out, const char *text)
{
	const char *p = text;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t len = strlen(p), end = len;
		for (size_t i = 1; i + 2 < len; i++) {
			if (strchr(".?!", p[i]) != NULL && p[i + 1] == ' ' &&
			    p[i + 2] >= 'A' && p[i + 2] <= 'Z') {
				end = i + 1;
				break;
			}
		}
		if (end > LINE_WIDTH) {
			size_t sp = LINE_WIDTH;
			while (sp > 0 && p[sp] != ' ')
				sp--;
			if (sp == 0)
				sp = strcspn(p, " ");
			if (sp < end)
				end = sp;
		}
		fprintf(out, "%s%.*s\n", *p == '.' || *p == '\'' ? "\\&" : "",
			(int)end, p);
		p += end;
	}
}

/* A duration in the largest unit that keeps it exact, as the file says
   it: 250ms, 30s, 5m, 2h, 14d. */
static void put_msecs(FILE *out, uint64_t v)
{
	static const struct {
		uint64_t msecs;
		const char *unit;
	} units[] = {
	    {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

	for (size_t i = 0; i < UT_N_ELEMENTS(units); i++) {
		if (v != 0 && v % units[i].msecs == 0) {
			fprintf(out, "%" PRIu64 "%s", v / units[i].msecs,
				units[i].unit);
			return;
		}
	}
	fprintf(out, "%" PRIu64 "%s", v, v == 0 ? "" : "ms");
}

/* A size in the largest unit that keeps it exact: 64K, 4M, 1G. */
static void put_size(FILE *out, uint64_t v)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3; i++) {
		uint64_t mult = (uint64_t)1 << (10 * (3 - i));
		if (v != 0 && v % mult == 0) {
			fprintf(out, "%" PRIu64 "%c", v / mult, units[i]);
			return;
		}
	}
	fprintf(out, "%" PRIu64, v);
}

/* "a, b or c", each value in bold. */
static void put_values(FILE *out, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fputs(i == 0 ? "" : i + 1 == n ? " or " : ", ", out);
		fputs("\\fB", out);
		put_text(out, values[i]);
		fputs("\\fR", out);
	}
}

/* "Type: ..." for s: the type in words, with its range or values. */
static void put_type(FILE *out, const struct br_ini_setting *s)
{
	size_t n = 0;

	fputs("Type: ", out);
	switch (s->type) {
	case BR_INI_STRING:
		fputs("text", out);
		break;
	case BR_INI_SECRET:
		fputs("text, secret (never logged; tidingsd \\-n prints it "
		      "as (hidden))",
		      out);
		break;
	case BR_INI_UINT:
		fprintf(out, "whole number, %" PRIu64 " to %" PRIu64, s->min,
			s->max);
		break;
	case BR_INI_PORT:
		fputs("port number, 1 to 65535", out);
		break;
	case BR_INI_MSECS:
		fputs("duration, ", out);
		put_msecs(out, s->min);
		fputs(" to ", out);
		put_msecs(out, s->max);
		break;
	case BR_INI_SIZE:
		fputs("size, ", out);
		put_size(out, s->min);
		fputs(" to ", out);
		put_size(out, s->max);
		break;
	case BR_INI_BOOL:
		fputs("boolean (yes or no)", out);
		break;
	case BR_INI_MODE:
		fputs("octal file mode, at most 0777", out);
		break;
	case BR_INI_ENUM:
	case BR_INI_WORD:
		while (s->values[n] != NULL)
			n++;
		fputs("one of ", out);
		put_values(out, s->values, n);
		break;
	case BR_INI_LIST:
		fputs("comma\\-separated list", out);
		break;
	case BR_INI_LOGLEVEL:
		fputs("one of ", out);
		put_values(out, log_levels, UT_N_ELEMENTS(log_levels));
		break;
	case BR_INI_TRACE:
		fputs("comma\\-separated list of ", out);
		put_values(out, trace_words, UT_N_ELEMENTS(trace_words));
		fputs(", or \\fBall\\fR, or \\fBnone\\fR", out);
		break;
	}
	fputc('.', out);
}

/* The ".TP" entry of one key: its name, its description, then its type,
   default and whether a reload applies it. */
static int put_key(FILE *out, const struct br_ini_setting *s)
{
	char *desc = NULL, *facts = NULL;
	size_t desc_len = 0, facts_len = 0;
	FILE *mem = open_memstream(&desc, &desc_len);
	int ret = 0;

	ut_assert(mem != NULL);
	if (put_text(mem, s->desc) < 0)
		ret = -1;
	fclose(mem);
	mem = open_memstream(&facts, &facts_len);
	ut_assert(mem != NULL);
	put_type(mem, s);
	if (s->required) {
		fputs(" Required.", mem);
	} else if (s->def != NULL) {
		fputs(" Default: \\fB\\%", mem);
		if (put_text(mem, s->def) < 0)
			ret = -1;
		fputs("\\fR.", mem);
	} else {
		fputs(" Default: unset.", mem);
	}
	fputs(br_config__needs_restart(s) ? " Changing it needs a restart."
					  : " Applies on reload.",
	      mem);
	fclose(mem);

	fputs(".TP\n.B \\%", out);
	if (put_text(out, s->key) < 0)
		ret = -1;
	fputc('\n', out);
	put_paragraph(out, desc);
	fputs(".IP\n", out);
	put_paragraph(out, facts);
	free(desc);
	free(facts);
	return ret;
}

static int put_keys(FILE *out)
{
	const char *section = NULL;

	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		if (section == NULL || strcmp(section, s->section) != 0) {
			section = s->section;
			fputs(".SS \"[", out);
			if (put_text(out, section) < 0)
				return -1;
			fputs("]\"\n", out);
		}
		if (put_key(out, s) < 0) {
			fprintf(stderr, "gen-man: [%s] %s: not text\n",
				s->section, s->key);
			return -1;
		}
	}
	return 0;
}

/* One ".TP" per section: which of its keys need a restart. Sections come
   in the table's order, then [domains]. */
static void put_restart_keys(FILE *out)
{
	const struct br_ini_setting *all = br_config__settings;
	const size_t count = br_config__setting_count;

	for (size_t i = 0; i < count;) {
		const char *section = all[i].section;
		size_t n = 0, restart = 0;
		while (i + n < count &&
		       strcmp(all[i + n].section, section) == 0)
			restart += br_config__needs_restart(&all[i + n++]);
		fprintf(out, ".TP\n.B [%s]\n", section);
		if (restart == 0) {
			fputs("Every key applies on reload.\n", out);
		} else if (restart == n) {
			fputs("Changing any key needs a restart.\n", out);
		} else {
			for (size_t j = i, done = 0; j < i + n; j++) {
				if (!br_config__needs_restart(&all[j]))
					continue;
				fputs("\\%", out);
				put_text(out, all[j].key);
				fputs(++done < restart ? ",\n" : "\n", out);
			}
			fputs("need a restart; the other keys apply on "
			      "reload.\n",
			      out);
		}
		i += n;
	}
	const struct br_ini_setting domains = {
	    .section = BR_CONFIG_DOMAINS_SECTION, .key = ""};
	fprintf(out, ".TP\n.B [%s]\n%s\n", domains.section,
		br_config__needs_restart(&domains)
		    ? "Changing any line needs a restart."
		    : "Every line applies on reload.");
}

/* Writes line (without its end) with @VERSION@ and @DATE@ replaced. */
static void put_line(FILE *out, const char *line, size_t len,
		     const char *version, const char *date)
{
	for (size_t i = 0; i < len;) {
		if (len - i >= 9 && memcmp(line + i, "@VERSION@", 9) == 0) {
			fputs(version, out);
			i += 9;
		} else if (len - i >= 6 && memcmp(line + i, "@DATE@", 6) == 0) {
			fputs(date, out);
			i += 6;
		} else {
			fputc(line[i++], out);
		}
	}
	fputc('\n', out);
}

/* Checks that the words this program lists are the parsers' own. */
static int check_words(void)
{
	for (size_t i = 0; i < UT_N_ELEMENTS(log_levels); i++) {
		enum ut_log_level level;
		if (ut_log_level_parse(log_levels[i], &level) < 0 ||
		    (size_t)level != i) {
			fprintf(stderr,
				"gen-man: log level %s is out of date\n",
				log_levels[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < UT_N_ELEMENTS(trace_words); i++) {
		unsigned mask;
		if (ut_trace_parse(trace_words[i], &mask) < 0 ||
		    mask != 1u << i) {
			fprintf(stderr, "gen-man: trace %s is out of date\n",
				trace_words[i]);
			return -1;
		}
	}
	return 0;
}

static int generate(FILE *in, FILE *out, const char *version, const char *date)
{
	char *line = NULL;
	size_t size = 0;
	ssize_t len;
	int ret = 0;

	while (ret == 0 && (len = getline(&line, &size, in)) >= 0) {
		size_t n = (size_t)len;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n == 6 && memcmp(line, "@KEYS@", 6) == 0)
			ret = put_keys(out);
		else if (n == 14 && memcmp(line, "@RESTART_KEYS@", 14) == 0)
			put_restart_keys(out);
		else
			put_line(out, line, n, version, date);
	}
	free(line);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr,
			"usage: gen-man TEMPLATE OUTPUT VERSION DATE\n");
		return 2;
	}
	if (check_words() < 0)
		return 1;
	FILE *in = fopen(argv[1], "r");
	if (in == NULL) {
		fprintf(stderr, "gen-man: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	FILE *out = fopen(argv[2], "w");
	if (out == NULL) {
		fprintf(stderr, "gen-man: %s: %s\n", argv[2], strerror(errno));
		fclose(in);
		return 1;
	}
	int ret = generate(in, out, argv[3], argv[4]);
	if (ferror(in)) {
		fprintf(stderr, "gen-man: %s: read error\n", argv[1]);
		ret = -1;
	}
	fclose(in);
	if (fclose(out) != 0) {
		fprintf(stderr, "gen-man: %s: %s\n", argv[2], strerror(errno));
		ret = -1;
	}
	if (ret < 0) {
		remove(argv[2]);
		return 1;
	}
	return 0;
}
