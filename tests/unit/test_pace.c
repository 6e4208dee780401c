/*
 * test_pace.c — retries paced behind new mail: not paced without new mail;
 * one per PACE_SHARE new messages while they fail; while they deliver, a
 * share of the new-mail rate that grows while a new message's time from its
 * first RCPT to its 250 is about what it was without a drain and shrinks (to
 * a floor) while it is clearly longer; the bucket lets a second's worth through at most.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/pace.h"

/* New mail at RATE a second from T0 for SECS seconds. */
static double
flow(struct pace *p, double t0, double secs, double rate)
{
	double t = t0;
	for (int i = 0; i < (int)(secs * rate); i++) {
		t = t0 + i / rate;
		pace_fresh(p, t);
	}
	return t;
}

static void
test_no_new_mail(void **state)
{
	struct pace p;
	pace_init(&p);
	assert_true(pace_rate(&p, 1000) == 0);
	for (int i = 0; i < 50; i++)
		pace_outcome(&p, 1000, false);
	assert_true(pace_rate(&p, 1000) == 0); /* failing, but nothing to make room for */
	double t = flow(&p, 1000, 3, 1000);
	assert_true(pace_rate(&p, t) > 0);
	assert_true(pace_rate(&p, t + PACE_BUSY + 0.1) == 0); /* new mail stopped */
}

static void
test_failing(void **state)
{
	struct pace p;
	pace_init(&p);
	double t = flow(&p, 1000, 5, 2000);
	for (int i = 0; i < 100; i++)
		pace_outcome(&p, t, false);
	double r = pace_rate(&p, t);
	assert_false(pace_draining(&p)); /* retries that fail are no drain */
	/* About 2000 / PACE_SHARE (the rate is smoothed). */
	assert_true(r > 1500 / PACE_SHARE && r < 2100 / PACE_SHARE);
	/* Light new mail: the floor. */
	pace_init(&p);
	t = flow(&p, 1000, 5, 10);
	for (int i = 0; i < 100; i++)
		pace_outcome(&p, t, false);
	assert_true(pace_rate(&p, t) == PACE_MIN);
}

static void
test_drain_adapts(void **state)
{
	struct pace p;
	pace_init(&p);
	flow(&p, 1000, 5, 2000);
	double t = 1005; /* whole seconds: exact sums */
	/* Seconds without a drain: new mail waits 1 ms for its 250 (the
	 * reference; each second's mean is taken at the next second's first). */
	for (int i = 4; i >= 1; i--)
		pace_accepted(&p, t - i, 0.001);
	assert_false(pace_draining(&p));
	for (int i = 0; i < 100; i++)
		pace_outcome(&p, t, true);
	double r0 = pace_rate(&p, t);
	assert_true(pace_draining(&p));
	assert_true(r0 > 1500 * PACE_OK_SHARE && r0 < 2100 * PACE_OK_SHARE);
	assert_true(p.acc_ref > 0.00099 && p.acc_ref < 0.00101);
	/* Within the second: no change. */
	pace_accepted(&p, t + 0.5, 0.001);
	assert_true(pace_rate(&p, t + 0.5) == r0);
	/* New mail waits as long as without a drain: faster. */
	pace_fresh(&p, t + 1.0);
	pace_accepted(&p, t + 1.0, 0.005);
	double r1 = pace_rate(&p, t + 1.0);
	assert_true(r1 == r0 * 1.5 + 50);
	/* Clearly longer (5 ms): slower; the reference does not follow. */
	pace_fresh(&p, t + 2.0);
	pace_accepted(&p, t + 2.0, 0.001 * (PACE_SLOW_LOW + PACE_SLOW_HIGH) / 2);
	double r2 = pace_rate(&p, t + 2.0);
	assert_true(r2 == r1 * 0.5);
	assert_true(p.acc_ref > 0.00099 && p.acc_ref < 0.00101);
	/* Between the two marks: held. */
	pace_fresh(&p, t + 3.0);
	for (int i = 0; i < 98; i++) /* the second's mean: ... */
		pace_accepted(&p, t + 2.5, 0.001 * (PACE_SLOW_LOW + PACE_SLOW_HIGH) / 2);
	pace_accepted(&p, t + 2.6, 300); /* ... one sender's 5 minutes count as 4 ms */
	pace_accepted(&p, t + 3.0, 0.005);
	assert_true(pace_rate(&p, t + 3.0) == r2);
	/* Longer and longer: down to the floor. */
	for (int i = 4; i < 40; i++) {
		pace_fresh(&p, t + i);
		pace_accepted(&p, t + i, 0.005);
		pace_rate(&p, t + i);
	}
	assert_true(p.ok_rate == PACE_OK_MIN);
	/* Light new mail: no message made durable for 1.5 s counts as fast
	 * enough. */
	pace_fresh(&p, t + 40.4);
	assert_true(pace_rate(&p, t + 40.4) == PACE_OK_MIN);
	assert_true(pace_rate(&p, t + 41.0) == PACE_OK_MIN * 1.5 + 50);
	/* New mail stops: not paced, and the next drain starts from the share. */
	assert_true(pace_rate(&p, t + 40.4 + PACE_BUSY + 0.1) == 0);
	assert_true(p.ok_rate == 0);
}

/* A drain from the start (no second without one yet): its best second is
 * the reference. */
static void
test_drain_from_start(void **state)
{
	struct pace p;
	pace_init(&p);
	flow(&p, 1000, 3, 2000);
	double t = 1003;
	for (int i = 0; i < 100; i++)
		pace_outcome(&p, t, true);
	double r0 = pace_rate(&p, t);
	assert_true(p.acc_ref == 0);
	pace_accepted(&p, t + 0.2, 0.002);
	pace_fresh(&p, t + 1.1);
	pace_accepted(&p, t + 1.1, 0.004);
	assert_true(p.acc_ref == 0.002);
	assert_true(pace_rate(&p, t + 1.1) == r0 * 1.5 + 50);
	pace_fresh(&p, t + 2.2);
	pace_accepted(&p, t + 2.2, 0.0015);
	assert_true(p.acc_ref == 0.002); /* 4 ms is not the best */
	assert_true(pace_rate(&p, t + 2.2) == (r0 * 1.5 + 50) * 0.5);
	pace_fresh(&p, t + 3.3);
	pace_accepted(&p, t + 3.3, 0.0015);
	assert_true(p.acc_ref == 0.0015); /* a better second */
	/* Retries fail again: the drain is over, the pace starts over. */
	pace_fresh(&p, t + 3.3);
	for (int i = 0; i < 200; i++)
		pace_outcome(&p, t + 3.3, false);
	assert_true(pace_rate(&p, t + 3.3) < r0);
	assert_true(p.ok_rate == 0);
}

static void
test_bucket(void **state)
{
	struct pace p;
	pace_init(&p);
	p.at = 100;
	/* 10 a second: after a long pause, at most a second's worth at once. */
	int n = 0;
	while (pace_take(&p, 200, 10))
		n++;
	assert_int_equal(n, 10);
	assert_true(p.next > 200 && p.next <= 200.1 + 1e-9);
	assert_false(pace_take(&p, 200.05, 10));
	assert_true(pace_take(&p, 200.11, 10)); /* a tenth of a second later */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_new_mail),  cmocka_unit_test(test_failing),
		cmocka_unit_test(test_drain_adapts), cmocka_unit_test(test_drain_from_start),
		cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
