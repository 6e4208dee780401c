/*
 * test_qindex.c — the queue's id index against a plain model: appends,
 * inserts below the last key (a clock set back, recovery), deletes, a hole
 * filled again, finds, first and after, through compactions and growth.
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

#include "relayd/qindex.h"

enum { KEYS = 5000 };

/* The model: which of keys 1..KEYS*4 (step 4) are in. */
static bool in[KEYS];

static uint64_t
key_of(size_t i)
{
	return 1000 + (uint64_t)i * 4;
}

static void *
val_of(size_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static void
check(struct qindex *x)
{
	size_t live = 0, first = KEYS;
	for (size_t i = 0; i < KEYS; i++) {
		if (in[i]) {
			live++;
			if (first == KEYS)
				first = i;
		}
		assert_ptr_equal(qindex_find(x, key_of(i)), in[i] ? val_of(i) : NULL);
		assert_null(qindex_find(x, key_of(i) + 1));
	}
	assert_int_equal(qindex_count(x), live);
	assert_ptr_equal(qindex_first(x), first == KEYS ? NULL : val_of(first));
	/* A walk by after() sees exactly the model's keys, in order. */
	size_t seen = 0;
	void *v = qindex_first(x);
	while (v) {
		size_t i = (size_t)(uintptr_t)v - 1;
		assert_true(in[i]);
		seen++;
		void *n = qindex_after(x, key_of(i));
		if (n)
			assert_true((uintptr_t)n > (uintptr_t)v);
		/* From a key between two: the same next one. */
		assert_ptr_equal(qindex_after(x, key_of(i) + 2), n);
		v = n;
	}
	assert_int_equal(seen, live);
}

static void
test_model(void **state)
{
	struct qindex x;
	qindex_init(&x);
	memset(in, 0, sizeof(in));
	assert_null(qindex_first(&x));
	assert_null(qindex_after(&x, 0));
	assert_null(qindex_after(&x, UINT64_MAX));

	/* Appends in order, the odd ones first, then the even ones inserted
	 * below the last key. */
	for (size_t i = 1; i < KEYS; i += 2) {
		assert_int_equal(qindex_add(&x, key_of(i), val_of(i)), 0);
		in[i] = true;
	}
	check(&x);
	for (size_t i = 0; i < KEYS; i += 2) {
		assert_int_equal(qindex_add(&x, key_of(i), val_of(i)), 0);
		in[i] = true;
	}
	check(&x);
	/* Deletes from the front (a drain), then random ones and adds. */
	for (size_t i = 0; i < KEYS / 3; i++) {
		qindex_del(&x, key_of(i));
		in[i] = false;
	}
	qindex_del(&x, key_of(0)); /* again: nothing */
	qindex_del(&x, 7);	   /* never there */
	check(&x);
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t i = (size_t)rand() % KEYS;
		if (in[i]) {
			qindex_del(&x, key_of(i));
			in[i] = false;
		} else {
			assert_int_equal(qindex_add(&x, key_of(i), val_of(i)), 0);
			in[i] = true;
		}
		if (round % 2500 == 0)
			check(&x);
	}
	check(&x);
	/* Everything out, then in again. */
	for (size_t i = 0; i < KEYS; i++) {
		qindex_del(&x, key_of(i));
		in[i] = false;
	}
	check(&x);
	assert_int_equal(qindex_count(&x), 0);
	for (size_t i = KEYS; i-- > 0;) {
		assert_int_equal(qindex_add(&x, key_of(i), val_of(i)), 0);
		in[i] = true;
	}
	check(&x);
	assert_true(qindex_bytes(&x) >= KEYS * sizeof(struct qindex_slot));
	qindex_free(&x);
	assert_int_equal(qindex_count(&x), 0);
	assert_int_equal(qindex_bytes(&x), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
