/*
 * The fake auth-client server (see fake_authclient.h): what it answers.
 * The socket, its thread and its mutex are fake_dovecot_sock.c's; every
 * function here but the API runs on that thread with the mutex held.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Called with the mutex held. */
static void send_locked(struct fake_ac *f, const char *text)
{
	fake_dvsock_send_locked(&f->sock, text);
}

static void close_client_locked(struct fake_ac *f)
{
	fake_dvsock_close_client_locked(&f->sock);
}

/* The client connection was closed: the answers held back go with it. */
static void closed_hook(struct fake_dvsock *s)
{
	struct fake_ac *f = s->ctx;
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

static void line_hook(struct fake_dvsock *s, char *line)
{
	struct fake_ac *f = s->ctx;
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

/* Sends the FAILs that are due. */
static void tick_hook(struct fake_dvsock *s)
{
	struct fake_ac *f = s->ctx;
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

void fake_ac_start(struct fake_ac *f, const char *path)
{
	memset(&f->sock, 0, sizeof(f->sock));
	f->sock.greeting = f->greeting != NULL ? f->greeting : DEFAULT_GREETING;
	f->sock.dribble = f->dribble;
	f->sock.dribble_usecs = 300;
	f->sock.poll_msecs = 5;
	f->sock.line = line_hook;
	f->sock.tick = tick_hook;
	f->sock.closed = closed_hook;
	f->sock.ctx = f;
	memset(&f->counts, 0, sizeof(f->counts));
	memset(f->hung_once, 0, sizeof(f->hung_once));
	f->n_delayed = 0;
	fake_dvsock_start(&f->sock, path);
}

void fake_ac_stop(struct fake_ac *f)
{
	fake_dvsock_stop(&f->sock);
}

void fake_ac_get(struct fake_ac *f, struct fake_ac_counts *c)
{
	fake_dvsock_lock(&f->sock);
	*c = f->counts;
	c->conns = f->sock.conns;
	fake_dvsock_unlock(&f->sock);
}

void fake_ac_drop(struct fake_ac *f)
{
	fake_dvsock_drop(&f->sock);
}

void fake_ac_send_raw(struct fake_ac *f, const char *data, size_t len)
{
	fake_dvsock_send_raw(&f->sock, data, len);
}
