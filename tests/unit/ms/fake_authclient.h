#ifndef FAKE_AUTHCLIENT_H
#define FAKE_AUTHCLIENT_H

/*
 * A scriptable fake of Dovecot's auth-client socket for the unit tests,
 * on fake_dovecot_sock.h (a listener served by its own thread, one client
 * connection at a time, a new one replacing the old). It greets like
 * Dovecot 2.3.19 (VERSION, MECH PLAIN and LOGIN, SPID, CUID, COOKIE,
 * DONE), decodes each AUTH line's PLAIN response and answers per its user
 * table: OK for the right password, FAIL (after fail_delay_msecs, so later
 * answers overtake it) for a wrong one, and misbehaves on demand.
 * Everything it saw is counted; read the counters with fake_ac_get().
 */

#include <stdbool.h>
#include <stddef.h>

#include "fake_dovecot_sock.h"

enum fake_ac_kind {
	FAKE_AC_CHECK = 0,   /* OK for the password, else FAIL (delayed) */
	FAKE_AC_SILENT,	     /* never answers */
	FAKE_AC_OTHER_USER,  /* OK, but for user=someone@else */
	FAKE_AC_UPPER,	     /* OK with the user upper-cased */
	FAKE_AC_NOLOGIN,     /* OK ... nologin */
	FAKE_AC_PROXY,	     /* OK ... proxy host= pass= */
	FAKE_AC_MASTER,	     /* OK ... auth_user=master */
	FAKE_AC_NO_USER,     /* OK without user= */
	FAKE_AC_TEMP,	     /* FAIL code=temp_fail reason=... */
	FAKE_AC_REASON,	     /* FAIL reason=Account<TAB>locked (escaped) */
	FAKE_AC_GARBAGE,     /* "OK\tnot-a-number" */
	FAKE_AC_CONT,	     /* CONT\t<id>\t */
	FAKE_AC_WRONG_ID,    /* answers OK for id + 1000 */
	FAKE_AC_HANGUP,	     /* closes the connection */
	FAKE_AC_HANGUP_ONCE, /* closes the first time, then as CHECK */
	FAKE_AC_LONG_LINE,   /* a line over 16 KiB */
};

struct fake_ac_user {
	const char *name;
	const char *password;
	enum fake_ac_kind kind;
};

struct fake_ac_counts {
	int conns;	   /* connections accepted */
	int auths;	   /* AUTH lines */
	int version_lines; /* VERSION\t1\t2 */
	int cpid_lines;	   /* CPID\t<n> */
	int bad_lines;	   /* anything else, or an AUTH without no-penalty */
	char last_service[64];
	/* The last PLAIN response decoded: user and password. */
	char last_user[600];
	char last_password[20000];
	size_t last_password_len;
};

#define FAKE_AC_MAX_DELAYED 64

struct fake_ac {
	/* Behaviour: set before fake_ac_start(). */
	const struct fake_ac_user *users;
	size_t n_users;
	const char *greeting; /* NULL: like Dovecot 2.3.19 */
	bool dribble;	      /* write everything a byte at a time */
	unsigned fail_delay_msecs;

	/* Internal (under sock's mutex). */
	struct fake_dvsock sock;
	bool hung_once[64];
	struct fake_ac_counts counts;
	struct {
		double due_msecs;
		char line[128];
	} delayed[FAKE_AC_MAX_DELAYED];
	int n_delayed;
};

/* Binds path (removing what is there) and starts the thread. */
void fake_ac_start(struct fake_ac *f, const char *path);
/* Stops the thread, closes everything, unlinks the path. */
void fake_ac_stop(struct fake_ac *f);
void fake_ac_get(struct fake_ac *f, struct fake_ac_counts *c);
/* Closes the current connection from the server side. */
void fake_ac_drop(struct fake_ac *f);
/* Writes raw bytes on the current connection. */
void fake_ac_send_raw(struct fake_ac *f, const char *data, size_t len);

#endif
