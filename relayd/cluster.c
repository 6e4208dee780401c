/*
 * cluster.c — a fleet of relayd instances sharing state through Redis.
 *
 * One Redis connection on relayd's loop (hiredis's asynchronous API and its
 * libevent adapter): no call here blocks. It reconnects with back-off
 * (CL_BACKOFF_MIN doubling to CL_BACKOFF_MAX), and a request that gets no
 * answer within CL_ANSWER_MS counts as Redis being unreachable (a server
 * that accepts and then says nothing must not hold the fleet's state
 * hostage): the connection is dropped and made again.
 *
 * Liveness: every CL_BEAT_MS the node runs one Lua script that renews its
 * entry in the sorted set {relayd}:nodes (member: the node's name; score:
 * when its liveness ends, CL_TTL_MS on Redis's clock, so the nodes' clocks
 * need not agree), writes its hash {relayd}:node:NAME (started, queued,
 * version, seen; expiring with it), drops the entries whose time passed
 * and answers with every node alive. A node killed with SIGKILL is gone
 * from the others' count within CL_TTL_MS; one that stops leaves at once.
 * Every key has the hash tag {relayd}, so a Redis Cluster keeps them in
 * one slot and the script stays valid there.
 *
 * Redis unreachable (refused, reset, timed out, or answering with errors):
 * logged once per outage, "cluster: redis unreachable (WHY): local limits";
 * the nodes last seen alive are kept, and cluster_nodes() gives their
 * number for the fleet-wide limits to be divided by. Back: logged, and the
 * next answer counts the nodes afresh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "conf/conf.h"
#include "relayd/cluster.h"
#include "relayd/json.h"
#include "relayd/log.h"
#include "relayd/metrics.h"
#include "relayd/queue.h"
#include "relayd/relayd.h"

#define CL_BEAT_MS 2000	       /* liveness renewed this often */
#define CL_TTL_MS 10000	       /* and lasting this long */
#define CL_ANSWER_MS 3000      /* a request unanswered this long: unreachable */
#define CL_BACKOFF_MIN 100     /* ms before the first reconnection */
#define CL_BACKOFF_MAX 5000    /* ms between reconnections at most */
#define CL_MAX_NODES 256       /* nodes kept from an answer */
#define CL_LEAVE_MS 1000       /* a stopping relayd waits this long to leave */
#define CL_LEASE_TTL_MS 15000  /* a connection lease lasts this long ... */
#define CL_LEASE_RENEW_MS 5000 /* ... renewed this often while it is held */

#define CL_KEY_NODES "{relayd}:nodes"
#define CL_CHANNEL "relayd:dest" /* what a node learnt about a destination */
#define CL_KEY_NODE "{relayd}:node:"

/* KEYS[1]: the nodes' sorted set; KEYS[2]: this node's hash. ARGV: node,
 * TTL in ms, started (Unix time), queued, version, the hashes' prefix.
 * Answers {now in ms, then per node alive: name, seen, started, queued,
 * version}. The other nodes' hashes are read by name: they share the hash
 * tag, so they are in the same slot as KEYS. */
static const char cl_beat_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local ttl = tonumber(ARGV[2])\n"
	"redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
	"redis.call('HSET', KEYS[2], 'seen', now, 'started', ARGV[3], 'queued', ARGV[4],"
	" 'version', ARGV[5])\n"
	"redis.call('PEXPIRE', KEYS[2], ttl)\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
	"local out = {now}\n"
	"for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, "
	"-1)) do\n"
	"  local h = redis.call('HMGET', ARGV[6] .. n, 'seen', 'started', 'queued', 'version')\n"
	"  out[#out + 1] = n\n"
	"  for i = 1, 4 do out[#out + 1] = h[i] or '' end\n"
	"end\n"
	"return out\n";

/* KEYS[1]: the nodes' sorted set; KEYS[2]: this node's hash; ARGV[1]: node. */
static const char cl_leave_lua[] = "redis.call('ZREM', KEYS[1], ARGV[1])\n"
				   "redis.call('DEL', KEYS[2])\n"
				   "return 1\n";

/* GCRA for a rate with a bucket of one token (as a node's own rate):
 * KEYS[1] holds the theoretical arrival time (ms, Redis's clock); ARGV[1]
 * is the emission interval in ms. Answers 0 (send now) or the ms to wait. */
static const char cl_gcra_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local per = tonumber(ARGV[1])\n"
	"local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"if tat > now then return tat - now end\n"
	"redis.call('SET', KEYS[1], now + per, 'PX', per + 1000)\n"
	"return 0\n";

/* Connection leases: KEYS[1] is a destination's sorted set of leases
 * (member: NODE/N, score: when it expires, Redis's clock). Acquire: ARGV
 * member, TTL ms, the fleet's max_connections; answers 1 (granted) or 0. */
static const char cl_lease_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
	"if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end\n"
	"redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
	"redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
	"return 1\n";

/* Renew: ARGV TTL ms, then the members this node holds (added again when
 * Redis lost them: a restarted Redis learns the connections open). */
static const char cl_renew_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end\n"
	"redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"return 1\n";

/* A lease this node holds: renewed every CL_LEASE_RENEW_MS while held. */
struct cl_lease {
	unsigned long id;
	char *rkey; /* relayd:conns:{T/D} */
	struct cl_lease *next;
};

struct cl_ask {
	cluster_rate_cb cb;
	cluster_lease_cb lcb;
	unsigned long lease;
	char *tname, *key;
};

struct cl_node {
	char name[65];
	long long seen; /* ms, Redis's clock */
	long long started;
	long long queued;
	char version[32];
};

enum cl_state { CL_OFF, CL_CONNECTING, CL_UP, CL_DOWN };

static struct {
	struct event_base *base;
	char *host, *node, *redis; /* copies: a reload frees the configuration */
	int port;
	enum cl_state state;
	redisAsyncContext *ac;
	redisAsyncContext *sub; /* SUBSCRIBE CL_CHANNEL (a connection of its own) */
	void (*learn)(const struct cluster_news *n);
	bool freeing;  /* inside our redisAsyncFree(): callbacks ignore */
	bool beat_out; /* a liveness request is unanswered */
	bool warned;   /* this outage is logged */
	bool joined;   /* ever answered */
	bool stopping;
	bool leaving;		 /* the leave script is unanswered */
	struct timespec leave_t; /* since when */
	unsigned backoff;	 /* ms */
	struct event *beat, *answer, *retry, *renew;
	struct cl_lease *leases; /* held now */
	unsigned long lease_seq;
	struct cl_node *nodes; /* alive at the last answer */
	size_t nnodes;
	long long redis_now; /* Redis's clock at the last answer, ms */
	struct timespec got; /* when that answer came (monotonic) */
	time_t since;	     /* when the state last changed */
	char why[160];	     /* why unreachable */
	time_t started;
} cl;

static void cl_connect(void);
static void cl_sub_drop(void);
static void cl_sub_connect(void);
static void cl_renew_due(evutil_socket_t fd, short what, void *arg);

static double
cl_mono_ms(const struct timespec *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

static double
cl_ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return cl_mono_ms(&now) - cl_mono_ms(t);
}

/* Drop the connection (if any) and try again after the back-off; the
 * first failure of an outage is logged. */
static void
cl_fail(const char *why)
{
	if (cl.ac) {
		redisAsyncContext *ac = cl.ac;
		cl.ac = NULL;
		cl.freeing = true;
		redisAsyncFree(ac);
		cl.freeing = false;
	}
	cl_sub_drop();
	cl.beat_out = false;
	evtimer_del(cl.answer);
	evtimer_del(cl.beat);
	if (cl.stopping)
		return;
	snprintf(cl.why, sizeof(cl.why), "%s", why && *why ? why : "connection lost");
	if (!cl.warned) {
		cl.warned = true;
		cl.since = time(NULL);
		log_warn("cluster: redis unreachable (%s): local limits", cl.why);
	}
	cl.state = CL_DOWN;
	struct timeval tv = {cl.backoff / 1000, (cl.backoff % 1000) * 1000};
	evtimer_add(cl.retry, &tv);
	cl.backoff = cl.backoff * 2 > CL_BACKOFF_MAX ? CL_BACKOFF_MAX : cl.backoff * 2;
}

/* The context ended (hiredis frees it after this): on purpose when
 * stopping, else a failure. */
static void
cl_on_disconnect(const redisAsyncContext *ac, int status)
{
	if (cl.freeing || ac != cl.ac)
		return; /* (a leaving connection: its callback saw NULL) */
	char why[160];
	snprintf(why, sizeof(why), "%s", ac->err ? ac->errstr : "connection closed");
	cl.ac = NULL; /* hiredis frees it */
	cl_fail(why);
}

static void
cl_on_connect(const redisAsyncContext *ac, int status)
{
	if (cl.freeing || ac != cl.ac || status == REDIS_OK)
		return;
	char why[160];
	snprintf(why, sizeof(why), "%s", ac->errstr[0] ? ac->errstr : "cannot connect");
	cl.ac = NULL; /* hiredis frees it */
	cl_fail(why);
}

static const char *
cl_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : "";
}

static long long
cl_num(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	return strtoll(cl_str(r), NULL, 10);
}

static bool
cl_has(const struct cl_node *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

/* The liveness script's answer: the nodes alive now. */
static void
cl_on_beat(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;

	if (cl.freeing || ac != cl.ac || !r)
		return; /* dropped; cl_fail() was or will be called */
	cl.beat_out = false;
	evtimer_del(cl.answer);
	if (r->type == REDIS_REPLY_ERROR || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		char why[160];
		snprintf(why, sizeof(why), "%s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		cl_fail(why);
		return;
	}
	size_t n = (r->elements - 1) / 5;
	if (n > CL_MAX_NODES)
		n = CL_MAX_NODES;
	struct cl_node *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		fatal("out of memory");
	for (size_t i = 0; i < n; i++) {
		redisReply **e = r->element + 1 + i * 5;
		snprintf(v[i].name, sizeof(v[i].name), "%s", cl_str(e[0]));
		v[i].seen = cl_num(e[1]);
		v[i].started = cl_num(e[2]);
		v[i].queued = cl_num(e[3]);
		snprintf(v[i].version, sizeof(v[i].version), "%s", cl_str(e[4]));
	}
	if (cl.state != CL_UP) {
		char list[512] = "";
		size_t len = 0;
		for (size_t i = 0; i < n && len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						i ? ", " : "", v[i].name);
		if (!cl.joined)
			log_info(
				"cluster: joined through redis %s as node %s; %zu node%s alive: %s",
				cl.redis, cl.node, n, n == 1 ? "" : "s", list);
		else
			log_info("cluster: redis %s reachable again: fleet limits; %zu node%s "
				 "alive: "
				 "%s",
				 cl.redis, n, n == 1 ? "" : "s", list);
		cl.state = CL_UP;
		cl.since = time(NULL);
		cl.warned = false;
		cl.why[0] = '\0';
	} else {
		for (size_t i = 0; i < n; i++)
			if (!cl_has(cl.nodes, cl.nnodes, v[i].name))
				log_info("cluster: node %s joined", v[i].name);
		for (size_t i = 0; i < cl.nnodes; i++)
			if (!cl_has(v, n, cl.nodes[i].name))
				log_info("cluster: node %s left", cl.nodes[i].name);
	}
	cl.joined = true;
	cl.backoff = CL_BACKOFF_MIN;
	if (!cl.sub)
		cl_sub_connect();
	free(cl.nodes);
	cl.nodes = v;
	cl.nnodes = n;
	cl.redis_now = cl_num(r->element[0]);
	clock_gettime(CLOCK_MONOTONIC, &cl.got);
	struct timeval tv = {CL_BEAT_MS / 1000, (CL_BEAT_MS % 1000) * 1000};
	evtimer_add(cl.beat, &tv);
}

/* Renew this node's liveness (and learn who else is alive). */
static void
cl_send_beat(void)
{
	if (!cl.ac || cl.beat_out)
		return;
	char key[sizeof(CL_KEY_NODE) + 65], ttl[16], started[24], queued[24];
	snprintf(key, sizeof(key), "%s%s", CL_KEY_NODE, cl.node);
	snprintf(ttl, sizeof(ttl), "%d", CL_TTL_MS);
	snprintf(started, sizeof(started), "%lld", (long long)cl.started);
	snprintf(queued, sizeof(queued), "%zu", queue_count());
	const char *argv[] = {"EVAL", cl_beat_lua, "2",	   CL_KEY_NODES,   key,	       cl.node,
			      ttl,    started,	   queued, RELAYD_VERSION, CL_KEY_NODE};
	if (redisAsyncCommandArgv(cl.ac, cl_on_beat, NULL, (int)(sizeof(argv) / sizeof(argv[0])),
				  argv, NULL) != REDIS_OK) {
		cl_fail(cl.ac && cl.ac->errstr[0] ? cl.ac->errstr : "cannot send");
		return;
	}
	cl.beat_out = true;
	struct timeval tv = {CL_ANSWER_MS / 1000, (CL_ANSWER_MS % 1000) * 1000};
	evtimer_add(cl.answer, &tv);
}

static void
cl_beat_due(evutil_socket_t fd, short what, void *arg)
{
	cl_send_beat();
}

static void
cl_answer_late(evutil_socket_t fd, short what, void *arg)
{
	char why[64];
	snprintf(why, sizeof(why), "no answer within %d ms", CL_ANSWER_MS);
	cl_fail(why);
}

static void
cl_retry_due(evutil_socket_t fd, short what, void *arg)
{
	cl_connect();
}

static void
cl_connect(void)
{
	redisAsyncContext *ac = redisAsyncConnect(cl.host, cl.port);
	if (!ac)
		fatal("out of memory");
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		cl_fail(why);
		return;
	}
	cl.ac = ac;
	if (cl.state != CL_DOWN)
		cl.state = CL_CONNECTING;
	if (redisLibeventAttach(ac, cl.base) != REDIS_OK) {
		cl_fail("cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, cl_on_connect);
	redisAsyncSetDisconnectCallback(ac, cl_on_disconnect);
	/* Sent once connected; its deadline covers the connection too. */
	cl_send_beat();
}

static void
cl_set(const struct conf_cluster *k)
{
	free(cl.host);
	free(cl.node);
	free(cl.redis);
	cl.host = strdup(k->host);
	cl.node = strdup(k->node);
	cl.redis = strdup(k->redis);
	cl.port = k->port;
	if (!cl.host || !cl.node || !cl.redis)
		fatal("out of memory");
}

void
cluster_init(struct event_base *base, const struct conf *c)
{
	if (!c->cluster || !c->cluster->host)
		return;
	cl.base = base;
	cl.started = time(NULL);
	cl.since = cl.started;
	cl.backoff = CL_BACKOFF_MIN;
	cl.beat = evtimer_new(base, cl_beat_due, NULL);
	cl.answer = evtimer_new(base, cl_answer_late, NULL);
	cl.retry = evtimer_new(base, cl_retry_due, NULL);
	cl.renew = evtimer_new(base, cl_renew_due, NULL);
	if (!cl.beat || !cl.answer || !cl.retry || !cl.renew)
		fatal("out of memory");
	cl_set(c->cluster);
	cl.state = CL_CONNECTING;
	struct timeval tv = {CL_LEASE_RENEW_MS / 1000, (CL_LEASE_RENEW_MS % 1000) * 1000};
	evtimer_add(cl.renew, &tv);
	log_info("cluster: node %s, redis %s", cl.node, cl.redis);
	cl_connect();
}

/* A reload: the same redis and node keep the connection; another redis or
 * node name connects anew (the old name leaves at once). Adding or
 * removing the section needs a restart (logged). */
void
cluster_reload(const struct conf *c)
{
	const struct conf_cluster *k = c->cluster && c->cluster->host ? c->cluster : NULL;
	if (!k != (cl.state == CL_OFF)) {
		log_warn("reload: the cluster section was %s; that needs a restart",
			 k ? "added" : "removed");
		return;
	}
	if (!k || (strcmp(k->redis, cl.redis) == 0 && strcmp(k->node, cl.node) == 0))
		return;
	log_info("reload: cluster: node %s, redis %s (was node %s, redis %s)", k->node, k->redis,
		 cl.node, cl.redis);
	cluster_shutdown();
	cl.stopping = false;
	cl_set(k);
	cl.backoff = CL_BACKOFF_MIN;
	cl.joined = false;
	cl.warned = false;
	cl.state = CL_CONNECTING;
	cl_connect();
}

/* The leave script's answer: close that connection (hiredis frees it). */
static void
cl_on_leave(redisAsyncContext *ac, void *reply, void *arg)
{
	cl.leaving = false;
	if (reply)
		redisAsyncDisconnect(ac);
}

/* Leave the fleet: the node's entries go now; relayd waits for the answer
 * (cluster_idle(), at most CL_LEAVE_MS) before it exits. Were it to exit
 * first, the others would count it until its TTL ends. */
void
cluster_shutdown(void)
{
	if (cl.state == CL_OFF || cl.stopping)
		return;
	cl.stopping = true;
	evtimer_del(cl.beat);
	evtimer_del(cl.answer);
	evtimer_del(cl.retry);
	evtimer_del(cl.renew);
	cl_sub_drop();
	while (cl.leases) /* the fleet may use them again at once */
		cluster_lease_release(cl.leases->id);
	if (!cl.ac)
		return;
	redisAsyncContext *ac = cl.ac;
	cl.ac = NULL;
	if (cl.state == CL_UP) {
		char key[sizeof(CL_KEY_NODE) + 65];
		snprintf(key, sizeof(key), "%s%s", CL_KEY_NODE, cl.node);
		const char *argv[] = {"EVAL", cl_leave_lua, "2", CL_KEY_NODES, key, cl.node};
		if (redisAsyncCommandArgv(ac, cl_on_leave, NULL, 6, argv, NULL) == REDIS_OK) {
			cl.leaving = true;
			clock_gettime(CLOCK_MONOTONIC, &cl.leave_t);
			return;
		}
	}
	cl.freeing = true;
	redisAsyncFree(ac);
	cl.freeing = false;
}

/* Nothing of the cluster's keeps relayd from exiting now. */
bool
cluster_idle(void)
{
	return !cl.leaving || cl_ms_since(&cl.leave_t) >= CL_LEAVE_MS;
}

static void
cl_ask_free(struct cl_ask *a)
{
	free(a->tname);
	free(a->key);
	free(a);
}

static void
cl_on_gcra(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;
	struct cl_ask *a = arg;
	long wait = -1;

	if (r && r->type == REDIS_REPLY_INTEGER)
		wait = r->integer < 0 ? 0 : (long)r->integer;
	else if (r && !cl.freeing && ac == cl.ac) {
		char why[160];
		snprintf(why, sizeof(why), "rate: %s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		cl_fail(why);
	}
	/* A dropped request (NULL) or an error: the caller goes local. */
	a->cb(a->tname, a->key, wait);
	cl_ask_free(a);
}

int
cluster_rate(const char *tname, const char *key, unsigned long per_ms, cluster_rate_cb cb)
{
	if (cl.state != CL_UP || !cl.ac)
		return -1;
	struct cl_ask *a = calloc(1, sizeof(*a));
	if (!a || !(a->tname = strdup(tname)) || !(a->key = strdup(key ? key : "")))
		fatal("out of memory");
	a->cb = cb;
	/* One slot per destination: its own hash tag. */
	char *k = NULL, per[24];
	if (asprintf(&k, "relayd:rate:{%s/%s}", tname, a->key) == -1)
		fatal("out of memory");
	snprintf(per, sizeof(per), "%lu", per_ms ? per_ms : 1);
	const char *argv[] = {"EVAL", cl_gcra_lua, "1", k, per};
	int rc = redisAsyncCommandArgv(cl.ac, cl_on_gcra, a, 5, argv, NULL);
	free(k);
	if (rc != REDIS_OK) {
		cl_ask_free(a);
		return -1;
	}
	return 0;
}

static char *
cl_lease_key(const char *tname, const char *key)
{
	char *k = NULL;
	if (asprintf(&k, "relayd:conns:{%s/%s}", tname, key ? key : "") == -1)
		fatal("out of memory");
	return k;
}

static void
cl_on_lease(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;
	struct cl_ask *a = arg;
	long got = -1;

	if (r && r->type == REDIS_REPLY_INTEGER)
		got = r->integer == 1 ? 1 : 0;
	else if (r && !cl.freeing && ac == cl.ac) {
		char why[160];
		snprintf(why, sizeof(why), "lease: %s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		cl_fail(why);
	}
	if (got == 1) {
		struct cl_lease *l = calloc(1, sizeof(*l));
		if (!l)
			fatal("out of memory");
		l->id = a->lease;
		l->rkey = cl_lease_key(a->tname, a->key);
		l->next = cl.leases;
		cl.leases = l;
	}
	a->lcb(a->tname, a->key, got == 1 ? a->lease : 0, got < 0);
	cl_ask_free(a);
}

int
cluster_lease(const char *tname, const char *key, unsigned max, cluster_lease_cb cb)
{
	if (cl.state != CL_UP || !cl.ac)
		return -1;
	struct cl_ask *a = calloc(1, sizeof(*a));
	if (!a || !(a->tname = strdup(tname)) || !(a->key = strdup(key ? key : "")))
		fatal("out of memory");
	a->lcb = cb;
	a->lease = ++cl.lease_seq;
	char *k = cl_lease_key(tname, key), member[100], ttl[16], smax[16];
	snprintf(member, sizeof(member), "%s/%lu", cl.node, a->lease);
	snprintf(ttl, sizeof(ttl), "%d", CL_LEASE_TTL_MS);
	snprintf(smax, sizeof(smax), "%u", max);
	const char *argv[] = {"EVAL", cl_lease_lua, "1", k, member, ttl, smax};
	int rc = redisAsyncCommandArgv(cl.ac, cl_on_lease, a, 7, argv, NULL);
	free(k);
	if (rc != REDIS_OK) {
		cl_ask_free(a);
		return -1;
	}
	return 0;
}

/* The connection of lease ID has closed: the fleet may use it again. */
void
cluster_lease_release(unsigned long id)
{
	struct cl_lease **pp, *l = NULL;
	for (pp = &cl.leases; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			l = *pp;
			*pp = l->next;
			break;
		}
	if (!l)
		return;
	if (cl.ac && cl.state == CL_UP) {
		char member[100];
		snprintf(member, sizeof(member), "%s/%lu", cl.node, l->id);
		const char *argv[] = {"ZREM", l->rkey, member};
		redisAsyncCommandArgv(cl.ac, NULL, NULL, 3, argv, NULL);
	}
	free(l->rkey);
	free(l);
}

/* Renew every lease held, one script per destination key. */
static void
cl_renew_due(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {CL_LEASE_RENEW_MS / 1000, (CL_LEASE_RENEW_MS % 1000) * 1000};
	evtimer_add(cl.renew, &tv);
	if (!cl.ac || cl.state != CL_UP)
		return;
	char ttl[16];
	snprintf(ttl, sizeof(ttl), "%d", CL_LEASE_TTL_MS);
	for (struct cl_lease *l = cl.leases; l; l = l->next) {
		bool first = true;
		for (struct cl_lease *p = cl.leases; p != l; p = p->next)
			if (strcmp(p->rkey, l->rkey) == 0)
				first = false;
		if (!first)
			continue; /* sent with the first lease of its key */
		size_t n = 0;
		for (struct cl_lease *p = l; p; p = p->next)
			n += strcmp(p->rkey, l->rkey) == 0;
		const char **argv = calloc(5 + n, sizeof(*argv));
		char(*members)[100] = calloc(n, sizeof(*members));
		if (!argv || !members)
			fatal("out of memory");
		size_t k = 0;
		argv[k++] = "EVAL";
		argv[k++] = cl_renew_lua;
		argv[k++] = "1";
		argv[k++] = l->rkey;
		argv[k++] = ttl;
		size_t m = 0;
		for (struct cl_lease *p = l; p; p = p->next)
			if (strcmp(p->rkey, l->rkey) == 0) {
				snprintf(members[m], sizeof(members[m]), "%s/%lu", cl.node, p->id);
				argv[k++] = members[m++];
			}
		redisAsyncCommandArgv(cl.ac, NULL, NULL, (int)k, argv, NULL);
		free(members);
		free(argv);
	}
}

/* ---- what the nodes learn about destinations: PUBLISH / SUBSCRIBE ----
 * Pub/sub rather than polling keys: the others apply it at once, and an
 * idle fleet costs Redis nothing. A node that was not subscribed when it
 * was published (Redis down, starting) does not get it: it learns it
 * itself, one rejection, as a node alone would. The message is
 * "1 TAB node TAB kind TAB transport TAB key TAB until TAB level TAB why". */

static void
cl_clean(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
	for (char *p = dst; *p; p++)
		if (*p == '\t' || *p == '\r' || *p == '\n')
			*p = ' ';
}

void
cluster_tell(const char *kind, const char *tname, const char *key, time_t until, unsigned level,
	     const char *why)
{
	if (cl.state != CL_UP || !cl.ac)
		return;
	char t[128], k[300], w[600], *msg = NULL;
	cl_clean(t, sizeof(t), tname);
	cl_clean(k, sizeof(k), key);
	cl_clean(w, sizeof(w), why);
	if (asprintf(&msg, "1\t%s\t%s\t%s\t%s\t%lld\t%u\t%s", cl.node, kind, t, k, (long long)until,
		     level, w) == -1)
		fatal("out of memory");
	const char *argv[] = {"PUBLISH", CL_CHANNEL, msg};
	redisAsyncCommandArgv(cl.ac, NULL, NULL, 3, argv, NULL);
	free(msg);
}

void
cluster_set_learn(void (*fn)(const struct cluster_news *n))
{
	cl.learn = fn;
}

static void
cl_on_message(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;
	if (!r || ac != cl.sub || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    strcmp(cl_str(r->element[0]), "message") != 0)
		return;
	char buf[1200], *f[8];
	snprintf(buf, sizeof(buf), "%s", cl_str(r->element[2]));
	size_t n = 0;
	char *p = buf;
	while (n < 7) {
		f[n++] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			return; /* not ours, or another version's */
		*tab = '\0';
		p = tab + 1;
	}
	f[7] = p;
	if (strcmp(f[0], "1") != 0 || strcmp(f[1], cl.node) == 0 || !cl.learn)
		return; /* ours come back to us too */
	struct cluster_news news = {.node = f[1],
				    .kind = f[2],
				    .tname = f[3],
				    .key = f[4],
				    .until = (time_t)strtoll(f[5], NULL, 10),
				    .level = (unsigned)strtoul(f[6], NULL, 10),
				    .why = f[7]};
	cl.learn(&news);
}

static void
cl_sub_on_disconnect(const redisAsyncContext *ac, int status)
{
	if (ac == cl.sub)
		cl.sub = NULL; /* hiredis frees it; the next beat connects again */
}

static void
cl_sub_on_connect(const redisAsyncContext *ac, int status)
{
	if (ac == cl.sub && status != REDIS_OK)
		cl.sub = NULL; /* hiredis frees it */
}

static void
cl_sub_connect(void)
{
	redisAsyncContext *ac = redisAsyncConnect(cl.host, cl.port);
	if (!ac)
		fatal("out of memory");
	if (ac->err || redisLibeventAttach(ac, cl.base) != REDIS_OK) {
		redisAsyncFree(ac);
		return;
	}
	cl.sub = ac;
	redisAsyncSetConnectCallback(ac, cl_sub_on_connect);
	redisAsyncSetDisconnectCallback(ac, cl_sub_on_disconnect);
	const char *argv[] = {"SUBSCRIBE", CL_CHANNEL};
	redisAsyncCommandArgv(ac, cl_on_message, NULL, 2, argv, NULL);
}

static void
cl_sub_drop(void)
{
	if (!cl.sub)
		return;
	redisAsyncContext *ac = cl.sub;
	cl.sub = NULL;
	redisAsyncFree(ac);
}

bool
cluster_on(void)
{
	return cl.state != CL_OFF;
}

bool
cluster_up(void)
{
	return cl.state == CL_UP;
}

unsigned
cluster_nodes(void)
{
	if (cl.state == CL_OFF)
		return 1;
	return cl.nnodes ? (unsigned)cl.nnodes : 1;
}

static const char *
cl_state_name(void)
{
	switch (cl.state) {
	case CL_UP:
		return "up";
	case CL_CONNECTING:
		return "connecting";
	case CL_DOWN:
		return "unreachable";
	default:
		return "off";
	}
}

static void
cl_utc(char *buf, size_t len, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* relayctl cluster [--json] */
void
cluster_write(struct evbuffer *out, bool json)
{
	char since[32], started[32];
	/* How old the last answer is, on Redis's clock as of now. */
	double age = cl.nnodes ? cl_ms_since(&cl.got) : 0;
	long long rnow = cl.redis_now + (long long)age;

	cl_utc(since, sizeof(since), cl.since);
	if (json) {
		evbuffer_add_printf(out, "{\"redis\":");
		json_string(out, cl.redis);
		evbuffer_add_printf(out, ",\"node\":");
		json_string(out, cl.node);
		evbuffer_add_printf(out, ",\"state\":\"%s\",\"since\":\"%s\",\"error\":",
				    cl_state_name(), since);
		json_string(out, cl.state == CL_UP ? NULL : cl.why[0] ? cl.why : NULL);
		evbuffer_add_printf(out, ",\"nodes\":[");
		for (size_t i = 0; i < cl.nnodes; i++) {
			const struct cl_node *n = &cl.nodes[i];
			cl_utc(started, sizeof(started), (time_t)n->started);
			evbuffer_add_printf(out, "%s{\"node\":", i ? "," : "");
			json_string(out, n->name);
			evbuffer_add_printf(out,
					    ",\"self\":%s,\"seen_ms_ago\":%lld,\"started\":\"%s\","
					    "\"queued\":%lld,\"version\":",
					    strcmp(n->name, cl.node) == 0 ? "true" : "false",
					    rnow - n->seen < 0 ? 0 : rnow - n->seen, started,
					    n->queued);
			json_string(out, n->version);
			evbuffer_add(out, "}", 1);
		}
		evbuffer_add_printf(out, "]}\n");
		return;
	}
	evbuffer_add_printf(out, "node: %s\nredis: %s %s since %s", cl.node, cl.redis,
			    cl_state_name(), since);
	if (cl.state != CL_UP && cl.why[0])
		evbuffer_add_printf(out, " (%s): local limits, divided by %u node%s last seen",
				    cl.why, cluster_nodes(), cluster_nodes() == 1 ? "" : "s");
	evbuffer_add_printf(out, "\nnodes: %zu%s\n", cl.nnodes,
			    cl.state == CL_UP ? " alive" : " last seen alive");
	for (size_t i = 0; i < cl.nnodes; i++) {
		const struct cl_node *n = &cl.nodes[i];
		cl_utc(started, sizeof(started), (time_t)n->started);
		long long ago = rnow - n->seen < 0 ? 0 : rnow - n->seen;
		evbuffer_add_printf(out,
				    "  %s%s: seen %lld.%llds ago, up since %s, %lld queued, "
				    "relayd %s\n",
				    n->name, strcmp(n->name, cl.node) == 0 ? " (this relayd)" : "",
				    ago / 1000, (ago % 1000) / 100, started, n->queued, n->version);
	}
}

void
cluster_metrics(struct evbuffer *out)
{
	if (cl.state == CL_OFF)
		return;
	evbuffer_add_printf(out,
			    "# HELP relayd_cluster_up Whether the cluster's Redis answers "
			    "(1) or not (0: limits are local).\n"
			    "# TYPE relayd_cluster_up gauge\n"
			    "relayd_cluster_up %d\n"
			    "# HELP relayd_cluster_nodes Nodes of the fleet alive (last seen "
			    "alive while Redis does not answer).\n"
			    "# TYPE relayd_cluster_nodes gauge\n"
			    "relayd_cluster_nodes %zu\n",
			    cl.state == CL_UP, cl.nnodes);
}
