/* lib30_tidings_push_plugin.so: a native Dovecot push-notification driver
 * named "tidings" that sends one JSON datagram per mail event to tidingsd's
 * UNIX datagram socket, byte-compatible with examples/dovecot/tidings-push.lua
 * (format: examples/dovecot/EVENTS.md).
 *
 * Configuration (examples/dovecot/91-tidings-native.conf):
 *
 *   mail_plugins = $mail_plugins notify push_notification tidings_push
 *   plugin {
 *     push_notification_driver = tidings:socket=/run/tidings/events.sock
 *     # or, instead of socket=: tidings_socket = /run/tidings/events.sock
 *   }
 *
 * It runs synchronously inside the delivering LMTP (or IMAP) process, so it
 * must cost next to nothing and never delay or fail a delivery: one
 * non-blocking AF_UNIX datagram socket per process, opened on first use;
 * every send error (no listener, queue full, ...) ends the transaction's
 * batch with a debug log line and nothing else. Datagrams are only sent for
 * committed transactions: Dovecot calls process_msg from the commit path
 * only, never for a rolled-back transaction.
 */
#include "lib.h"
#include "array.h"
#include "hash.h"
#include "mail-user.h"
#include "mail-storage.h"
#include "module-context.h"

#include "push-notification-plugin.h"
#include "push-notification-drivers.h"
#include "push-notification-events.h"
#include "push-notification-event-message-common.h"
#include "push-notification-txn-msg.h"
#include "push-notification-event-flagsclear.h"
#include "push-notification-event-flagsset.h"
#include "push-notification-event-messageappend.h"
#include "push-notification-event-messagenew.h"

#include "ms_push_json.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TIDINGS_PUSH_SETTING "tidings_socket"
/* Events sent per transaction at most (the Lua script's
 * max_events_per_txn); tidingsd's IMAP reconciliation covers the rest. */
#define TIDINGS_PUSH_MAX_EVENTS_PER_TXN 10000

/* The header fields MessageNew and MessageAppend gather: those the Lua
 * driver gathers (DLUA_DEFAULT_EVENTS) minus keywords, which the datagram
 * does not carry. */
#define TIDINGS_PUSH_MESSAGE_FIELDS                                            \
	(PUSH_NOTIFICATION_MESSAGE_HDR_FROM |                                  \
	 PUSH_NOTIFICATION_MESSAGE_HDR_TO |                                    \
	 PUSH_NOTIFICATION_MESSAGE_HDR_SUBJECT |                               \
	 PUSH_NOTIFICATION_MESSAGE_HDR_DATE |                                  \
	 PUSH_NOTIFICATION_MESSAGE_BODY_SNIPPET |                              \
	 PUSH_NOTIFICATION_MESSAGE_FLAGS |                                     \
	 PUSH_NOTIFICATION_MESSAGE_HDR_MESSAGE_ID)

/* The events the driver asks for, one bit each (to send each at most once
 * per message even if another driver asked for the same event). */
enum tidings_push_kind {
	TP_MESSAGE_NEW = 0x01,
	TP_MESSAGE_APPEND = 0x02,
	TP_MESSAGE_READ = 0x04,
	TP_MESSAGE_TRASH = 0x08,
	TP_MESSAGE_EXPUNGE = 0x10,
	TP_FLAGS_SET = 0x20,
	TP_FLAGS_CLEAR = 0x40,
};

static const struct {
	const char *name;
	enum tidings_push_kind kind;
} tidings_push_events[] = {
    {"MessageNew", TP_MESSAGE_NEW},
    {"MessageAppend", TP_MESSAGE_APPEND},
    {"MessageRead", TP_MESSAGE_READ},
    {"MessageTrash", TP_MESSAGE_TRASH},
    {"MessageExpunge", TP_MESSAGE_EXPUNGE},
    {"FlagsSet", TP_FLAGS_SET},
    {"FlagsClear", TP_FLAGS_CLEAR},
};

/* Per mail user (allocated from the user's pool). The event configs live
 * here because the push-notification core keeps pointers to them for the
 * whole transaction. */
struct tidings_push_user {
	struct event *event;
	struct sockaddr_un addr;
	socklen_t addr_len;
	struct push_notification_event_messagenew_config config_mn;
	struct push_notification_event_messageappend_config config_ma;
	struct push_notification_event_flagsset_config config_fs;
	struct push_notification_event_flagsclear_config config_fc;
};

/* Per transaction (allocated from the transaction's pool). */
struct tidings_push_txn {
	unsigned int sent;
	bool stopped; /* a send failed: the rest of the batch is dropped */
};

/* The process's one sending socket, -1 until first used. Dovecot's mail
 * processes are single-threaded. */
static int tidings_push_fd = -1;

/* One datagram at a time is built here (too big for the stack). */
static char tidings_push_buf[MS_PUSH_MAX_DATAGRAM_BYTES];

const char *tidings_push_plugin_version = DOVECOT_ABI_VERSION;
const char *tidings_push_plugin_dependencies[] = {"push_notification", NULL};

void tidings_push_plugin_init(struct module *module);
void tidings_push_plugin_deinit(void);

static int tidings_push_init(struct push_notification_driver_config *config,
			     struct mail_user *user, pool_t pool,
			     void **context, const char **error_r)
{
	struct tidings_push_user *tuser;
	const char *path;
	size_t path_len;

	path = hash_table_lookup(config->config, (const char *)"socket");
	if (path == NULL || path[0] == '\0')
		path = mail_user_plugin_getenv(user, TIDINGS_PUSH_SETTING);
	if (path == NULL || path[0] == '\0') {
		*error_r = "no socket=<path> in push_notification_driver and "
			   "no " TIDINGS_PUSH_SETTING " setting";
		return -1;
	}
	tuser = p_new(pool, struct tidings_push_user, 1);
	path_len = strlen(path);
	if (path_len >= sizeof(tuser->addr.sun_path)) {
		*error_r =
		    p_strdup_printf(pool, "socket path longer than %zu bytes",
				    sizeof(tuser->addr.sun_path) - 1);
		return -1;
	}
	tuser->addr.sun_family = AF_UNIX;
	memcpy(tuser->addr.sun_path, path, path_len + 1);
	tuser->addr_len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
	tuser->config_mn.flags = TIDINGS_PUSH_MESSAGE_FIELDS;
	tuser->config_ma.flags = TIDINGS_PUSH_MESSAGE_FIELDS;
	/* As the Lua driver: FlagsSet reports \Seen and \Deleted too, and
	 * FlagsClear keeps the old flags. The datagram carries no old flags,
	 * but with store_old the core emits a FlagsClear (with no flags) for
	 * every flag change, and tidingsd must get the same events from
	 * either driver. */
	tuser->config_fs.hide_deleted = FALSE;
	tuser->config_fs.hide_seen = FALSE;
	tuser->config_fc.store_old = TRUE;

	tuser->event = event_create(user->event);
	event_add_category(tuser->event,
			   push_notification_get_event_category());
	event_set_append_log_prefix(tuser->event, "tidings: ");
	e_debug(tuser->event, "sending events to %s", path);
	*context = tuser;
	return 0;
}

static bool tidings_push_begin_txn(struct push_notification_driver_txn *dtxn)
{
	struct tidings_push_user *tuser = dtxn->duser->context;
	const struct push_notification_event *event;

	/* Ask for our events in the core's registration order, as the Lua
	 * driver does, so a message's events come in the same order. */
	array_foreach_elem(push_notification_get_events(), event)
	{
		void *config = NULL;
		size_t i;

		for (i = 0; i < N_ELEMENTS(tidings_push_events); i++) {
			if (strcmp(event->name, tidings_push_events[i].name) ==
			    0)
				break;
		}
		if (i == N_ELEMENTS(tidings_push_events))
			continue;
		switch (tidings_push_events[i].kind) {
		case TP_MESSAGE_NEW:
			config = &tuser->config_mn;
			break;
		case TP_MESSAGE_APPEND:
			config = &tuser->config_ma;
			break;
		case TP_FLAGS_SET:
			config = &tuser->config_fs;
			break;
		case TP_FLAGS_CLEAR:
			config = &tuser->config_fc;
			break;
		default:
			/* The core then uses the event's default config. */
			break;
		}
		push_notification_event_init(dtxn, event->name, config);
	}
	dtxn->context = p_new(dtxn->ptxn->pool, struct tidings_push_txn, 1);
	return TRUE;
}

static unsigned int tidings_push_flags(enum mail_flags flags)
{
	unsigned int out = 0;

	if ((flags & MAIL_ANSWERED) != 0)
		out |= MS_PUSH_FLAG_ANSWERED;
	if ((flags & MAIL_FLAGGED) != 0)
		out |= MS_PUSH_FLAG_FLAGGED;
	if ((flags & MAIL_DELETED) != 0)
		out |= MS_PUSH_FLAG_DELETED;
	if ((flags & MAIL_SEEN) != 0)
		out |= MS_PUSH_FLAG_SEEN;
	if ((flags & MAIL_DRAFT) != 0)
		out |= MS_PUSH_FLAG_DRAFT;
	if ((flags & MAIL_RECENT) != 0)
		out |= MS_PUSH_FLAG_RECENT;
	return out;
}

/* Fills ev's message fields from MessageNew/MessageAppend data; the two
 * structures differ in type only. */
#define TIDINGS_PUSH_FILL_MESSAGE(ev, data)                                    \
	do {                                                                   \
		(ev)->message_id = (data)->message_id;                         \
		(ev)->from = (data)->from;                                     \
		(ev)->from_address = (data)->ext.from_address;                 \
		(ev)->from_name = (data)->ext.from_display_name_utf8;          \
		(ev)->to = (data)->to;                                         \
		(ev)->subject = (data)->ext.subject_utf8;                      \
		(ev)->snippet = (data)->snippet;                               \
		(ev)->has_date = TRUE;                                         \
		(ev)->date = (int64_t)(data)->date;                            \
		(ev)->tz_mins = (data)->date_tz;                               \
		(ev)->has_flags = TRUE;                                        \
		(ev)->flags = tidings_push_flags((data)->flags);               \
	} while (0)

/* Opens the process's socket if needed; returns FALSE when it cannot. */
static bool tidings_push_socket(struct tidings_push_user *tuser)
{
	if (tidings_push_fd != -1)
		return TRUE;
	tidings_push_fd =
	    socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (tidings_push_fd == -1) {
		e_debug(tuser->event, "socket() failed: %m");
		return FALSE;
	}
	return TRUE;
}

static void tidings_push_send(struct tidings_push_user *tuser,
			      struct tidings_push_txn *ttxn,
			      const struct ms_push_event *ev)
{
	const char *error;
	size_t len;

	if (ms_push_encode(ev, tidings_push_buf, sizeof(tidings_push_buf), &len,
			   &error) < 0) {
		e_debug(tuser->event, "%s uid %u not sent: %s", ev->event,
			ev->uid, error);
		return;
	}
	if (!tidings_push_socket(tuser)) {
		ttxn->stopped = TRUE;
		return;
	}
	if (sendto(tidings_push_fd, tidings_push_buf, len,
		   MSG_DONTWAIT | MSG_NOSIGNAL,
		   (const struct sockaddr *)&tuser->addr,
		   tuser->addr_len) < 0) {
		/* No listener (ENOENT, ECONNREFUSED), queue full (EAGAIN,
		 * ENOBUFS), no permission: the rest would fail alike, and
		 * tidingsd recovers missed mail over IMAP. */
		e_debug(tuser->event,
			"sendto(%s) failed: %m; dropping the "
			"rest of this transaction's events",
			tuser->addr.sun_path);
		ttxn->stopped = TRUE;
		return;
	}
	ttxn->sent++;
}

static void tidings_push_process_msg(struct push_notification_driver_txn *dtxn,
				     struct push_notification_txn_msg *msg)
{
	struct tidings_push_user *tuser = dtxn->duser->context;
	struct tidings_push_txn *ttxn = dtxn->context;
	struct push_notification_txn_event *tevent;
	unsigned int done = 0;

	if (ttxn == NULL || ttxn->stopped || !array_is_created(&msg->eventdata))
		return;
	/* A new mail can come without its UID (Dovecot did not know it at
	   commit): tidingsd looks it up over IMAP. Other events need it. */
	bool no_uid = msg->uid == 0 || msg->uid_validity == 0;
	array_foreach_elem(&msg->eventdata, tevent)
	{
		struct ms_push_event ev;
		size_t i;

		if (ttxn->stopped ||
		    ttxn->sent >= TIDINGS_PUSH_MAX_EVENTS_PER_TXN)
			return;
		if (tevent->data == NULL)
			continue;
		for (i = 0; i < N_ELEMENTS(tidings_push_events); i++) {
			if (strcmp(tevent->event->event->name,
				   tidings_push_events[i].name) == 0)
				break;
		}
		if (i == N_ELEMENTS(tidings_push_events) ||
		    (done & tidings_push_events[i].kind) != 0)
			continue;
		if (no_uid &&
		    strcmp(tidings_push_events[i].name, "MessageNew") != 0 &&
		    strcmp(tidings_push_events[i].name, "MessageAppend") != 0) {
			e_debug(tuser->event, "%s: %s without UID skipped",
				msg->mailbox, tidings_push_events[i].name);
			continue;
		}
		done |= tidings_push_events[i].kind;

		i_zero(&ev);
		ev.event = tidings_push_events[i].name;
		ev.user = dtxn->ptxn->muser->username;
		ev.mailbox = msg->mailbox;
		ev.uidvalidity = msg->uid_validity;
		ev.uid = msg->uid;
		switch (tidings_push_events[i].kind) {
		case TP_MESSAGE_NEW: {
			const struct push_notification_event_messagenew_data
			    *data = tevent->data;
			TIDINGS_PUSH_FILL_MESSAGE(&ev, data);
			break;
		}
		case TP_MESSAGE_APPEND: {
			const struct push_notification_event_messageappend_data
			    *data = tevent->data;
			TIDINGS_PUSH_FILL_MESSAGE(&ev, data);
			break;
		}
		case TP_FLAGS_SET: {
			const struct push_notification_event_flagsset_data
			    *data = tevent->data;
			ev.has_flags = TRUE;
			ev.flags = tidings_push_flags(data->flags_set);
			break;
		}
		case TP_FLAGS_CLEAR: {
			const struct push_notification_event_flagsclear_data
			    *data = tevent->data;
			ev.has_flags = TRUE;
			ev.flags = tidings_push_flags(data->flags_clear);
			break;
		}
		default:
			/* MessageRead, MessageTrash, MessageExpunge: the
			 * required fields only. */
			break;
		}
		if (ev.user == NULL || ev.mailbox == NULL)
			continue;
		tidings_push_send(tuser, ttxn, &ev);
	}
}

static void tidings_push_end_txn(struct push_notification_driver_txn *dtxn,
				 bool success)
{
	struct tidings_push_user *tuser = dtxn->duser->context;
	struct tidings_push_txn *ttxn = dtxn->context;

	if (success && ttxn != NULL && ttxn->sent > 0)
		e_debug(tuser->event, "%u event(s) sent", ttxn->sent);
}

static void tidings_push_deinit(struct push_notification_driver_user *duser)
{
	struct tidings_push_user *tuser = duser->context;

	event_unref(&tuser->event);
}

static void tidings_push_close(void)
{
	if (tidings_push_fd != -1) {
		(void)close(tidings_push_fd);
		tidings_push_fd = -1;
	}
}

static const struct push_notification_driver tidings_push_driver = {
    .name = "tidings",
    .v =
	{
	    .init = tidings_push_init,
	    .begin_txn = tidings_push_begin_txn,
	    .process_msg = tidings_push_process_msg,
	    .end_txn = tidings_push_end_txn,
	    .deinit = tidings_push_deinit,
	    /* The socket outlives users: it is closed in
	     * tidings_push_plugin_deinit, not in .cleanup
	     * (which Dovecot calls after every user). */
	},
};

void tidings_push_plugin_init(struct module *module ATTR_UNUSED)
{
	push_notification_driver_register(&tidings_push_driver);
}

void tidings_push_plugin_deinit(void)
{
	push_notification_driver_unregister(&tidings_push_driver);
	tidings_push_close();
}
