/*
 * Local users' presence, XEP-0356 advertisements and settling after a
 * connect (see br_online.h).
 */
#include <stdlib.h>
#include <string.h>

#include "br_jidmap.h"
#include "br_online.h"
#include "ut_hash.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_presence.h"
#include "xm_privilege.h"
#include "xm_stanza.h"

#define SETTLE_MSECS	       1000
#define NO_ADVERTISEMENT_MSECS 3000
#define STARTUP_MSECS	       10000
#define RATELOG_MSECS	       60000

struct domain {
	const char *name; /* cfg's */
	bool advertised;  /* on this connection */
	bool presence;	  /* presence permission on this connection */
	bool message;	  /* message permission "outgoing", the same */
	enum xm_privilege_version version; /* of the advertisement */
	bool complete;	   /* ... and the server says who is online at once */
	bool had_complete; /* complete on the previous connection */
	char *logged;	   /* the grants last logged, NULL: none */
	bool warned_none;  /* "no advertisement" logged */
};

/* A user whose presence came. Without resources (offline) it is kept only
   in domains that are not complete: there, that is knowledge the server
   will not give again. */
struct tracked {
	char *key, *bare;
	struct xm_presence pres;
	unsigned epoch; /* p->epoch of its last presence */
	bool known;	/* pres is the user's presence (not just created) */
};

struct br_online {
	struct br_online_deps d;
	struct domain *domains;
	size_t n_domains;
	struct ut_hash *users; /* key -> struct tracked */
	unsigned epoch;	       /* one per connection */
	bool connected;
	bool settled_once;
	uv_timer_t timer; /* settling */
	struct ut_ratelog full_log;
};

static enum br_presence aggregate(enum xm_show show)
{
	switch (show) {
	case XM_SHOW_DND:
		return BR_PRESENCE_DND;
	case XM_SHOW_XA:
	case XM_SHOW_AWAY:
		return BR_PRESENCE_AWAY;
	case XM_SHOW_AVAILABLE:
	case XM_SHOW_CHAT:
		return BR_PRESENCE_ONLINE;
	case XM_SHOW_OFFLINE:
	default:
		return BR_PRESENCE_OFFLINE;
	}
}

static struct domain *domain_of(struct br_online *p, const char *jid)
{
	const char *at = strchr(jid, '@');
	const char *dom = at != NULL ? at + 1 : jid;
	for (size_t i = 0; i < p->n_domains; i++) {
		if (ut_ascii_caseeq(p->domains[i].name, dom))
			return &p->domains[i];
	}
	return NULL;
}

static void tracked_free(struct tracked *t)
{
	xm_presence_clear(&t->pres);
	free(t->key);
	free(t->bare);
	free(t);
}

/* Forgets t (removed from the table by the caller) and tells the router
   the user is offline now, or unknown. */
static void gone(struct br_online *p, struct tracked *t, enum br_presence now)
{
	br_router_presence(p->d.router, t->bare, now);
	tracked_free(t);
}

enum br_presence br_online_presence_of(void *ctx, const char *key)
{
	struct br_online *p = ctx;
	const struct tracked *t = ut_hash_get(p->users, key);
	return t != NULL && t->known ? aggregate(xm_presence_show(&t->pres))
				     : BR_PRESENCE_UNKNOWN;
}

void br_online_foreach(struct br_online *p,
		       int (*cb)(const char *key, const char *bare,
				 enum br_presence presence, void *ctx),
		       void *ctx)
{
	struct ut_hash_iter it;
	const char *key;
	void *v;

	ut_hash_iter_init(&it, p->users);
	while (ut_hash_iter_next(&it, &key, &v)) {
		const struct tracked *t = v;
		if (t->known &&
		    cb(t->key, t->bare, aggregate(xm_presence_show(&t->pres)),
		       ctx) != 0)
			return;
	}
}

enum br_presence br_online_presence_full(struct br_online *p, const char *key,
					 const char *bare)
{
	enum br_presence pr = br_online_presence_of(p, key);
	const char *at = bare != NULL ? strchr(bare, '@') : NULL;
	const struct domain *dom = at != NULL ? domain_of(p, at + 1) : NULL;

	if (pr == BR_PRESENCE_UNKNOWN && dom != NULL && dom->complete &&
	    p->connected)
		pr = BR_PRESENCE_OFFLINE;
	return pr;
}

/* ---- presence stanzas ---- */

/* Beyond BR_ONLINE_USERS_MAX: the stanza as it is (last one wins). */
static void untracked(struct br_online *p, const char *bare, xmpp_stanza_t *st)
{
	struct xm_presence one;
	unsigned changes = 0;

	ut_ratelog(&p->full_log, uv_now(p->d.loop), RATELOG_MSECS, UT_LOG_WARN,
		   "presence",
		   "%d users tracked, the most: the presence of others is "
		   "taken as their last stanza says",
		   BR_ONLINE_USERS_MAX);
	xm_presence_init(&one);
	if (xm_presence_update(&one, st, &changes) == 0)
		br_router_presence(p->d.router, bare,
				   aggregate(xm_presence_show(&one)));
	xm_presence_clear(&one);
}

void br_online_stanza(struct br_online *p, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	char *key = NULL, *bare = NULL;
	unsigned changes = 0;

	if (type != NULL && strcmp(type, "unavailable") != 0 &&
	    strcmp(type, "error") != 0) {
		if (p->d.contact != NULL)
			br_contact_stanza(p->d.contact, st);
		return;
	}
	/* Contacts' presence that XEP-0356 forwards, other servers' users,
	   the server itself: not ours. */
	if (br_jidmap_sender(p->d.cfg, xmpp_stanza_get_from(st), &key, &bare) <
	    0)
		return;
	const struct domain *dom = domain_of(p, bare);
	bool keep_offline = dom != NULL && !dom->complete;
	struct tracked *t = ut_hash_get(p->users, key);
	if (t == NULL) {
		if (ut_hash_count(p->users) >= BR_ONLINE_USERS_MAX) {
			untracked(p, bare, st);
		} else if (type != NULL && !keep_offline) {
			/* Not online as far as we know: say so (a probe's
			   answer, or the end of an untracked user). */
			br_router_presence(p->d.router, bare,
					   BR_PRESENCE_OFFLINE);
		} else {
			t = xcalloc(1, sizeof(*t));
			t->key = key;
			t->bare = bare;
			key = bare = NULL;
			xm_presence_init(&t->pres);
			ut_hash_put(p->users, t->key, t);
		}
	} else if (t->known) {
		/* The router asks br_online_presence_of() for a user it
		   does not hold: let it hold this one as it was before. */
		br_router_presence(p->d.router, t->bare,
				   aggregate(xm_presence_show(&t->pres)));
	}
	if (t != NULL && xm_presence_update(&t->pres, st, &changes) == 0) {
		t->epoch = p->epoch;
		if (changes != 0 || !t->known)
			br_router_presence(
			    p->d.router, t->bare,
			    aggregate(xm_presence_show(&t->pres)));
		t->known = true;
		if ((changes & XM_PRESENCE_CAME_ONLINE) != 0 &&
		    p->d.contact != NULL)
			br_contact_user_online(p->d.contact, t->key, t->bare);
		if (xm_presence_resource_count(&t->pres) == 0 &&
		    !keep_offline) {
			ut_hash_remove(p->users, t->key);
			gone(p, t, BR_PRESENCE_OFFLINE);
		}
	}
	free(key);
	free(bare);
}

/* ---- advertisements ---- */

static bool all_advertised(const struct br_online *p)
{
	for (size_t i = 0; i < p->n_domains; i++) {
		if (!p->domains[i].advertised)
			return false;
	}
	return true;
}

static bool complete_everywhere(const struct br_online *p)
{
	for (size_t i = 0; i < p->n_domains; i++) {
		if (!p->domains[i].complete)
			return false;
	}
	return true;
}

static const char *presence_str(enum xm_privilege_presence pr)
{
	return pr == XM_PRIV_PRESENCE_ROSTER	       ? "roster"
	       : pr == XM_PRIV_PRESENCE_MANAGED_ENTITY ? "managed_entity"
						       : "none";
}

static void timer_cb(uv_timer_t *timer);

bool br_online_advertisement(struct br_online *p, xmpp_stanza_t *msg)
{
	const char *from = xmpp_stanza_get_from(msg);
	struct xm_privilege priv;
	const char *error = NULL;

	if (from == NULL || xm_privilege_find(msg) == NULL)
		return false;
	struct domain *dom = domain_of(p, from);
	if (dom == NULL || strchr(from, '@') != NULL ||
	    xm_privilege_parse(msg, dom->name, &priv, &error) < 0)
		return false;
	dom->advertised = true;
	dom->presence = priv.presence != XM_PRIV_PRESENCE_NONE;
	dom->message = priv.message == XM_PRIV_MESSAGE_OUTGOING;
	dom->version = priv.version;
	/* Prosody's mod_privilege (urn:xmpp:privilege:2) sends the presence
	   of every session right after this; ejabberd 23.01's (:1) sends
	   only changes from now on (FIELD-NOTES.md). */
	dom->complete = dom->presence && priv.version == XM_PRIVILEGE_V2;
	char *grants = xasprintf(
	    "roster %s, message %s, presence %s (%s)",
	    xm_privilege_types_str(priv.roster),
	    priv.message == XM_PRIV_MESSAGE_OUTGOING ? "outgoing" : "none",
	    presence_str(priv.presence),
	    priv.version == XM_PRIVILEGE_V1 ? XM_NS_PRIVILEGE_1
					    : XM_NS_PRIVILEGE_2);
	if (dom->logged == NULL || strcmp(dom->logged, grants) != 0) {
		log_info("%s grants the component %s%s", dom->name, grants,
			 dom->complete ? ": presence permission, mail "
					 "follows who is online"
			 : dom->presence
			     ? ": presence permission, mail follows who is "
			       "online once their presence changes (this "
			       "server does not say who is online now)"
			     : "");
		free(dom->logged);
		dom->logged = grants;
	} else {
		free(grants);
	}
	if (p->d.contact != NULL)
		br_contact_privilege(p->d.contact, dom->name, &priv);
	xm_privilege_clear(&priv);
	br_router_presence_known(p->d.router, complete_everywhere(p));
	if (all_advertised(p))
		uv_timer_start(&p->timer, timer_cb, SETTLE_MSECS, 0);
	return true;
}

bool br_online_can_send_as(struct br_online *p, const char *domain,
			   enum xm_privilege_version *version_r)
{
	if (!p->connected || domain == NULL || strchr(domain, '@') != NULL ||
	    strchr(domain, '/') != NULL)
		return false;
	const struct domain *dom = domain_of(p, domain);
	if (dom == NULL || !dom->advertised || !dom->message)
		return false;
	if (version_r != NULL)
		*version_r = dom->version;
	return true;
}

/* ---- settling ---- */

static void settle(struct br_online *p)
{
	struct ut_hash_iter it;
	const char *key;
	void *value;

	for (size_t i = 0; i < p->n_domains; i++) {
		struct domain *dom = &p->domains[i];
		if (dom->advertised || !p->connected)
			continue;
		if (!dom->warned_none) {
			dom->warned_none = true;
			log_warn("%s sent the component no XEP-0356 "
				 "advertisement: its users' presence is known "
				 "only through their subscription to the Mail "
				 "contact; see README (presence)",
				 dom->name);
		}
		if (p->d.contact != NULL)
			br_contact_privilege(p->d.contact, dom->name, NULL);
	}
	br_router_presence_known(p->d.router,
				 p->connected && complete_everywhere(p));
	/* Whom the server did not mention again went offline meanwhile
	   (complete domains), or may have come and gone (the others). */
	ut_hash_iter_init(&it, p->users);
	while (p->connected && ut_hash_iter_next(&it, &key, &value)) {
		struct tracked *t = value;
		if (t->epoch == p->epoch)
			continue;
		const struct domain *dom = domain_of(p, t->bare);
		ut_hash_iter_remove(&it);
		gone(p, t,
		     dom != NULL && dom->complete ? BR_PRESENCE_OFFLINE
						  : BR_PRESENCE_UNKNOWN);
	}
	if (!p->settled_once) {
		p->settled_once = true;
		br_router_presence_settled(p->d.router);
	}
}

static void timer_cb(uv_timer_t *timer)
{
	settle(timer->data);
}

/* Probes the users of domains that did not say who is online last time:
   where they share a presence subscription with the Mail contact, the
   server answers with their presence now. */
static void probe_subscribed(struct br_online *p)
{
	struct ut_hash_iter it;
	const char *key;
	void *value;

	ut_hash_iter_init(&it, p->users);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct tracked *t = value;
		struct domain *dom = domain_of(p, t->bare);
		if (dom == NULL || dom->had_complete)
			continue;
		xmpp_stanza_t *pr = xm_elem_new(p->d.sctx, "presence", NULL);
		xm_elem_set_attr(pr, "type", "probe");
		xm_elem_set_attr(pr, "from", p->d.cfg->component);
		xm_elem_set_attr(pr, "to", t->bare);
		p->d.send(p->d.send_ctx, pr);
		xmpp_stanza_release(pr);
	}
}

void br_online_xmpp_state(struct br_online *p, bool online)
{
	p->connected = online;
	if (!online) {
		uv_timer_stop(&p->timer);
		return;
	}
	for (size_t i = 0; i < p->n_domains; i++) {
		struct domain *dom = &p->domains[i];
		dom->had_complete = dom->complete;
		dom->advertised = false;
		dom->presence = false;
		dom->message = false;
		dom->complete = false;
	}
	p->epoch++;
	probe_subscribed(p);
	uv_timer_start(&p->timer, timer_cb, NO_ADVERTISEMENT_MSECS, 0);
}

/* ---- life ---- */

struct br_online *br_online_new(const struct br_online_deps *d)
{
	struct br_online *p = xcalloc(1, sizeof(*p));
	p->d = *d;
	p->n_domains = d->cfg->mail_domain_count;
	p->domains = xcalloc(p->n_domains, sizeof(*p->domains));
	for (size_t i = 0; i < p->n_domains; i++)
		p->domains[i].name = d->cfg->xmpp_domains[i];
	p->users = ut_hash_new();
	uv_timer_init(d->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, timer_cb, STARTUP_MSECS, 0);
	return p;
}

size_t br_online_tracked(const struct br_online *p)
{
	return ut_hash_count(p->users);
}

static void closed_cb(uv_handle_t *h)
{
	struct br_online *p = h->data;
	struct ut_hash_iter it;
	const char *key;
	void *value;

	ut_hash_iter_init(&it, p->users);
	while (ut_hash_iter_next(&it, &key, &value)) {
		ut_hash_iter_remove(&it);
		tracked_free(value);
	}
	ut_hash_free(&p->users);
	for (size_t i = 0; i < p->n_domains; i++)
		free(p->domains[i].logged);
	free(p->domains);
	free(p);
}

void br_online_close(struct br_online **pp)
{
	struct br_online *p = *pp;
	if (p == NULL)
		return;
	*pp = NULL;
	uv_close((uv_handle_t *)&p->timer, closed_cb);
}
