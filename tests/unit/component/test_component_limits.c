/*
 * Hostile stanzas from the server side: a message nested 70 deep, messages
 * and IQs over the size limit. The component drops them, answers the IQ
 * gets and sets with a policy-violation error, stays connected (nothing
 * resent), logs at most one line per second, and the next stanza is
 * delivered. With the default limits and with configured ones. IQs whose
 * id is too long to echo are dropped unanswered.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_parser.h"

#define BOB  "bob@example.org/res"
#define FROM "from='" BOB "' to='" FAKE_JID "' "

static int drop_lines;
static char drop_line[2][512];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_WARN &&
	    strstr(line, "dropped an inbound") != NULL) {
		if (drop_lines < 2)
			snprintf(drop_line[drop_lines], sizeof(drop_line[0]),
				 "%s", line);
		drop_lines++;
	}
}

/* <name id=id type=type from=from> with `levels` nested elements inside. */
static char *deep_stanza(const char *name, const char *id, const char *type,
			 const char *from, int levels)
{
	struct ut_buf b = UT_BUF_INIT;
	ut_buf_appendf(&b, "<%s id='%s' from='%s' to='" FAKE_JID "' type='%s'>",
		       name, id, from, type);
	for (int i = 0; i < levels; i++)
		ut_buf_append_str(&b, "<x>");
	for (int i = 0; i < levels; i++)
		ut_buf_append_str(&b, "</x>");
	ut_buf_appendf(&b, "</%s>", name);
	return ut_buf_steal(&b);
}

static char *deep_message(const char *id, int levels)
{
	return deep_stanza("message", id, "chat", BOB, levels);
}

/* <name id=id type=type> with a body of about `bytes` bytes, written as
   Prosody writes '"' in text: "&quot;". */
static char *big_stanza(const char *name, const char *id, const char *type,
			size_t bytes)
{
	struct ut_buf b = UT_BUF_INIT;
	ut_buf_appendf(&b, "<%s id='%s' " FROM "type='%s'><body>", name, id,
		       type);
	while (b.len < bytes)
		ut_buf_append_str(&b, "&quot;");
	ut_buf_appendf(&b, "</body></%s>", name);
	return ut_buf_steal(&b);
}

static xmpp_stanza_t *find_iq(struct fake_server *s, const char *id)
{
	for (size_t i = 0; i < s->n_iqs; i++) {
		if (strcmp(xmpp_stanza_get_id(s->iqs[i]), id) == 0)
			return s->iqs[i];
	}
	return NULL;
}

static void check_policy_error(struct fake_server *s, const char *id,
			       const char *text)
{
	xmpp_stanza_t *r = find_iq(s, id), *err, *t;
	char *got;

	T_CHECK(r != NULL);
	if (r == NULL)
		return;
	T_CHECK_STR(xmpp_stanza_get_type(r), "error");
	T_CHECK_STR(xmpp_stanza_get_to(r), BOB);
	T_CHECK_STR(xmpp_stanza_get_from(r), FAKE_JID);
	err = xmpp_stanza_get_child_by_name(r, "error");
	T_CHECK(err != NULL);
	if (err == NULL)
		return;
	T_CHECK_STR(xmpp_stanza_get_type(err), "modify");
	T_CHECK(xmpp_stanza_get_child_by_name_and_ns(
		    err, "policy-violation",
		    "urn:ietf:params:xml:ns:xmpp-stanzas") != NULL);
	t = xmpp_stanza_get_child_by_name_and_ns(
	    err, "text", "urn:ietf:params:xml:ns:xmpp-stanzas");
	got = t != NULL ? xmpp_stanza_get_text(t) : NULL;
	T_CHECK_STR(got, text);
	free(got);
}

static void send_free(struct env *e, char *xml)
{
	fake_server_send(&e->srv, xml);
	free(xml);
}

static void test_default_limits(void)
{
	struct env e;
	struct xm_component_stats st;
	const size_t big = (size_t)5 << 20; /* over the default 4 MiB */
	xmpp_stanza_t *r;
	char *long_from, *xml, *want;

	drop_lines = 0;
	ut_log_set_hook(log_hook, NULL);
	env_init(&e);
	env_component(&e); /* max_stanza_bytes and _depth 0: defaults */
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	T_CHECK_INT(e.obs.online, 1);

	/* Queued mail, not yet confirmed when the hostile stanzas come in:
	   a reconnect would resend it. */
	for (int i = 1; i <= 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "q%d", i);
		T_CHECK_INT(env_send(&e, id, NULL, (uint64_t)i), 0);
	}
	xml = deep_message("deep70", 70);
	want =
	    xasprintf("<message/> of %zu bytes from " BOB ": too deeply nested",
		      strlen(xml));
	send_free(&e, xml);
	send_free(&e, deep_message("deep63", 63)); /* 64 levels: passes */
	send_free(&e, big_stanza("message", "big-msg", "chat", big));
	send_free(&e, big_stanza("iq", "big-get", "get", big));
	send_free(&e, big_stanza("iq", "big-set", "set", big));
	send_free(&e, big_stanza("presence", "big-pres", "available", big));
	fake_server_send(&e.srv, "<message id='normal' " FROM
				 "><body>hi</body></message>");
	RUN_UNTIL(&e.loop,
		  e.obs.stanzas == 2 && e.srv.n_iqs >= 2 && e.obs.n_tokens == 3,
		  10000);
	RUN_UNTIL(&e.loop, false, 100); /* room for a wrong extra reply */

	T_CHECK_INT(e.obs.stanzas, 2);
	T_CHECK_STR(e.obs.last_id, "normal");
	T_CHECK_INT(e.srv.n_iqs, 2);
	check_policy_error(&e.srv, "big-get", "stanza too large");
	check_policy_error(&e.srv, "big-set", "stanza too large");
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(st.disconnects, 0);
	T_CHECK_INT(st.dropped_in, 5);
	T_CHECK_INT(st.resent, 0);
	T_CHECK_INT(st.outbox_len, 0);
	T_CHECK_INT(e.srv.conns, 1);
	T_CHECK_INT(e.obs.offline, 0);
	T_CHECK_INT(e.obs.n_tokens, 3);
	T_CHECK_INT(e.srv.n_msgs, 3); /* each queued message once */

	/* Five drops within a second: one warning line. */
	T_CHECK_INT(drop_lines, 1);
	T_CHECK(strstr(drop_line[0], want) != NULL);
	free(want);
	/* A second later the next line counts the ones left out; the
	   sender is shown cleaned (no line break) and cut. The IQ gets its
	   answer all the same. */
	RUN_UNTIL(&e.loop, false, 1100);
	long_from = xasprintf("x&#10;y%0300d@example.org/r", 0);
	send_free(&e, deep_stanza("iq", "late", "get", long_from, 70));
	free(long_from);
	RUN_UNTIL(&e.loop, drop_lines == 2 && e.srv.n_iqs == 3, 3000);
	T_CHECK_INT(drop_lines, 2);
	T_CHECK(strstr(drop_line[1], "bytes from x y000000") != NULL);
	T_CHECK(strstr(drop_line[1], "\xe2\x80\xa6: too deeply nested (and 4 "
				     "more not logged)") != NULL);
	T_CHECK(strstr(drop_line[1], "@example.org") == NULL);
	T_CHECK(strlen(drop_line[1]) < 250);
	T_CHECK_INT(e.srv.n_iqs, 3);
	r = find_iq(&e.srv, "late");
	T_CHECK(r != NULL && strncmp(xmpp_stanza_get_to(r), "x\ny000", 6) == 0);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.dropped_in, 6);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(env_done(&e), 0);
	ut_log_set_hook(NULL, NULL);
}

static void test_configured_limits(void)
{
	struct env e;
	struct xm_component_stats st;

	drop_lines = 0;
	ut_log_set_hook(log_hook, NULL);
	env_init(&e);
	e.set.max_stanza_bytes = 8192;
	e.set.max_stanza_depth = 10;
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	send_free(&e, deep_message("d10", 9));	/* 10 levels */
	send_free(&e, deep_message("d11", 10)); /* 11 levels */
	send_free(&e, big_stanza("message", "m8000", "chat", 8000));
	send_free(&e, big_stanza("message", "m9000", "chat", 9000));
	send_free(&e, deep_stanza("iq", "dset", "set", BOB, 10));
	fake_server_send(&e.srv, "<message id='normal' " FROM "/>");
	RUN_UNTIL(&e.loop, e.obs.stanzas == 3 && e.srv.n_iqs >= 1, 5000);
	RUN_UNTIL(&e.loop, false, 100);
	T_CHECK_INT(e.obs.stanzas, 3); /* d10, m8000, normal */
	T_CHECK_STR(e.obs.last_id, "normal");
	T_CHECK_INT(e.srv.n_iqs, 1);
	check_policy_error(&e.srv, "dset", "too deeply nested");
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.dropped_in, 3);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(e.srv.conns, 1);
	T_CHECK_INT(drop_lines, 1);
	T_CHECK(strstr(drop_line[0], "<message/> of ") != NULL &&
		strstr(drop_line[0],
		       " bytes from " BOB ": too deeply nested") != NULL);
	T_CHECK_INT(env_done(&e), 0);
	ut_log_set_hook(NULL, NULL);
}

/* An IQ whose id, from or to is longer than any JID is dropped unanswered
   (the answer would echo it); up to that length it is answered. */
static void test_long_ids(void)
{
	struct env e;
	struct xm_component_stats st;
	struct xm_iq_stats is;
	char *long_from;
	char *id_ok = xmalloc(XM_PARSER_SKELETON_ATTR_MAX + 2);
	char *id_long = xmalloc(XM_PARSER_SKELETON_ATTR_MAX + 2);

	memset(id_ok, '"', XM_PARSER_SKELETON_ATTR_MAX);
	id_ok[XM_PARSER_SKELETON_ATTR_MAX] = '\0';
	memset(id_long, '"', XM_PARSER_SKELETON_ATTR_MAX + 1);
	id_long[XM_PARSER_SKELETON_ATTR_MAX + 1] = '\0';
	drop_lines = 0;
	ut_log_set_hook(log_hook, NULL);
	env_init(&e);
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	send_free(&e, xasprintf("<iq type='get' id='%s' " FROM
				"><q xmlns='urn:q'/></iq>",
				id_long));
	send_free(&e, xasprintf("<iq type='set' id='x' from='%s@example.org' "
				"to='" FAKE_JID "'><q xmlns='urn:q'/></iq>",
				id_long));
	/* Skipped (too deep), the skeleton keeps neither: no answer. */
	send_free(&e, deep_stanza("iq", id_long, "get", BOB, 70));
	long_from = xasprintf("%s@example.org", id_long);
	send_free(&e, deep_stanza("iq", "y", "get", long_from, 70));
	free(long_from);
	send_free(&e, xasprintf("<iq type='get' id='%s' " FROM
				"><q xmlns='urn:q'/></iq>",
				id_ok));
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 1, 3000);
	RUN_UNTIL(&e.loop, false, 100);
	T_CHECK_INT(e.srv.n_iqs, 1);
	T_CHECK(find_iq(&e.srv, id_ok) != NULL);
	/* Only the short one reached the IQ engine (and nobody handles it). */
	xm_iq_get_stats(xm_component_iq(e.obs.c), &is);
	T_CHECK_INT(is.requests, 1);
	T_CHECK_INT(is.unhandled, 1);
	T_CHECK_INT(e.obs.stanzas, 0);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.dropped_in, 4);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(drop_lines, 1);
	T_CHECK(strstr(drop_line[0],
		       "<iq/> from " BOB
		       ": id, from or to too long to answer") != NULL);
	T_CHECK_INT(env_done(&e), 0);
	ut_log_set_hook(NULL, NULL);
	free(id_ok);
	free(id_long);
}

int main(void)
{
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	T_RUN(test_default_limits);
	T_RUN(test_configured_limits);
	T_RUN(test_long_ids);
	xmpp_shutdown();
	return T_DONE();
}
