/* The unit tests' IMAP peer; see imap_peer.h. */

#include "imap_peer.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"

struct conn {
	uv_tcp_t tcp;
	struct peer *peer;
	char line[4096];
	size_t len;
	uint64_t literal_left; /* bytes of an APPEND literal still to come */
	bool after_literal;    /* the line goes on after a literal */
};

static const char default_status[] =
    "* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY 7)\r\n"
    "$T OK done\r\n";
static const char default_list[] =
    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
    "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
    "$T OK done\r\n";
static const char default_examine[] =
    "* 2 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
    "$T OK [READ-ONLY] done\r\n";

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->peer->open--;
	free(c);
}

static void write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
	free(req);
}

/* Sends text with every "$T" replaced by tag. */
static void send_text(struct conn *c, const char *text, const char *tag)
{
	uv_write_t *req = xcalloc(1, sizeof(*req));
	size_t cap = strlen(text) * (strlen(tag) + 1) + 1, n = 0;
	char *out = xmalloc(cap);
	uv_buf_t b;

	for (const char *p = text; *p != '\0'; p++) {
		if (p[0] == '$' && p[1] == 'T') {
			memcpy(out + n, tag, strlen(tag));
			n += strlen(tag);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	req->data = out;
	b = uv_buf_init(out, (unsigned)n);
	uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
}

/* Keeps (the start of) a command line for the test to look at. */
#define KEEP(dst, src) keep(dst, sizeof(dst), src)

static void keep(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src) < size - 1 ? strlen(src) : size - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void answer(struct conn *c, char *line)
{
	const struct peer_script *sc = c->peer->script;
	char *tag = line, *cmd, *sp, *args = "";
	const char *reply = "$T BAD unknown command\r\n";
	size_t used = strlen(c->peer->commands);

	sp = strchr(line, ' ');
	if (sp == NULL)
		return;
	*sp = '\0';
	cmd = sp + 1;
	sp = strchr(cmd, ' ');
	if (sp != NULL && strncmp(cmd, "UID ", 4) == 0)
		sp = strchr(sp + 1, ' ');
	if (sp != NULL) {
		*sp = '\0';
		args = sp + 1;
	}
	snprintf(c->peer->commands + used, sizeof(c->peer->commands) - used,
		 "%s ", cmd);
	if (strcmp(cmd, "LIST") == 0) {
		KEEP(c->peer->list_line, args);
		if (args[0] == '(')
			reply = sc->list != NULL ? sc->list : default_list;
		else if (sc->list_plain != NULL)
			reply = sc->list_plain;
	} else if (strcmp(cmd, "APPEND") == 0) {
		KEEP(c->peer->append_line, args);
		reply = sc->append != NULL ? sc->append
					   : "$T OK [APPENDUID 7 42] done\r\n";
	} else if (strcmp(cmd, "EXAMINE") == 0) {
		KEEP(c->peer->examine_line, args);
		reply = sc->examine != NULL ? sc->examine : default_examine;
	} else if (strcmp(cmd, "UID SEARCH") == 0) {
		KEEP(c->peer->search_line, args);
		reply = sc->search != NULL ? sc->search
					   : "* SEARCH\r\n$T OK done\r\n";
	} else if (strcmp(cmd, "UID FETCH") == 0) {
		KEEP(c->peer->fetch_line, args);
		reply = sc->fetch != NULL ? sc->fetch : "$T OK done\r\n";
	} else if (strcmp(cmd, "LOGIN") == 0)
		reply = sc->login != NULL ? sc->login : "$T OK logged in\r\n";
	else if (strcmp(cmd, "STATUS") == 0)
		reply = sc->status != NULL ? sc->status : default_status;
	else if (strcmp(cmd, "STARTTLS") == 0 && sc->starttls != NULL)
		reply = sc->starttls;
	else if (strcmp(cmd, "LOGOUT") == 0)
		reply = "* BYE bye\r\n$T OK done\r\n";
	send_text(c, reply, tag);
}

/*
 * A line that ends in "{n}" announces a literal (APPEND): asks for it (or
 * refuses the command, as scripted) and returns true when the line goes
 * on after the literal.
 */
static bool literal_start(struct conn *c)
{
	const struct peer_script *sc = c->peer->script;
	char *open = strrchr(c->line, '{'), *end;
	unsigned long long n;
	char tag[64];

	if (open == NULL || c->len == 0 || c->line[c->len - 1] != '}')
		return false;
	n = strtoull(open + 1, &end, 10);
	if (end != c->line + c->len - 1)
		return false;
	snprintf(tag, sizeof(tag), "%.*s", (int)strcspn(c->line, " "), c->line);
	c->peer->append_bytes = 0;
	if (sc->append_refuse != NULL) {
		/* The command is over: record it, no literal follows. */
		size_t used = strlen(c->peer->commands);

		snprintf(c->peer->commands + used,
			 sizeof(c->peer->commands) - used, "APPEND ");
		KEEP(c->peer->append_line, c->line);
		send_text(c, sc->append_refuse, tag);
		c->len = 0;
		return true;
	}
	send_text(c, sc->append_cont != NULL ? sc->append_cont : "+ OK\r\n",
		  "");
	c->literal_left = n;
	c->after_literal = true;
	return true;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char scratch[4096];

	(void)h;
	(void)size;
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (n < 0) {
		uv_close((uv_handle_t *)s, conn_close_cb);
		return;
	}
	if (c->peer->mode != PEER_SCRIPT)
		return;
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];

		if (c->literal_left > 0) {
			c->literal_left--;
			c->peer->append_bytes++;
			continue;
		}
		if (ch == '\n') {
			c->line[c->len] = '\0';
			if (c->len > 0 && c->line[c->len - 1] == '\r')
				c->line[--c->len] = '\0';
			if (!c->after_literal && literal_start(c))
				continue;
			c->after_literal = false;
			answer(c, c->line);
			c->len = 0;
		} else if (c->len < sizeof(c->line) - 1) {
			c->line[c->len++] = ch;
		}
	}
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct peer *p = server->data;
	struct conn *c;

	if (status < 0 || p == NULL)
		return;
	c = xcalloc(1, sizeof(*c));
	c->peer = p;
	c->tcp.data = c;
	ut_assert(uv_tcp_init(p->loop, &c->tcp) == 0);
	ut_assert(uv_accept(server, (uv_stream_t *)&c->tcp) == 0);
	p->accepted++;
	p->open++;
	if (p->mode == PEER_GARBAGE)
		send_text(c, "HTTP/1.0 200 OK\r\n", "");
	else if (p->mode == PEER_SCRIPT)
		send_text(c,
			  p->script->greeting != NULL ? p->script->greeting
						      : "* OK ready\r\n",
			  "");
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

void peer_start(uv_loop_t *loop, struct peer *p, enum peer_mode mode,
		const struct peer_script *script)
{
	static const struct peer_script empty;
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->mode = mode;
	p->script = script != NULL ? script : &empty;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	ut_assert(uv_tcp_init(loop, &p->listener) == 0);
	p->listener.data = p;
	ut_assert(uv_tcp_bind(&p->listener, (struct sockaddr *)&sa, 0) == 0);
	ut_assert(uv_listen((uv_stream_t *)&p->listener, 64, connection_cb) ==
		  0);
	uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
	p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h) && h->type == UV_TCP)
		uv_close(h, h->data == NULL ? NULL : conn_close_cb);
}

void peer_stop(struct peer *p)
{
	p->listener.data = NULL;
	uv_walk(p->loop, close_walk_cb, NULL);
	uv_run(p->loop, UV_RUN_DEFAULT);
}

uint64_t peer_now_msecs(uv_loop_t *loop)
{
	uv_update_time(loop);
	return uv_now(loop);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

void peer_run_until(uv_loop_t *loop, const int *counter, int want,
		    uint64_t max_msecs)
{
	uv_timer_t tick;
	uint64_t end = peer_now_msecs(loop) + max_msecs;

	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (*counter < want && peer_now_msecs(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

void peer_run_for(uv_loop_t *loop, uint64_t msecs)
{
	int never = 0;

	peer_run_until(loop, &never, 1, msecs);
}
