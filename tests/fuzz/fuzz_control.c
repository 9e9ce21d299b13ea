/*
 * Fuzz target for br_control_parse, the control socket's request line
 * (tidingsctl -> tidingsd). Checks: success or an error, never both; a
 * known command; a JID and key exactly for user, resync and test, the JID
 * bare and of the served domain, the key a served user's; a line over
 * BR_CONTROL_LINE_MAX bytes (after a CR) is refused; and the error reply
 * built from the error text is one line of JSON.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "br_control_proto.h"
#include "br_jidmap.h"

static struct br_config *cfg;

static void setup(void)
{
	static const char text[] =
	    "[xmpp]\ncomponent = mail.example.org\nhost = h\nsecret = s\n"
	    "domain = example.org\n[mail]\ndomain = example.org\n"
	    "imap_host = localhost\nmaster_user = t\nmaster_password = p\n"
	    "[events]\nsocket = /s\n[state]\ndir = /nonexistent\n";
	char *error = NULL;
	if (br_config_parse("fuzz.conf", text, sizeof(text) - 1, &cfg, &error) <
	    0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct br_control_request req;
	char *error = NULL;

	if (cfg == NULL)
		setup();
	int ret = br_control_parse(cfg, (const char *)data, size, &req, &error);
	size_t len = size > 0 && data[size - 1] == '\r' ? size - 1 : size;
	if (ret < 0) {
		if (error == NULL || req.jid != NULL || req.key != NULL)
			abort();
		size_t rlen;
		char *line = br_control_error_reply(error, &rlen);
		if (rlen == 0 || line[rlen - 1] != '\n' ||
		    memchr(line, '\n', rlen - 1) != NULL ||
		    strlen(line) != rlen)
			abort();
		free(line);
		free(error);
		return 0;
	}
	if (error != NULL || len > BR_CONTROL_LINE_MAX)
		abort();
	bool takes_jid = req.cmd == BR_CONTROL_USER ||
			 req.cmd == BR_CONTROL_RESYNC ||
			 req.cmd == BR_CONTROL_TEST;
	if (!takes_jid && req.cmd != BR_CONTROL_STATUS &&
	    req.cmd != BR_CONTROL_RELOAD)
		abort();
	if (takes_jid != (req.jid != NULL) || takes_jid != (req.key != NULL))
		abort();
	if (takes_jid) {
		char *key = NULL;
		if (strchr(req.jid, '/') != NULL ||
		    br_jidmap_jid(cfg, req.jid, &key) < 0 ||
		    strcmp(key, req.key) != 0)
			abort();
		free(key);
	}
	br_control_request_clear(&req);
	return 0;
}
