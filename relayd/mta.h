/*
 * mta.h — outbound delivery: destinations, connections, limits.
 *
 * mta_init()      bind to the event base
 * mta_submit()    deliver a job: one message's recipients for one destination
 * mta_shutdown()  close every outbound connection
 * mta_sessions()  outbound sessions open now
 * mta_detour_active()  is a destination's mail held on its fallback now
 * mta_detours()   destinations on hold now (metrics)
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

#endif
