/*
 * queue.c — the durable queue and the dispatch of due recipients.
 *
 * queue_init(), queue_shutdown()         spool set-up, recovery, stop
 * queue_create(), queue_write(),
 * queue_commit(), queue_abort()          receiving a message
 * queue_body()                           reading its body for delivery
 * queue_result(), queue_job_done()       what delivery reports back
 * queue_count(), queue_flush(), queue_delete(), queue_delete_all(),
 * queue_hold(), queue_hold_all(), queue_body_open(), queue_next(),
 * queue_find(), queue_foreach()          for relayctl
 *
 * The queue's manager: it owns the messages in memory (msg.h) and decides
 * what happens to them; their storage is spool.h's (spool*.c), which it
 * never reaches around.
 *
 * Every committed message is in the id index (qindex.h) and, while it has
 * recipients waiting for a time and is not on hold, in the scheduler's
 * heap keyed by the earliest of those times. Dispatch groups due recipients by
 * destination and hands each group to mta.c as one job.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "relayd/bounce.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/pace.h"
#include "relayd/queue.h"
#include "relayd/intern.h"
#include "relayd/qindex.h"
#include "relayd/waitq.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "relayd/site.h"
#include "relayd/spool.h"
#include "relayd/stats.h"
#include "relayd/worker.h"
#include "smtp/classify.h"
#include "smtp/cmd.h"
#include "smtp/data.h"

#define QUEUE_RUN_BUDGET_US 3000 /* retries dispatched per turn of the loop, in time */

/* Retries never starve new mail: queue_run() dispatches all due new mail
 * first, then retries as pace.h allows. At most RETRY_INFLIGHT_MAX retried
 * messages are with mta.c at once, so pacing takes hold within a moment of
 * new mail arriving (and a flush of a million messages does not queue a
 * million jobs). 128: with 1024 a flush put 1,300-2,200 retries ahead of
 * the new mail that came with it (backlog bench, 100,000 messages), with
 * 128 600-900; ten connections of a destination still have a dozen jobs
 * each waiting. */
#define RETRY_INFLIGHT_MAX 128

static unsigned q_retry_inflight; /* retried messages with jobs at mta.c */
static struct pace q_pace;

static struct event_base *q_base;
static struct event *q_timer;
/* Due times: messages never tried yet (new mail) and retries, apart, so a
 * backlog made due at once (a flush, a recovery) never delays new mail. */
static struct sched q_fresh;
static struct retryq q_retry; /* and the batches a flush set aside */
static struct qindex q_byid;  /* committed messages by id (qindex.h) */
static bool q_stopping;

static void queue_schedule(struct qmsg *m);
static void msg_finish(struct qmsg *m);
static void queue_rearm(void);
static void flush_rcpts(struct qmsg *m, time_t now);
static double mono_now(void);
static long us_since(const struct timespec *t0);

static struct qmsg *
msg_of(struct sched_entry *e)
{
	return (struct qmsg *)((char *)e - offsetof(struct qmsg, sched));
}

/* Take M out of whichever heap holds it. */
static void
msg_unsched(struct qmsg *m)
{
	if (m->fresh)
		sched_cancel(&q_fresh, &m->sched);
	else
		retryq_cancel(&q_retry, &m->sched);
}

/* The committed message QID, or NULL: a binary search, never a walk. */
static struct qmsg *
msg_find(const char *qid)
{
	uint64_t k = msg_id_key(qid);
	return k ? qindex_find(&q_byid, k) : NULL;
}

/* Add committed M to the index by id. */
static void
list_add(struct qmsg *m)
{
	if (qindex_add(&q_byid, msg_id_key(m->id), m) == -1)
		fatal("out of memory");
}

static void
list_del(struct qmsg *m)
{
	qindex_del(&q_byid, msg_id_key(m->id));
}

/* The oldest committed message, the one after M by id: walks that
 * survive a removal of M between steps. */
static struct qmsg *
msg_first(void)
{
	return qindex_first(&q_byid);
}

static struct qmsg *
msg_next(const struct qmsg *m)
{
	return qindex_after(&q_byid, msg_id_key(m->id));
}

/* ---- what waits for a destination (waitq.h) ----------------------------- */

static void wait_note(struct qmsg *m, struct qrcpt *r, bool listed, bool waits);

/* A message read back at start, in the index: list its recipients that
 * waited for their destination when relayd stopped. */
static void
wait_recovered(struct qmsg *m)
{
	/* The classifier costs microseconds a reply; a backlog's recipients
	 * mostly share theirs (interned: the same pointer). */
	static const char *last_reply;
	static unsigned last_code;
	static char last_status[MSG_STATUS_MAX];
	static bool last_waits;
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || !r->transport)
			continue;
		char status[MSG_STATUS_MAX];
		msg_status(r, status);
		if (!r->last_reply || r->last_reply != last_reply || r->code != last_code ||
		    strcmp(status, last_status) != 0) {
			last_waits = dlv_waits_for_destination((int)r->code, status,
							       r->last_reply ? r->last_reply : "");
			last_reply = r->last_reply;
			last_code = r->code;
			memcpy(last_status, status, sizeof(last_status));
		}
		wait_note(m, r, false, last_waits);
	}
}

/* Does message ID still have a recipient listed as waiting? */
static bool
wait_alive(uint64_t id, void *unused)
{
	const struct qmsg *m = qindex_find(&q_byid, id);
	for (size_t i = 0; m && i < m->nrcpt; i++)
		if (m->rcpt[i].waiting && m->rcpt[i].state == RCPT_PENDING)
			return true;
	return false;
}

/* After an attempt for R of M (or its state read from the state file):
 * list it under its destination when WAITS, that is when the reply or
 * reason said the destination failed rather than the recipient
 * (dlv_waits_for_destination(), which dlv_decide() ran). LISTED: it is
 * listed under that destination already. */
static void
wait_note(struct qmsg *m, struct qrcpt *r, bool listed, bool waits)
{
	const char *transport = r->transport;
	if (r->state != RCPT_PENDING || !transport || !waits) {
		r->waiting = 0;
		return;
	}
	if (listed)
		return;
	/* The destination's key as mta.c makes it: the recipient domain (or
	 * its site) for MX delivery, none for a transport with relays. */
	const struct conf_transport *t = conf_transport_find(relayd_conf, transport);
	char skey[SITE_KEY_MAX];
	const char *key = t ? site_key(t, cmd_domain(r->addr), skey, sizeof(skey), NULL) : "";
	waitq_add(transport, key[0] ? key : NULL, msg_id_key(m->id), wait_alive, NULL);
	r->waiting = 1;
}

/* ---- receiving ------------------------------------------------------ */

/* Start a message with ENV; its header goes first in the buffer. A header
 * that cannot be written (an address with a control byte, which smtp/
 * never accepts) fails the message: its commit answers 451. */
struct qmsg *
queue_create(const struct qenv *env)
{
	struct qmsg *m = msg_new(env->rcpt, env->nrcpt);

	msg_newid(m->id);
	q_pace.fresh_last = mono_now(); /* new mail flows: retries are paced */
	m->sender = intern(env->sender ? env->sender : "");
	m->arrival = time(NULL);
	m->body = (unsigned)env->body & 3u;
	m->smtputf8 = env->smtputf8;
	for (size_t i = 0; i < env->nrcpt; i++)
		m->rcpt[i].next_attempt = m->arrival;
	spool_begin(m, env->client ? env->client : "", env->rcpt, env->nrcpt);
	return m;
}

/* Append stored-form body bytes; -1 once writing failed (disk full). */
int
queue_write(struct qmsg *m, const void *buf, size_t len)
{
	return spool_write(m, buf, len);
}

static void
queue_write_cb(void *arg, const char *buf, size_t len)
{
	queue_write(arg, buf, len);
}

/* The storage made M durable: it is queued. */
static void
queue_committed(struct qmsg *m)
{
	list_add(m);
	queue_schedule(m);
}

/* Make M durable, then CB(ARG, M, 0) — or CB(ARG, M, errno) and M is gone.
 * SIZE is the message size to record. */
void
queue_commit(struct qmsg *m, uint64_t size, void (*cb)(void *, struct qmsg *, int), void *arg)
{
	m->size = size;
	spool_commit(m, cb, arg);
}

/* Drop a message that was never committed. */
void
queue_abort(struct qmsg *m)
{
	spool_abort(m);
}

/* ---- delivery ------------------------------------------------------- */

int
queue_body(const struct qmsg *m, off_t *off, off_t *len)
{
	return spool_body(m, off, len);
}

static const char *
state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_PENDING:
		return "deferred";
	case RCPT_SENT:
		return "sent";
	case RCPT_BOUNCED:
		return "bounced";
	case RCPT_EXPIRED:
		return "expired";
	}
	return "?";
}

static void
log_outcome(struct qmsg *m, struct qrcpt *r, const char *transport, const struct dlv *d,
	    const char *status)
{
	time_t now = time(NULL);
	struct classification cl;
	classify(d->code, d->status, d->text, &cl);
	if (d->code >= 400)
		stats_delivery_reject(transport, (int)cl.kind);
	/* Postfix's fields in Postfix's order, relayd's own after the reason:
	 * pflogsumm's pattern allows nothing else between to= and status=. */
	log_smtp(LOG_INFO,
		 "%s: to=<%s>, relay=%s, delay=%lld, dsn=%s, status=%s (%s%s%s%s), transport=%s, "
		 "attempts=%u, tls=%s",
		 m->id, r->addr, d->relay, (long long)(now - m->arrival), d->status, status,
		 d->text, cl.label ? " [" : "", cl.label ? cl.label : "", cl.label ? "]" : "",
		 transport, r->attempts, d->tls);
}

/* After a recipient's final failure (bounced, expired): what the operator
 * can do about it, on a line of its own. The DSN tells the sender in plain
 * words; this is the advice in relayd's terms (transports, DNS, TLS). */
static void
log_advice(const struct qmsg *m, const struct qrcpt *r)
{
	struct classification cl;

	bounce_classify(r, &cl);
	if (cl.admin)
		log_smtp(LOG_INFO, "%s: advice for <%s> [%s]: %s", m->id, r->addr, cl.label,
			 cl.admin);
}

/* Record the outcome D of recipient IDX's attempt over TRANSPORT. */
void
queue_result(struct qmsg *m, size_t idx, const char *transport, const struct dlv *d)
{
	struct qrcpt *r = &m->rcpt[idx];
	const struct conf *c = relayd_conf;
	time_t now = time(NULL);

	r->inflight = false;
	/* Deferred unseen (the destination is known to be down): no attempt. */
	if (!d->no_attempt)
		if (r->attempts < MSG_ATTEMPTS_MAX)
			r->attempts++;
	/* Listed as waiting for this transport's destination already? */
	bool listed = r->waiting && r->transport && strcmp(r->transport, transport) == 0;
	/* Does this outcome repeat the last one (a deferral with the same code,
	 * enhanced status and command, over the same transport)? Then the
	 * state file needs only the new attempts and next attempt. */
	unsigned old_code = r->code, old_cmd = r->cmd, old_cl = r->st_class,
		 old_sub = r->st_subject, old_det = r->st_detail;
	bool same_transport = r->transport && strcmp(r->transport, transport) == 0;
	intern_drop(r->transport);
	r->transport = intern(transport);
	intern_drop(r->relay);
	r->relay = strcmp(d->relay, "none") == 0 ? NULL : intern(d->relay);
	r->code = (unsigned)d->code & 1023u;
	r->cmd = (unsigned)d->cmd & 15u;
	msg_set_status(r, d->status);
	if (d->kind != DLV_OK) {
		intern_drop(r->last_reply);
		r->last_reply = intern(d->text);
	}
	const struct conf_transport *t = conf_transport_find(c, transport);
	struct dlv rd;
	/* Re-routed: to the overflow named, else the fallback. */
	const char *to = d->reroute[0] ? d->reroute : t && t->fallback ? t->fallback->name : NULL;
	if (d->kind == DLV_REROUTE && !(to && conf_transport_find(c, to))) {
		/* The fallback went away in a reload: wait and try again. */
		rd = *d;
		rd.kind = DLV_TEMPFAIL;
		d = &rd;
	}
	if (d->kind != DLV_TEMPFAIL)
		m->state_sync = true; /* something final: see state_save() */
	else if (!same_transport || r->code != old_code || r->cmd != old_cmd ||
		 r->st_class != old_cl || r->st_subject != old_sub || r->st_detail != old_det)
		m->state_changed = true;
	switch (d->kind) {
	case DLV_OK:
		r->state = RCPT_SENT;
		break;
	case DLV_REROUTE: {
		/* Once, and at once: the fallback gets it on the next run. */
		intern_drop(r->detour);
		r->detour = intern(to);
		r->state = RCPT_PENDING;
		r->next_attempt = now;
		r->waiting = 0;
		rd = *d;
		if (!d->reroute[0]) { /* the text names it when it is not the fallback */
			int n = snprintf(rd.text, sizeof(rd.text),
					 "to transport %.64s: ", r->detour);
			if (n > 0 && (size_t)n < sizeof(rd.text))
				memcpy(rd.text + n, d->text,
				       strnlen(d->text, sizeof(rd.text) - (size_t)n - 1) + 1);
			rd.text[sizeof(rd.text) - 1] = '\0';
		}
		stats_count(STAT_REROUTED, transport, 1);
		log_outcome(m, r, transport, &rd, "rerouted");
		return;
	}
	case DLV_PERMFAIL:
		r->state = RCPT_BOUNCED;
		r->notify = true;
		break;
	case DLV_TEMPFAIL:
		r->state = RCPT_PENDING;
		/* Not tried (no_attempt): the interval of its last attempt again,
		 * not a longer one; released anyway once the destination works. */
		r->next_attempt = sched_retry_at(&c->queue, r->attempts ? r->attempts : 1, now);
		/* Never wait past the lifetime: the expiry happens on time. */
		if (r->next_attempt > m->arrival + (time_t)c->queue.max_lifetime)
			r->next_attempt = m->arrival + (time_t)c->queue.max_lifetime;
		break;
	}
	wait_note(m, r, listed, d->waits);
	if (r->attempts > 1 && d->kind != DLV_REROUTE)
		pace_outcome(&q_pace, mono_now(), r->state != RCPT_PENDING); /* did it go? */
	stats_count(r->state == RCPT_SENT      ? STAT_SENT
		    : r->state == RCPT_BOUNCED ? STAT_BOUNCED
					       : STAT_DEFERRED,
		    transport, 1);
	log_outcome(m, r, transport, d, state_name(r->state));
	if (r->state == RCPT_BOUNCED)
		log_advice(m, r);
}

static void
msg_finish(struct qmsg *m)
{
	m->state = Q_DONE;
	msg_unsched(m);
	list_del(m);
	spool_remove(m);
}

/* ---- notifications (DSN) ---------------------------------------------- */

/* The original header section, unstuffed, for the DSN's third part. */
static char *
read_headers(const struct qmsg *m, size_t *len)
{
	enum { MAX = 64 * 1024 };
	*len = 0;
	off_t base;
	int fd = spool_open(m, &base);
	if (fd == -1)
		return NULL;
	char *raw = malloc(MAX);
	size_t want = (off_t)MAX < m->body_len ? (size_t)MAX : (size_t)m->body_len;
	ssize_t n = raw ? pread(fd, raw, want, base + m->body_off) : -1;
	close(fd);
	char *out = n > 0 ? bounce_headers(raw, (size_t)n, len) : NULL;
	free(raw);
	return out;
}

struct dsn_done {
	char qid[QID_MAX];
	bool delay;
};

static void
dsn_committed(void *arg, struct qmsg *m, int err)
{
	struct dsn_done *dd = arg;
	const char *what = dd->delay ? "delay" : "non-delivery";
	if (err)
		log_qmgr(LOG_ERR, "%s: sender %s notification not queued: %s", dd->qid, what,
			 strerror(err));
	else
		log_qmgr(LOG_INFO, "%s: sender %s notification: %s", dd->qid, what, m->id);
	if (!err) {
		log_qmgr(LOG_INFO, "%s: from=<>, size=%llu, nrcpt=1, client=local (queued)", m->id,
			 (unsigned long long)m->size);
		stats_count(STAT_RECEIVED, NULL, 1);
	}
	free(dd);
}

/* Queue a DSN to M's sender about recipients IDX[0..N-1] (a delay warning
 * when DELAY). Mail from <> is never bounced: that is what stops loops. */
static void
notify(struct qmsg *m, const size_t *idx, size_t n, bool delay)
{
	const struct conf *c = relayd_conf;
	static unsigned long unique;

	if (n == 0)
		return;
	if (m->sender[0] == '\0') {
		log_qmgr(LOG_INFO, "%s: no %s notification: the sender is <>", m->id,
			 delay ? "delay" : "non-delivery");
		return;
	}
	size_t hlen = 0, len = 0;
	char *headers = read_headers(m, &hlen);
	char *text = bounce_text(m, idx, n, delay, headers, hlen, c, time(NULL), ++unique, &len);
	free(headers);
	if (!text) {
		log_qmgr(LOG_ERR, "%s: cannot build the %s notification", m->id,
			 delay ? "delay" : "non-delivery");
		return;
	}
	const char *to[1] = {m->sender};
	struct qenv env = {
		.sender = "",
		.rcpt = to,
		.nrcpt = 1,
		.client = "local",
		.body = BODY_8BITMIME,
		.smtputf8 = m->smtputf8,
	};
	struct qmsg *dsn = queue_create(&env);
	data_stuff(text, len, queue_write_cb, dsn);
	free(text);
	struct dsn_done *dd = calloc(1, sizeof(*dd));
	if (!dd)
		fatal("out of memory");
	snprintf(dd->qid, sizeof(dd->qid), "%s", m->id);
	dd->delay = delay;
	queue_commit(dsn, (uint64_t)dsn->body_len, dsn_committed, dd);
}

/* A DSN for every recipient that failed since the last one. */
static void
notify_failures(struct qmsg *m)
{
	size_t *idx = calloc(m->nrcpt, sizeof(*idx)), n = 0;
	if (!idx)
		fatal("out of memory");
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].notify) {
			m->rcpt[i].notify = false;
			idx[n++] = i;
		}
	notify(m, idx, n, false);
	free(idx);
}

/* The one delay warning, for the recipients still waiting. */
static void
notify_delay(struct qmsg *m)
{
	size_t *idx = calloc(m->nrcpt, sizeof(*idx)), n = 0;
	if (!idx)
		fatal("out of memory");
	m->warned = true;
	m->state_sync = true;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			idx[n++] = i;
	notify(m, idx, n, true);
	free(idx);
}

/* A delivery job over M finished. */
void
queue_job_done(struct qmsg *m)
{
	m->jobs--;
	if (m->jobs == 0 && m->retrying) {
		m->retrying = 0;
		q_retry_inflight--;
		if (q_retry_inflight == RETRY_INFLIGHT_MAX - 1)
			queue_rearm(); /* room again */
	}
	if (m->jobs == 0 && m->state == Q_QUEUED) {
		notify_failures(m);
		if (!msg_finished(m) &&
		    sched_warn_due(&relayd_conf->queue, m->arrival, m->warned, time(NULL)))
			notify_delay(m);
		if (msg_finished(m)) {
			msg_finish(m);
		} else {
			spool_state_save(m);
			queue_schedule(m);
		}
	}
	msg_unref(m);
}

/* Put M in the heap at its earliest waiting recipient's time. */
static void
queue_schedule(struct qmsg *m)
{
	time_t when = 0;
	bool any = false;

	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || r->inflight)
			continue;
		if (!any || r->next_attempt < when)
			when = r->next_attempt;
		any = true;
	}
	msg_unsched(m);
	if (!any || m->held)
		return; /* a held message waits for relayctl release */
	/* Wake up for the delay warning even between attempts. */
	const struct conf_queue *qc = &relayd_conf->queue;
	if (qc->delay_warning > 0 && !m->warned) {
		time_t warn_at = m->arrival + (time_t)qc->delay_warning;
		if (warn_at < when)
			when = warn_at;
	}
	/* New mail (no recipient tried yet) goes before every retry. */
	m->fresh = true;
	for (size_t i = 0; i < m->nrcpt && m->fresh; i++)
		if (m->rcpt[i].attempts > 0)
			m->fresh = false;
	if ((m->fresh ? sched_set(&q_fresh, &m->sched, when)
		      : retryq_set(&q_retry, &m->sched, when)) == -1)
		fatal("out of memory");
	queue_rearm();
}

static void
expire(struct qmsg *m, size_t i)
{
	struct qrcpt *r = &m->rcpt[i];
	struct dlv_event ev = {.what = DLV_W_EXPIRED, .reason = r->last_reply};
	struct dlv_verdict v;

	dlv_decide(&ev, &v);
	r->state = RCPT_EXPIRED;
	m->state_sync = true;
	r->notify = true;
	msg_set_status(r, "4.4.7");
	stats_count(STAT_EXPIRED, r->transport, 1);
	log_outcome(m, r, r->transport ? r->transport : "none", &v.d, "expired");
	log_advice(m, r);
}

/* A lookup of a domain's MX hosts that recipients wait for, to know
 * whether an mx: route applies. It counts as a job of the message. */
struct mxwait {
	struct qmsg *m;
	char domain[256];
	size_t *idx;
	size_t n;
	struct mxwait *next;
};

static void
mx_ready(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct mxwait *w = arg;
	struct qmsg *m = w->m;
	time_t now = time(NULL);

	for (size_t i = 0; i < w->n; i++) {
		struct qrcpt *r = &m->rcpt[w->idx[i]];
		if (st == DNS_TEMPFAIL) {
			/* Which route applies depends on the MX hosts. */
			struct dlv_event ev = {.what = DLV_W_MX, .host = w->domain, .dns = st};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			queue_result(m, w->idx[i], "none", &v.d);
		} else {
			/* The answer is cached now: route on the next run. */
			r->inflight = false;
			r->next_attempt = now;
		}
	}
	free(w->idx);
	free(w);
	queue_job_done(m);
}

/* Recipient I of M waits for DOMAIN's MX lookup (one per domain). */
static void
mx_wait(struct mxwait **waits, struct qmsg *m, const char *domain, size_t i)
{
	struct mxwait *w;
	for (w = *waits; w; w = w->next)
		if (strcasecmp(w->domain, domain) == 0)
			break;
	if (!w) {
		if (!(w = calloc(1, sizeof(*w))) || !(w->idx = calloc(m->nrcpt, sizeof(*w->idx))))
			fatal("out of memory");
		w->m = m;
		snprintf(w->domain, sizeof(w->domain), "%s", domain);
		w->next = *waits;
		*waits = w;
	}
	w->idx[w->n++] = i;
	m->rcpt[i].inflight = true;
}

/* The route of R's domain; NULL with *WAIT set when the domain's MX hosts
 * must be looked up first. */
static const struct conf_route *
route_of(const struct conf *c, const char *domain, bool *wait)
{
	*wait = false;
	if (!route_needs_mx(c, domain))
		return route_lookup(c, domain, NULL, 0);
	enum dns_status st;
	struct dns_mx mx[32];
	size_t n;
	if (!dns_mx_cached(domain, &st, mx, &n)) {
		*wait = true;
		return NULL;
	}
	const char *hosts[32];
	size_t k = 0;
	for (size_t i = 0; st == DNS_OK && i < n && k < 32; i++)
		hosts[k++] = mx[i].host;
	return route_lookup(c, domain, hosts, k);
}

/* Hand M's due recipients to mta.c, one job per destination. */
static int
job_body(void *owner, off_t *off, off_t *len)
{
	return queue_body(owner, off, len);
}

static void
job_result(void *owner, size_t idx, const char *transport, const struct dlv *d)
{
	queue_result(owner, idx, transport, d);
}

static void
job_done(void *owner)
{
	queue_job_done(owner);
}

/* How mta.c reports on the jobs of a message (job.h). */
static const struct job_ops queue_job_ops = {
	.body = job_body,
	.result = job_result,
	.done = job_done,
};

static void
dispatch(struct qmsg *m, time_t now, bool retry)
{
	const struct conf *c = relayd_conf;
	struct job *jobs = NULL;
	struct mxwait *waits = NULL;
	bool changed = false;

	if (m->held)
		return; /* never in the heap; queue_hold() releases it */

	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || r->inflight || r->next_attempt > now)
			continue;
		if (r->attempts > 0 && sched_expired(&c->queue, m->arrival, now)) {
			expire(m, i);
			changed = true;
			continue;
		}
		const char *domain = cmd_domain(r->addr);
		bool wait;
		const struct conf_route *rt = route_of(c, domain, &wait);
		/* An mx: route, or a transport whose destinations are sites,
		 * needs the domain's MX hosts first. */
		if (wait || (rt && site_needs_mx(rt->transport, domain))) {
			mx_wait(&waits, m, domain, i);
			continue;
		}
		if (!rt) {
			struct dlv_event ev = {.what = DLV_W_NO_ROUTE};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			r->inflight = true;
			queue_result(m, i, "none", &v.d);
			changed = true;
			continue;
		}
		const struct conf_transport *t = rt->transport;
		bool detoured = false;
		if (r->detour) {
			/* Re-routed (a reputation block, a warm-up overflow): stays there. */
			const struct conf_transport *ft = conf_transport_find(c, r->detour);
			if (ft) {
				t = ft;
				detoured = true;
			}
		} else if (t->fallback && mta_detour_active(t, domain, NULL)) {
			/* The destination is on hold: straight to the fallback. */
			t = t->fallback;
			detoured = true;
		}
		bool mx = t->nrelay == 0;
		if (mx && site_needs_mx(t, domain)) { /* the fallback's sites */
			mx_wait(&waits, m, domain, i);
			continue;
		}
		/* One job per destination: recipients of a site's domains go in
		 * one transaction. */
		char skey[SITE_KEY_MAX];
		const char *key = site_key(t, domain, skey, sizeof(skey), NULL);
		struct job *j;
		for (j = jobs; j; j = j->next)
			if (j->transport == t && j->detoured == detoured &&
			    (!mx || strcasecmp(j->key, key) == 0))
				break;
		if (!j) {
			j = job_new(m->nrcpt, mx ? domain : NULL);
			if (mx && !(j->key = strdup(key)))
				fatal("out of memory");
			j->ops = &queue_job_ops;
			j->owner = m;
			j->sender = m->sender;
			j->size = m->size;
			j->body = m->body;
			j->smtputf8 = m->smtputf8;
			j->transport = t;
			j->detoured = detoured;
			j->next = jobs;
			jobs = j;
		}
		job_add(j, r->addr, i);
		r->inflight = true;
	}
	if (retry && !m->retrying && (jobs || waits)) {
		m->retrying = 1;
		q_retry_inflight++;
	}
	while (waits) {
		struct mxwait *w = waits;
		waits = w->next;
		m->jobs++;
		m->refs++;
		dns_mx(w->domain, mx_ready, w);
	}
	while (jobs) {
		struct job *j = jobs;
		jobs = j->next;
		j->next = NULL;
		m->jobs++;
		m->refs++;
		mta_submit(j);
	}
	if (m->jobs == 0 && m->state == Q_QUEUED) {
		notify_failures(m);
		if (!msg_finished(m) && sched_warn_due(&c->queue, m->arrival, m->warned, now)) {
			notify_delay(m);
			changed = true;
		}
		if (msg_finished(m)) {
			msg_finish(m);
			return;
		}
		if (changed)
			spool_state_save(m);
	}
	if (m->state == Q_QUEUED)
		queue_schedule(m);
}

/* Monotonic seconds (mta.c has its own: neither includes the other). */
static double
mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Microseconds of the loop since T0 (the budgets of slices and turns). */
static long
us_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* A new message's 250 came SECS after its first RCPT: what the pace of a
 * drain watches (pace.h); -v logs it once a second while a drain is paced. */
void
queue_accepted(double secs)
{
	double at = q_pace.acc_at;
	pace_accepted(&q_pace, mono_now(), secs);
	if (q_pace.acc_at != at && pace_draining(&q_pace))
		log_debug("pace: new mail took %.2f ms from its first RCPT to its 250 "
			  "(reference %.2f ms), retries that deliver paced at %.0f/s, "
			  "new mail %.0f/s",
			  q_pace.acc_mean * 1e3, q_pace.acc_ref * 1e3, q_pace.ok_rate,
			  q_pace.fresh_rate);
}

/* Run due messages: all due new mail, then retries for at most
 * QUEUE_RUN_BUDGET_US of this turn of the loop (and as the pace allows);
 * when retries are left, the loop serves sessions and connections before
 * the next turn, so a backlog made due at once never stalls the loop. */
static void
queue_run(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	struct sched_entry *e;
	struct timespec t0;

	if (q_stopping)
		return;
	double mono = mono_now();
	while ((e = sched_pop_due(&q_fresh, now)) != NULL) {
		pace_fresh(&q_pace, mono);
		dispatch(msg_of(e), now, false);
	}
	double rate = pace_rate(&q_pace, mono);
	q_pace.next = 0;
	if (!rate)
		q_pace.tokens = 0, q_pace.at = mono;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned n = 1;; n++) {
		bool flushed;
		if (!(e = retryq_next(&q_retry, &flushed)) || (!flushed && e->when > now))
			break;
		if (q_retry_inflight >= RETRY_INFLIGHT_MAX)
			return; /* queue_job_done() rearms */
		if (rate && !pace_take(&q_pace, mono, rate))
			break; /* queue_rearm() waits until q_pace.next */
		retryq_cancel(&q_retry, e);
		struct qmsg *m = msg_of(e);
		if (flushed)
			flush_rcpts(m, now);
		dispatch(m, now, true);
		if (n % 16 != 0)
			continue;
		if (us_since(&t0) >= QUEUE_RUN_BUDGET_US) {
			struct timeval zero = {0, 0};
			evtimer_add(q_timer, &zero); /* the rest on the next turn */
			return;
		}
	}
	queue_rearm();
}

static long long
tv_usec(const struct timeval *t)
{
	return (long long)t->tv_sec * 1000000 + t->tv_usec;
}

/* Arm the timer for the earliest scheduled message. */
static void
queue_rearm(void)
{
	bool flushed;
	struct sched_entry *e = retryq_next(&q_retry, &flushed), *f = sched_peek(&q_fresh);
	if (q_retry_inflight >= RETRY_INFLIGHT_MAX)
		e = NULL; /* queue_job_done() rearms when there is room */
	if (q_stopping || (!e && !f))
		return;
	time_t now = time(NULL);
	/* Microseconds from now: new mail when due, retries when due and
	 * the pace allows. */
	long long delay = -1;
	if (f)
		delay = f->when > now ? (long long)(f->when - now) * 1000000 : 0;
	if (e) {
		long long d = !flushed && e->when > now ? (long long)(e->when - now) * 1000000 : 0;
		double wait = q_pace.next - mono_now();
		if (wait > 0 && d < (long long)(wait * 1e6))
			d = (long long)(wait * 1e6) + 1;
		if (delay < 0 || d < delay)
			delay = d;
	}
	struct timeval tv = {(time_t)(delay / 1000000), (suseconds_t)(delay % 1000000)};
	/* A pending timer that fires earlier is fine: queue_run re-arms. */
	struct timeval left, cur;
	if (evtimer_pending(q_timer, &left)) {
		event_base_gettimeofday_cached(q_base, &cur);
		long long until = tv_usec(&left) - tv_usec(&cur); /* till it fires */
		if (until > 0 && tv_usec(&tv) >= until)
			return;
	}
	evtimer_add(q_timer, &tv);
}

/* Its deferred recipients due at NOW (that wait for no delivery). */
static void
flush_rcpts(struct qmsg *m, time_t now)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state == RCPT_PENDING && !r->inflight)
			r->next_attempt = now;
	}
}

/* Retry deferred recipients now: all, or those of QID. The operator says
 * their destinations are back: their down pauses end first, so the retry
 * is an attempt, not a deferral unseen. All: the retry heap is set aside
 * whole as a flushed batch (O(1): walking a million messages to make each
 * due held the loop 5 s in slices, and 300 KiB messages arriving meanwhile
 * got 0.34 of normal); queue_run() makes each due as it takes it, paced
 * like every retry. */
int
queue_flush(const char *qid)
{
	time_t now = time(NULL);
	struct qmsg *one = qid ? msg_find(qid) : NULL;

	if (qid && !one)
		return -1;
	if (one) {
		for (size_t i = 0; i < one->nrcpt; i++) {
			struct qrcpt *r = &one->rcpt[i];
			if (r->state == RCPT_PENDING && !r->inflight && r->transport)
				mta_flush(r->transport, cmd_domain(r->addr));
		}
		flush_rcpts(one, now);
		queue_schedule(one);
		return 0;
	}
	mta_flush(NULL, NULL);
	if (retryq_flush(&q_retry) == -1)
		fatal("out of memory");
	queue_rearm();
	return 0;
}

/*
 * A release goes through the ids that waited for the destination in slices
 * of RELEASE_SLICE_US of the loop: a million waiting messages took 1.5 s of
 * the loop in one go (greetings waited that long while a backlog drained).
 * A small one is done at once.
 */
#define RELEASE_SLICE_US 2000

struct release {
	struct release *next;
	uint64_t *ids;
	size_t nids, k, n;
	time_t at;
	char *transport, *domain; /* domain NULL: the relay list */
};

static struct release *q_rel_head, *q_rel_tail;
static struct event *q_rel_ev;
static long q_rel_budget = RELEASE_SLICE_US; /* tests: RELAYD_RELEASE_SLICE_US */

/* Release the next ids of RL until T0 + RELEASE_SLICE_US; true when all. */
static bool
release_step(struct release *rl, const struct timespec *t0)
{
	for (unsigned c = 0; rl->k < rl->nids; c++) {
		if (c % 64 == 63 && us_since(t0) >= q_rel_budget)
			return false;
		struct qmsg *m = qindex_find(&q_byid, rl->ids[rl->k++]);
		bool any = false;
		if (!m || m->held)
			continue; /* gone; or released by relayctl release, due then */
		for (size_t i = 0; i < m->nrcpt; i++) {
			struct qrcpt *r = &m->rcpt[i];
			if (!r->waiting || r->state != RCPT_PENDING || r->inflight ||
			    !r->transport || strcmp(r->transport, rl->transport) != 0 ||
			    (rl->domain && strcasecmp(cmd_domain(r->addr), rl->domain) != 0))
				continue;
			r->waiting = 0;
			if (r->next_attempt <= rl->at)
				continue; /* due anyway */
			r->next_attempt = rl->at;
			any = true;
			rl->n++;
		}
		if (any)
			queue_schedule(m);
	}
	return true;
}

static void
release_slice(evutil_socket_t fd, short what, void *arg)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (q_rel_head && !q_stopping) {
		struct release *rl = q_rel_head;
		if (!release_step(rl, &t0)) {
			struct timeval zero = {0, 0};
			evtimer_add(q_rel_ev, &zero); /* the rest on the next turn */
			return;
		}
		if (rl->n)
			log_qmgr(
				LOG_INFO,
				"%s: destination %s works again: %zu deferred recipient%s released",
				rl->transport, rl->domain ? rl->domain : "(relay)", rl->n,
				rl->n == 1 ? "" : "s");
		q_rel_head = rl->next;
		if (!q_rel_head)
			q_rel_tail = NULL;
		free(rl->ids);
		free(rl->transport);
		free(rl->domain);
		free(rl);
	}
}

/* Deferred recipients of TRANSPORT (and DOMAIN) that waited for the
 * destination are due now: it works again. Recipients deferred for their
 * own reasons (greylisting, a full mailbox) keep their retry time. Costs
 * the messages listed as waiting for it (waitq.h), never a walk. */
void
queue_release(const char *transport, const char *domain)
{
	size_t nids;
	uint64_t *ids = waitq_take(transport, domain, &nids);
	if (!ids || nids == 0) {
		free(ids);
		return;
	}
	struct release *rl = calloc(1, sizeof(*rl));
	if (!rl || !(rl->transport = strdup(transport)) ||
	    (domain && !(rl->domain = strdup(domain))))
		fatal("out of memory");
	rl->ids = ids;
	rl->nids = nids;
	rl->at = time(NULL);
	if (q_rel_tail)
		q_rel_tail->next = rl;
	else
		q_rel_head = rl;
	q_rel_tail = rl;
	if (q_rel_head == rl)
		release_slice(-1, 0, NULL); /* a small one: done now */
}

/* Remove QID from the queue without a bounce; -1 when there is none. A
 * delivery in flight finishes, but its outcome no longer matters. */
int
queue_delete(const char *qid)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			m->rcpt[i].state = RCPT_BOUNCED; /* no DSN: just done */
	log_qmgr(LOG_INFO, "%s: removed by the administrator", m->id);
	msg_finish(m);
	return 0;
}

/* Remove every queued message without a bounce. */
size_t
queue_delete_all(void)
{
	size_t n = 0;
	struct qmsg *m, *next;

	for (m = msg_first(); m; m = next) {
		next = msg_next(m);
		queue_delete(m->id);
		n++;
	}
	return n;
}

/* Hold or release M; true if that changed it. */
static bool
msg_hold(struct qmsg *m, bool hold)
{
	if (m->held == hold)
		return false;
	m->held = hold;
	m->state_sync = true;
	if (!hold) {
		/* Released: due at once (the retry clock ran meanwhile). */
		time_t now = time(NULL);
		for (size_t i = 0; i < m->nrcpt; i++)
			if (m->rcpt[i].state == RCPT_PENDING && !m->rcpt[i].inflight)
				m->rcpt[i].next_attempt = now;
	}
	log_info("%s: %s", m->id, hold ? "placed on hold" : "released from hold");
	/* The state file says so: a hold survives a restart. */
	spool_state_save(m);
	queue_schedule(m);
	return true;
}

/* Hold or release QID: 1 changed, 0 already so, -1 not queued. */
int
queue_hold(const char *qid, bool hold)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	return msg_hold(m, hold) ? 1 : 0;
}

/* Does M have a pending recipient in DOMAIN. */
static bool
msg_has_domain(const struct qmsg *m, const char *domain)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING &&
		    strcasecmp(cmd_domain(m->rcpt[i].addr), domain) == 0)
			return true;
	return false;
}

/* Hold or release every message, or those with a recipient in DOMAIN. */
size_t
queue_hold_all(const char *domain, bool hold)
{
	size_t n = 0;

	for (struct qmsg *m = msg_first(); m; m = msg_next(m))
		if ((!domain || msg_has_domain(m, domain)) && msg_hold(m, hold))
			n++;
	return n;
}

/* An fd on QID's stored body for a reader that may outlive its stay in
 * the queue: the file is pinned (never given to the pool for reuse), so
 * once unlinked it still reads this message. */
int
queue_body_open(const char *qid, off_t *off, off_t *len)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	m->pinned = true;
	return queue_body(m, off, len);
}

char *
queue_client(const struct qmsg *m)
{
	return spool_client(m);
}

/* Call CB for every queued message, oldest first. */
void
queue_foreach(void (*cb)(void *arg, const struct qmsg *m), void *arg)
{
	for (struct qmsg *m = msg_first(); m; m = msg_next(m))
		cb(arg, m);
}

/* The queued message with the smallest id above AFTER (NULL or "": the
 * first), or NULL: a cursor that survives the message at it leaving. */
const struct qmsg *
queue_next(const char *after)
{
	if (!after || !after[0])
		return msg_first();
	/* Gone since or not: the first one above it (a binary search). */
	uint64_t k = msg_id_key(after);
	return k ? qindex_after(&q_byid, k) : NULL;
}

/* The queued message QID, or NULL. */
const struct qmsg *
queue_find(const char *qid)
{
	return msg_find(qid);
}

/* No commit waiting for its completion. */
bool
queue_idle(void)
{
	return spool_idle();
}

/* Messages in the queue. */
size_t
queue_count(void)
{
	return qindex_count(&q_byid);
}

/* ---- start and stop ------------------------------------------------- */

/* A message the storage read back at start. */
static void
queue_recovered(struct qmsg *m)
{
	m->state = Q_QUEUED;
	list_add(m);
	wait_recovered(m);
	queue_schedule(m);
}

static const struct qmsg *
queue_find_key(uint64_t key)
{
	return qindex_find(&q_byid, key);
}

static const struct spool_ops queue_spool_ops = {
	.recovered = queue_recovered,
	.committed = queue_committed,
	.find = queue_find_key,
};

int
queue_check(const char *spool, char **cause)
{
	return spool_check(spool, cause);
}

/* Create the spool under the configuration's path and recover its queue. */
int
queue_init(struct event_base *base, char **cause)
{
	q_base = base;
	pace_init(&q_pace);
	retryq_init(&q_retry);
	sched_init(&q_fresh);
	q_timer = evtimer_new(base, queue_run, NULL);
	q_rel_ev = evtimer_new(base, release_slice, NULL);
	/* Tests set a shorter slice to see a small release made in slices. */
	const char *rel = getenv("RELAYD_RELEASE_SLICE_US");
	if (rel)
		q_rel_budget = strtol(rel, NULL, 10);
	if (!q_timer || !q_rel_ev) {
		*cause = "cannot create queue timer";
		return -1;
	}
	return spool_init(relayd_conf->spool, base, &queue_spool_ops, cause);
}

/* Stop the journal thread (everything committed has been answered). */
void
queue_close(void)
{
	spool_close();
}

/* Stop dispatching; spool writes already submitted finish in the worker. */
void
queue_shutdown(void)
{
	q_stopping = true;
	spool_shutdown();
	if (q_timer)
		evtimer_del(q_timer);
}
