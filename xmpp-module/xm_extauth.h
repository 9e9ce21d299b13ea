#ifndef XM_EXTAUTH_H
#define XM_EXTAUTH_H

/*
 * ejabberd's external authentication ("extauth") framing, as ejabberd 23.01
 * speaks it (src/extauth.erl: open_port({spawn, Prog}, [{packet, 2}])).
 * Pure functions, no I/O: tidings-auth feeds the bytes it reads from stdin
 * and writes the replies built here to stdout.
 *
 * A request is a big-endian uint16 length, then that many bytes of
 *   op:user:server[:password]
 * split at ':' at most 3 times (the password may hold ':'; ejabberd's user
 * and server are nodeprep'd and nameprep'd and hold none). The operations
 * and their fields:
 *   auth:U:S:P  isuser:U:S  setpass:U:S:P  tryregister:U:S:P
 *   removeuser:U:S  removeuser3:U:S:P  certauth:U:S:CERT
 * ejabberd sends one request and waits for its reply (30 s, hard-coded)
 * before the next one to the same helper. A reply is exactly 4 bytes:
 * 00 02 00 01 (true) or 00 02 00 00 (false); anything else fails that
 * request on ejabberd's side.
 *
 * Bounds, and why a frame is never a reason to exit. The length prefix is
 * what keeps the helper in step with ejabberd, and it is always a whole
 * uint16, so every complete frame, whatever it holds, gets exactly one
 * reply and the next frame starts where it says:
 * - a body over XM_EXTAUTH_BODY_MAX bytes (up to 65535 are possible) is
 *   skipped as it arrives, never stored, and reported as
 *   XM_EXTAUTH_OVERSIZE: the helper answers false;
 * - a body of 0 bytes is a frame like any other: it does not parse, the
 *   helper answers false;
 * - a frame that does not parse (unknown operation, wrong number of
 *   fields, an empty user or server, a NUL byte) is answered false.
 * Exiting instead would fail the request all the same, make ejabberd log
 * "terminated unexpectedly" and restart the helper, and lose nothing but
 * time. Only the end of input ends the helper: a partial frame at EOF
 * (xm_extauth_decoder_partial()) means ejabberd closed the port mid-write;
 * there is nobody to answer.
 *
 * Secrets: the body (and so the password) lives only in the decoder's
 * fixed buffer; the parsed request points into it.
 * xm_extauth_decoder_wipe() clears it; call it once a frame is handled.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest body stored. A JID's node and domain are at most 1023 bytes
   each, which leaves over 6000 bytes of password; Dovecot's auth-client
   lines stop at 16 KiB, and the password travels base64-encoded there. */
#define XM_EXTAUTH_BODY_MAX  8192
#define XM_EXTAUTH_REPLY_LEN 4

enum xm_extauth_status {
	XM_EXTAUTH_MORE = 0, /* input used up, no frame completed */
	XM_EXTAUTH_FRAME,    /* a frame is complete: parse it */
	XM_EXTAUTH_OVERSIZE, /* a frame over the bound was skipped whole */
};

enum xm_extauth_op {
	XM_EXTAUTH_OP_AUTH = 1,
	XM_EXTAUTH_OP_ISUSER,
	XM_EXTAUTH_OP_SETPASS,
	XM_EXTAUTH_OP_TRYREGISTER,
	XM_EXTAUTH_OP_REMOVEUSER,
	XM_EXTAUTH_OP_REMOVEUSER3,
	XM_EXTAUTH_OP_CERTAUTH,
};

struct xm_extauth_decoder {
	unsigned state;	  /* internal */
	uint16_t length;  /* of the frame under way */
	size_t have;	  /* body bytes read (or skipped) so far */
	size_t body_len;  /* of the completed frame */
	bool frame_ready; /* body holds a completed frame */
	bool parsed;	  /* ... already split by xm_extauth_parse() */
	char body[XM_EXTAUTH_BODY_MAX + 1]; /* + a NUL */
};

struct xm_extauth_request {
	enum xm_extauth_op op;
	const char *op_name; /* "auth", "isuser", ... (static) */
	/* NUL-terminated, inside the decoder's body: valid until the next
	   feed or wipe. password is NULL for isuser and removeuser. */
	const char *user, *server, *password;
	size_t password_len;
};

void xm_extauth_decoder_init(struct xm_extauth_decoder *d);

/*
 * Consumes bytes of data until one frame is complete or the data is used
 * up; *used_r says how many were consumed (feed the rest afterwards).
 * Returns XM_EXTAUTH_FRAME when a frame is complete (its body stays in the
 * decoder until the next call), XM_EXTAUTH_OVERSIZE when a frame over the
 * bound has been skipped whole, XM_EXTAUTH_MORE otherwise. Feeding
 * wipes the previous frame's body.
 */
enum xm_extauth_status xm_extauth_feed(struct xm_extauth_decoder *d,
				       const void *data, size_t len,
				       size_t *used_r);

/* True when part of a frame (header or body) has been read: at EOF, a
   truncated request. */
bool xm_extauth_decoder_partial(const struct xm_extauth_decoder *d);

/* Clears the body (explicit_bzero). */
void xm_extauth_decoder_wipe(struct xm_extauth_decoder *d);

/*
 * Splits the completed frame in place into *req_r. Returns 0, or -1 with a
 * static reason in *why_r when the frame is not a well-formed request: no
 * frame completed, an unknown operation, a wrong number of fields, an
 * empty user or server, or a NUL byte anywhere. The reason never quotes
 * the body (it may hold a password).
 */
int xm_extauth_parse(struct xm_extauth_decoder *d,
		     struct xm_extauth_request *req_r, const char **why_r);

/* The reply to a request: exactly 00 02 00 01 (ok) or 00 02 00 00. */
void xm_extauth_reply(bool ok, unsigned char out[XM_EXTAUTH_REPLY_LEN]);

#endif
