/*
 * test_intern.c — interned strings: one copy per distinct string, counted
 * references, freed with the last one, the table growing past its first
 * size without losing any.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/intern.h"

static void
test_shared(void **state)
{
	char a[] = "450 4.2.1 try again later", b[] = "450 4.2.1 try again later";
	const char *x = intern(a), *y = intern(b);
	assert_ptr_equal(x, y);
	assert_ptr_not_equal(x, a);
	assert_string_equal(x, a);
	assert_int_equal(intern_count(), 1);
	const char *z = intern("other");
	assert_ptr_not_equal(x, z);
	assert_int_equal(intern_count(), 2);
	assert_ptr_equal(intern_ref(x), x);
	intern_drop(x);
	intern_drop(y);
	assert_int_equal(intern_count(), 2); /* the intern_ref() holds it */
	assert_string_equal(x, "450 4.2.1 try again later");
	intern_drop(x);
	assert_int_equal(intern_count(), 1);
	/* Gone: a new intern makes a new copy with one reference. */
	const char *w = intern(a);
	assert_int_equal(intern_count(), 2);
	intern_drop(w);
	intern_drop(z);
	assert_int_equal(intern_count(), 0);
	assert_null(intern(NULL));
	intern_drop(NULL);
	assert_null(intern_ref(NULL));
	const char *e = intern("");
	assert_string_equal(e, "");
	intern_drop(e);
	assert_int_equal(intern_count(), 0);
}

/* Many distinct strings through several table growths, dropped in an
 * order other than they came; every lookup finds its own. */
static void
test_many(void **state)
{
	enum { N = 20000 };
	const char **p = calloc(N, sizeof(*p));
	assert_non_null(p);
	char buf[32];
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "host%d.example", i);
		p[i] = intern(buf);
	}
	assert_int_equal(intern_count(), N);
	assert_true(intern_bytes() > (size_t)N * 16);
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "host%d.example", i);
		const char *q = intern(buf);
		assert_ptr_equal(q, p[i]);
		intern_drop(q);
	}
	for (int i = 0; i < N; i += 2)
		intern_drop(p[i]);
	assert_int_equal(intern_count(), N / 2);
	for (int i = 1; i < N; i += 2) {
		snprintf(buf, sizeof(buf), "host%d.example", i);
		assert_string_equal(p[i], buf);
		intern_drop(p[i]);
	}
	assert_int_equal(intern_count(), 0);
	free(p);
	intern_free_all();
	assert_int_equal(intern_bytes(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
