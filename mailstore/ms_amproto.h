#ifndef MS_AMPROTO_H
#define MS_AMPROTO_H

/*
 * The wire format of Dovecot's auth-master protocol (the userdb side), as
 * Dovecot 2.3 speaks it (src/auth/auth-master-connection.c on the server,
 * src/lib-auth/auth-master.c on the client). Pure functions, no I/O: the
 * client (ms_authmaster.c) feeds them one line at a time.
 *
 * Lines are TAB-separated and end with '\n' (not part of what is parsed
 * here). On connect the server sends "VERSION\t1\t<minor>" and
 * "SPID\t<pid>"; the client sends "VERSION\t1\t0" before its first
 * request. Requests: "USER\t<id>\t<user>\tservice=<name>". Answers:
 *   USER\t<id>\t<user>\t<key>=<value>\t...   (the userdb fields)
 *   NOTFOUND\t<id>
 *   FAIL\t<id>[\treason=<text>]
 * Values (and the user in the answer) are "tab-escaped": \001 followed by
 * '0', '1', 't', 'r' or 'n' stands for NUL, \001, TAB, CR and LF. The
 * server does NOT unescape request arguments, so a name holding a TAB, CR,
 * LF or \001 cannot be asked for at all: ms_amproto_name_ok() refuses it.
 *
 * Every line is hostile input: a line that is not exactly one of the
 * answers above (a bad escape, a NUL, CR or LF byte, a number with a sign
 * or out of range, a repeated uid or gid, an unknown command) is refused
 * with a one-line error message of bounded length.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line accepted from the server (Dovecot's own client uses
   the same bound). */
#define MS_AMPROTO_LINE_MAX 8192
/* The longest name sent in a request. Dovecot's server refuses lines over
   1024 bytes and closes the connection. */
#define MS_AMPROTO_NAME_MAX 512
/* A FAIL reason is cut to this many bytes (cleaned UTF-8, one line). */
#define MS_AMPROTO_REASON_MAX 200

#define MS_AMPROTO_MAJOR 1
#define MS_AMPROTO_MINOR 0

enum ms_amproto_type {
	MS_AMPROTO_VERSION = 1,
	MS_AMPROTO_SPID,
	MS_AMPROTO_USER,
	MS_AMPROTO_NOTFOUND,
	MS_AMPROTO_FAIL,
};

struct ms_amproto_reply {
	enum ms_amproto_type type;
	uint32_t major, minor; /* VERSION */
	uint32_t id;	       /* USER, NOTFOUND, FAIL: nonzero */
	bool has_uid, has_gid; /* USER */
	uint32_t uid, gid;     /* USER: never (uint32_t)-1 */
	/* FAIL: the reason= field, unescaped and cleaned; "" when absent. */
	char reason[MS_AMPROTO_REASON_MAX + 1];
};

/*
 * Parses one line (without its '\n'; need not be NUL-terminated). Returns
 * 0 with *r filled, or -1 with an xmalloc'ed one-line reason in *error_r
 * (it quotes at most a short cleaned excerpt of the line).
 */
int ms_amproto_parse(const char *line, size_t len, struct ms_amproto_reply *r,
		     char **error_r);

/* True when s may be sent as a user or service name: 1 to
   MS_AMPROTO_NAME_MAX bytes, no byte below 0x20 and no DEL. */
bool ms_amproto_name_ok(const char *s);

#endif
