/*
 * The metrics' pure half (br_metrics_text.c): the exposition of a filled
 * struct br_status in both formats, byte for byte; content negotiation;
 * the [metrics] listen parser.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "br_metrics_text.h"
#include "br_status.h"
#include "test.h"

static void fill(struct br_status *st, bool chat)
{
	memset(st, 0, sizeof(*st));
	st->started_at = 1764331200;
	st->xmpp_up = true;
	st->xmpp_connects = 3;
	st->xmpp_disconnects = 2;
	st->xmpp_stanzas_in = 40;
	st->xmpp_stanzas_out = 50;
	st->xmpp_dropped_in = 1;
	st->xmpp_dropped_out = 4;
	st->xmpp_outbox = 5;
	st->events_received = 101;
	st->events = 100;
	st->events_dropped = 6;
	st->events_refused = 7;
	st->imap_busy = 2;
	st->imap_queued = 9;
	st->imap_failures = 8;
	st->notify_single = 60;
	st->notify_digest = 11;
	st->notify_digest_mails = 33;
	st->notify_summary = 12;
	st->notify_duplicate = 13;
	st->unserved = 14;
	st->reconciles = 15;
	st->reconcile_errors = 16;
	st->reconciles_alive = 1;
	st->users_in_memory = 17;
	st->users_tracked = 18;
	st->users_online = 10;
	st->ledger_bytes = 1048576;
	st->mail_from_chat = chat;
	st->mail_requests = 21;
	st->mail_refused = 22;
	st->mail_sent = 23;
	st->mail_retries = 24;
	st->mail_failed = 25;
	st->mail_copied = 26;
	st->last_error_at = 1764331300;
	snprintf(st->last_error, sizeof(st->last_error), "imap: refused");
}

static const char expected_text[] =
    "# HELP tidings_start_time_seconds When tidingsd started, in seconds since "
    "the Unix epoch.\n"
    "# TYPE tidings_start_time_seconds gauge\n"
    "tidings_start_time_seconds 1764331200\n"
    "# HELP tidings_xmpp_up 1 while the component is connected to the XMPP "
    "server, else 0.\n"
    "# TYPE tidings_xmpp_up gauge\n"
    "tidings_xmpp_up 1\n"
    "# HELP tidings_xmpp_connects_total Connections to the XMPP server "
    "(completed handshakes).\n"
    "# TYPE tidings_xmpp_connects_total counter\n"
    "tidings_xmpp_connects_total 3\n"
    "# HELP tidings_xmpp_disconnects_total Connections to the XMPP server lost "
    "or closed.\n"
    "# TYPE tidings_xmpp_disconnects_total counter\n"
    "tidings_xmpp_disconnects_total 2\n"
    "# HELP tidings_xmpp_stanzas_in_total Stanzas received from the XMPP "
    "server.\n"
    "# TYPE tidings_xmpp_stanzas_in_total counter\n"
    "tidings_xmpp_stanzas_in_total 40\n"
    "# HELP tidings_xmpp_stanzas_out_total Stanzas sent to the XMPP server.\n"
    "# TYPE tidings_xmpp_stanzas_out_total counter\n"
    "tidings_xmpp_stanzas_out_total 50\n"
    "# HELP tidings_xmpp_stanzas_dropped_total Stanzas dropped: in, over the "
    "size or depth limits; out, the outbox full.\n"
    "# TYPE tidings_xmpp_stanzas_dropped_total counter\n"
    "tidings_xmpp_stanzas_dropped_total{direction=\"in\"} 1\n"
    "tidings_xmpp_stanzas_dropped_total{direction=\"out\"} 4\n"
    "# HELP tidings_xmpp_outbox_stanzas Stanzas sent and not yet confirmed by "
    "the XMPP server.\n"
    "# TYPE tidings_xmpp_outbox_stanzas gauge\n"
    "tidings_xmpp_outbox_stanzas 5\n"
    "# HELP tidings_events_received_total Datagrams read from the event "
    "socket.\n"
    "# TYPE tidings_events_received_total counter\n"
    "tidings_events_received_total 101\n"
    "# HELP tidings_events_total Mail events accepted.\n"
    "# TYPE tidings_events_total counter\n"
    "tidings_events_total 100\n"
    "# HELP tidings_events_dropped_total Events dropped as malformed or too "
    "large.\n"
    "# TYPE tidings_events_dropped_total counter\n"
    "tidings_events_dropped_total 6\n"
    "# HELP tidings_events_refused_total Events refused: their writer was not "
    "trusted or not verified.\n"
    "# TYPE tidings_events_refused_total counter\n"
    "tidings_events_refused_total 7\n"
    "# HELP tidings_imap_busy_sessions IMAP sessions working now.\n"
    "# TYPE tidings_imap_busy_sessions gauge\n"
    "tidings_imap_busy_sessions 2\n"
    "# HELP tidings_imap_queued_jobs IMAP jobs waiting for a session.\n"
    "# TYPE tidings_imap_queued_jobs gauge\n"
    "tidings_imap_queued_jobs 9\n"
    "# HELP tidings_imap_failures_total IMAP jobs that failed.\n"
    "# TYPE tidings_imap_failures_total counter\n"
    "tidings_imap_failures_total 8\n"
    "# HELP tidings_notifications_total Notifications sent, by kind.\n"
    "# TYPE tidings_notifications_total counter\n"
    "tidings_notifications_total{kind=\"single\"} 60\n"
    "tidings_notifications_total{kind=\"digest\"} 11\n"
    "tidings_notifications_total{kind=\"summary\"} 12\n"
    "# HELP tidings_digest_mails_total Mails announced in digests.\n"
    "# TYPE tidings_digest_mails_total counter\n"
    "tidings_digest_mails_total 33\n"
    "# HELP tidings_duplicates_total Mail events for mails already notified.\n"
    "# TYPE tidings_duplicates_total counter\n"
    "tidings_duplicates_total 13\n"
    "# HELP tidings_unserved_mails_total Mails for users without a JID.\n"
    "# TYPE tidings_unserved_mails_total counter\n"
    "tidings_unserved_mails_total 14\n"
    "# HELP tidings_reconciliations_total Reconciliations of a mailbox over "
    "IMAP.\n"
    "# TYPE tidings_reconciliations_total counter\n"
    "tidings_reconciliations_total 15\n"
    "# HELP tidings_reconciliation_failures_total Reconciliations that "
    "failed.\n"
    "# TYPE tidings_reconciliation_failures_total counter\n"
    "tidings_reconciliation_failures_total 16\n"
    "# HELP tidings_reconciliations_running Reconciliations in progress.\n"
    "# TYPE tidings_reconciliations_running gauge\n"
    "tidings_reconciliations_running 1\n"
    "# HELP tidings_users_in_memory Users held in memory.\n"
    "# TYPE tidings_users_in_memory gauge\n"
    "tidings_users_in_memory 17\n"
    "# HELP tidings_users_tracked Users whose presence is known.\n"
    "# TYPE tidings_users_tracked gauge\n"
    "tidings_users_tracked 18\n"
    "# HELP tidings_users_online Users online now.\n"
    "# TYPE tidings_users_online gauge\n"
    "tidings_users_online 10\n"
    "# HELP tidings_ledger_bytes Size of the ledger (tidings.db and its WAL) "
    "in bytes.\n"
    "# TYPE tidings_ledger_bytes gauge\n"
    "tidings_ledger_bytes 1048576\n"
    "# HELP tidings_chat_mail_requests_total Mails asked for in chat.\n"
    "# TYPE tidings_chat_mail_requests_total counter\n"
    "tidings_chat_mail_requests_total 21\n"
    "# HELP tidings_chat_mails_total Mails from chat, by outcome.\n"
    "# TYPE tidings_chat_mails_total counter\n"
    "tidings_chat_mails_total{outcome=\"sent\"} 23\n"
    "tidings_chat_mails_total{outcome=\"failed\"} 25\n"
    "tidings_chat_mails_total{outcome=\"refused\"} 22\n"
    "# HELP tidings_chat_mail_retries_total Temporary SMTP failures of mails "
    "from chat, retried.\n"
    "# TYPE tidings_chat_mail_retries_total counter\n"
    "tidings_chat_mail_retries_total 24\n"
    "# HELP tidings_chat_mail_sent_copies_total Copies of mails from chat "
    "stored in the sender's Sent folder.\n"
    "# TYPE tidings_chat_mail_sent_copies_total counter\n"
    "tidings_chat_mail_sent_copies_total 26\n"
    "# HELP tidings_last_error_timestamp_seconds When the last error was "
    "logged, in seconds since the Unix epoch; 0 if none was.\n"
    "# TYPE tidings_last_error_timestamp_seconds gauge\n"
    "tidings_last_error_timestamp_seconds 1764331300\n";

static const char expected_openmetrics[] =
    "# HELP tidings_start_time_seconds When tidingsd started, in seconds since "
    "the Unix epoch.\n"
    "# TYPE tidings_start_time_seconds gauge\n"
    "tidings_start_time_seconds 1764331200\n"
    "# HELP tidings_xmpp_up 1 while the component is connected to the XMPP "
    "server, else 0.\n"
    "# TYPE tidings_xmpp_up gauge\n"
    "tidings_xmpp_up 1\n"
    "# HELP tidings_xmpp_connects Connections to the XMPP server (completed "
    "handshakes).\n"
    "# TYPE tidings_xmpp_connects counter\n"
    "tidings_xmpp_connects_total 3\n"
    "# HELP tidings_xmpp_disconnects Connections to the XMPP server lost or "
    "closed.\n"
    "# TYPE tidings_xmpp_disconnects counter\n"
    "tidings_xmpp_disconnects_total 2\n"
    "# HELP tidings_xmpp_stanzas_in Stanzas received from the XMPP server.\n"
    "# TYPE tidings_xmpp_stanzas_in counter\n"
    "tidings_xmpp_stanzas_in_total 40\n"
    "# HELP tidings_xmpp_stanzas_out Stanzas sent to the XMPP server.\n"
    "# TYPE tidings_xmpp_stanzas_out counter\n"
    "tidings_xmpp_stanzas_out_total 50\n"
    "# HELP tidings_xmpp_stanzas_dropped Stanzas dropped: in, over the size or "
    "depth limits; out, the outbox full.\n"
    "# TYPE tidings_xmpp_stanzas_dropped counter\n"
    "tidings_xmpp_stanzas_dropped_total{direction=\"in\"} 1\n"
    "tidings_xmpp_stanzas_dropped_total{direction=\"out\"} 4\n"
    "# HELP tidings_xmpp_outbox_stanzas Stanzas sent and not yet confirmed by "
    "the XMPP server.\n"
    "# TYPE tidings_xmpp_outbox_stanzas gauge\n"
    "tidings_xmpp_outbox_stanzas 5\n"
    "# HELP tidings_events_received Datagrams read from the event socket.\n"
    "# TYPE tidings_events_received counter\n"
    "tidings_events_received_total 101\n"
    "# HELP tidings_events Mail events accepted.\n"
    "# TYPE tidings_events counter\n"
    "tidings_events_total 100\n"
    "# HELP tidings_events_dropped Events dropped as malformed or too large.\n"
    "# TYPE tidings_events_dropped counter\n"
    "tidings_events_dropped_total 6\n"
    "# HELP tidings_events_refused Events refused: their writer was not "
    "trusted or not verified.\n"
    "# TYPE tidings_events_refused counter\n"
    "tidings_events_refused_total 7\n"
    "# HELP tidings_imap_busy_sessions IMAP sessions working now.\n"
    "# TYPE tidings_imap_busy_sessions gauge\n"
    "tidings_imap_busy_sessions 2\n"
    "# HELP tidings_imap_queued_jobs IMAP jobs waiting for a session.\n"
    "# TYPE tidings_imap_queued_jobs gauge\n"
    "tidings_imap_queued_jobs 9\n"
    "# HELP tidings_imap_failures IMAP jobs that failed.\n"
    "# TYPE tidings_imap_failures counter\n"
    "tidings_imap_failures_total 8\n"
    "# HELP tidings_notifications Notifications sent, by kind.\n"
    "# TYPE tidings_notifications counter\n"
    "tidings_notifications_total{kind=\"single\"} 60\n"
    "tidings_notifications_total{kind=\"digest\"} 11\n"
    "tidings_notifications_total{kind=\"summary\"} 12\n"
    "# HELP tidings_digest_mails Mails announced in digests.\n"
    "# TYPE tidings_digest_mails counter\n"
    "tidings_digest_mails_total 33\n"
    "# HELP tidings_duplicates Mail events for mails already notified.\n"
    "# TYPE tidings_duplicates counter\n"
    "tidings_duplicates_total 13\n"
    "# HELP tidings_unserved_mails Mails for users without a JID.\n"
    "# TYPE tidings_unserved_mails counter\n"
    "tidings_unserved_mails_total 14\n"
    "# HELP tidings_reconciliations Reconciliations of a mailbox over IMAP.\n"
    "# TYPE tidings_reconciliations counter\n"
    "tidings_reconciliations_total 15\n"
    "# HELP tidings_reconciliation_failures Reconciliations that failed.\n"
    "# TYPE tidings_reconciliation_failures counter\n"
    "tidings_reconciliation_failures_total 16\n"
    "# HELP tidings_reconciliations_running Reconciliations in progress.\n"
    "# TYPE tidings_reconciliations_running gauge\n"
    "tidings_reconciliations_running 1\n"
    "# HELP tidings_users_in_memory Users held in memory.\n"
    "# TYPE tidings_users_in_memory gauge\n"
    "tidings_users_in_memory 17\n"
    "# HELP tidings_users_tracked Users whose presence is known.\n"
    "# TYPE tidings_users_tracked gauge\n"
    "tidings_users_tracked 18\n"
    "# HELP tidings_users_online Users online now.\n"
    "# TYPE tidings_users_online gauge\n"
    "tidings_users_online 10\n"
    "# HELP tidings_ledger_bytes Size of the ledger (tidings.db and its WAL) "
    "in bytes.\n"
    "# TYPE tidings_ledger_bytes gauge\n"
    "tidings_ledger_bytes 1048576\n"
    "# HELP tidings_chat_mail_requests Mails asked for in chat.\n"
    "# TYPE tidings_chat_mail_requests counter\n"
    "tidings_chat_mail_requests_total 21\n"
    "# HELP tidings_chat_mails Mails from chat, by outcome.\n"
    "# TYPE tidings_chat_mails counter\n"
    "tidings_chat_mails_total{outcome=\"sent\"} 23\n"
    "tidings_chat_mails_total{outcome=\"failed\"} 25\n"
    "tidings_chat_mails_total{outcome=\"refused\"} 22\n"
    "# HELP tidings_chat_mail_retries Temporary SMTP failures of mails from "
    "chat, retried.\n"
    "# TYPE tidings_chat_mail_retries counter\n"
    "tidings_chat_mail_retries_total 24\n"
    "# HELP tidings_chat_mail_sent_copies Copies of mails from chat stored in "
    "the sender's Sent folder.\n"
    "# TYPE tidings_chat_mail_sent_copies counter\n"
    "tidings_chat_mail_sent_copies_total 26\n"
    "# HELP tidings_last_error_timestamp_seconds When the last error was "
    "logged, in seconds since the Unix epoch; 0 if none was.\n"
    "# TYPE tidings_last_error_timestamp_seconds gauge\n"
    "tidings_last_error_timestamp_seconds 1764331300\n"
    "# EOF\n";

static void test_render_text(void)
{
	struct br_status st;
	size_t len;
	fill(&st, true);
	char *t = br_metrics_render(&st, BR_METRICS_TEXT, &len);
	T_CHECK_STR(t, expected_text);
	T_CHECK_INT(len, strlen(expected_text));
	free(t);
}

static void test_render_openmetrics(void)
{
	struct br_status st;
	size_t len;
	fill(&st, true);
	char *t = br_metrics_render(&st, BR_METRICS_OPENMETRICS, &len);
	T_CHECK_STR(t, expected_openmetrics);
	T_CHECK_INT(len, strlen(expected_openmetrics));
	free(t);
}

/* Without mail from chat, its four families are left out, nothing else. */
static char *without_chat(const char *full)
{
	char *out = malloc(strlen(full) + 1), *o = out;
	for (const char *p = full; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p) + 1;
		if (strstr(p, "tidings_chat_") == NULL ||
		    strstr(p, "tidings_chat_") > nl) {
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return out;
}

static void test_render_without_chat(void)
{
	struct br_status st;
	size_t len;
	fill(&st, false);
	for (int f = BR_METRICS_TEXT; f <= BR_METRICS_OPENMETRICS; f++) {
		char *want =
		    without_chat(f == BR_METRICS_TEXT ? expected_text
						      : expected_openmetrics);
		char *t =
		    br_metrics_render(&st, (enum br_metrics_format)f, &len);
		T_CHECK_STR(t, want);
		T_CHECK(strstr(t, "tidings_chat_") == NULL);
		T_CHECK(strstr(t, "tidings_last_error_timestamp_seconds ") !=
			NULL);
		free(t);
		free(want);
	}
}

/* Gauges at zero: no error logged, link down, no start time yet. */
static void test_render_zero(void)
{
	struct br_status st;
	size_t len;
	memset(&st, 0, sizeof(st));
	st.started_at = -5;
	char *t = br_metrics_render(&st, BR_METRICS_OPENMETRICS, &len);
	T_CHECK(strstr(t, "\ntidings_xmpp_up 0\n") != NULL);
	T_CHECK(strstr(t, "\ntidings_last_error_timestamp_seconds 0\n") !=
		NULL);
	T_CHECK(strncmp(t, "# HELP tidings_start_time_seconds ", 34) == 0);
	T_CHECK(strstr(t, "\ntidings_start_time_seconds 0\n") != NULL);
	T_CHECK(len > 6 && strcmp(t + len - 6, "# EOF\n") == 0);
	free(t);
}

static void test_negotiate(void)
{
	static const struct {
		const char *accept;
		enum br_metrics_format want;
	} cases[] = {
	    {NULL, BR_METRICS_TEXT},
	    {"", BR_METRICS_TEXT},
	    {"*/*", BR_METRICS_TEXT},
	    {"text/plain", BR_METRICS_TEXT},
	    {"application/*", BR_METRICS_TEXT},
	    {"application/openmetrics-text", BR_METRICS_OPENMETRICS},
	    {"Application/OpenMetrics-Text", BR_METRICS_OPENMETRICS},
	    {"application/openmetrics-text; version=1.0.0; charset=utf-8",
	     BR_METRICS_OPENMETRICS},
	    /* What Prometheus 2.x sends. */
	    {"application/openmetrics-text;version=1.0.0,application/"
	     "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
	     "q=0.5,*/*;q=0.1",
	     BR_METRICS_OPENMETRICS},
	    {"application/openmetrics-text;version=0.0.1", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=0", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=0.000", BR_METRICS_TEXT},
	    {"text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5",
	     BR_METRICS_TEXT},
	    {"text/plain;q=0.5, application/openmetrics-text ; q=0.9",
	     BR_METRICS_OPENMETRICS},
	    {"text/plain, application/openmetrics-text",
	     BR_METRICS_OPENMETRICS},
	    {"application/openmetrics-text;q=2", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=1.5", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=0.1234", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=", BR_METRICS_TEXT},
	    {"application/openmetrics-text;q=\"0.5\"", BR_METRICS_OPENMETRICS},
	    {"application/openmetrics-textx", BR_METRICS_TEXT},
	    {"application/openmetrics-text;;;,", BR_METRICS_OPENMETRICS},
	    {",,,", BR_METRICS_TEXT},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum br_metrics_format got =
		    br_metrics_negotiate(cases[i].accept);
		if (got != cases[i].want)
			fprintf(stderr, "accept: %s\n",
				cases[i].accept ? cases[i].accept : "(null)");
		T_CHECK_INT(got, cases[i].want);
	}
	T_CHECK_STR(br_metrics_content_type(BR_METRICS_TEXT),
		    "text/plain; version=0.0.4; charset=utf-8");
	T_CHECK_STR(br_metrics_content_type(BR_METRICS_OPENMETRICS),
		    "application/openmetrics-text; version=1.0.0; "
		    "charset=utf-8");
}

static void check_listen(const char *s, const char *want)
{
	struct sockaddr_storage a;
	socklen_t len = 0;
	const char *why = NULL;
	char buf[80];

	memset(&a, 0xa5, sizeof(a));
	int rc = br_metrics_parse_listen(s, &a, &len, &why);
	if (want == NULL) {
		T_CHECK_INT(rc, -1);
		T_CHECK(why != NULL && why[0] != '\0');
		return;
	}
	T_CHECK_INT(rc, 0);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", s, why);
		return;
	}
	T_CHECK_INT(len, a.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in));
	br_metrics_format_addr(&a, buf, sizeof(buf));
	T_CHECK_STR(buf, want);
}

static void test_listen(void)
{
	check_listen("9100", "127.0.0.1:9100");
	check_listen("1", "127.0.0.1:1");
	check_listen("65535", "127.0.0.1:65535");
	check_listen("0.0.0.0:9100", "0.0.0.0:9100");
	check_listen("192.0.2.7:80", "192.0.2.7:80");
	check_listen("[::1]:9100", "[::1]:9100");
	check_listen("[::]:9100", "[::]:9100");
	check_listen("[2001:db8::5]:443", "[2001:db8::5]:443");
	check_listen("[::ffff:127.0.0.1]:9", "[::ffff:127.0.0.1]:9");

	check_listen(NULL, NULL);
	check_listen("", NULL);
	check_listen("0", NULL);
	check_listen("65536", NULL);
	check_listen("99999999999999999999", NULL);
	check_listen("+9100", NULL);
	check_listen(" 9100", NULL);
	check_listen("9100 ", NULL);
	check_listen("91x0", NULL);
	check_listen("localhost:9100", NULL);
	check_listen("127.0.0.1", NULL);
	check_listen("127.0.0.1:", NULL);
	check_listen(":9100", NULL);
	check_listen("127.1:9100", NULL);
	check_listen("127.0.0.256:9100", NULL);
	check_listen("::1:9100", NULL);
	check_listen("[::1]9100", NULL);
	check_listen("[::1]:", NULL);
	check_listen("[::1]:0", NULL);
	check_listen("[]:9100", NULL);
	check_listen("[127.0.0.1]:9100", NULL);
	check_listen("[fe80::1%eth0]:9100", NULL);
	check_listen("[::1:9100", NULL);
	check_listen("[0000:0000:0000:0000:0000:0000:0000:0000:1]:1", NULL);
}

int main(void)
{
	T_RUN(test_render_text);
	T_RUN(test_render_openmetrics);
	T_RUN(test_render_without_chat);
	T_RUN(test_render_zero);
	T_RUN(test_negotiate);
	T_RUN(test_listen);
	return T_DONE();
}
