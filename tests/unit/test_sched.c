/*
 * test_sched.c — the timer heap and the retry policy, without sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "relayd/sched.h"

static unsigned retry5[] = {60, 300, 900, 1800, 3600, 7200, 14400};
static const struct conf_queue q = {
	.retry = retry5,
	.nretry = 7,
	.max_lifetime = 5 * 86400,
	.delay_warning = 4 * 3600,
};

static void
test_retry_schedule(void **state)
{
	static const struct {
		const char *name;
		unsigned attempts;
		time_t want; /* delay after a failure at t=1000 */
	} cases[] = {
		{"after attempt 1", 1, 60},	  {"after attempt 2", 2, 300},
		{"after attempt 3", 3, 900},	  {"after attempt 7", 7, 14400},
		{"last repeats", 8, 14400},	  {"last repeats far", 100, 14400},
		{"zero treated as first", 0, 60},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t got = sched_retry_at(&q, cases[i].attempts, 1000) - 1000;
		if (got != cases[i].want)
			fail_msg("%s: got %lld, want %lld", cases[i].name, (long long)got,
				 (long long)cases[i].want);
	}
}

static void
test_expiry_and_warning(void **state)
{
	time_t arrival = 100000;
	assert_false(sched_expired(&q, arrival, arrival + 5 * 86400 - 1));
	assert_true(sched_expired(&q, arrival, arrival + 5 * 86400));
	assert_false(sched_warn_due(&q, arrival, false, arrival + 4 * 3600 - 1));
	assert_true(sched_warn_due(&q, arrival, false, arrival + 4 * 3600));
	assert_false(sched_warn_due(&q, arrival, true, arrival + 4 * 3600));
	struct conf_queue nowarn = q;
	nowarn.delay_warning = 0;
	assert_false(sched_warn_due(&nowarn, arrival, false, arrival + 10 * 86400));
}

struct item {
	struct sched_entry e;
	int id;
};

static void
test_heap_order(void **state)
{
	struct sched s;
	enum { N = 1000 };
	struct item *items = calloc(N, sizeof(*items));
	sched_init(&s);
	srand(42);
	for (int i = 0; i < N; i++) {
		items[i].e.idx = SCHED_NONE;
		items[i].id = i;
		assert_int_equal(sched_set(&s, &items[i].e, rand() % 500), 0);
	}
	/* Move some, cancel some. */
	for (int i = 0; i < N; i += 7)
		sched_set(&s, &items[i].e, rand() % 500);
	for (int i = 3; i < N; i += 11)
		sched_cancel(&s, &items[i].e);
	sched_cancel(&s, &items[3].e); /* twice: harmless */

	time_t last = -1;
	size_t popped = 0;
	struct sched_entry *e;
	while ((e = sched_pop_due(&s, 1000)) != NULL) {
		if (e->when < last)
			fail_msg("heap order: got %lld after %lld", (long long)e->when,
				 (long long)last);
		assert_int_equal(e->idx, SCHED_NONE);
		last = e->when;
		popped++;
	}
	size_t cancelled = 0;
	for (int i = 3; i < N; i += 11)
		cancelled++;
	if (popped != N - cancelled)
		fail_msg("popped: got %zu, want %zu", popped, (size_t)N - cancelled);
	sched_free(&s);
	free(items);
}

static void
test_due_and_fifo(void **state)
{
	struct sched s;
	struct item a = {{0, SCHED_NONE, 0}, 1}, b = {{0, SCHED_NONE, 0}, 2},
		    c = {{0, SCHED_NONE, 0}, 3};
	sched_init(&s);
	sched_set(&s, &a.e, 10);
	sched_set(&s, &b.e, 10);
	sched_set(&s, &c.e, 20);
	assert_null(sched_pop_due(&s, 9));
	assert_ptr_equal(sched_peek(&s), &a.e);
	assert_ptr_equal(sched_pop_due(&s, 10), &a.e);
	assert_ptr_equal(sched_pop_due(&s, 10), &b.e);
	assert_null(sched_pop_due(&s, 19));
	/* Rescheduling earlier moves it up. */
	sched_set(&s, &c.e, 5);
	assert_ptr_equal(sched_pop_due(&s, 5), &c.e);
	assert_null(sched_peek(&s));
	sched_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_expiry_and_warning),
		cmocka_unit_test(test_heap_order),
		cmocka_unit_test(test_due_and_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
