/*
 * test_route.c — unit tests for relayd/route.c: which route a recipient
 * domain takes.
 *
 * The configurations are built by hand (conf_load() is test_conf.c's
 * business), the way conf_load() leaves them: lower-cased domains, ".suffix"
 * with its dot, mx: patterns without "mx:". Each case is {name, domain, MX
 * hosts, want pattern}; a failure prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "relayd/route.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct conf_transport t_one = {.name = "one"};

/* A route as conf_load() makes it from PATTERN. */
#define ROUTE(pat, k, dom)                                                                         \
	{                                                                                          \
		.pattern = pat, .kind = k, .domain = dom, .transport = &t_one                      \
	}

/* Every kind, with nested suffixes and mx: patterns of several lengths. */
static struct conf_route routes_all[] = {
	ROUTE("*", ROUTE_ANY, NULL), /* first: order must not matter */
	ROUTE(".example.com", ROUTE_SUFFIX, ".example.com"),
	ROUTE("mx:.google.com", ROUTE_MX, ".google.com"),
	ROUTE("example.com", ROUTE_EXACT, "example.com"),
	ROUTE(".sub.example.com", ROUTE_SUFFIX, ".sub.example.com"),
	ROUTE("mx:.l.google.com", ROUTE_MX, ".l.google.com"),
	ROUTE("mx:outlook.com", ROUTE_MX, "outlook.com"),
	ROUTE("gmail.com", ROUTE_EXACT, "gmail.com"),
	ROUTE(".com", ROUTE_SUFFIX, ".com"),
	ROUTE("MX:.Example.NET", ROUTE_MX, ".example.net"),
};

/* No "*" and no mx: routes. */
static struct conf_route routes_some[] = {
	ROUTE("example.org", ROUTE_EXACT, "example.org"),
	ROUTE(".example.org", ROUTE_SUFFIX, ".example.org"),
};

static const struct conf conf_all = {.route = routes_all, .nroute = NELEM(routes_all)};
static const struct conf conf_some = {.route = routes_some, .nroute = NELEM(routes_some)};
static const struct conf conf_none = {.route = NULL, .nroute = 0};

struct route_case {
	const char *name;
	const struct conf *conf;
	const char *domain;
	const char *mx[3]; /* NULL-terminated */
	const char *want;  /* pattern, or NULL: no route */
};

static const struct route_case cases[] = {
	/* exact */
	{"exact", &conf_all, "example.com", {NULL}, "example.com"},
	{"exact ignores case", &conf_all, "EXAMPLE.Com", {NULL}, "example.com"},
	{"exact ignores a trailing dot", &conf_all, "example.com.", {NULL}, "example.com"},
	{"exact beats mx", &conf_all, "gmail.com", {"gmail-smtp-in.l.google.com"}, "gmail.com"},

	/* suffix */
	{"suffix", &conf_all, "a.example.com", {NULL}, ".example.com"},
	{"suffix, deeper", &conf_all, "x.y.example.com", {NULL}, ".example.com"},
	{"longest suffix wins", &conf_all, "a.sub.example.com", {NULL}, ".sub.example.com"},
	{"longest suffix, any case", &conf_all, "A.Sub.Example.COM", {NULL}, ".sub.example.com"},
	{".sub.example.com does not match itself",
	 &conf_all,
	 "sub.example.com",
	 {NULL},
	 ".example.com"},
	{"suffix needs a dot boundary", &conf_all, "notexample.com", {NULL}, ".com"},
	{"short suffix", &conf_all, "anything.com", {NULL}, ".com"},
	{"suffix beats mx", &conf_all, "a.example.com", {"aspmx.l.google.com"}, ".example.com"},
	{"suffix with trailing dot", &conf_all, "a.example.com.", {NULL}, ".example.com"},

	/* mx: */
	{"mx suffix", &conf_all, "corp.org", {"alt1.aspmx.google.com"}, "mx:.google.com"},
	{"longest mx wins", &conf_all, "corp.org", {"aspmx.l.google.com"}, "mx:.l.google.com"},
	{"longest mx, deeper host",
	 &conf_all,
	 "corp.org",
	 {"alt1.aspmx.l.google.com"},
	 "mx:.l.google.com"},
	{"mx ignores case and trailing dot",
	 &conf_all,
	 "corp.org",
	 {"ASPMX.L.GOOGLE.COM."},
	 "mx:.l.google.com"},
	{"mx .suffix does not match itself", &conf_all, "corp.org", {"google.com"}, "*"},
	{"mx without dot matches the host itself",
	 &conf_all,
	 "corp.org",
	 {"outlook.com"},
	 "mx:outlook.com"},
	{"mx without dot matches below",
	 &conf_all,
	 "corp.org",
	 {"corp-org.mail.protection.outlook.com"},
	 "mx:outlook.com"},
	{"mx without dot needs a dot boundary", &conf_all, "corp.org", {"notoutlook.com"}, "*"},
	{"any MX host may match",
	 &conf_all,
	 "corp.org",
	 {"mx.other.net", "aspmx.l.google.com"},
	 "mx:.l.google.com"},
	{"longest over all MX hosts",
	 &conf_all,
	 "corp.org",
	 {"alt1.aspmx.google.com", "aspmx.l.google.com"},
	 "mx:.l.google.com"},
	{"mx pattern written in upper case",
	 &conf_all,
	 "corp.org",
	 {"mx1.example.net"},
	 "MX:.Example.NET"},
	{"mx beats *", &conf_all, "corp.org", {"mx1.example.net"}, "MX:.Example.NET"},

	/* * */
	{"star without MX hosts", &conf_all, "corp.org", {NULL}, "*"},
	{"star when no MX host matches", &conf_all, "corp.org", {"mx.corp.org"}, "*"},

	/* address literals: no MX hosts, so mx: routes never apply */
	{"IPv4 literal takes *", &conf_all, "[192.0.2.7]", {NULL}, "*"},
	{"literal ignores MX names given", &conf_all, "[192.0.2.7]", {"aspmx.l.google.com"}, "*"},
	{"IPv6 literal takes *", &conf_all, "[IPv6:2001:db8::7]", {"mx1.example.net"}, "*"},
	{"literal without *", &conf_some, "[192.0.2.7]", {NULL}, NULL},

	/* no route */
	{"no route without *", &conf_some, "corp.com", {NULL}, NULL},
	{"no route, MX ignored", &conf_some, "corp.com", {"aspmx.l.google.com"}, NULL},
	{"exact without *", &conf_some, "Example.ORG", {NULL}, "example.org"},
	{"suffix without *", &conf_some, "www.example.org", {NULL}, ".example.org"},
	{"empty configuration", &conf_none, "example.com", {NULL}, NULL},
};

static void
test_route_lookup(void **state)
{
	size_t i, nmx;

	for (i = 0; i < NELEM(cases); i++) {
		const struct route_case *t = &cases[i];
		const struct conf_route *got;

		for (nmx = 0; nmx < NELEM(t->mx) && t->mx[nmx] != NULL; nmx++)
			;
		got = route_lookup(t->conf, t->domain, t->mx, nmx);
		if (got == NULL && t->want == NULL)
			continue;
		if (got == NULL || t->want == NULL || strcmp(got->pattern, t->want) != 0)
			fail_msg("%s: route_lookup(\"%s\") got %s, want %s", t->name, t->domain,
				 got ? got->pattern : "no route", t->want ? t->want : "no route");
		if (got->transport != &t_one)
			fail_msg("%s: route has no transport", t->name);
	}
}

static void
test_route_lookup_edges(void **state)
{
	const char *mx[] = {NULL, "aspmx.l.google.com"};

	assert_null(route_lookup(NULL, "example.com", NULL, 0));
	assert_null(route_lookup(&conf_all, NULL, NULL, 0));
	/* A NULL among the MX names is skipped, not dereferenced. */
	assert_string_equal(route_lookup(&conf_all, "corp.org", mx, 2)->pattern,
			    "mx:.l.google.com");
}

static void
test_route_needs_mx(void **state)
{
	static const struct {
		const char *name;
		const struct conf *conf;
		const char *domain;
		bool want;
	} t[] = {
		{"exact route: no MX needed", &conf_all, "example.com", false},
		{"suffix route: no MX needed", &conf_all, "a.sub.example.com", false},
		{"only * or mx: left", &conf_all, "corp.org", true},
		{"case of exact ignored", &conf_all, "GMAIL.COM", false},
		{"no mx: routes at all", &conf_some, "corp.com", false},
		{"empty configuration", &conf_none, "corp.com", false},
		{"IPv4 literal: never looked up", &conf_all, "[192.0.2.7]", false},
		{"IPv6 literal: never looked up", &conf_all, "[IPv6:2001:db8::7]", false},
		{"not a literal: looked up", &conf_all, "[192.0.2.7].example", true},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		bool got = route_needs_mx(t[i].conf, t[i].domain);

		if (got != t[i].want)
			fail_msg("%s: route_needs_mx(\"%s\") got %d, want %d", t[i].name,
				 t[i].domain, got, t[i].want);
	}
	assert_false(route_needs_mx(NULL, "corp.com"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_lookup),
		cmocka_unit_test(test_route_lookup_edges),
		cmocka_unit_test(test_route_needs_mx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
