#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

/*
 * A scriptable XEP-0114 server for the component tests: listens on
 * 127.0.0.1 port 0 on the test's own loop, parses what the component writes
 * with xm_parser, answers the handshake and pings, and misbehaves on demand
 * (garbage, refused handshake, stalled pings, dropped connection). It
 * records what it saw so tests can check exact counts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <strophe.h>
#include <uv.h>

#define FAKE_SECRET    "s3cr3t-Pa55"
#define FAKE_JID       "mail.example.org"
#define FAKE_DOMAIN    "example.org"
#define FAKE_MAX_CONNS 64

struct fake_msg {
	int conn; /* 1-based connection number */
	char id[32];
	char from[64];
};

struct fake_server {
	uv_loop_t *loop;
	xmpp_ctx_t *sctx;
	uv_tcp_t listener;
	int port;

	/* Behaviour, set before the component connects. */
	int garbage_conns; /* the first N connections get garbage */
	int refuse_conns;  /* the first N handshakes are refused; -1: all */
	int stall_conns;   /* the first N connections never answer pings */
	int drop_at_msg;   /* close connection 1 after this many messages */
	bool ping_errors;  /* answer pings with type='error' */
	int mute_conns;	   /* the first N handshakes get no answer */

	/* What happened. */
	int conns;
	double conn_msecs[FAKE_MAX_CONNS];  /* accept times */
	double close_msecs[FAKE_MAX_CONNS]; /* EOF seen from the component */
	int handshakes_ok, handshakes_bad;
	char stream_to[64];
	int pings;
	double first_ping_msecs;
	struct fake_msg *msgs;
	size_t n_msgs;
	xmpp_stanza_t **iqs; /* other IQs received (clones), in order */
	size_t n_iqs, cap_iqs;
	int last_fd; /* fd of the latest accepted connection */
	int open_conns;
	struct fake_conn *cur; /* the latest connection, if still open */
};

double now_msecs(void);
/* hex(SHA1(id + FAKE_SECRET)), the digest the server expects. */
void fake_digest(const char *id, char hex[41]);
void fake_server_start(struct fake_server *s, uv_loop_t *loop,
		       xmpp_ctx_t *sctx);
/* The first IQ received with this id, or NULL. */
xmpp_stanza_t *fake_find_iq(struct fake_server *s, const char *id);
/* How many IQs were received with this id. */
int fake_count_iq(struct fake_server *s, const char *id);
/* "result" for a result, the name of the defined condition of an error
   ("(none)" without one), NULL for another type. */
const char *fake_iq_answer(xmpp_stanza_t *iq);
/* The same for the first IQ received with this id; "(missing)" when none
   arrived. */
const char *fake_answer(struct fake_server *s, const char *id);
/* Writes xml on the current connection (ignored when there is none). */
void fake_server_send(struct fake_server *s, const char *xml);
/* Closes the current connection from the server side. */
void fake_server_drop(struct fake_server *s);
/* Resets the current connection (RST: the component reads ECONNRESET). */
void fake_server_reset(struct fake_server *s);
/* Closes everything; run the loop afterwards, then fake_server_free(). */
void fake_server_stop(struct fake_server *s);
void fake_server_free(struct fake_server *s);

/* Runs loop until expr holds or msecs pass (a tick timer must be running). */
#define RUN_UNTIL(loop, expr, msecs)                                           \
	do {                                                                   \
		double run_until_end_ = now_msecs() + (msecs);                 \
		while (!(expr) && now_msecs() < run_until_end_)                \
			uv_run((loop), UV_RUN_ONCE);                           \
	} while (0)

/*
 * The test side of the component: callbacks that record what they saw and
 * can close the component from inside, and a loop/context/server bundle.
 */
#include "xm_component.h"

struct obs {
	struct xm_component *c;
	xmpp_ctx_t *sctx;
	int online, offline; /* state callbacks */
	uint64_t tokens[20000];
	size_t n_tokens; /* confirmed callbacks, in call order */
	int stanzas;	 /* stanza callbacks */
	char last_name[16], last_id[32];
	/* Every <message/> received (clones, in order; released by
	   env_done()). */
	xmpp_stanza_t *messages[32];
	size_t n_messages;
	int iq_sets; /* IQ sets answered by env_answer_sets()' handler */
	uint64_t close_at_token;
	bool close_in_stanza, close_in_online;
	bool closed; /* xm_component_close() was called */
	int close_cbs;
	int calls_after_close; /* must stay 0 */
	int send_on_offline;   /* messages queued from the offline callback */
	uint64_t next_token;
};

struct env {
	uv_loop_t loop;
	xmpp_ctx_t *sctx;
	uv_timer_t tick;
	struct fake_server srv;
	struct obs obs;
	struct xm_component_settings set;
};

/* Loop, libstrophe ctx, fake server, fast settings (reconnect 10..40 ms). */
void env_init(struct env *e);
/* Creates o->c with e->set; does not start it. */
void env_component(struct env *e);
/* Registers a handler that answers IQ sets in namespace ns with an empty
   result (counted in obs.iq_sets). */
void env_answer_sets(struct env *e, const char *ns);
/* Queues <message id=id from=from> (from may be NULL). */
int env_send(struct env *e, const char *id, const char *from, uint64_t token);
/* Closes everything and runs the loop dry; returns uv_loop_close(). */
int env_done(struct env *e);

#endif
