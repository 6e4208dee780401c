/*
 * pace.h — how fast retries may go while new mail flows, so that a backlog
 * never starves it (queue_run()). Pure: the clock and new mail's times
 * are passed in; unit-tested in test_pace.c.
 *
 * pace_fresh()    a new message was dispatched
 * pace_outcome()  a retried recipient was delivered (OK) or deferred again
 * pace_accepted() a new message's 250 came SECS after its first RCPT
 * pace_draining() retries deliver and are paced (a drain is under way)
 * pace_rate()     retries a second now, or 0: not paced
 * pace_take()     may one more retry go now; else p->next says when
 *
 * While new mail flows (a new message in the last PACE_BUSY seconds):
 * - retries that mostly fail (the destinations of a backlog still refuse)
 *   go at one per PACE_SHARE new messages, at least PACE_MIN a second;
 * - retries that deliver (a destination is back and its backlog drains)
 *   start at PACE_OK_SHARE of the new-mail rate and adapt once a second to
 *   how long a new message takes, from its first RCPT to the 250 that says
 *   it is queued (the sender's round trips, the loop, the disk: what a
 *   sender feels, and what limits one that waits for each reply before
 *   the next command): faster (x1.5) while the second's mean is under
 *   PACE_SLOW_LOW times the reference, slower (x0.5, down to
 *   PACE_OK_MIN) while over PACE_SLOW_HIGH times it. The reference is the
 *   mean of seconds without a drain (smoothed), or the lowest second of a
 *   drain; one message counts for at most PACE_SLOW_CAP times it (a slow
 *   sender). New mail keeps its latency; the drain takes the rest, and runs
 *   at full speed when new mail is light (1.5 s without a message queued
 *   counts as fast enough).
 * Without new mail retries are not paced.
 */
#ifndef RELAYD_PACE_H
#define RELAYD_PACE_H

#include <stdbool.h>

#define PACE_BUSY 2.0
#define PACE_SHARE 8.0
#define PACE_MIN 100.0
#define PACE_OK_SHARE 0.25
#define PACE_OK_MIN 250.0
#define PACE_SLOW_LOW 1.1
#define PACE_SLOW_HIGH 1.25
#define PACE_SLOW_CAP 4.0

struct pace {
	double fresh_rate;    /* new messages a second, smoothed */
	unsigned fresh_count; /* ... in the second starting at fresh_sec */
	double fresh_sec, fresh_last;
	double retry_ok, retry_fail; /* retry outcomes, decaying (half in 2 s) */
	double outcome_at;
	double ok_rate; /* the adaptive pace of retries that deliver; 0: none yet */
	double acc_sum; /* new messages' RCPT-to-250 times, the second from acc_at */
	unsigned acc_n;
	double acc_at;
	double acc_mean;   /* ... the last whole second's mean */
	double acc_ref;	   /* the reference wait; 0: none yet */
	double tokens, at; /* the bucket (capacity: one second's worth) */
	double next;	   /* when the next retry may go, after a refusal */
};

void pace_init(struct pace *p);
void pace_fresh(struct pace *p, double mono);
void pace_outcome(struct pace *p, double mono, bool ok);
void pace_accepted(struct pace *p, double mono, double secs);
bool pace_draining(const struct pace *p);
double pace_rate(struct pace *p, double mono);
bool pace_take(struct pace *p, double mono, double rate);

#endif
