/*
 * The metrics' text: the listen address, content negotiation and the
 * exposition itself (Prometheus text format 0.0.4 and OpenMetrics 1.0.0).
 * Every metric name is written here and nowhere else; the README's
 * "Metrics" section and the tidingsd man page list the same names.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "br_metrics_text.h"
#include "br_status.h"
#include "ut_buf.h"
#include "ut_parse.h"

/* ---- [metrics] listen ---- */

static int parse_port(const char *s, in_port_t *port_r, const char **why_r)
{
	uint32_t port;
	if (ut_parse_u32(s, &port) < 0 || port == 0 || port > 65535) {
		*why_r = "the port must be a number from 1 to 65535";
		return -1;
	}
	*port_r = htons((in_port_t)port);
	return 0;
}

int br_metrics_parse_listen(const char *s, struct sockaddr_storage *addr_r,
			    socklen_t *len_r, const char **why_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	in_port_t nport;

	if (s == NULL || *s == '\0') {
		*why_r = "empty";
		return -1;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':') {
			*why_r = "an IPv6 address is written [ADDRESS]:PORT";
			return -1;
		}
		size_t n = (size_t)(end - s - 1);
		if (n == 0 || n >= sizeof(host)) {
			*why_r = "not a numeric IPv6 address in the brackets";
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
		if (inet_pton(AF_INET6, host, &a6.sin6_addr) != 1) {
			*why_r = "not a numeric IPv6 address in the brackets";
			return -1;
		}
		if (parse_port(end + 2, &nport, why_r) < 0)
			return -1;
		a6.sin6_port = nport;
		memset(addr_r, 0, sizeof(*addr_r));
		memcpy(addr_r, &a6, sizeof(a6));
		*len_r = sizeof(a6);
		return 0;
	}

	struct sockaddr_in a4 = {.sin_family = AF_INET};
	const char *colon = strchr(s, ':');
	if (colon == NULL) {
		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		port = s;
	} else {
		size_t n = (size_t)(colon - s);
		if (strchr(colon + 1, ':') != NULL) {
			*why_r = "an IPv6 address is written [ADDRESS]:PORT";
			return -1;
		}
		if (n == 0 || n >= sizeof(host)) {
			*why_r = "not a numeric IPv4 address before the ':' "
				 "(names are not looked up)";
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		if (inet_pton(AF_INET, host, &a4.sin_addr) != 1) {
			*why_r = "not a numeric IPv4 address before the ':' "
				 "(names are not looked up)";
			return -1;
		}
		port = colon + 1;
	}
	if (parse_port(port, &nport, why_r) < 0)
		return -1;
	a4.sin_port = nport;
	memset(addr_r, 0, sizeof(*addr_r));
	memcpy(addr_r, &a4, sizeof(a4));
	*len_r = sizeof(a4);
	return 0;
}

void br_metrics_format_addr(const struct sockaddr_storage *addr, char *buf,
			    size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)addr;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else {
		const struct sockaddr_in *a4 = (const void *)addr;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a4->sin_port));
	}
}

/* ---- content negotiation ---- */

static const char *skip_ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* [p, end) without the white space around it. */
static void trim(const char **p, const char **end)
{
	*p = skip_ows(*p, *end);
	while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

static bool token_is(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(end - p) == n && strncasecmp(p, word, n) == 0;
}

/* RFC 9110 qvalue: "0", "0.5", "1", "1.000", in thousandths; -1 if bad. */
static int parse_q(const char *p, const char *end)
{
	if (p < end && p[0] == '"' && end - p >= 2 && end[-1] == '"') {
		p++;
		end--;
	}
	if (p == end || (*p != '0' && *p != '1'))
		return -1;
	int whole = *p++ - '0', frac = 0, digits = 0;
	if (p < end) {
		if (*p++ != '.')
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9' || digits == 3)
				return -1;
			frac = frac * 10 + (*p - '0');
			digits++;
		}
	}
	while (digits++ < 3)
		frac *= 10;
	if (whole == 1 && frac != 0)
		return -1;
	return whole * 1000 + frac;
}

/* One media range of an Accept header: which format it names and its q. */
static void media_range(const char *p, const char *end, int *om_q, int *text_q)
{
	const char *semi = memchr(p, ';', (size_t)(end - p));
	const char *type_end = semi != NULL ? semi : end;
	const char *tp = p;
	int q = 1000;
	bool version_ok = true;

	trim(&tp, &type_end);
	bool om = token_is(tp, type_end, "application/openmetrics-text");
	bool text = token_is(tp, type_end, "text/plain");
	if (!om && !text)
		return;
	while (semi != NULL) {
		const char *kp = semi + 1;
		semi = memchr(kp, ';', (size_t)(end - kp));
		const char *pend = semi != NULL ? semi : end;
		const char *eq = memchr(kp, '=', (size_t)(pend - kp));
		if (eq == NULL)
			continue;
		const char *kend = eq, *vp = eq + 1, *vend = pend;
		trim(&kp, &kend);
		trim(&vp, &vend);
		if (token_is(kp, kend, "q")) {
			q = parse_q(vp, vend);
			if (q < 0)
				return; /* a broken range counts for nothing */
		} else if (token_is(kp, kend, "version")) {
			version_ok = token_is(vp, vend, om ? "1.0.0" : "0.0.4");
		}
	}
	if (!version_ok)
		return;
	int *best = om ? om_q : text_q;
	if (q > *best)
		*best = q;
}

enum br_metrics_format br_metrics_negotiate(const char *accept)
{
	int om_q = 0, text_q = 0;

	if (accept == NULL)
		return BR_METRICS_TEXT;
	const char *p = accept, *end = accept + strlen(accept);
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *rend = comma != NULL ? comma : end;
		media_range(p, rend, &om_q, &text_q);
		p = comma != NULL ? comma + 1 : end;
	}
	return om_q > 0 && om_q >= text_q ? BR_METRICS_OPENMETRICS
					  : BR_METRICS_TEXT;
}

const char *br_metrics_content_type(enum br_metrics_format f)
{
	return f == BR_METRICS_OPENMETRICS
		   ? "application/openmetrics-text; version=1.0.0; "
		     "charset=utf-8"
		   : "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- the exposition ---- */

struct sample {
	const char *labels; /* "" or "{name=\"value\"}" */
	uint64_t value;
};

/* One family: its metadata and samples. A counter's name is given
   without _total. */
static void family(struct ut_buf *b, enum br_metrics_format f, const char *name,
		   bool counter, const char *help, const struct sample *s,
		   size_t n)
{
	const char *suffix = counter ? "_total" : "";
	const char *meta_suffix = f == BR_METRICS_OPENMETRICS ? "" : suffix;

	ut_buf_appendf(b, "# HELP %s%s %s\n", name, meta_suffix, help);
	ut_buf_appendf(b, "# TYPE %s%s %s\n", name, meta_suffix,
		       counter ? "counter" : "gauge");
	for (size_t i = 0; i < n; i++)
		ut_buf_appendf(b, "%s%s%s %" PRIu64 "\n", name, suffix,
			       s[i].labels, s[i].value);
}

static void counter(struct ut_buf *b, enum br_metrics_format f,
		    const char *name, const char *help, uint64_t v)
{
	struct sample s = {"", v};
	family(b, f, name, true, help, &s, 1);
}

static void gauge(struct ut_buf *b, enum br_metrics_format f, const char *name,
		  const char *help, uint64_t v)
{
	struct sample s = {"", v};
	family(b, f, name, false, help, &s, 1);
}

static uint64_t seconds(int64_t t)
{
	return t > 0 ? (uint64_t)t : 0;
}

static void render_xmpp(struct ut_buf *b, enum br_metrics_format f,
			const struct br_status *st)
{
	gauge(b, f, "tidings_xmpp_up",
	      "1 while the component is connected to the XMPP server, else 0.",
	      st->xmpp_up ? 1 : 0);
	counter(b, f, "tidings_xmpp_connects",
		"Connections to the XMPP server (completed handshakes).",
		st->xmpp_connects);
	counter(b, f, "tidings_xmpp_disconnects",
		"Connections to the XMPP server lost or closed.",
		st->xmpp_disconnects);
	counter(b, f, "tidings_xmpp_stanzas_in",
		"Stanzas received from the XMPP server.", st->xmpp_stanzas_in);
	counter(b, f, "tidings_xmpp_stanzas_out",
		"Stanzas sent to the XMPP server.", st->xmpp_stanzas_out);
	struct sample dropped[] = {
	    {"{direction=\"in\"}", st->xmpp_dropped_in},
	    {"{direction=\"out\"}", st->xmpp_dropped_out}};
	family(b, f, "tidings_xmpp_stanzas_dropped", true,
	       "Stanzas dropped: in, over the size or depth limits; out, "
	       "the outbox full.",
	       dropped, 2);
	gauge(b, f, "tidings_xmpp_outbox_stanzas",
	      "Stanzas sent and not yet confirmed by the XMPP server.",
	      st->xmpp_outbox);
}

static void render_mail(struct ut_buf *b, enum br_metrics_format f,
			const struct br_status *st)
{
	counter(b, f, "tidings_events_received",
		"Datagrams read from the event socket.", st->events_received);
	counter(b, f, "tidings_events", "Mail events accepted.", st->events);
	counter(b, f, "tidings_events_dropped",
		"Events dropped as malformed or too large.",
		st->events_dropped);
	counter(b, f, "tidings_events_refused",
		"Events refused: their writer was not trusted or not "
		"verified.",
		st->events_refused);
	gauge(b, f, "tidings_imap_busy_sessions", "IMAP sessions working now.",
	      st->imap_busy);
	gauge(b, f, "tidings_imap_queued_jobs",
	      "IMAP jobs waiting for a session.", st->imap_queued);
	counter(b, f, "tidings_imap_failures", "IMAP jobs that failed.",
		st->imap_failures);
}

static void render_router(struct ut_buf *b, enum br_metrics_format f,
			  const struct br_status *st)
{
	struct sample kinds[] = {{"{kind=\"single\"}", st->notify_single},
				 {"{kind=\"digest\"}", st->notify_digest},
				 {"{kind=\"summary\"}", st->notify_summary}};
	family(b, f, "tidings_notifications", true,
	       "Notifications sent, by kind.", kinds, 3);
	counter(b, f, "tidings_digest_mails", "Mails announced in digests.",
		st->notify_digest_mails);
	counter(b, f, "tidings_duplicates",
		"Mail events for mails already notified.",
		st->notify_duplicate);
	counter(b, f, "tidings_unserved_mails",
		"Mails for users without a JID.", st->unserved);
	counter(b, f, "tidings_reconciliations",
		"Reconciliations of a mailbox over IMAP.", st->reconciles);
	counter(b, f, "tidings_reconciliation_failures",
		"Reconciliations that failed.", st->reconcile_errors);
	gauge(b, f, "tidings_reconciliations_running",
	      "Reconciliations in progress.", st->reconciles_alive);
	gauge(b, f, "tidings_users_in_memory", "Users held in memory.",
	      st->users_in_memory);
	gauge(b, f, "tidings_users_tracked", "Users whose presence is known.",
	      st->users_tracked);
	gauge(b, f, "tidings_users_online", "Users online now.",
	      st->users_online);
	gauge(b, f, "tidings_ledger_bytes",
	      "Size of the ledger (tidings.db and its WAL) in bytes.",
	      st->ledger_bytes);
}

static void render_chat_mail(struct ut_buf *b, enum br_metrics_format f,
			     const struct br_status *st)
{
	counter(b, f, "tidings_chat_mail_requests", "Mails asked for in chat.",
		st->mail_requests);
	struct sample outcomes[] = {
	    {"{outcome=\"sent\"}", st->mail_sent},
	    {"{outcome=\"failed\"}", st->mail_failed},
	    {"{outcome=\"refused\"}", st->mail_refused}};
	family(b, f, "tidings_chat_mails", true, "Mails from chat, by outcome.",
	       outcomes, 3);
	counter(b, f, "tidings_chat_mail_retries",
		"Temporary SMTP failures of mails from chat, retried.",
		st->mail_retries);
	counter(b, f, "tidings_chat_mail_sent_copies",
		"Copies of mails from chat stored in the sender's Sent "
		"folder.",
		st->mail_copied);
}

char *br_metrics_render(const struct br_status *st, enum br_metrics_format f,
			size_t *len_r)
{
	struct ut_buf b = UT_BUF_INIT;

	ut_buf_reserve(&b, 8192);
	gauge(&b, f, "tidings_start_time_seconds",
	      "When tidingsd started, in seconds since the Unix epoch.",
	      seconds(st->started_at));
	render_xmpp(&b, f, st);
	render_mail(&b, f, st);
	render_router(&b, f, st);
	if (st->mail_from_chat)
		render_chat_mail(&b, f, st);
	gauge(&b, f, "tidings_last_error_timestamp_seconds",
	      "When the last error was logged, in seconds since the Unix "
	      "epoch; 0 if none was.",
	      seconds(st->last_error_at));
	if (f == BR_METRICS_OPENMETRICS)
		ut_buf_append_str(&b, "# EOF\n");
	*len_r = b.len;
	return ut_buf_steal(&b);
}
