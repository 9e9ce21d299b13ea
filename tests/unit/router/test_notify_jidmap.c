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

static struct br_config *config_with(const char *domains, const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\nhost = 127.0.0.1\n"
	    "secret = s\ndomain = example.org\n"
	    "[mail]\ndomain = %s\n"
	    "imap_host = 127.0.0.1\nmaster_user = t\nmaster_password = p\n"
	    "[events]\nsocket = /tmp/t.sock\n[state]\ndir = /tmp/t\n%s",
	    domains, extra);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

static struct br_config *config(const char *extra)
{
	return config_with("example.org", extra);
}

static char *text_of(xmpp_stanza_t *st)
{
	char *x = xm_stanza_to_text(st, NULL);
	xmpp_stanza_release(st);
	return x;
}

/* user maps to want_jid with key want_key (NULL: refused), and the JID
   maps back to the same key. */
static void check_map_key(const struct br_config *cfg, const char *user,
			  const char *want_jid, const char *want_key)
{
	char *jid = NULL, *key = NULL, *back = NULL;
	const char *why = NULL;
	int ret = br_jidmap_user(cfg, user, &key, &jid, &why);
	if (want_jid == NULL) {
		T_CHECK_INT(ret, -1);
		T_CHECK(why != NULL);
		return;
	}
	T_CHECK_INT(ret, 0);
	T_CHECK_STR(jid, want_jid);
	T_CHECK_STR(key, want_key);
	T_CHECK_INT(br_jidmap_jid(cfg, jid, &back), 0);
	T_CHECK_STR(back, want_key);
	free(jid);
	free(key);
	free(back);
}

static void check_map(const struct br_config *cfg, const char *user,
		      const char *want)
{
	char *lower = xstrdup(user);
	for (char *p = lower; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	check_map_key(cfg, user, want, lower);
	free(lower);
}

static void check_jid(const struct br_config *cfg, const char *jid,
		      const char *want_key)
{
	char *key = NULL;
	int ret = br_jidmap_jid(cfg, jid, &key);
	if (want_key == NULL) {
		T_CHECK_INT(ret, -1);
		T_CHECK(key == NULL);
	} else {
		T_CHECK_INT(ret, 0);
		T_CHECK_STR(key, want_key);
	}
	free(key);
}

static void test_jidmap(void)
{
	struct br_config *cfg = config("");
	check_map(cfg, "bob@example.org", "bob@example.org");
	check_map(cfg, "Bob.Smith@EXAMPLE.org", "bob.smith@example.org");
	check_map(cfg, "bob", NULL); /* username_format = address */
	check_map(cfg, "bob@example.net", NULL);
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
	check_jid(cfg, "bob@example.org", "bob@example.org");
	check_jid(cfg, "Bob@Example.ORG", "bob@example.org");
	check_jid(cfg, "bob@mail.example.org", NULL);
	check_jid(cfg, "example.org", NULL);
	check_jid(cfg, "bob@example.org/res", NULL);
	check_jid(cfg, "o\\27hara@example.org", NULL);
	check_jid(cfg,
		  "b\xC3\xB6"
		  "b@example.org",
		  NULL);
	T_CHECK(br_jidmap_serves(cfg, "EXAMPLE.org"));
	T_CHECK(!br_jidmap_serves(cfg, "example.net"));
	br_config_free(&cfg);

	/* Several mail domains, each on its own XMPP domain: bob@example.org
	   and bob@example.net are two people. */
	cfg = config_with("example.org, Example.NET, a.org",
			  "[domains]\nexample.net = chat.example.net\n"
			  "a.org = a.org\n");
	T_CHECK(cfg != NULL);
	check_map(cfg, "bob@example.org", "bob@example.org");
	check_map(cfg, "bob@example.net", "bob@chat.example.net");
	check_map(cfg, "bob@EXAMPLE.net", "bob@chat.example.net");
	check_map(cfg, "bob@a.org", "bob@a.org");
	check_jid(cfg, "bob@chat.example.net", "bob@example.net");
	check_jid(cfg, "bob@a.org", "bob@a.org");
	T_CHECK(br_jidmap_serves(cfg, "chat.example.net"));
	T_CHECK(!br_jidmap_serves(cfg, "example.net"));
	br_config_free(&cfg);

	/* Dovecot users without a domain: one key, whichever side names the
	   user, so the presence path makes no second identity. */
	cfg = config("[mail]\nusername_format = localpart\n");
	T_CHECK(cfg != NULL);
	check_map_key(cfg, "Bob", "bob@example.org", "bob");
	check_map_key(cfg, "bob@example.org", NULL, NULL);
	check_jid(cfg, "bob@example.org", "bob");
	br_config_free(&cfg);
}

/* A sender name cannot reverse or hide the address shown next to it. */
static void test_spoofing_characters(void)
{
	struct br_config *cfg = config("");
	struct br_mail m = {.mailbox = "INBOX",
			    .uidvalidity = 9,
			    .uid = 4,
			    .from_address = "mallory@evil.example",
			    .from_name = "Bank \xE2\x80\xAE"
					 "gro.knab@ecivres\xE2\x80\xAC",
			    .subject = "Your \xE2\x80\x8B"
				       "pass\xEF\xBB\xBF"
				       "word "
				       "\xE2\x81\xA6"
				       "expires\xE2\x81\xA9"};
	char *x = text_of(br_notify_single(sctx, cfg, "bob@example.org", &m));
	T_CHECK(strstr(x, "<body>New mail from Bank gro.knab@ecivres "
			  "&lt;mallory@evil.example&gt;\nSubject: Your "
			  "password expires") != NULL);
	T_CHECK(strstr(x, "<from name=\"Bank gro.knab@ecivres\">") != NULL);
	T_CHECK(strstr(x, "<subject>Your password expires</subject>") != NULL);
	T_CHECK(strstr(x, "\xE2\x80\xAE") == NULL);
	free(x);
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
	T_RUN(test_spoofing_characters);
	T_RUN(test_single_texts);
	T_RUN(test_digest_texts);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
