/*
 * test_pace.c — retries paced behind new mail: not paced without new mail;
 * one per PACE_SHARE new messages while they fail; while they deliver, a
 * share of the new-mail rate that grows while the loop runs on time and
 * shrinks (to a floor) while it runs late; the bucket lets a second's
 * worth through at most.
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
	double t = flow(&p, 1000, 5, 2000);
	for (int i = 0; i < 100; i++)
		pace_outcome(&p, t, true);
	double r0 = pace_rate(&p, t);
	assert_true(r0 > 1500 * PACE_OK_SHARE && r0 < 2100 * PACE_OK_SHARE);
	/* Within the second: no change. */
	pace_lag(&p, t + 0.5, 0);
	assert_true(pace_rate(&p, t + 0.5) == r0);
	/* The loop on time: faster, second by second. */
	pace_lag(&p, t + 1.0, PACE_LAG_LOW / 2);
	double r1 = pace_rate(&p, t + 1.0);
	assert_true(r1 == r0 * 1.5 + 50);
	pace_lag(&p, t + 2.0, 0);
	double r2 = pace_rate(&p, t + 2.0);
	assert_true(r2 > r1);
	/* Between the two marks: held. */
	pace_fresh(&p, t + 3.0); /* new mail still flows */
	pace_lag(&p, t + 3.0, (PACE_LAG_LOW + PACE_LAG_HIGH) / 2);
	assert_true(pace_rate(&p, t + 3.0) == r2);
	/* The loop late: slower, down to the floor. */
	for (int i = 4; i < 40; i++) {
		pace_fresh(&p, t + i);
		pace_lag(&p, t + i, PACE_LAG_HIGH * 2);
	}
	assert_true(p.ok_rate == PACE_OK_MIN);
	/* New mail stops: not paced, and the next drain starts from the share. */
	assert_true(pace_rate(&p, t + 39 + PACE_BUSY + 0.1) == 0);
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
		cmocka_unit_test(test_no_new_mail),
		cmocka_unit_test(test_failing),
		cmocka_unit_test(test_drain_adapts),
		cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
