/*
 * session.c — inbound SMTP: listeners, and the I/O around smtp/server.c.
 *
 * session_listen(), session_shutdown(), session_reload(), session_count(),
 * session_idle(), session_auth_blocked()
 *
 * One bufferevent per connection. Input is fed to the protocol machine
 * chunk by chunk; while it waits for the spool (after DATA) reading stops
 * and unread pipelined input stays buffered until the verdict. A session is
 * freed only from the top of a libevent callback, never from inside a
 * hook, and never while a spool write it started is in flight (refs).
 *
 * Failed AUTH are counted per client address in each listener's anvil
 * (anvil.c), which lives as long as the listener: a reload keeps the
 * counts and refusals and only changes the limit and window.
 *
 * Every refusal of a MAIL, a RCPT or a message is logged as Postfix's
 * smtpd logs it (NOQUEUE: reject: ...) and counted by code and reason
 * (session_reject()): the state machine's through its reject hook, and
 * those decided here (relay access, no route, a failed MX lookup, the
 * spool's verdict).
 */
#include <crypt.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "conf/value.h"
#include "relayd/anvil.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/queue.h"
#include "relayd/outq.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "relayd/session.h"
#include "relayd/stats.h"
#include "relayd/worker.h"
#include "smtp/server.h"
#include "tls/tls.h"

#define SESSION_OUT_MAX (64 * 1024) /* stop reading while this much is unsent */

struct listener {
	evutil_socket_t fd;   /* -1 once closed */
	struct event *ev;     /* its accept event, at priority 0 */
	struct event *resume; /* accepting again after EMFILE and the like */
	time_t accept_warned; /* when accept() last failed, logged */
	const struct conf_listen *conf;
	const struct conf *c;
	struct tls_ctx *tls; /* NULL when tls = "none" */
	struct anvil *anvil; /* failed AUTH per client address */
	unsigned nclients;
	struct listener *next;
};

struct session {
	struct bufferevent *bev;
	struct listener *lis;
	const struct conf *c; /* the configuration this session started with */
	struct server *srv;
	struct qmsg *msg; /* being received */
	struct sockaddr_storage ss;
	char ip[64];
	char client[128]; /* "unknown[IP]" */
	unsigned refs;
	bool closing; /* close once output is flushed */
	bool gone;    /* connection closed; waiting for refs */
	bool throttled;
	bool starttls;	/* switch to TLS once this input round is over */
	bool handshake; /* TLS handshake in progress (SMTPS or STARTTLS) */
	bool tls;
	char tls_proto[16];
	unsigned auth_failures;
	bool close_scheduled;
	struct evbuffer_cb_entry *drain_cb;
	/* Deadlines: a whole command line within `timeout`, a whole DATA
	 * within four times that, so a client trickling a byte a second
	 * cannot hold a session forever (idle reads alone would never end). */
	struct event *deadline;
	int dl_phase; /* 0 none (we are the ones waiting), 1 command, 2 DATA */
	unsigned long dl_lines;
	/* Replies of one processing round, written with one writev when the
	 * socket is plain: no write event armed and disarmed per reply. */
	struct evbuffer *outq;
	struct timespec txn_at; /* the transaction's first RCPT (a drain's pace) */
	struct session *next, *prev;
};

static struct event_base *s_base;
static struct listener *s_listeners;
static struct session *s_head;
static size_t s_count, s_committing;

static void session_process(struct session *se);
static void session_start_tls(struct session *se);
static void session_settle(struct session *se);
static void session_flush(struct session *se);
static void session_event(struct bufferevent *bev, short what, void *arg);
static void session_read(struct bufferevent *bev, void *arg);
static void session_write(struct bufferevent *bev, void *arg);

static void
session_unref(struct session *se)
{
	if (--se->refs > 0)
		return;
	if (se->deadline)
		event_free(se->deadline);
	if (se->outq)
		evbuffer_free(se->outq);
	server_free(se->srv);
	if (se->msg)
		queue_abort(se->msg);
	free(se);
}

/* The connection is over: free the socket now, the rest when unreferenced. */
static void
session_close(struct session *se)
{
	if (se->gone)
		return;
	se->gone = true;
	log_smtpd(LOG_DEBUG, "disconnect from %s", se->client);
	if (se->bev)
		bufferevent_free(se->bev);
	se->bev = NULL;
	if (se->deadline)
		evtimer_del(se->deadline);
	if (se->prev)
		se->prev->next = se->next;
	else
		s_head = se->next;
	if (se->next)
		se->next->prev = se->prev;
	s_count--;
	se->lis->nclients--;
	if (se->msg && !server_paused(se->srv)) {
		/* DATA was cut off: nothing was acknowledged. */
		queue_abort(se->msg);
		se->msg = NULL;
	}
	session_unref(se);
}

static void
close_later(evutil_socket_t fd, short what, void *arg)
{
	struct session *se = arg;
	session_close(se);
	session_unref(se);
}

/* The socket-side buffer of a TLS session drained: the last reply (221,
 * 421) is really out, so the connection may close now — from the top of
 * the loop, not from inside libevent's write path. */
static void
under_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct session *se = arg;
	if (evbuffer_get_length(buf) > 0 || se->close_scheduled)
		return;
	se->close_scheduled = true;
	se->refs++;
	event_base_once(s_base, -1, EV_TIMEOUT, close_later, se, NULL);
}

/* Everything written has left for the kernel: for a TLS session that
 * means the encrypted bytes in the socket bufferevent too. */
static bool
session_flushed(struct session *se)
{
	if (evbuffer_get_length(bufferevent_get_output(se->bev)) > 0)
		return false;
	struct bufferevent *under = bufferevent_get_underlying(se->bev);
	if (!under)
		return true;
	struct evbuffer *uout = bufferevent_get_output(under);
	if (evbuffer_get_length(uout) == 0)
		return true;
	if (!se->drain_cb)
		se->drain_cb = evbuffer_add_cb(uout, under_drained, se);
	return false;
}

static void
deadline_passed(evutil_socket_t fd, short what, void *arg)
{
	struct session *se = arg;
	if (se->gone || se->closing)
		return;
	log_smtpd(LOG_INFO,
		  "%s: deadline passed in state %s (a client must send each command within %us)",
		  se->client, server_strstate(se->srv->state), se->lis->conf->timeout);
	server_timeout(se->srv);
	session_settle(se);
}

/* Arm the deadline for what the client owes us now: the next command
 * line, or the rest of DATA; none while we are the ones to answer. */
static void
session_deadline(struct session *se)
{
	int phase = server_paused(se->srv) ? 0 : se->srv->state == SRV_DATA ? 2 : 1;
	if (phase == se->dl_phase && (phase != 1 || se->srv->lines == se->dl_lines))
		return;
	se->dl_phase = phase;
	se->dl_lines = se->srv->lines;
	if (phase == 0) {
		evtimer_del(se->deadline);
		return;
	}
	struct timeval tv = {(time_t)se->lis->conf->timeout * (phase == 2 ? 4 : 1), 0};
	evtimer_add(se->deadline, &tv);
}

/* After processing: close if asked and flushed, throttle if the client
 * does not read its replies. */
static void
session_settle(struct session *se)
{
	if (se->gone)
		return;
	session_flush(se);
	session_deadline(se);
	struct evbuffer *out = bufferevent_get_output(se->bev);
	if (se->closing) {
		bufferevent_disable(se->bev, EV_READ);
		if (session_flushed(se))
			session_close(se);
		return;
	}
	if (evbuffer_get_length(out) > SESSION_OUT_MAX) {
		se->throttled = true;
		bufferevent_disable(se->bev, EV_READ);
	}
}

/* ---- hooks from smtp/server.c ---------------------------------------- */

static void
hook_write(void *arg, const char *buf, size_t len)
{
	struct session *se = arg;
	if (se->bev)
		evbuffer_add(se->outq, buf, len);
}

/* Send the replies of this round: straight to the socket when it is
 * plain and nothing else is pending, the rest through the bufferevent. */
static void
session_flush(struct session *se)
{
	outq_flush(se->bev, se->outq, !se->tls && !se->handshake);
}

static void
hook_close(void *arg)
{
	struct session *se = arg;
	se->closing = true;
}

static bool
client_allowed(const struct session *se)
{
	const struct conf_listen *l = se->lis->conf;
	for (size_t i = 0; i < l->nallow; i++)
		if (value_cidr_match(&l->allow[i], (const struct sockaddr *)&se->ss))
			return true;
	return false;
}

/*
 * A refused MAIL, RCPT or message, logged as Postfix's smtpd logs it (so
 * pflogsumm counts it) and counted by code and reason:
 * NOQUEUE: reject: RCPT from HOST[IP]: REPLY; from=<S> to=<R> proto=ESMTP helo=<H>
 * Nothing was queued, whatever the stage: hence NOQUEUE.
 */
static void
session_reject(struct session *se, const struct server_txn *t, const char *stage,
	       const char *sender, const char *rcpt, const char *reply, const char *reason)
{
	char from[CMD_LINE_MAX + 16] = "", to[CMD_LINE_MAX + 16] = "";

	if (sender)
		snprintf(from, sizeof(from), " from=<%s>", sender);
	if (rcpt)
		snprintf(to, sizeof(to), " to=<%s>", rcpt);
	log_smtpd(LOG_INFO, "NOQUEUE: reject: %s from %s: %s;%s%s proto=%s helo=<%s>", stage,
		  se->client, reply, from, to, t->esmtp ? "ESMTP" : "SMTP", t->helo);
	stats_reject(atoi(reply), reason);
}

/* The state machine refused something. */
static void
hook_reject(void *arg, const struct server_txn *t, const struct server_reject *r)
{
	session_reject(arg, t, r->stage, r->sender, r->rcpt, r->reply, r->reason);
}

static char rcpt_reply[CMD_LINE_MAX + 160];

/* The verdict once the route is known (NULL: no route, refused and logged). */
static const char *
rcpt_verdict(struct session *se, const struct server_txn *t, const char *rcpt,
	     const struct conf_route *rt)
{
	if (rt)
		return NULL;
	snprintf(rcpt_reply, sizeof(rcpt_reply),
		 "550 5.1.2 <%s>: Recipient address rejected: no route for domain %s", rcpt,
		 cmd_domain(rcpt));
	session_reject(se, t, "RCPT", t->sender, rcpt, rcpt_reply, "no_route");
	return rcpt_reply;
}

/* The route of DOMAIN given its MX answer (mx: routes). */
static const struct conf_route *
route_by_mx(const struct conf *c, const char *domain, const struct dns_mx *mx, size_t n)
{
	const char *hosts[32];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 32; i++)
		hosts[k++] = mx[i].host;
	return route_lookup(c, domain, hosts, k);
}

static void
rcpt_mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct session *se = arg;
	const char *rcpt = se->srv->pending_rcpt;

	if (!se->gone) {
		if (st == DNS_TEMPFAIL) {
			snprintf(
				rcpt_reply, sizeof(rcpt_reply),
				"451 4.4.3 <%s>: Recipient address rejected: temporary DNS failure "
				"looking up the MX hosts of %s",
				rcpt, cmd_domain(rcpt));
			session_reject(se, &se->srv->txn, "RCPT", se->srv->txn.sender, rcpt,
				       rcpt_reply, "dns_tempfail");
			server_rcpt_done(se->srv, rcpt_reply);
		} else {
			const struct conf_route *rt =
				route_by_mx(se->c, cmd_domain(rcpt), mx, st == DNS_OK ? n : 0);
			server_rcpt_done(se->srv, rcpt_verdict(se, &se->srv->txn, rcpt, rt));
		}
		session_process(se);
	}
	session_unref(se);
}

static const char *
hook_rcpt(void *arg, const struct server_txn *t, const char *rcpt)
{
	struct session *se = arg;

	if (t->nrcpt == 0)
		clock_gettime(CLOCK_MONOTONIC, &se->txn_at);
	if (!client_allowed(se) && !se->srv->authenticated) {
		snprintf(rcpt_reply, sizeof(rcpt_reply), "554 5.7.1 <%s>: Relay access denied",
			 rcpt);
		session_reject(se, t, "RCPT", t->sender, rcpt, rcpt_reply, "relay_denied");
		return rcpt_reply;
	}
	const char *domain = cmd_domain(rcpt);
	if (!route_needs_mx(se->c, domain))
		return rcpt_verdict(se, t, rcpt, route_lookup(se->c, domain, NULL, 0));
	/* Only the MX hosts can tell whether an mx: route applies. */
	enum dns_status st;
	struct dns_mx mx[32];
	size_t n;
	if (dns_mx_cached(domain, &st, mx, &n))
		return rcpt_verdict(se, t, rcpt,
				    route_by_mx(se->c, domain, mx, st == DNS_OK ? n : 0));
	se->refs++;
	dns_mx(domain, rcpt_mx_done, se);
	return SERVER_PENDING;
}

/* Keep only printable ASCII of a client-supplied name for the header. */
static void
clean(char *dst, size_t size, const char *src)
{
	size_t n = 0;
	for (; *src && n + 1 < size; src++)
		dst[n++] = (*src > 0x20 && *src < 0x7f && *src != '(' && *src != ')') ? *src : '?';
	dst[n] = '\0';
}

static const char *
hook_data_start(void *arg, const struct server_txn *t)
{
	struct session *se = arg;
	struct qenv env = {
		.sender = t->sender,
		.rcpt = (const char *const *)t->rcpt,
		.nrcpt = t->nrcpt,
		.client = se->client,
		.body = t->params.body,
		.smtputf8 = t->params.smtputf8,
	};
	se->msg = queue_create(&env);

	char helo[256], date[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	clean(helo, sizeof(helo), t->helo);
	char hdr[1024], with[16];
	int n;
	/* RFC 3848 protocol types. */
	snprintf(with, sizeof(with), "%s%s%s%s", t->params.smtputf8 ? "UTF8SMTP" : "ESMTP",
		 se->tls ? "S" : "", se->srv->authenticated ? "A" : "", "");
	if (t->nrcpt == 1)
		n = snprintf(
			hdr, sizeof(hdr),
			"Received: from %s (unknown [%s])\r\n\tby %s (relayd) with %s id %s\r\n"
			"\tfor <%s>; %s\r\n",
			helo, se->ip, se->c->hostname, with, se->msg->id, t->rcpt[0], date);
	else
		n = snprintf(
			hdr, sizeof(hdr),
			"Received: from %s (unknown [%s])\r\n\tby %s (relayd) with %s id %s;\r\n"
			"\t%s\r\n",
			helo, se->ip, se->c->hostname, with, se->msg->id, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		n = 0;
	se->msg->size = (uint64_t)n;
	queue_write(se->msg, hdr, (size_t)n);
	return NULL;
}

static void
hook_data_write(void *arg, const char *buf, size_t len)
{
	struct session *se = arg;
	if (se->msg)
		queue_write(se->msg, buf, len);
}

static void
commit_done(void *arg, struct qmsg *m, int err)
{
	struct session *se = arg;
	char text[128];

	s_committing--;
	se->msg = NULL;
	if (err == 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		queue_accepted((double)(now.tv_sec - se->txn_at.tv_sec) +
			       (now.tv_nsec - se->txn_at.tv_nsec) / 1e9);
		/* Postfix's smtpd and qmgr lines: pflogsumm counts a message as
		 * received from the first, and takes its size from the second. */
		if (se->srv->authenticated)
			log_smtpd(LOG_INFO, "%s: client=%s, sasl_username=%s", m->id, se->client,
				  se->srv->user);
		else
			log_smtpd(LOG_INFO, "%s: client=%s", m->id, se->client);
		log_qmgr(LOG_INFO, "%s: from=<%s>, size=%llu, nrcpt=%u, client=%s (queued)", m->id,
			 m->sender, (unsigned long long)m->size, (unsigned)m->nrcpt, se->client);
		snprintf(text, sizeof(text), "250 2.0.0 Ok: queued as %s", m->id);
		stats_count(STAT_RECEIVED, NULL, 1);
	} else {
		const struct server_txn *t = &se->srv->txn;
		bool full = err == ENOSPC || err == EDQUOT;
		snprintf(text, sizeof(text), "%s",
			 full ? "452 4.3.1 Insufficient system storage"
			      : "451 4.3.0 Error: queue file write error");
		session_reject(se, t, "END-OF-MESSAGE", t->sender,
			       t->nrcpt ? t->rcpt[t->nrcpt - 1] : NULL, text,
			       full ? "insufficient_storage" : "queue_error");
	}
	if (!se->gone) {
		server_data_done(se->srv, text);
		bufferevent_enable(se->bev, EV_READ);
		session_process(se);
	}
	session_unref(se);
}

static void
hook_data_end(void *arg, const struct server_txn *t, bool ok)
{
	struct session *se = arg;

	if (!se->msg)
		return;
	if (!ok) {
		queue_abort(se->msg);
		se->msg = NULL;
		return;
	}
	se->refs++;
	s_committing++;
	if (se->bev)
		bufferevent_disable(se->bev, EV_READ);
	/* The Received: header is part of the message's size. */
	queue_commit(se->msg, se->msg->size + t->size, commit_done, se);
}

static void
hook_starttls(void *arg)
{
	struct session *se = arg;
	/* Acted on after this input round (session_process), so the 220 is
	 * queued in the clear first and nothing pipelined after STARTTLS is
	 * ever read (the CVE-2011-0411 class of injection). */
	se->starttls = true;
}

/* Compare without an early exit, so timing says nothing about the hash. */
static bool
ct_equal(const char *a, const char *b)
{
	unsigned char d = 0;
	for (; *a && *b; a++, b++)
		d |= (unsigned char)(*a ^ *b);
	return d == 0 && *a == *b;
}

#define AUTH_REFUSED                                                                               \
	"454 4.7.0 Error: too many failed authentication attempts from this address; try "         \
	"again later"

/* Seconds on a clock that no date change moves, for the anvil. */
static time_t
session_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct auth_job {
	struct session *se;
	char file[4096];
	char user[256];
	char pass[512];
	bool ok;
};

/* Worker thread: look USER up in the auth_users file and check PASS with
 * crypt(3). Slow hashes (yescrypt, sha512crypt) must not stall the loop. */
static void
auth_work(void *arg)
{
	struct auth_job *j = arg;
	FILE *f = fopen(j->file, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	j->ok = false;
	if (!f)
		return;
	size_t ulen = strlen(j->user);
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (line[0] == '#' || strncmp(line, j->user, ulen) != 0 || line[ulen] != ':')
			continue;
		const char *hash = line + ulen + 1;
		struct crypt_data cd;
		memset(&cd, 0, sizeof(cd));
		const char *got = crypt_r(j->pass, hash, &cd);
		j->ok = got && got[0] != '*' && strlen(got) == strlen(hash) && ct_equal(got, hash);
		explicit_bzero(&cd, sizeof(cd));
		break;
	}
	free(line);
	fclose(f);
}

static void
auth_verdict(evutil_socket_t fd, short what, void *arg)
{
	struct auth_job *j = arg;
	struct session *se = j->se;

	if (!se->gone) {
		server_auth_done(se->srv, j->ok);
		session_process(se);
	}
	explicit_bzero(j, sizeof(*j));
	free(j);
	session_unref(se);
}

static void
auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct session *se = j->se;

	explicit_bzero(j->pass, sizeof(j->pass));
	const struct sockaddr *sa = (const struct sockaddr *)&se->ss;
	enum anvil_verdict v = anvil_end(se->lis->anvil, sa, j->ok, session_now());
	if (j->ok) {
		stats_count(STAT_AUTH_OK, NULL, 1);
		log_smtpd(LOG_INFO, "%s: authenticated as %s", se->client, j->user);
		se->auth_failures = 0;
		auth_verdict(-1, 0, j);
		return;
	}
	/* A growing delay slows password guessing down in this session; the
	 * anvil limits it across sessions. */
	se->auth_failures++;
	stats_count(STAT_AUTH_FAILED, NULL, 1);
	log_smtpd(LOG_WARNING, "%s: authentication failed for user %s", se->client, j->user);
	if (v == ANVIL_LIMIT) {
		const struct conf_listen *cl = se->lis->conf;
		char from[64];
		anvil_key_str(sa, from, sizeof(from));
		stats_count(STAT_AUTH_LIMIT, NULL, 1);
		log_smtpd(LOG_WARNING,
			  "%s: too many failed authentication attempts from %s: %u within %us; "
			  "AUTH from there is refused (454 4.7.0) for %us (listen %s)",
			  se->client, from, cl->auth_fail_limit, cl->auth_fail_window,
			  cl->auth_fail_window, cl->name);
	}
	struct timeval tv = {se->auth_failures < 10 ? se->auth_failures : 10, 0};
	event_base_once(s_base, -1, EV_TIMEOUT, auth_verdict, j, &tv);
}

/* AUTH from an address over its failure limit: 454 before 334. */
static const char *
hook_auth_begin(void *arg)
{
	struct session *se = arg;

	if (!anvil_refused(se->lis->anvil, (const struct sockaddr *)&se->ss, session_now()))
		return NULL;
	stats_count(STAT_AUTH_BLOCKED, NULL, 1);
	log_smtpd(LOG_DEBUG, "%s: AUTH refused: too many failed attempts from this address",
		  se->client);
	return AUTH_REFUSED;
}

static const char *
hook_auth(void *arg, const char *user, const char *password)
{
	struct session *se = arg;

	/* Refused meanwhile, or enough checks in flight to reach the limit:
	 * no worker job, the password is never looked at. */
	if (!anvil_begin(se->lis->anvil, (const struct sockaddr *)&se->ss, session_now())) {
		stats_count(STAT_AUTH_BLOCKED, NULL, 1);
		log_smtpd(LOG_DEBUG,
			  "%s: AUTH refused unchecked: too many failed attempts from this address",
			  se->client);
		return AUTH_REFUSED;
	}
	struct auth_job *j = calloc(1, sizeof(*j));
	if (!j)
		fatal("out of memory");
	j->se = se;
	snprintf(j->file, sizeof(j->file), "%s", se->lis->conf->auth_users);
	snprintf(j->user, sizeof(j->user), "%s", user);
	snprintf(j->pass, sizeof(j->pass), "%s", password);
	se->refs++;
	worker_submit(auth_work, auth_done, j);
	return NULL;
}

static const struct server_hooks hooks = {
	.write = hook_write,
	.close = hook_close,
	.rcpt = hook_rcpt,
	.data_start = hook_data_start,
	.data_write = hook_data_write,
	.data_end = hook_data_end,
	.starttls = hook_starttls,
	.auth = hook_auth,
	.auth_begin = hook_auth_begin,
	.reject = hook_reject,
};

/* ---- I/O ------------------------------------------------------------- */

static void
session_process(struct session *se)
{
	if (se->gone)
		return;
	struct evbuffer *in = bufferevent_get_input(se->bev);
	while (!se->closing && !server_paused(se->srv) && !se->throttled) {
		struct evbuffer_iovec v;
		if (evbuffer_get_length(in) == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t n = server_input(se->srv, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		if (n == 0)
			break;
		if (evbuffer_get_length(se->outq) +
			    evbuffer_get_length(bufferevent_get_output(se->bev)) >
		    SESSION_OUT_MAX)
			session_settle(se);
	}
	if (se->starttls) {
		se->starttls = false;
		/* Whatever came after STARTTLS was sent in the clear: drop it. */
		evbuffer_drain(in, evbuffer_get_length(in));
		session_flush(se); /* the 220, in the clear, before the handshake */
		session_start_tls(se);
		return;
	}
	session_settle(se);
}

/* Put the session's connection under TLS (SMTPS at accept, or after
 * STARTTLS); the handshake's end comes to session_event(). */
static void
session_start_tls(struct session *se)
{
	struct bufferevent *tb = tls_bev_server(s_base, se->bev, se->lis->tls);
	if (!tb) {
		log_smtpd(LOG_ERR, "%s: cannot start TLS", se->client);
		session_close(se);
		return;
	}
	se->bev = tb;
	se->handshake = true;
	struct timeval tv = {(time_t)se->lis->conf->timeout, 0};
	bufferevent_set_timeouts(tb, &tv, &tv);
	bufferevent_setcb(tb, session_read, session_write, session_event, se);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

static void
session_tls_up(struct session *se)
{
	struct tls_info info;

	se->handshake = false;
	se->tls = true;
	tls_bev_info(se->bev, &info);
	snprintf(se->tls_proto, sizeof(se->tls_proto), "%s", info.protocol);
	stats_count(STAT_TLS_IN, NULL, 1);
	if (info.resumed)
		stats_count(STAT_TLS_IN_RESUMED, NULL, 1);
	log_smtpd(LOG_INFO, "%s: TLS established: %s (%s)%s", se->client, info.protocol,
		  info.cipher, info.resumed ? ", resumed" : "");
	if (se->srv->state == SRV_TLS) {
		server_tls_done(se->srv, true);
		session_process(se);
	} else {
		server_start(se->srv); /* SMTPS: the greeting comes after TLS */
		session_settle(se);
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_write(struct bufferevent *bev, void *arg)
{
	struct session *se = arg;

	if (se->closing) {
		if (session_flushed(se))
			session_close(se);
		return;
	}
	if (se->throttled) {
		se->throttled = false;
		if (!server_paused(se->srv))
			bufferevent_enable(bev, EV_READ);
		session_process(se);
	}
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *se = arg;

	if (se->handshake) {
		if (what & BEV_EVENT_CONNECTED) {
			session_tls_up(se);
			return;
		}
		char why[256];
		if (what & BEV_EVENT_TIMEOUT)
			snprintf(why, sizeof(why), "timeout");
		else
			tls_bev_error(bev, why, sizeof(why));
		log_smtpd(LOG_INFO, "%s: TLS handshake failed: %s", se->client, why);
		session_close(se);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (server_paused(se->srv) && !se->closing) {
			/* Waiting for the spool, not for the client. */
			bufferevent_enable(bev, EV_WRITE);
			return;
		}
		log_smtpd(LOG_INFO, "timeout after %s from %s (%s)",
			  server_strstate(se->srv->state), se->client,
			  (what & BEV_EVENT_READING) ? "reading" : "writing");
		server_timeout(se->srv);
		se->closing = true;
		bufferevent_set_timeouts(bev, NULL, NULL);
		session_settle(se);
		return;
	}
	/* EOF or error. */
	session_close(se);
}

static void
reject_write(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

static void
reject_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
accept_one(struct listener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen)
{
	const struct conf *c = relayd_conf; /* new sessions take the current one */
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lis->nclients >= lis->conf->max_clients) {
		struct bufferevent *bev = bufferevent_socket_new(s_base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!bev) {
			evutil_closesocket(fd);
			return;
		}
		char line[300];
		int n = snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many connections\r\n",
				 c->hostname);
		bufferevent_setcb(bev, NULL, reject_write, reject_event, NULL);
		bufferevent_write(bev, line, (size_t)n);
		log_smtpd(LOG_WARNING, "listener %s: max_clients (%u) reached, connection refused",
			  lis->conf->name, lis->conf->max_clients);
		return;
	}
	struct session *se = calloc(1, sizeof(*se));
	if (!se) {
		evutil_closesocket(fd);
		return;
	}
	se->refs = 1;
	se->lis = lis;
	se->c = c;
	memcpy(&se->ss, sa, (size_t)salen < sizeof(se->ss) ? (size_t)salen : sizeof(se->ss));
	if (getnameinfo(sa, (socklen_t)salen, se->ip, sizeof(se->ip), NULL, 0, NI_NUMERICHOST))
		snprintf(se->ip, sizeof(se->ip), "unknown");
	snprintf(se->client, sizeof(se->client), "unknown[%s]", se->ip);
	const struct conf_listen *cl = lis->conf;
	struct server_params p = {
		.hostname = c->hostname,
		.postmaster = c->postmaster,
		.max_size = cl->max_message_size,
		.max_rcpt = cl->max_recipients,
		.normalize = cl->bare_newline == BARE_NEWLINE_NORMALIZE,
		.starttls = cl->tls == LISTEN_TLS_STARTTLS,
		.tls = cl->tls == LISTEN_TLS_SMTPS,
		.require_tls = cl->require_tls,
		.auth = cl->auth_users != NULL,
	};
	se->srv = server_new(&p, &hooks, se);
	se->bev = bufferevent_socket_new(s_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!se->srv || !se->bev) {
		if (se->bev)
			bufferevent_free(se->bev);
		else
			evutil_closesocket(fd);
		server_free(se->srv);
		free(se);
		return;
	}
	lis->nclients++;
	s_count++;
	se->next = s_head;
	if (s_head)
		s_head->prev = se;
	s_head = se;
	struct timeval tv = {(time_t)cl->timeout, 0};
	bufferevent_set_timeouts(se->bev, &tv, &tv);
	se->deadline = evtimer_new(s_base, deadline_passed, se);
	se->outq = evbuffer_new();
	if (!se->deadline || !se->outq)
		fatal("out of memory");
	se->dl_phase = -1;
	bufferevent_setcb(se->bev, session_read, session_write, session_event, se);
	bufferevent_enable(se->bev, EV_READ | EV_WRITE);
	log_smtpd(LOG_DEBUG, "connect from %s", se->client);
	if (cl->tls == LISTEN_TLS_SMTPS)
		session_start_tls(se);
	else
		server_start(se->srv);
	session_flush(se);
	session_deadline(se);
}

#define ACCEPT_BATCH 32	    /* connections taken per turn of a listener */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE, ENFILE, ENOBUFS or ENOMEM */

static void
accept_resume(evutil_socket_t unused, short what, void *arg)
{
	struct listener *lis = arg;
	if (lis->fd != -1)
		event_add(lis->ev, NULL);
}

/* The listener's socket is readable: take what is waiting, up to a batch
 * (then the loop turns, and the rest comes next). */
static void
accept_ready(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *lis = arg;

	for (int i = 0; i < ACCEPT_BATCH && lis->fd != -1; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			int err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
			    err == ECONNABORTED)
				return;
			time_t now = time(NULL);
			if (now != lis->accept_warned) { /* once a second at most */
				lis->accept_warned = now;
				log_smtpd(LOG_WARNING, "accept: %s", strerror(err));
			}
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				/* Out of descriptors or memory: the socket stays
				 * readable, so stop asking for a while (Postfix
				 * sleeps likewise) rather than spin. */
				struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
				event_del(lis->ev);
				evtimer_add(lis->resume, &tv);
			}
			return;
		}
		accept_one(lis, fd, (struct sockaddr *)&ss, (int)sslen);
	}
}

/* A listening socket for SS, as evconnlistener made them: reusable
 * address, non-blocking, close-on-exec, a backlog of 1024. */
static evutil_socket_t
listen_socket(const struct sockaddr_storage *ss, int sslen)
{
	int one = 1;
	evutil_socket_t fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) == -1 ||
	    listen(fd, 1024) == -1) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Open every listener of C. */
int
session_listen(struct event_base *base, const struct conf *c, char **cause)
{
	static char err[512];

	s_base = base;
	for (size_t i = 0; i < c->nlisten; i++) {
		const struct conf_listen *cl = &c->listen[i];
		struct sockaddr_storage ss;
		int sslen = sizeof(ss);
		char spec[300];
		if (strchr(cl->address, ':'))
			snprintf(spec, sizeof(spec), "[%s]:%d", cl->address, cl->port);
		else
			snprintf(spec, sizeof(spec), "%s:%d", cl->address, cl->port);
		if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) == -1) {
			snprintf(err, sizeof(err), "listen %s: bad address %s", cl->name, spec);
			*cause = err;
			return -1;
		}
		struct listener *lis = calloc(1, sizeof(*lis));
		if (!lis)
			fatal("out of memory");
		lis->conf = cl;
		lis->c = c;
		uint64_t seed;
		evutil_secure_rng_get_bytes(&seed, sizeof(seed));
		if (!(lis->anvil = anvil_new(ANVIL_MAX_ENTRIES, seed)))
			fatal("out of memory");
		anvil_configure(lis->anvil, cl->auth_fail_limit, cl->auth_fail_window);
		if (cl->tls != LISTEN_TLS_NONE) {
			char *why = NULL;
			if (tls_init() == -1 ||
			    !(lis->tls = tls_server_new(cl->tls_cert, cl->tls_key,
							cl->tls_min_version, cl->ciphers, &why))) {
				snprintf(err, sizeof(err), "listen %s: %s", cl->name,
					 why ? why : "cannot initialise TLS");
				*cause = err;
				anvil_free(lis->anvil);
				free(lis);
				return -1;
			}
		}
		lis->fd = listen_socket(&ss, sslen);
		if (lis->fd == -1) {
			snprintf(err, sizeof(err), "listen %s: cannot listen on %s: %s", cl->name,
				 spec, strerror(errno));
			*cause = err;
			anvil_free(lis->anvil);
			free(lis);
			return -1;
		}
		/* Priority 0: a connection is accepted (and greeted) before the
		 * rest of the loop's work goes on (relayd.c). */
		lis->ev = event_new(base, lis->fd, EV_READ | EV_PERSIST, accept_ready, lis);
		lis->resume = evtimer_new(base, accept_resume, lis);
		if (!lis->ev || !lis->resume || event_priority_set(lis->ev, 0) == -1 ||
		    event_add(lis->ev, NULL) == -1)
			fatal("out of memory");
		lis->next = s_listeners;
		s_listeners = lis;
		log_info("listening on %s (%s)", spec, cl->name);
	}
	return 0;
}

static struct tls_ctx **s_retired; /* contexts replaced on reload, kept */
static size_t s_nretired;

/* A reload: each listener whose section keeps its name, address, port
 * and TLS mode takes the new settings (allow, limits, timeout, auth_users)
 * for new sessions, and re-reads its certificate and key (with its
 * tls_min_version and ciphers), so a renewed certificate needs no restart.
 * Anything else needs a restart (logged). Sessions in progress keep what
 * they started with, except the AUTH failure limit: the listener's counts
 * and refusals stay, under the new auth_fail_limit and auth_fail_window. */
void
session_reload(const struct conf *c)
{
	for (struct listener *lis = s_listeners; lis; lis = lis->next) {
		const struct conf_listen *old = lis->conf, *nl = NULL;
		for (size_t i = 0; i < c->nlisten && !nl; i++)
			if (strcmp(c->listen[i].name, old->name) == 0)
				nl = &c->listen[i];
		if (!nl || nl->port != old->port || strcmp(nl->address, old->address) != 0 ||
		    nl->tls != old->tls) {
			log_warn(
				"reload: listen %s: address, port or tls mode changed (or the "
				"section is gone); it keeps its settings until relayd is restarted",
				old->name);
			continue;
		}
		if (nl->tls != LISTEN_TLS_NONE) {
			char *why = NULL;
			struct tls_ctx *ctx = tls_server_new(
				nl->tls_cert, nl->tls_key, nl->tls_min_version, nl->ciphers, &why);
			if (!ctx) {
				log_err("reload: listen %s: keeping the running certificate: %s",
					old->name, why ? why : "TLS error");
				continue;
			}
			/* Handshakes in progress may still use the old context. */
			struct tls_ctx **r = realloc(s_retired, (s_nretired + 1) * sizeof(*r));
			if (!r)
				fatal("out of memory");
			s_retired = r;
			s_retired[s_nretired++] = lis->tls;
			lis->tls = ctx;
			log_info("reload: listen %s: certificate loaded from %s", old->name,
				 nl->tls_cert);
		}
		lis->conf = nl;
		lis->c = c;
		anvil_configure(lis->anvil, nl->auth_fail_limit, nl->auth_fail_window);
	}
}

/* Close the listeners; idle sessions get 421, sessions in DATA lose the
 * message (never acknowledged), sessions waiting for the spool finish. */
void
session_shutdown(void)
{
	/* Sessions still point at their listener: only the socket goes. */
	for (struct listener *l = s_listeners; l; l = l->next) {
		if (l->fd != -1) {
			event_free(l->ev);
			event_free(l->resume);
			close(l->fd);
		}
		l->fd = -1;
		l->ev = l->resume = NULL;
	}
	for (struct session *se = s_head, *next; se; se = next) {
		next = se->next;
		server_shutdown(se->srv);
		if (se->msg && !server_paused(se->srv)) {
			queue_abort(se->msg);
			se->msg = NULL;
		}
		session_settle(se);
	}
}

/* Inbound sessions open now. */
size_t
session_count(void)
{
	return s_count;
}

/* Client addresses refused AUTH now, over all listeners. */
size_t
session_auth_blocked(void)
{
	size_t n = 0;
	time_t now = session_now();

	for (struct listener *l = s_listeners; l; l = l->next)
		n += anvil_blocked_count(l->anvil, now);
	return n;
}

/* True when no session waits for a spool write. */
bool
session_idle(void)
{
	return s_committing == 0;
}
