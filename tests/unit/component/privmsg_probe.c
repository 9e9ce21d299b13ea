/*
 * A probe for tests/integration/test_privileged_message.py (not a test by
 * itself): prints on stdout, as one line, what the component sends to
 * deliver a nudge from a user's own bare JID with the XEP-0356 message
 * permission: br_nudge_text_nudge() from `from` (the sender's bare JID) to
 * `to`, wrapped by xm_privilege_message_new().
 *
 *   privmsg_probe 1|2 FROM TO SUBJECT MESSAGE-ID SENT-UNIX-SECONDS
 *
 * Exits 0, or 2 when the arguments are wrong or the wrapping refuses them
 * (e.g. FROM is not a bare JID with a node).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "br_nudge_text.h"
#include "xm_privilege.h"
#include "xm_stanza.h"

int main(int argc, char **argv)
{
	if (argc != 7 || (argv[1][0] != '1' && argv[1][0] != '2')) {
		fprintf(stderr,
			"usage: %s 1|2 FROM TO SUBJECT MESSAGE-ID SENT\n",
			argv[0]);
		return 2;
	}
	xmpp_initialize();
	xmpp_ctx_t *sctx = xmpp_ctx_new(NULL, NULL);
	struct br_nudge_mail mail = {
	    .sender = argv[2],
	    .subject = argv[4],
	    .message_id = argv[5],
	    .sent = strtoll(argv[6], NULL, 10),
	};
	xmpp_stanza_t *inner = br_nudge_text_nudge(sctx, argv[2], argv[3],
						   &mail, false, time(NULL));
	xmpp_stanza_t *wrapped = NULL;
	int rc = xm_privilege_message_new(
	    sctx, argv[1][0] == '1' ? XM_PRIVILEGE_V1 : XM_PRIVILEGE_V2, inner,
	    &wrapped);
	if (rc == 0) {
		char *xml = xm_stanza_to_text(wrapped, NULL);
		printf("%s\n", xml);
		free(xml);
		xmpp_stanza_release(wrapped);
	}
	xmpp_stanza_release(inner);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return rc == 0 ? 0 : 2;
}
