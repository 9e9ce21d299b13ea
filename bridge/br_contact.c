/*
 * The Mail contact in local users' rosters: the roster route over XEP-0356
 * and the subscription route, per served domain (see br_contact.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_contact.h"
#include "br_jidmap.h"
#include "ut_hash.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

#define LOG_PREFIX	  "contact"
#define CONTACT_NAME	  "Mail"
#define NS_NICK		  "http://jabber.org/protocol/nick"
#define CONTACT_CALLS_MAX 256
#define ASK_AGAIN_SECS	  (7 * 24 * 3600)

enum route {
	ROUTE_UNKNOWN = 0, /* no advertisement (yet): subscription */
	ROUTE_ROSTER,
	ROUTE_SUBSCRIPTION,
};

struct domain {
	const char *name; /* cfg's */
	unsigned roster;  /* XM_PRIV_GET | XM_PRIV_SET granted */
	enum route route;
	bool refused;	    /* a roster set was refused: subscription */
	enum route logged;  /* the route last logged */
	bool roster_logged; /* "roster route works" logged */
};

/* A roster call in flight for one user. */
struct call {
	struct br_contact *c;
	char *key, *bare;
	struct domain *dom;
	bool is_set;
	uint64_t handle;
};

struct br_contact {
	struct br_contact_deps d;
	struct domain *domains;
	size_t n_domains;
	struct ut_hash *calls; /* key -> struct call */
};

static struct domain *domain_of(struct br_contact *c, const char *bare)
{
	const char *at = strchr(bare, '@');
	const char *dom = at != NULL ? at + 1 : bare;
	for (size_t i = 0; i < c->n_domains; i++) {
		if (ut_ascii_caseeq(c->domains[i].name, dom))
			return &c->domains[i];
	}
	return NULL;
}

struct br_contact *br_contact_new(const struct br_contact_deps *d)
{
	struct br_contact *c = xcalloc(1, sizeof(*c));
	c->d = *d;
	c->n_domains = d->cfg->mail_domain_count;
	c->domains = xcalloc(c->n_domains, sizeof(*c->domains));
	for (size_t i = 0; i < c->n_domains; i++)
		c->domains[i].name = d->cfg->xmpp_domains[i];
	c->calls = ut_hash_new();
	return c;
}

static void call_free(struct call *k)
{
	free(k->key);
	free(k->bare);
	free(k);
}

void br_contact_close(struct br_contact **cp)
{
	struct br_contact *c = *cp;
	struct ut_hash_iter it;
	const char *key;
	void *value;

	if (c == NULL)
		return;
	*cp = NULL;
	ut_hash_iter_init(&it, c->calls);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct call *k = value;
		ut_hash_iter_remove(&it);
		if (c->d.iq != NULL)
			xm_iq_cancel(c->d.iq, k->handle);
		call_free(k);
	}
	ut_hash_free(&c->calls);
	free(c->domains);
	free(c);
}

static void log_route(struct domain *dom, const char *why)
{
	if (dom->logged == dom->route)
		return;
	dom->logged = dom->route;
	if (dom->route == ROUTE_ROSTER)
		log_info(
		    "%s: the Mail contact goes into users' rosters through "
		    "XEP-0356 (roster permission %s)",
		    dom->name, xm_privilege_types_str(dom->roster));
	else
		log_info("%s: users are asked to add the Mail contact "
			 "(presence subscription): %s",
			 dom->name, why);
}

void br_contact_privilege(struct br_contact *c, const char *domain,
			  const struct xm_privilege *priv)
{
	struct domain *dom = domain_of(c, domain);
	if (dom == NULL)
		return;
	dom->roster = priv != NULL ? priv->roster : 0;
	if (dom->refused) {
		dom->route = ROUTE_SUBSCRIPTION;
	} else if ((dom->roster & XM_PRIV_SET) != 0) {
		dom->route = ROUTE_ROSTER;
		log_route(dom, NULL);
	} else {
		dom->route = ROUTE_SUBSCRIPTION;
		log_route(dom, priv == NULL ? "the server granted no privileges"
					    : "no roster set permission");
	}
}

/* ---- the durable mark ---- */

static enum br_contact_state state_of(struct br_contact *c, const char *key)
{
	int found = 0;
	int64_t v = 0;
	if (br_ledger_setting_get(c->d.ledger, key, BR_CONTACT_SETTING, &found,
				  &v) < 0 ||
	    !found || v < BR_CONTACT_NONE || v > BR_CONTACT_DECLINED)
		return BR_CONTACT_NONE;
	return (enum br_contact_state)v;
}

static void state_set(struct br_contact *c, const char *key,
		      enum br_contact_state st)
{
	br_ledger_setting_set(c->d.ledger, key, BR_CONTACT_SETTING, st);
	if (st != BR_CONTACT_NONE)
		br_ledger_setting_set(c->d.ledger, key,
				      BR_CONTACT_ASKED_SETTING, -1);
}

/* ---- stanzas ---- */

static void send_presence(struct br_contact *c, const char *type,
			  const char *to, bool nick)
{
	xmpp_stanza_t *p = xm_elem_new(c->d.sctx, "presence", NULL);
	if (type != NULL)
		xm_elem_set_attr(p, "type", type);
	xm_elem_set_attr(p, "from", c->d.cfg->component);
	xm_elem_set_attr(p, "to", to);
	if (nick) {
		xmpp_stanza_t *n = xm_elem_new(c->d.sctx, "nick", NS_NICK);
		xmpp_stanza_t *t = xm_stanza_alloc(c->d.sctx);
		xm_strophe_check(xmpp_stanza_set_text(t, CONTACT_NAME));
		xm_elem_adopt(n, t);
		xm_elem_adopt(p, n);
	}
	c->d.send(c->d.send_ctx, p);
	xmpp_stanza_release(p);
}

/* The subscription route for one user: ask, unless asked lately. */
static void ask(struct br_contact *c, const char *key, const char *bare)
{
	int found = 0;
	int64_t asked = 0, now = (int64_t)time(NULL);

	if (br_ledger_setting_get(c->d.ledger, key, BR_CONTACT_ASKED_SETTING,
				  &found, &asked) == 0 &&
	    found && asked <= now && now - asked < ASK_AGAIN_SECS)
		return;
	log_debug("%s: asking %s to add the Mail contact", LOG_PREFIX, bare);
	send_presence(c, "subscribe", bare, true);
	br_ledger_setting_set(c->d.ledger, key, BR_CONTACT_ASKED_SETTING, now);
}

/* ---- the roster route ---- */

static int roster_call(struct br_contact *c, struct call *k);

static void subscription_instead(struct br_contact *c, struct call *k,
				 const char *condition)
{
	struct domain *dom = k->dom;
	if (!dom->refused) {
		dom->refused = true;
		dom->route = ROUTE_SUBSCRIPTION;
		char *why = xasprintf("the server refused a privileged roster "
				      "set (%.64s)",
				      condition);
		log_route(dom, why);
		free(why);
	}
	ask(c, k->key, k->bare);
}

static void roster_reply_cb(enum xm_iq_outcome outcome, xmpp_stanza_t *reply,
			    void *ctx)
{
	struct call *k = ctx;
	struct br_contact *c = k->c;
	struct xm_roster_item item;

	ut_hash_remove(c->calls, k->key);
	if (outcome == XM_IQ_TIMEOUT || outcome == XM_IQ_DISCONNECTED) {
		/* Tried again when the user next comes online. */
		log_debug("%s: roster %s for %s: %s", LOG_PREFIX,
			  k->is_set ? "set" : "get", k->bare,
			  xm_iq_outcome_str(outcome));
	} else if (outcome == XM_IQ_ERROR) {
		xmpp_stanza_t *e =
		    xmpp_stanza_get_child_by_name(reply, "error");
		xmpp_stanza_t *cond =
		    e != NULL ? xmpp_stanza_get_children(e) : NULL;
		const char *name =
		    cond != NULL ? xmpp_stanza_get_name(cond) : NULL;
		if (name == NULL)
			name = "no condition";
		if (k->is_set) {
			subscription_instead(c, k, name);
		} else {
			log_warn("%s: %s: the server refused a privileged "
				 "roster get (%.64s)",
				 LOG_PREFIX, k->bare, name);
			ask(c, k->key, k->bare);
		}
	} else if (!k->is_set) {
		if (xm_privilege_roster_find(reply, c->d.cfg->component,
					     &item) == 0) {
			free(item.name);
			state_set(c, k->key, BR_CONTACT_IN_ROSTER);
		} else if ((k->dom->roster & XM_PRIV_SET) != 0 &&
			   !k->dom->refused) {
			k->is_set = true;
			if (roster_call(c, k) == 0)
				return; /* k lives on */
		} else {
			ask(c, k->key, k->bare);
		}
	} else {
		if (!k->dom->roster_logged) {
			k->dom->roster_logged = true;
			log_info("%s: added the Mail contact to %s's roster "
				 "(and will for every user who comes online "
				 "without it)",
				 k->dom->name, k->bare);
		}
		state_set(c, k->key, BR_CONTACT_IN_ROSTER);
		/* The server does not tell the user's clients the new
		   contact is available: we do. */
		send_presence(c, NULL, k->bare, false);
	}
	call_free(k);
}

/* Sends k's get or set; 0, or -1 (k not kept). */
static int roster_call(struct br_contact *c, struct call *k)
{
	xmpp_stanza_t *iq = NULL;
	int ret = k->is_set
		      ? xm_privilege_roster_set_new(
			    c->d.sctx, k->bare, c->d.cfg->component,
			    CONTACT_NAME, XM_ROSTER_BOTH, &iq)
		      : xm_privilege_roster_get_new(c->d.sctx, k->bare, &iq);
	if (ret == 0)
		ret = xm_iq_send(c->d.iq, iq, roster_reply_cb, k, &k->handle);
	if (iq != NULL)
		xmpp_stanza_release(iq);
	if (ret == 0)
		ut_hash_put(c->calls, k->key, k);
	return ret;
}

void br_contact_user_online(struct br_contact *c, const char *key,
			    const char *bare)
{
	struct domain *dom = domain_of(c, bare);

	if (dom == NULL || ut_hash_get(c->calls, key) != NULL ||
	    state_of(c, key) != BR_CONTACT_NONE)
		return;
	if (dom->route != ROUTE_ROSTER || c->d.iq == NULL) {
		ask(c, key, bare);
		return;
	}
	if (ut_hash_count(c->calls) >= CONTACT_CALLS_MAX)
		return; /* next time they come online */
	struct call *k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->key = xstrdup(key);
	k->bare = xstrdup(bare);
	k->dom = dom;
	k->is_set = (dom->roster & XM_PRIV_GET) == 0;
	if (roster_call(c, k) < 0)
		call_free(k);
}

/* ---- subscription stanzas ---- */

void br_contact_stanza(struct br_contact *c, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	char *key = NULL, *bare = NULL;

	if (type == NULL || from == NULL)
		return;
	if (br_jidmap_sender(c->d.cfg, from, &key, &bare) < 0) {
		/* Not a local user: no subscription, nothing else said. */
		char *b = xm_jid_bare(from);
		if (b != NULL && strcmp(type, "subscribe") == 0)
			send_presence(c, "unsubscribed", b, false);
		free(b);
		return;
	}
	if (strcmp(type, "subscribe") == 0) {
		send_presence(c, "subscribed", bare, false);
		send_presence(c, NULL, bare, false);
	} else if (strcmp(type, "probe") == 0) {
		send_presence(c, NULL, bare, false);
	} else if (strcmp(type, "subscribed") == 0) {
		if (state_of(c, key) != BR_CONTACT_IN_ROSTER)
			state_set(c, key, BR_CONTACT_SUBSCRIBED);
	} else if (strcmp(type, "unsubscribe") == 0 ||
		   strcmp(type, "unsubscribed") == 0) {
		/* RFC 6121 3.3 / 3.2: acknowledge; never ask again. */
		if (strcmp(type, "unsubscribe") == 0)
			send_presence(c, "unsubscribed", bare, false);
		state_set(c, key, BR_CONTACT_DECLINED);
	}
	free(key);
	free(bare);
}
