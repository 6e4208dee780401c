/*
 * stats.h — counters for relayctl stats and /metrics.
 *
 * stats_count()   add to a counter (and to its per-transport twin)
 * stats_get()     read a counter
 * stats_transport_foreach()  per-transport, per-status counts
 * stats_reject()  count an inbound refusal by reply code and reason
 * stats_reject_foreach()  per (code, reason) refusal counts
 * stats_delivery_reject()  count a remote refusal of a recipient by class
 * stats_delivery_reject_foreach()  per (transport, class) remote refusals
 *
 * Counters only ever grow while relayd runs; they start at 0.
 */
#ifndef RELAYD_STATS_H
#define RELAYD_STATS_H

#include <stdint.h>

enum stat_id {
	STAT_RECEIVED, /* messages accepted (250 after DATA) */
	STAT_SENT,     /* recipients */
	STAT_DEFERRED, /* recipient attempts that were deferred */
	STAT_BOUNCED,
	STAT_EXPIRED,
	STAT_REROUTED,
	STAT_REJECTED,	      /* inbound refusals of MAIL, RCPT or a message */
	STAT_TLS_IN,	      /* inbound TLS sessions */
	STAT_TLS_OUT,	      /* outbound TLS sessions */
	STAT_AUTH_OK,	      /* inbound AUTH: 235 */
	STAT_AUTH_FAILED,     /* 535: credentials checked and wrong */
	STAT_AUTH_BLOCKED,    /* 454: refused unchecked (auth_fail_limit) */
	STAT_AUTH_LIMIT,      /* a client address reached auth_fail_limit */
	STAT_TLS_IN_RESUMED,  /* inbound TLS sessions that resumed one (a ticket) */
	STAT_TLS_OUT_RESUMED, /* outbound TLS sessions that resumed one */
	STAT_MAX
};

/* Add N to counter ID; TRANSPORT (or NULL) also counts it per transport. */
void stats_count(enum stat_id id, const char *transport, uint64_t n);
uint64_t stats_get(enum stat_id id);
const char *stats_name(enum stat_id id);

/* Call CB for every (transport, counter) pair seen so far. */
void stats_transport_foreach(void (*cb)(void *arg, const char *transport, enum stat_id id,
					uint64_t value),
			     void *arg);

/* One inbound refusal: CODE is the reply's (554), REASON a short stable
 * word that outlives the call (relay_denied). Adds to STAT_REJECTED. */
void stats_reject(int code, const char *reason);

/* Call CB for every (code, reason) refused so far. */
void stats_reject_foreach(void (*cb)(void *arg, int code, const char *reason, uint64_t value),
			  void *arg);

/* Remote refusals (a 4xx or 5xx reply to a recipient) per transport and
 * classification: KIND an enum class_kind below STATS_CLASS_MAX. */
#define STATS_CLASS_MAX 32
void stats_delivery_reject(const char *transport, int kind);
void stats_delivery_reject_foreach(void (*cb)(void *arg, const char *transport, int kind,
					      uint64_t value),
				   void *arg);

#endif
