#ifndef BR_METRICS_TEXT_H
#define BR_METRICS_TEXT_H

/*
 * The pure half of the metrics (br_metrics.c serves them): the `[metrics]
 * listen` value as a socket address, the choice of exposition format from
 * an HTTP Accept header, and the exposition text of one struct br_status.
 * No I/O, no allocation except the rendered text; safe from any thread.
 */

#include <stddef.h>
#include <sys/socket.h>

struct br_status;

/*
 * "PORT" (127.0.0.1:PORT), "IPV4:PORT" or "[IPV6]:PORT": numeric addresses
 * only (no names, no IPv6 zone), PORT 1..65535. On success fills *addr_r
 * (a sockaddr_in or sockaddr_in6) and *len_r and returns 0; on error
 * returns -1 with a static English reason in *why_r.
 */
int br_metrics_parse_listen(const char *s, struct sockaddr_storage *addr_r,
			    socklen_t *len_r, const char **why_r);

/* "127.0.0.1:9747" or "[::1]:9747" for an address the parser gave. */
void br_metrics_format_addr(const struct sockaddr_storage *addr, char *buf,
			    size_t size);

enum br_metrics_format {
	BR_METRICS_TEXT,	/* Prometheus text format 0.0.4 */
	BR_METRICS_OPENMETRICS, /* OpenMetrics 1.0.0 text */
};

/*
 * The format an Accept header (NULL: none) asks for: OpenMetrics when it
 * names application/openmetrics-text (without a version, or version=1.0.0)
 * with a q above 0 and at least the q it gives text/plain; else the
 * Prometheus text format. Wildcards never select OpenMetrics.
 */
enum br_metrics_format br_metrics_negotiate(const char *accept);

/* The Content-Type header value of a format. */
const char *br_metrics_content_type(enum br_metrics_format f);

/*
 * The exposition of *st in format f, NUL-terminated, its length in *len_r;
 * the caller frees it. The families, in this order (counters carry the
 * _total suffix on their samples; in OpenMetrics their TYPE and HELP
 * lines name the family without it, and the text ends with "# EOF"):
 *   tidings_start_time_seconds, tidings_xmpp_up, tidings_xmpp_connects,
 *   tidings_xmpp_disconnects, tidings_xmpp_stanzas_in,
 *   tidings_xmpp_stanzas_out, tidings_xmpp_stanzas_dropped{direction},
 *   tidings_xmpp_outbox_stanzas, tidings_events_received, tidings_events,
 *   tidings_events_dropped, tidings_events_refused,
 *   tidings_imap_busy_sessions, tidings_imap_queued_jobs,
 *   tidings_imap_failures, tidings_notifications{kind},
 *   tidings_digest_mails, tidings_duplicates, tidings_unserved_mails,
 *   tidings_reconciliations, tidings_reconciliation_failures,
 *   tidings_reconciliations_running, tidings_users_in_memory,
 *   tidings_users_tracked, tidings_users_online, tidings_ledger_bytes,
 *   (with mail from chat on:) tidings_chat_mail_requests,
 *   tidings_chat_mails{outcome}, tidings_chat_mail_retries,
 *   tidings_chat_mail_sent_copies, and tidings_last_error_timestamp_seconds.
 */
char *br_metrics_render(const struct br_status *st, enum br_metrics_format f,
			size_t *len_r);

#endif
