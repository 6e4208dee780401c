/*
 * cluster.h — a fleet of relayd instances sharing state through Redis
 * (contract-v2 section 5; docs/cluster.md).
 *
 * cluster_init()       connect to the cluster section's Redis (if any)
 * cluster_reload()     a reload: a new redis or node reconnects
 * cluster_shutdown()   leave the fleet (the node's liveness key goes)
 * cluster_idle()       the leave is answered (or given up): relayd may exit
 * cluster_on()         is there a cluster section
 * cluster_up()         is Redis answering now
 * cluster_nodes()      nodes alive (last seen, when Redis is unreachable)
 * cluster_rate()       ask the fleet's rate of a destination for one message
 * cluster_lease()      ask for one of a destination's fleet-wide connections
 * cluster_lease_release()  give it back
 * cluster_tell()       publish what this node learnt about a destination
 * cluster_set_learn()  who applies what the other nodes learnt
 * cluster_write()      relayctl cluster: the text or JSON
 * cluster_metrics()    relayd_cluster_up, relayd_cluster_nodes
 *
 * Each message stays on the node that accepted it: nothing here decides
 * whether mail is delivered, only how the fleet's limits are shared. With
 * Redis unreachable every node works on its own, its fleet-wide limits
 * divided by the nodes last seen alive.
 */
#ifndef RELAYD_CLUSTER_H
#define RELAYD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct conf;
struct evbuffer;
struct event_base;

void cluster_init(struct event_base *base, const struct conf *c);
void cluster_reload(const struct conf *c);
void cluster_shutdown(void);
bool cluster_idle(void);
bool cluster_on(void);
bool cluster_up(void);
unsigned cluster_nodes(void);

/* The answer to cluster_rate(): 0 send now, else the ms to wait; -1 Redis
 * did not answer (the caller applies its share of the rate locally). */
typedef void (*cluster_rate_cb)(const char *tname, const char *key, long wait_ms);

/* Ask Redis for one message of the destination (TNAME, KEY) whose rate
 * allows one every PER_MS (a GCRA with a bucket of one token, shared by
 * the fleet). 0: CB will be called (always, once); -1: Redis is not up. */
int cluster_rate(const char *tname, const char *key, unsigned long per_ms, cluster_rate_cb cb);

/* The answer to cluster_lease(): LEASE (non-zero) granted, 0 refused (the
 * fleet has MAX connections open), or LOST: Redis did not answer. */
typedef void (*cluster_lease_cb)(const char *tname, const char *key, unsigned long lease,
				 bool lost);

/* Ask for a connection to (TNAME, KEY) when the fleet has fewer than MAX
 * open (a lease in Redis that expires unless renewed: a node killed frees
 * its leases within their TTL). 0: CB will be called once; -1: not up. */
int cluster_lease(const char *tname, const char *key, unsigned max, cluster_lease_cb cb);

/* The connection that held LEASE closed. */
void cluster_lease_release(unsigned long lease);

/* What a node learnt about a destination, published to the fleet. */
struct cluster_news {
	const char *node;  /* who learnt it */
	const char *kind;  /* "detour", "down" or "backoff" */
	const char *tname; /* the destination: transport name, key */
	const char *key;
	time_t until;	 /* in force until then */
	unsigned level;	 /* backoff: its level */
	const char *why; /* the reply or reason */
};

/* Tell the fleet (no-op when Redis is not up). */
void cluster_tell(const char *kind, const char *tname, const char *key, time_t until,
		  unsigned level, const char *why);

/* What to call with news from the other nodes. */
void cluster_set_learn(void (*fn)(const struct cluster_news *n));
void cluster_write(struct evbuffer *out, bool json);
void cluster_metrics(struct evbuffer *out);

#endif
