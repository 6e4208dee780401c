/*
 * test_waitq.c — the lists of messages waiting for a destination: one per
 * (transport, domain without case), a relay transport's one list, no
 * repeat in a row, taken once, and what no longer waits dropped when a
 * list doubles so that a destination that never comes back stays bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/waitq.h"

static bool
always(uint64_t id, void *arg)
{
	return true;
}

/* Alive: ids at or above *ARG. */
static bool
from(uint64_t id, void *arg)
{
	return id >= *(uint64_t *)arg;
}

static void
test_lists(void **state)
{
	size_t n;
	waitq_add("mx", "Example.COM", 10, always, NULL);
	waitq_add("mx", "example.com", 10, always, NULL); /* repeat in a row */
	waitq_add("mx", "example.com", 11, always, NULL);
	waitq_add("mx", "other.example", 12, always, NULL);
	waitq_add("smarthost", NULL, 13, always, NULL);
	waitq_add("smarthost", "", 14, always, NULL);
	assert_int_equal(waitq_lists(), 3);
	assert_int_equal(waitq_ids(), 5);

	uint64_t *ids = waitq_take("mx", "EXAMPLE.com", &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 10);
	assert_int_equal(ids[1], 11);
	free(ids);
	assert_null(waitq_take("mx", "example.com", &n)); /* taken once */
	assert_int_equal(n, 0);
	assert_null(waitq_take("other", "example.com", &n));

	ids = waitq_take("smarthost", NULL, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 13);
	assert_int_equal(ids[1], 14);
	free(ids);
	assert_int_equal(waitq_lists(), 1);
	assert_int_equal(waitq_ids(), 1);
	waitq_free();
	assert_int_equal(waitq_lists(), 0);
	assert_int_equal(waitq_ids(), 0);
}

/* A destination that stays down while messages come and go: the list
 * never holds more than four times what still waits (it grows only when
 * at least half of it still waits after a pruning). */
static void
test_bounded(void **state)
{
	uint64_t oldest = 1;
	for (uint64_t id = 1; id <= 100000; id++) {
		/* Only the last 100 messages still wait. */
		if (id > 100)
			oldest = id - 100;
		waitq_add("mx", "down.example", id, from, &oldest);
		assert_true(waitq_ids() <= 4 * 101 + 16);
	}
	size_t n;
	uint64_t *ids = waitq_take("mx", "down.example", &n);
	assert_true(n >= 100 && n <= 4 * 101 + 16);
	assert_int_equal(ids[n - 1], 100000);
	for (size_t i = 1; i < n; i++)
		assert_true(ids[i] > ids[i - 1]);
	free(ids);
	waitq_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
