/*
 * The fake auth-master server (see fake_authmaster.h). Runs in its own
 * thread with poll(2); the mutex guards the counters, the flags and every
 * write to the client connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_authmaster.h"

#define DEFAULT_GREETING "VERSION\t1\t0\nSPID\t4242\n"

static void write_all(int fd, const char *data, size_t len, bool dribble)
{
	while (len > 0 && fd >= 0) {
		size_t chunk = dribble ? 1 : len;
		ssize_t n = send(fd, data, chunk, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		data += n;
		len -= (size_t)n;
		if (dribble)
			usleep(500);
	}
}

/* Called with the mutex held. */
static void send_locked(struct fake_am *f, const char *text)
{
	write_all(f->cfd, text, strlen(text), f->dribble);
}

static void close_client_locked(struct fake_am *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = -1;
	f->inlen = 0;
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
		close_client_locked(f);
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

static void handle_line(struct fake_am *f, char *line)
{
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

static void read_client_locked(struct fake_am *f)
{
	ssize_t n = recv(f->cfd, f->inbuf + f->inlen,
			 sizeof(f->inbuf) - 1 - f->inlen, MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			close_client_locked(f);
		return;
	}
	f->inlen += (size_t)n;
	f->inbuf[f->inlen] = '\0';
	char *start = f->inbuf, *nl;
	while (f->cfd >= 0 && (nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		handle_line(f, start);
		start = nl + 1;
	}
	if (f->cfd < 0)
		return;
	f->inlen -= (size_t)(start - f->inbuf);
	memmove(f->inbuf, start, f->inlen);
}

static void *thread_main(void *arg)
{
	struct fake_am *f = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = f->lfd, .events = POLLIN},
				      {.fd = -1, .events = POLLIN}};
		pthread_mutex_lock(&f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			return NULL;
		}
		if (f->drop) {
			close_client_locked(f);
			f->drop = false;
		}
		if (f->release) {
			for (int i = 0; i < f->counts.held; i++)
				answer_found(f, f->held[i].id, f->held[i].user);
			f->counts.held = 0;
			f->release = false;
		}
		p[1].fd = f->cfd;
		pthread_mutex_unlock(&f->mu);

		if (poll(p, 2, 10) <= 0)
			continue;
		pthread_mutex_lock(&f->mu);
		if (p[0].revents & POLLIN) {
			int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				close_client_locked(f);
				f->cfd = fd;
				f->counts.conns++;
				send_locked(f, f->greeting != NULL
						   ? f->greeting
						   : DEFAULT_GREETING);
			}
		}
		if (f->cfd >= 0 && p[1].fd == f->cfd &&
		    (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_client_locked(f);
		pthread_mutex_unlock(&f->mu);
	}
}

void fake_am_start(struct fake_am *f, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	f->cfd = -1;
	f->stop = f->release = f->drop = false;
	memset(&f->counts, 0, sizeof(f->counts));
	memset(f->hung_once, 0, sizeof(f->hung_once));
	f->inlen = 0;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(f->lfd, 16) < 0) {
		perror("fake_am_start");
		abort();
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_create(&f->thread, NULL, thread_main, f);
}

void fake_am_stop(struct fake_am *f)
{
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	close_client_locked(f);
	close(f->lfd);
	unlink(f->path);
	pthread_mutex_destroy(&f->mu);
}

void fake_am_get(struct fake_am *f, struct fake_am_counts *c)
{
	pthread_mutex_lock(&f->mu);
	*c = f->counts;
	pthread_mutex_unlock(&f->mu);
}

void fake_am_release(struct fake_am *f)
{
	pthread_mutex_lock(&f->mu);
	f->release = true;
	pthread_mutex_unlock(&f->mu);
}

void fake_am_drop(struct fake_am *f)
{
	pthread_mutex_lock(&f->mu);
	f->drop = true;
	pthread_mutex_unlock(&f->mu);
}

void fake_am_send_raw(struct fake_am *f, const char *data, size_t len)
{
	pthread_mutex_lock(&f->mu);
	write_all(f->cfd, data, len, false);
	pthread_mutex_unlock(&f->mu);
}
