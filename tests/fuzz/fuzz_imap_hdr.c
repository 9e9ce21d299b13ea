/*
 * Fuzz target for the IMAP pool's pure parsers (mailstore/ms_imap_hdr.c):
 * the header block of a mail to answer (every value hostile) and modified
 * UTF-7 mailbox names. Checks: every string out is valid UTF-8 without
 * controls and within its bound; msg-ids have their shape; addresses pass
 * ms_addr_validate; Reply-To, To and Cc stay bounded and distinct, and
 * each of their addresses stands in the input as written; a mailbox name
 * decodes to clean UTF-8 or to nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_addr.h"
#include "ms_imap_hdr.h"
#include "ut_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (len > max || !ut_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			abort();
	}
}

static void check_id(const char *p, size_t n)
{
	if (n < 3 || n > MS_IMAP_MSGID_MAX || p[0] != '<' || p[n - 1] != '>' ||
	    memchr(p, '@', n) == NULL)
		abort();
	for (size_t i = 1; i + 1 < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] > 0x7e ||
		    p[i] == '<' || p[i] == '>')
			abort();
}

/* "<a@b> <c@d>": ids joined by single spaces, at most max of them. */
static void check_ids(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return;
	check_text(s, MS_IMAP_REFS_BYTES);
	while (*s != '\0') {
		const char *sp = strchr(s, ' ');
		size_t len = sp != NULL ? (size_t)(sp - s) : strlen(s);
		check_id(s, len);
		n++;
		s += len;
		if (*s == ' ')
			s++;
	}
	if (n == 0 || n > max)
		abort();
}

static void check_addr(const char *a)
{
	const char *why;

	if (a != NULL && ms_addr_validate(a, strlen(a), MS_ADDR_UTF8, &why) < 0)
		abort();
}

/* list[0..count): at most max, NULL iff empty, valid, distinct, and each
   address somewhere in the input as it was written (text: the input with
   NUL and CR as spaces, which is how the parser reads them). */
static void check_addrs(char **list, size_t count, size_t max, const char *text,
			size_t size)
{
	if (count > max || (count > 0) != (list != NULL))
		abort();
	for (size_t i = 0; i < count; i++) {
		check_text(list[i], MS_ADDR_MAX);
		check_addr(list[i]);
		if (memmem(text, size, list[i], strlen(list[i])) == NULL)
			abort();
		for (size_t k = 0; k < i; k++)
			if (ms_addr_equal(list[i], list[k]))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_imap_headers h;
	char *name, *text = malloc(size + 1);

	if (text == NULL)
		abort();
	for (size_t i = 0; i < size; i++)
		text[i] =
		    data[i] == '\0' || data[i] == '\r' ? ' ' : (char)data[i];

	ms_imap__headers_parse((const char *)data, size, &h);
	if (h.message_id != NULL)
		check_id(h.message_id, strlen(h.message_id));
	check_ids(h.in_reply_to, MS_IMAP_REFS_MAX);
	check_ids(h.references, MS_IMAP_REFS_MAX);
	check_text(h.subject, MS_IMAP_SUBJECT_MAX);
	check_text(h.from_name, MS_ADDR_DISPLAY_MAX);
	check_text(h.from_address, MS_ADDR_MAX);
	check_addr(h.from_address);
	check_addrs(h.reply_to, h.reply_to_count, MS_IMAP_REPLY_TO_MAX, text,
		    size);
	check_addrs(h.to, h.to_count, MS_IMAP_RCPTS_MAX, text, size);
	check_addrs(h.cc, h.cc_count, MS_IMAP_RCPTS_MAX, text, size);
	free(text);
	if (h.date < 0)
		abort();
	ms_imap_headers_clear(&h);

	name = ms_imap__mutf7_decode((const char *)data, size);
	if (name != NULL) {
		check_text(name, size * 2);
		free(name);
	}
	return 0;
}
