#ifndef FAKE_AUTHMASTER_H
#define FAKE_AUTHMASTER_H

/*
 * A scriptable fake of Dovecot's auth-master (userdb) socket for the unit
 * tests, on fake_dovecot_sock.h (a listener served by its own thread, one
 * client connection at a time, a new one replacing the old). It greets like
 * Dovecot 2.3 ("VERSION\t1\t0", "SPID\t..."), answers
 * "USER\t<id>\t<name>\tservice=..." per the user table and misbehaves on
 * demand. Everything it saw is counted; read the counters with
 * fake_am_get() (they are shared with the thread).
 */

#include <stdbool.h>
#include <stddef.h>

#include "fake_dovecot_sock.h"

enum fake_am_kind {
	FAKE_NOTFOUND = 0, /* also any user not in the table */
	FAKE_FOUND,	   /* USER ... uid= gid= home= */
	FAKE_FOUND_NOUID,  /* USER ... home= only */
	FAKE_FAIL,	   /* FAIL with reason=backend<TAB>down (escaped) */
	FAKE_SILENT,	   /* never answers */
	FAKE_GARBAGE,	   /* "USER\tnot-a-number" */
	FAKE_HANGUP,	   /* closes the connection */
	FAKE_HANGUP_ONCE,  /* closes the first time, then FOUND */
	FAKE_HOLD,	   /* answers FOUND on fake_am_release() */
};

struct fake_am_user {
	const char *name;
	enum fake_am_kind kind;
	unsigned uid, gid;
};

#define FAKE_AM_MAX_HELD 64

struct fake_am_counts {
	int conns;	   /* connections accepted */
	int requests;	   /* USER lines */
	int version_lines; /* VERSION lines from the client */
	int bad_lines;	   /* anything else */
	int held;	   /* requests held now */
	int max_held;	   /* most held at once */
	char last_service[64];
};

struct fake_am {
	/* Behaviour: set before fake_am_start(). */
	const struct fake_am_user *users;
	size_t n_users;
	const char *greeting; /* NULL: "VERSION\t1\t0\nSPID\t4242\n" */
	bool dribble;	      /* write answers a byte at a time */

	/* Internal (under sock's mutex). */
	struct fake_dvsock sock;
	bool release, hung_once[64];
	struct fake_am_counts counts;
	struct {
		unsigned id;
		const struct fake_am_user *user;
	} held[FAKE_AM_MAX_HELD];
};

/* Binds path (removing what is there) and starts the thread. */
void fake_am_start(struct fake_am *f, const char *path);
/* Stops the thread, closes everything, unlinks the path. */
void fake_am_stop(struct fake_am *f);
void fake_am_get(struct fake_am *f, struct fake_am_counts *c);
/* Answers the held requests (FOUND). */
void fake_am_release(struct fake_am *f);
/* Closes the current connection from the server side. */
void fake_am_drop(struct fake_am *f);
/* Writes raw bytes on the current connection. */
void fake_am_send_raw(struct fake_am *f, const char *data, size_t len);

#endif
