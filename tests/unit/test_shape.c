/*
 * test_shape.c — the queue's shape (relayctl queue --summary): columns,
 * age buckets at their limits, order of the rows, case, widths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "relayd/shape.h"

#define NOW 1800000000
#define MIN 60

static char *
render(struct shape *s)
{
	struct evbuffer *b = evbuffer_new();
	shape_render(s, b);
	size_t n = evbuffer_get_length(b);
	char *text = malloc(n + 1);
	evbuffer_remove(b, text, n);
	text[n] = '\0';
	evbuffer_free(b);
	return text;
}

static void
check(const char *name, struct shape *s, const char *want)
{
	char *got = render(s);
	if (strcmp(got, want) != 0)
		fail_msg("%s:\ngot\n%s\nwant\n%s", name, got, want);
	free(got);
	shape_free(s);
}

static void
test_empty(void **state)
{
	check("empty", shape_new(NOW),
	      "      T 5 10 20 40 80 160 320 640 1280 1280+\n"
	      "TOTAL 0 0  0  0  0  0   0   0   0    0     0\n");
}

/* Each age at a column's limit falls in it; a second more, in the next. */
static void
test_buckets(void **state)
{
	static const struct {
		const char *name;
		long age; /* seconds */
		int col;  /* 1: "5" ... 10: "1280+" */
	} rows[] = {
		{"new", 0, 1},
		{"5 minutes", 5 * MIN, 1},
		{"5 minutes and a second", 5 * MIN + 1, 2},
		{"10 minutes", 10 * MIN, 2},
		{"20 minutes", 20 * MIN, 3},
		{"21 minutes", 21 * MIN, 4},
		{"80 minutes", 80 * MIN, 5},
		{"160 minutes", 160 * MIN, 6},
		{"320 minutes", 320 * MIN, 7},
		{"640 minutes", 640 * MIN, 8},
		{"1280 minutes", 1280 * MIN, 9},
		{"1280 minutes and a second", 1280 * MIN + 1, 10},
		{"5 days", 5 * 86400, 10},
		{"from the future (a clock set back)", -3600, 1},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct shape *s = shape_new(NOW);
		shape_add(s, "example.com", NOW - rows[i].age);
		char *got = render(s);
		/* The TOTAL line: "TOTAL 1" and a 1 in column COL only. */
		char *line = strstr(got, "TOTAL");
		unsigned long n[11];
		int k = sscanf(line, "TOTAL %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", &n[0],
			       &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9],
			       &n[10]);
		if (k != 11 || n[0] != 1)
			fail_msg("%s: TOTAL line \"%s\"", rows[i].name, line);
		for (int c = 1; c <= 10; c++)
			if (n[c] != (c == rows[i].col))
				fail_msg("%s: column %d holds %lu, want the recipient in column %d",
					 rows[i].name, c, n[c], rows[i].col);
		free(got);
		shape_free(s);
	}
}

static void
test_rows(void **state)
{
	struct shape *s = shape_new(NOW);
	/* 3 at example.com (one written in upper case), 1 old at b.test, 1 at
	 * a.test (ties by name), 4 at a long domain spread over the ages. */
	shape_add(s, "example.com", NOW);
	shape_add(s, "EXAMPLE.com", NOW - 7 * MIN);
	shape_add(s, "example.com", NOW - 2 * 86400);
	shape_add(s, "b.test", NOW - 50 * MIN);
	shape_add(s, "a.test", NOW - 50 * MIN);
	shape_add(s, "very-long-domain.example.org", NOW);
	shape_add(s, "very-long-domain.example.org", NOW - 30 * MIN);
	shape_add(s, "very-long-domain.example.org", NOW - 300 * MIN);
	shape_add(s, "very-long-domain.example.org", NOW - 1000 * MIN);
	shape_add(s, "", NOW);
	check("rows", s,
	      "                              T 5 10 20 40 80 160 320 640 1280 1280+\n"
	      "                       TOTAL 10 3  1  0  1  2   0   1   0    1     1\n"
	      "very-long-domain.example.org  4 1  0  0  1  0   0   1   0    1     0\n"
	      "                 example.com  3 1  1  0  0  0   0   0   0    0     1\n"
	      "                      (none)  1 1  0  0  0  0   0   0   0    0     0\n"
	      "                      a.test  1 0  0  0  0  1   0   0   0    0     0\n"
	      "                      b.test  1 0  0  0  0  1   0   0   0    0     0\n");
}

/* Many domains (the table grows) and wide numbers. */
static void
test_many(void **state)
{
	struct shape *s = shape_new(NOW);
	char d[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(d, sizeof(d), "d%d.test", i);
		for (int k = 0; k <= i % 3; k++)
			shape_add(s, d, NOW);
	}
	for (int i = 0; i < 12000; i++)
		shape_add(s, "big.test", NOW - 3000 * MIN);
	char *got = render(s);
	shape_free(s);
	const char *want = "    TOTAL 13999 1999  0  0  0  0   0   0   0    0 12000\n"
			   " big.test 12000    0  0  0  0  0   0   0   0    0 12000\n";
	if (!strstr(got, want))
		fail_msg("got\n%.600s", got);
	size_t lines = 0;
	for (const char *p = got; *p; p++)
		lines += *p == '\n';
	if (lines != 1003) /* header, TOTAL, 1001 domains */
		fail_msg("%zu lines, want 1003", lines);
	/* Ties by name: d101 (3) before d104 (3). */
	if (!strstr(got, "d101.test") || strstr(got, "d101.test") > strstr(got, "d104.test"))
		fail_msg("order of ties");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
