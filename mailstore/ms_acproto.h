#ifndef MS_ACPROTO_H
#define MS_ACPROTO_H

/*
 * The wire format of Dovecot's auth-client protocol (password checks), as
 * Dovecot 2.3 speaks it: src/auth/auth-client-connection.c and
 * auth-request-handler.c on the server, src/lib-auth/auth-client-*.c on
 * the client. Pure functions, no I/O: ms_authclient.c feeds them one line
 * at a time.
 *
 * Lines are TAB-separated and end with '\n'. Right after connect, without
 * waiting for the client, the server sends
 *   VERSION\t1\t2, one MECH\t<name>[\t<flag>...] per mechanism,
 *   SPID\t<pid>, CUID\t<n>, COOKIE\t<hex>, DONE
 * The client sends VERSION\t1\t2 and CPID\t<pid> before anything else
 * (a plain auth-client socket ignores the pid), then requests:
 *   AUTH\t<id>\tPLAIN\tservice=<s>\tno-penalty\tresp=<base64(\0user\0pass)>
 * resp must come last. Answers, matched by id (they may overtake each
 * other: a FAIL is held back auth_failure_delay, 2 s by default):
 *   OK\t<id>\tuser=<user>[\t<field>...]
 *   FAIL\t<id>[\tuser=<user>][\tcode=<code>][\treason=<text>][...]
 *   CONT\t<id>\t<base64 challenge>
 * PLAIN with an initial response never continues: a CONT means Dovecot did
 * not take the response (2.3 sends "CONT\t<id>\t" when resp= is missing).
 * An unknown mechanism or a repeated id makes the server close the
 * connection. Values are "tab-escaped" both ways: \001 followed by '0',
 * '1', 't', 'r' or 'n' stands for NUL, \001, TAB, CR and LF.
 *
 * Why no-penalty: Dovecot's brute-force penalty is kept per remote IP, and
 * a request without rip= is counted under one empty IP shared by every
 * such client. Seen on 2.3.19: after four wrong passwords for one user,
 * the RIGHT password of any user waited 15 s and a wrong one 17 s. The
 * helper knows no client IP (ejabberd does not pass it), so it asks for no
 * penalty; auth_failure_delay still holds every FAIL back, and ejabberd
 * blocks clients that fail too often by their IP (mod_fail2ban).
 *
 * No "secured" flag either: in 2.3 the auth server only passes it on to
 * %{secured} in passdb settings and to the auth policy (plaintext logins
 * are refused by the login processes, not here), and the helper cannot
 * know whether the client's connection to ejabberd was encrypted.
 *
 * Every line is hostile input: a line that is not exactly one of the lines
 * above (a bad escape, a NUL, CR or LF byte, a number with a sign or out
 * of range, a repeated user=, an unknown command) is refused with a
 * one-line error of bounded length.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line either side takes (AUTH_CLIENT_MAX_LINE_LENGTH). */
#define MS_ACPROTO_LINE_MAX 16384
/* The longest user name sent or kept from an answer. */
#define MS_ACPROTO_NAME_MAX 512
/* A FAIL reason is cut to this many bytes (cleaned UTF-8, one line). */
#define MS_ACPROTO_REASON_MAX 200
#define MS_ACPROTO_CODE_MAX   40

#define MS_ACPROTO_MAJOR 1
#define MS_ACPROTO_MINOR 2

enum ms_acproto_type {
	MS_ACPROTO_VERSION = 1,
	MS_ACPROTO_MECH,
	MS_ACPROTO_SPID,
	MS_ACPROTO_CUID,
	MS_ACPROTO_COOKIE,
	MS_ACPROTO_DONE,
	MS_ACPROTO_OK,
	MS_ACPROTO_FAIL,
	MS_ACPROTO_CONT,
};

struct ms_acproto_reply {
	enum ms_acproto_type type;
	uint32_t major, minor; /* VERSION */
	bool plain;	       /* MECH: the mechanism is PLAIN */
	uint32_t id;	       /* OK, FAIL, CONT: nonzero */
	/* OK, FAIL: the user= field, unescaped. A name longer than
	   MS_ACPROTO_NAME_MAX is not kept (user_too_long). */
	bool has_user, user_too_long;
	char user[MS_ACPROTO_NAME_MAX + 1];
	/* OK: fields that make it something else than "this user, this
	   password, may log in": nologin, proxy or proxy_maybe (the
	   password may not have been checked here), auth_user or master (a
	   master user logged in as someone else). */
	bool nologin, proxy, master;
	/* FAIL: a temporary failure (code=temp_fail, or the temp flag). */
	bool temp;
	char code[MS_ACPROTO_CODE_MAX + 1];	/* FAIL: code=, cleaned */
	char reason[MS_ACPROTO_REASON_MAX + 1]; /* FAIL: reason=, cleaned */
};

/*
 * Parses one line (without its '\n'; need not be NUL-terminated). Returns
 * 0 with *r filled, or -1 with an xmalloc'ed one-line reason in *error_r
 * (it quotes at most a short cleaned excerpt of the line).
 */
int ms_acproto_parse(const char *line, size_t len, struct ms_acproto_reply *r,
		     char **error_r);

/* True when s may be sent as a user name: 1 to MS_ACPROTO_NAME_MAX
   bytes, no byte below 0x20 and no DEL. */
bool ms_acproto_user_ok(const char *s);
/* True when s may be sent as a service name: 1 to 32 bytes of ASCII
   letters, digits, '-', '_' and '.'. */
bool ms_acproto_service_ok(const char *s);

/*
 * The AUTH line (with its '\n') asking whether password (password_len
 * bytes, no NUL) is user's, as one allocation of exactly *len_r + 1 bytes
 * (NUL-terminated) built without intermediate copies that outlive the
 * call: the caller must explicit_bzero() and free it. Returns 0, or -1
 * (nothing allocated) when user or service is not acceptable, the password
 * holds a NUL, or the line would exceed MS_ACPROTO_LINE_MAX.
 */
int ms_acproto_auth_line(uint32_t id, const char *service, const char *user,
			 const char *password, size_t password_len,
			 char **line_r, size_t *len_r);

/* The client's handshake: "VERSION\t1\t2\nCPID\t<pid>\n" (xmalloc'ed). */
char *ms_acproto_handshake(unsigned long pid);

#endif
