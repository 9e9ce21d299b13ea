#ifndef FAKE_DOVECOT_SOCK_H
#define FAKE_DOVECOT_SOCK_H

/*
 * What the fake Dovecot auth sockets of the unit tests (fake_authclient.c,
 * fake_authmaster.c) share: a UNIX stream listener served by its own
 * thread with poll(2) and blocking writes, one client connection at a
 * time (a new one replaces the old), a greeting on every connection, the
 * client's input split into lines, writes that can dribble a byte at a
 * time, and a drop from the server side. What the lines mean and what is
 * answered is the fake's: its hooks run on the thread with the mutex
 * held, and so must every write.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct fake_dvsock {
	/* Set before fake_dvsock_start(). */
	const char *greeting;	/* sent on every new connection */
	bool dribble;		/* write a byte at a time ... */
	unsigned dribble_usecs; /* ... with this pause after each */
	int poll_msecs;		/* tick() runs at least this often */
	/* Hooks (mutex held): a line from the client (its '\n' cut off);
	   every turn of the thread's loop (NULL: none); the client
	   connection was closed (NULL: none). */
	void (*line)(struct fake_dvsock *s, char *line);
	void (*tick)(struct fake_dvsock *s);
	void (*closed)(struct fake_dvsock *s);
	void *ctx;

	/* Internal (conns under the mutex). */
	int conns; /* connections accepted */
	char path[108];
	int lfd, cfd;
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop, drop;
	char inbuf[40000];
	size_t inlen;
};

/* Binds path (removing what is there) and starts the thread. */
void fake_dvsock_start(struct fake_dvsock *s, const char *path);
/* Stops the thread, closes everything, unlinks the path. */
void fake_dvsock_stop(struct fake_dvsock *s);
void fake_dvsock_lock(struct fake_dvsock *s);
void fake_dvsock_unlock(struct fake_dvsock *s);
/* Writes text on the client connection, if any (mutex held). */
void fake_dvsock_send_locked(struct fake_dvsock *s, const char *text);
/* Closes the client connection, if any (mutex held). */
void fake_dvsock_close_client_locked(struct fake_dvsock *s);
/* Has the thread close the client connection at its next turn. */
void fake_dvsock_drop(struct fake_dvsock *s);
/* Writes raw bytes on the client connection at once, never dribbling. */
void fake_dvsock_send_raw(struct fake_dvsock *s, const char *data, size_t len);

#endif
