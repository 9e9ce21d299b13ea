/*
 * tidingsctl: asks the running tidingsd over its control socket
 * ([control] socket in the same configuration file; protocol in
 * br_control_proto.h).
 *
 *   tidingsctl [-c FILE | -s SOCKET] [--json] [-t SECS] COMMAND [ARG]
 *
 * Exit codes: 0 ok; 1 the answer is bad news ("ok":false, or status with
 * the XMPP link down); 2 usage; 3 tidingsd cannot be reached (config
 * unreadable, no socket, connection refused, no answer in time).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "br_control_proto.h"
#include "br_ini.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define DEFAULT_CONFIG	 "/etc/tidings/tidings.conf"
#define REPLY_MAX	 (1024 * 1024)
#define EXIT_BAD_NEWS	 1
#define EXIT_USAGE	 2
#define EXIT_UNREACHABLE 3

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tidingsctl [-c FILE | -s SOCKET] [--json] [-t SECS] "
		"COMMAND [ARG]\n"
		"commands:\n"
		"  status      the daemon, the XMPP link, events, IMAP, users\n"
		"  user JID    a user's presence, settings, pending and last "
		"notifications\n"
		"  resync JID  reconcile the user's mailboxes over IMAP now\n"
		"  test JID    send the user a test notification\n"
		"  reload      re-read the configuration (as SIGHUP)\n"
		"options:\n"
		"  -c FILE     configuration file (default " DEFAULT_CONFIG
		")\n"
		"  -s SOCKET   the control socket (default: [control] socket "
		"of FILE)\n"
		"  -j, --json  print tidingsd's JSON answer\n"
		"  -t SECS     wait at most SECS to connect and for the answer "
		"(default 10)\n"
		"  -h          this help\n"
		"  -V          version\n"
		"exit: 0 ok, 1 bad news (an error, or the XMPP link down), "
		"2 usage, 3 tidingsd unreachable\n");
}

/* ---- printing text that came from the daemon ---- */

/* Prints s with control characters (C0, DEL, C1), bidi and invisible
   characters and invalid UTF-8 as \xNN: nothing from a mail or a log line
   can drive or fool the terminal. */
static void fput_safe(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\x%02X", *p++);
			continue;
		}
		if (*p < 0x80) {
			fputc(*p++, f);
			continue;
		}
		size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
		size_t have = 0;
		while (have < n && p[have] != '\0')
			have++;
		bool ok = n > 0 && have == n;
		if (ok) {
			char tmp[4];
			memcpy(tmp, p, n);
			ok = ut_utf8_valid(tmp, n);
		}
		/* U+0080..U+009F: C1 controls (0xC2 0x80..0x9F). */
		if (ok && n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
			ok = false;
		/* Invisible and bidi controls (U+200B..U+200F,
		   U+2028..U+202E, U+2066..U+2069): they could hide or
		   reverse what is printed next to them. */
		if (ok && n == 3 && p[0] == 0xe2 &&
		    ((p[1] == 0x80 && ((p[2] >= 0x8b && p[2] <= 0x8f) ||
				       (p[2] >= 0xa8 && p[2] <= 0xae))) ||
		     (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
			ok = false;
		if (!ok) {
			fprintf(f, "\\x%02X", *p++);
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
}

static void put_safe(const char *s)
{
	fput_safe(stdout, s);
}

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s != NULL ? s : "?";
}

static long long num(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static void put_time(json_t *v)
{
	const char *iso = json_string_value(v);
	struct tm tm;
	char buf[64];
	memset(&tm, 0, sizeof(tm));
	if (iso == NULL) {
		printf("never");
	} else if (strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL &&
		   strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm)) {
		printf("%s", buf);
	} else {
		put_safe(iso);
	}
}

static void put_duration(long long secs)
{
	if (secs < 3600)
		printf("%lldm %02llds", secs / 60, secs % 60);
	else if (secs < 86400)
		printf("%lldh %02lldm", secs / 3600, secs / 60 % 60);
	else
		printf("%lldd %02lldh", secs / 86400, secs / 3600 % 24);
}

static void put_bytes(long long n)
{
	if (n < 1000)
		printf("%lld bytes", n);
	else if (n < 1000 * 1000)
		printf("%.1f kB", (double)n / 1e3);
	else if (n < 1000LL * 1000 * 1000)
		printf("%.1f MB", (double)n / 1e6);
	else
		printf("%.1f GB", (double)n / 1e9);
}

static void print_status(json_t *o)
{
	json_t *x = json_object_get(o, "xmpp"),
	       *e = json_object_get(o, "events");
	json_t *i = json_object_get(o, "imap"),
	       *u = json_object_get(o, "users");
	json_t *n = json_object_get(o, "notifications");
	json_t *m = json_object_get(o, "mail_from_chat");
	json_t *err = json_object_get(o, "last_error");

	printf("tidingsd ");
	put_safe(str(o, "version"));
	printf(", up ");
	put_duration(num(o, "uptime"));
	if (json_is_true(json_object_get(x, "up"))) {
		printf("\nXMPP: up since ");
		put_time(json_object_get(x, "up_since"));
		printf(" (%lld connects)", num(x, "connects"));
	} else {
		printf("\nXMPP: DOWN (%lld connects, %lld disconnects)",
		       num(x, "connects"), num(x, "disconnects"));
	}
	printf(", outbox %lld\n", num(x, "outbox"));
	json_t *rate = json_object_get(e, "per_sec");
	printf("events: %.1f/s, %lld accepted, %lld dropped, %lld refused\n",
	       json_is_number(rate) ? json_number_value(rate) : 0.0,
	       num(e, "accepted"), num(e, "dropped"), num(e, "refused"));
	printf("IMAP: %lld busy, %lld queued, %lld failures\n", num(i, "busy"),
	       num(i, "queued"), num(i, "failures"));
	printf("users: %lld in memory, %lld tracked, %lld online\n",
	       num(u, "in_memory"), num(u, "tracked"), num(u, "online"));
	printf("notifications: %lld single, %lld digests, %lld summaries\n",
	       num(n, "single"), num(n, "digest"), num(n, "summary"));
	printf("ledger: ");
	put_bytes(num(json_object_get(o, "ledger"), "bytes"));
	if (json_is_object(m))
		printf("\nmail from chat: %lld sent, %lld failed\n",
		       num(m, "sent"), num(m, "failed"));
	else
		printf("\nmail from chat: off\n");
	printf("last error: ");
	if (json_is_object(err)) {
		put_time(json_object_get(err, "at"));
		printf(": ");
		put_safe(str(err, "text"));
	} else {
		printf("none");
	}
	printf("\n");
}

static void print_user(json_t *o)
{
	json_t *p = json_object_get(o, "pending");
	json_t *set = json_object_get(o, "settings");
	json_t *last = json_object_get(o, "last_notified");
	const char *key;
	json_t *v;
	size_t idx;

	put_safe(str(o, "jid"));
	printf(" (mailbox ");
	put_safe(str(o, "user"));
	printf(")\npresence: ");
	put_safe(str(o, "presence"));
	printf("\nsettings:\n");
	json_object_foreach(set, key, v)
	{
		printf("  ");
		put_safe(key);
		printf(" = ");
		put_safe(str(v, "value"));
		if (json_is_true(json_object_get(v, "default")))
			printf(" (default)");
		printf("\n");
	}
	printf("pending: %lld held for a digest%s%s%s, %lld "
	       "reconciliations\n",
	       num(p, "held"),
	       json_is_true(json_object_get(p, "digest_due")) ? " (digest due)"
							      : "",
	       json_is_true(json_object_get(p, "summary_due"))
		   ? ", a summary due"
		   : "",
	       json_is_true(json_object_get(p, "resync_queued"))
		   ? ", resync queued"
		   : "",
	       num(p, "reconciliations"));
	printf("last notified mails:%s\n",
	       json_array_size(last) == 0 ? " none" : "");
	json_array_foreach(last, idx, v)
	{
		printf("  ");
		put_time(json_object_get(v, "at"));
		printf("  ");
		put_safe(str(v, "mailbox"));
		printf(" uid %lld\n", num(v, "uid"));
	}
}

/* Prints the answer; returns the exit code. */
static int print_reply(json_t *o, const char *cmd, const char *arg,
		       bool as_json)
{
	bool ok = json_is_true(json_object_get(o, "ok"));
	bool status = strcmp(cmd, "status") == 0;
	bool up =
	    json_is_true(json_object_get(json_object_get(o, "xmpp"), "up"));

	if (as_json) {
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
					    JSON_ENSURE_ASCII);
		if (s != NULL)
			puts(s);
		free(s);
	} else if (!ok) {
		fputs("tidingsctl: ", stderr);
		fput_safe(stderr, str(o, "error"));
		fputs("\n", stderr);
	} else if (status) {
		print_status(o);
	} else if (strcmp(cmd, "user") == 0) {
		print_user(o);
	} else if (strcmp(cmd, "resync") == 0) {
		printf("resync of ");
		put_safe(arg);
		long long n = num(o, "mailboxes");
		printf(" queued (%lld mailbox%s)\n", n, n == 1 ? "" : "es");
	} else if (strcmp(cmd, "test") == 0) {
		printf("test notification sent to ");
		put_safe(str(o, "jid"));
		printf(" (id ");
		put_safe(str(o, "id"));
		printf(")\n");
	} else {
		const char *summary =
		    json_string_value(json_object_get(o, "summary"));
		put_safe(summary != NULL ? summary : "done");
		printf("\n");
	}
	if (!ok || (status && !up))
		return EXIT_BAD_NEWS;
	return 0;
}

/* ---- talking to tidingsd ---- */

#define CONFIG_MAX_BYTES (1024 * 1024)

/* The line's text between its leading and trailing blanks. */
static void trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' ||
			  (*p)[*n - 1] == '\r'))
		(*n)--;
}

/*
 * [control] socket of the INI text (the last one set; xmalloc'ed), or
 * NULL. Lenient on purpose: only that key counts, and a line tidingsd
 * would refuse elsewhere (a config the running tidingsd refused at
 * reload) must not keep the admin from asking it.
 */
static char *scan_control_socket(const char *text, size_t len)
{
	bool in_control = false;
	char *found = NULL;

	for (size_t at = 0; at < len;) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - at;
		at += n + (nl != NULL);
		trim(&line, &n);
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			const char *sec = line + 1;
			size_t sn = n > 1 && line[n - 1] == ']' ? n - 2 : 0;
			trim(&sec, &sn);
			in_control = sn == 7 && memcmp(sec, "control", 7) == 0;
			continue;
		}
		const char *eq = memchr(line, '=', n);
		if (!in_control || eq == NULL)
			continue;
		const char *key = line, *val = eq + 1;
		size_t kn = (size_t)(eq - line), vn = n - kn - 1;
		trim(&key, &kn);
		trim(&val, &vn);
		if (kn != 6 || memcmp(key, "socket", 6) != 0 || vn == 0)
			continue;
		if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
			val++;
			vn -= 2;
		}
		free(found);
		found = xstrndup(val, vn);
	}
	return found;
}

/* Finds [control] socket in the configuration (xmalloc'ed), or exits 3. */
static char *socket_path(const char *config)
{
	char *error = NULL, *text = NULL;
	size_t len = 0;
	struct stat st;

	int fd = open(config, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		fprintf(stderr, "tidingsctl: cannot read %s: %s", config,
			strerror(err));
		if (err == EACCES) {
			struct group *gr =
			    stat(config, &st) == 0 ? getgrgid(st.st_gid) : NULL;
			fprintf(stderr,
				": permission denied: run as root or as a "
				"member of group %s",
				gr != NULL ? gr->gr_name : "tidings");
		}
		fprintf(stderr, "\n");
		exit(EXIT_UNREACHABLE);
	}
	close(fd);
	if (br_ini_read_file(config, CONFIG_MAX_BYTES, &text, &len, &st,
			     &error) < 0) {
		fprintf(stderr, "tidingsctl: %s\n", error);
		free(error);
		exit(EXIT_UNREACHABLE);
	}
	char *path = scan_control_socket(text, len);
	explicit_bzero(text, len); /* it holds secrets */
	free(text);
	if (path == NULL) {
		fprintf(stderr,
			"tidingsctl: no [control] socket in %s: tidingsd has "
			"no control socket\n",
			config);
		exit(EXIT_UNREACHABLE);
	}
	return path;
}

static int64_t now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* connect() that gives up at deadline (a listener whose backlog is full
   would make it wait for ever); -1 with errno (ETIMEDOUT). */
static int connect_by(int fd, const struct sockaddr_un *sun, int64_t deadline)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0) {
		if (errno != EAGAIN && errno != EINPROGRESS)
			return -1;
		for (;;) {
			int64_t left = deadline - now_msecs();
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int ret = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			if (ret < 0 && errno == EINTR)
				continue;
			if (ret < 0)
				return -1;
			if (ret == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			break;
		}
		int err = 0;
		socklen_t elen = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -1;
		if (err != 0) {
			errno = err;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, flags);
}

/* Sends request (with its LF) and reads one reply line (xmalloc'ed,
   without LF); exits 3 when that fails. */
static char *ask(const char *path, const char *request, int timeout_secs)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tidingsctl: %s: path too long for a socket\n",
			path);
		exit(EXIT_UNREACHABLE);
	}
	memcpy(sun.sun_path, path, strlen(path));

	int64_t deadline = now_msecs() + (int64_t)timeout_secs * 1000;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect_by(fd, &sun, deadline) < 0) {
		int err = errno;
		fprintf(stderr, "tidingsctl: cannot connect to %s: %s%s\n",
			path, strerror(err),
			err == ENOENT || err == ECONNREFUSED
			    ? " (is tidingsd running?)"
			: err == EACCES ? " (run as root or as a member of the "
					  "socket's group)"
					: "");
		exit(EXIT_UNREACHABLE);
	}
	size_t len = strlen(request), off = 0;
	while (off < len) {
		ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break; /* the reply may say why (forbidden) */
		off += (size_t)n;
	}

	char *buf = xmalloc(REPLY_MAX + 1);
	size_t have = 0;
	for (;;) {
		char *lf = memchr(buf, '\n', have);
		if (lf != NULL) {
			*lf = '\0';
			close(fd);
			return buf;
		}
		int64_t left = deadline - now_msecs();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int ret = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret == 0) {
			fprintf(stderr,
				"tidingsctl: no answer from tidingsd within "
				"%d s\n",
				timeout_secs);
			exit(EXIT_UNREACHABLE);
		}
		ssize_t n = ret < 0 || have == REPLY_MAX
				? -1
				: recv(fd, buf + have, REPLY_MAX - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr,
				"tidingsctl: tidingsd closed the connection "
				"without an answer%s%s\n",
				n < 0 ? ": " : "",
				n < 0 ? strerror(errno) : "");
			exit(EXIT_UNREACHABLE);
		}
		have += (size_t)n;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG, *socket_opt = NULL;
	bool as_json = false;
	int timeout_secs = 10, opt;

	while ((opt = getopt_long(argc, argv, "c:js:t:hV", longopts, NULL)) !=
	       -1) {
		char *end = NULL;
		long v;
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 's':
			socket_opt = optarg;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < 1 || v > 3600) {
				fprintf(stderr, "tidingsctl: -t: seconds "
						"from 1 to 3600\n");
				return EXIT_USAGE;
			}
			timeout_secs = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tidingsctl 0.1.0\n");
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	int left = argc - optind;
	const char *cmd = left > 0 ? argv[optind] : NULL;
	const char *arg = left > 1 ? argv[optind + 1] : NULL;
	bool takes_arg = cmd != NULL && (strcmp(cmd, "user") == 0 ||
					 strcmp(cmd, "resync") == 0 ||
					 strcmp(cmd, "test") == 0);
	bool plain = cmd != NULL &&
		     (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0);
	if (!(takes_arg && left == 2) && !(plain && left == 1)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (arg != NULL && (arg[0] == '\0' || strpbrk(arg, " \t\r\n") != NULL ||
			    strlen(arg) > BR_CONTROL_LINE_MAX - 16)) {
		fprintf(stderr, "tidingsctl: %s: give one JID\n", cmd);
		return EXIT_USAGE;
	}

	char *path =
	    socket_opt != NULL ? xstrdup(socket_opt) : socket_path(config);
	char *request = xasprintf("%s%s%s\n", cmd, arg != NULL ? " " : "",
				  arg != NULL ? arg : "");
	char *line = ask(path, request, timeout_secs);
	free(request);
	free(path);

	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);
	free(line);
	if (!json_is_object(o)) {
		fprintf(stderr, "tidingsctl: tidingsd's answer is not a JSON "
				"object\n");
		json_decref(o);
		return EXIT_UNREACHABLE;
	}
	int rc = print_reply(o, cmd, arg, as_json);
	json_decref(o);
	return rc;
}
