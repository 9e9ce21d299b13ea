#ifndef XM_PRESENCE_H
#define XM_PRESENCE_H

/*
 * The presence of one bare JID: its available resources, each with its
 * show and priority, fed with the presence stanzas the server forwards
 * (XEP-0356 presence permission: from the user's full JID, available and
 * unavailable), and the aggregate the bridge acts on.
 *
 * The aggregate follows delivery (RFC 6121 8.5.2.1.1): a message to the
 * bare JID reaches the user only through a resource with a non-negative
 * priority; with none the server stores it offline. So the user counts as
 * online when at least one resource with priority >= 0 is available, and
 * the aggregate show is the most available show among those resources, in
 * the order dnd < xa < away < (none) < chat. Resources with a negative
 * priority are tracked (their later unavailable must match) but count for
 * nothing.
 *
 * Updates:
 * - available (no type): the resource is added or updated (show from
 *   <show/>, anything unknown or absent means none; priority from
 *   <priority/>, -128..127, anything else means 0). With
 *   XM_PRESENCE_RESOURCES_MAX resources known already, the one updated
 *   least recently is forgotten to make room.
 * - unavailable: that resource is forgotten; from the bare JID (no
 *   resource), all of them.
 * - error: the same as unavailable (the server could not reach it).
 * - any other type (subscribe, probe, ...): ignored.
 * A presence from a bare JID without resource counts as the resource "".
 * The caller checks that the stanza's 'from' belongs to this bare JID.
 *
 * Plain data embedded in its owner's object: xm_presence_init() before use,
 * xm_presence_clear() to free. Any thread, one at a time. Aborts only on
 * out-of-memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#define XM_PRESENCE_RESOURCES_MAX 16

/* In order of availability: a larger value is more available. */
enum xm_show {
	XM_SHOW_OFFLINE = 0,
	XM_SHOW_DND,
	XM_SHOW_XA,
	XM_SHOW_AWAY,
	XM_SHOW_AVAILABLE, /* available without <show/> */
	XM_SHOW_CHAT,
};

/* Bits of *changes_r. */
enum xm_presence_change {
	/* Online now, offline before the update. */
	XM_PRESENCE_CAME_ONLINE = 1 << 0,
	/* Offline now, online before. */
	XM_PRESENCE_WENT_OFFLINE = 1 << 1,
	/* Online before and after, with another aggregate show. */
	XM_PRESENCE_SHOW_CHANGED = 1 << 2,
};

struct xm_presence_resource {
	char *name; /* "" for a bare JID */
	enum xm_show show;
	int priority;
	uint64_t seq; /* update order, for eviction */
};

struct xm_presence {
	struct xm_presence_resource res[XM_PRESENCE_RESOURCES_MAX];
	size_t n_res;
	uint64_t seq;
};

void xm_presence_init(struct xm_presence *p);
/* Forgets every resource and frees their names (p stays usable). */
void xm_presence_clear(struct xm_presence *p);
/*
 * Applies one <presence/> stanza (see above). *changes_r gets a mask of
 * enum xm_presence_change (0 when nothing the aggregate shows changed).
 * Returns 0, or -1 when the stanza is not a presence or its 'from' is not
 * a valid JID (nothing changed).
 */
int xm_presence_update(struct xm_presence *p, xmpp_stanza_t *presence,
		       unsigned *changes_r);
/* The aggregate show; XM_SHOW_OFFLINE when not online. */
enum xm_show xm_presence_show(const struct xm_presence *p);
bool xm_presence_online(const struct xm_presence *p);
/* Resources known (any priority). */
size_t xm_presence_resource_count(const struct xm_presence *p);

/* "offline", "dnd", "xa", "away", "available", "chat" (static). */
const char *xm_show_str(enum xm_show show);

#endif
