/*
 * test_sched.c — the timer heap and the retry policy, without sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Take the next retry due at NOW, as queue_run() does. */
static struct sched_entry *
take(struct retryq *rq, time_t now, bool *flushed)
{
	struct sched_entry *e = retryq_next(rq, flushed);
	if (!e || (!*flushed && e->when > now))
		return NULL;
	retryq_cancel(rq, e);
	return e;
}

/* A flush sets the heap aside whole: everything in it due, the oldest batch
 * first; cancel and set find an entry in any batch; what was scheduled after
 * the flush waits for its time. */
static void
test_retryq_flush(void **state)
{
	struct retryq rq;
	enum { N = 50 };
	struct item it[N];
	bool flushed;
	retryq_init(&rq);
	for (int i = 0; i < N; i++) {
		it[i] = (struct item){{0, SCHED_NONE, 0}, i};
		assert_int_equal(retryq_set(&rq, &it[i].e, 1000 + i), 0);
	}
	assert_null(take(&rq, 999, &flushed));
	assert_int_equal(retryq_flush(&rq), 0);
	assert_int_equal(retryq_count(&rq), N);
	/* After the flush: one rescheduled (out of the batch, into the heap),
	 * one cancelled, one new. */
	assert_int_equal(retryq_set(&rq, &it[5].e, 2000), 0);
	retryq_cancel(&rq, &it[6].e);
	retryq_cancel(&rq, &it[6].e); /* twice: harmless */
	struct item late = {{0, SCHED_NONE, 0}, 99};
	assert_int_equal(retryq_set(&rq, &late.e, 1500), 0);
	/* A second flush while the first batch is not taken: the heap's two. */
	struct sched_entry *e = take(&rq, 0, &flushed);
	assert_ptr_equal(e, &it[0].e);
	assert_true(flushed);
	assert_int_equal(retryq_flush(&rq), 0);
	assert_int_equal(rq.nbatch, 2);
	/* Due at t=0 (long before their times): the first batch in order,
	 * then the second (late at 1500 before it[5] at 2000). */
	for (int i = 1; i < N; i++) {
		if (i == 5 || i == 6)
			continue;
		e = take(&rq, 0, &flushed);
		assert_non_null(e);
		assert_true(flushed);
		if (e != &it[i].e)
			fail_msg("batch order: got item %d, want %d", ((struct item *)e)->id, i);
	}
	assert_ptr_equal(take(&rq, 0, &flushed), &late.e);
	assert_ptr_equal(take(&rq, 0, &flushed), &it[5].e);
	assert_null(take(&rq, 1 << 30, &flushed));
	assert_int_equal(rq.nbatch, 0);
	assert_int_equal(retryq_count(&rq), 0);
	/* Scheduled after the last batch was taken: due at its time only. */
	assert_int_equal(retryq_set(&rq, &late.e, 3000), 0);
	assert_null(take(&rq, 2999, &flushed));
	assert_ptr_equal(take(&rq, 3000, &flushed), &late.e);
	assert_false(flushed);
	retryq_free(&rq);
}

/* More flushes than batches: the newest batch takes the rest; nothing is
 * lost or taken twice. */
static void
test_retryq_many_flushes(void **state)
{
	struct retryq rq;
	enum { N = 40 };
	struct item it[N];
	bool flushed, seen[N] = {0};
	retryq_init(&rq);
	for (int i = 0; i < N; i++) {
		it[i] = (struct item){{0, SCHED_NONE, 0}, i};
		assert_int_equal(retryq_set(&rq, &it[i].e, 5000 + (i * 7919) % N), 0);
		if (i % 3 == 2)
			assert_int_equal(retryq_flush(&rq), 0);
	}
	assert_int_equal(rq.nbatch, SCHED_BATCHES);
	assert_int_equal(retryq_flush(&rq), 0); /* the heap's last one */
	assert_int_equal(retryq_count(&rq), N);
	retryq_cancel(&rq, &it[N - 2].e); /* in the merged batch */
	struct sched_entry *e;
	int n = 0;
	while ((e = take(&rq, 0, &flushed)) != NULL) {
		int id = ((struct item *)e)->id;
		assert_true(flushed);
		assert_false(seen[id]);
		assert_int_equal(e->idx, SCHED_NONE);
		seen[id] = true;
		n++;
	}
	assert_int_equal(n, N - 1);
	assert_false(seen[N - 2]);
	retryq_free(&rq);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_schedule), cmocka_unit_test(test_expiry_and_warning),
		cmocka_unit_test(test_heap_order),     cmocka_unit_test(test_due_and_fifo),
		cmocka_unit_test(test_retryq_flush),   cmocka_unit_test(test_retryq_many_flushes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
