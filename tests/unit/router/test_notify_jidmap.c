/* The notification texts and the mailbox -> JID mapping, exactly. */
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "br_jidmap.h"
#include "br_notify.h"
#include "test.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

static xmpp_ctx_t *sctx;

static struct br_config *config(const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\nhost = 127.0.0.1\n"
	    "secret = s\ndomain = example.org\n"
	    "[mail]\ndomain = example.org, example.net\n"
	    "imap_host = 127.0.0.1\nmaster_user = t\nmaster_password = p\n"
	    "[events]\nsocket = /tmp/t.sock\n[state]\ndir = /tmp/t\n%s",
	    extra);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

static char *text_of(xmpp_stanza_t *st)
{
	char *x = xm_stanza_to_text(st, NULL);
	xmpp_stanza_release(st);
	return x;
}

static void check_map(const struct br_config *cfg, const char *user,
		      const char *want)
{
	char *jid = NULL;
	const char *why = NULL;
	int ret = br_jidmap_user(cfg, user, &jid, &why);
	if (want == NULL) {
		T_CHECK_INT(ret, -1);
		T_CHECK(why != NULL);
	} else {
		T_CHECK_INT(ret, 0);
		T_CHECK_STR(jid, want);
	}
	free(jid);
}

static void test_jidmap(void)
{
	struct br_config *cfg = config("");
	check_map(cfg, "bob@example.org", "bob@example.org");
	check_map(cfg, "bob@example.net", "bob@example.org");
	check_map(cfg, "Bob.Smith@EXAMPLE.org", "bob.smith@example.org");
	check_map(cfg, "bob", "bob@example.org");
	check_map(cfg, "bob+lists@example.org", "bob+lists@example.org");
	check_map(cfg, "bob@other.org", NULL);
	check_map(cfg, "@example.org", NULL);
	check_map(cfg,
		  "b\xC3\xB6"
		  "b@example.org",
		  NULL);
	check_map(cfg, "bob smith@example.org", NULL);
	check_map(cfg, "o'hara@example.org", NULL);
	check_map(cfg, "a/b@example.org", NULL);
	check_map(cfg, "a:b@example.org", NULL);
	check_map(cfg, "a\\20b@example.org", NULL);
	check_map(cfg, "a&b@example.org", NULL);
	br_config_free(&cfg);
}

static void test_single_texts(void)
{
	struct br_config *cfg = config("");
	struct br_mail m = {.mailbox = "INBOX", .uidvalidity = 9, .uid = 4};
	char *x = text_of(br_notify_single(sctx, cfg, "bob@example.org", &m));
	T_CHECK(strstr(x, "<body>New mail from an unknown sender\n"
			  "Subject: (no subject)</body>") != NULL);
	T_CHECK(strstr(x, "<subject></subject>") != NULL ||
		strstr(x, "<subject/>") != NULL);
	T_CHECK(strstr(x, "<date>") == NULL);
	free(x);

	m.mailbox = "Lists";
	m.from_address = "alice@example.org";
	m.from_name = "  Alice\r\n Example ";
	m.subject = "Re:\tplans\n";
	m.snippet = "line one\nline two";
	x = text_of(br_notify_single(sctx, cfg, "bob@example.org", &m));
	T_CHECK(strstr(x, "<body>New mail from Alice Example "
			  "&lt;alice@example.org&gt; in Lists\n"
			  "Subject: Re: plans\n\nline one line two</body>") !=
		NULL);
	T_CHECK(strstr(x, "<from name=\"Alice Example\">alice@example.org"
			  "</from>") != NULL);
	T_CHECK(strstr(x, "mailbox=\"Lists\"") != NULL);
	free(x);
	br_config_free(&cfg);

	/* No snippet when snippet_max is 0; headline when configured. */
	cfg = config("[notify]\nsnippet_max = 0\nmessage_type = headline\n");
	x = text_of(br_notify_single(sctx, cfg, "bob@example.org", &m));
	T_CHECK(strstr(x, "line one") == NULL);
	T_CHECK(strstr(x, "type=\"headline\"") != NULL);
	free(x);
	br_config_free(&cfg);
}

static void test_digest_texts(void)
{
	struct br_config *cfg = config("[notify]\ndigest_list_max = 10\n");
	struct br_mail mails[12];
	struct br_mail *ptrs[12];
	char subjects[12][16];
	for (int i = 0; i < 12; i++) {
		snprintf(subjects[i], sizeof(subjects[i]), "S%d", i + 1);
		mails[i] = (struct br_mail){.mailbox = "INBOX",
					    .uidvalidity = 1,
					    .uid = (uint32_t)(i + 1),
					    .from_address = "carol@example.net",
					    .subject = subjects[i]};
		ptrs[i] = &mails[i];
	}
	/* 12 fetched, 30 in all: 10 listed, "and 20 more". */
	char *x = text_of(
	    br_notify_digest(sctx, cfg, "bob@example.org", ptrs, 12, 30));
	T_CHECK(strstr(x, "<body>30 new mails:\n\xE2\x80\xA2 "
			  "carol@example.net: S1\n") != NULL);
	T_CHECK(strstr(x, "S10\n\xE2\x80\xA6"
			  "and 20 more.</body>") != NULL);
	T_CHECK(strstr(x, "S11") == NULL);
	T_CHECK(strstr(x, "<digest xmlns=\"urn:x-tidings:mail:0\" "
			  "count=\"30\">") != NULL);
	int n = 0;
	for (const char *p = x; (p = strstr(p, "<mail ")) != NULL; p++)
		n++;
	T_CHECK_INT(n, 10);
	free(x);
	br_config_free(&cfg);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_jidmap);
	T_RUN(test_single_texts);
	T_RUN(test_digest_texts);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
