/*
 * control.c — the control socket: relayctl's commands on the event loop.
 *
 * control_check()     could a socket be created at the path (for relayd -n)
 * control_probe()     is another process answering on the socket path
 * control_init()      replace a stale socket, bind (0600), serve
 * control_shutdown()  stop serving, remove our socket
 * control_route()     the text of `relayctl route ADDRESS` (the daemon looks
 *                     up the MX hosts and adds the destination's state)
 *
 * A connection reads one request line (at most CONTROL_LINE_MAX bytes,
 * within CONTROL_TIMEOUT), splits it into words, runs the command from
 * commands[], writes "ok" or "error: MESSAGE" and the output, and closes
 * once the output is flushed. Nothing here blocks the loop: the socket is
 * non-blocking, the output goes through the connection's bufferevent, the
 * MX lookup of `route` is asynchronous, and long outputs are made in parts.
 *
 * Invariants: a queue listing never holds more than CONTROL_BATCH messages'
 * worth of text in memory. It is produced in batches, in queue id order
 * (ids grow with time, so oldest first): each batch is the CONTROL_BATCH
 * ids after the last one written (queue_next(): a binary search, so a
 * batch costs the same in a queue of any size; 256 messages are about 5 ms
 * of text, so a greeting never waits 10 ms behind one), rendered at once, and
 * the next batch is made only when the client has read the output down to
 * CONTROL_LOWAT. No pointer to a message survives a batch, so messages
 * delivered or deleted meanwhile are simply not listed, and ones that
 * arrive meanwhile are. `queue --summary` walks the queue the same way, a
 * batch per turn of the loop, counting into a table (shape.c) that it
 * prints at the end. `show` writes the message from its file in
 * CONTROL_SHOW_CHUNK pieces as the client reads (queue_body_open(): the
 * file stays this message's even if it leaves the queue meanwhile).
 * Commands about single messages find them by id (queue_find()); only ALL
 * and @DOMAIN walk the queue. Only root and relayd's own user may connect
 * (the socket is 0600; the peer's uid is checked as well).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "relayd/bounce.h"
#include "relayd/cluster.h"
#include "relayd/control.h"
#include "relayd/destlist.h"
#include "relayd/dns.h"
#include "relayd/json.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "relayd/selfcheck.h"
#include "relayd/session.h"
#include "relayd/shape.h"
#include "relayd/spool_fmt.h"
#include "relayd/site.h"
#include "relayd/stats.h"
#include "relayd/sts.h"
#include "relayd/tlsreport.h"
#include "relayd/warmup.h"
#include "smtp/classify.h"
#include "smtp/cmd.h"
#include "smtp/data.h"

#define CONTROL_TIMEOUT 10	       /* seconds to send the request */
#define CONTROL_WRITE_TIMEOUT 60       /* seconds a client may stall reading */
#define CONTROL_MAX_CLIENTS 16	       /* concurrent connections */
#define CONTROL_BATCH 256	       /* messages per listing batch */
#define CONTROL_BATCH_US 2000	       /* and at most this long */
#define CONTROL_LOWAT (64 * 1024)      /* refill the listing below this */
#define CONTROL_SHOW_CHUNK (64 * 1024) /* bytes of a message read at once */
#define CONTROL_UNKNOWN_SHOWN 10       /* unknown ids named in an error */

/* What the write callback goes on producing. */
enum ctl_out { OUT_REPLY, OUT_LIST, OUT_SHOW };

struct ctl_conn {
	struct bufferevent *bev;
	enum ctl_out out;
	bool json;	      /* the listing is JSON */
	bool closing;	      /* close once the output is flushed */
	char cursor[QID_MAX]; /* last queue id listed or counted; "" before */
	size_t nmsg, nrcpt;   /* listed so far */
	struct shape *shape;  /* queue --summary: the counts so far */
	struct event *tick;   /* ... its next batch */
	int fd;		      /* show: the message file, or -1 */
	off_t off, left;      /* ... where the rest of its body is */
	struct data_unstuffer un;
	struct dns_query *dq; /* route: the MX lookup in flight */
	char *address;	      /* ... for this address */
	struct control_mx mx; /* route: the MX answer kept for the TLSA lookup */
	struct dns_mx *mxs;
	struct sts_query *stsq;	    /* ... the MTA-STS policy being found */
	struct selfcheck_wait *scw; /* check --now: the run waited for */
	char *transport;	    /* ... the transport asked about, or NULL */
	struct ctl_conn *next, *prev;
};

struct ctl_cmd {
	const char *verb;
	int min, max; /* words after the verb; max -1: any number */
	bool line;    /* the one argument is the rest of the line, spaces and all */
	void (*run)(struct ctl_conn *cc, int argc, char **argv);
};

static struct event_base *c_base;
static struct evconnlistener *c_listener;
static char *c_path;
static dev_t c_dev;
static ino_t c_ino;
static int (*c_reload)(char **);
static struct ctl_conn *c_head;
static size_t c_count;

static void
conn_free(struct ctl_conn *cc)
{
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		c_head = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	c_count--;
	bufferevent_free(cc->bev);
	if (cc->tick)
		event_free(cc->tick);
	shape_free(cc->shape);
	if (cc->fd != -1)
		close(cc->fd);
	dns_cancel(cc->dq);
	free(cc->address);
	free(cc->mxs);
	sts_cancel(cc->stsq);
	selfcheck_cancel(cc->scw);
	free(cc->transport);
	free(cc);
}

/* Close after the output is flushed; the write callback frees CC. */
static void
conn_finish(struct ctl_conn *cc)
{
	cc->closing = true;
	cc->out = OUT_REPLY;
	bufferevent_setwatermark(cc->bev, EV_WRITE, 0, 0);
	bufferevent_disable(cc->bev, EV_READ);
	bufferevent_enable(cc->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
		conn_free(cc);
}

static void reply_error(struct ctl_conn *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply_error(struct ctl_conn *cc, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	va_list ap;

	evbuffer_add(out, "error: ", 7);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\n", 1);
	conn_finish(cc);
}

/* "ok" and one line of text, then close. */
static void reply_ok(struct ctl_conn *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply_ok(struct ctl_conn *cc, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	va_list ap;

	evbuffer_add(out, "ok\n", 3);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\n", 1);
	conn_finish(cc);
}

/* Text for a human: control characters (never expected in an address or a
 * reply relayd kept, but never trusted either) become '?'. */
static void
put_text(struct evbuffer *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		if ((unsigned char)*s >= 0x20 && *s != 0x7F)
			continue;
		evbuffer_add(out, run, (size_t)(s - run));
		evbuffer_add(out, "?", 1);
		run = s + 1;
	}
	evbuffer_add(out, run, (size_t)(s - run));
}

/* "45s", "12m", "2h13m", "3d4h". */
static void
put_duration(struct evbuffer *out, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		evbuffer_add_printf(out, "%llds", s);
	else if (s < 3600)
		evbuffer_add_printf(out, "%lldm", s / 60);
	else if (s < 86400)
		evbuffer_add_printf(out, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else
		evbuffer_add_printf(out, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* "2026-11-22 15:57:04", local time. */
static void
put_time(struct evbuffer *out, time_t t)
{
	char when[64];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	evbuffer_add_printf(out, "%s", when);
}

/* "in 28m (2026-11-22 16:54:11)", "now", "now (in progress)". */
static void
put_next(struct evbuffer *out, const struct qrcpt *r, time_t now)
{
	if (r->inflight) {
		evbuffer_add_printf(out, "now (in progress)");
	} else if (r->next_attempt <= now) {
		evbuffer_add_printf(out, "now");
	} else {
		evbuffer_add(out, "in ", 3);
		put_duration(out, (long long)(r->next_attempt - now));
		evbuffer_add(out, " (", 2);
		put_time(out, r->next_attempt);
		evbuffer_add(out, ")", 1);
	}
}

/* R's last reply and what it most likely means. */
static void
put_reply(struct evbuffer *out, const struct qrcpt *r)
{
	struct classification cl;

	if (!r->last_reply) {
		evbuffer_add_printf(out, "none");
		return;
	}
	char status[MSG_STATUS_MAX];
	classify(r->code, msg_status(r, status), r->last_reply, &cl);
	put_text(out, r->last_reply);
	if (cl.label)
		evbuffer_add_printf(out, " [%s]", cl.label);
}

/* What the operator can do about R's last failure (the classifier's text for
 * the operator, bounce_classify()), or NULL. */
static const char *
rcpt_advice(const struct qrcpt *r)
{
	struct classification cl;

	if (!r->last_reply)
		return NULL;
	bounce_classify(r, &cl);
	return cl.admin;
}

/* "        what to do: TEXT", wrapped at 78 columns with a deeper indent. */
static void
put_advice(struct evbuffer *out, const char *text)
{
	static const char lead[] = "        what to do:", more[] = "\n          ";
	size_t col = sizeof(lead) - 1, n;

	evbuffer_add(out, lead, sizeof(lead) - 1);
	while (*text) {
		while (*text == ' ')
			text++;
		n = strcspn(text, " ");
		if (n == 0)
			break;
		if (col + 1 + n > 78 && col > sizeof(more) - 2) {
			evbuffer_add(out, more, sizeof(more) - 1);
			col = sizeof(more) - 2;
		} else {
			evbuffer_add(out, " ", 1);
			col++;
		}
		evbuffer_add(out, text, n);
		col += n;
		text += n;
	}
	evbuffer_add(out, "\n", 1);
}

/* The transport a pending recipient used last, or the one its route gives
 * now; NULL when it has neither. */
static const char *
rcpt_transport(const struct qrcpt *r)
{
	if (r->transport)
		return r->transport;
	const struct conf_route *rt = route_lookup(relayd_conf, cmd_domain(r->addr), NULL, 0);
	return rt ? rt->transport->name : NULL;
}

/* ---- queue listing ---------------------------------------------------- */

static void
list_text(struct ctl_conn *cc, struct evbuffer *out, const struct qmsg *m, time_t now)
{
	evbuffer_add_printf(out, "%s  %llu bytes  age ", m->id, (unsigned long long)m->size);
	put_duration(out, (long long)(now - m->arrival));
	evbuffer_add(out, "  from <", 8);
	put_text(out, m->sender);
	evbuffer_add_printf(out, ">%s\n", m->held ? "  held" : "");
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING)
			continue;
		cc->nrcpt++;
		const char *t = rcpt_transport(r);
		evbuffer_add(out, "    to <", 8);
		put_text(out, r->addr);
		evbuffer_add_printf(out, ">\n        transport %s, attempts %u, next attempt ",
				    t ? t : "none (no route)", r->attempts);
		if (m->held && !r->inflight)
			evbuffer_add_printf(out, "when released (relayctl release %s)", m->id);
		else
			put_next(out, r, now);
		evbuffer_add(out, "\n        last reply: ", 21);
		put_reply(out, r);
		evbuffer_add(out, "\n", 1);
		const char *advice = rcpt_advice(r);
		if (advice)
			put_advice(out, advice);
	}
	evbuffer_add(out, "\n", 1);
}

static void
list_json(struct ctl_conn *cc, struct evbuffer *out, const struct qmsg *m)
{
	bool first = true;

	evbuffer_add_printf(out, "%s{\"id\":", cc->nmsg > 1 ? ",\n" : "");
	json_string(out, m->id);
	evbuffer_add_printf(out, ",\"size\":%llu,\"arrival\":%lld,\"held\":%s,\"sender\":",
			    (unsigned long long)m->size, (long long)m->arrival,
			    m->held ? "true" : "false");
	json_string(out, m->sender);
	evbuffer_add(out, ",\"recipients\":[", 15);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING)
			continue;
		cc->nrcpt++;
		evbuffer_add_printf(out, "%s{\"address\":", first ? "" : ",");
		first = false;
		json_string(out, r->addr);
		evbuffer_add(out, ",\"transport\":", 13);
		json_string(out, rcpt_transport(r));
		evbuffer_add_printf(out, ",\"attempts\":%u,\"next_attempt\":%lld,\"last_reply\":",
				    r->attempts, (long long)r->next_attempt);
		json_string(out, r->last_reply);
		const char *kind = NULL, *label = NULL;
		if (r->last_reply) {
			struct classification cl;
			char status[MSG_STATUS_MAX];
			classify(r->code, msg_status(r, status), r->last_reply, &cl);
			/* The contract: the classification, or null. */
			kind = cl.kind == CLASS_NONE ? NULL : classify_name(cl.kind);
			label = cl.label;
		}
		evbuffer_add(out, ",\"class\":", 9);
		json_string(out, kind);
		evbuffer_add(out, ",\"label\":", 9);
		json_string(out, label);
		/* What to do about it, also for relayd's own reasons. */
		evbuffer_add(out, ",\"advice\":", 10);
		json_string(out, rcpt_advice(r));
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add(out, "]}", 2);
}

/* Write the next batch of the listing, or its end. */
static void
list_more(struct ctl_conn *cc)
{
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	time_t now = time(NULL);
	size_t n = 0;
	const struct qmsg *m;

	/* The next CONTROL_BATCH messages in id order after the cursor: each
	 * batch costs its own size, whatever the queue's (queue_next()); and
	 * at most CONTROL_BATCH_US of the loop (at a million messages a batch
	 * of 256 sometimes took 14 ms). */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (m = queue_next(cc->cursor); m && n < CONTROL_BATCH; m = queue_next(m->id), n++) {
		if (n > 0 && n % 32 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 >=
			    CONTROL_BATCH_US)
				break;
		}
		cc->nmsg++;
		if (cc->json)
			list_json(cc, out, m);
		else
			list_text(cc, out, m, now);
		snprintf(cc->cursor, sizeof(cc->cursor), "%s", m->id);
	}
	if (m)
		return; /* more after the client read this batch */
	if (cc->json)
		evbuffer_add_printf(out, "%s]\n", cc->nmsg ? "\n" : "");
	else if (cc->nmsg == 0)
		evbuffer_add_printf(out, "queue is empty\n");
	else
		evbuffer_add_printf(out, "-- %zu message%s, %zu recipient%s pending\n", cc->nmsg,
				    cc->nmsg == 1 ? "" : "s", cc->nrcpt, cc->nrcpt == 1 ? "" : "s");
	conn_finish(cc);
}

/* queue --summary: count the next batch; print the table after the last.
 * A batch per turn of the loop, so a large queue never stalls it. */
static void
summary_more(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *cc = arg;
	size_t n = 0;
	const struct qmsg *m;

	for (m = queue_next(cc->cursor); m && n < CONTROL_BATCH; m = queue_next(m->id), n++) {
		for (size_t i = 0; i < m->nrcpt; i++)
			if (m->rcpt[i].state == RCPT_PENDING)
				shape_add(cc->shape, cmd_domain(m->rcpt[i].addr), m->arrival);
		snprintf(cc->cursor, sizeof(cc->cursor), "%s", m->id);
	}
	if (m) {
		struct timeval zero = {0, 0};
		evtimer_add(cc->tick, &zero);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	shape_render(cc->shape, out);
	conn_finish(cc);
}

/* ---- commands --------------------------------------------------------- */

static void
cmd_queue(struct ctl_conn *cc, int argc, char **argv)
{
	bool json = false, summary = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--summary") == 0)
			summary = true;
		else {
			reply_error(cc, "queue: unknown option %.64s (--json or --summary)",
				    argv[i]);
			return;
		}
	}
	if (json && summary) {
		reply_error(cc, "queue: --json or --summary, not both");
		return;
	}
	if (summary) {
		/* The answer comes whole at the end: nothing to write before. */
		cc->shape = shape_new(time(NULL));
		if (!(cc->tick = evtimer_new(c_base, summary_more, cc)))
			fatal("out of memory");
		summary_more(-1, 0, cc);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	cc->json = json;
	cc->out = OUT_LIST;
	if (cc->json)
		evbuffer_add(out, "[\n", 2);
	bufferevent_setwatermark(cc->bev, EV_WRITE, CONTROL_LOWAT, 0);
	list_more(cc);
}

static void
cmd_flush(struct ctl_conn *cc, int argc, char **argv)
{
	const char *qid = argc ? argv[0] : NULL;
	const struct qmsg *m = qid ? queue_find(qid) : NULL;

	if (qid && m && m->held) {
		reply_error(cc, "%s: the message is on hold; relayctl release %s delivers it", qid,
			    qid);
		return;
	}
	if (queue_flush(qid) == -1) {
		reply_error(cc, "%s: no such message in the queue", qid);
		return;
	}
	log_info("flush requested for %s", qid ? qid : "every queued message");
	evbuffer_add(bufferevent_get_output(cc->bev), "ok\n", 3);
	conn_finish(cc);
}

/* The words of ARGV that are not queued message ids, other than ALL and
 * @DOMAIN, as an error (nothing is done then); true if there were some. */
static bool
unknown_ids(struct ctl_conn *cc, int argc, char **argv, const char *nothing)
{
	struct evbuffer *list = evbuffer_new();
	size_t n = 0;

	if (!list)
		fatal("out of memory");
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '@' || queue_find(argv[i]))
			continue;
		if (n++ < CONTROL_UNKNOWN_SHOWN) {
			if (n > 1)
				evbuffer_add(list, ", ", 2);
			evbuffer_add_printf(list, "%.*s", FMT_QID_LEN + 8, argv[i]);
		}
	}
	if (n > CONTROL_UNKNOWN_SHOWN)
		evbuffer_add_printf(list, " and %zu more", n - CONTROL_UNKNOWN_SHOWN);
	if (n) {
		evbuffer_add(list, "", 1);
		reply_error(cc, "%s: no such message%s in the queue; %s",
			    (const char *)evbuffer_pullup(list, -1), n == 1 ? "" : "s", nothing);
	}
	evbuffer_free(list);
	return n > 0;
}

/* ALL must stand alone: an error (and true) when it does not. */
static bool
all_mixed(struct ctl_conn *cc, int argc, char **argv, const char *verb)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "ALL") == 0 && argc > 1) {
			reply_error(cc, "%s: ALL stands alone", verb);
			return true;
		}
	return false;
}

static void
cmd_delete(struct ctl_conn *cc, int argc, char **argv)
{
	size_t n = 0;

	if (all_mixed(cc, argc, argv, "delete"))
		return;
	if (strcmp(argv[0], "ALL") == 0) {
		n = queue_delete_all();
	} else {
		for (int i = 0; i < argc; i++)
			if (argv[i][0] == '@') {
				reply_error(cc, "delete: %.64s: delete takes queue ids or ALL",
					    argv[i]);
				return;
			}
		if (unknown_ids(cc, argc, argv, "nothing deleted"))
			return;
		/* All known: each is deleted once (a repeated id is gone). */
		for (int i = 0; i < argc; i++)
			if (queue_delete(argv[i]) == 0)
				n++;
	}
	log_info("relayctl delete: %zu message%s removed", n, n == 1 ? "" : "s");
	reply_ok(cc, "deleted %zu messages", n);
}

/* hold and release: QID..., ALL, or @DOMAIN (ids and domains may mix). */
static void
hold_release(struct ctl_conn *cc, int argc, char **argv, bool hold)
{
	const char *verb = hold ? "hold" : "release";
	size_t n = 0;

	if (all_mixed(cc, argc, argv, verb))
		return;
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "@") == 0) {
			reply_error(cc, "%s: @ without a domain", verb);
			return;
		}
	if (strcmp(argv[0], "ALL") != 0 &&
	    unknown_ids(cc, argc, argv, hold ? "nothing held" : "nothing released"))
		return;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "ALL") == 0)
			n += queue_hold_all(NULL, hold);
		else if (argv[i][0] == '@')
			n += queue_hold_all(argv[i] + 1, hold);
		else if (queue_hold(argv[i], hold) == 1)
			n++;
	}
	reply_ok(cc, "%s %zu messages", hold ? "held" : "released", n);
}

static void
cmd_hold(struct ctl_conn *cc, int argc, char **argv)
{
	hold_release(cc, argc, argv, true);
}

static void
cmd_release(struct ctl_conn *cc, int argc, char **argv)
{
	hold_release(cc, argc, argv, false);
}

/* ---- show ---------------------------------------------------------------- */

static const char *
rcpt_state(const struct qmsg *m, const struct qrcpt *r)
{
	switch (r->state) {
	case RCPT_PENDING:
		if (r->inflight)
			return "being delivered";
		if (m->held)
			return "held";
		return r->attempts || r->last_reply ? "deferred" : "waiting";
	case RCPT_SENT:
		return "sent";
	case RCPT_BOUNCED:
		return "bounced";
	case RCPT_EXPIRED:
		return "expired";
	}
	return "?";
}

/* The envelope, as `show` prints it before the message. */
static void
show_envelope(struct evbuffer *out, const struct qmsg *m, time_t now)
{
	evbuffer_add_printf(out, "id: %s\narrival: ", m->id);
	put_time(out, m->arrival);
	evbuffer_add(out, " (age ", 6);
	put_duration(out, (long long)(now - m->arrival));
	evbuffer_add_printf(out, ")\nsize: %llu bytes\nclient: ", (unsigned long long)m->size);
	char *client = queue_client(m);
	put_text(out, client ? client : "unknown (the envelope cannot be read)");
	free(client);
	evbuffer_add(out, "\n", 1);
	/* What the client declared: BODY= and SMTPUTF8. */
	if (m->body != BODY_NONE || m->smtputf8)
		evbuffer_add_printf(out, "body: %s%s%s\n",
				    m->body == BODY_8BITMIME ? "8BITMIME"
				    : m->body == BODY_7BIT   ? "7BIT"
							     : "",
				    m->body != BODY_NONE && m->smtputf8 ? ", " : "",
				    m->smtputf8 ? "SMTPUTF8" : "");
	evbuffer_add_printf(out, "held: %s\nsender: <", m->held ? "yes" : "no");
	put_text(out, m->sender);
	evbuffer_add(out, ">\n", 2);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];
		evbuffer_add(out, "recipient: <", 12);
		put_text(out, r->addr);
		evbuffer_add_printf(out, "> %s", rcpt_state(m, r));
		if (r->transport)
			evbuffer_add_printf(out, ", transport %s", r->transport);
		if (r->detour && r->transport && strcmp(r->detour, r->transport) == 0)
			evbuffer_add_printf(out, " (re-routed)");
		else if (r->detour)
			evbuffer_add_printf(out, " (re-routed to %s)", r->detour);
		evbuffer_add_printf(out, ", attempts %u", r->attempts);
		if (r->state == RCPT_PENDING && !m->held) {
			evbuffer_add(out, ", next attempt ", 15);
			put_next(out, r, now);
		}
		if (r->relay) {
			evbuffer_add(out, ", relay ", 8);
			put_text(out, r->relay);
		}
		if (r->state != RCPT_SENT && r->last_reply) {
			evbuffer_add(out, ", last reply: ", 14);
			put_reply(out, r);
		}
		evbuffer_add(out, "\n", 1);
	}
	evbuffer_add(out, "\n", 1);
}

static void
show_out(void *arg, const char *buf, size_t len)
{
	evbuffer_add(arg, buf, len);
}

/* Write the next pieces of the message, or its end. */
static void
show_more(struct ctl_conn *cc)
{
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	char buf[CONTROL_SHOW_CHUNK];

	while (cc->left > 0 && evbuffer_get_length(out) < 2 * CONTROL_LOWAT) {
		size_t want = cc->left < (off_t)sizeof(buf) ? (size_t)cc->left : sizeof(buf);
		ssize_t n = pread(cc->fd, buf, want, cc->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* After "ok": all that can be done is to say so in
			 * the log and end the output short. */
			log_warn("control: show: reading the message file: %s",
				 n == 0 ? "it ended early" : strerror(errno));
			break;
		}
		data_unstuff_more(&cc->un, buf, (size_t)n, show_out, out);
		cc->off += n;
		cc->left -= n;
		if (cc->left == 0)
			break;
	}
	if (cc->left > 0 && evbuffer_get_length(out) >= 2 * CONTROL_LOWAT)
		return; /* more once the client read this */
	close(cc->fd);
	cc->fd = -1;
	conn_finish(cc);
}

static void
cmd_show(struct ctl_conn *cc, int argc, char **argv)
{
	const struct qmsg *m = queue_find(argv[0]);
	off_t off, len;

	if (!m) {
		reply_error(cc, "%.64s: no such message in the queue", argv[0]);
		return;
	}
	if ((cc->fd = queue_body_open(argv[0], &off, &len)) == -1) {
		reply_error(cc, "%s: cannot read the message file: %s", m->id, strerror(errno));
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	show_envelope(out, m, time(NULL));
	/* The stored body ends with ".\r\n", which is not the message's. */
	cc->off = off;
	cc->left = len >= 3 ? len - 3 : 0;
	data_unstuff_init(&cc->un);
	cc->out = OUT_SHOW;
	bufferevent_setwatermark(cc->bev, EV_WRITE, CONTROL_LOWAT, 0);
	show_more(cc);
}

/* ---- route and resume ------------------------------------------------ */

/* The live part of `route`: what is in force for the destination of
 * transport T for a recipient in DOMAIN. */
static void
route_state(struct evbuffer *out, const struct conf_transport *t, const char *domain)
{
	struct mta_state st;
	time_t now = time(NULL);
	bool known = mta_dest_state(t, domain, &st);

	char skey[SITE_KEY_MAX];
	bool site;
	const char *key = site_key(t, domain, skey, sizeof(skey), &site);
	evbuffer_add(out, "destination: ", 13);
	if (site)
		evbuffer_add(out, "site ", 5);
	put_text(out, t->nrelay ? "relay" : key);
	evbuffer_add_printf(out, " (transport %s)%s\n", t->name,
			    known ? "" : ": nothing learnt, nothing in force");
	if (t->fallback) {
		if (!st.detour_until) {
			evbuffer_add_printf(out, "detour: none\n");
		} else {
			evbuffer_add(out, "detour: active until ", 21);
			put_time(out, st.detour_until);
			evbuffer_add(out, " (in ", 5);
			put_duration(out, (long long)(st.detour_until - now));
			evbuffer_add_printf(out, "): mail goes to transport %s\n",
					    t->fallback->name);
		}
	}
	if (!st.backoff && st.paused_for <= 0) {
		evbuffer_add_printf(out, "back-off: none\n");
	} else {
		evbuffer_add_printf(out, "back-off: level %u, concurrency %u of %u", st.backoff,
				    st.cur_max, st.max);
		if (st.paused_for > 0) {
			evbuffer_add(out, ", paused for ", 13);
			put_duration(out, (long long)st.paused_for + 1);
		}
		evbuffer_add(out, "\n", 1);
	}
	if (!st.down_until) {
		evbuffer_add_printf(out, "down: no\n");
	} else {
		evbuffer_add(out, "down: for ", 10);
		put_duration(out, (long long)(st.down_until - now));
		evbuffer_add(out, " more (", 7);
		put_text(out, st.down_why);
		evbuffer_add_printf(out, "); relayctl flush or resume %s ends it\n", t->name);
	}
	if (known && (st.jobs || st.conns))
		evbuffer_add_printf(out, "activity: %u job%s waiting, %u connection%s\n", st.jobs,
				    st.jobs == 1 ? "" : "s", st.conns, st.conns == 1 ? "" : "s");
}

/* Answer `route` for CC's address, with MX (NULL: not looked up). */
static void
route_answer(struct ctl_conn *cc, const struct control_mx *mx)
{
	struct evbuffer *text = evbuffer_new();
	const char *cause, *domain = cmd_domain(cc->address);

	if (!text)
		fatal("out of memory");
	if (control_route(relayd_conf, cc->address, mx, text, &cause) == -1) {
		reply_error(cc, "%s", cause);
	} else {
		const char *hosts[32];
		size_t k = 0;
		for (size_t i = 0; mx && mx->status == DNS_OK && i < mx->n && k < 32; i++)
			hosts[k++] = mx->mx[i].host;
		const struct conf_route *rt = route_lookup(relayd_conf, domain, hosts, k);
		if (rt)
			route_state(text, rt->transport, domain);
		struct evbuffer *out = bufferevent_get_output(cc->bev);
		evbuffer_add(out, "ok\n", 3);
		evbuffer_add_buffer(out, text);
		conn_finish(cc);
	}
	evbuffer_free(text);
}

static void
route_tlsa_done(void *arg, const struct dns_tlsa_answer *a)
{
	struct ctl_conn *cc = arg;
	struct control_tlsa *t = &cc->mx.tlsa;

	cc->dq = NULL;
	t->status = a->st;
	t->secure = a->secure;
	t->usable = a->n;
	t->total = a->total;
	snprintf(t->why, sizeof(t->why), "%s", a->why ? a->why : "");
	route_answer(cc, &cc->mx);
}

/* A DANE policy: the TLSA records of the host tried first (the first MX
 * host, or relay host) before the answer. 1 when a lookup started. */
static int
route_tlsa(struct ctl_conn *cc)
{
	const char *domain = cmd_domain(cc->address);
	const struct control_mx *mx = cc->mx.no_mx ? NULL : &cc->mx;
	const char *hosts[32];
	size_t k = 0;

	for (size_t i = 0; mx && mx->status == DNS_OK && i < mx->n && k < 32; i++)
		if (mx->mx[i].host[0])
			hosts[k++] = mx->mx[i].host;
	const struct conf_route *rt = route_lookup(relayd_conf, domain, hosts, k);
	if (!rt || (rt->transport->tls->level != TLS_LEVEL_DANE &&
		    rt->transport->tls->level != TLS_LEVEL_DANE_ONLY))
		return 0;
	const struct conf_transport *t = rt->transport;
	const char *host = NULL;
	int port = t->port;
	if (t->nrelay > 0) {
		if (!t->relay[0].literal)
			host = t->relay[0].host;
		port = t->relay[0].port ? t->relay[0].port : t->port;
	} else if (k > 0) {
		host = hosts[0];
	} else if (mx && mx->status == DNS_NODATA) {
		host = domain; /* the implicit MX */
	}
	if (!host)
		return 0;
	snprintf(cc->mx.tlsa.name, sizeof(cc->mx.tlsa.name), "_%d._tcp.%s", port, host);
	cc->dq = dns_tlsa(host, port, route_tlsa_done, cc);
	return 1;
}

/* The domain's MTA-STS policy is known: kept for the answer, then the
 * TLSA records (a DANE policy) or the answer. */
static void
route_sts_done(void *arg, struct sts_policy *p, const char *why)
{
	struct ctl_conn *cc = arg;
	struct control_sts *s = &cc->mx.sts;

	cc->stsq = NULL;
	if (p && p->p.mode != MTASTS_NONE) {
		snprintf(s->mode, sizeof(s->mode), "%s", mtasts_strmode(p->p.mode));
		snprintf(s->id, sizeof(s->id), "%s", p->id);
		s->max_age = p->p.max_age;
		for (size_t i = 0; i < p->p.nmx; i++) {
			size_t l = strlen(s->mx);
			snprintf(s->mx + l, sizeof(s->mx) - l, "%s%s", i ? ", " : "", p->p.mx[i]);
		}
	}
	sts_unref(p);
	if (route_tlsa(cc))
		return;
	route_answer(cc, &cc->mx);
}

static void
route_mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct ctl_conn *cc = arg;
	struct control_mx cm = {.status = st, .mx = mx, .n = n};

	cc->dq = NULL;
	/* Kept: the TLSA lookup comes after it. */
	if (n > 0 && !(cc->mxs = calloc(n, sizeof(*mx))))
		fatal("out of memory");
	if (n > 0)
		memcpy(cc->mxs, mx, n * sizeof(*mx));
	cc->mx = cm;
	cc->mx.mx = cc->mxs;
	const char *hosts[32];
	size_t k = 0;
	for (size_t i = 0; st == DNS_OK && i < n && k < 32; i++)
		if (mx[i].host[0])
			hosts[k++] = mx[i].host;
	const struct conf_route *rt = route_lookup(relayd_conf, cmd_domain(cc->address), hosts, k);
	if (rt && rt->transport->nrelay == 0 && rt->transport->mta_sts) {
		cc->stsq = sts_get(cmd_domain(cc->address), route_sts_done, cc);
		return;
	}
	if (route_tlsa(cc))
		return;
	route_answer(cc, &cc->mx);
}

static void
cmd_route(struct ctl_conn *cc, int argc, char **argv)
{
	const char *domain = cmd_domain(argv[0]);
	const struct conf *c = relayd_conf;

	if (!(cc->address = strdup(argv[0])))
		fatal("out of memory");
	/* The MX hosts matter for an mx: route, and show where MX delivery
	 * goes; an address literal has none. */
	const struct conf_route *rt = *domain ? route_lookup(c, domain, NULL, 0) : NULL;
	if (*domain && cmd_literal_addr(domain, NULL, 0) == -1 &&
	    (route_needs_mx(c, domain) || (rt && rt->transport->nrelay == 0))) {
		cc->dq = dns_mx(domain, route_mx_done, cc);
		return;
	}
	cc->mx.no_mx = true;
	if (*domain && route_tlsa(cc))
		return;
	route_answer(cc, NULL);
}

struct resume_ctx {
	struct ctl_conn *cc;
	const char *tname;
};

/* One line per destination `resume` ended: "TRANSPORT DESTINATION: ended
 * WHAT", the destination named as `resume` takes it. */
static void
resume_line(void *arg, const struct mta_state *st)
{
	struct resume_ctx *rc = arg;
	struct evbuffer *out = bufferevent_get_output(rc->cc->bev);
	time_t now = time(NULL);
	bool sep = false;

	evbuffer_add_printf(out, "%s ", rc->tname);
	put_text(out, strcmp(st->name, "(relay)") == 0 ? "relay" : st->name);
	evbuffer_add(out, ": ended ", 8);
	if (st->detour_until) {
		evbuffer_add(out, "detour (", 8);
		put_duration(out, (long long)(st->detour_until - now));
		evbuffer_add(out, " left)", 6);
		sep = true;
	}
	if (st->backoff || st->paused_for > 0) {
		evbuffer_add_printf(out, "%sback-off (level %u, concurrency back from %u to %u)",
				    sep ? ", " : "", st->backoff, st->cur_max, st->max);
		sep = true;
	}
	if (st->down_until) {
		evbuffer_add_printf(out, "%sdown pause (", sep ? ", " : "");
		put_duration(out, (long long)(st->down_until - now));
		evbuffer_add(out, " left)", 6);
	}
	evbuffer_add(out, "\n", 1);
}

static void
cmd_resume(struct ctl_conn *cc, int argc, char **argv)
{
	const char *tname = argv[0], *dest = argc > 1 ? argv[1] : NULL;
	struct evbuffer *out = bufferevent_get_output(cc->bev);

	if (!conf_transport_find(relayd_conf, tname) && !mta_known_transport(tname)) {
		reply_error(cc, "no transport \"%.64s\" in the configuration", tname);
		return;
	}
	evbuffer_add(out, "ok\n", 3);
	struct resume_ctx rc = {cc, tname};
	size_t n = mta_resume(tname, dest, resume_line, &rc);
	if (n == 0) {
		evbuffer_add_printf(out, "%s", tname);
		if (dest) {
			evbuffer_add(out, " ", 1);
			put_text(out, dest);
		}
		evbuffer_add_printf(out, ": nothing to end (no detour, back-off or down pause)\n");
	}
	conn_finish(cc);
}

/* ---- the rest ---------------------------------------------------------- */

static void
cmd_stats(struct ctl_conn *cc, int argc, char **argv)
{
	static const enum stat_id shown[] = {
		STAT_RECEIVED, STAT_SENT,     STAT_DEFERRED, STAT_BOUNCED,
		STAT_EXPIRED,  STAT_REROUTED, STAT_REJECTED,
	};
	struct evbuffer *out = bufferevent_get_output(cc->bev);

	evbuffer_add(out, "ok\n", 3);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		evbuffer_add_printf(out, "%s %llu\n", stats_name(shown[i]),
				    (unsigned long long)stats_get(shown[i]));
	evbuffer_add_printf(out, "queued %zu\nsessions_in %zu\nsessions_out %zu\n", queue_count(),
			    session_count(), mta_sessions());
	conn_finish(cc);
}

/* destinations [--json]: relayd/destlist.c. */
static void
cmd_destinations(struct ctl_conn *cc, int argc, char **argv)
{
	if (argc && strcmp(argv[0], "--json") != 0) {
		reply_error(cc, "destinations: unknown option %.64s (--json)", argv[0]);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	destlist_write(out, argc > 0);
	conn_finish(cc);
}

static void
cmd_reload(struct ctl_conn *cc, int argc, char **argv)
{
	char *errors = NULL;

	if (!c_reload || c_reload(&errors) == -1) {
		reply_error(cc, "configuration not reloaded; the running one is kept");
		/* conn_finish() only marked it: the output is still ours. */
		if (errors)
			evbuffer_add_printf(bufferevent_get_output(cc->bev), "%s", errors);
		free(errors);
		return;
	}
	evbuffer_add_printf(bufferevent_get_output(cc->bev), "ok\nconfiguration reloaded from %s\n",
			    relayd_conf->file);
	conn_finish(cc);
}

/* check: the latest results; the first line "ok" when all are ok or
 * skipped, "ok N" (N the exit status relayctl takes, 3) when some result
 * is a problem or unknown. */
static void
check_answer(struct ctl_conn *cc)
{
	struct evbuffer *text = evbuffer_new();
	bool bad = false;

	if (!text)
		fatal("out of memory");
	if (selfcheck_write(text, cc->transport, cc->json, &bad) == -1) {
		reply_error(cc, "no transport \"%.64s\" in the configuration", cc->transport);
	} else {
		struct evbuffer *out = bufferevent_get_output(cc->bev);
		evbuffer_add_printf(out, "ok%s\n", bad ? " 3" : "");
		evbuffer_add_buffer(out, text);
		conn_finish(cc);
	}
	evbuffer_free(text);
}

static void
check_done(void *arg)
{
	struct ctl_conn *cc = arg;

	cc->scw = NULL;
	check_answer(cc);
}

/* check [--now] [--json] [TRANSPORT] */
static void
cmd_check(struct ctl_conn *cc, int argc, char **argv)
{
	bool now = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--now") == 0) {
			now = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			cc->json = true;
		} else if (argv[i][0] == '-') {
			reply_error(cc, "check: unknown option %.64s (--now, --json)", argv[i]);
			return;
		} else if (cc->transport) {
			reply_error(cc, "check: one transport at most");
			return;
		} else if (!(cc->transport = strdup(argv[i]))) {
			fatal("out of memory");
		}
	}
	if (cc->transport && !conf_transport_find(relayd_conf, cc->transport)) {
		reply_error(cc, "no transport \"%.64s\" in the configuration", cc->transport);
		return;
	}
	if (now) {
		cc->scw = selfcheck_now(check_done, cc);
		return;
	}
	check_answer(cc);
}

/* tls-report [--json]: the TLS-RPT counts of the current interval. */
static void
cmd_tls_report(struct ctl_conn *cc, int argc, char **argv)
{
	if (argc && strcmp(argv[0], "--json") != 0) {
		reply_error(cc, "tls-report: unknown option %.64s (--json)", argv[0]);
		return;
	}
	if (!tlsreport_on()) {
		reply_error(cc, "no tls_report section in the configuration: nothing is counted");
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	tlsreport_write(out, argc > 0);
	conn_finish(cc);
}

/* cluster [--json]: the fleet as this node sees it. */
static void
cmd_cluster(struct ctl_conn *cc, int argc, char **argv)
{
	if (argc && strcmp(argv[0], "--json") != 0) {
		reply_error(cc, "cluster: unknown option %.64s (--json)", argv[0]);
		return;
	}
	if (!cluster_on()) {
		reply_error(cc, "no cluster section in the configuration: this relayd is not in a "
				"fleet");
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	cluster_write(out, argc > 0);
	conn_finish(cc);
}

static const struct ctl_cmd commands[] = {
	{"queue", 0, 2, false, cmd_queue},
	{"flush", 0, 1, false, cmd_flush},
	{"delete", 1, -1, false, cmd_delete},
	{"hold", 1, -1, false, cmd_hold},
	{"release", 1, -1, false, cmd_release},
	{"show", 1, 1, false, cmd_show},
	{"route", 1, 1, true, cmd_route},
	{"resume", 1, 2, false, cmd_resume},
	{"stats", 0, 0, false, cmd_stats},
	{"reload", 0, 0, false, cmd_reload},
	{"destinations", 0, 1, false, cmd_destinations},
	{"check", 0, 3, false, cmd_check},
	{"tls-report", 0, 1, false, cmd_tls_report},
	{"cluster", 0, 1, false, cmd_cluster},
};

/* Run the request LINE: "VERB" and its words, separated by spaces. */
static void
conn_request(struct ctl_conn *cc, char *line)
{
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F) {
			reply_error(cc, "control characters in the request");
			return;
		}
	char *rest = strchr(line, ' ');
	if (rest)
		*rest++ = '\0';
	const struct ctl_cmd *c = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].verb, line) == 0)
			c = &commands[i];
	if (!c) {
		reply_error(cc, "unknown command \"%.64s\"", line);
		return;
	}
	/* The words: at most one per two bytes of the line. */
	size_t cap = rest ? strlen(rest) / 2 + 1 : 0;
	char **argv = cap ? calloc(cap, sizeof(*argv)) : NULL;
	int argc = 0;
	if (cap && !argv)
		fatal("out of memory");
	if (rest && c->line && *rest) {
		argv[argc++] = rest;
	} else {
		for (char *w = rest ? strtok(rest, " ") : NULL; w; w = strtok(NULL, " "))
			argv[argc++] = w;
	}
	if (argc < c->min || (c->max >= 0 && argc > c->max)) {
		if (c->max == 0)
			reply_error(cc, "%s takes no argument", c->verb);
		else if (argc < c->min)
			reply_error(cc, "%s needs an argument", c->verb);
		else
			reply_error(cc, "%s: too many arguments", c->verb);
	} else {
		log_debug("control: %s%s%.200s", c->verb, rest ? " " : "", rest ? rest : "");
		c->run(cc, argc, argv);
	}
	free(argv);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;

	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (!line) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			reply_error(cc, "request longer than %d bytes", CONTROL_LINE_MAX);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n > CONTROL_LINE_MAX || strlen(line) != n)
		reply_error(cc, "request longer than %d bytes or not text", CONTROL_LINE_MAX);
	else
		conn_request(cc, line);
	free(line);
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;

	if (cc->out == OUT_LIST)
		list_more(cc);
	else if (cc->out == OUT_SHOW)
		show_more(cc);
	else if (cc->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(cc);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *cc = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: client timed out");
	conn_free(cc);
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
	       void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("control: connection from uid %ld refused",
			 len == sizeof(cred) ? (long)cred.uid : -1L);
		evutil_closesocket(fd);
		return;
	}
	struct ctl_conn *cc = calloc(1, sizeof(*cc));
	if (!cc || !(cc->bev = bufferevent_socket_new(c_base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		free(cc);
		evutil_closesocket(fd);
		return;
	}
	cc->fd = -1;
	cc->next = c_head;
	if (c_head)
		c_head->prev = cc;
	c_head = cc;
	c_count++;
	struct timeval rt = {CONTROL_TIMEOUT, 0}, wt = {CONTROL_WRITE_TIMEOUT, 0};
	bufferevent_set_timeouts(cc->bev, &rt, &wt);
	bufferevent_setcb(cc->bev, conn_read, conn_write, conn_event, cc);
	if (c_count > CONTROL_MAX_CLIENTS) {
		reply_error(cc, "too many control connections");
		return;
	}
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
}

static void
control_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	log_warn("control: accept: %s", evutil_socket_error_to_string(err));
}

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* See control.h: what control_init() would meet, found with lstat() and
 * access() only. */
int
control_check(const char *path, const char *spool, char **cause)
{
	static char err[4096 + 256];
	char dir[4096], *slash;
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, sizeof(err),
			 "control socket %s: the path exists and is not a socket; remove it or set "
			 "another control_socket",
			 path);
		*cause = err;
		return -1;
	}
	if (strlen(path) >= sizeof(dir))
		return 0; /* the configuration has said so */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (strcmp(dir, spool) == 0)
		return 0; /* the spool's own check covers it */
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			errno = ENOTDIR;
		else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
			return 0;
	}
	snprintf(err, sizeof(err), "control socket %s: cannot create it in %s: %s", path, dir,
		 strerror(errno));
	*cause = err;
	return -1;
}

/* Does a process accept connections on PATH? */
int
control_probe(const char *path, char **cause)
{
	static char err[512];
	struct sockaddr_un sun;

	if (sun_fill(&sun, path) == -1)
		return 0; /* control_init() reports it */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	int rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rv == -1)
		return 0;
	snprintf(err, sizeof(err),
		 "another process answers on the control socket %s: is relayd already running?",
		 path);
	*cause = err;
	return -1;
}

/* Create the control socket at PATH and serve it. */
int
control_init(struct event_base *base, const char *path, uid_t uid, gid_t gid,
	     int (*reload)(char **), char **cause)
{
	static char err[600];
	struct sockaddr_un sun;
	struct stat st;
	int fd = -1;

	c_base = base;
	c_reload = reload;
	if (control_probe(path, cause) == -1)
		return -1;
	if (sun_fill(&sun, path) == -1)
		goto fail;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, sizeof(err),
				 "control socket %s: the path exists and is not a socket", path);
			*cause = err;
			return -1;
		}
		if (unlink(path) == -1)
			goto fail;
		log_info("control: removed the stale socket %s", path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	mode_t old = umask(0177);
	int rv = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rv == -1)
		goto fail;
	if (chmod(path, 0600) == -1 || (uid != (uid_t)-1 && chown(path, uid, gid) == -1) ||
	    lstat(path, &st) == -1 || listen(fd, 16) == -1 ||
	    evutil_make_socket_nonblocking(fd) == -1) {
		int e = errno;
		unlink(path);
		errno = e;
		goto fail;
	}
	c_dev = st.st_dev;
	c_ino = st.st_ino;
	c_listener = evconnlistener_new(base, control_accept, NULL,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!c_listener || !(c_path = strdup(path))) {
		unlink(path);
		goto fail;
	}
	evconnlistener_set_error_cb(c_listener, control_accept_error);
	log_info("control socket %s", path);
	return 0;

fail:
	snprintf(err, sizeof(err), "cannot create the control socket %s: %s", path,
		 strerror(errno));
	*cause = err;
	if (fd != -1 && !c_listener)
		close(fd);
	return -1;
}

/* Stop serving; remove the socket unless another process replaced it. */
void
control_shutdown(void)
{
	struct stat st;

	if (c_listener) {
		evconnlistener_free(c_listener);
		c_listener = NULL;
	}
	while (c_head)
		conn_free(c_head);
	if (c_path && lstat(c_path, &st) == 0 && st.st_dev == c_dev && st.st_ino == c_ino)
		unlink(c_path);
	free(c_path);
	c_path = NULL;
}

static const char *
level_name(enum conf_tls_level l)
{
	switch (l) {
	case TLS_LEVEL_NONE:
		return "none";
	case TLS_LEVEL_MAY:
		return "may";
	case TLS_LEVEL_ENCRYPT:
		return "encrypt";
	case TLS_LEVEL_VERIFY:
		return "verify";
	case TLS_LEVEL_DANE:
		return "dane";
	case TLS_LEVEL_DANE_ONLY:
		return "dane-only";
	}
	return "?";
}

/* The "tls:" line of `route`: the policy, and for DANE what the TLSA
 * lookup of the first host found (TLSA: NULL or unnamed when not looked up). */
static void
put_tls(struct evbuffer *out, const struct conf_transport *t, const struct control_tlsa *tl,
	const struct control_sts *sts)
{
	enum conf_tls_level l = t->tls->level;
	bool dane = l == TLS_LEVEL_DANE || l == TLS_LEVEL_DANE_ONLY;

	bool dane_on =
		dane && tl && tl->name[0] && tl->status == DNS_OK && tl->secure && tl->usable > 0;
	/* An MTA-STS policy applies unless DANE does (dane-only: or nothing). */
	bool sts_on = sts && sts->mode[0] && !dane_on && l != TLS_LEVEL_DANE_ONLY;
	if (sts_on) {
		/* The MX hosts' policy (DANE would win where it applies). */
		evbuffer_add_printf(out, "tls: mta-sts %s (id %s, max_age %lu, mx ", sts->mode,
				    sts->id, sts->max_age);
		put_text(out, sts->mx);
		evbuffer_add_printf(out, ")\n");
		evbuffer_add_printf(out, "tls_policy: %s (%s)%s\n", t->tls->name, level_name(l),
				    strcmp(sts->mode, "enforce") == 0
					    ? ": not used where the MTA-STS policy applies"
					    : "");
		if (!dane || !tl || !tl->name[0])
			return;
	} else if (!dane || !tl || !tl->name[0]) {
		evbuffer_add_printf(out, "tls: %s (%s)\n", t->tls->name, level_name(l));
		return;
	}
	const char *otherwise = sts_on		      ? "the MTA-STS policy applies"
				: l == TLS_LEVEL_DANE ? "as may"
						      : "the host is skipped";
	if (dane_on)
		evbuffer_add_printf(out, "tls: %s (%zu usable TLSA record%s)\n", t->tls->name,
				    tl->usable, tl->usable == 1 ? "" : "s");
	else if (!sts_on)
		evbuffer_add_printf(out, "tls: %s (no usable TLSA records: %s)\n", t->tls->name,
				    otherwise);
	evbuffer_add(out, "tlsa: ", 6);
	put_text(out, tl->name);
	if (tl->status == DNS_TEMPFAIL) {
		evbuffer_add(out, ": lookup failed: ", 17);
		put_text(out, tl->why);
		evbuffer_add_printf(out, " (the host is skipped)\n");
	} else if (tl->status != DNS_OK) {
		evbuffer_add_printf(out, ": none (%s)\n", otherwise);
	} else if (!tl->secure) {
		evbuffer_add_printf(out, ": %zu record%s, not DNSSEC-validated (%s)\n", tl->total,
				    tl->total == 1 ? "" : "s", otherwise);
	} else {
		evbuffer_add_printf(out, ": %zu usable of %zu, DNSSEC-validated\n", tl->usable,
				    tl->total);
	}
}

/* The "mx:" line of `route`: what the lookup found. */
static void
put_mx(struct evbuffer *out, const struct control_mx *mx)
{
	size_t shown = 0;

	evbuffer_add(out, "mx: ", 4);
	switch ((enum dns_status)mx->status) {
	case DNS_OK:
		for (size_t i = 0; i < mx->n; i++) {
			if (!mx->mx[i].host[0])
				continue;
			if (shown++)
				evbuffer_add(out, ", ", 2);
			put_text(out, mx->mx[i].host);
			evbuffer_add_printf(out, " (%u)", mx->mx[i].pref);
		}
		if (!shown)
			evbuffer_add_printf(out, "none: a null MX, the domain takes no mail (RFC "
						 "7505)");
		break;
	case DNS_NODATA:
		evbuffer_add_printf(out, "none: the domain's own address takes its mail");
		break;
	case DNS_NOTFOUND:
		evbuffer_add_printf(out, "none: the domain does not exist");
		break;
	case DNS_TEMPFAIL:
		evbuffer_add_printf(out, "lookup failed: %s", dns_strstatus(DNS_TEMPFAIL));
		break;
	}
	evbuffer_add(out, "\n", 1);
}

/* What `relayctl route ADDRESS` prints: the route, transport and settings. */
int
control_route(const struct conf *c, const char *address, const struct control_mx *mxa,
	      struct evbuffer *out, const char **cause)
{
	const struct control_mx *mx = mxa && !mxa->no_mx ? mxa : NULL;
	static char err[300];
	const char *domain = cmd_domain(address);
	const char *hosts[32];
	size_t k = 0;

	if (!*domain) {
		snprintf(err, sizeof(err), "%.200s: not an address with a domain", address);
		*cause = err;
		return -1;
	}
	for (size_t i = 0; mx && mx->status == DNS_OK && i < mx->n && k < 32; i++)
		if (mx->mx[i].host[0])
			hosts[k++] = mx->mx[i].host;
	bool needs_mx = route_needs_mx(c, domain);
	bool mx_failed = mx && mx->status == DNS_TEMPFAIL;
	const struct conf_route *r = route_lookup(c, domain, hosts, k);
	evbuffer_add(out, "address: ", 9);
	put_text(out, address);
	evbuffer_add(out, "\n", 1);
	if (mx)
		put_mx(out, mx);
	if (!r) {
		if (needs_mx && !mx)
			evbuffer_add_printf(out, "route: none unless an mx: route matches the "
						 "domain's MX hosts (otherwise refused at RCPT "
						 "with 550 5.1.2)\n");
		else if (needs_mx && mx_failed)
			evbuffer_add_printf(out, "route: unknown until the MX lookup succeeds "
						 "(RCPT gets 451 4.4.3 meanwhile)\n");
		else
			evbuffer_add_printf(out, "route: none (refused at RCPT with 550 5.1.2)\n");
		return 0;
	}
	const struct conf_transport *t = r->transport;
	evbuffer_add_printf(out, "route: %s\ntransport: %s\n", r->pattern, t->name);
	if (needs_mx && !mx)
		evbuffer_add_printf(out, "note: an mx: route takes the domain instead when its MX "
					 "hosts match (not looked up here)\n");
	else if (needs_mx && mx_failed)
		evbuffer_add_printf(out, "note: an mx: route may take the domain once the MX "
					 "lookup succeeds (RCPT gets 451 4.4.3 meanwhile)\n");
	char lit[64];
	if (t->nrelay == 0 && cmd_literal_addr(domain, lit, sizeof(lit)) == 0) {
		/* Never looked up: delivered to that address. */
		evbuffer_add_printf(out, "relay: [%s]:%d (the address literal, no DNS)\n", lit,
				    t->port);
	} else if (t->nrelay == 0) {
		evbuffer_add(out, "relay: MX of ", 13);
		put_text(out, domain);
		evbuffer_add_printf(out, ", port %d\n", t->port);
	}
	for (size_t i = 0; i < t->nrelay; i++)
		evbuffer_add_printf(out, "relay: %s%s%s:%d\n", t->relay[i].literal ? "[" : "",
				    t->relay[i].host, t->relay[i].literal ? "]" : "",
				    t->relay[i].port ? t->relay[i].port : t->port);
	put_tls(out, t, mxa ? &mxa->tlsa : NULL, mxa ? &mxa->sts : NULL);
	evbuffer_add_printf(out, "smtps: %s\n", t->smtps ? "yes" : "no");
	evbuffer_add_printf(out, "helo: %s\n", t->helo);
	if (t->nrelay == 0)
		evbuffer_add_printf(out, "destination_by: %s\n",
				    t->by_mx ? "mx (a destination is the MX host set, a site)"
					     : "domain");
	evbuffer_add_printf(out, "max_connections: %u\n", t->max_connections);
	evbuffer_add_printf(out, "max_messages_per_connection: %u\n",
			    t->max_messages_per_connection);
	if (t->rate.n)
		evbuffer_add_printf(out, "rate: %u per %us\n", t->rate.n, t->rate.interval);
	else
		evbuffer_add_printf(out, "rate: unlimited\n");
	if (t->nwarmup) {
		/* Today's, as relayd applies it: the day changes at local midnight. */
		struct warmup_now w;
		char day[64];
		warmup_at(t, warmup_today(time(NULL)), &w);
		warmup_describe(t, &w, day, sizeof(day));
		evbuffer_add_printf(out, "warmup: %s\n", day);
		if (t->warmup_overflow)
			evbuffer_add_printf(out, "warmup_overflow: %s (mail over the day's rate)\n",
					    t->warmup_overflow->name);
	}
	if (t->fallback)
		evbuffer_add_printf(out, "fallback: %s (hold %us)\n", t->fallback->name,
				    t->fallback_hold);
	return 0;
}
