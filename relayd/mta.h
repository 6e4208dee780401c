/*
 * mta.h — outbound delivery: destinations, connections, limits.
 *
 * mta_init()      bind to the event base
 * mta_submit()    deliver a job: one message's recipients for one destination
 * mta_shutdown()  close every outbound connection
 * mta_sessions()  outbound sessions open now
 *
 * A destination is (transport, relay list) or (transport, recipient domain)
 * for MX delivery. Each has a FIFO of jobs and at most max_connections
 * sessions; a session is reused for up to max_messages_per_connection jobs.
 * Every recipient of a job gets exactly one queue_result() and then the job
 * gets queue_job_done().
 */
#ifndef RELAYD_MTA_H
#define RELAYD_MTA_H

#include <stddef.h>

#include "conf/conf.h"

struct event_base;
struct qmsg;

struct mta_job {
	struct qmsg *msg;
	const struct conf_transport *transport;
	char *domain; /* recipients' domain for MX delivery; NULL for relays */
	size_t *rcpt; /* indices into msg->rcpt */
	size_t nrcpt;
	struct mta_job *next; /* private to mta.c */
};

int mta_init(struct event_base *base);
void mta_submit(struct mta_job *job);
void mta_shutdown(void);
size_t mta_sessions(void);

#endif
