/*
 * One bare JID's presence: a small table of resources and the aggregate
 * the bridge acts on (see xm_presence.h for the rules).
 */
#include "xm_presence.h"

#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

void xm_presence_init(struct xm_presence *p)
{
	memset(p, 0, sizeof(*p));
}

void xm_presence_clear(struct xm_presence *p)
{
	for (size_t i = 0; i < p->n_res; i++)
		free(p->res[i].name);
	p->n_res = 0;
}

const char *xm_show_str(enum xm_show show)
{
	static const char *const names[] = {
	    [XM_SHOW_OFFLINE] = "offline",
	    [XM_SHOW_DND] = "dnd",
	    [XM_SHOW_XA] = "xa",
	    [XM_SHOW_AWAY] = "away",
	    [XM_SHOW_AVAILABLE] = "available",
	    [XM_SHOW_CHAT] = "chat",
	};

	ut_assert(show <= XM_SHOW_CHAT);
	return names[show];
}

enum xm_show xm_presence_show(const struct xm_presence *p)
{
	enum xm_show best = XM_SHOW_OFFLINE;

	for (size_t i = 0; i < p->n_res; i++) {
		if (p->res[i].priority >= 0 && p->res[i].show > best)
			best = p->res[i].show;
	}
	return best;
}

bool xm_presence_online(const struct xm_presence *p)
{
	return xm_presence_show(p) != XM_SHOW_OFFLINE;
}

size_t xm_presence_resource_count(const struct xm_presence *p)
{
	return p->n_res;
}

static enum xm_show parse_show(xmpp_stanza_t *st)
{
	char *text = xm_elem_child_text(st, "show", NULL);
	enum xm_show show = XM_SHOW_AVAILABLE;

	if (text == NULL)
		return show;
	if (strcmp(text, "chat") == 0)
		show = XM_SHOW_CHAT;
	else if (strcmp(text, "away") == 0)
		show = XM_SHOW_AWAY;
	else if (strcmp(text, "xa") == 0)
		show = XM_SHOW_XA;
	else if (strcmp(text, "dnd") == 0)
		show = XM_SHOW_DND;
	free(text);
	return show;
}

static int parse_priority(xmpp_stanza_t *st)
{
	char *text = xm_elem_child_text(st, "priority", NULL);
	int64_t v = 0;
	const char *s = text, *digits;
	bool negative = false;

	if (text == NULL)
		return 0;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '-' || *s == '+') {
		negative = *s == '-';
		s++;
	}
	/* RFC 6121 4.7.2.3: an integer in -128..127; anything else is 0. */
	digits = s;
	for (; *s >= '0' && *s <= '9' && v <= 128; s++)
		v = v * 10 + (*s - '0');
	if (s == digits)
		v = 1000; /* no number: out of range below */
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s != '\0' || (negative ? v > 128 : v > 127))
		v = 0;
	free(text);
	return (int)(negative ? -v : v);
}

static void forget(struct xm_presence *p, size_t i)
{
	free(p->res[i].name);
	p->res[i] = p->res[--p->n_res];
}

static void set_available(struct xm_presence *p, const char *name,
			  xmpp_stanza_t *st)
{
	struct xm_presence_resource *r = NULL;

	for (size_t i = 0; i < p->n_res && r == NULL; i++) {
		if (strcmp(p->res[i].name, name) == 0)
			r = &p->res[i];
	}
	if (r == NULL && p->n_res == XM_PRESENCE_RESOURCES_MAX) {
		size_t oldest = 0;

		for (size_t i = 1; i < p->n_res; i++) {
			if (p->res[i].seq < p->res[oldest].seq)
				oldest = i;
		}
		forget(p, oldest);
	}
	if (r == NULL) {
		r = &p->res[p->n_res++];
		r->name = xstrdup(name);
	}
	r->show = parse_show(st);
	r->priority = parse_priority(st);
	r->seq = ++p->seq;
}

int xm_presence_update(struct xm_presence *p, xmpp_stanza_t *presence,
		       unsigned *changes_r)
{
	const char *name = xmpp_stanza_get_name(presence);
	const char *type = xmpp_stanza_get_type(presence);
	enum xm_show before = xm_presence_show(p), after;
	char *resource;

	*changes_r = 0;
	if (name == NULL || strcmp(name, "presence") != 0 ||
	    xm_jid_split(xmpp_stanza_get_from(presence), NULL, NULL,
			 &resource) < 0)
		return -1;
	if (type == NULL) {
		set_available(p, resource != NULL ? resource : "", presence);
	} else if (strcmp(type, "unavailable") == 0 ||
		   strcmp(type, "error") == 0) {
		for (size_t i = p->n_res; i-- > 0;) {
			if (resource == NULL ||
			    strcmp(p->res[i].name, resource) == 0)
				forget(p, i);
		}
	}
	free(resource);
	after = xm_presence_show(p);
	if (before == XM_SHOW_OFFLINE && after != XM_SHOW_OFFLINE)
		*changes_r = XM_PRESENCE_CAME_ONLINE;
	else if (before != XM_SHOW_OFFLINE && after == XM_SHOW_OFFLINE)
		*changes_r = XM_PRESENCE_WENT_OFFLINE;
	else if (before != after)
		*changes_r = XM_PRESENCE_SHOW_CHANGED;
	return 0;
}
