#ifndef IMAP_PEER_H
#define IMAP_PEER_H

/*
 * A misbehaving IMAP peer for the unit tests of the pool, served from the
 * test's own libuv loop on a free 127.0.0.1 port: silent, garbage, or
 * scripted (a canned answer per command). It records the commands it saw,
 * so a test can tell what was sent (and what was not).
 */

#include <stdint.h>
#include <uv.h>

enum peer_mode {
	PEER_SILENT,  /* accepts and never says a word */
	PEER_GARBAGE, /* greets with a line that is not IMAP */
	PEER_SCRIPT,  /* answers each command from a struct peer_script */
};

/*
 * Canned answers, whole lines with CRLF; "$T" stands for the command's
 * tag. NULL: the greeting is "* OK ready", LOGIN, EXAMINE and LOGOUT
 * answer OK, other commands BAD. A STATUS answer of NULL gives a small
 * mailbox (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY 7).
 */
struct peer_script {
	const char *greeting;
	const char *login;
	const char *status;
	const char *starttls;
	/* LIST (SPECIAL-USE) "" "*" and a plain LIST; NULL: INBOX and a
	   \Sent mailbox "Sent" for the first, BAD for the second. */
	const char *list;
	const char *list_plain;
	/* APPEND: the continuation request for its literal ("+ OK" when
	   NULL), or, with append_refuse, a tagged answer to the command
	   line instead (no literal then); the final answer ("[APPENDUID 7
	   42]" when NULL). */
	const char *append_cont;
	const char *append_refuse;
	const char *append;
	/* EXAMINE (NULL: UIDVALIDITY 7), UID SEARCH (NULL: no hits) and UID
	   FETCH (NULL: OK without data). */
	const char *examine;
	const char *search;
	const char *fetch;
};

struct peer {
	uv_tcp_t listener;
	uv_loop_t *loop;
	enum peer_mode mode;
	const struct peer_script *script;
	uint16_t port;
	int accepted;
	int open;
	/* The command names seen, in order, each followed by a space ("UID
	   SEARCH" for UID commands). */
	char commands[1024];
	/* The last APPEND, LIST, EXAMINE, UID SEARCH and UID FETCH lines
	   (their arguments; the APPEND line without its literal), and the
	   literal's size. */
	char append_line[512];
	size_t append_bytes;
	char list_line[256];
	char examine_line[256];
	char search_line[512];
	char fetch_line[512];
};

void peer_start(uv_loop_t *loop, struct peer *p, enum peer_mode mode,
		const struct peer_script *script);
/* Closes the peer and everything it accepted; runs the loop dry. */
void peer_stop(struct peer *p);

uint64_t peer_now_msecs(uv_loop_t *loop);
/* Runs the loop until *counter >= want or max_msecs passed. */
void peer_run_until(uv_loop_t *loop, const int *counter, int want,
		    uint64_t max_msecs);
void peer_run_for(uv_loop_t *loop, uint64_t msecs);

#endif
