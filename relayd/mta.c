/*
 * mta.c — outbound delivery: destinations, connections, host failover.
 *
 * mta_init(), mta_submit(), mta_shutdown(), mta_sessions(),
 * mta_detour_active(), mta_detours(), mta_dest_state(), mta_resume(),
 * mta_flush(), mta_known_transport()
 *
 * A destination (transport + relay list, or transport + domain for MX
 * delivery) has a FIFO of jobs and at most max_connections connections.
 * A connection is opened for the job that needed it and walks the hosts
 * (relays in order; each host's addresses in order) until one takes the
 * transaction; connect failures, timeouts, lost connections, bad
 * greetings and 421s move to the next address. When none is left the
 * job's recipients get the most informative outcome seen (dlv_rank()).
 * After a transaction the connection takes the destination's next job
 * (up to max_messages_per_connection), or idles a few seconds for one.
 *
 * Timeouts are deadlines, not idle timers: each reply must be complete
 * within command_timeout of its command (the greeting of the connection,
 * a TLS handshake of its start), and the whole DATA phase, from 354 to the
 * reply to the end of data, within data_timeout; a server that trickles a
 * byte at a time gains nothing (conn_watch()).
 *
 * Invariants: a connection is never freed inside a client hook: hooks set
 * flags and the libevent callback that called client_input() acts on them
 * afterwards. Every job ends with one ops->result() per recipient and one
 * ops->done() (job.h); this file never calls the queue. The client learns that its commands and the body are on
 * the wire (client_flushed()) only when the bufferevent's output is empty,
 * so a reply that comes earlier answers nothing that was sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/value.h"
#include "relayd/cluster.h"
#include "relayd/dest.h"
#include "relayd/dlv.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/outq.h"
#include "relayd/stats.h"
#include "relayd/relayd.h"
#include "relayd/site.h"
#include "relayd/sts.h"
#include "relayd/tlsreport.h"
#include "relayd/warmup.h"
#include "smtp/classify.h"
#include "smtp/cmd.h"
#include "smtp/client.h"
#include "tls/tls.h"

#define MTA_IDLE_SECONDS 5   /* keep an idle connection for the next job */
#define FLEET_IDLE_SECONDS 1 /* ... one that holds a fleet's lease */
#define MTA_QUIT_SECONDS 5   /* wait for the reply to QUIT */

struct mta_conn {
	struct dest *d;
	const struct conf_transport *t;
	unsigned long lease; /* a cluster: its fleet-wide connection lease, 0: none */
	struct job *job;
	bool job_started;
	/* MX delivery: the domain whose MX hosts it connects to (of its
	 * first job: every domain of a site has the same ones) */
	char domain[256];

	/* hosts: relay list (or the domain's MX hosts), then each host's
	 * addresses */
	size_t host_i;
	bool mx_known;	  /* MX lookup done (MX delivery) */
	bool implicit_mx; /* no MX records: the domain itself (RFC 5321 5.1) */
	struct dns_mx mx[32];
	size_t nmx;
	char host[256];
	int port;
	struct dns_query *dq;
	struct dns_addr addrs[32];
	size_t naddrs, addr_i;
	char ip[64];
	char relay[400]; /* "HOST[IP]:PORT" */

	struct bufferevent *bev;
	struct client *cl;
	struct event *timer;
	/* The deadline of the reply (or DATA phase, or handshake) awaited. */
	struct event *deadline;
	bool dl_armed, dl_data;
	unsigned long dl_replies; /* cl->nreplies when it was armed */
	struct dlv best;
	bool have_best;
	unsigned nmsgs;
	bool idle, quitting;
	bool failed;	 /* set by the fail hook */
	bool backed_off; /* this job's failure backed the destination off */
	bool fail_temp;
	struct reply fail_reply;
	bool no_tls;	    /* "may": the handshake failed, this address in plaintext */
	bool handshake;	    /* TLS handshake in progress */
	bool starttls_req;  /* the client asked for the handshake */
	char tls_proto[32]; /* "none" or "TLSv1.3" */
	bool tls_on;	    /* the bufferevent is a TLS one */
	/* Commands (and the body) of one round, sent with one writev or
	 * sendfile when the socket is plain: no write event per command. */
	struct evbuffer *outq;
	char pass[256]; /* auth_password_file's first line */
	/* DANE (tls_policy dane, dane-only): the host's usable TLSA records
	 * (data malloc'd) from a validated answer; DANE authenticates TLS. */
	bool dane;
	struct tls_tlsa tlsa[32];
	size_t ntlsa;
	/* MTA-STS (MX delivery, mta_sts): the policies of every recipient
	 * domain this connection serves (a site's connection serves several),
	 * looked up before the first host is chosen and before a job of a new
	 * domain reuses it. STS_ENFORCE: some policy is enforced on the
	 * current host (a verified TLS); STS_TESTING: some is in testing;
	 * STS_TLS_OK: its TLS was verified as an enforced policy demands. */
	struct sts_entry **stse;
	size_t nstse, sts_pending;
	bool sts_known, sts_enforce, sts_testing, sts_tls_ok, reuse_wait;
	struct mta_conn *next_idle;
	struct mta_conn *next, *prev; /* all connections */
};

static struct event_base *m_base;
static bool m_stopping;
static void (*m_release)(const char *transport, const char *domain);
static struct mta_conn *m_conns;
static size_t m_nconns;

static void conn_next_host(struct mta_conn *mc);
static void conn_resolve(struct mta_conn *mc, bool literal);
struct sts_entry {
	struct mta_conn *mc;
	char domain[256];
	struct sts_policy *p; /* NULL: none (or not known yet) */
	struct sts_query *q;
};
static void sts_entry_done(void *arg, struct sts_policy *p, const char *why);
static void conn_reuse(struct mta_conn *mc, struct job *j);
static bool sts_collect(struct mta_conn *mc, const struct job *j);
static void conn_new(struct dest *d, struct job *j);
static void start_job(struct mta_conn *mc);
static void dane_refuse(struct mta_conn *mc, const char *why);
static void tlsa_done(void *arg, const struct dns_tlsa_answer *a);
static void conn_flush(struct mta_conn *mc);
static void conn_watch(struct mta_conn *mc);
static bool conn_stale(const struct mta_conn *mc);
static void mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n);
static void conn_connect(struct mta_conn *mc);
static void conn_free(struct mta_conn *mc);
static void dest_pump(struct dest *d);
static double mono(void);
static bool dest_token(struct dest *d);
static void fleet_answer(const char *tname, const char *key, long wait_ms);
static bool fleet_conn(struct dest *d);
#define FLEET_LEASE_RETRY 0.2 /* s: the fleet's connections are all taken, ask again */
static int literal_addr(const char *host, int port, struct dns_addr *a);

/* The DNSSEC probe (mta_dnssec_probe()): what it asked, the query. */
static struct dns_query *m_probe;
static char m_probe_name[256];

static void
probe_done(void *arg, const struct dns_tlsa_answer *a)
{
	const char *name = m_probe_name;

	m_probe = NULL;
	if (a->st == DNS_TEMPFAIL)
		log_warn("DNSSEC probe: dns_servers gave no answer for the TLSA lookup of %s (%s): "
			 "DANE lookups may fail the same way and defer mail",
			 name, a->why ? a->why : "temporary DNS failure");
	else if (!a->secure)
		log_warn(
			"DNSSEC probe: dns_servers do not validate DNSSEC (no AD bit in the answer "
			"for %s): tls_policy dane acts as may and dane-only skips every host; "
			"point "
			"dns_servers at a validating resolver such as unbound",
			name);
	else
		log_info("DNSSEC probe: dns_servers validate DNSSEC (%s)", name);
}

/* At start and reload: when a transport uses DANE, ask dns_servers for
 * C's dnssec_probe and warn unless the answer is validated (the AD bit),
 * as Postfix's dnssec_probe does. */
void
mta_dnssec_probe(const struct conf *c)
{
	bool dane = false;
	for (size_t i = 0; i < c->ntransport; i++)
		dane |= c->transport[i].tls->level == TLS_LEVEL_DANE ||
			c->transport[i].tls->level == TLS_LEVEL_DANE_ONLY;
	if (!dane || !c->dnssec_probe || !*c->dnssec_probe || m_probe)
		return;
	snprintf(m_probe_name, sizeof(m_probe_name), "%s", c->dnssec_probe);
	m_probe = dns_tlsa_name(m_probe_name, probe_done, NULL);
}

/* Does T's policy ask for DANE. */
static bool
dane_policy(const struct conf_transport *t)
{
	return t->tls->level == TLS_LEVEL_DANE || t->tls->level == TLS_LEVEL_DANE_ONLY;
}

/* The TLS policy of the current host: DANE with usable records wins,
 * then an enforced MTA-STS policy (RFC 8461 2), then the transport's. */
static const struct conf_tls_policy *
conn_policy(const struct mta_conn *mc)
{
	if (mc->sts_enforce && !mc->dane)
		return sts_tls_policy(true);
	if (mc->sts_testing && !mc->dane && mc->t->tls->level == TLS_LEVEL_MAY)
		return sts_tls_policy(false); /* testing: may, and the CAs to tell */
	return mc->t->tls;
}

/* "tls_policy=NAME": the policy that decides TLS on the current host, for
 * the reasons of deferrals it causes (DANE with its records, an enforced
 * MTA-STS policy with its domain and id, else the transport's). */
static void
policy_label(const struct mta_conn *mc, char *buf, size_t len)
{
	if (mc->dane)
		snprintf(buf, len, "tls_policy=%s (DANE, %zu TLSA record%s)", mc->t->tls->name,
			 mc->ntlsa, mc->ntlsa == 1 ? "" : "s");
	else if (mc->sts_enforce) {
		const struct sts_policy *p = NULL;
		for (size_t i = 0; i < mc->nstse && !p; i++)
			if (mc->stse[i]->p && mc->stse[i]->p->p.mode == MTASTS_ENFORCE)
				p = mc->stse[i]->p;
		snprintf(buf, len, "tls_policy=mta-sts (%s, id %s)", p ? p->domain : "?",
			 p ? p->id : "?");
	} else
		snprintf(buf, len, "tls_policy=%s", mc->t->tls->name);
}

/* Does TLS-RPT count what happens on MC: reporting is on, and the job is
 * not a report (the reports' own sessions are never reported on). */
static bool
reporting(const struct mta_conn *mc)
{
	if (!tlsreport_on())
		return false;
	return !(mc->job && relayd_conf &&
		 strncmp(mc->job->sender, TLSREPORT_SENDER "@", sizeof(TLSREPORT_SENDER)) == 0 &&
		 strcasecmp(mc->job->sender + sizeof(TLSREPORT_SENDER), relayd_conf->hostname) ==
			 0);
}

/* TLS-RPT: a session under the policies of this connection's domains
 * went well (OK: it verified as each demands) or failed (WHY). */
static void
report_tls(const struct mta_conn *mc, bool ok, const char *why)
{
	if (!reporting(mc))
		return;
	if (mc->dane) {
		tlsreport_tlsa(mc->domain, mc->tlsa, mc->ntlsa);
		if (ok)
			tlsreport_success(mc->domain, TLSRPT_TLSA);
		else
			tlsreport_failure(mc->domain, TLSRPT_TLSA,
					  strstr(why, "not offered") ? TLSRPT_STARTTLS_NOT_SUPPORTED
								     : TLSRPT_VALIDATION_FAILURE,
					  mc->host, mc->ip);
		return;
	}
	for (size_t i = 0; i < mc->nstse; i++) {
		const struct sts_policy *p = mc->stse[i]->p;
		if (!p || p->p.mode == MTASTS_NONE || !mtasts_policy_allows(&p->p, mc->host))
			continue;
		tlsreport_sts(p);
		if (ok)
			tlsreport_success(p->domain, TLSRPT_STS);
		else
			tlsreport_failure(p->domain, TLSRPT_STS, tlsreport_classify(why), mc->host,
					  mc->ip);
	}
}

/* Is TLS on this connection opportunistic: may, or dane without usable
 * TLSA records (RFC 7672 2.2: as may). */
static bool
tls_opportunistic(const struct mta_conn *mc)
{
	const struct conf_tls_policy *p = conn_policy(mc);
	return p->level == TLS_LEVEL_MAY ||
	       ((p->level == TLS_LEVEL_DANE || p->level == TLS_LEVEL_DANE_ONLY) && !mc->dane);
}

static void
dane_clear(struct mta_conn *mc)
{
	for (size_t i = 0; i < mc->ntlsa; i++)
		free((void *)mc->tlsa[i].data);
	mc->ntlsa = 0;
	mc->dane = false;
}

/* ---- jobs ------------------------------------------------------------ */

/* Recipient I of J had outcome D. */
static void
job_result(struct job *j, size_t i, const struct dlv *d)
{
	if (j->dest)
		dest_tally(j->dest, (int)d->kind, d->code, d->status, d->text, time(NULL));
	j->ops->result(j->owner, j->idx[i], j->transport->name, d);
}

/* The job is over: every recipient had its result. */
static void
job_done(struct job *j)
{
	j->ops->done(j->owner);
	job_free(j);
}

/* Every recipient of J gets D; the job is over. */
static void
job_finish(struct job *j, const struct dlv *d)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		job_result(j, i, d);
	job_done(j);
}

static struct job *
dest_take(struct dest *d)
{
	struct job *j = d->head;
	if (j) {
		d->head = j->next;
		if (!d->head)
			d->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* A reputation block from D: hold its mail on the fallback for a while,
 * logged once per hold. */
static void
dest_hold(struct dest *d, const struct dlv *why)
{
	const struct conf_transport *t = dest_transport(d);
	time_t now = time(NULL);
	struct classification cl;

	if (!t || !t->fallback)
		return;
	if (d->detour_until <= now) {
		classify(why->code, why->status, why->text, &cl);
		log_smtp(LOG_INFO,
			 "%s: destination %s rejects the sending IP (%s); its mail goes through "
			 "transport %s for %us",
			 t->name, dest_name(d), cl.label ? cl.label : "blocked", t->fallback->name,
			 t->fallback_hold);
	}
	bool fresh = d->detour_until <= now;
	d->detour_until = now + (time_t)t->fallback_hold;
	dest_set_why(&d->detour_why, why->text);
	if (fresh) /* the fleet holds it too, without a rejection each */
		cluster_tell("detour", d->tname, d->key, d->detour_until, 0, why->text);
}

/* The destination of transport T for a recipient in DOMAIN: the domain
 * (or its site: site.h) for MX delivery, "" (one for the relay list)
 * otherwise. Valid until the next call. */
static const char *
dest_key(const struct conf_transport *t, const char *domain, bool *site)
{
	static char buf[SITE_KEY_MAX];
	return site_key(t, domain, buf, sizeof(buf), site);
}

/* Is T's destination for DOMAIN on its fallback now. */
bool
mta_detour_active(const struct conf_transport *t, const char *domain, time_t *until)
{
	struct dest *d = dest_find(t->name, dest_key(t, domain, NULL));
	if (!d || d->detour_until <= time(NULL))
		return false;
	if (until)
		*until = d->detour_until;
	return true;
}

struct count_arg {
	time_t now;
	size_t n;
};

static void
count_detour(void *arg, struct dest *d)
{
	struct count_arg *a = arg;
	if (d->detour_until > a->now && dest_transport(d) != NULL)
		a->n++;
}

/* Destinations on hold now (of transports that still exist). */
size_t
mta_detours(void)
{
	struct count_arg a = {time(NULL), 0};
	dest_foreach(count_detour, &a);
	return a.n;
}

/* What is in force for T's destination for DOMAIN (see mta.h). */
bool
mta_dest_state(const struct conf_transport *t, const char *domain, struct mta_state *st)
{
	struct dest *d = dest_find(t->name, dest_key(t, domain, NULL));
	time_t now = time(NULL);
	double m = mono();

	memset(st, 0, sizeof(*st));
	if (!d)
		return false;
	st->name = dest_name(d);
	st->detour_until = d->detour_until > now ? d->detour_until : 0;
	st->backoff = d->backoff;
	st->cur_max = d->cur_max;
	st->max = dest_transport(d) ? dest_transport(d)->max_connections : d->cur_max;
	st->paused_for = d->paused_until > m ? d->paused_until - m : 0;
	st->down_until = d->down_until > now ? d->down_until : 0;
	if (st->down_until)
		snprintf(st->down_why, sizeof(st->down_why), "%s", d->down_why.text);
	for (const struct job *j = d->head; j; j = j->next)
		st->jobs++;
	st->conns = d->nconn;
	return true;
}

/* End what is in force for D; what was ended goes into *ST (all zero when
 * nothing was). DOWN_ONLY: only a down pause (relayctl flush). */
static bool
dest_resume(struct dest *d, bool down_only, struct mta_state *st)
{
	time_t now = time(NULL);
	double m = mono();
	const struct conf_transport *t = dest_transport(d);

	memset(st, 0, sizeof(*st));
	st->name = dest_name(d);
	if (d->down_until > now) {
		st->down_until = d->down_until;
		snprintf(st->down_why, sizeof(st->down_why), "%s", d->down_why.text);
	}
	d->down_until = 0;
	if (!down_only) {
		if (d->detour_until > now)
			st->detour_until = d->detour_until;
		d->detour_until = 0;
		st->backoff = d->backoff;
		st->cur_max = d->cur_max;
		st->max = t ? t->max_connections : d->cur_max;
		st->paused_for = d->paused_until > m ? d->paused_until - m : 0;
		d->backoff = 0;
		d->paused_until = 0;
		if (t)
			d->cur_max = t->max_connections;
	}
	bool ended = st->down_until || st->detour_until || st->backoff || st->paused_for > 0;
	if (ended && !down_only && d->deferred_some) {
		/* The operator says it works: what waited for it need not wait
		 * for its retry time (as when it delivers again). A flush makes
		 * due what it flushes, and nothing else. */
		d->deferred_some = false;
		if (m_release)
			m_release(d->tname, d->key[0] ? d->key : NULL);
	}
	return ended;
}

/* "detour, back-off, down pause": what ST says was ended. */
static void
state_ended(const struct mta_state *st, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", st->detour_until ? "detour" : "",
		 st->detour_until && (st->backoff || st->paused_for > 0 || st->down_until) ? ", "
											   : "",
		 st->backoff || st->paused_for > 0 ? "back-off" : "",
		 (st->backoff || st->paused_for > 0) && st->down_until ? ", " : "",
		 st->down_until ? "down pause" : "");
}

struct resume_arg {
	const char *tname, *key; /* key NULL: every destination of TNAME */
	struct dest **found;
	size_t n, cap;
};

static void
resume_collect(void *arg, struct dest *d)
{
	struct resume_arg *a = arg;
	if ((a->tname && strcmp(d->tname, a->tname) != 0) ||
	    (a->key && strcasecmp(d->key, a->key) != 0))
		return;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		struct dest **f = realloc(a->found, a->cap * sizeof(*f));
		if (!f)
			fatal("out of memory");
		a->found = f;
	}
	a->found[a->n++] = d;
}

static int
resume_order(const void *x, const void *y)
{
	const struct dest *a = *(struct dest *const *)x, *b = *(struct dest *const *)y;
	int c = strcmp(a->tname, b->tname);
	return c ? c : strcmp(a->key, b->key);
}

/* End what is in force for the destinations TNAME (NULL: every transport)
 * and KEY (NULL: all) select; CB (may be NULL) gets each one that had
 * something ended. The destinations are collected first: pumping one may
 * not change the set being walked. */
static size_t
mta_end(const char *tname, const char *key, bool down_only,
	void (*cb)(void *, const struct mta_state *), void *arg)
{
	struct resume_arg a = {.tname = tname, .key = key};
	size_t n = 0;

	dest_foreach(resume_collect, &a);
	if (a.n > 1)
		qsort(a.found, a.n, sizeof(*a.found), resume_order);
	for (size_t i = 0; i < a.n; i++) {
		struct mta_state st;
		if (!dest_resume(a.found[i], down_only, &st))
			continue;
		n++;
		char what[64];
		state_ended(&st, what, sizeof(what));
		log_info("%s: destination %s: %s ended by relayctl %s", a.found[i]->tname, st.name,
			 what, down_only ? "flush" : "resume");
		if (cb)
			cb(arg, &st);
		dest_pump(a.found[i]);
	}
	free(a.found);
	return n;
}

/* relayctl resume: see mta.h. */
size_t
mta_resume(const char *tname, const char *dest, void (*cb)(void *, const struct mta_state *),
	   void *arg)
{
	const char *key =
		dest && (strcmp(dest, "relay") == 0 || strcmp(dest, "(relay)") == 0) ? "" : dest;
	const struct conf_transport *t =
		relayd_conf && tname ? conf_transport_find(relayd_conf, tname) : NULL;
	if (key && key[0] && t)
		key = dest_key(t, key, NULL); /* a domain of a site: the site */
	return mta_end(tname, key, false, cb, arg);
}

/* relayctl flush: see mta.h. */
void
mta_flush(const char *tname, const char *domain)
{
	if (!tname) {
		mta_end(NULL, NULL, true, NULL, NULL);
		return;
	}
	const struct conf_transport *t =
		relayd_conf ? conf_transport_find(relayd_conf, tname) : NULL;
	if (t)
		mta_end(tname, dest_key(t, domain, NULL), true, NULL, NULL);
}

/* Is there a destination of transport TNAME. */
bool
mta_known_transport(const char *tname)
{
	struct resume_arg a = {.tname = tname};
	dest_foreach(resume_collect, &a);
	free(a.found);
	return a.n > 0;
}

/* ---- destination shaping ------------------------------------------------ */

static double
mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The unit of patience: the first retry delay, at most 10 seconds. */
static unsigned
pause_unit(void)
{
	const struct conf_queue *q = &relayd_conf->queue;
	unsigned u = q->nretry ? q->retry[0] : 10;
	return u < 1 ? 1 : u > 10 ? 10 : u;
}

static void dest_arm(struct dest *d, double seconds);

static void
dest_wake(evutil_socket_t fd, short what, void *arg)
{
	struct dest *d = arg;
	dest_pump(d);
	if (d->lease_ready && !d->head) { /* nothing left to open it for */
		cluster_lease_release(d->lease_ready);
		d->lease_ready = 0;
	}
	/* The top of a callback: nothing else holds D. An idle destination
	 * is forgotten once what was learnt about it expires. */
	if (m_stopping || !dest_idle(d) || dest_maybe_free(d, time(NULL), mono()))
		return;
	dest_arm(d, dest_keep_for(d, time(NULL), mono()) + 1);
}

static void
dest_arm(struct dest *d, double seconds)
{
	if (!d->timer && !(d->timer = evtimer_new(m_base, dest_wake, d)))
		fatal("out of memory");
	struct timeval tv = {(time_t)seconds,
			     (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
	evtimer_add(d->timer, &tv);
}

/* "Too many connections", a 421 or a rate-limit reply: halve the
 * destination's concurrency and pause it, longer each time. */
static void
dest_backoff(struct dest *d, const struct dlv *why)
{
	unsigned old = d->cur_max;
	if (d->backoff < 8)
		d->backoff++;
	if (d->cur_max > 1)
		d->cur_max /= 2;
	unsigned pause = pause_unit() << (d->backoff - 1);
	if (pause > 600)
		pause = 600;
	d->paused_until = mono() + pause;
	dest_set_why(&d->backoff_why, why->text);
	cluster_tell("backoff", d->tname, d->key, time(NULL) + (time_t)pause, d->backoff,
		     why->text);
	log_smtp(LOG_INFO,
		 "%s: destination %s is throttling (%s); concurrency %u -> %u, paused for %us",
		 d->tname, dest_name(d), why->text, old, d->cur_max, pause);
}

static void
dest_recovered(struct dest *d)
{
	if (d->backoff) {
		const struct conf_transport *t = dest_transport(d);
		d->backoff = 0;
		if (t)
			d->cur_max = t->max_connections;
		log_smtp(LOG_INFO, "%s: destination %s recovered; concurrency back to %u", d->tname,
			 dest_name(d), d->cur_max);
	}
	d->down_until = 0;
	if (d->deferred_some) {
		/* It works again: what waits for it need not wait out its
		 * back-off. */
		d->deferred_some = false;
		if (m_release)
			m_release(d->tname, d->key[0] ? d->key : NULL);
	}
}

/* No host of D could be reached: for a short while, further jobs are
 * deferred at once with the same reason instead of each timing out. */
static void
dest_down(struct dest *d, const struct dlv *why)
{
	bool fresh = d->down_until <= time(NULL);
	d->down_until = time(NULL) + pause_unit();
	d->down_why = *why;
	if (fresh)
		cluster_tell("down", d->tname, d->key, d->down_until, 0, why->text);
}

/* Act on verdict V for D (dlv_decide() made it); MAY_THROTTLE false when
 * the failure that led to it already backed the destination off (one 421,
 * one back-off). */
static void
dest_outcome(struct dest *d, const struct dlv_verdict *v, bool may_throttle)
{
	if (v->d.kind == DLV_OK) {
		dest_recovered(d);
		return;
	}
	if (v->waits)
		d->deferred_some = true;
	if (may_throttle && v->throttle)
		dest_backoff(d, &v->d);
}

/* ---- connection: failures and host walking --------------------------- */

static void
note_failure(struct mta_conn *mc, const struct dlv *d)
{
	if (!mc->have_best || dlv_rank(d) >= dlv_rank(&mc->best)) {
		mc->best = *d;
		mc->have_best = true;
	}
	log_smtp(LOG_DEBUG, "%s: %s", mc->t->name, d->text);
}

static void
conn_drop_socket(struct mta_conn *mc)
{
	if (mc->bev)
		bufferevent_free(mc->bev);
	mc->bev = NULL;
	mc->handshake = false;
	mc->starttls_req = false;
	mc->tls_on = false;
	if (mc->outq)
		evbuffer_drain(mc->outq, evbuffer_get_length(mc->outq));
	snprintf(mc->tls_proto, sizeof(mc->tls_proto), "none");
	client_free(mc->cl);
	mc->cl = NULL;
	if (mc->timer)
		evtimer_del(mc->timer);
	if (mc->deadline)
		evtimer_del(mc->deadline);
	mc->dl_armed = mc->dl_data = false;
}

/* A reused connection that died before the server acknowledged anything
 * of the new transaction (it closed an idle connection, or the RSET
 * failed): a fresh connection to the same address, not a host failure. */
static bool
conn_stale(const struct mta_conn *mc)
{
	return mc->job && mc->nmsgs > 0 && mc->cl && mc->cl->acked == 0;
}

/* This address failed; try the next one (or the next host). */
static void
conn_next_addr(struct mta_conn *mc)
{
	bool stale = conn_stale(mc);
	conn_drop_socket(mc);
	if (!mc->job) {
		/* An idle or finishing connection: nothing to retry. */
		conn_free(mc);
		return;
	}
	mc->job_started = false;
	mc->no_tls = false;
	if (stale) {
		log_smtp(LOG_DEBUG, "%s: reused connection to %s was gone; reconnecting",
			 mc->t->name, mc->relay);
		mc->nmsgs = 0;
		mc->have_best = false;
		conn_connect(mc);
		return;
	}
	mc->addr_i++;
	conn_connect(mc);
}

static const char *
phase(const struct mta_conn *mc)
{
	if (!mc->cl)
		return "connecting";
	switch (mc->cl->state) {
	case CL_GREETING:
		return "receiving the initial server greeting";
	case CL_EHLO:
	case CL_HELO:
		return "performing the EHLO handshake";
	case CL_STARTTLS:
	case CL_TLS:
		return "starting TLS";
	case CL_AUTH:
		return "authenticating";
	case CL_RSET:
		return "sending RSET";
	case CL_TXN:
		if (mc->cl->acked == 0)
			return "sending MAIL FROM";
		if (mc->cl->acked <= mc->cl->msg.nrcpt)
			return "sending RCPT TO";
		return "sending DATA command";
	case CL_BODY:
	case CL_DOT:
		return "sending end of data -- message may be sent more than once";
	case CL_READY:
		return "idle";
	case CL_QUIT:
		return "sending QUIT";
	case CL_DEAD:
		break;
	}
	return "talking";
}

/* This address failed with event WHAT (REASON in words): dlv_decide()
 * says what it means; the next address or host is tried. */
static void
conn_failed(struct mta_conn *mc, enum dlv_what what, const char *reason)
{
	struct dlv_event ev = {.what = what, .relay = mc->relay, .reason = reason};
	struct dlv_verdict v;

	dlv_decide(&ev, &v);
	note_failure(mc, &v.d);
	conn_next_addr(mc);
}

/* The connection failed: FMT says how, with %s for the relay and %s for
 * the phase ("lost connection with %s while %s"). */
static void
conn_lost(struct mta_conn *mc, const char *fmt)
{
	char why[600];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(why, sizeof(why), fmt, mc->relay, phase(mc));
#pragma GCC diagnostic pop
	conn_failed(mc, DLV_W_LOST, why);
}

/* No host is left: the job gets the most informative outcome seen. */
static void
conn_exhausted(struct mta_conn *mc)
{
	struct job *j = mc->job;
	mc->job = NULL;
	if (j) {
		struct dlv_verdict v;
		dlv_exhausted(mc->have_best ? &mc->best : NULL, &v);
		if (v.down)
			dest_down(mc->d, &v.d);
		dest_outcome(mc->d, &v, !mc->backed_off);
		job_finish(j, &v.d);
	}
	conn_free(mc);
}

/* ---- TLS --------------------------------------------------------------- */

struct policy_ctx {
	const struct conf_tls_policy *p;
	struct tls_ctx *ctx;
	struct policy_ctx *next;
};

static struct policy_ctx *m_policies;

/* The client context of policy P, made once. */
static struct tls_ctx *
policy_ctx(const struct conf_tls_policy *p, char *why, size_t len)
{
	struct policy_ctx *pc;
	for (pc = m_policies; pc; pc = pc->next)
		if (pc->p == p)
			return pc->ctx;
	char *cause = NULL;
	struct tls_ctx *ctx = tls_init() == -1 ? NULL : tls_client_new(p, &cause);
	if (!ctx) {
		snprintf(why, len, "tls_policy %s: %s", p->name, cause ? cause : "TLS unavailable");
		return NULL;
	}
	/* Sessions are resumed per host and address, under this policy only. */
	if (tls_ctx_resume(ctx) == -1)
		fatal("out of memory");
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		fatal("out of memory");
	pc->p = p;
	pc->ctx = ctx;
	pc->next = m_policies;
	m_policies = pc;
	return ctx;
}

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static const struct client_hooks client_hooks;
static void conn_start_socket(struct mta_conn *mc);

/* Wrap the connection in TLS (SMTPS at connect, or after STARTTLS). */
static void
conn_start_tls(struct mta_conn *mc)
{
	char why[400];
	struct tls_ctx *ctx = policy_ctx(conn_policy(mc), why, sizeof(why));
	struct bufferevent *tb =
		!ctx ? NULL
		: mc->dane
			? tls_bev_client_dane(m_base, mc->bev, ctx, mc->host, mc->tlsa, mc->ntlsa)
			: tls_bev_client(m_base, mc->bev, ctx, conn_policy(mc), mc->host);
	if (!tb) {
		conn_failed(mc, DLV_W_TLS, ctx ? "cannot start TLS" : why);
		return;
	}
	mc->bev = tb;
	mc->handshake = true;
	mc->tls_on = true;
	/* The whole handshake within command_timeout; the next reply gets
	 * a deadline of its own once it is done. */
	struct timeval tv = {(time_t)mc->t->command_timeout, 0};
	evtimer_add(mc->deadline, &tv);
	mc->dl_armed = false;
	bufferevent_set_timeouts(tb, NULL, NULL);
	bufferevent_setcb(tb, conn_read, conn_write, conn_event, mc);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

static void
conn_new_client(struct mta_conn *mc)
{
	const struct conf_transport *t = mc->t;
	enum conf_tls_level lvl = conn_policy(mc)->level;
	bool may = tls_opportunistic(mc);
	struct client_opts o = {
		.tls = lvl == TLS_LEVEL_NONE || (may && mc->no_tls) ? CLIENT_TLS_NONE
		       : may					    ? CLIENT_TLS_MAY
								    : CLIENT_TLS_REQUIRE,
		.tls_active = t->smtps,
		.user = t->auth_user,
		.pass = mc->pass,
	};
	mc->cl = client_new(t->helo, &client_hooks, mc);
	if (!mc->cl)
		fatal("out of memory");
	client_configure(mc->cl, &o);
}

/* The handshake is done: say so in the log, then SMTP goes on. */
static void
conn_tls_up(struct mta_conn *mc)
{
	struct tls_info info;

	mc->handshake = false;
	tls_bev_info(mc->bev, &info);
	snprintf(mc->tls_proto, sizeof(mc->tls_proto), "%s", info.protocol);
	stats_count(STAT_TLS_OUT, mc->t->name, 1);
	if (info.resumed)
		stats_count(STAT_TLS_OUT_RESUMED, mc->t->name, 1);
	log_smtp(LOG_DEBUG, "%s: TLS with %s: %s, cipher %s, %s%s", mc->t->name, mc->relay,
		 info.protocol, info.cipher, info.verify, info.resumed ? ", resumed" : "");
	if (mc->sts_enforce && !mc->dane)
		mc->sts_tls_ok = true; /* the handshake verified, or it failed */
	report_tls(mc, info.verified, info.verify);
	for (size_t i = 0; i < mc->nstse && !mc->dane && !info.verified; i++) {
		const struct sts_policy *p = mc->stse[i]->p;
		if (p && p->p.mode == MTASTS_TESTING)
			log_smtp(LOG_INFO,
				 "%s: MTA-STS testing: %s would fail the policy of %s (id %s): %s; "
				 "delivered as tls_policy %s says",
				 mc->t->name, mc->relay, p->domain, p->id, info.verify,
				 mc->t->tls->name);
	}
	evtimer_del(mc->deadline);
	if (!mc->cl) {
		conn_new_client(mc); /* SMTPS: the greeting comes now */
		conn_watch(mc);
		return;
	}
	client_tls_done(mc->cl);
	conn_flush(mc);
}

static void
conn_tls_failed(struct mta_conn *mc, short what)
{
	char why[300], text[1200];

	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timeout");
	else
		tls_bev_error(mc->bev, why, sizeof(why));
	if (tls_opportunistic(mc) && !mc->t->smtps && !mc->no_tls) {
		/* "may" never loses mail over TLS trouble: once in plaintext. */
		log_smtp(LOG_INFO,
			 "%s: TLS handshake with %s failed (%s); trying once more without TLS",
			 mc->t->name, mc->relay, why);
		mc->no_tls = true;
		conn_drop_socket(mc);
		conn_start_socket(mc);
		return;
	}
	char label[400];
	policy_label(mc, label, sizeof(label));
	report_tls(mc, false, why);
	snprintf(text, sizeof(text), "TLS handshake with %s failed: %s (%s)", mc->relay, why,
		 label);
	conn_failed(mc, DLV_W_TLS, text);
}

/* ---- client hooks ----------------------------------------------------- */

static void
hook_write(void *arg, const char *buf, size_t len)
{
	struct mta_conn *mc = arg;
	if (mc->bev)
		evbuffer_add(mc->outq, buf, len);
}

/* Send what this round wrote: straight to a plain socket when nothing
 * else is pending (one writev, or sendfile for the body), the rest
 * through the bufferevent. */
static void
conn_flush(struct mta_conn *mc)
{
	outq_flush(mc->bev, mc->outq, !mc->tls_on && !mc->handshake);
	if (mc->cl && mc->bev && evbuffer_get_length(bufferevent_get_output(mc->bev)) == 0)
		client_flushed(mc->cl);
	conn_watch(mc);
}

/* The bufferevent's output ran dry: all that was written is on the wire. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct mta_conn *mc = arg;
	if (mc->cl && !mc->handshake && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_flushed(mc->cl);
}

/* A deadline passed: the reply, the DATA phase or the handshake took too
 * long, however many bytes trickled in meanwhile. */
static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct mta_conn *mc = arg;

	mc->dl_armed = false;
	if (mc->handshake) {
		conn_tls_failed(mc, BEV_EVENT_TIMEOUT);
		return;
	}
	conn_lost(mc, "conversation with %s timed out while %s");
}

static void
arm(struct event *ev, unsigned seconds)
{
	struct timeval tv = {(time_t)seconds, 0};
	evtimer_add(ev, &tv);
}

/* Keep the deadline in step with what the client waits for: a reply that
 * became due gets command_timeout from now; DATA gets data_timeout from
 * the 354 for all of it; nothing due, no deadline. */
static void
conn_watch(struct mta_conn *mc)
{
	if (!mc->cl || !mc->bev || mc->handshake || !mc->deadline)
		return;
	if (mc->cl->state == CL_BODY) {
		if (!mc->dl_data) {
			mc->dl_data = mc->dl_armed = true;
			arm(mc->deadline, mc->t->data_timeout);
		}
		return;
	}
	mc->dl_data = false;
	if (mc->cl->state == CL_QUIT || client_due(mc->cl) == 0) {
		/* Idle, quitting (timer) or dead: nothing to wait for. */
		evtimer_del(mc->deadline);
		mc->dl_armed = false;
		return;
	}
	if (!mc->dl_armed || mc->dl_replies != mc->cl->nreplies) {
		mc->dl_armed = true;
		mc->dl_replies = mc->cl->nreplies;
		arm(mc->deadline, mc->t->command_timeout);
	}
}

/* Read LEN bytes at OFF of FD into OUT and close FD; -1 when they cannot
 * all be read (OUT unchanged). */
static int
body_read(struct evbuffer *out, int fd, off_t off, off_t len)
{
	struct evbuffer_iovec v;
	size_t done = 0;

	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) < 1)
		return -1;
	while (done < (size_t)len) {
		ssize_t n =
			pread(fd, (char *)v.iov_base + done, (size_t)len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* nothing committed: the space is given back */
		done += (size_t)n;
	}
	v.iov_len = done;
	if (evbuffer_commit_space(out, &v, 1) == -1)
		return -1;
	close(fd);
	return 0;
}

/* The body goes out from the spool file: read into the output buffer when
 * small (a mapping costs an mmap, an munmap and the TLB shootdown across
 * cores that comes with it: 9 % of the loop while a backlog drained,
 * bench/README.md), mapped by libevent when large. */
#define BODY_READ_MAX (1024 * 1024)

static void
hook_body(void *arg)
{
	struct mta_conn *mc = arg;
	off_t off, len;
	int fd = mc->job->ops->body(mc->job->owner, &off, &len);

	if (fd == -1 || (len <= BODY_READ_MAX ? body_read(mc->outq, fd, off, len)
					      : evbuffer_add_file(mc->outq, fd, off, len)) == -1) {
		/* Never send a truncated body: drop the connection so the
		 * server discards the transaction. */
		if (fd != -1)
			close(fd);
		mc->failed = true;
		reply_reset(&mc->fail_reply);
		snprintf(mc->fail_reply.status, sizeof(mc->fail_reply.status), "4.3.0");
		snprintf(mc->fail_reply.line, sizeof(mc->fail_reply.line),
			 "cannot read the queued message file");
		return;
	}
}

static void
start_job(struct mta_conn *mc)
{
	struct job *j = mc->job;

	/* The client keeps these pointers until txn_done (the job lives
	 * until then). */
	struct client_msg cm = {
		.sender = j->sender,
		.rcpt = j->rcpt,
		.nrcpt = j->nrcpt,
		.size = j->size,
		.body = j->body,
		.smtputf8 = j->smtputf8,
	};
	mc->job_started = true;
	mc->backed_off = false;
	client_txn(mc->cl, &cm);
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mta_conn *mc = arg;

	if (mc->quitting) {
		conn_free(mc);
		return;
	}
	/* Idle long enough: leave politely. */
	struct dest *d = mc->d;
	struct mta_conn **pp;
	for (pp = &d->idle; *pp; pp = &(*pp)->next_idle)
		if (*pp == mc) {
			*pp = mc->next_idle;
			break;
		}
	mc->idle = false;
	mc->quitting = true;
	client_quit(mc->cl);
	conn_flush(mc);
	struct timeval tv = {MTA_QUIT_SECONDS, 0};
	evtimer_add(mc->timer, &tv);
}

static void
hook_ready(void *arg)
{
	struct mta_conn *mc = arg;
	struct dest *d = mc->d;

	if (mc->job && !mc->job_started) {
		if (!mc->reuse_wait) /* else the policies of its domains come first */
			start_job(mc);
		return;
	}
	if (mc->job)
		return;
	if (mc->nmsgs < mc->t->max_messages_per_connection && relayd_conf) {
		/* Reuse, within the rate and any pause; otherwise wait idle and
		 * let dest_pump() hand the job over when it may go. */
		if (d->head && d->paused_until <= mono() && d->down_until <= time(NULL) &&
		    dest_token(d)) {
			conn_reuse(mc, dest_take(d));
			return;
		}
		mc->idle = true;
		mc->next_idle = d->idle;
		d->idle = mc;
		/* In a fleet an idle connection holds one of the fleet's
		 * max_connections: given back sooner, so other nodes are not
		 * kept waiting by connections nobody uses. */
		struct timeval tv = {mc->lease ? FLEET_IDLE_SECONDS : MTA_IDLE_SECONDS, 0};
		evtimer_add(mc->timer, &tv);
		return;
	}
	mc->quitting = true;
	client_quit(mc->cl);
	struct timeval tv = {MTA_QUIT_SECONDS, 0};
	evtimer_add(mc->timer, &tv);
}

static void
hook_txn_done(void *arg, const struct reply *replies)
{
	struct mta_conn *mc = arg;
	struct job *j = mc->job;
	struct dlv_event ev = {.what = DLV_W_REPLY, .relay = mc->relay, .tls = mc->tls_proto};
	struct dlv_verdict v;

	mc->job = NULL;
	mc->job_started = false;
	mc->nmsgs++;
	mc->have_best = false;
	ev.can_detour = !j->detoured && j->transport->fallback;
	bool throttled = false;
	for (size_t i = 0; i < j->nrcpt; i++) {
		ev.reply = &replies[i];
		dlv_decide(&ev, &v);
		if (v.hold)
			dest_hold(mc->d, &v.d);
		/* One back-off per transaction, however many recipients. */
		unsigned before = mc->d->backoff;
		dest_outcome(mc->d, &v, !throttled);
		throttled |= mc->d->backoff > before;
		job_result(j, i, &v.d);
	}
	job_done(j);
}

static void
hook_fail(void *arg, const struct reply *r)
{
	struct mta_conn *mc = arg;
	mc->failed = true;
	mc->fail_temp = mc->cl && mc->cl->fail_temp;
	mc->fail_reply = *r;
	if (mc->fail_reply.status[0] == '4' && strcmp(mc->fail_reply.status, "4.7.8") == 0)
		log_smtp(LOG_ERR,
			 "%s: authentication to %s failed: %s -- check auth_user and "
			 "auth_password_file",
			 mc->t->name, mc->relay, r->line);
}

static void
hook_starttls(void *arg)
{
	struct mta_conn *mc = arg;
	mc->starttls_req = true;
}

/* -v: every protocol state change of every outbound connection. */
static void
hook_trace(void *arg, enum client_state from, enum client_state to)
{
	struct mta_conn *mc = arg;
	log_smtp(LOG_DEBUG, "%s: %s: %s -> %s", mc->t->name, mc->relay, client_strstate(from),
		 client_strstate(to));
}

static const struct client_hooks client_hooks = {
	.trace = hook_trace,
	.write = hook_write,
	.body = hook_body,
	.ready = hook_ready,
	.txn_done = hook_txn_done,
	.fail = hook_fail,
	.starttls = hook_starttls,
};

/* ---- I/O -------------------------------------------------------------- */

/* After client hooks ran: act on a failure they reported. */
static void
conn_settle(struct mta_conn *mc)
{
	if (mc->failed) {
		mc->failed = false;
		/* A session the TLS policy ended (TLS required, not offered or
		 * refused): the reason names the policy. */
		char reason[sizeof(mc->fail_reply.line) + 400];
		snprintf(reason, sizeof(reason), "%s", mc->fail_reply.line);
		if (mc->fail_temp && strncmp(mc->fail_reply.status, "4.7.", 4) == 0 &&
		    strstr(mc->fail_reply.line, "TLS")) {
			char label[400];
			policy_label(mc, label, sizeof(label));
			report_tls(mc, false, mc->fail_reply.line);
			size_t l = strlen(reason);
			snprintf(reason + l, sizeof(reason) - l, " (%s)", label);
		}
		struct dlv_event ev = {
			.relay = mc->relay,
			.tls = mc->tls_proto,
			.reply = &mc->fail_reply,
			.status = mc->fail_reply.status,
			.reason = reason,
			.can_detour = mc->job && !mc->job->detoured && mc->t->fallback,
			.stale = conn_stale(mc),
		};
		struct dlv_verdict v;
		/* A remote reply ended it, or the client did for a reason of
		 * its own (fail_temp: TLS, AUTH, a protocol error). */
		ev.what = mc->fail_reply.code >= 400 && !mc->fail_temp ? DLV_W_SESSION
								       : DLV_W_SESSION_LOCAL;
		dlv_decide(&ev, &v);
		if (v.hold) {
			/* The greeting or EHLO already says the IP is blocked:
			 * every host of this destination would say the same. */
			struct job *j = mc->job;
			mc->job = NULL;
			dest_hold(mc->d, &v.d);
			job_finish(j, &v.d);
			conn_free(mc);
			return;
		}
		if (v.throttle) {
			dest_backoff(mc->d, &v.d);
			mc->backed_off = true;
		}
		note_failure(mc, &v.d);
		conn_next_addr(mc);
		return;
	}
	if (mc->cl && mc->cl->state == CL_DEAD) {
		/* QUIT answered. */
		conn_free(mc);
	}
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct mta_conn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &len, EVBUFFER_EOL_LF);
		if (p.pos == -1) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX) {
				conn_lost(mc, "reply line from %s longer than 4096 bytes while %s");
				return;
			}
			break;
		}
		if ((size_t)p.pos > REPLY_LINE_MAX) {
			conn_lost(mc, "reply line from %s longer than 4096 bytes while %s");
			return;
		}
		char line[REPLY_LINE_MAX + 2];
		evbuffer_remove(in, line, (size_t)p.pos + len);
		size_t n = (size_t)p.pos;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		client_input(mc->cl, line, n);
		if (mc->failed || (mc->cl && mc->cl->state == CL_DEAD)) {
			conn_settle(mc);
			return;
		}
		if (!mc->bev)
			return;
		if (mc->starttls_req) {
			mc->starttls_req = false;
			/* Nothing the server sent in the clear after 220 counts. */
			evbuffer_drain(in, evbuffer_get_length(in));
			conn_flush(mc);
			conn_start_tls(mc);
			return;
		}
	}
	conn_flush(mc);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_conn *mc = arg;

	if (mc->handshake) {
		if (what & BEV_EVENT_CONNECTED)
			conn_tls_up(mc);
		else
			conn_tls_failed(mc, what);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* From here on deadlines (conn_watch()), not idle timers. */
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		if (mc->t->smtps) {
			conn_start_tls(mc);
		} else {
			conn_new_client(mc);
			conn_watch(mc);
		}
		return;
	}
	if (mc->quitting) {
		conn_free(mc);
		return;
	}
	if (!mc->cl) {
		/* The connection itself failed. */
		int err = EVUTIL_SOCKET_ERROR();
		conn_failed(mc, DLV_W_CONNECT,
			    (what & BEV_EVENT_TIMEOUT) ? "Connection timed out"
						       : evutil_socket_error_to_string(err));
		return;
	}
	if (mc->idle) {
		/* An idle connection went away: forget it. */
		conn_free(mc);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_lost(mc, "conversation with %s timed out while %s");
	else
		conn_lost(mc, "lost connection with %s while %s");
}

static void
conn_start_socket(struct mta_conn *mc)
{
	const struct dns_addr *a = &mc->addrs[mc->addr_i];
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;

	if (getnameinfo(sa, a->len, mc->ip, sizeof(mc->ip), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(mc->ip, sizeof(mc->ip), "?");
	snprintf(mc->relay, sizeof(mc->relay), "%s[%s]:%d", mc->host, mc->ip, mc->port);

	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		struct dlv_event ev = {
			.what = DLV_W_CONNECT, .relay = mc->relay, .reason = strerror(errno)};
		struct dlv_verdict v;
		dlv_decide(&ev, &v);
		note_failure(mc, &v.d);
		mc->addr_i++;
		conn_connect(mc);
		return;
	}
	if (mc->t->source_address) {
		struct dns_addr src;
		if (literal_addr(mc->t->source_address, 0, &src) == 0 &&
		    src.ss.ss_family == sa->sa_family &&
		    bind(fd, (struct sockaddr *)&src.ss, src.len) == -1)
			log_smtp(LOG_WARNING, "%s: cannot bind to source_address %s: %s",
				 mc->t->name, mc->t->source_address, strerror(errno));
	}
	mc->bev = bufferevent_socket_new(m_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!mc->bev)
		fatal("out of memory");
	bufferevent_setcb(mc->bev, conn_read, conn_write, conn_event, mc);
	struct timeval tv = {(time_t)mc->t->connect_timeout, 0};
	bufferevent_set_timeouts(mc->bev, &tv, &tv);
	if (bufferevent_socket_connect(mc->bev, sa, (int)a->len) == -1)
		conn_failed(mc, DLV_W_CONNECT, strerror(errno));
}

/* Connect to the current address, or move on to the next host. */
static void
conn_connect(struct mta_conn *mc)
{
	if (mc->addr_i >= mc->naddrs) {
		conn_next_host(mc);
		return;
	}
	conn_start_socket(mc);
}

static void
dns_done(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n)
{
	struct mta_conn *mc = arg;

	mc->dq = NULL;
	if (st != DNS_OK) {
		struct dlv_event ev = {.what = DLV_W_ADDR,
				       .host = mc->host,
				       .dns = st,
				       .implicit_mx = mc->implicit_mx};
		struct dlv_verdict v;
		dlv_decide(&ev, &v);
		note_failure(mc, &v.d);
		conn_next_host(mc);
		return;
	}
	if (n > sizeof(mc->addrs) / sizeof(mc->addrs[0]))
		n = sizeof(mc->addrs) / sizeof(mc->addrs[0]);
	memcpy(mc->addrs, addrs, n * sizeof(*addrs));
	mc->naddrs = n;
	mc->addr_i = 0;
	conn_connect(mc);
}

/* The recipient domain's MX hosts are known (or not). */
static void
mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct mta_conn *mc = arg;
	const char *domain = mc->domain;
	struct dlv_event ev = {.what = DLV_W_MX, .host = domain, .dns = st};
	struct dlv_verdict v;

	mc->dq = NULL;
	mc->mx_known = true;
	mc->host_i = 0;
	mc->nmx = 0;
	switch (st) {
	case DNS_OK:
		for (size_t i = 0; i < n && mc->nmx < sizeof(mc->mx) / sizeof(mc->mx[0]); i++)
			if (mx[i].host[0])
				mc->mx[mc->nmx++] = mx[i];
		if (mc->nmx == 0) {
			/* RFC 7505: "0 ." says the domain takes no mail. */
			ev.what = DLV_W_NULL_MX;
			dlv_decide(&ev, &v);
			mc->best = v.d;
			mc->have_best = true;
			conn_exhausted(mc);
			return;
		}
		break;
	case DNS_NODATA:
		/* No MX: the domain's own address is its implicit MX. */
		mc->implicit_mx = true;
		snprintf(mc->mx[0].host, sizeof(mc->mx[0].host), "%s", domain);
		mc->nmx = 1;
		break;
	case DNS_NOTFOUND:
	case DNS_TEMPFAIL:
		dlv_decide(&ev, &v);
		mc->best = v.d;
		mc->have_best = true;
		conn_exhausted(mc);
		return;
	}
	conn_next_host(mc);
}

static int
literal_addr(const char *host, int port, struct dns_addr *a)
{
	memset(a, 0, sizeof(*a));
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* The next host of the transport (relay list, or the recipient domain). */
static void
conn_next_host(struct mta_conn *mc)
{
	const struct conf_transport *t = mc->t;
	const char *host;
	bool literal;
	int port;

	mc->naddrs = mc->addr_i = 0;
	if (t->nrelay > 0) {
		if (mc->host_i >= t->nrelay) {
			conn_exhausted(mc);
			return;
		}
		const struct conf_relay *r = &t->relay[mc->host_i++];
		host = r->host;
		literal = r->literal;
		port = r->port ? r->port : t->port;
	} else {
		if (!mc->mx_known &&
		    cmd_literal_addr(mc->domain, mc->mx[0].host, sizeof(mc->mx[0].host)) == 0) {
			/* An address literal: that address is the one host,
			 * never looked up in DNS (RFC 5321 5.1). */
			mc->mx[0].pref = 0;
			mc->nmx = 1;
			mc->host_i = 0;
			mc->mx_known = true;
		}
		if (t->mta_sts && !mc->sts_known && !mc->mx_known) {
			/* The recipient domains' MTA-STS policies first: they
			 * decide which MX hosts may be used, and how. */
			mc->sts_known = true;
			if (sts_collect(mc, mc->job))
				return;
		}
		if (!mc->mx_known) {
			mc->dq = dns_mx(mc->domain, mx_done, mc);
			return;
		}
		if (mc->host_i >= mc->nmx) {
			conn_exhausted(mc);
			return;
		}
		host = mc->mx[mc->host_i++].host;
		literal = value_ip(host);
		port = t->port;
	}
	snprintf(mc->host, sizeof(mc->host), "%s", host);
	mc->port = port;
	dane_clear(mc);
	mc->sts_enforce = mc->sts_testing = mc->sts_tls_ok = false;
	for (size_t i = 0; t->nrelay == 0 && i < mc->nstse; i++) {
		const struct sts_policy *p = mc->stse[i]->p;
		if (!p || p->p.mode == MTASTS_NONE)
			continue;
		bool listed = mtasts_policy_allows(&p->p, host);
		char why[700];
		snprintf(why, sizeof(why),
			 "%s is not an MX host of the MTA-STS policy of %s (mode %s, id %s)", host,
			 p->domain, mtasts_strmode(p->p.mode), p->id);
		if (!listed && p->p.mode == MTASTS_ENFORCE) {
			char text[800];
			snprintf(text, sizeof(text), "%s skipped: %s (tls_policy=mta-sts)", host,
				 why);
			if (reporting(mc))
				tlsreport_sts(p);
			if (reporting(mc))
				tlsreport_failure(p->domain, TLSRPT_STS, TLSRPT_VALIDATION_FAILURE,
						  host, NULL);
			struct dlv_event ev = {.what = DLV_W_TLS, .reason = text};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			note_failure(mc, &v.d);
			conn_next_host(mc);
			return;
		}
		if (!listed)
			log_smtp(LOG_INFO, "%s: MTA-STS testing: %s; it is used all the same",
				 t->name, why);
		else if (p->p.mode == MTASTS_ENFORCE)
			mc->sts_enforce = true;
		else
			mc->sts_testing = true;
	}
	if (dane_policy(t) && !literal) {
		/* The TLSA records first: they decide how TLS goes. */
		mc->dq = dns_tlsa(host, port, tlsa_done, mc);
		return;
	}
	if (literal && t->tls->level == TLS_LEVEL_DANE_ONLY) {
		dane_refuse(mc, "no TLSA records for an address literal");
		return;
	}
	conn_resolve(mc, literal);
}

/* Look up the MTA-STS policy of every recipient domain of J this
 * connection does not know yet; true when some lookup runs (the last
 * answer goes on: sts_entry_done()). */
static bool
sts_collect(struct mta_conn *mc, const struct job *j)
{
	for (size_t r = 0; j && r < j->nrcpt; r++) {
		const char *dom = cmd_domain(j->rcpt[r]);
		bool known = !*dom || cmd_literal_addr(dom, NULL, 0) == 0;
		for (size_t i = 0; i < mc->nstse && !known; i++)
			known = strcasecmp(mc->stse[i]->domain, dom) == 0;
		if (known)
			continue;
		struct sts_entry **a = reallocarray(mc->stse, mc->nstse + 1, sizeof(*a));
		struct sts_entry *e = calloc(1, sizeof(*e));
		if (!a || !e)
			fatal("out of memory");
		mc->stse = a;
		mc->stse[mc->nstse++] = e;
		e->mc = mc;
		snprintf(e->domain, sizeof(e->domain), "%s", dom);
		if (sts_fresh(dom, &e->p))
			continue; /* known from a lookup of a moment ago */
		mc->sts_pending++;
		e->q = sts_get(dom, sts_entry_done, e);
	}
	return mc->sts_pending > 0;
}

/* Could the current connection carry mail under every policy known (a
 * job of new domains wants to reuse it): each enforced one lists the host
 * and the TLS was verified (or DANE authenticated it). */
static bool
sts_reuse_ok(const struct mta_conn *mc)
{
	for (size_t i = 0; i < mc->nstse; i++) {
		const struct sts_policy *p = mc->stse[i]->p;
		if (!p || p->p.mode != MTASTS_ENFORCE)
			continue;
		if (!mtasts_policy_allows(&p->p, mc->host) ||
		    !((mc->dane && mc->tls_on) || mc->sts_tls_ok))
			return false;
	}
	return true;
}

/* The policies of MC's next job are known: start it on MC, or (a policy
 * of a new domain needs a host or a TLS this connection has not) give it
 * a connection of its own and let this one leave. */
static void
reuse_go(struct mta_conn *mc)
{
	if (sts_reuse_ok(mc)) {
		start_job(mc);
		return;
	}
	struct job *j = mc->job;
	struct dest *d = mc->d;
	mc->job = NULL;
	log_smtp(LOG_DEBUG, "%s: %s: not reused: an MTA-STS policy of the next job needs more",
		 mc->t->name, mc->relay);
	mc->quitting = true;
	client_quit(mc->cl);
	struct timeval tv = {MTA_QUIT_SECONDS, 0};
	evtimer_add(mc->timer, &tv);
	conn_new(d, j);
}

static void
sts_entry_done(void *arg, struct sts_policy *p, const char *why)
{
	struct sts_entry *e = arg;
	struct mta_conn *mc = e->mc;

	e->q = NULL;
	e->p = p;
	if (p && p->p.mode != MTASTS_NONE)
		log_smtp(LOG_DEBUG, "%s: %s: MTA-STS policy id %s, mode %s", mc->t->name, e->domain,
			 p->id, mtasts_strmode(p->p.mode));
	if (--mc->sts_pending > 0)
		return;
	if (!mc->reuse_wait) {
		conn_next_host(mc); /* the first host is chosen now */
		return;
	}
	mc->reuse_wait = false;
	if (!mc->cl || mc->cl->state != CL_READY || mc->quitting) {
		/* It reconnected meanwhile: the job takes a new connection,
		 * whose host is chosen under every policy. */
		struct job *j = mc->job;
		mc->job = NULL;
		conn_new(mc->d, j);
		return;
	}
	reuse_go(mc);
	conn_flush(mc);
}

/* Hand job J to the idle or just finished connection MC: at once, or once
 * the MTA-STS policies of its new recipient domains allow it. */
static void
conn_reuse(struct mta_conn *mc, struct job *j)
{
	mc->job = j;
	if (!mc->t->mta_sts || mc->t->nrelay > 0) {
		start_job(mc);
		return;
	}
	if (sts_collect(mc, j)) {
		mc->reuse_wait = true;
		return;
	}
	reuse_go(mc);
}

/* This host cannot be used under dane-only: WHY, and on to the next. */
static void
dane_refuse(struct mta_conn *mc, const char *why)
{
	char text[700];
	snprintf(text, sizeof(text), "%s skipped: %s (tls_policy=%s)", mc->host, why,
		 mc->t->tls->name);
	struct dlv_event ev = {.what = DLV_W_TLS, .reason = text};
	struct dlv_verdict v;
	dlv_decide(&ev, &v);
	note_failure(mc, &v.d);
	conn_next_host(mc);
}

/* The TLSA answer for the current host (RFC 7672 2.2). */
static void
tlsa_done(void *arg, const struct dns_tlsa_answer *a)
{
	struct mta_conn *mc = arg;
	char why[400];

	mc->dq = NULL;
	if (a->st == DNS_TEMPFAIL) {
		/* A lookup that fails may hide records: never plaintext. */
		snprintf(why, sizeof(why), "TLSA lookup of _%d._tcp.%s failed: %s", mc->port,
			 mc->host, a->why ? a->why : "temporary DNS failure");
		if (reporting(mc))
			tlsreport_failure(mc->domain, TLSRPT_TLSA, TLSRPT_DNSSEC_INVALID, mc->host,
					  NULL);
		dane_refuse(mc, why);
		return;
	}
	if (a->st == DNS_OK && a->secure && a->n > 0) {
		for (size_t i = 0; i < a->n && mc->ntlsa < sizeof(mc->tlsa) / sizeof(mc->tlsa[0]);
		     i++) {
			unsigned char *d = malloc(a->tlsa[i].len ? a->tlsa[i].len : 1);
			if (!d)
				fatal("out of memory");
			memcpy(d, a->tlsa[i].data, a->tlsa[i].len);
			mc->tlsa[mc->ntlsa] = (struct tls_tlsa){.usage = a->tlsa[i].usage,
								.selector = a->tlsa[i].selector,
								.mtype = a->tlsa[i].mtype,
								.data = d,
								.len = a->tlsa[i].len};
			mc->ntlsa++;
		}
		mc->dane = true;
		log_smtp(LOG_DEBUG, "%s: %s: DANE with %zu usable TLSA record%s", mc->t->name,
			 mc->host, mc->ntlsa, mc->ntlsa == 1 ? "" : "s");
	} else if (mc->t->tls->level == TLS_LEVEL_DANE_ONLY) {
		if (a->st == DNS_OK && !a->secure)
			snprintf(why, sizeof(why),
				 "the TLSA records of _%d._tcp.%s are not DNSSEC-validated",
				 mc->port, mc->host);
		else if (a->st == DNS_OK)
			snprintf(why, sizeof(why),
				 "none of the %zu TLSA records of _%d._tcp.%s is usable", a->total,
				 mc->port, mc->host);
		else
			snprintf(why, sizeof(why), "no TLSA records for _%d._tcp.%s", mc->port,
				 mc->host);
		if (reporting(mc))
			tlsreport_failure(mc->domain, TLSRPT_TLSA, TLSRPT_DANE_REQUIRED, mc->host,
					  NULL);
		dane_refuse(mc, why);
		return;
	}
	conn_resolve(mc, false);
}

/* The current host's addresses: the literal itself, or a lookup. */
static void
conn_resolve(struct mta_conn *mc, bool literal)
{
	const char *host = mc->host;
	int port = mc->port;
	if (literal) {
		if (literal_addr(host, port, &mc->addrs[0]) == -1) {
			char why[512];
			snprintf(why, sizeof(why), "bad address literal %s", host);
			struct dlv_event ev = {
				.what = DLV_W_CONFIG, .status = "4.4.4", .reason = why};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			note_failure(mc, &v.d);
			conn_next_host(mc);
			return;
		}
		mc->naddrs = 1;
		conn_connect(mc);
		return;
	}
	mc->dq = dns_addrs(host, port, dns_done, mc);
}

/* ---- connections and destinations ------------------------------------ */

/* The password: the first line of auth_password_file. On failure the job
 * is deferred with the reason (a configuration problem, never a bounce). */
static int
read_password(struct mta_conn *mc)
{
	FILE *f = fopen(mc->t->auth_password_file, "re");
	char why[600];
	if (f && fgets(mc->pass, sizeof(mc->pass), f)) {
		mc->pass[strcspn(mc->pass, "\r\n")] = '\0';
		fclose(f);
		return 0;
	}
	snprintf(why, sizeof(why), "cannot read auth_password_file %s: %s",
		 mc->t->auth_password_file, f ? "it is empty" : strerror(errno));
	if (f)
		fclose(f);
	log_smtp(LOG_ERR, "%s: %s", mc->t->name, why);
	struct dlv_event ev = {.what = DLV_W_CONFIG, .status = "4.7.8", .reason = why};
	struct dlv_verdict v;
	dlv_decide(&ev, &v);
	mc->best = v.d;
	mc->have_best = true;
	conn_exhausted(mc);
	return -1;
}

static void
conn_new(struct dest *d, struct job *j)
{
	struct mta_conn *mc = calloc(1, sizeof(*mc));
	if (!mc)
		fatal("out of memory");
	mc->d = d;
	mc->lease = d->lease_ready; /* 0 but in a fleet */
	d->lease_ready = 0;
	/* The transport now; one a reload removed still serves its jobs. */
	mc->t = dest_transport(d) ? dest_transport(d) : j->transport;
	mc->job = j;
	snprintf(mc->domain, sizeof(mc->domain), "%s", j->domain ? j->domain : d->key);
	snprintf(mc->tls_proto, sizeof(mc->tls_proto), "none");
	mc->timer = evtimer_new(m_base, idle_timeout, mc);
	mc->deadline = evtimer_new(m_base, conn_deadline, mc);
	mc->outq = evbuffer_new();
	if (!mc->timer || !mc->deadline || !mc->outq)
		fatal("out of memory");
	/* Counted and listed before anything can fail: conn_free() undoes
	 * exactly this. */
	d->nconn++;
	m_nconns++;
	mc->next = m_conns;
	if (m_conns)
		m_conns->prev = mc;
	m_conns = mc;
	if (mc->t->auth_password_file && read_password(mc) == -1)
		return;
	conn_next_host(mc);
}

static void
conn_free(struct mta_conn *mc)
{
	struct dest *d = mc->d;

	if (mc->idle) {
		struct mta_conn **pp;
		for (pp = &d->idle; *pp; pp = &(*pp)->next_idle)
			if (*pp == mc) {
				*pp = mc->next_idle;
				break;
			}
	}
	dns_cancel(mc->dq);
	dane_clear(mc);
	for (size_t i = 0; i < mc->nstse; i++) {
		sts_cancel(mc->stse[i]->q);
		sts_unref(mc->stse[i]->p);
		free(mc->stse[i]);
	}
	free(mc->stse);
	conn_drop_socket(mc);
	if (mc->timer)
		event_free(mc->timer);
	if (mc->deadline)
		event_free(mc->deadline);
	if (mc->outq)
		evbuffer_free(mc->outq);
	explicit_bzero(mc->pass, sizeof(mc->pass));
	if (mc->job) {
		/* Only at shutdown: the job stays queued on disk. */
		job_free(mc->job);
	}
	if (mc->prev)
		mc->prev->next = mc->next;
	else
		m_conns = mc->next;
	if (mc->next)
		mc->next->prev = mc->prev;
	m_nconns--;
	d->nconn--;
	if (mc->lease) {
		cluster_lease_release(mc->lease);
		d->lease_retry_at = 0; /* the fleet has one free now */
	}
	free(mc);
	dest_pump(d);
	/* Idle now: dest_wake() forgets it when nothing learnt is left. */
	if (!m_stopping && dest_idle(d))
		dest_arm(d, 0);
}

/* Mail over the day's warm-up rate, with an overflow transport: every job
 * waiting goes there at once (status=rerouted), none waits. */
static void
dest_overflow(struct dest *d, const struct conf_transport *t, const struct warmup_now *w)
{
	char day[64];
	warmup_describe(t, w, day, sizeof(day));
	struct dlv_event ev = {.what = DLV_W_WARMUP, .reason = day, .to = t->warmup_overflow->name};
	struct dlv_verdict v;
	dlv_decide(&ev, &v);
	struct job *j;
	while ((j = dest_take(d)) != NULL)
		job_finish(j, &v.d);
}

/* Redis's answer for one message of D's fleet-wide rate: go (0), wait
 * WAIT_MS, or (-1) Redis did not answer: dest_token() goes local. */
static void
fleet_answer(const char *tname, const char *key, long wait_ms)
{
	struct dest *d = dest_find(tname, key);
	if (!d || !d->fleet_asking)
		return;
	d->fleet_asking = false;
	if (m_stopping)
		return;
	if (wait_ms > 0) {
		const struct conf_transport *t = dest_transport(d);
		if (t && t->nwarmup && t->warmup_overflow) {
			struct warmup_now w;
			bool warm = false;
			warmup_at(t, warmup_today(time(NULL)), &w);
			warmup_rate(t, &w, &warm);
			if (warm) {
				dest_overflow(d, t, &w);
				return;
			}
		}
		dest_arm(d, (double)wait_ms / 1000);
		return;
	}
	if (wait_ms == 0)
		d->fleet_token = true;
	dest_pump(d);
}

/* A token for one more message, by the transport's rate and the day's
 * warm-up (the smaller); when there is none, the destination wakes up when
 * there will be, or at local midnight when a warm-up's day changes then.
 * Over the warm-up's rate with warmup_overflow, the waiting jobs go there. */
static bool
dest_token(struct dest *d)
{
	const struct conf_transport *t = dest_transport(d);
	if (!t)
		return true;
	struct conf_rate r = t->rate;
	struct warmup_now w = {.phase = WARMUP_NONE};
	bool warm = false;
	time_t now_t = 0;
	if (t->nwarmup) {
		now_t = time(NULL);
		warmup_at(t, warmup_today(now_t), &w);
		r = warmup_rate(t, &w, &warm);
	}
	if (r.n == 0)
		return true;
	double now = mono(), per = (double)r.interval / r.n;
	if (cluster_up()) {
		/* A fleet: the rate is the fleet's, a GCRA in Redis; the
		 * answer (fleet_answer()) pumps again or arms the timer. */
		if (d->fleet_token) {
			d->fleet_token = false;
			return true;
		}
		if (d->fleet_asking)
			return false;
		if (cluster_rate(d->tname, d->key, (unsigned long)(per * 1000 + 0.5),
				 fleet_answer) == 0) {
			d->fleet_asking = true;
			return false;
		}
	}
	/* Alone, or Redis unreachable: this node's share of the rate. */
	per *= cluster_nodes();
	d->tokens += (now - d->tok_last) / per;
	d->tok_last = now;
	if (d->tokens > 1)
		d->tokens = 1;
	if (d->tokens >= 1) {
		d->tokens -= 1;
		return true;
	}
	if (warm && t->warmup_overflow) {
		dest_overflow(d, t, &w);
		return false;
	}
	double wait = (1 - d->tokens) * per;
	if (t->nwarmup && (double)(warmup_midnight(now_t) - now_t) < wait)
		wait = (double)(warmup_midnight(now_t) - now_t); /* a new day, a new rate */
	dest_arm(d, wait);
	return false;
}

/* Redis's answer to a lease for one more connection to D: granted (LEASE),
 * refused (the fleet has max_connections open: ask again in a second), or
 * LOST (Redis did not answer: fleet_conn() goes local). */
static void
lease_answer(const char *tname, const char *key, unsigned long lease, bool lost)
{
	struct dest *d = dest_find(tname, key);
	if (!d || !d->lease_asking || m_stopping) {
		if (lease)
			cluster_lease_release(lease);
		if (d)
			d->lease_asking = false;
		return;
	}
	d->lease_asking = false;
	if (lease) {
		d->lease_ready = lease;
		dest_pump(d);
		if (d->lease_ready && !d->head) {
			cluster_lease_release(d->lease_ready);
			d->lease_ready = 0;
		}
		return;
	}
	if (lost) {
		dest_pump(d);
		return;
	}
	/* Refused: not asked again for a while (every job and every closed
	 * connection pumps; each would ask), but at once when a connection
	 * of ours closes and gives its lease back (conn_free()). */
	d->lease_retry_at = mono() + FLEET_LEASE_RETRY;
	dest_arm(d, FLEET_LEASE_RETRY);
}

/* May D open one more connection, by the fleet's max_connections: with a
 * lease from Redis (asked for here; the answer pumps again), or while
 * Redis does not answer, within this node's share. */
static bool
fleet_conn(struct dest *d)
{
	const struct conf_transport *t = dest_transport(d);
	if (!cluster_on() || !t)
		return true;
	if (d->lease_ready)
		return true;
	if (d->lease_asking)
		return false;
	double now = mono();
	if (cluster_up() && now + 0.01 < d->lease_retry_at) {
		/* The timer may come a little early: it must come again. */
		dest_arm(d, d->lease_retry_at - now);
		return false;
	}
	if (cluster_up() &&
	    cluster_lease(d->tname, d->key, t->max_connections, lease_answer) == 0) {
		d->lease_asking = true;
		return false;
	}
	unsigned share = t->max_connections / cluster_nodes();
	return d->nconn < (share ? share : 1);
}

/* Give waiting jobs to idle connections, or open new ones up to the limit,
 * as fast as the rate and any back-off allow. */
static void
dest_pump(struct dest *d)
{
	if (m_stopping)
		return;
	if (d->head && d->down_until > time(NULL)) {
		/* Known unreachable: defer now, with the reason, without a
		 * connection (relay=none) and without counting an attempt. */
		struct dlv_event ev = {.what = DLV_W_SUSPENDED,
				       .status = d->down_why.status,
				       .reason = d->down_why.text};
		struct dlv_verdict v;
		dlv_decide(&ev, &v);
		d->deferred_some = true; /* released when it works again */
		struct job *j;
		while ((j = dest_take(d)) != NULL)
			job_finish(j, &v.d);
		return;
	}
	double now = mono();
	if (d->head && d->paused_until > now) {
		dest_arm(d, d->paused_until - now);
		return;
	}
	while (d->head) {
		if (!d->idle && d->nconn >= d->cur_max)
			break;
		if (!d->idle && !fleet_conn(d))
			break;
		if (!dest_token(d))
			break;
		if (d->idle) {
			struct mta_conn *mc = d->idle;
			d->idle = mc->next_idle;
			mc->idle = false;
			evtimer_del(mc->timer);
			conn_reuse(mc, dest_take(d));
			conn_flush(mc);
			continue;
		}
		conn_new(d, dest_take(d));
	}
}

/* Deliver job J. */
void
mta_submit(struct job *j)
{
	bool site;
	struct dest *d = dest_get(j->transport->name, dest_key(j->transport, j->domain, &site));

	d->site = site;
	j->dest = d;
	d->last_used = time(NULL);
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	dest_pump(d);
}

/* Bind to BASE. */
/* What another node of the fleet learnt about a destination: applied here
 * as if learnt here (a hold, a down pause, a back-off), logged with the
 * node it came from. */
static void
mta_learn(const struct cluster_news *n)
{
	const struct conf_transport *t =
		relayd_conf ? conf_transport_find(relayd_conf, n->tname) : NULL;
	time_t now = time(NULL);
	if (!t || m_stopping || n->until <= now)
		return;
	struct dest *d = dest_get(n->tname, n->key);
	char why[REPLY_TEXT_MAX]; /* relayctl destinations says where it came from */
	snprintf(why, sizeof(why), "%s (learnt by node %s)", n->why, n->node);
	if (strcmp(n->kind, "detour") == 0) {
		if (!t->fallback || d->detour_until >= n->until)
			return;
		if (d->detour_until <= now)
			log_smtp(LOG_INFO,
				 "%s: destination %s rejects the sending IP (node %s learnt it: "
				 "%s); "
				 "its mail goes through transport %s for %llds",
				 t->name, dest_name(d), n->node, n->why, t->fallback->name,
				 (long long)(n->until - now));
		d->detour_until = n->until;
		dest_set_why(&d->detour_why, why);
	} else if (strcmp(n->kind, "down") == 0) {
		if (d->down_until >= n->until)
			return;
		log_smtp(LOG_INFO,
			 "%s: destination %s is unreachable (node %s learnt it: %s) for %llds",
			 t->name, dest_name(d), n->node, n->why, (long long)(n->until - now));
		d->down_until = n->until;
		memset(&d->down_why, 0, sizeof(d->down_why));
		d->down_why.kind = DLV_TEMPFAIL;
		snprintf(d->down_why.status, sizeof(d->down_why.status), "4.4.1");
		snprintf(d->down_why.text, sizeof(d->down_why.text), "%s (learnt by node %s)",
			 n->why, n->node);
		snprintf(d->down_why.relay, sizeof(d->down_why.relay), "none");
	} else if (strcmp(n->kind, "backoff") == 0) {
		double until = mono() + (double)(n->until - now);
		if (d->paused_until >= until)
			return;
		d->paused_until = until;
		if (n->level > d->backoff)
			d->backoff = n->level > 8 ? 8 : n->level;
		dest_set_why(&d->backoff_why, why);
		log_smtp(LOG_INFO,
			 "%s: destination %s is throttling (node %s learnt it: %s); paused for "
			 "%llds",
			 t->name, dest_name(d), n->node, n->why, (long long)(n->until - now));
	} else
		return;
	/* A destination made for this alone is forgotten once it expires. */
	if (dest_idle(d))
		dest_arm(d, dest_keep_for(d, now, mono()) + 1);
}

int
mta_init(struct event_base *base, void (*release)(const char *transport, const char *domain))
{
	m_base = base;
	m_release = release;
	cluster_set_learn(mta_learn);
	return 0;
}

static void
drop_jobs(void *arg, struct dest *d)
{
	struct job *j;
	while ((j = dest_take(d)) != NULL)
		job_free(j); /* the message stays queued on disk */
}

/* Close every outbound connection; jobs in flight stay queued on disk. */
void
mta_shutdown(void)
{
	m_stopping = true;
	dns_cancel(m_probe);
	m_probe = NULL;
	while (m_conns)
		conn_free(m_conns);
	dest_foreach(drop_jobs, NULL);
	dest_free_all();
}

/* Outbound sessions open now. */
size_t
mta_sessions(void)
{
	return m_nconns;
}
