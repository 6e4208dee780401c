/*
 * dest.h — destinations: where a transport's mail goes, and what relayd has
 * learnt about it.
 *
 * dest_get()        find or make the destination (transport name, key)
 * dest_find()       find it; NULL when there is none
 * dest_transport()  its transport in the configuration now (NULL: gone)
 * dest_idle()       it has no work: dest_maybe_free() may forget it
 * dest_keep_for()   how long what was learnt about it stays in force
 * dest_maybe_free() forget it when idle and nothing learnt is worth keeping
 * dest_foreach()    every destination (relayctl, metrics)
 * dest_count()      how many are known
 * dest_tally()      count a recipient's outcome and keep its reply
 * dest_last_hour()  the outcomes of the last hour
 * dest_set_why()    keep the reason of a state (detour, back-off)
 *
 * A destination is (transport name, key): the key is the recipient domain
 * (lower case) for MX delivery and "" for a transport with relays. Keyed by
 * the transport's *name*, not its configuration pointer, a destination and
 * what was learnt about it (a detour hold, back-off, a down pause) survive a
 * reload for every transport that keeps its name. Lookups are by hash.
 * Destinations that have no jobs, no connections and nothing learnt still in
 * force are freed an hour after their last use (DEST_FORGET: relayctl
 * destinations shows the last hour of each), not kept forever (one per
 * recipient domain ever seen would grow without bound).
 *
 * The runtime fields (jobs, connections, timer) are mta.c's; dest.c only
 * reads them to tell whether a destination is idle.
 */
#ifndef RELAYD_DEST_H
#define RELAYD_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "relayd/dlv.h"

struct conf;
struct conf_transport;
struct event;
struct job;
struct mta_conn;

enum dest_outcome { DEST_SENT, DEST_DEFERRED, DEST_BOUNCED, DEST_REROUTED, DEST_NOUTCOMES };
#define DEST_SLOTS 12	      /* the last hour, ... */
#define DEST_SLOT_SECONDS 300 /* ... in 5-minute slots */
#define DEST_FORGET 3600.0    /* seconds an idle destination is kept after its last use */

struct dest {
	char *tname; /* transport name */
	char *key;   /* recipient domain (lower case) for MX delivery, or its site
		      * (site.h: "mx1.example,mx2.example"), "" for relays */
	bool site;   /* KEY is a site */

	/* What was learnt: kept across reloads. */
	time_t detour_until; /* mail goes to the fallback until then */
	unsigned backoff;    /* 421 / rate-limit back-off level */
	unsigned cur_max;    /* concurrency now (<= max_connections) */
	double paused_until; /* monotonic; no new transactions before */
	time_t down_until;   /* connections fail: jobs are deferred at once */
	struct dlv down_why;
	bool deferred_some; /* a recipient waits for it: release on success */
	double tokens;	    /* rate: token bucket of capacity 1 */
	double tok_last;    /* monotonic seconds of the last refill */

	/* What relayctl destinations shows. */
	const char *detour_why;	 /* interned: the rejection that started the detour */
	const char *backoff_why; /* interned: the reply that throttled it */
	const char *last_reply;	 /* interned: the last outcome's reply or reason */
	int last_code;		 /* its reply code, 0: relayd's own reason */
	char last_status[16];
	time_t last_used;			     /* a job or an outcome */
	uint32_t slot_at[DEST_SLOTS];		     /* time / DEST_SLOT_SECONDS each slot counts */
	uint32_t counts[DEST_SLOTS][DEST_NOUTCOMES]; /* recipients by outcome */

	/* mta.c's runtime state */
	struct event *timer; /* wakes the destination (rate, pause, idle check) */
	struct job *head, *tail;
	unsigned nconn;
	struct mta_conn *idle;	   /* idle connections */
	bool fleet_asking;	   /* a cluster: Redis is asked for a message of the rate */
	bool fleet_token;	   /* ... and allowed one, not yet used */
	bool lease_asking;	   /* a cluster: Redis is asked for a connection lease */
	unsigned long lease_ready; /* ... and granted this one, not yet used */
	double lease_retry_at;	   /* ... refused: not asked again before (monotonic) */

	/* private to dest.c */
	const struct conf *conf; /* the configuration T was looked up in */
	const struct conf_transport *t;
	unsigned hash;
	struct dest *hnext;
};

/* The destination (TNAME, KEY), made when there is none (KEY: a domain,
 * compared without case, or NULL/"" for a relay transport). */
struct dest *dest_get(const char *tname, const char *key);

/* The destination (TNAME, KEY), or NULL. */
struct dest *dest_find(const char *tname, const char *key);

/* D's transport in the configuration now, NULL when a reload removed it. A
 * reload that changed max_connections applies here (back-off kept). */
const struct conf_transport *dest_transport(struct dest *d);

/* No jobs, no connections. */
bool dest_idle(const struct dest *d);

#define DEST_BACKOFF_MEMORY 600.0 /* seconds a back-off level outlives its pause */

/* Seconds what was learnt about D (hold, down, pause, back-off level, an
 * empty rate bucket) stays in force after NOW / MONO; 0: nothing. */
double dest_keep_for(struct dest *d, time_t now, double mono);

/* Free D when it is idle and nothing learnt about it is still in force at
 * NOW (time) / MONO (monotonic seconds); true if it was freed. Call only where
 * nothing else holds D (the top of a libevent callback). */
bool dest_maybe_free(struct dest *d, time_t now, double mono);

/* Recipient outcome KIND (enum dlv_kind) with reply CODE, STATUS, TEXT of
 * D at NOW: counted, kept as the last reply; D was used then. */
void dest_tally(struct dest *d, int kind, int code, const char *status, const char *text,
		time_t now);

/* D's outcomes in the hour before NOW, by enum dest_outcome. */
void dest_last_hour(const struct dest *d, time_t now, unsigned out[DEST_NOUTCOMES]);

/* Keep TEXT (NULL: none) as the reason in *SLOT (interned). */
void dest_set_why(const char **slot, const char *text);

/* Call CB for every destination. CB must not free any. */
void dest_foreach(void (*cb)(void *arg, struct dest *d), void *arg);

size_t dest_count(void);

/* "example.com", or "(relay)" for a relay transport's destination. */
const char *dest_name(const struct dest *d);

/* Free every destination (shutdown). */
void dest_free_all(void);

#endif
