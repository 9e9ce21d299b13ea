/*
 * ejabberd's extauth framing (see xm_extauth.h): a small state machine over
 * the 2-byte length and the body, and an in-place split of the body.
 */
#include <string.h>

#include "xm_extauth.h"

enum {
	ST_HDR0 = 0, /* waiting for the length's high byte */
	ST_HDR1,     /* ... its low byte */
	ST_BODY,     /* storing the body */
	ST_SKIP,     /* discarding an oversized body */
};

struct op_def {
	const char *name;
	enum xm_extauth_op op;
	unsigned fields; /* op included */
};

static const struct op_def ops[] = {
    {"auth", XM_EXTAUTH_OP_AUTH, 4},
    {"isuser", XM_EXTAUTH_OP_ISUSER, 3},
    {"setpass", XM_EXTAUTH_OP_SETPASS, 4},
    {"tryregister", XM_EXTAUTH_OP_TRYREGISTER, 4},
    {"removeuser", XM_EXTAUTH_OP_REMOVEUSER, 3},
    {"removeuser3", XM_EXTAUTH_OP_REMOVEUSER3, 4},
    {"certauth", XM_EXTAUTH_OP_CERTAUTH, 4},
};

void xm_extauth_decoder_init(struct xm_extauth_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_HDR0;
}

void xm_extauth_decoder_wipe(struct xm_extauth_decoder *d)
{
	explicit_bzero(d->body, sizeof(d->body));
	d->body_len = 0;
	d->frame_ready = false;
	d->parsed = false;
}

bool xm_extauth_decoder_partial(const struct xm_extauth_decoder *d)
{
	return d->state != ST_HDR0;
}

static enum xm_extauth_status complete(struct xm_extauth_decoder *d)
{
	d->state = ST_HDR0;
	d->body_len = d->length;
	d->body[d->body_len] = '\0';
	d->frame_ready = true;
	d->parsed = false;
	return XM_EXTAUTH_FRAME;
}

enum xm_extauth_status xm_extauth_feed(struct xm_extauth_decoder *d,
				       const void *data, size_t len,
				       size_t *used_r)
{
	const unsigned char *p = data;
	size_t i = 0;

	if (d->frame_ready)
		xm_extauth_decoder_wipe(d);
	while (i < len) {
		size_t take;
		switch (d->state) {
		case ST_HDR0:
			d->length = (uint16_t)(p[i++] << 8);
			d->state = ST_HDR1;
			break;
		case ST_HDR1:
			d->length = (uint16_t)(d->length | p[i++]);
			d->have = 0;
			if (d->length == 0) {
				*used_r = i;
				return complete(d);
			}
			d->state =
			    d->length > XM_EXTAUTH_BODY_MAX ? ST_SKIP : ST_BODY;
			break;
		case ST_BODY:
			take = d->length - d->have;
			if (take > len - i)
				take = len - i;
			memcpy(d->body + d->have, p + i, take);
			d->have += take;
			i += take;
			if (d->have == d->length) {
				*used_r = i;
				return complete(d);
			}
			break;
		case ST_SKIP:
			take = d->length - d->have;
			if (take > len - i)
				take = len - i;
			d->have += take;
			i += take;
			if (d->have == d->length) {
				d->state = ST_HDR0;
				*used_r = i;
				return XM_EXTAUTH_OVERSIZE;
			}
			break;
		}
	}
	*used_r = i;
	return XM_EXTAUTH_MORE;
}

int xm_extauth_parse(struct xm_extauth_decoder *d,
		     struct xm_extauth_request *req_r, const char **why_r)
{
	char *f[4];
	unsigned n = 0;

	memset(req_r, 0, sizeof(*req_r));
	if (!d->frame_ready || d->parsed) {
		*why_r = "no complete request";
		return -1;
	}
	/* Parsed once: the split below changes the body. */
	d->parsed = true;
	if (d->body_len == 0) {
		*why_r = "an empty request";
		return -1;
	}
	if (memchr(d->body, '\0', d->body_len) != NULL) {
		*why_r = "a NUL byte in the request";
		return -1;
	}
	f[n++] = d->body;
	for (char *p = d->body; n < 4 && (p = strchr(p, ':')) != NULL;) {
		*p++ = '\0';
		f[n++] = p;
	}
	const struct op_def *def = NULL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(f[0], ops[i].name) == 0) {
			def = &ops[i];
			break;
		}
	}
	if (def == NULL) {
		*why_r = "an unknown operation";
		return -1;
	}
	if (n != def->fields || n < 3) {
		*why_r = "a wrong number of fields for its operation";
		return -1;
	}
	if (f[1][0] == '\0' || f[2][0] == '\0') {
		*why_r = "an empty user or server";
		return -1;
	}
	req_r->op = def->op;
	req_r->op_name = def->name;
	req_r->user = f[1];
	req_r->server = f[2];
	if (n == 4) {
		req_r->password = f[3];
		req_r->password_len = d->body_len - (size_t)(f[3] - d->body);
	}
	return 0;
}

void xm_extauth_reply(bool ok, unsigned char out[XM_EXTAUTH_REPLY_LEN])
{
	out[0] = 0;
	out[1] = 2;
	out[2] = 0;
	out[3] = ok ? 1 : 0;
}
