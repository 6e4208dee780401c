/*
 * pace.h — how fast retries may go while new mail flows, so that a backlog
 * never starves it (queue_run()). Pure: the clock and the loop's lateness
 * are passed in; unit-tested in test_pace.c.
 *
 * pace_fresh()    a new message was dispatched
 * pace_outcome()  a retried recipient was delivered (OK) or deferred again
 * pace_lag()      how late the loop ran a timer, on average, over a second
 * pace_rate()     retries a second now, or 0: not paced
 * pace_take()     may one more retry go now; else p->next says when
 *
 * While new mail flows (a new message in the last PACE_BUSY seconds):
 * - retries that mostly fail (the destinations of a backlog still refuse)
 *   go at one per PACE_SHARE new messages, at least PACE_MIN a second;
 * - retries that deliver (a destination is back and its backlog drains)
 *   start at PACE_OK_SHARE of the new-mail rate and adapt once a second to
 *   how late the event loop runs its timers (what new mail waits for):
 *   faster (x1.5) while under PACE_LAG_LOW on average, slower (x0.5, down
 *   to PACE_OK_MIN) while over PACE_LAG_HIGH. New mail keeps a loop that
 *   answers on time; the drain takes the rest, and runs at full speed
 *   when new mail is light.
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
#define PACE_LAG_LOW 0.001
#define PACE_LAG_HIGH 0.0025

struct pace {
	double fresh_rate;    /* new messages a second, smoothed */
	unsigned fresh_count; /* ... in the second starting at fresh_sec */
	double fresh_sec, fresh_last;
	double retry_ok, retry_fail; /* retry outcomes, decaying (half in 2 s) */
	double outcome_at;
	double ok_rate;	   /* the adaptive pace of retries that deliver; 0: none yet */
	double lag;	   /* the loop's mean lateness, last said (seconds) */
	double lag_at;	   /* when ok_rate last adapted to it */
	double tokens, at; /* the bucket (capacity: one second's worth) */
	double next;	   /* when the next retry may go, after a refusal */
};

void pace_init(struct pace *p);
void pace_fresh(struct pace *p, double mono);
void pace_outcome(struct pace *p, double mono, bool ok);
void pace_lag(struct pace *p, double mono, double lag);
double pace_rate(struct pace *p, double mono);
bool pace_take(struct pace *p, double mono, double rate);

#endif
