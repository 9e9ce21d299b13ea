/*
 * Fuzz target for the XEP-0356 code and the presence table. The input is
 * XML fed after a fixed stream header (stanzas up to 1 MiB, depth 32).
 * Every stanza goes through:
 * - xm_privilege_parse() for the domain example.org: a success only for a
 *   <message/> whose 'from' is that domain and that has a <privilege/>
 *   child, with a version of 1 or 2, permission values in range, at most
 *   XM_PRIVILEGE_IQ_NS_MAX namespaces, each non-empty, at most
 *   XM_PRIVILEGE_NS_MAX bytes and unique, and none in version 1;
 * - xm_privilege_roster_find() for bob@example.org;
 * - xm_privilege_message_new() (both versions): when it succeeds, the
 *   wrapper renders and parses back whole;
 * - xm_presence_update() on one table kept across the input: never more
 *   than XM_PRESENCE_RESOURCES_MAX resources, online exactly when the
 *   aggregate show is not offline, and the change bits agree with the
 *   aggregate before and after.
 * Must never crash or leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xm_parser.h"
#include "xm_presence.h"
#include "xm_privilege.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;
static struct xm_presence presence;

static void check_privilege(xmpp_stanza_t *st)
{
	struct xm_privilege p;
	const char *err = NULL;
	const char *from = xmpp_stanza_get_from(st);

	if (xm_privilege_parse(st, "example.org", &p, &err) < 0) {
		if (err == NULL || p.n_iq != 0 || p.roster != 0)
			abort();
		return;
	}
	if (strcmp(xmpp_stanza_get_name(st), "message") != 0 || from == NULL ||
	    strcasecmp(from, "example.org") != 0 ||
	    xm_privilege_find(st) == NULL)
		abort();
	if ((p.version != XM_PRIVILEGE_V1 && p.version != XM_PRIVILEGE_V2) ||
	    p.roster > 3 || p.message > XM_PRIV_MESSAGE_OUTGOING ||
	    p.presence > XM_PRIV_PRESENCE_ROSTER ||
	    p.n_iq > XM_PRIVILEGE_IQ_NS_MAX ||
	    (p.version == XM_PRIVILEGE_V1 && (p.n_iq > 0 || p.roster_push)))
		abort();
	for (size_t i = 0; i < p.n_iq; i++) {
		size_t len = strlen(p.iq[i].ns);

		if (len == 0 || len > XM_PRIVILEGE_NS_MAX || p.iq[i].types > 3)
			abort();
		for (size_t k = 0; k < i; k++) {
			if (strcmp(p.iq[k].ns, p.iq[i].ns) == 0)
				abort();
		}
	}
	xm_privilege_clear(&p);
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	int *count = ctx;

	(*count)++;
	(void)st;
}

static void check_message(xmpp_stanza_t *st, enum xm_privilege_version v)
{
	xmpp_stanza_t *msg;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p;
	const char *err;
	int count = 0;
	size_t len;
	char *text;

	if (xm_privilege_message_new(sctx, v, st, &msg) < 0) {
		if (msg != NULL)
			abort();
		return;
	}
	text = xm_stanza_to_text(msg, &len);
	p = xm_parser_new(sctx, 8 * len + 64, 64, &cb, &count);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0 ||
	    xm_parser_feed(p, text, len, &err) < 0 || count != 1)
		abort();
	xm_parser_free(&p);
	free(text);
	xmpp_stanza_release(msg);
}

static void check_presence(xmpp_stanza_t *st)
{
	enum xm_show before = xm_presence_show(&presence), after;
	unsigned changes = 0;

	if (xm_presence_update(&presence, st, &changes) < 0) {
		if (changes != 0 || xm_presence_show(&presence) != before)
			abort();
		return;
	}
	after = xm_presence_show(&presence);
	if (xm_presence_resource_count(&presence) > XM_PRESENCE_RESOURCES_MAX ||
	    xm_presence_online(&presence) != (after != XM_SHOW_OFFLINE))
		abort();
	if (((changes & XM_PRESENCE_CAME_ONLINE) != 0) !=
		(before == XM_SHOW_OFFLINE && after != XM_SHOW_OFFLINE) ||
	    ((changes & XM_PRESENCE_WENT_OFFLINE) != 0) !=
		(before != XM_SHOW_OFFLINE && after == XM_SHOW_OFFLINE) ||
	    ((changes & XM_PRESENCE_SHOW_CHANGED) != 0) !=
		(before != XM_SHOW_OFFLINE && after != XM_SHOW_OFFLINE &&
		 before != after))
		abort();
}

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	struct xm_roster_item item;

	(void)ctx;
	check_privilege(st);
	if (xm_privilege_roster_find(st, "bob@example.org", &item) == 0)
		free(item.name);
	check_message(st, XM_PRIVILEGE_V1);
	check_message(st, XM_PRIVILEGE_V2);
	check_presence(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xm_parser_callbacks cb = {.stanza = stanza_cb};
	struct xm_parser *p;
	const char *err;

	if (sctx == NULL)
		sctx = xmpp_ctx_new(NULL, NULL);
	xm_presence_init(&presence);
	p = xm_parser_new(sctx, 1 << 20, 32, &cb, NULL);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0)
		abort();
	(void)xm_parser_feed(p, (const char *)data, size, &err);
	xm_parser_free(&p);
	xm_presence_clear(&presence);
	return 0;
}
