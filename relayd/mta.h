/*
 * mta.h — outbound delivery: destinations, connections, limits.
 *
 * mta_init()      bind to the event base
 * mta_submit()    deliver a job: one message's recipients for one destination
 * mta_shutdown()  close every outbound connection
 * mta_sessions()  outbound sessions open now
 * mta_detour_active()  is a destination's mail held on its fallback now
 * mta_detours()   destinations on hold now (metrics)
 * mta_dest_state()  what is in force for a destination (relayctl route)
 * mta_resume()    end detours, back-offs and down pauses (relayctl resume)
 * mta_flush()     end down pauses: the operator says it is back (flush)
 * mta_known_transport()  does any destination of a transport exist
 *
 * A destination is (transport, relay list) or (transport, recipient domain)
 * for MX delivery. Each has a FIFO of jobs and at most max_connections
 * sessions; a session is reused for up to max_messages_per_connection jobs.
 * Every recipient of a job gets exactly one job->ops->result() and then the
 * job gets job->ops->done() (job.h); mta.c never calls the queue.
 */
#ifndef RELAYD_MTA_H
#define RELAYD_MTA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/conf.h"
#include "relayd/job.h"
#include "smtp/reply.h"

struct conf;
struct event_base;
struct job;

/* Bind to BASE; RELEASE(transport, domain or NULL) is called when a
 * destination delivers again after deferring recipients that waited for it. */
int mta_init(struct event_base *base, void (*release)(const char *transport, const char *domain));
void mta_submit(struct job *job);
void mta_shutdown(void);
size_t mta_sessions(void);

/* True while T's destination (DOMAIN for MX delivery, ignored for relays)
 * sends its mail straight to T's fallback after a reputation block; *UNTIL
 * (may be NULL) gets the end of the hold. */
bool mta_detour_active(const struct conf_transport *t, const char *domain, time_t *until);

/* Destinations whose mail is held on a fallback right now. */
size_t mta_detours(void);

/* What relayd has learnt about a destination and still applies. */
struct mta_state {
	const char *name;	       /* the destination: "example.com", "(relay)" */
	time_t detour_until;	       /* its mail goes to the fallback until then; 0: no */
	unsigned backoff;	       /* back-off level (421s, rate limits); 0: none */
	unsigned cur_max, max;	       /* concurrency now, and the transport's limit */
	double paused_for;	       /* seconds of a back-off pause left; 0: none */
	time_t down_until;	       /* no host answered: mail deferred at once until then */
	char down_why[REPLY_TEXT_MAX]; /* ... for this reason */
	unsigned jobs, conns;	       /* jobs waiting, connections open */
};

/* T's destination for a recipient in DOMAIN (ignored for relays): false
 * when relayd knows nothing about it (nothing is in force); else *ST. */
bool mta_dest_state(const struct conf_transport *t, const char *domain, struct mta_state *st);

/* End now every detour, back-off (with its pause and reduced concurrency)
 * and down pause of transport TNAME's destinations, or of DEST alone: a
 * recipient domain, or "relay" for a relay transport's. Recipients that
 * waited for such a destination are due at once, as when it delivers
 * again. CB (may be NULL) gets what was ended for each destination that had
 * something in force; the number of those. */
size_t mta_resume(const char *tname, const char *dest,
		  void (*cb)(void *arg, const struct mta_state *ended), void *arg);

/* End the down pause of transport TNAME's destination for a recipient in
 * DOMAIN, or of every destination when TNAME is NULL: the operator says
 * it is back, so a flushed recipient is tried, not deferred unseen. Only
 * the pause: which recipients are due is the flush's business. */
void mta_flush(const char *tname, const char *domain);

/* Does relayd know a destination of transport TNAME. */
bool mta_known_transport(const char *tname);

/* When a transport of C uses DANE: warn unless dns_servers validate
 * DNSSEC (C's dnssec_probe answered with the AD bit). */
void mta_dnssec_probe(const struct conf *c);

#endif
