/*
 * The listener and client connection of the fake Dovecot auth sockets (see
 * fake_dovecot_sock.h). The thread polls the listener and the client; the
 * mutex guards the counters, the flags and every write to the client.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_dovecot_sock.h"

static void write_all(int fd, const char *data, size_t len, bool dribble,
		      unsigned dribble_usecs)
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
			usleep(dribble_usecs);
	}
}

void fake_dvsock_send_locked(struct fake_dvsock *s, const char *text)
{
	write_all(s->cfd, text, strlen(text), s->dribble, s->dribble_usecs);
}

void fake_dvsock_close_client_locked(struct fake_dvsock *s)
{
	if (s->cfd >= 0)
		close(s->cfd);
	s->cfd = -1;
	s->inlen = 0;
	if (s->closed != NULL)
		s->closed(s);
}

static void read_client_locked(struct fake_dvsock *s)
{
	ssize_t n = recv(s->cfd, s->inbuf + s->inlen,
			 sizeof(s->inbuf) - 1 - s->inlen, MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			fake_dvsock_close_client_locked(s);
		return;
	}
	s->inlen += (size_t)n;
	s->inbuf[s->inlen] = '\0';
	char *start = s->inbuf, *nl;
	while (s->cfd >= 0 && (nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		s->line(s, start);
		start = nl + 1;
	}
	if (s->cfd < 0)
		return;
	s->inlen -= (size_t)(start - s->inbuf);
	memmove(s->inbuf, start, s->inlen);
}

static void *thread_main(void *arg)
{
	struct fake_dvsock *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
				      {.fd = -1, .events = POLLIN}};
		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		if (s->drop) {
			fake_dvsock_close_client_locked(s);
			s->drop = false;
		}
		if (s->tick != NULL)
			s->tick(s);
		p[1].fd = s->cfd;
		pthread_mutex_unlock(&s->mu);

		if (poll(p, 2, s->poll_msecs) <= 0)
			continue;
		pthread_mutex_lock(&s->mu);
		if (p[0].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				fake_dvsock_close_client_locked(s);
				s->cfd = fd;
				s->conns++;
				fake_dvsock_send_locked(s, s->greeting);
			}
		}
		if (s->cfd >= 0 && p[1].fd == s->cfd &&
		    (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_client_locked(s);
		pthread_mutex_unlock(&s->mu);
	}
}

void fake_dvsock_start(struct fake_dvsock *s, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	s->cfd = -1;
	s->stop = s->drop = false;
	s->conns = 0;
	s->inlen = 0;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 ||
	    bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(s->lfd, 16) < 0) {
		perror("fake_dvsock_start");
		abort();
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_create(&s->thread, NULL, thread_main, s);
}

void fake_dvsock_stop(struct fake_dvsock *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	fake_dvsock_close_client_locked(s);
	close(s->lfd);
	unlink(s->path);
	pthread_mutex_destroy(&s->mu);
}

void fake_dvsock_lock(struct fake_dvsock *s)
{
	pthread_mutex_lock(&s->mu);
}

void fake_dvsock_unlock(struct fake_dvsock *s)
{
	pthread_mutex_unlock(&s->mu);
}

void fake_dvsock_drop(struct fake_dvsock *s)
{
	pthread_mutex_lock(&s->mu);
	s->drop = true;
	pthread_mutex_unlock(&s->mu);
}

void fake_dvsock_send_raw(struct fake_dvsock *s, const char *data, size_t len)
{
	pthread_mutex_lock(&s->mu);
	write_all(s->cfd, data, len, false, 0);
	pthread_mutex_unlock(&s->mu);
}
