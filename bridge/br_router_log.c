/*
 * The router's trail: one info line per notification decision, as Postfix
 * and Dovecot log each delivery, so that "why didn't bob get told?" has an
 * answer in the log. Lines name mailboxes, UIDs and stanza ids only: never
 * a subject or a sender (privacy).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "br_router_private.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* Beyond this many bytes of UIDs a line ends the list with "...". */
#define UIDS_TEXT_MAX 300

static int mail_cmp(const void *a, const void *b)
{
	const struct br_mail *x = *(struct br_mail *const *)a;
	const struct br_mail *y = *(struct br_mail *const *)b;
	int c = strcmp(x->mailbox, y->mailbox);
	if (c != 0)
		return c;
	return x->uid < y->uid ? -1 : x->uid > y->uid ? 1 : 0;
}

char *br_router__uids_text(struct br_mail *const *mails, size_t n)
{
	struct ut_buf b = UT_BUF_INIT;
	struct br_mail **sorted = xcalloc(n + 1, sizeof(*sorted));

	if (n == 0) {
		free(sorted);
		return xstrdup("none");
	}
	memcpy(sorted, mails, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), mail_cmp);
	for (size_t i = 0; i < n && b.len < UIDS_TEXT_MAX;) {
		/* One mailbox: "INBOX uid 7" or "INBOX uids 8-10,12". */
		size_t end = i;
		while (end < n &&
		       strcmp(sorted[end]->mailbox, sorted[i]->mailbox) == 0)
			end++;
		ut_buf_appendf(&b, "%s%s uid%s ", i == 0 ? "" : ", ",
			       sorted[i]->mailbox, end - i > 1 ? "s" : "");
		for (size_t j = i; j < end; j++) {
			/* A run of consecutive UIDs is one range. */
			uint32_t first = sorted[j]->uid;
			bool lead = j == i;
			while (j + 1 < end &&
			       sorted[j + 1]->uid <= sorted[j]->uid + 1)
				j++;
			if (b.len >= UIDS_TEXT_MAX) {
				ut_buf_append_str(&b, ",...");
				break;
			}
			if (sorted[j]->uid == first)
				ut_buf_appendf(&b, "%s%" PRIu32,
					       lead ? "" : ",", first);
			else
				ut_buf_appendf(&b, "%s%" PRIu32 "-%" PRIu32,
					       lead ? "" : ",", first,
					       sorted[j]->uid);
		}
		i = end;
		if (i < n && b.len >= UIDS_TEXT_MAX)
			ut_buf_append_str(&b, ", ...");
	}
	free(sorted);
	return ut_buf_steal(&b);
}

void br_router__log_not_notified(const struct br_user *u,
				 struct br_mail *const *mails, size_t n,
				 size_t more, const char *why)
{
	char *list = br_router__uids_text(mails, n);
	if (more > 0)
		ut_log(UT_LOG_INFO, u->prefix,
		       "not notified %s and %zu more: %s", list, more, why);
	else
		ut_log(UT_LOG_INFO, u->prefix, "not notified %s: %s", list,
		       why);
	free(list);
}
