#ifndef XM_ADHOC_INT_H
#define XM_ADHOC_INT_H

/*
 * Internals shared by xm_adhoc.c (sessions, answers) and xm_adhoc_exec.c
 * (the IQ handler, discovery, set-up). Not for other modules.
 */

#include "ut_hash.h"
#include "xm_adhoc.h"

#define SESSIONID_BYTES 16
#define ENDED_RING	64

struct xm_adhoc_command {
	char *node, *name;
	xm_adhoc_access_cb *access;
	xm_adhoc_stage_cb *stage;
	void *ctx;
	struct xm_adhoc_command *next;
};

struct xm_adhoc_session {
	char id[2 * SESSIONID_BYTES + 1];
	char *requester, *bare, *node;
	/* Its command; only while the helper is open (it frees commands). */
	struct xm_adhoc_command *cmd;
	unsigned allowed;
	enum xm_adhoc_action dflt;
	uint64_t deadline;
	bool busy, ended;
	unsigned refs;
	void *data;
	void (*free_fn)(void *data);
	struct xm_adhoc_session *prev, *next; /* LRU: oldest deadline first */
};

struct xm_adhoc_call {
	struct xm_adhoc *a; /* NULL once detached */
	struct xm_iq_request *req;
	struct xm_adhoc_session *s;
	enum xm_adhoc_action action;
	bool first, kept;
	struct xm_form *form;
	struct xm_adhoc_call *prev, *next; /* a->calls */
};

struct xm_adhoc {
	uv_loop_t *loop;
	xmpp_ctx_t *sctx;
	char *jid;
	struct xm_disco *disco;
	size_t sessions_max, per_requester_max;
	uint64_t idle_msecs;
	struct xm_adhoc_command *commands, **commands_tail;
	struct ut_hash *sessions; /* id -> session */
	struct xm_adhoc_session *lru_head, *lru_tail;
	struct xm_adhoc_call *calls;
	struct {
		char id[2 * SESSIONID_BYTES + 1];
		char *requester;
	} ended[ENDED_RING];
	size_t ended_next;
	uv_timer_t timer;
	void (*closed_cb)(void *ctx);
	void *closed_ctx;
};

void xm_adhoc__rearm(struct xm_adhoc *a);
void xm_adhoc__timer_cb(uv_timer_t *t);
/* A new deadline: to the LRU's tail. */
void xm_adhoc__touch(struct xm_adhoc *a, struct xm_adhoc_session *s);
/* A new session (one reference: the table's), in the table. */
struct xm_adhoc_session *xm_adhoc__session_new(struct xm_adhoc *a,
					       struct xm_adhoc_command *cmd,
					       const char *requester,
					       const char *bare);
/* Ends s (a may be NULL when detached): out of the table, into the ring
   of ended ones, the table's reference dropped. Idempotent. */
void xm_adhoc__session_end(struct xm_adhoc *a, struct xm_adhoc_session *s);
void xm_adhoc__session_unref(struct xm_adhoc_session *s);
bool xm_adhoc__ended_recently(struct xm_adhoc *a, const char *id,
			      const char *requester);
/* Sessions open for this bare JID. */
size_t xm_adhoc__sessions_of(struct xm_adhoc *a, const char *bare);
/* XM_ADHOC_ALLOW_* bit of an action (0 for execute). */
unsigned xm_adhoc__action_bit(enum xm_adhoc_action action);

#endif
