/*
 * test_value.c — unit tests for conf/value.c, the typed values of relayd.conf.
 *
 * Each parser is driven by a table {name, input, want}; a failure prints the
 * case with "got X, want Y". A rejected value must leave the output alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "conf/value.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define BAD (-1)

static void
test_duration(void **state)
{
	static const struct {
		const char *name, *in;
		int rc;
		unsigned want;
	} t[] = {
		{"seconds", "30s", 0, 30},
		{"minutes", "5m", 0, 300},
		{"hours", "2h", 0, 7200},
		{"days", "5d", 0, 432000},
		{"bare seconds", "3600", 0, 3600},
		{"zero", "0", 0, 0},
		{"zero with unit", "0m", 0, 0},
		{"largest", "4294967295", 0, UINT_MAX},
		{"largest days", "49710d", 0, 49710u * 86400u},
		{"overflow bare", "4294967296", BAD, 0},
		{"overflow by unit", "49711d", BAD, 0},
		{"empty", "", BAD, 0},
		{"unit only", "m", BAD, 0},
		{"unknown unit", "5x", BAD, 0},
		{"upper-case unit", "5M", BAD, 0},
		{"two units", "5mm", BAD, 0},
		{"weeks are not a unit", "1w", BAD, 0},
		{"leading blank", " 5m", BAD, 0},
		{"trailing blank", "5m ", BAD, 0},
		{"negative", "-5", BAD, 0},
		{"plus sign", "+5", BAD, 0},
		{"hex", "0x10", BAD, 0},
		{"fraction", "1.5h", BAD, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		unsigned got = 12345;
		int rc = value_duration(t[i].in, &got);

		if (rc != t[i].rc)
			fail_msg("%s: value_duration(\"%s\") got rc %d, want %d", t[i].name,
				 t[i].in, rc, t[i].rc);
		if (rc == 0 && got != t[i].want)
			fail_msg("%s: value_duration(\"%s\") got %u, want %u", t[i].name, t[i].in,
				 got, t[i].want);
		if (rc != 0 && got != 12345)
			fail_msg("%s: value_duration(\"%s\") changed the output to %u", t[i].name,
				 t[i].in, got);
	}
	assert_int_equal(value_duration(NULL, &(unsigned){0}), -1);
}

static void
test_size(void **state)
{
	static const struct {
		const char *name, *in;
		int rc;
		uint64_t want;
	} t[] = {
		{"kibibytes", "512K", 0, 512 * 1024},
		{"mebibytes", "50M", 0, 50 * 1024 * 1024},
		{"gibibyte", "1G", 0, 1024 * 1024 * 1024},
		{"lower-case unit", "1g", 0, 1024 * 1024 * 1024},
		{"bare bytes", "100", 0, 100},
		{"zero", "0", 0, 0},
		{"largest", "18446744073709551615", 0, UINT64_MAX},
		{"largest G", "17179869183G", 0, 17179869183ull << 30},
		{"overflow bare", "18446744073709551616", BAD, 0},
		{"overflow by unit", "17179869184G", BAD, 0},
		{"terabytes not supported", "1T", BAD, 0},
		{"unit only", "K", BAD, 0},
		{"two letters", "50MB", BAD, 0},
		{"empty", "", BAD, 0},
		{"blank", "50 M", BAD, 0},
		{"negative", "-1", BAD, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		uint64_t got = 12345;
		int rc = value_size(t[i].in, &got);

		if (rc != t[i].rc)
			fail_msg("%s: value_size(\"%s\") got rc %d, want %d", t[i].name, t[i].in,
				 rc, t[i].rc);
		if (rc == 0 && got != t[i].want)
			fail_msg("%s: value_size(\"%s\") got %llu, want %llu", t[i].name, t[i].in,
				 (unsigned long long)got, (unsigned long long)t[i].want);
		if (rc != 0 && got != 12345)
			fail_msg("%s: value_size(\"%s\") changed the output", t[i].name, t[i].in);
	}
}

static void
test_cidr(void **state)
{
	static const struct {
		const char *name, *in;
		int rc, family, prefix;
		const char *addr; /* network address as text */
	} t[] = {
		{"v4 network", "10.0.0.0/8", 0, AF_INET, 8, "10.0.0.0"},
		{"v4 host bits are cleared", "10.1.2.3/8", 0, AF_INET, 8, "10.0.0.0"},
		{"v4 odd prefix", "192.168.1.200/25", 0, AF_INET, 25, "192.168.1.128"},
		{"v4 bare address", "192.0.2.7", 0, AF_INET, 32, "192.0.2.7"},
		{"v4 everything", "0.0.0.0/0", 0, AF_INET, 0, "0.0.0.0"},
		{"v6 loopback", "::1/128", 0, AF_INET6, 128, "::1"},
		{"v6 bare address", "::1", 0, AF_INET6, 128, "::1"},
		{"v6 network", "2001:db8::/32", 0, AF_INET6, 32, "2001:db8::"},
		{"v6 host bits are cleared", "2001:db8:ffff::1/33", 0, AF_INET6, 33,
		 "2001:db8:8000::"},
		{"v4 prefix too long", "10.0.0.0/33", BAD, 0, 0, NULL},
		{"v6 prefix too long", "::/129", BAD, 0, 0, NULL},
		{"empty prefix", "10.0.0.0/", BAD, 0, 0, NULL},
		{"no address", "/8", BAD, 0, 0, NULL},
		{"short v4", "10.0.0/8", BAD, 0, 0, NULL},
		{"two slashes", "10.0.0.0/8/9", BAD, 0, 0, NULL},
		{"negative prefix", "10.0.0.0/-1", BAD, 0, 0, NULL},
		{"blank in prefix", "10.0.0.0/ 8", BAD, 0, 0, NULL},
		{"host name", "localhost/8", BAD, 0, 0, NULL},
		{"empty", "", BAD, 0, 0, NULL},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		struct conf_cidr got, want;
		int rc;

		memset(&got, 0x5a, sizeof(got));
		rc = value_cidr(t[i].in, &got);
		if (rc != t[i].rc)
			fail_msg("%s: value_cidr(\"%s\") got rc %d, want %d", t[i].name, t[i].in,
				 rc, t[i].rc);
		if (rc != 0) {
			if (got.family != 0x5a5a5a5a)
				fail_msg("%s: value_cidr(\"%s\") changed the output", t[i].name,
					 t[i].in);
			continue;
		}
		memset(&want, 0, sizeof(want));
		assert_int_equal(inet_pton(t[i].family, t[i].addr, want.addr), 1);
		if (got.family != t[i].family || got.prefix != t[i].prefix)
			fail_msg("%s: value_cidr(\"%s\") got family %d prefix %d, want %d %d",
				 t[i].name, t[i].in, got.family, got.prefix, t[i].family,
				 t[i].prefix);
		if (memcmp(got.addr, want.addr, sizeof(want.addr)) != 0)
			fail_msg("%s: value_cidr(\"%s\") got another address, want %s", t[i].name,
				 t[i].in, t[i].addr);
	}
}

/* Make a socket address from text: "1.2.3.4" or an IPv6 literal. */
static void
make_sockaddr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char *name, *net, *addr;
		bool want;
	} t[] = {
		{"v4 inside", "127.0.0.0/8", "127.0.0.1", true},
		{"v4 outside", "127.0.0.0/8", "128.0.0.1", false},
		{"v4 last of /25", "192.168.1.0/25", "192.168.1.127", true},
		{"v4 first past /25", "192.168.1.0/25", "192.168.1.128", false},
		{"v4 host", "192.0.2.7", "192.0.2.7", true},
		{"v4 other host", "192.0.2.7", "192.0.2.8", false},
		{"v4 everything", "0.0.0.0/0", "203.0.113.9", true},
		{"v6 loopback", "::1/128", "::1", true},
		{"v6 other", "::1/128", "::2", false},
		{"v6 inside /33", "2001:db8::/33", "2001:db8:7fff::1", true},
		{"v6 outside /33", "2001:db8::/33", "2001:db8:8000::1", false},
		{"v6 everything", "::/0", "2001:db8::1", true},
		{"v4-mapped client in v4 net", "10.0.0.0/8", "::ffff:10.1.2.3", true},
		{"v4-mapped client outside v4 net", "10.0.0.0/8", "::ffff:11.1.2.3", false},
		{"v4-mapped loopback", "127.0.0.0/8", "::ffff:127.0.0.1", true},
		{"v4-compatible is not mapped", "10.0.0.0/8", "::10.1.2.3", false},
		{"v6 client, v4 net", "127.0.0.0/8", "::1", false},
		{"v4 client, v6 loopback", "::1/128", "127.0.0.1", false},
		{"v4 client, v4-mapped v6 net", "::ffff:0:0/96", "1.2.3.4", true},
	};
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	struct conf_cidr net;
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		bool got;

		assert_int_equal(value_cidr(t[i].net, &net), 0);
		make_sockaddr(t[i].addr, &ss);
		got = value_cidr_match(&net, (struct sockaddr *)&ss);
		if (got != t[i].want)
			fail_msg("%s: %s in %s: got %s, want %s", t[i].name, t[i].addr, t[i].net,
				 got ? "true" : "false", t[i].want ? "true" : "false");
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(value_cidr("0.0.0.0/0", &net), 0);
	assert_false(value_cidr_match(&net, (struct sockaddr *)&sun));
	assert_false(value_cidr_match(&net, NULL));
}

static void
test_ip_and_domain(void **state)
{
	static const struct {
		const char *name, *in;
		bool ip, domain;
	} t[] = {
		{"v4", "192.0.2.1", true, false},
		{"v6", "2001:db8::1", true, false},
		{"v6 loopback", "::1", true, false},
		{"v4-mapped", "::ffff:192.0.2.1", true, false},
		{"short v4", "1.2.3", false, false},
		{"v4 out of range", "256.1.1.1", false, false},
		{"mistyped address", "10.0.0.256", false, false},
		{"bracketed", "[::1]", false, false},
		{"trailing blank", "192.0.2.1 ", false, false},
		{"empty", "", false, false},
		{"domain", "example.com", false, true},
		{"single label", "localhost", false, true},
		{"hyphen inside", "mx-1.example.com", false, true},
		{"digit first", "3com.com", false, true},
		{"upper case", "MX.Example.COM", false, true},
		{"leading hyphen", "-mx.example.com", false, false},
		{"trailing hyphen", "mx-.example.com", false, false},
		{"empty label", "mx..example.com", false, false},
		{"trailing dot", "example.com.", false, false},
		{"leading dot", ".example.com", false, false},
		{"underscore", "a_b.example.com", false, false},
		{"blank", "a b.com", false, false},
		{"label of 63",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", false,
		 true},
		{"label of 64",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", false,
		 false},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		bool ip = value_ip(t[i].in), dom = value_domain(t[i].in);

		if (ip != t[i].ip)
			fail_msg("%s: value_ip(\"%s\") got %d, want %d", t[i].name, t[i].in, ip,
				 t[i].ip);
		if (dom != t[i].domain)
			fail_msg("%s: value_domain(\"%s\") got %d, want %d", t[i].name, t[i].in,
				 dom, t[i].domain);
	}
	assert_false(value_ip(NULL));
	assert_false(value_domain(NULL));
}

static void
test_hostport(void **state)
{
	static const struct {
		const char *name, *in;
		int rc;
		const char *host;
		int port;
		bool literal;
	} t[] = {
		{"host", "mx.example.com", 0, "mx.example.com", 0, false},
		{"host:port", "smtp.example.net:587", 0, "smtp.example.net", 587, false},
		{"[v4]", "[192.0.2.1]", 0, "192.0.2.1", 0, true},
		{"[v4]:port", "[127.0.0.1]:10025", 0, "127.0.0.1", 10025, true},
		{"bare v4", "192.0.2.1", 0, "192.0.2.1", 0, true},
		{"bare v4:port", "192.0.2.1:25", 0, "192.0.2.1", 25, true},
		{"bare v6", "2001:db8::1", 0, "2001:db8::1", 0, true},
		{"bare v6 loopback", "::1", 0, "::1", 0, true},
		{"[v6]", "[::1]", 0, "::1", 0, true},
		{"[v6]:port", "[2001:db8::1]:465", 0, "2001:db8::1", 465, true},
		{"highest port", "relay.example:65535", 0, "relay.example", 65535, false},
		{"empty", "", BAD, NULL, 0, false},
		{"port only", ":25", BAD, NULL, 0, false},
		{"empty port", "mx.example.com:", BAD, NULL, 0, false},
		{"port 0", "mx.example.com:0", BAD, NULL, 0, false},
		{"port too high", "mx.example.com:65536", BAD, NULL, 0, false},
		{"port not a number", "mx.example.com:smtp", BAD, NULL, 0, false},
		{"port with sign", "mx.example.com:+25", BAD, NULL, 0, false},
		{"[host]:port (Postfix)", "[smtp.gmail.com]:587", 0, "smtp.gmail.com", 587, false},
		{"[host] (Postfix)", "[smtp.example.net]", 0, "smtp.example.net", 0, false},
		{"[host] port 0", "[smtp.example.net]:0", BAD, NULL, 0, false},
		{"[host] port too high", "[smtp.example.net]:65536", BAD, NULL, 0, false},
		{"[v4] port too high", "[127.0.0.1]:99999", BAD, NULL, 0, false},
		{"bad bracketed name", "[-smtp.example.net]:25", BAD, NULL, 0, false},
		{"blank in brackets", "[smtp example.net]", BAD, NULL, 0, false},
		{"junk after bracket", "[192.0.2.1]x", BAD, NULL, 0, false},
		{"empty port after bracket", "[192.0.2.1]:", BAD, NULL, 0, false},
		{"unclosed bracket", "[::1", BAD, NULL, 0, false},
		{"empty brackets", "[]", BAD, NULL, 0, false},
		{"blank", "mx example.com", BAD, NULL, 0, false},
		{"two ports", "mx.example.com:25:26", BAD, NULL, 0, false},
		{"mistyped address", "10.0.0.256:25", BAD, NULL, 0, false},
		{"bad name", "-mx.example.com", BAD, NULL, 0, false},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		char *host = (char *)"untouched";
		int port = -7, rc;
		bool literal = false;

		rc = value_hostport(t[i].in, &host, &port, &literal);
		if (rc != t[i].rc)
			fail_msg("%s: value_hostport(\"%s\") got rc %d, want %d", t[i].name,
				 t[i].in, rc, t[i].rc);
		if (rc != 0) {
			if (strcmp(host, "untouched") != 0 || port != -7)
				fail_msg("%s: value_hostport(\"%s\") changed the output", t[i].name,
					 t[i].in);
			continue;
		}
		if (strcmp(host, t[i].host) != 0 || port != t[i].port || literal != t[i].literal)
			fail_msg("%s: value_hostport(\"%s\") got %s %d %d, want %s %d %d",
				 t[i].name, t[i].in, host, port, literal, t[i].host, t[i].port,
				 t[i].literal);
		free(host);
	}
}

static void
test_rate(void **state)
{
	static const struct {
		const char *name, *in;
		int rc;
		unsigned n, interval;
	} t[] = {
		{"per second", "10/s", 0, 10, 1},
		{"per minute", "5/m", 0, 5, 60},
		{"per hour", "100/h", 0, 100, 3600},
		{"per day", "1/d", 0, 1, 86400},
		{"zero", "0/s", BAD, 0, 0},
		{"no unit", "10", BAD, 0, 0},
		{"empty unit", "10/", BAD, 0, 0},
		{"unknown unit", "10/x", BAD, 0, 0},
		{"long unit", "10/sec", BAD, 0, 0},
		{"no number", "/s", BAD, 0, 0},
		{"negative", "-1/s", BAD, 0, 0},
		{"blank", "10 /s", BAD, 0, 0},
		{"overflow", "4294967296/s", BAD, 0, 0},
		{"empty", "", BAD, 0, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		struct conf_rate got = {77, 77};
		int rc = value_rate(t[i].in, &got);

		if (rc != t[i].rc)
			fail_msg("%s: value_rate(\"%s\") got rc %d, want %d", t[i].name, t[i].in,
				 rc, t[i].rc);
		if (rc == 0 && (got.n != t[i].n || got.interval != t[i].interval))
			fail_msg("%s: value_rate(\"%s\") got %u/%u, want %u/%u", t[i].name, t[i].in,
				 got.n, got.interval, t[i].n, t[i].interval);
		if (rc != 0 && (got.n != 77 || got.interval != 77))
			fail_msg("%s: value_rate(\"%s\") changed the output", t[i].name, t[i].in);
	}
}

static void
test_rate_format_and_order(void **state)
{
	static const struct {
		struct conf_rate r;
		const char *want;
	} f[] = {
		{{0, 0}, "unlimited"},	{{10, 1}, "10/s"},	   {{5, 60}, "5/m"},
		{{100, 3600}, "100/h"}, {{1500, 86400}, "1500/d"},
	};
	char buf[32];
	for (size_t i = 0; i < NELEM(f); i++) {
		value_rate_format(&f[i].r, buf, sizeof(buf));
		assert_string_equal(buf, f[i].want);
	}
	struct conf_rate none = {0, 0}, five_m = {5, 60}, one_s = {1, 1}, sixty_m = {60, 60},
			 day = {1500, 86400};
	assert_true(value_rate_less(&five_m, &one_s));
	assert_false(value_rate_less(&one_s, &five_m));
	assert_false(value_rate_less(&sixty_m, &one_s)); /* equal: not less */
	assert_false(value_rate_less(&one_s, &sixty_m));
	assert_true(value_rate_less(&day, &five_m)); /* 1500/d is about 1.04/m */
	assert_true(value_rate_less(&five_m, &none));
	assert_false(value_rate_less(&none, &five_m));
	assert_false(value_rate_less(&none, &none));
}

static void
test_date(void **state)
{
	static const struct {
		const char *name, *in;
		int rc;
		long days;
	} t[] = {
		{"epoch", "1970-01-01", 0, 0},
		{"a day", "2026-12-01", 0, 20788},
		{"leap day", "2024-02-29", 0, 19782},
		{"century leap", "2000-02-29", 0, 11016},
		{"last", "9999-12-31", 0, 2932896},
		{"not a leap year", "2026-02-29", BAD, 0},
		{"century, not leap", "2100-02-29", BAD, 0},
		{"day 31 of a 30", "2026-04-31", BAD, 0},
		{"month 13", "2026-13-01", BAD, 0},
		{"month 0", "2026-00-10", BAD, 0},
		{"day 0", "2026-01-00", BAD, 0},
		{"before 1970", "1969-12-31", BAD, 0},
		{"short", "2026-1-01", BAD, 0},
		{"slashes", "2026/12/01", BAD, 0},
		{"trailing", "2026-12-01 ", BAD, 0},
		{"time", "2026-12-01T00:00", BAD, 0},
		{"five-digit year", "20261-12-01", BAD, 0},
		{"empty", "", BAD, 0},
	};
	char buf[32];
	for (size_t i = 0; i < NELEM(t); i++) {
		long got = -7;
		int rc = value_date(t[i].in, &got);
		if (rc != t[i].rc)
			fail_msg("%s: value_date(\"%s\") got rc %d, want %d", t[i].name, t[i].in,
				 rc, t[i].rc);
		if (rc == 0 && got != t[i].days)
			fail_msg("%s: value_date(\"%s\") got %ld, want %ld", t[i].name, t[i].in,
				 got, t[i].days);
		if (rc != 0 && got != -7)
			fail_msg("%s: value_date(\"%s\") changed the output", t[i].name, t[i].in);
		if (rc == 0) {
			value_date_format(got, buf, sizeof(buf));
			if (strcmp(buf, t[i].in) != 0)
				fail_msg("%s: value_date_format(%ld) got %s", t[i].name, got, buf);
		}
	}
	/* Every day of 400 years round-trips, one after the other. */
	long prev = -1;
	for (long d = 0; d < 146097; d++) {
		long back;
		value_date_format(d, buf, sizeof(buf));
		assert_int_equal(value_date(buf, &back), 0);
		assert_int_equal(back, d);
		assert_true(back > prev);
		prev = back;
	}
}

static void
test_tls_version(void **state)
{
	static const struct {
		const char *name, *in;
		int rc, want;
	} t[] = {
		{"1.2", "TLSv1.2", 0, CONF_TLSV12},
		{"1.3", "TLSv1.3", 0, CONF_TLSV13},
		{"any case", "tlsv1.3", 0, CONF_TLSV13},
		{"1.1 is too old", "TLSv1.1", BAD, 0},
		{"1.0", "TLSv1", BAD, 0},
		{"number only", "1.2", BAD, 0},
		{"empty", "", BAD, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		int got = -9, rc = value_tls_version(t[i].in, &got);

		if (rc != t[i].rc)
			fail_msg("%s: value_tls_version(\"%s\") got rc %d, want %d", t[i].name,
				 t[i].in, rc, t[i].rc);
		if (rc == 0 && got != t[i].want)
			fail_msg("%s: value_tls_version(\"%s\") got %#x, want %#x", t[i].name,
				 t[i].in, got, t[i].want);
		if (rc != 0 && got != -9)
			fail_msg("%s: value_tls_version(\"%s\") changed the output", t[i].name,
				 t[i].in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_ip_and_domain),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_tls_version),
		cmocka_unit_test(test_rate_format_and_order),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
