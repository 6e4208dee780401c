/*
 * test_warmup.c — the day of a warm-up, its rate, and local midnights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "relayd/warmup.h"

#define DEC01 20788 /* 2026-12-01 as days since 1970-01-01 */

static struct conf_rate days3[] = {{5, 60}, {1, 1}, {200, 86400}};

static void
test_days(void **state)
{
	struct conf_transport t = {.warmup = days3, .nwarmup = 3, .warmup_start = DEC01};
	static const struct {
		long today;
		enum warmup_phase phase;
		unsigned day;
		const char *said;
	} c[] = {
		{DEC01 - 30, WARMUP_NOT_STARTED, 0, "starts 2026-12-01"},
		{DEC01 - 1, WARMUP_NOT_STARTED, 0, "starts 2026-12-01"},
		{DEC01, WARMUP_DAY, 1, "day 1 of 3, 5/m"},
		{DEC01 + 1, WARMUP_DAY, 2, "day 2 of 3, 1/s"},
		{DEC01 + 2, WARMUP_DAY, 3, "day 3 of 3, 200/d"},
		{DEC01 + 3, WARMUP_DONE, 0, "done"},
		{DEC01 + 4000, WARMUP_DONE, 0, "done"},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct warmup_now w;
		char buf[64];
		warmup_at(&t, c[i].today, &w);
		if (w.phase != c[i].phase || (w.phase == WARMUP_DAY && w.day != c[i].day))
			fail_msg("day %ld: got phase %d day %u, want %d day %u", c[i].today - DEC01,
				 w.phase, w.day, c[i].phase, c[i].day);
		warmup_describe(&t, &w, buf, sizeof(buf));
		assert_string_equal(buf, c[i].said);
	}
	struct conf_transport none = {0};
	struct warmup_now w;
	warmup_at(&none, DEC01, &w);
	assert_int_equal(w.phase, WARMUP_NONE);
}

/* The smaller of rate and the day's entry, and which one limits. */
static void
test_rate(void **state)
{
	struct conf_transport t = {.warmup = days3, .nwarmup = 3, .warmup_start = DEC01};
	struct warmup_now w;
	bool limited;
	struct conf_rate r;

	warmup_at(&t, DEC01, &w); /* 5/m, rate unlimited */
	r = warmup_rate(&t, &w, &limited);
	assert_true(limited);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.interval, 60);

	t.rate = (struct conf_rate){1, 60}; /* rate 1/m is smaller than 5/m */
	r = warmup_rate(&t, &w, &limited);
	assert_false(limited);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.interval, 60);

	warmup_at(&t, DEC01 + 1, &w); /* 1/s, rate 1/m */
	r = warmup_rate(&t, &w, &limited);
	assert_false(limited);
	assert_int_equal(r.n, 1);

	t.rate = (struct conf_rate){10, 1};
	r = warmup_rate(&t, &w, &limited); /* 1/s under 10/s */
	assert_true(limited);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.interval, 1);

	warmup_at(&t, DEC01 + 3, &w); /* done: rate alone */
	r = warmup_rate(&t, &w, &limited);
	assert_false(limited);
	assert_int_equal(r.n, 10);
	warmup_at(&t, DEC01 - 1, &w); /* not started: rate alone */
	r = warmup_rate(&t, &w, &limited);
	assert_false(limited);
	assert_int_equal(r.n, 10);
}

/* Local dates and midnights, with POSIX TZ strings (no tzdata needed). */
static void
test_local_midnight(void **state)
{
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	setenv("TZ", "EST+5", 1); /* UTC-5, no DST */
	tzset();
	assert_int_equal(warmup_today(1796273999), DEC01 + 1); /* 12-02 23:59:59 */
	assert_int_equal(warmup_today(1796274000), DEC01 + 2); /* 12-03 00:00:00 */
	assert_int_equal(warmup_midnight(1796273999), 1796274000);
	assert_int_equal(warmup_midnight(1796274000), 1796274000 + 86400);

	/* Central Europe: 2026-03-29 is 23 hours long (CET to CEST). */
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	assert_int_equal(warmup_today(1774738800), 20541);	   /* 03-29 00:00 CET */
	assert_int_equal(warmup_today(1774738799), 20540);	   /* a second before */
	assert_int_equal(warmup_midnight(1774738800), 1774821600); /* 03-30 00:00 CEST */
	assert_int_equal(warmup_midnight(1774778400), 1774821600); /* from 12:00 CEST */
	assert_int_equal(warmup_today(1774821600), 20542);

	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_local_midnight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
