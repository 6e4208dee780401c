/*
 * test_anvil.c — failed AUTH per client address: counting, windows, IPv6
 * /64 grouping, checks in flight, reconfiguration and the table cap, with
 * an injected clock (no sleeping).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "relayd/anvil.h"

/* SRC as a socket address: an IPv4 or IPv6 literal. */
static const struct sockaddr *
sa(const char *src, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(src, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, src, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, src, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

enum op {
	STOP,	  /* end of the steps */
	GUESS,	  /* begin + a failed check: want 0 counted, 1 limit reached, -1 refused */
	BEGIN,	  /* want 1 go, 0 refused */
	END_OK,	  /* a successful check ends: want the verdict */
	END_FAIL, /* a failed check ends: want the verdict */
	REFUSED,  /* want 1 when AUTH from addr is refused */
	COUNT,	  /* want anvil_count() */
	BLOCKED,  /* want anvil_blocked_count() */
	LIMIT,	  /* reconfigure: the limit becomes want (window unchanged) */
};

struct step {
	enum op op;
	const char *addr;
	time_t now;
	int want;
};

#define A "192.0.2.7"
#define B "192.0.2.8"
#define C "198.51.100.1"
#define D "203.0.113.9"

static const struct {
	const char *name;
	unsigned limit, window;
	size_t max;
	struct step steps[24];
} cases[] = {
	{"limit 3: the third failure refuses that address only",
	 3,
	 600,
	 100,
	 {{GUESS, A, 0, 0},
	  {GUESS, A, 1, 0},
	  {REFUSED, A, 1, 0},
	  {GUESS, A, 2, 1},
	  {REFUSED, A, 2, 1},
	  {BEGIN, A, 3, 0},
	  {GUESS, A, 3, -1},
	  {REFUSED, B, 3, 0},
	  {GUESS, B, 3, 0},
	  {REFUSED, A, 601, 1},
	  {REFUSED, A, 602, 0},
	  {GUESS, A, 602, 0},
	  {COUNT, NULL, 602, 2}}},
	{"window opens at the first failure; spread-out failures never add up",
	 3,
	 10,
	 100,
	 {{GUESS, A, 0, 0},
	  {GUESS, A, 5, 0},
	  {GUESS, A, 10, 0}, /* the window of 0 is over: this is the first of a new one */
	  {GUESS, A, 11, 0},
	  {REFUSED, A, 11, 0},
	  {GUESS, A, 19, 1},
	  {REFUSED, A, 28, 1},
	  {REFUSED, A, 29, 0}, /* refused for 10s from the failure at 19 */
	  {GUESS, A, 29, 0},
	  {REFUSED, A, 29, 0}}},
	{"window expiry forgets the address",
	 2,
	 10,
	 100,
	 {{GUESS, A, 100, 0}, {COUNT, NULL, 100, 1}, {REFUSED, A, 110, 0}, {COUNT, NULL, 110, 0}}},
	{"a success resets nothing, its own address's count neither",
	 3,
	 600,
	 100,
	 {{GUESS, A, 0, 0},
	  {GUESS, A, 1, 0},
	  {BEGIN, B, 2, 1},
	  {END_OK, B, 2, 0},
	  {BEGIN, A, 2, 1},
	  {END_OK, A, 2, 0},
	  {REFUSED, A, 2, 0},
	  {GUESS, A, 3, 1},
	  {REFUSED, A, 3, 1},
	  {REFUSED, B, 3, 0}}},
	{"checks in flight count against the limit",
	 2,
	 600,
	 100,
	 {{BEGIN, A, 0, 1},
	  {BEGIN, A, 0, 1},
	  {BEGIN, A, 0, 0},   /* two in flight could reach the limit */
	  {REFUSED, A, 0, 0}, /* but nothing has failed yet */
	  {END_OK, A, 1, 0},
	  {BEGIN, A, 1, 1},
	  {END_FAIL, A, 2, 0},
	  {BEGIN, A, 2, 0},
	  {END_FAIL, A, 2, 1},
	  {REFUSED, A, 2, 1},
	  {COUNT, NULL, 2, 1}}},
	{"a failure that arrives while refused does not extend the refusal",
	 3,
	 10,
	 100,
	 {{BEGIN, A, 0, 1},
	  {BEGIN, A, 0, 1},
	  {BEGIN, A, 0, 1},
	  {END_FAIL, A, 1, 0},
	  {LIMIT, NULL, 1, 1}, /* a reload lowers the limit with checks in flight */
	  {END_FAIL, A, 2, 1},
	  {END_FAIL, A, 5, 0},
	  {REFUSED, A, 11, 1},
	  {REFUSED, A, 12, 0}}},
	{"IPv6 counts per /64",
	 2,
	 600,
	 100,
	 {{GUESS, "2001:db8:1:2::1", 0, 0},
	  {GUESS, "2001:db8:1:2:ffff:ffff:ffff:fffe", 1, 1},
	  {REFUSED, "2001:db8:1:2::abcd", 1, 1},
	  {REFUSED, "2001:db8:1:3::1", 1, 0},
	  {REFUSED, "2001:db8:1::1", 1, 0},
	  {GUESS, "2001:db8:1:3::1", 1, 0},
	  {COUNT, NULL, 1, 2}}},
	{"IPv4 counts per address; IPv4-mapped IPv6 is the IPv4 address",
	 2,
	 600,
	 100,
	 {{GUESS, A, 0, 0},
	  {REFUSED, B, 0, 0},
	  {GUESS, "::ffff:" A, 1, 1},
	  {REFUSED, A, 1, 1},
	  {REFUSED, "::ffff:" B, 1, 0},
	  {REFUSED, "::" A, 1, 0}, /* IPv4-compatible is plain IPv6: ::/64 */
	  {COUNT, NULL, 1, 1}}},
	{"the cap: the address used longest ago is forgotten",
	 2,
	 600,
	 3,
	 {{GUESS, A, 0, 0},
	  {GUESS, B, 1, 0},
	  {GUESS, C, 2, 0},
	  {COUNT, NULL, 2, 3},
	  {GUESS, D, 3, 0}, /* A goes */
	  {COUNT, NULL, 3, 3},
	  {GUESS, A, 4, 0}, /* A starts again (B goes) */
	  {GUESS, C, 5, 1}, /* C was kept */
	  {GUESS, D, 6, 1},
	  {COUNT, NULL, 6, 3}}},
	{"the cap: a refused address that keeps trying stays refused",
	 1,
	 100,
	 2,
	 {{GUESS, A, 0, 1},
	  {GUESS, B, 1, 1},
	  {REFUSED, A, 2, 1}, /* used: B is now the oldest */
	  {GUESS, C, 3, 1},
	  {REFUSED, A, 3, 1},
	  {REFUSED, B, 3, 0},
	  {BLOCKED, NULL, 3, 2}}},
	{"the cap: expired entries make room before anything is forgotten",
	 2,
	 10,
	 2,
	 {{GUESS, A, 0, 0},
	  {GUESS, B, 1, 0},
	  {GUESS, C, 20, 0},
	  {COUNT, NULL, 20, 1},
	  {GUESS, D, 21, 0},
	  {GUESS, C, 22, 1}}},
	{"limit 0: nothing counted, nothing refused",
	 0,
	 600,
	 100,
	 {{GUESS, A, 0, 0},
	  {GUESS, A, 0, 0},
	  {GUESS, A, 0, 0},
	  {REFUSED, A, 0, 0},
	  {COUNT, NULL, 0, 0},
	  {BLOCKED, NULL, 0, 0}}},
	{"blocked count follows the clock",
	 1,
	 30,
	 100,
	 {{GUESS, A, 0, 1},
	  {GUESS, "2001:db8::1", 10, 1},
	  {BLOCKED, NULL, 10, 2},
	  {BLOCKED, NULL, 30, 1},
	  {BLOCKED, NULL, 40, 0}}},
	{"a lower limit on reload applies to counts already made",
	 5,
	 600,
	 100,
	 {{GUESS, A, 0, 0},
	  {GUESS, A, 1, 0},
	  {GUESS, A, 2, 0},
	  {LIMIT, NULL, 3, 2},
	  {REFUSED, A, 3, 1},
	  {BEGIN, A, 3, 0},
	  {REFUSED, B, 3, 0},
	  {LIMIT, NULL, 4, 0},
	  {REFUSED, A, 4, 0},
	  {LIMIT, NULL, 5, 5},
	  {GUESS, A, 5, 0},
	  {GUESS, A, 6, 1}}},
};

static void
test_rules(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct anvil *a = anvil_new(cases[i].max, 42);
		assert_non_null(a);
		anvil_configure(a, cases[i].limit, cases[i].window);
		for (size_t j = 0; j < 24 && cases[i].steps[j].op != STOP; j++) {
			const struct step *st = &cases[i].steps[j];
			struct sockaddr_storage ss;
			const struct sockaddr *p = st->addr ? sa(st->addr, &ss) : NULL;
			int got = 0;
			switch (st->op) {
			case STOP:
				break;
			case GUESS:
				got = anvil_begin(a, p, st->now)
					      ? (int)anvil_end(a, p, false, st->now) == ANVIL_LIMIT
					      : -1;
				break;
			case BEGIN:
				got = anvil_begin(a, p, st->now);
				break;
			case END_OK:
			case END_FAIL:
				got = anvil_end(a, p, st->op == END_OK, st->now) == ANVIL_LIMIT;
				break;
			case REFUSED:
				got = anvil_refused(a, p, st->now);
				break;
			case COUNT:
				got = (int)anvil_count(a);
				break;
			case BLOCKED:
				got = (int)anvil_blocked_count(a, st->now);
				break;
			case LIMIT:
				anvil_configure(a, (unsigned)st->want, cases[i].window);
				got = st->want;
				break;
			}
			if (got != st->want)
				fail_msg("%s: step %zu (op %d, %s at %lld): got %d, want %d",
					 cases[i].name, j + 1, st->op, st->addr ? st->addr : "-",
					 (long long)st->now, got, st->want);
		}
		anvil_free(a);
	}
}

static void
test_key_str(void **state)
{
	static const struct {
		const char *in, *want;
	} keys[] = {
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8::1", "2001:db8::/64"},
		{"::1", "::/64"},
		{"fe80::1:2:3:4", "fe80::/64"},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct sockaddr_storage ss;
		char got[64];
		anvil_key_str(sa(keys[i].in, &ss), got, sizeof(got));
		if (strcmp(got, keys[i].want) != 0)
			fail_msg("%s: got %s, want %s", keys[i].in, got, keys[i].want);
	}
	struct sockaddr un = {.sa_family = AF_UNIX};
	char got[64];
	anvil_key_str(&un, got, sizeof(got));
	assert_string_equal(got, "unknown");
}

/* A spray of distinct addresses never grows the table past its cap, and
 * an address refused before the spray is still refused while it keeps
 * trying (it is used, so never the oldest). */
static void
test_spray(void **state)
{
	struct anvil *a = anvil_new(1000, 7);
	struct sockaddr_storage ss, ssv;
	const struct sockaddr *victim = sa("2001:db8:ffff:1::1", &ssv);

	anvil_configure(a, 3, 600);
	for (int i = 0; i < 3; i++) {
		assert_true(anvil_begin(a, victim, 0));
		anvil_end(a, victim, false, 0);
	}
	assert_true(anvil_refused(a, victim, 0));
	for (unsigned i = 0; i < 100000; i++) {
		char ip[64];
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
		const struct sockaddr *p = sa(ip, &ss);
		time_t now = 1 + i / 1000;
		if (anvil_begin(a, p, now))
			anvil_end(a, p, false, now);
		if (anvil_count(a) > 1000)
			fail_msg("after %u addresses: %zu tracked, cap 1000", i + 1,
				 anvil_count(a));
		if (i % 100 == 0 && !anvil_refused(a, victim, now))
			fail_msg("after %u addresses: the refused address was forgotten", i + 1);
	}
	assert_int_equal(anvil_count(a), 1000);
	/* The refusal ends with its window, spray or not. */
	assert_false(anvil_refused(a, victim, 600));
	anvil_free(a);
}

/* Without an IP address (a unix socket) nothing is tracked or refused. */
static void
test_not_ip(void **state)
{
	struct anvil *a = anvil_new(10, 1);
	struct sockaddr un = {.sa_family = AF_UNIX};

	anvil_configure(a, 1, 600);
	assert_true(anvil_begin(a, &un, 0));
	assert_int_equal(anvil_end(a, &un, false, 0), ANVIL_COUNTED);
	assert_false(anvil_refused(a, &un, 0));
	assert_int_equal(anvil_count(a), 0);
	anvil_free(a);
	anvil_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_key_str),
		cmocka_unit_test(test_spray),
		cmocka_unit_test(test_not_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
