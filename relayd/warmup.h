/*
 * warmup.h — the warm-up of a new sending address: which day it is and
 * the rate that day allows.
 *
 * warmup_today()     the local date of a time, as days since 1970-01-01
 * warmup_midnight()  the next local midnight after a time
 * warmup_at()        a transport's warm-up on a day: not started, day D of
 *                    N with its rate, or done
 * warmup_rate()      the rate in force: the smaller of rate and the day's
 * warmup_describe()  "day 2 of 5, 20/m", "done", "starts 2026-12-04"
 *
 * Days are local dates (warmup_start is written as one), so the day changes
 * at local midnight; nothing here keeps state: callers ask with the time
 * now, and a reload or a midnight needs nothing else. Pure apart from the
 * time zone of localtime_r()/mktime().
 */
#ifndef RELAYD_WARMUP_H
#define RELAYD_WARMUP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/conf.h"

enum warmup_phase {
	WARMUP_NONE,	    /* the transport has no warm-up */
	WARMUP_NOT_STARTED, /* before warmup_start */
	WARMUP_DAY,	    /* day DAY of DAYS: RATE applies too */
	WARMUP_DONE,	    /* after the last day: rate alone */
};

struct warmup_now {
	enum warmup_phase phase;
	unsigned day, days;    /* WARMUP_DAY: 1..days */
	struct conf_rate rate; /* WARMUP_DAY: that day's entry */
};

long warmup_today(time_t now);
time_t warmup_midnight(time_t now);
void warmup_at(const struct conf_transport *t, long today, struct warmup_now *w);
/* T's rate in force under W (n == 0: unlimited); *LIMITED true when the
 * warm-up's entry is what limits it (not rate). */
struct conf_rate warmup_rate(const struct conf_transport *t, const struct warmup_now *w,
			     bool *limited);
void warmup_describe(const struct conf_transport *t, const struct warmup_now *w, char *buf,
		     size_t len);

#endif
