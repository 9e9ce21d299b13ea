/*
 * The fake auth-client server (see fake_authclient.h). Runs in its own
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
#include <time.h>
#include <unistd.h>

#include "fake_authclient.h"

#define DEFAULT_GREETING                                                       \
	"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"      \
	"SPID\t4242\nCUID\t1\nCOOKIE\t3c07a52501328aca3365503a594fe1ee\n"      \
	"DONE\n"

static double mono_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

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
			usleep(300);
	}
}

/* Called with the mutex held. */
static void send_locked(struct fake_ac *f, const char *text)
{
	write_all(f->cfd, text, strlen(text), f->dribble);
}

static void close_client_locked(struct fake_ac *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = -1;
	f->inlen = 0;
	f->n_delayed = 0;
}

static int b64val(char c)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(tab, c) : NULL;
	return p != NULL ? (int)(p - tab) : -1;
}

/* Decodes base64 into out (cap bytes); -1 when it is not base64. */
static long b64decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	unsigned v = 0;
	int bits = 0;
	for (; *s != '\0' && *s != '='; s++) {
		int x = b64val(*s);
		if (x < 0)
			return -1;
		v = v << 6 | (unsigned)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return (long)n;
}

static void answer(struct fake_ac *f, unsigned id, const char *name,
		   const char *password, size_t pwlen)
{
	const struct fake_ac_user *u = NULL;
	char line[40000];
	size_t i;
	int k;

	for (i = 0; i < f->n_users; i++) {
		if (strcmp(f->users[i].name, name) == 0) {
			u = &f->users[i];
			break;
		}
	}
	enum fake_ac_kind kind = u != NULL ? u->kind : FAKE_AC_CHECK;
	if (kind == FAKE_AC_HANGUP_ONCE) {
		if (i < 64 && !f->hung_once[i]) {
			f->hung_once[i] = true;
			close_client_locked(f);
			return;
		}
		kind = FAKE_AC_CHECK;
	}
	switch (kind) {
	case FAKE_AC_CHECK:
	case FAKE_AC_HANGUP_ONCE:
		if (u != NULL && strlen(u->password) == pwlen &&
		    memcmp(u->password, password, pwlen) == 0) {
			snprintf(line, sizeof(line), "OK\t%u\tuser=%s\n", id,
				 name);
			send_locked(f, line);
		} else if (f->n_delayed < FAKE_AC_MAX_DELAYED) {
			k = f->n_delayed++;
			f->delayed[k].due_msecs =
			    mono_msecs() + f->fail_delay_msecs;
			snprintf(f->delayed[k].line, sizeof(f->delayed[k].line),
				 "FAIL\t%u\tuser=%s\n", id, name);
		}
		break;
	case FAKE_AC_SILENT:
		break;
	case FAKE_AC_OTHER_USER:
		snprintf(line, sizeof(line), "OK\t%u\tuser=someone@else\n", id);
		send_locked(f, line);
		break;
	case FAKE_AC_UPPER:
		snprintf(line, sizeof(line), "OK\t%u\tuser=", id);
		for (size_t j = 0; name[j] != '\0'; j++) {
			char c = name[j];
			char s[2] = {c >= 'a' && c <= 'z' ? (char)(c - 32) : c,
				     0};
			strcat(line, s);
		}
		strcat(line, "\n");
		send_locked(f, line);
		break;
	case FAKE_AC_NOLOGIN:
		snprintf(line, sizeof(line), "OK\t%u\tuser=%s\tnologin\n", id,
			 name);
		send_locked(f, line);
		break;
	case FAKE_AC_PROXY:
		snprintf(line, sizeof(line),
			 "OK\t%u\tuser=%s\tproxy\thost=10.0.0.1\tpass=x\n", id,
			 name);
		send_locked(f, line);
		break;
	case FAKE_AC_MASTER:
		snprintf(line, sizeof(line),
			 "OK\t%u\tuser=%s\tauth_user=master\n", id, name);
		send_locked(f, line);
		break;
	case FAKE_AC_NO_USER:
		snprintf(line, sizeof(line), "OK\t%u\n", id);
		send_locked(f, line);
		break;
	case FAKE_AC_TEMP:
		snprintf(line, sizeof(line),
			 "FAIL\t%u\tcode=temp_fail\treason=backend down\n", id);
		send_locked(f, line);
		break;
	case FAKE_AC_REASON:
		snprintf(line, sizeof(line),
			 "FAIL\t%u\tuser=%s\treason=Account\001tlocked\n", id,
			 name);
		send_locked(f, line);
		break;
	case FAKE_AC_GARBAGE:
		send_locked(f, "OK\tnot-a-number\n");
		break;
	case FAKE_AC_CONT:
		snprintf(line, sizeof(line), "CONT\t%u\t\n", id);
		send_locked(f, line);
		break;
	case FAKE_AC_WRONG_ID:
		snprintf(line, sizeof(line), "OK\t%u\tuser=%s\n", id + 1000,
			 name);
		send_locked(f, line);
		break;
	case FAKE_AC_HANGUP:
		close_client_locked(f);
		break;
	case FAKE_AC_LONG_LINE:
		k = snprintf(line, sizeof(line), "FAIL\t%u\treason=", id);
		memset(line + k, 'x', 17000);
		line[k + 17000] = '\n';
		line[k + 17001] = '\0';
		send_locked(f, line);
		break;
	}
}

static void handle_auth(struct fake_ac *f, char *args)
{
	unsigned id;
	char service[64];
	int off = 0;
	static unsigned char raw[30000];

	if (sscanf(args, "%u\tPLAIN\tservice=%63[^\t]\tno-penalty\tresp=%n",
		   &id, service, &off) != 2 ||
	    off == 0) {
		f->counts.bad_lines++;
		return;
	}
	long n = b64decode(args + off, raw, sizeof(raw));
	unsigned char *nul1 =
	    n > 0 ? memchr(raw + 1, '\0', (size_t)n - 1) : NULL;
	if (n < 2 || raw[0] != '\0' || nul1 == NULL) {
		f->counts.bad_lines++;
		return;
	}
	f->counts.auths++;
	snprintf(f->counts.last_service, sizeof(f->counts.last_service), "%s",
		 service);
	size_t ulen = (size_t)(nul1 - raw - 1);
	size_t pwlen = (size_t)n - 2 - ulen;
	if (ulen >= sizeof(f->counts.last_user) ||
	    pwlen >= sizeof(f->counts.last_password)) {
		f->counts.bad_lines++;
		return;
	}
	memcpy(f->counts.last_user, raw + 1, ulen);
	f->counts.last_user[ulen] = '\0';
	memcpy(f->counts.last_password, nul1 + 1, pwlen);
	f->counts.last_password[pwlen] = '\0';
	f->counts.last_password_len = pwlen;
	answer(f, id, f->counts.last_user, f->counts.last_password, pwlen);
}

static void handle_line(struct fake_ac *f, char *line)
{
	unsigned pid;
	if (strcmp(line, "VERSION\t1\t2") == 0) {
		f->counts.version_lines++;
		return;
	}
	if (sscanf(line, "CPID\t%u", &pid) == 1 && pid != 0) {
		f->counts.cpid_lines++;
		return;
	}
	if (strncmp(line, "AUTH\t", 5) == 0) {
		handle_auth(f, line + 5);
		return;
	}
	f->counts.bad_lines++;
}

static void read_client_locked(struct fake_ac *f)
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

static void send_due_locked(struct fake_ac *f)
{
	double now = mono_msecs();
	int k = 0;
	while (k < f->n_delayed) {
		if (f->delayed[k].due_msecs > now) {
			k++;
			continue;
		}
		send_locked(f, f->delayed[k].line);
		f->delayed[k] = f->delayed[--f->n_delayed];
	}
}

static void *thread_main(void *arg)
{
	struct fake_ac *f = arg;

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
		send_due_locked(f);
		p[1].fd = f->cfd;
		pthread_mutex_unlock(&f->mu);

		if (poll(p, 2, 5) <= 0)
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

void fake_ac_start(struct fake_ac *f, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	f->cfd = -1;
	f->stop = f->drop = false;
	memset(&f->counts, 0, sizeof(f->counts));
	memset(f->hung_once, 0, sizeof(f->hung_once));
	f->inlen = 0;
	f->n_delayed = 0;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(f->lfd, 16) < 0) {
		perror("fake_ac_start");
		abort();
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_create(&f->thread, NULL, thread_main, f);
}

void fake_ac_stop(struct fake_ac *f)
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

void fake_ac_get(struct fake_ac *f, struct fake_ac_counts *c)
{
	pthread_mutex_lock(&f->mu);
	*c = f->counts;
	pthread_mutex_unlock(&f->mu);
}

void fake_ac_drop(struct fake_ac *f)
{
	pthread_mutex_lock(&f->mu);
	f->drop = true;
	pthread_mutex_unlock(&f->mu);
}

void fake_ac_send_raw(struct fake_ac *f, const char *data, size_t len)
{
	pthread_mutex_lock(&f->mu);
	write_all(f->cfd, data, len, false);
	pthread_mutex_unlock(&f->mu);
}
