/*
 * control.c — the control socket: relayctl's commands on the event loop.
 *
 * control_check()     could a socket be created at the path (for relayd -n)
 * control_probe()     is another process answering on the socket path
 * control_init()      replace a stale socket, bind (0600), serve
 * control_shutdown()  stop serving, remove our socket
 * control_route()     the text of `relayctl route ADDRESS` (the daemon adds
 *                     the live detour state of the destination)
 *
 * A connection reads one request line (at most CONTROL_LINE_MAX bytes,
 * within CONTROL_TIMEOUT), runs the command from commands[], writes "ok" or
 * "error: MESSAGE" and the output, and closes once the output is flushed.
 * Nothing here blocks the loop: the socket is non-blocking and the output
 * goes through the connection's bufferevent.
 *
 * Invariants: a queue listing never holds more than CONTROL_BATCH messages'
 * worth of text in memory. It is produced in batches, in queue id order
 * (ids grow with time, so oldest first): each batch is the CONTROL_BATCH
 * ids after the last one written (queue_next(): a hash lookup and a walk,
 * so a batch costs the same in a queue of any size), rendered at once, and
 * the next batch is made only when the client has read the output down to
 * CONTROL_LOWAT. No pointer to a message survives a batch, so messages
 * delivered or deleted meanwhile are simply not listed, and ones that
 * arrive meanwhile are. Only root and relayd's own user may connect (the
 * socket is 0600; the peer's uid is checked as well).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "relayd/control.h"
#include "relayd/json.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "relayd/session.h"
#include "relayd/stats.h"
#include "smtp/classify.h"
#include "smtp/cmd.h"

#define CONTROL_TIMEOUT 10	  /* seconds to send the request */
#define CONTROL_WRITE_TIMEOUT 60  /* seconds a client may stall reading */
#define CONTROL_MAX_CLIENTS 16	  /* concurrent connections */
#define CONTROL_BATCH 512	  /* messages per listing batch */
#define CONTROL_LOWAT (64 * 1024) /* refill the listing below this */

struct ctl_conn {
	struct bufferevent *bev;
	bool listing;	      /* a queue listing is being produced */
	bool json;	      /* ... as JSON */
	bool closing;	      /* close once the output is flushed */
	char cursor[QID_MAX]; /* last queue id listed; "" before the first */
	size_t nmsg, nrcpt;   /* listed so far */
	struct ctl_conn *next, *prev;
};

struct ctl_cmd {
	const char *verb;
	enum { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED } arg;
	void (*run)(struct ctl_conn *cc, const char *arg);
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
	free(cc);
}

/* Close after the output is flushed; the write callback frees CC. */
static void
conn_finish(struct ctl_conn *cc)
{
	cc->closing = true;
	cc->listing = false;
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
	evbuffer_add(out, ">\n", 2);
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
		if (r->inflight) {
			evbuffer_add_printf(out, "now (in progress)\n");
		} else if (r->next_attempt <= now) {
			evbuffer_add_printf(out, "now\n");
		} else {
			char when[64];
			struct tm tm;
			localtime_r(&r->next_attempt, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			evbuffer_add(out, "in ", 3);
			put_duration(out, (long long)(r->next_attempt - now));
			evbuffer_add_printf(out, " (%s)\n", when);
		}
		if (!r->last_reply) {
			evbuffer_add_printf(out, "        last reply: none\n");
			continue;
		}
		struct classification cl;
		classify(r->code, r->status, r->last_reply, &cl);
		evbuffer_add(out, "        last reply: ", 20);
		put_text(out, r->last_reply);
		if (cl.label)
			evbuffer_add_printf(out, " [%s]", cl.label);
		evbuffer_add(out, "\n", 1);
	}
	evbuffer_add(out, "\n", 1);
}

static void
list_json(struct ctl_conn *cc, struct evbuffer *out, const struct qmsg *m)
{
	bool first = true;

	evbuffer_add_printf(out, "%s{\"id\":", cc->nmsg > 1 ? ",\n" : "");
	json_string(out, m->id);
	evbuffer_add_printf(out, ",\"size\":%llu,\"arrival\":%lld,\"sender\":",
			    (unsigned long long)m->size, (long long)m->arrival);
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
			classify(r->code, r->status, r->last_reply, &cl);
			/* The contract: the classification, or null. */
			kind = cl.kind == CLASS_NONE ? NULL : classify_name(cl.kind);
			label = cl.label;
		}
		evbuffer_add(out, ",\"class\":", 9);
		json_string(out, kind);
		evbuffer_add(out, ",\"label\":", 9);
		json_string(out, label);
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
	 * batch costs its own size, whatever the queue's (queue_next()). */
	for (m = queue_next(cc->cursor); m && n < CONTROL_BATCH; m = m->next, n++) {
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

/* ---- commands --------------------------------------------------------- */

static void
cmd_queue(struct ctl_conn *cc, const char *arg)
{
	if (arg && strcmp(arg, "--json") != 0) {
		reply_error(cc, "queue: unknown option %s (only --json)", arg);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, "ok\n", 3);
	cc->json = arg != NULL;
	cc->listing = true;
	if (cc->json)
		evbuffer_add(out, "[\n", 2);
	bufferevent_setwatermark(cc->bev, EV_WRITE, CONTROL_LOWAT, 0);
	list_more(cc);
}

static void
cmd_flush(struct ctl_conn *cc, const char *qid)
{
	if (queue_flush(qid) == -1) {
		reply_error(cc, "%s: no such message in the queue", qid);
		return;
	}
	log_info("flush requested for %s", qid ? qid : "every queued message");
	evbuffer_add(bufferevent_get_output(cc->bev), "ok\n", 3);
	conn_finish(cc);
}

static void
cmd_delete(struct ctl_conn *cc, const char *qid)
{
	if (queue_delete(qid) == -1) {
		reply_error(cc, "%s: no such message in the queue", qid);
		return;
	}
	evbuffer_add(bufferevent_get_output(cc->bev), "ok\n", 3);
	conn_finish(cc);
}

/* The live part of `route`: is ADDRESS's destination held on the fallback. */
static void
route_detour(struct evbuffer *out, const char *address)
{
	const char *domain = cmd_domain(address);
	const struct conf_route *rt = route_lookup(relayd_conf, domain, NULL, 0);
	time_t until;

	if (!rt || !rt->transport->fallback)
		return;
	if (!mta_detour_active(rt->transport, domain, &until)) {
		evbuffer_add_printf(out, "detour: none\n");
		return;
	}
	char when[64];
	struct tm tm;
	localtime_r(&until, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	evbuffer_add_printf(out, "detour: active until %s (in ", when);
	put_duration(out, (long long)(until - time(NULL)));
	evbuffer_add_printf(out, "): mail goes to transport %s\n", rt->transport->fallback->name);
}

static void
cmd_route(struct ctl_conn *cc, const char *address)
{
	struct evbuffer *text = evbuffer_new();
	const char *cause;

	if (!text) {
		reply_error(cc, "out of memory");
		return;
	}
	if (control_route(relayd_conf, address, text, &cause) == -1) {
		reply_error(cc, "%s", cause);
	} else {
		route_detour(text, address);
		struct evbuffer *out = bufferevent_get_output(cc->bev);
		evbuffer_add(out, "ok\n", 3);
		evbuffer_add_buffer(out, text);
		conn_finish(cc);
	}
	evbuffer_free(text);
}

static void
cmd_stats(struct ctl_conn *cc, const char *arg)
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

static void
cmd_reload(struct ctl_conn *cc, const char *arg)
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

static const struct ctl_cmd commands[] = {
	{"queue", ARG_OPTIONAL, cmd_queue},   {"flush", ARG_OPTIONAL, cmd_flush},
	{"delete", ARG_REQUIRED, cmd_delete}, {"route", ARG_REQUIRED, cmd_route},
	{"stats", ARG_NONE, cmd_stats},	      {"reload", ARG_NONE, cmd_reload},
};

/* Run the request LINE: "VERB" or "VERB ARG" (ARG is the rest of the line). */
static void
conn_request(struct ctl_conn *cc, char *line)
{
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F) {
			reply_error(cc, "control characters in the request");
			return;
		}
	char *arg = strchr(line, ' ');
	if (arg) {
		*arg++ = '\0';
		if (!*arg)
			arg = NULL;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct ctl_cmd *c = &commands[i];
		if (strcmp(c->verb, line) != 0)
			continue;
		if (arg && c->arg == ARG_NONE) {
			reply_error(cc, "%s takes no argument", c->verb);
			return;
		}
		if (!arg && c->arg == ARG_REQUIRED) {
			reply_error(cc, "%s needs an argument", c->verb);
			return;
		}
		log_debug("control: %s%s%s", c->verb, arg ? " " : "", arg ? arg : "");
		c->run(cc, arg);
		return;
	}
	reply_error(cc, "unknown command \"%.64s\"", line);
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

	if (cc->listing)
		list_more(cc);
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
	}
	return "?";
}

/* What `relayctl route ADDRESS` prints: the route, transport and settings. */
int
control_route(const struct conf *c, const char *address, struct evbuffer *out, const char **cause)
{
	static char err[CONTROL_LINE_MAX + 64];
	const char *domain = cmd_domain(address);

	if (!*domain) {
		snprintf(err, sizeof(err), "%s: not an address with a domain", address);
		*cause = err;
		return -1;
	}
	const struct conf_route *r = route_lookup(c, domain, NULL, 0);
	evbuffer_add(out, "address: ", 9);
	put_text(out, address);
	evbuffer_add(out, "\n", 1);
	if (!r) {
		if (route_needs_mx(c, domain))
			evbuffer_add_printf(out, "route: none unless an mx: route matches the "
						 "domain's MX hosts (otherwise refused at RCPT "
						 "with 550 5.1.2)\n");
		else
			evbuffer_add_printf(out, "route: none (refused at RCPT with 550 5.1.2)\n");
		return 0;
	}
	const struct conf_transport *t = r->transport;
	evbuffer_add_printf(out, "route: %s\ntransport: %s\n", r->pattern, t->name);
	if (route_needs_mx(c, domain))
		evbuffer_add_printf(out, "note: an mx: route takes the domain instead when its MX "
					 "hosts match (not looked up here)\n");
	if (t->nrelay == 0) {
		evbuffer_add(out, "relay: MX of ", 13);
		put_text(out, domain);
		evbuffer_add_printf(out, ", port %d\n", t->port);
	}
	for (size_t i = 0; i < t->nrelay; i++)
		evbuffer_add_printf(out, "relay: %s%s%s:%d\n", t->relay[i].literal ? "[" : "",
				    t->relay[i].host, t->relay[i].literal ? "]" : "",
				    t->relay[i].port ? t->relay[i].port : t->port);
	evbuffer_add_printf(out, "tls: %s (%s)\n", t->tls->name, level_name(t->tls->level));
	evbuffer_add_printf(out, "smtps: %s\n", t->smtps ? "yes" : "no");
	evbuffer_add_printf(out, "helo: %s\n", t->helo);
	evbuffer_add_printf(out, "max_connections: %u\n", t->max_connections);
	evbuffer_add_printf(out, "max_messages_per_connection: %u\n",
			    t->max_messages_per_connection);
	if (t->rate.n)
		evbuffer_add_printf(out, "rate: %u per %us\n", t->rate.n, t->rate.interval);
	else
		evbuffer_add_printf(out, "rate: unlimited\n");
	if (t->fallback)
		evbuffer_add_printf(out, "fallback: %s (hold %us)\n", t->fallback->name,
				    t->fallback_hold);
	return 0;
}
