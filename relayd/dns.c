/*
 * dns.c — c-ares driven by libevent, with a small answer cache.
 *
 * dns_init(), dns_shutdown(), dns_addrs(), dns_mx(), dns_cancel(),
 * dns_strstatus()
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
 * each gets a libevent event, and one timer follows ares_timeout().
 *
 * Invariants: an owner's callback never runs inside dns_addrs()/dns_mx()
 * (cached and immediate answers are delivered from the loop), so the owner
 * always holds the query pointer first; a cancelled query is freed when
 * its answer arrives, without calling the owner. c-ares 1.18 has no cache
 * of its own: answers are kept here for their TTL.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ares.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/dnswire.h"
#include "relayd/log.h"

#define DNS_MAX_ADDRS 32
#define DNS_MAX_MX 32
#define DNS_TTL_MAX 3600
#define DNS_TTL_NEGATIVE 60
#define DNS_TTL_MIN 5
#define DNS_CACHE_BUCKETS 512

struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
	struct dns_sock *next;
};

enum qtype { Q_ADDRS, Q_MX, Q_RR, Q_TLSA };

#define DNS_MAX_RR 64 /* records of one dns_lookup() answer kept */

/* An answer, as delivered and as cached. */
struct answer {
	enum dns_status st;
	struct dns_addr addrs[DNS_MAX_ADDRS];
	size_t naddrs;
	struct dns_mx mx[DNS_MAX_MX];
	size_t nmx;
};

struct dns_query {
	enum qtype type;
	dns_addrs_cb acb;
	dns_mx_cb mcb;
	dns_rr_cb rcb;
	void *arg;
	int port;
	char name[256];
	struct answer a;
	char *rr[DNS_MAX_RR]; /* Q_RR */
	size_t nrr;
	dns_tlsa_cb tcb; /* Q_TLSA: the usable records, their data malloc'd */
	struct dns_tlsa tlsa[DNSWIRE_TLSA_MAX];
	size_t ntlsa, ntlsa_all;
	bool secure;
	char why[128];
};

struct cache_entry {
	enum qtype type;
	char name[256];
	time_t expires;
	struct answer a;
	struct cache_entry *next;
};

static struct event_base *d_base;
static ares_channel d_chan;
static struct event *d_timer;
static struct dns_sock *d_socks;
static bool d_ready;
static bool d_in_call;
static struct cache_entry *d_cache[DNS_CACHE_BUCKETS];

static void dns_rearm(void);

/* ---- event loop glue -------------------------------------------------- */

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(d_chan, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_rearm();
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(d_chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm();
}

static void
dns_rearm(void)
{
	struct timeval max = {5, 0}, tv;
	struct timeval *t = ares_timeout(d_chan, &max, &tv);
	evtimer_add(d_timer, t);
}

/* c-ares opens, changes or closes a socket. */
static void
state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock **pp = &d_socks, *s;
	for (; (s = *pp) != NULL; pp = &s->next)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			fatal("out of memory");
		s->fd = fd;
		s->next = d_socks;
		d_socks = s;
	} else {
		event_free(s->ev);
	}
	short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(d_base, fd, what, sock_cb, NULL);
	event_add(s->ev, NULL);
}

/* ---- cache ------------------------------------------------------------ */

static unsigned
bucket(enum qtype type, const char *name)
{
	unsigned h = 5381u + (unsigned)type;
	for (; *name; name++)
		h = h * 33u + (unsigned)(unsigned char)(*name | 0x20);
	return h % DNS_CACHE_BUCKETS;
}

static struct cache_entry *
cache_get(enum qtype type, const char *name)
{
	time_t now = time(NULL);
	struct cache_entry **pp = &d_cache[bucket(type, name)], *e;
	while ((e = *pp) != NULL) {
		if (e->expires <= now) {
			*pp = e->next;
			free(e);
			continue;
		}
		if (e->type == type && strcasecmp(e->name, name) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

static void
cache_put(enum qtype type, const char *name, const struct answer *a, int ttl)
{
	if (a->st == DNS_TEMPFAIL)
		return;
	if (a->st != DNS_OK)
		ttl = DNS_TTL_NEGATIVE;
	/* A TTL of 0 still answers for the transaction at hand: routing at
	 * dispatch relies on the answer a lookup just brought. */
	if (ttl < DNS_TTL_MIN)
		ttl = DNS_TTL_MIN;
	if (ttl > DNS_TTL_MAX)
		ttl = DNS_TTL_MAX;
	struct cache_entry *e = cache_get(type, name);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		unsigned b = bucket(type, name);
		e->type = type;
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->next = d_cache[b];
		d_cache[b] = e;
	}
	e->a = *a;
	e->expires = time(NULL) + ttl;
}

static void
cache_clear(void)
{
	for (int i = 0; i < DNS_CACHE_BUCKETS; i++)
		while (d_cache[i]) {
			struct cache_entry *e = d_cache[i];
			d_cache[i] = e->next;
			free(e);
		}
}

/* ---- set-up ----------------------------------------------------------- */

/* Set up the resolver for C's dns_servers (or /etc/resolv.conf). */
int
dns_init(struct event_base *base, const struct conf *c, char **cause)
{
	static char err[256];
	struct ares_options opts;

	d_base = base;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		*cause = "cannot initialise c-ares";
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = state_cb;
	opts.timeout = 2000; /* ms per try */
	opts.tries = 2;
	int rc = ares_init_options(&d_chan, &opts,
				   ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, sizeof(err), "cannot initialise the resolver: %s", ares_strerror(rc));
		*cause = err;
		return -1;
	}
	if (c->ndns_servers > 0) {
		char csv[2048] = "";
		size_t o = 0;
		for (size_t i = 0; i < c->ndns_servers && o < sizeof(csv); i++)
			o += (size_t)snprintf(csv + o, sizeof(csv) - o, "%s%s", i ? "," : "",
					      c->dns_servers[i]);
		rc = ares_set_servers_ports_csv(d_chan, csv);
		if (rc != ARES_SUCCESS) {
			snprintf(err, sizeof(err), "bad dns_servers \"%s\": %s", csv,
				 ares_strerror(rc));
			*cause = err;
			return -1;
		}
	}
	d_timer = evtimer_new(base, timer_cb, NULL);
	d_ready = true;
	return 0;
}

/* Stop: pending queries are cancelled without calling their owners. */
void
dns_shutdown(void)
{
	if (!d_ready)
		return;
	ares_destroy(d_chan);
	d_ready = false;
	if (d_timer)
		event_free(d_timer);
	d_timer = NULL;
	while (d_socks) {
		struct dns_sock *s = d_socks;
		d_socks = s->next;
		event_free(s->ev);
		free(s);
	}
	cache_clear();
	ares_library_cleanup();
}

static enum dns_status
status_of(int rc)
{
	switch (rc) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return DNS_NOTFOUND;
	case ARES_ENODATA:
		return DNS_NODATA;
	default:
		return DNS_TEMPFAIL;
	}
}

/* ---- delivery of answers ---------------------------------------------- */

static void
set_port(struct dns_addr *a, int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	if (q->type == Q_ADDRS) {
		for (size_t i = 0; i < q->a.naddrs; i++)
			set_port(&q->a.addrs[i], q->port);
		if (q->acb)
			q->acb(q->arg, q->a.st, q->a.addrs, q->a.naddrs);
	} else if (q->type == Q_MX) {
		if (q->mcb)
			q->mcb(q->arg, q->a.st, q->a.mx, q->a.nmx);
	} else if (q->type == Q_TLSA) {
		if (q->tcb) {
			struct dns_tlsa_answer ta = {.st = q->a.st,
						     .secure = q->secure,
						     .n = q->ntlsa,
						     .total = q->ntlsa_all,
						     .tlsa = q->tlsa,
						     .why = q->why};
			q->tcb(q->arg, &ta);
		}
		for (size_t i = 0; i < q->ntlsa; i++)
			free((void *)q->tlsa[i].data);
	} else if (q->rcb) {
		struct dns_rrset rs = {
			.st = q->a.st, .n = q->nrr, .rr = (const char *const *)q->rr};
		q->rcb(q->arg, &rs);
	}
	for (size_t i = 0; i < q->nrr; i++)
		free(q->rr[i]);
	free(q);
}

/* Never call the owner from inside dns_addrs()/dns_mx(): it has not
 * even got the query pointer yet (hosts-file answers come back at once). */
static void
finish(struct dns_query *q)
{
	if (d_in_call)
		event_base_once(d_base, -1, EV_TIMEOUT, deliver, q, NULL);
	else
		deliver(-1, 0, q);
}

static void mx_order(struct dns_mx *mx, size_t n);

static void
addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	size_t n = 0;
	int ttl = DNS_TTL_MAX;

	if (status == ARES_SUCCESS && res) {
		/* IPv4 first, then IPv6: loopback test set-ups and most MX
		 * hosts answer on v4; c-ares' own order is not stable. */
		for (int fam = 0; fam < 2; fam++)
			for (struct ares_addrinfo_node *nd = res->nodes; nd && n < DNS_MAX_ADDRS;
			     nd = nd->ai_next) {
				if (nd->ai_family != (fam == 0 ? AF_INET : AF_INET6) ||
				    nd->ai_addrlen > sizeof(q->a.addrs[n].ss))
					continue;
				memset(&q->a.addrs[n], 0, sizeof(q->a.addrs[n]));
				memcpy(&q->a.addrs[n].ss, nd->ai_addr, nd->ai_addrlen);
				q->a.addrs[n].len = (socklen_t)nd->ai_addrlen;
				if (nd->ai_ttl < ttl)
					ttl = nd->ai_ttl;
				n++;
			}
	}
	if (res)
		ares_freeaddrinfo(res);
	q->a.naddrs = n;
	q->a.st = status_of(status);
	if (q->a.st == DNS_OK && n == 0)
		q->a.st = DNS_NODATA;
	if (status != ARES_EDESTRUCTION)
		cache_put(Q_ADDRS, q->name, &q->a, ttl);
	finish(q);
}

/* The smallest TTL of the answer section of a raw DNS reply. */
static int
answer_ttl(const unsigned char *abuf, int alen)
{
	if (alen < NS_HFIXEDSZ)
		return 0;
	int qd = (abuf[4] << 8) | abuf[5], an = (abuf[6] << 8) | abuf[7];
	const unsigned char *p = abuf + NS_HFIXEDSZ, *end = abuf + alen;
	char *name;
	long len;
	int ttl = DNS_TTL_MAX;

	for (int i = 0; i < qd; i++) {
		if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
			return 0;
		ares_free_string(name);
		p += len + NS_QFIXEDSZ;
		if (p > end)
			return 0;
	}
	for (int i = 0; i < an; i++) {
		if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
			return 0;
		ares_free_string(name);
		p += len;
		if (p + NS_RRFIXEDSZ > end)
			return 0;
		int t = (int)(((unsigned)p[4] << 24) | ((unsigned)p[5] << 16) |
			      ((unsigned)p[6] << 8) | p[7]);
		int rdlen = (p[8] << 8) | p[9];
		if (t < ttl)
			ttl = t;
		p += NS_RRFIXEDSZ + rdlen;
		if (p > end)
			return 0;
	}
	return ttl;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;
	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct ares_mx_reply *mx = NULL;
	int ttl = 0;

	q->a.nmx = 0;
	q->a.st = status_of(status);
	if (status == ARES_SUCCESS) {
		int rc = ares_parse_mx_reply(abuf, alen, &mx);
		if (rc != ARES_SUCCESS) {
			q->a.st = rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
		} else {
			for (struct ares_mx_reply *m = mx; m && q->a.nmx < DNS_MAX_MX;
			     m = m->next) {
				struct dns_mx *d = &q->a.mx[q->a.nmx++];
				snprintf(d->host, sizeof(d->host), "%s", m->host);
				size_t hl = strlen(d->host);
				if (hl > 0 && d->host[hl - 1] == '.')
					d->host[hl - 1] = '\0';
				d->pref = m->priority;
			}
			ares_free_data(mx);
			ttl = answer_ttl(abuf, alen);
			if (q->a.nmx == 0)
				q->a.st = DNS_NODATA;
		}
	}
	if (status != ARES_EDESTRUCTION)
		cache_put(Q_MX, q->name, &q->a, ttl);
	mx_order(q->a.mx, q->a.nmx);
	finish(q);
}

static struct dns_query *
query_new(enum qtype type, const char *name, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	if (!q)
		fatal("out of memory");
	q->type = type;
	q->arg = arg;
	snprintf(q->name, sizeof(q->name), "%s", name);
	return q;
}

/* Shuffle equal preferences (RFC 5321 5.1), after a stable sort. */
static void
mx_order(struct dns_mx *mx, size_t n)
{
	qsort(mx, n, sizeof(*mx), mx_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && mx[j].pref == mx[i].pref)
			j++;
		for (size_t k = j - 1; k > i; k--) {
			size_t r = i + (size_t)random() % (k - i + 1);
			struct dns_mx t = mx[k];
			mx[k] = mx[r];
			mx[r] = t;
		}
		i = j;
	}
}

static bool
from_cache(struct dns_query *q)
{
	struct cache_entry *e = cache_get(q->type, q->name);
	if (!e)
		return false;
	q->a = e->a;
	event_base_once(d_base, -1, EV_TIMEOUT, deliver, q, NULL);
	return true;
}

/* Resolve HOST's A and AAAA records; CB gets the addresses with PORT set. */
struct dns_query *
dns_addrs(const char *host, int port, dns_addrs_cb cb, void *arg)
{
	struct dns_query *q = query_new(Q_ADDRS, host, arg);
	q->acb = cb;
	q->port = port;
	if (from_cache(q))
		return q;
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	d_in_call = true;
	ares_getaddrinfo(d_chan, host, NULL, &hints, addrinfo_cb, q);
	d_in_call = false;
	dns_rearm();
	return q;
}

/* Look up DOMAIN's MX records; CB gets them by preference. */
struct dns_query *
dns_mx(const char *domain, dns_mx_cb cb, void *arg)
{
	struct dns_query *q = query_new(Q_MX, domain, arg);
	q->mcb = cb;
	if (from_cache(q)) {
		mx_order(q->a.mx, q->a.nmx);
		return q;
	}
	d_in_call = true;
	ares_query(d_chan, domain, ns_c_in, ns_t_mx, mx_cb, q);
	d_in_call = false;
	dns_rearm();
	return q;
}

/* One more record of a dns_lookup() answer (dropped beyond DNS_MAX_RR). */
static void
rr_add(struct dns_query *q, const char *s, size_t len)
{
	if (q->nrr >= DNS_MAX_RR)
		return;
	if ((q->rr[q->nrr] = strndup(s, len)) == NULL)
		fatal("out of memory");
	q->nrr++;
}

static void
rr_add_name(struct dns_query *q, const char *name)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	rr_add(q, name, n);
}

static void
rr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	enum dns_rr type = (enum dns_rr)q->port;
	int rc = status;

	q->a.st = status_of(status);
	if (status == ARES_SUCCESS) {
		char text[INET6_ADDRSTRLEN];
		if (type == DNS_RR_A || type == DNS_RR_AAAA) {
			struct hostent *he = NULL;
			rc = type == DNS_RR_A ? ares_parse_a_reply(abuf, alen, &he, NULL, NULL)
					      : ares_parse_aaaa_reply(abuf, alen, &he, NULL, NULL);
			for (size_t i = 0; rc == ARES_SUCCESS && he->h_addr_list[i]; i++)
				if (inet_ntop(he->h_addrtype, he->h_addr_list[i], text,
					      sizeof(text)))
					rr_add(q, text, strlen(text));
			if (he)
				ares_free_hostent(he);
		} else if (type == DNS_RR_PTR) {
			struct hostent *he = NULL;
			/* c-ares copies an address into the hostent: give it one
			 * (unused), never NULL. */
			static const unsigned char any[4];
			rc = ares_parse_ptr_reply(abuf, alen, any, sizeof(any), AF_INET, &he);
			if (rc == ARES_SUCCESS) {
				rr_add_name(q, he->h_name);
				for (size_t i = 0; he->h_aliases && he->h_aliases[i]; i++)
					rr_add_name(q, he->h_aliases[i]);
			}
			if (he)
				ares_free_hostent(he);
		} else if (type == DNS_RR_MX) {
			struct ares_mx_reply *mx = NULL;
			rc = ares_parse_mx_reply(abuf, alen, &mx);
			for (struct ares_mx_reply *m = rc == ARES_SUCCESS ? mx : NULL; m;
			     m = m->next)
				rr_add_name(q, m->host);
			if (mx)
				ares_free_data(mx);
		} else {
			struct ares_txt_ext *txt = NULL;
			rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
			/* A record's character-strings are joined (RFC 7208 3.3). */
			char *buf = NULL;
			size_t len = 0;
			for (struct ares_txt_ext *t = rc == ARES_SUCCESS ? txt : NULL; t;
			     t = t->next) {
				if (t->record_start && buf) {
					rr_add(q, buf, len);
					len = 0;
				}
				char *nb = realloc(buf, len + t->length + 1);
				if (!nb)
					fatal("out of memory");
				buf = nb;
				memcpy(buf + len, t->txt, t->length);
				len += t->length;
				buf[len] = '\0';
			}
			if (buf)
				rr_add(q, buf, len);
			free(buf);
			if (txt)
				ares_free_data(txt);
		}
		if (rc != ARES_SUCCESS)
			q->a.st = rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
		else if (q->nrr == 0)
			q->a.st = DNS_NODATA;
	}
	finish(q);
}

/* NAME's records of TYPE, as text (dns.h). */
struct dns_query *
dns_lookup(const char *name, enum dns_rr type, dns_rr_cb cb, void *arg)
{
	static const int qtype[] = {
		[DNS_RR_A] = ns_t_a,	 [DNS_RR_AAAA] = ns_t_aaaa, [DNS_RR_TXT] = ns_t_txt,
		[DNS_RR_PTR] = ns_t_ptr, [DNS_RR_MX] = ns_t_mx,
	};
	struct dns_query *q = query_new(Q_RR, name, arg);
	q->rcb = cb;
	q->port = (int)type;
	d_in_call = true;
	ares_query(d_chan, name, ns_c_in, qtype[type], rr_cb, q);
	d_in_call = false;
	dns_rearm();
	return q;
}

/* DOMAIN's MX answer from the cache, or 0 when there is none. */
int
dns_mx_cached(const char *domain, enum dns_status *st, struct dns_mx *mx, size_t *n)
{
	struct cache_entry *e = cache_get(Q_MX, domain);
	if (!e)
		return 0;
	*st = e->a.st;
	*n = e->a.nmx;
	memcpy(mx, e->a.mx, e->a.nmx * sizeof(*mx));
	return 1;
}

static void
tlsa_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dnswire_answer *a;

	q->a.st = DNS_TEMPFAIL;
	if (status != ARES_SUCCESS || !abuf) {
		/* c-ares tries the next server on SERVFAIL, REFUSED or NOTIMP
		 * and, with none left, says ECONNREFUSED: a validating
		 * resolver's answer for a bogus name is such a SERVFAIL. */
		snprintf(q->why, sizeof(q->why), "%s",
			 status == ARES_ECONNREFUSED
				 ? "SERVFAIL or REFUSED from every DNS server (a DNSSEC validation "
				   "failure, or no server answered)"
				 : ares_strerror(status));
		finish(q);
		return;
	}
	if ((a = malloc(sizeof(*a))) == NULL)
		fatal("out of memory");
	if (dnswire_parse_tlsa(abuf, (size_t)alen, q->name, a) == -1) {
		snprintf(q->why, sizeof(q->why), "malformed answer: %s", a->why);
	} else if (a->tc) {
		snprintf(q->why, sizeof(q->why), "truncated answer");
	} else if (a->rcode != DNSWIRE_RCODE_NOERROR && a->rcode != DNSWIRE_RCODE_NXDOMAIN) {
		snprintf(q->why, sizeof(q->why), "%s", dnswire_rcode_name(a->rcode));
	} else {
		q->secure = a->ad;
		q->a.st = a->rcode == DNSWIRE_RCODE_NXDOMAIN ? DNS_NOTFOUND
			  : a->ntlsa == 0		     ? DNS_NODATA
							     : DNS_OK;
		q->ntlsa_all = a->ntlsa;
		for (size_t i = 0; i < a->ntlsa; i++) {
			const struct dnswire_tlsa *t = &a->tlsa[i];
			if (!dnswire_tlsa_usable(t))
				continue;
			struct dns_tlsa *d = &q->tlsa[q->ntlsa];
			unsigned char *data = malloc(t->len);
			if (!data)
				fatal("out of memory");
			memcpy(data, t->data, t->len);
			d->usage = t->usage;
			d->selector = t->selector;
			d->mtype = t->mtype;
			d->data = data;
			d->len = t->len;
			q->ntlsa++;
		}
	}
	free(a);
	finish(q);
}

/* HOST's TLSA records for PORT (dns.h). */
struct dns_query *
dns_tlsa(const char *host, int port, dns_tlsa_cb cb, void *arg)
{
	char name[300];
	snprintf(name, sizeof(name), "_%d._tcp.%s", port, host);
	return dns_tlsa_name(name, cb, arg);
}

/* The TLSA records of NAME (dns.h). */
struct dns_query *
dns_tlsa_name(const char *name, dns_tlsa_cb cb, void *arg)
{
	unsigned char buf[DNSWIRE_QUERY_MAX];

	struct dns_query *q = query_new(Q_TLSA, name, arg);
	q->tcb = cb;
	int len = strlen(name) >= sizeof(q->name)
			  ? -1
			  : dnswire_query(0, q->name, DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
	if (len == -1) {
		q->a.st = DNS_TEMPFAIL;
		snprintf(q->why, sizeof(q->why), "not a valid name: %.80s", name);
		d_in_call = true;
		finish(q);
		d_in_call = false;
		return q;
	}
	d_in_call = true;
	ares_send(d_chan, buf, len, tlsa_cb, q);
	d_in_call = false;
	dns_rearm();
	return q;
}

/* Forget Q: its callback will not run. Only before the callback ran
 * (the owner drops its pointer in the callback). */
void
dns_cancel(struct dns_query *q)
{
	if (q) {
		q->acb = NULL;
		q->mcb = NULL;
		q->rcb = NULL;
		q->tcb = NULL;
	}
}

/* Words for a status. */
const char *
dns_strstatus(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NOTFOUND:
		return "host or domain name not found";
	case DNS_NODATA:
		return "no records of the requested type";
	case DNS_TEMPFAIL:
		return "temporary DNS failure";
	}
	return "?";
}
