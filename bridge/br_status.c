/*
 * The snapshot behind `tidingsctl status` and the metrics: one place that
 * asks every module for its numbers, so the two always agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "br_config.h"
#include "br_online.h"
#include "br_router.h"
#include "br_sender.h"
#include "br_status.h"
#include "ms_evsock.h"
#include "ms_imap.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_component.h"

#define METER_SLOTS 61 /* a minute of one-second samples, and now */

struct br_status_meter {
	uv_timer_t timer;
	const struct br_status_sources *src;
	int64_t started_at;
	/* Accepted events at each of the last METER_SLOTS seconds. */
	uint64_t samples[METER_SLOTS];
	size_t next;  /* the slot written next */
	size_t taken; /* samples written, up to METER_SLOTS */
};

static uint64_t events_now(const struct br_status_sources *src)
{
	struct ms_evsock_stats es = {0};
	if (src->events != NULL)
		ms_evsock_get_stats(src->events, &es);
	return es.events;
}

static void meter_cb(uv_timer_t *t)
{
	struct br_status_meter *m = t->data;
	m->samples[m->next] = events_now(m->src);
	m->next = (m->next + 1) % METER_SLOTS;
	if (m->taken < METER_SLOTS)
		m->taken++;
}

struct br_status_meter *br_status_meter_new(uv_loop_t *loop,
					    const struct br_status_sources *src)
{
	struct br_status_meter *m = xcalloc(1, sizeof(*m));
	m->src = src;
	m->started_at = (int64_t)time(NULL);
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	meter_cb(&m->timer);
	uv_timer_start(&m->timer, meter_cb, 1000, 1000);
	return m;
}

static void meter_closed(uv_handle_t *h)
{
	free(h->data);
}

void br_status_meter_close(struct br_status_meter **mp)
{
	struct br_status_meter *m = *mp;
	if (m == NULL)
		return;
	*mp = NULL;
	uv_close((uv_handle_t *)&m->timer, meter_closed);
}

/* Accepted events per second over the samples kept (up to a minute). */
static double events_rate(const struct br_status_meter *m, uint64_t now)
{
	if (m->taken < 2)
		return 0;
	/* The slot written first: 0 until the ring is full, then next. */
	size_t oldest = m->taken < METER_SLOTS ? 0 : m->next;
	uint64_t seconds = m->taken - 1;
	return now >= m->samples[oldest]
		   ? (double)(now - m->samples[oldest]) / (double)seconds
		   : 0;
}

static int count_online(const char *key, const char *bare,
			enum br_presence presence, void *ctx)
{
	size_t *n = ctx;
	(void)key;
	(void)bare;
	if (presence != BR_PRESENCE_OFFLINE && presence != BR_PRESENCE_UNKNOWN)
		(*n)++;
	return 0;
}

static uint64_t file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		(int)sizeof(path) ||
	    stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

void br_status_collect(const struct br_status_meter *m, struct br_status *st)
{
	const struct br_status_sources *src = m->src;

	memset(st, 0, sizeof(*st));
	st->started_at = m->started_at;
	snprintf(st->version, sizeof(st->version), "%s", "0.1.0");

	if (src->xmpp != NULL) {
		struct xm_component_stats xs;
		xm_component_get_stats(src->xmpp, &xs);
		st->xmpp_up = xm_component_online(src->xmpp);
		st->xmpp_up_since = st->xmpp_up ? xs.up_since : 0;
		st->xmpp_connects = xs.connects;
		st->xmpp_disconnects = xs.disconnects;
		st->xmpp_stanzas_in = xs.stanzas_in;
		st->xmpp_stanzas_out = xs.stanzas_out;
		st->xmpp_dropped_in = xs.dropped_in;
		st->xmpp_dropped_out = xs.dropped;
		st->xmpp_outbox = xs.outbox_len;
	}
	if (src->events != NULL) {
		struct ms_evsock_stats es;
		ms_evsock_get_stats(src->events, &es);
		st->events_received = es.received;
		st->events = es.events;
		st->events_dropped = es.malformed + es.oversized;
		st->events_refused =
		    es.refused + es.unverified + es.waiting_full;
		st->events_per_sec = events_rate(m, es.events);
	}
	if (src->imap != NULL) {
		struct ms_imap_pool_stats is;
		ms_imap_pool_get_stats(src->imap, &is);
		st->imap_busy = is.busy;
		st->imap_queued = is.queued;
		st->imap_failures = is.failures;
	}
	if (src->router != NULL) {
		struct br_router_stats rs;
		br_router_get_stats(src->router, &rs);
		st->notify_single = rs.singles;
		st->notify_digest = rs.digests;
		st->notify_digest_mails = rs.digest_mails;
		st->notify_summary = rs.summaries;
		st->notify_duplicate = rs.duplicates;
		st->unserved = rs.unmapped;
		st->reconciles = rs.reconciles;
		st->reconcile_errors = rs.reconcile_errors;
		st->reconciles_alive = rs.scans;
		st->users_in_memory = rs.users;
	}
	if (src->online != NULL) {
		st->users_tracked = br_online_tracked(src->online);
		br_online_foreach(src->online, count_online, &st->users_online);
	}
	if (src->cfg != NULL)
		st->ledger_bytes =
		    file_size(src->cfg->state_dir, "tidings.db") +
		    file_size(src->cfg->state_dir, "tidings.db-wal");
	if (src->sender != NULL) {
		struct br_sender_stats ss;
		br_sender_get_stats(src->sender, &ss);
		st->mail_from_chat = true;
		st->mail_requests = ss.requests;
		st->mail_refused = ss.refused;
		st->mail_sent = ss.sent;
		st->mail_retries = ss.retries;
		st->mail_failed = ss.failed;
		st->mail_copied = ss.copied;
	}
	if (!ut_log_last_error(st->last_error, sizeof(st->last_error),
			       &st->last_error_at))
		st->last_error[0] = '\0';
}
