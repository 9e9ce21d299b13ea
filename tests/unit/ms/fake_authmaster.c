/*
 * The fake auth-master server (see fake_authmaster.h): what it answers.
 * The socket, its thread and its mutex are fake_dovecot_sock.c's; every
 * function here but the API runs on that thread with the mutex held.
 */
#include <stdio.h>
#include <string.h>

#include "fake_authmaster.h"

#define DEFAULT_GREETING "VERSION\t1\t0\nSPID\t4242\n"

/* Called with the mutex held. */
static void send_locked(struct fake_am *f, const char *text)
{
	fake_dvsock_send_locked(&f->sock, text);
}

/* The client connection was closed: the requests held go with it. */
static void closed_hook(struct fake_dvsock *s)
{
	struct fake_am *f = s->ctx;
	f->counts.held = 0;
}

static void answer_found(struct fake_am *f, unsigned id,
			 const struct fake_am_user *u)
{
	char line[1024];
	snprintf(line, sizeof(line),
		 "USER\t%u\t%s\tuid=%u\tgid=%u\thome=/home/\001tx\n", id,
		 u->name, u->uid, u->gid);
	send_locked(f, line);
}

static void handle_user(struct fake_am *f, unsigned id, const char *name)
{
	const struct fake_am_user *u = NULL;
	char line[1024];
	size_t i;

	for (i = 0; i < f->n_users; i++) {
		if (strcmp(f->users[i].name, name) == 0) {
			u = &f->users[i];
			break;
		}
	}
	switch (u != NULL ? u->kind : FAKE_NOTFOUND) {
	case FAKE_NOTFOUND:
		snprintf(line, sizeof(line), "NOTFOUND\t%u\n", id);
		send_locked(f, line);
		break;
	case FAKE_FOUND:
		answer_found(f, id, u);
		break;
	case FAKE_FOUND_NOUID:
		snprintf(line, sizeof(line), "USER\t%u\t%s\thome=/x\n", id,
			 name);
		send_locked(f, line);
		break;
	case FAKE_FAIL:
		snprintf(line, sizeof(line),
			 "FAIL\t%u\treason=backend\001tdown\n", id);
		send_locked(f, line);
		break;
	case FAKE_SILENT:
		break;
	case FAKE_GARBAGE:
		send_locked(f, "USER\tnot-a-number\n");
		break;
	case FAKE_HANGUP_ONCE:
		if (i < 64 && f->hung_once[i]) {
			answer_found(f, id, u);
			break;
		}
		if (i < 64)
			f->hung_once[i] = true;
		/* fall through */
	case FAKE_HANGUP:
		fake_dvsock_close_client_locked(&f->sock);
		break;
	case FAKE_HOLD:
		if (f->counts.held < FAKE_AM_MAX_HELD) {
			f->held[f->counts.held].id = id;
			f->held[f->counts.held].user = u;
			f->counts.held++;
			if (f->counts.held > f->counts.max_held)
				f->counts.max_held = f->counts.held;
		}
		break;
	}
}

static void line_hook(struct fake_dvsock *s, char *line)
{
	struct fake_am *f = s->ctx;
	if (strcmp(line, "VERSION\t1\t0") == 0) {
		f->counts.version_lines++;
		return;
	}
	unsigned id;
	char name[600], service[64];
	if (sscanf(line, "USER\t%u\t%599[^\t]\tservice=%63s", &id, name,
		   service) == 3) {
		f->counts.requests++;
		snprintf(f->counts.last_service, sizeof(f->counts.last_service),
			 "%s", service);
		handle_user(f, id, name);
		return;
	}
	f->counts.bad_lines++;
}

/* Answers the held requests once released. */
static void tick_hook(struct fake_dvsock *s)
{
	struct fake_am *f = s->ctx;
	if (f->release) {
		for (int i = 0; i < f->counts.held; i++)
			answer_found(f, f->held[i].id, f->held[i].user);
		f->counts.held = 0;
		f->release = false;
	}
}

void fake_am_start(struct fake_am *f, const char *path)
{
	memset(&f->sock, 0, sizeof(f->sock));
	f->sock.greeting = f->greeting != NULL ? f->greeting : DEFAULT_GREETING;
	f->sock.dribble = f->dribble;
	f->sock.dribble_usecs = 500;
	f->sock.poll_msecs = 10;
	f->sock.line = line_hook;
	f->sock.tick = tick_hook;
	f->sock.closed = closed_hook;
	f->sock.ctx = f;
	f->release = false;
	memset(&f->counts, 0, sizeof(f->counts));
	memset(f->hung_once, 0, sizeof(f->hung_once));
	fake_dvsock_start(&f->sock, path);
}

void fake_am_stop(struct fake_am *f)
{
	fake_dvsock_stop(&f->sock);
}

void fake_am_get(struct fake_am *f, struct fake_am_counts *c)
{
	fake_dvsock_lock(&f->sock);
	*c = f->counts;
	c->conns = f->sock.conns;
	fake_dvsock_unlock(&f->sock);
}

void fake_am_release(struct fake_am *f)
{
	fake_dvsock_lock(&f->sock);
	f->release = true;
	fake_dvsock_unlock(&f->sock);
}

void fake_am_drop(struct fake_am *f)
{
	fake_dvsock_drop(&f->sock);
}

void fake_am_send_raw(struct fake_am *f, const char *data, size_t len)
{
	fake_dvsock_send_raw(&f->sock, data, len);
}
