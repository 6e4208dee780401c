/*
 * sts.c — MTA-STS policies: DNS, HTTPS fetch, cache (sts.h).
 *
 * Each domain asked about has a struct sts_domain: the policy held (from
 * the cache or a fetch), and while a lookup runs, its callers. A lookup
 * is the TXT query, then, when the id is new, the address of
 * mta-sts.DOMAIN and the fetch (libevent's HTTP client over a TLS
 * bufferevent of tls/). Its end answers every caller at once. Nothing here
 * blocks: the cache is read once at sts_init() and written with one small
 * file per fetched policy (sts_cache.c) on a worker thread, and answers are always delivered
 * from the loop.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/relayd.h"
#include "relayd/sts.h"
#include "relayd/sts_cache.h"
#include "relayd/tlsreport.h"
#include "relayd/worker.h"
#include "tls/tls.h"

#define STS_BUCKETS 256
#define STS_RETRY 300 /* seconds before a failed fetch of one id is tried again */
#define STS_FRESH 10  /* seconds an answer is given again without a new lookup */

struct sts_query {
	struct sts_domain *d;
	sts_cb cb;
	void *arg;
	struct sts_query *next;
};

struct sts_domain {
	char name[256];
	struct sts_policy *policy; /* held, maybe expired */
	bool busy;		   /* a lookup runs */
	time_t checked;		   /* when the last lookup ended, or 0 */
	struct sts_query *waiting;
	struct dns_query *dq;
	char id[MTASTS_ID_MAX + 1];	   /* of the TXT record being fetched for */
	int http_error;			   /* an evhttp_request_error + 1, or 0 */
	char failed_id[MTASTS_ID_MAX + 1]; /* the last fetch that failed, for */
	time_t failed_at;		   /* ... when */
	/* the fetch */
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	struct event *deadline;
	char why[1024];
	struct sts_domain *next;
};

static struct event_base *s_base;
static char *s_dir; /* <spool>/mta-sts */
static struct sts_domain *s_domains[STS_BUCKETS];

/* ---- policies ---------------------------------------------------------- */

struct sts_policy *
sts_ref(struct sts_policy *p)
{
	if (p)
		p->refs++;
	return p;
}

void
sts_unref(struct sts_policy *p)
{
	if (p && --p->refs == 0) {
		mtasts_policy_free(&p->p);
		free(p);
	}
}

/* A policy of DOMAIN from BODY; NULL and WHY when it does not parse. */
static struct sts_policy *
policy_new(const char *domain, const char *id, time_t fetched, const char *body, size_t len,
	   char *why, size_t whylen)
{
	struct sts_policy *p = calloc(1, sizeof(*p));
	char err[200];

	if (!p)
		fatal("out of memory");
	if (mtasts_policy_parse(body, len, &p->p, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "the policy does not parse: %s", err);
		free(p);
		return NULL;
	}
	p->refs = 1;
	snprintf(p->domain, sizeof(p->domain), "%s", domain);
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->fetched = fetched;
	p->expires = fetched + (time_t)p->p.max_age;
	return p;
}

static unsigned
hash(const char *s)
{
	unsigned h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)(*s | 0x20);
	return h % STS_BUCKETS;
}

static struct sts_domain *
domain_get(const char *name, bool create)
{
	unsigned h = hash(name);
	for (struct sts_domain *d = s_domains[h]; d; d = d->next)
		if (strcasecmp(d->name, name) == 0)
			return d;
	if (!create)
		return NULL;
	struct sts_domain *d = calloc(1, sizeof(*d));
	if (!d)
		fatal("out of memory");
	snprintf(d->name, sizeof(d->name), "%s", name);
	for (char *c = d->name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	d->next = s_domains[h];
	s_domains[h] = d;
	return d;
}

/* ---- answers ----------------------------------------------------------- */

/* The lookup of D is over: every caller gets the policy held (unless it
 * has expired) and D->why. */
static void
answer_all(struct sts_domain *d)
{
	struct sts_query *q = d->waiting;
	time_t now = time(NULL);
	struct sts_policy *p = d->policy && d->policy->expires > now ? d->policy : NULL;

	d->waiting = NULL;
	d->busy = false;
	d->checked = now;
	while (q) {
		struct sts_query *next = q->next;
		q->cb(q->arg, sts_ref(p), d->why);
		free(q);
		q = next;
	}
}

static void
fetch_free(struct sts_domain *d)
{
	if (d->conn)
		evhttp_connection_free(d->conn); /* and its bufferevent */
	d->conn = NULL;
	d->bev = NULL;
	if (d->deadline)
		event_free(d->deadline);
	d->deadline = NULL;
}

/* The fetch of D is over (WHY set when it failed): answered from the loop,
 * outside libevent's HTTP callbacks, which must not free the connection. */
static void
fetch_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sts_domain *d = arg;

	fetch_free(d);
	if (d->why[0]) {
		snprintf(d->failed_id, sizeof(d->failed_id), "%s", d->id);
		d->failed_at = time(NULL);
		/* TLS-RPT: the certificate of the policy host, a policy that
		 * does not parse, or any other failure to fetch it. */
		tlsreport_failure(d->name, TLSRPT_STS,
				  strstr(d->why, "certificate") ? TLSRPT_STS_WEBPKI_INVALID
				  : strstr(d->why, "does not parse")
					  ? TLSRPT_STS_POLICY_INVALID
					  : TLSRPT_STS_POLICY_FETCH_ERROR,
				  NULL, NULL);
	}
	if (d->why[0])
		log_warn("MTA-STS: %s: %s%s", d->name, d->why,
			 d->policy && d->policy->expires > time(NULL)
				 ? "; the cached policy applies until it expires"
				 : "");
	answer_all(d);
}

static void
fetch_end(struct sts_domain *d)
{
	if (!d->deadline)
		d->deadline = evtimer_new(s_base, fetch_end_cb, d);
	if (!d->deadline)
		fatal("out of memory");
	event_del(d->deadline);
	event_assign(d->deadline, s_base, -1, 0, fetch_end_cb, d);
	event_active(d->deadline, EV_TIMEOUT, 1);
}

/* ---- the cache ---------------------------------------------------------- */

/* A policy to save: on a worker thread (fsync must not hold up the loop). */
struct save_job {
	char *dir;
	char domain[256], id[MTASTS_ID_MAX + 1];
	time_t fetched;
	char *body;
	size_t len;
	int rc;
	char err[300];
};

static void
save_work(void *arg)
{
	struct save_job *j = arg;
	j->rc = sts_cache_save(j->dir, j->domain, j->id, j->fetched, j->body, j->len, j->err,
			       sizeof(j->err));
}

static void
save_done(void *arg)
{
	struct save_job *j = arg;
	if (j->rc == -1)
		log_warn("MTA-STS: %s: cannot cache the policy: %s", j->domain, j->err);
	free(j->dir);
	free(j->body);
	free(j);
}

/* Save BODY (taken) as DOMAIN's policy ID fetched at FETCHED. */
static void
save_policy(const char *domain, const char *id, time_t fetched, char *body, size_t len)
{
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(s_dir)))
		fatal("out of memory");
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->fetched = fetched;
	j->body = body;
	j->len = len;
	worker_submit_bg(save_work, save_done, j);
}

/* ---- the HTTPS fetch --------------------------------------------------- */

static void
fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sts_domain *d = arg;
	snprintf(d->why, sizeof(d->why), "the policy fetch from mta-sts.%s took more than %ds",
		 d->name, STS_FETCH_TIMEOUT);
	fetch_end(d);
}

/* libevent says why a request failed (before fetch_done(), which then
 * must not trust what was read: a body cut at the size limit may parse). */
static void
fetch_error(enum evhttp_request_error e, void *arg)
{
	struct sts_domain *d = arg;
	d->http_error = (int)e + 1;
}

static void
fetch_done(struct evhttp_request *req, void *arg)
{
	struct sts_domain *d = arg;
	char why[300];

	if (!d->conn)
		return; /* over already (the deadline) */
	if (d->http_error == (int)EVREQ_HTTP_DATA_TOO_LONG + 1) {
		snprintf(d->why, sizeof(d->why),
			 "the policy from mta-sts.%s is over %d bytes (or its headers too long)",
			 d->name, STS_BODY_MAX);
		fetch_end(d);
		return;
	}
	if (d->http_error && d->http_error != (int)EVREQ_HTTP_TIMEOUT + 1) {
		char tls[256] = "";
		if (d->bev)
			tls_bev_error(d->bev, tls, sizeof(tls));
		snprintf(d->why, sizeof(d->why), "cannot fetch the policy from mta-sts.%s: %s",
			 d->name,
			 tls[0] && strcmp(tls, "connection closed during the TLS handshake")
				 ? tls
				 : "the connection failed or ended early");
		fetch_end(d);
		return;
	}
	if (!req || evhttp_request_get_response_code(req) == 0) {
		char tls[256] = "";
		if (d->bev)
			tls_bev_error(d->bev, tls, sizeof(tls));
		snprintf(d->why, sizeof(d->why), "cannot fetch the policy from mta-sts.%s: %s",
			 d->name, tls[0] ? tls : "no connection or no answer");
		fetch_end(d);
		return;
	}
	int code = evhttp_request_get_response_code(req);
	const char *ctype =
		evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (code != 200) {
		/* Redirects are not followed (RFC 8461 3.3). */
		snprintf(d->why, sizeof(d->why),
			 "the policy fetch from mta-sts.%s answered HTTP %d, not 200", d->name,
			 code);
	} else if (!ctype || strncasecmp(ctype, "text/plain", 10) != 0) {
		snprintf(d->why, sizeof(d->why),
			 "the policy from mta-sts.%s is not text/plain (Content-Type: %.60s)",
			 d->name, ctype ? ctype : "none");
	} else if (len > STS_BODY_MAX) {
		snprintf(d->why, sizeof(d->why), "the policy from mta-sts.%s is over %d bytes",
			 d->name, STS_BODY_MAX);
	} else {
		char *body = malloc(len + 1);
		if (!body)
			fatal("out of memory");
		evbuffer_remove(in, body, len);
		body[len] = '\0';
		time_t now = time(NULL);
		struct sts_policy *p = policy_new(d->name, d->id, now, body, len, why, sizeof(why));
		if (!p) {
			snprintf(d->why, sizeof(d->why), "mta-sts.%s: %s", d->name, why);
		} else {
			if (s_dir) {
				save_policy(d->name, d->id, now, body, len);
				body = NULL; /* the save job has it */
			}
			log_info("MTA-STS: %s: policy id %s fetched: mode %s, max_age %lu, %zu mx",
				 d->name, p->id, mtasts_strmode(p->p.mode), p->p.max_age, p->p.nmx);
			sts_unref(d->policy);
			d->policy = p;
		}
		free(body);
	}
	fetch_end(d);
}

/* The TLS an enforced policy and the fetch demand: verify against
 * tls_ca_file, TLSv1.2 or later, the name connected to. One per distinct
 * tls_ca_file (a reload may change it), never freed: contexts are made
 * from it by address. */
const struct conf_tls_policy *
sts_tls_policy(bool enforce)
{
	static struct pol {
		struct conf_tls_policy p;
		struct pol *next;
	} * pols;
	const char *ca = relayd_conf ? relayd_conf->tls_ca_file : NULL;
	enum conf_tls_level level = enforce ? TLS_LEVEL_VERIFY : TLS_LEVEL_MAY;
	for (struct pol *x = pols; x; x = x->next)
		if (x->p.level == level && (x->p.ca_file == NULL) == (ca == NULL) &&
		    (ca == NULL || strcmp(x->p.ca_file, ca) == 0))
			return &x->p;
	struct pol *x = calloc(1, sizeof(*x));
	if (!x || !(x->p.name = strdup(enforce ? "mta-sts" : "mta-sts-testing")) ||
	    (ca && !(x->p.ca_file = strdup(ca))))
		fatal("out of memory");
	x->p.level = level;
	x->p.min_version = CONF_TLSV12;
	x->next = pols;
	pols = x;
	return &x->p;
}

static struct tls_ctx *
fetch_ctx(char *why, size_t len)
{
	static struct {
		const struct conf_tls_policy *p;
		struct tls_ctx *ctx;
	} cache[8];
	const struct conf_tls_policy *p = sts_tls_policy(true);
	size_t i;
	for (i = 0; i < 8 && cache[i].p; i++)
		if (cache[i].p == p)
			return cache[i].ctx;
	char *cause = NULL;
	struct tls_ctx *ctx = tls_init() == -1 ? NULL : tls_client_new(p, &cause);
	if (!ctx) {
		snprintf(why, len, "tls_ca_file: %s", cause ? cause : "TLS unavailable");
		return NULL;
	}
	if (i < 8) {
		cache[i].p = p;
		cache[i].ctx = ctx;
	}
	return ctx;
}

static void
fetch_addrs(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n)
{
	struct sts_domain *d = arg;
	char host[300], ip[INET6_ADDRSTRLEN];

	d->dq = NULL;
	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	if (st != DNS_OK || n == 0) {
		snprintf(d->why, sizeof(d->why), "cannot find the address of %s: %s", host,
			 dns_strstatus(st));
		fetch_end(d);
		return;
	}
	if (getnameinfo((const struct sockaddr *)&addrs[0].ss, addrs[0].len, ip, sizeof(ip), NULL,
			0, NI_NUMERICHOST) != 0) {
		snprintf(d->why, sizeof(d->why), "cannot use the address of %s", host);
		fetch_end(d);
		return;
	}
	struct tls_ctx *ctx = fetch_ctx(d->why, sizeof(d->why));
	if (!ctx) {
		fetch_end(d);
		return;
	}
	d->bev = tls_bev_client_socket(s_base, ctx, sts_tls_policy(true), host);
	d->conn = d->bev ? evhttp_connection_base_bufferevent_new(s_base, NULL, d->bev, ip, 443)
			 : NULL;
	struct evhttp_request *req = d->conn ? evhttp_request_new(fetch_done, d) : NULL;
	d->http_error = 0;
	if (req)
		evhttp_request_set_error_cb(req, fetch_error);
	if (!req) {
		if (!d->conn && d->bev)
			bufferevent_free(d->bev);
		d->bev = NULL;
		snprintf(d->why, sizeof(d->why), "cannot fetch from %s: out of memory", host);
		fetch_end(d);
		return;
	}
	evhttp_connection_set_max_body_size(d->conn, STS_BODY_MAX);
	evhttp_connection_set_retries(d->conn, 0);
	evhttp_connection_set_timeout(d->conn, STS_FETCH_TIMEOUT);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "User-Agent", "relayd/" RELAYD_VERSION);
	evhttp_add_header(h, "Connection", "close");
	d->deadline = evtimer_new(s_base, fetch_timeout, d);
	if (!d->deadline)
		fatal("out of memory");
	struct timeval tv = {STS_FETCH_TIMEOUT, 0};
	evtimer_add(d->deadline, &tv);
	if (evhttp_make_request(d->conn, req, EVHTTP_REQ_GET, "/.well-known/mta-sts.txt") == -1) {
		snprintf(d->why, sizeof(d->why), "cannot fetch from %s", host);
		fetch_end(d);
	}
}

/* ---- the TXT record ---------------------------------------------------- */

static void
txt_done(void *arg, const struct dns_rrset *rs)
{
	struct sts_domain *d = arg;
	char id[MTASTS_ID_MAX + 1];
	size_t lens[64];

	d->dq = NULL;
	if (rs->st == DNS_TEMPFAIL) {
		snprintf(d->why, sizeof(d->why), "the TXT lookup of _mta-sts.%s failed: %s",
			 d->name, dns_strstatus(rs->st));
		answer_all(d);
		return;
	}
	size_t n = rs->st == DNS_OK ? rs->n : 0;
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(rs->rr[i]);
	int found = n ? mtasts_txt_select(rs->rr, lens, n, id, sizeof(id)) : 0;
	if (found != 1) {
		/* None, or not one valid: a policy held still applies. */
		if (found == -1)
			snprintf(d->why, sizeof(d->why), "_mta-sts.%s has an invalid record",
				 d->name);
		answer_all(d);
		return;
	}
	if (d->policy && strcmp(d->policy->id, id) == 0 && d->policy->expires > time(NULL)) {
		answer_all(d);
		return;
	}
	if (strcmp(d->failed_id, id) == 0 && time(NULL) - d->failed_at < STS_RETRY) {
		snprintf(d->why, sizeof(d->why),
			 "the last fetch of the policy id %s failed less than %ds ago", id,
			 STS_RETRY);
		answer_all(d);
		return;
	}
	/* A new policy (or none held, or an expired one): fetch it. */
	snprintf(d->id, sizeof(d->id), "%s", id);
	char host[300];
	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	d->dq = dns_addrs(host, 443, fetch_addrs, d);
}

/* ---- the API ------------------------------------------------------------ */

static void
cache_one(void *arg, const char *domain, const char *id, time_t fetched, const char *body,
	  size_t len)
{
	char why[300];
	struct sts_policy *p = policy_new(domain, id, fetched, body, len, why, sizeof(why));
	if (!p) {
		log_warn("MTA-STS: the cached policy of %s is dropped: %s", domain, why);
		return;
	}
	struct sts_domain *d = domain_get(domain, true);
	sts_unref(d->policy);
	d->policy = p;
}

static void
cache_warn(void *arg, const char *msg)
{
	log_warn("MTA-STS cache: %s", msg);
}

void
sts_init(struct event_base *base, const struct conf *c)
{
	s_base = base;
	free(s_dir);
	if (asprintf(&s_dir, "%s/mta-sts", c->spool) == -1)
		fatal("out of memory");
	int n = sts_cache_load(s_dir, cache_one, NULL, cache_warn, NULL);
	if (n > 0)
		log_info("MTA-STS: %d cached polic%s loaded", n, n == 1 ? "y" : "ies");
	else if (n == -1)
		log_warn("MTA-STS: cannot read the cache %s", s_dir);
}

void
sts_shutdown(void)
{
	for (size_t h = 0; h < STS_BUCKETS; h++)
		while (s_domains[h]) {
			struct sts_domain *d = s_domains[h];
			s_domains[h] = d->next;
			dns_cancel(d->dq);
			fetch_free(d);
			while (d->waiting) {
				struct sts_query *q = d->waiting;
				d->waiting = q->next;
				free(q);
			}
			sts_unref(d->policy);
			free(d);
		}
	free(s_dir);
	s_dir = NULL;
}

bool
sts_fresh(const char *domain, struct sts_policy **p)
{
	struct sts_domain *d = domain_get(domain, false);
	time_t now = time(NULL);

	if (!d || d->busy || !d->checked || now - d->checked >= STS_FRESH || now < d->checked)
		return false;
	*p = sts_ref(d->policy && d->policy->expires > now ? d->policy : NULL);
	return true;
}

struct sts_query *
sts_get(const char *domain, sts_cb cb, void *arg)
{
	struct sts_domain *d = domain_get(domain, true);
	struct sts_query *q = calloc(1, sizeof(*q));

	if (!q)
		fatal("out of memory");
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->next = d->waiting;
	d->waiting = q;
	if (d->busy)
		return q;
	d->busy = true;
	d->why[0] = '\0';
	char name[300];
	snprintf(name, sizeof(name), "_mta-sts.%s", d->name);
	/* dns_lookup() answers from the loop, never from inside. */
	d->dq = dns_lookup(name, DNS_RR_TXT, txt_done, d);
	return q;
}

void
sts_cancel(struct sts_query *q)
{
	if (!q)
		return;
	for (struct sts_query **pp = &q->d->waiting; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			free(q);
			return;
		}
}
