/*
 * test_spf.c — the SPF evaluator driven by a synchronous resolver over a
 * zone table: the openspf.org RFC 7208 suite (spf_suite.h), our own cases
 * for the term that decides and the reasons of errors, the queries asked,
 * the macro expander (RFC 7208 7.4), and the API's edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "relayd/spf.h"
#include "tests/unit/spf_suite.h"

#define MAXQ 100 /* queries one evaluation may ask before we call it a loop */
#define MAXRR 32 /* records of one answer */

/* An answer from a zone, with the arrays it points to. */
struct zanswer {
	struct spf_answer a;
	const char *txt[MAXRR];
	size_t txtlen[MAXRR];
	const char *names[MAXRR];
	struct in_addr a4[MAXRR];
	struct in6_addr a6[MAXRR];
};

/* One evaluation run to its end, and the queries it asked. */
struct run {
	struct spf *s;
	enum spf_result r;
	size_t nq;
	char q[MAXQ][300]; /* "TYPE name" */
};

static const char *
rrtype(enum spf_rrtype t)
{
	static const char *const names[] = {"TXT", "A", "AAAA", "MX", "PTR"};
	return names[t];
}

/* NAME's TYPE records in ZONE: records, else a timeout if the name has one,
 * else no data if it exists, else NXDOMAIN. */
static void
zone_lookup(const struct zrr *zone, enum spf_rrtype type, const char *name, struct zanswer *z)
{
	static const enum ztype want[] = {
		[SPF_RR_TXT] = Z_TXT, [SPF_RR_A] = Z_A,	    [SPF_RR_AAAA] = Z_AAAA,
		[SPF_RR_MX] = Z_MX,   [SPF_RR_PTR] = Z_PTR,
	};
	bool exists = false, timeout = false;
	size_t n = 0;

	memset(z, 0, sizeof(*z));
	for (const struct zrr *r = zone; r->name != NULL; r++) {
		if (strcasecmp(r->name, name) != 0)
			continue;
		exists = true;
		if (r->type == Z_TIMEOUT)
			timeout = true;
		if (r->type != want[type] || n == MAXRR)
			continue;
		switch (type) {
		case SPF_RR_TXT:
			z->txt[n] = r->data;
			z->txtlen[n] = r->len ? r->len : strlen(r->data);
			break;
		case SPF_RR_A:
			if (inet_pton(AF_INET, r->data, &z->a4[n]) != 1)
				fail_msg("zone: bad A %s", r->data);
			break;
		case SPF_RR_AAAA:
			if (inet_pton(AF_INET6, r->data, &z->a6[n]) != 1)
				fail_msg("zone: bad AAAA %s", r->data);
			break;
		case SPF_RR_MX:
		case SPF_RR_PTR:
			z->names[n] = r->data;
			break;
		}
		n++;
	}
	z->a.status = n		? SPF_DNS_OK
		      : timeout ? SPF_DNS_TEMPFAIL
		      : exists	? SPF_DNS_NODATA
				: SPF_DNS_NXDOMAIN;
	z->a.n = n;
	z->a.txt = z->txt;
	z->a.txtlen = z->txtlen;
	z->a.names = z->names;
	z->a.a = z->a4;
	z->a.aaaa = z->a6;
}

/* check_host() for MAILFROM (or postmaster@HELO when it is ""), from HOST,
 * answered from ZONE. */
static void
run_spf(struct run *run, const struct zrr *zone, const char *helo, const char *host,
	const char *mailfrom)
{
	unsigned char ip[16];
	int family = strchr(host, ':') ? AF_INET6 : AF_INET;
	const char *domain = helo, *sender = NULL;

	if (inet_pton(family, host, ip) != 1)
		fail_msg("bad host %s", host);
	if (mailfrom[0] != '\0') {
		const char *at = strrchr(mailfrom, '@');
		domain = at ? at + 1 : mailfrom;
		sender = mailfrom;
	}
	run->s = spf_new(family, ip, domain, sender, helo);
	assert_non_null(run->s);
	spf_set_receiver(run->s, "relay.example.net", 1700000000);
	run->nq = 0;

	enum spf_rrtype type;
	const char *name;
	while (spf_step(run->s, &type, &name)) {
		if (run->nq == MAXQ)
			fail_msg("%s: more than %d queries", mailfrom, MAXQ);
		snprintf(run->q[run->nq++], sizeof(run->q[0]), "%s %s", rrtype(type), name);
		struct zanswer z;
		zone_lookup(zone, type, name, &z);
		spf_answer(run->s, &z.a);
	}
	run->r = spf_result(run->s);
}

/* Every case of the openspf.org suite: the result (or the suite's other
 * accepted result), and the explanation where the suite gives one. */
static void
test_suite(void **state)
{
	static struct run run;
	int cases = 0, failed = 0;

	for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
		for (const struct scase *c = suite[i].cases; c->name != NULL; c++) {
			cases++;
			run_spf(&run, suite[i].zone, c->helo, c->host, c->mailfrom);
			const char *exp = spf_explanation(run.s);
			if (run.r != c->want && run.r != c->alt) {
				print_error("%s / %s: got %s (%s), want %s\n", suite[i].description,
					    c->name, spf_strresult(run.r), spf_mechanism(run.s),
					    spf_strresult(c->want));
				failed++;
			} else if (c->exp != NULL && c->exp[0] == '\0' && exp != NULL) {
				print_error("%s / %s: got explanation \"%s\", want none\n",
					    suite[i].description, c->name, exp);
				failed++;
			} else if (c->exp != NULL && c->exp[0] != '\0' &&
				   (exp == NULL || strcmp(exp, c->exp) != 0)) {
				print_error("%s / %s: got explanation \"%s\", want \"%s\"\n",
					    suite[i].description, c->name, exp ? exp : "(none)",
					    c->exp);
				failed++;
			}
			spf_free(run.s);
		}
	}
	print_message("openspf RFC 7208 suite: %d cases, %d failed\n", cases, failed);
	assert_int_equal(cases, 198); /* every test of the 2014.04 file */
	assert_int_equal(failed, 0);
}

/* --- our own cases: the term that decided, the reasons of errors --- */

#define CHAIN(p, i, j) TXT(p #i ".example.com", "v=spf1 include:" p #j ".example.com -all")
#define H(i, addr) MX("mx11.example.com", "h" #i ".example.com"), A("h" #i ".example.com", addr)

static const struct zrr z_own[] = {
	TXT("example.com", "v=spf1 ip4:192.0.2.0/24 include:_spf.example.com -all"),
	TXT("_spf.example.com", "v=spf1 ip6:2001:db8:aaaa::/48 a:mail.example.com ~all"),
	A("mail.example.com", "198.51.100.1"),
	AAAA("mail.example.com", "2001:db8:bbbb::25"),
	TXT("norecord.example.com", "google-site-verification=abc"),
	A("norecord.example.com", "192.0.2.1"),
	TXT("two.example.com", "v=spf1 -all"),
	TXT("two.example.com", "v=spf1 ~all"),
	TXT("bad.example.com", "v=spf1 ip4:192.0.2.1 moo -all"),
	TXT("neutral.example.com", "v=spf1 ip4:192.0.2.1"),
	TXT("incnone.example.com", "v=spf1 include:norecord.example.com -all"),
	TXT("redirnone.example.com", "v=spf1 redirect=norecord.example.com"),
	TXT("incbad.example.com", "v=spf1 ip4:192.0.2.1 include:bad.example.com -all"),
	TXT("inclong.example.com", "v=spf1 include:%{l}.example.com -all"),
	TXT("tempfail.example.com", "v=spf1 a:timeout.example.com -all"),
	TIMEOUT("timeout.example.com"),
	TXT("inctemp.example.com", "v=spf1 ip4:192.0.2.1 include:tempfail.example.com -all"),
	TXT("redirect.example.com", "v=spf1 ip4:203.0.113.1 redirect=example.com"),
	TXT("quals.example.com", "v=spf1 -ip4:192.0.2.1 ~ip4:192.0.2.2 ?ip4:192.0.2.3 "
				 "+ip4:192.0.2.4 ip4:192.0.2.5 -all"),
	TXT("upper.example.com", "V=SPF1 IP4:192.0.2.1 Include:_spf.example.com -ALL"),

	/* the 10 terms that query DNS */
	TXT("ten.example.com", "v=spf1 a a a a a a a a a a -all"),
	A("ten.example.com", "198.51.100.10"),
	TXT("eleven.example.com", "v=spf1 a a a a a a a a a a a -all"),
	A("eleven.example.com", "198.51.100.11"),
	/* include chains: c1 -> c11 takes 10 lookups, o1 -> o11 then an a */
	CHAIN("c", 1, 2),
	CHAIN("c", 2, 3),
	CHAIN("c", 3, 4),
	CHAIN("c", 4, 5),
	CHAIN("c", 5, 6),
	CHAIN("c", 6, 7),
	CHAIN("c", 7, 8),
	CHAIN("c", 8, 9),
	CHAIN("c", 9, 10),
	CHAIN("c", 10, 11),
	TXT("c11.example.com", "v=spf1 +all"),
	CHAIN("o", 1, 2),
	CHAIN("o", 2, 3),
	CHAIN("o", 3, 4),
	CHAIN("o", 4, 5),
	CHAIN("o", 5, 6),
	CHAIN("o", 6, 7),
	CHAIN("o", 7, 8),
	CHAIN("o", 8, 9),
	CHAIN("o", 9, 10),
	CHAIN("o", 10, 11),
	TXT("o11.example.com", "v=spf1 a -all"),
	A("o11.example.com", "203.0.113.5"),
	/* void lookups: NXDOMAIN, no MX, no A */
	TXT("void2.example.com", "v=spf1 a:nx1.example.com mx:norecord.example.com -all"),
	TXT("void3.example.com",
	    "v=spf1 a:nx1.example.com mx:norecord.example.com exists:nx3.example.com -all"),
	/* MX: 10 hosts, 11 hosts, a null MX */
	TXT("mx10.example.com", "v=spf1 mx -all"),
	MX("mx10.example.com", "h1.example.com"),
	MX("mx10.example.com", "h2.example.com"),
	MX("mx10.example.com", "h3.example.com"),
	MX("mx10.example.com", "h4.example.com"),
	MX("mx10.example.com", "h5.example.com"),
	MX("mx10.example.com", "h6.example.com"),
	MX("mx10.example.com", "h7.example.com"),
	MX("mx10.example.com", "h8.example.com"),
	MX("mx10.example.com", "h9.example.com"),
	MX("mx10.example.com", "h10.example.com."),
	TXT("mx11.example.com", "v=spf1 mx -all"),
	H(1, "198.51.100.1"),
	H(2, "198.51.100.2"),
	H(3, "198.51.100.3"),
	H(4, "198.51.100.4"),
	H(5, "198.51.100.5"),
	H(6, "198.51.100.6"),
	H(7, "198.51.100.7"),
	H(8, "198.51.100.8"),
	H(9, "198.51.100.9"),
	H(10, "192.0.2.10"),
	H(11, "192.0.2.11"),
	TXT("nullmx.example.com", "v=spf1 mx -all"),
	MX("nullmx.example.com", "."),
	TXT("mxtemp.example.com", "v=spf1 mx -all"),
	MX("mxtemp.example.com", "timeout.example.com"),
	/* exp=, with the macros of explanations */
	TXT("expfail.example.com", "v=spf1 -all exp=why.%{d}"),
	TXT("why.expfail.example.com",
	    "%{c} is not one of %{d}'s senders (%{r} at %{t}, helo %{h}, %{v})"),
	TXT("expsoft.example.com", "v=spf1 ~all exp=why.expfail.example.com"),
	TXT("expp.example.com", "v=spf1 -all exp=whyp.example.com"),
	TXT("whyp.example.com", "%{p} is not allowed to send for %{o}"),
	PTR("200.2.0.192.in-addr.arpa", "out.example.com"),
	A("out.example.com", "192.0.2.200"),
	/* IPv6: dual CIDR lengths, AAAA for an IPv6 client and A for IPv4 */
	TXT("six.example.com", "v=spf1 a//64 mx//48 -all"),
	AAAA("six.example.com", "2001:db8:6::1"),
	A("six.example.com", "192.0.2.66"),
	MX("six.example.com", "mx6.example.com"),
	AAAA("mx6.example.com", "2001:db8:7:1::1"),
	TXT("exists6.example.com", "v=spf1 exists:%{ir}.%{v}.list.example.com -all"),
	A("9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list."
	  "example.com",
	  "127.0.0.2"),
	/* ptr: a PTR failure is no match (5.5), not a temperror */
	TXT("ptrtemp.example.com", "v=spf1 ptr -all"),
	TIMEOUT("250.2.0.192.in-addr.arpa"),
	TXT("ptrok.example.com", "v=spf1 ptr:example.com -all"),
	ZEND,
};

#define L64 "l123456789012345678901234567890123456789012345678901234567890123"

static const struct ocase {
	const char *what, *host, *mailfrom;
	enum spf_result want;
	const char *mech; /* spf_mechanism() */
	const char *exp;  /* NULL: not checked; DEFAULT: none */
} own[] = {
	{"ip4", "192.0.2.77", "a@example.com", SPF_PASS, "ip4:192.0.2.0/24", DEFAULT},
	{"a pass from an include is the include's", "198.51.100.1", "a@example.com", SPF_PASS,
	 "include:_spf.example.com", NULL},
	{"ip6 in an include", "2001:db8:aaaa::1", "a@example.com", SPF_PASS,
	 "include:_spf.example.com", NULL},
	{"a (AAAA) in an include", "2001:db8:bbbb::25", "a@example.com", SPF_PASS,
	 "include:_spf.example.com", NULL},
	{"the include's ~all does not match", "203.0.113.9", "a@example.com", SPF_FAIL, "-all",
	 DEFAULT},
	{"IPv4-mapped IPv6 is IPv4", "::ffff:192.0.2.77", "a@example.com", SPF_PASS,
	 "ip4:192.0.2.0/24", NULL},
	{"names are case-insensitive", "198.51.100.1", "a@upper.example.com", SPF_PASS,
	 "Include:_spf.example.com", NULL},
	{"names are case-insensitive, -ALL", "203.0.113.9", "a@upper.example.com", SPF_FAIL, "-ALL",
	 NULL},
	{"-", "192.0.2.1", "a@quals.example.com", SPF_FAIL, "-ip4:192.0.2.1", NULL},
	{"~", "192.0.2.2", "a@quals.example.com", SPF_SOFTFAIL, "~ip4:192.0.2.2", NULL},
	{"?", "192.0.2.3", "a@quals.example.com", SPF_NEUTRAL, "?ip4:192.0.2.3", NULL},
	{"+", "192.0.2.4", "a@quals.example.com", SPF_PASS, "+ip4:192.0.2.4", NULL},
	{"no qualifier", "192.0.2.5", "a@quals.example.com", SPF_PASS, "ip4:192.0.2.5", NULL},
	{"none matches", "192.0.2.2", "a@neutral.example.com", SPF_NEUTRAL, "default", NULL},
	{"no SPF record among TXT records", "192.0.2.1", "a@norecord.example.com", SPF_NONE,
	 "no SPF record", NULL},
	{"NXDOMAIN", "192.0.2.1", "a@nxdomain.example.com", SPF_NONE, "no SPF record", NULL},
	{"not a domain", "192.0.2.1", "a@localhost", SPF_NONE, "not a valid domain", NULL},
	{"two records", "192.0.2.1", "a@two.example.com", SPF_PERMERROR, "two SPF records", NULL},
	{"a syntax error", "192.0.2.1", "a@bad.example.com", SPF_PERMERROR,
	 "syntax error near \"moo\"", NULL},
	{"include of no record", "192.0.2.1", "a@incnone.example.com", SPF_PERMERROR,
	 "include:norecord.example.com: no SPF record", NULL},
	{"redirect to no record", "192.0.2.1", "a@redirnone.example.com", SPF_PERMERROR,
	 "redirect=norecord.example.com: no SPF record", NULL},
	{"a syntax error in an include", "192.0.2.9", "a@incbad.example.com", SPF_PERMERROR,
	 "include:bad.example.com: syntax error near \"moo\"", NULL},
	{"an include of a label over 63", "192.0.2.9", L64 "@inclong.example.com", SPF_PERMERROR,
	 "include:%{l}.example.com: not a valid domain", NULL},
	{"a DNS failure in a", "192.0.2.1", "a@tempfail.example.com", SPF_TEMPERROR,
	 "DNS failure: A timeout.example.com", NULL},
	{"a DNS failure of the record", "192.0.2.1", "a@timeout.example.com", SPF_TEMPERROR,
	 "DNS failure: TXT timeout.example.com", NULL},
	{"a DNS failure inside an include", "192.0.2.9", "a@inctemp.example.com", SPF_TEMPERROR,
	 "DNS failure: A timeout.example.com", NULL},
	{"a DNS failure of an MX host", "192.0.2.9", "a@mxtemp.example.com", SPF_TEMPERROR,
	 "DNS failure: A timeout.example.com", NULL},
	{"redirect: its record decides", "192.0.2.77", "a@redirect.example.com", SPF_PASS,
	 "ip4:192.0.2.0/24", NULL},
	{"redirect: its -all", "203.0.113.9", "a@redirect.example.com", SPF_FAIL, "-all", NULL},
	{"10 lookups", "192.0.2.200", "a@ten.example.com", SPF_FAIL, "-all", NULL},
	{"11 lookups", "192.0.2.200", "a@eleven.example.com", SPF_PERMERROR, "too many DNS lookups",
	 NULL},
	{"includes 10 deep", "203.0.113.5", "a@c1.example.com", SPF_PASS, "include:c2.example.com",
	 NULL},
	{"includes 10 deep, then an a", "203.0.113.5", "a@o1.example.com", SPF_PERMERROR,
	 "too many DNS lookups", NULL},
	{"2 void lookups", "192.0.2.1", "a@void2.example.com", SPF_FAIL, "-all", NULL},
	{"3 void lookups", "192.0.2.1", "a@void3.example.com", SPF_PERMERROR,
	 "too many void lookups", NULL},
	{"10 MX hosts, the 10th matches", "192.0.2.10", "a@mx10.example.com", SPF_PASS, "mx", NULL},
	{"10 MX hosts, none matches", "192.0.2.11", "a@mx10.example.com", SPF_FAIL, "-all", NULL},
	{"11 MX hosts", "192.0.2.10", "a@mx11.example.com", SPF_PERMERROR,
	 "too many MX records (mx)", NULL},
	{"a null MX", "192.0.2.1", "a@nullmx.example.com", SPF_FAIL, "-all", NULL},
	{"exp= with c r t h v d", "192.0.2.200", "a@expfail.example.com", SPF_FAIL, "-all",
	 "192.0.2.200 is not one of expfail.example.com's senders (relay.example.net at "
	 "1700000000, helo mta.example.net, in-addr)"},
	{"exp= on IPv6", "2001:db8::1", "a@expfail.example.com", SPF_FAIL, "-all",
	 "2001:db8::1 is not one of expfail.example.com's senders (relay.example.net at "
	 "1700000000, helo mta.example.net, ip6)"},
	{"no exp= for a softfail", "192.0.2.200", "a@expsoft.example.com", SPF_SOFTFAIL, "~all",
	 DEFAULT},
	{"%{p} in an explanation", "192.0.2.200", "a@expp.example.com", SPF_FAIL, "-all",
	 "out.example.com is not allowed to send for expp.example.com"},
	{"a//64", "2001:db8:6::99", "a@six.example.com", SPF_PASS, "a//64", NULL},
	{"mx//48", "2001:db8:7:2::1", "a@six.example.com", SPF_PASS, "mx//48", NULL},
	{"neither", "2001:db8:8::1", "a@six.example.com", SPF_FAIL, "-all", NULL},
	{"a//64 for IPv4 is /32", "192.0.2.66", "a@six.example.com", SPF_PASS, "a//64", NULL},
	{"a//64 for IPv4 is /32, no match", "192.0.2.67", "a@six.example.com", SPF_FAIL, "-all",
	 NULL},
	{"exists on %{ir}.%{v} of IPv6", "2001:db8::9", "a@exists6.example.com", SPF_PASS,
	 "exists:%{ir}.%{v}.list.example.com", NULL},
	{"a PTR failure is no match", "192.0.2.250", "a@ptrtemp.example.com", SPF_FAIL, "-all",
	 NULL},
	{"ptr: a validated name", "192.0.2.200", "a@ptrok.example.com", SPF_PASS, "ptr:example.com",
	 NULL},
};

static void
test_own(void **state)
{
	static struct run run;
	int failed = 0;

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		const struct ocase *c = &own[i];
		run_spf(&run, z_own, "mta.example.net", c->host, c->mailfrom);
		const char *mech = spf_mechanism(run.s), *exp = spf_explanation(run.s);
		if (run.r != c->want || strcmp(mech, c->mech) != 0) {
			print_error("%s: got %s (%s), want %s (%s)\n", c->what,
				    spf_strresult(run.r), mech, spf_strresult(c->want), c->mech);
			failed++;
		} else if (c->exp != NULL &&
			   (c->exp[0] == '\0' ? exp != NULL
					      : exp == NULL || strcmp(exp, c->exp) != 0)) {
			print_error("%s: got explanation \"%s\", want \"%s\"\n", c->what,
				    exp ? exp : "(none)", c->exp);
			failed++;
		}
		spf_free(run.s);
	}
	assert_int_equal(failed, 0);
}

/* The queries asked, in order: A for IPv4 and AAAA for IPv6 only, A for
 * exists, nothing after a decision, exp= only for a fail. */
static void
test_queries(void **state)
{
	static struct run run;
	static const struct {
		const char *host, *mailfrom;
		const char *q[12];
	} c[] = {
		{"2001:db8:7:2::1",
		 "a@six.example.com",
		 {"TXT six.example.com", "AAAA six.example.com", "MX six.example.com",
		  "AAAA mx6.example.com"}},
		{"192.0.2.66", "a@six.example.com", {"TXT six.example.com", "A six.example.com"}},
		{"192.0.2.1",
		 "a@nullmx.example.com",
		 {"TXT nullmx.example.com", "MX nullmx.example.com"}},
		{"192.0.2.200", "a@expsoft.example.com", {"TXT expsoft.example.com"}},
		{"192.0.2.200",
		 "a@expfail.example.com",
		 {"TXT expfail.example.com", "TXT why.expfail.example.com"}},
		{"2001:db8::9",
		 "a@exists6.example.com",
		 {"TXT exists6.example.com",
		  "A 9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list."
		  "example.com"}},
		{"192.0.2.200",
		 "a@expp.example.com",
		 {"TXT expp.example.com", "TXT whyp.example.com", "PTR 200.2.0.192.in-addr.arpa",
		  "A out.example.com"}},
		{"192.0.2.10",
		 "a@mx11.example.com",
		 {"TXT mx11.example.com", "MX mx11.example.com"}},
		{"192.0.2.1", "a@localhost", {NULL}},
		{"192.0.2.1", "a@[192.0.2.1]", {NULL}},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		run_spf(&run, z_own, "mta.example.net", c[i].host, c[i].mailfrom);
		size_t n = 0;
		while (n < 12 && c[i].q[n] != NULL)
			n++;
		for (size_t k = 0; k < run.nq || k < n; k++) {
			const char *got = k < run.nq ? run.q[k] : "(nothing)";
			const char *want = k < n ? c[i].q[k] : "(nothing)";
			if (strcmp(got, want) != 0)
				fail_msg("%s from %s: query %zu: got %s, want %s", c[i].mailfrom,
					 c[i].host, k + 1, got, want);
		}
		spf_free(run.s);
	}

	/* An include chain 10 deep: one TXT query per record, nothing else. */
	run_spf(&run, z_own, "mta.example.net", "203.0.113.5", "a@c1.example.com");
	assert_int_equal(run.nq, 11);
	assert_string_equal(run.q[10], "TXT c11.example.com");
	spf_free(run.s);
}

/* RFC 7208 7.4, and the rest of 7: letters, transformers, delimiters,
 * escapes, syntax errors. */
static void
test_macros(void **state)
{
	static const struct {
		const char *macro;
		bool exp;
		const char *want; /* NULL: a syntax error */
	} c[] = {
		/* 7.4, <sender> strong-bad@email.example.com, <ip> 192.0.2.3 */
		{"%{s}", false, "strong-bad@email.example.com"},
		{"%{o}", false, "email.example.com"},
		{"%{d}", false, "email.example.com"},
		{"%{d4}", false, "email.example.com"},
		{"%{d3}", false, "email.example.com"},
		{"%{d2}", false, "example.com"},
		{"%{d1}", false, "com"},
		{"%{dr}", false, "com.example.email"},
		{"%{d2r}", false, "example.email"},
		{"%{l}", false, "strong-bad"},
		{"%{l-}", false, "strong.bad"},
		{"%{lr}", false, "strong-bad"},
		{"%{lr-}", false, "bad.strong"},
		{"%{l1r-}", false, "strong"},
		{"%{ir}.%{v}._spf.%{d2}", false, "3.2.0.192.in-addr._spf.example.com"},
		{"%{lr-}.lp._spf.%{d2}", false, "bad.strong.lp._spf.example.com"},
		{"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", false,
		 "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", false,
		 "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"%{d2}.trusted-domains.example.net", false,
		 "example.com.trusted-domains.example.net"},
		/* the rest */
		{"%{i}", false, "192.0.2.3"},
		{"%{h}", false, "mx.example.org"},
		{"%{p}", false, "unknown"},
		{"%{d10}", false, "email.example.com"},
		{"%{dR}", false, "com.example.email"},
		{"%{D}", false, "email.example.com"},
		{"%{S}", false, "strong-bad%40email.example.com"},
		{"%{l.-}", false, "strong.bad"},
		{"%{s-@}", false, NULL}, /* "@" is no delimiter */
		{"a%%b%_c%-d", false, "a%b c%20d"},
		{"%{c}", true, "192.0.2.3"},
		{"%{r} %{t}", true, "relay.example.net 1700000000"},
		{"The %{c}: %{d2}.", true, "The 192.0.2.3: example.com."},
		{"%{c}", false, NULL}, /* c r t: explanations only */
		{"%{r}", false, NULL},
		{"%{t}", false, NULL},
		{"a b", false, NULL}, /* spaces: explanations only */
		{"%{d0}", false, NULL},
		{"%{x}", false, NULL},
		{"%{d", false, NULL},
		{"%{", false, NULL},
		{"%", false, NULL},
		{"%x", false, NULL},
		{"%(ir)", false, NULL},
		{"%{d2r-+}", false, "email.example.com"}, /* no "." among them */
		{"caf\xc3\xa9", true, NULL},		  /* 7-bit only */
	};
	struct in_addr ip4;
	inet_pton(AF_INET, "192.0.2.3", &ip4);
	struct spf *s = spf_new(AF_INET, &ip4, "email.example.com", "strong-bad@email.example.com",
				"mx.example.org");
	assert_non_null(s);
	spf_set_receiver(s, "relay.example.net", 1700000000);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char buf[256];
		int r = spf_expand(s, c[i].macro, c[i].exp, buf, sizeof(buf));
		if (c[i].want == NULL && r != -1)
			fail_msg("%s: got \"%s\", want a syntax error", c[i].macro, buf);
		if (c[i].want != NULL && (r != 0 || strcmp(buf, c[i].want) != 0))
			fail_msg("%s: got %d \"%s\", want \"%s\"", c[i].macro, r, buf, c[i].want);
	}

	/* Truncated to the buffer, still a string. */
	char small[8];
	assert_int_equal(spf_expand(s, "%{s}", false, small, sizeof(small)), 0);
	assert_string_equal(small, "strong-");
	spf_free(s);

	/* 7.4, <ip> 2001:db8::cb01 */
	struct in6_addr ip6;
	inet_pton(AF_INET6, "2001:db8::cb01", &ip6);
	s = spf_new(AF_INET6, &ip6, "email.example.com", "strong-bad@email.example.com", NULL);
	assert_non_null(s);
	char buf[256];
	assert_int_equal(spf_expand(s, "%{ir}.%{v}._spf.%{d2}", false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6._spf.example.com");
	assert_int_equal(spf_expand(s, "%{i}", false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
	assert_int_equal(spf_expand(s, "%{c} %{C}", true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::cb01 2001%3Adb8%3A%3Acb01");
	assert_int_equal(spf_expand(s, "%{h} %{r} %{t}", true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "unknown unknown 0"); /* no helo, no receiver, no time */
	spf_free(s);

	/* No sender, or no local part: postmaster (4.3). */
	s = spf_new(AF_INET, &ip4, "example.net", NULL, "mx.example.org");
	assert_int_equal(spf_expand(s, "%{s} %{l} %{o} %{d}", true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "postmaster@example.net postmaster example.net example.net");
	spf_free(s);
	s = spf_new(AF_INET, &ip4, "example.net", "@example.net", NULL);
	assert_int_equal(spf_expand(s, "%{s}", false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "postmaster@example.net");
	spf_free(s);
}

/* A domain that is not a multi-label name gives none at once (4.3). */
static void
test_invalid_domain(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		".",
		"localhost",
		"localhost.",
		"a..example.com",
		".example.com",
		"[192.0.2.1]",
		"192.0.2.1",
		"a b.example.com",
		L64 ".example.com",
	};
	struct in_addr ip;
	inet_pton(AF_INET, "192.0.2.1", &ip);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spf *s = spf_new(AF_INET, &ip, bad[i], NULL, NULL);
		enum spf_rrtype t;
		const char *name;
		assert_non_null(s);
		if (spf_step(s, &t, &name) != 0)
			fail_msg("\"%s\": asked %s %s", bad[i] ? bad[i] : "(null)", rrtype(t),
				 name);
		assert_int_equal(spf_result(s), SPF_NONE);
		assert_string_equal(spf_mechanism(s), "not a valid domain");
		spf_free(s);
	}

	/* A final dot is fine: the query is without it. */
	struct spf *s = spf_new(AF_INET, &ip, "Example.COM.", NULL, NULL);
	enum spf_rrtype t;
	const char *name;
	assert_int_equal(spf_step(s, &t, &name), 1);
	assert_int_equal(t, SPF_RR_TXT);
	assert_string_equal(name, "Example.COM");
	spf_free(s);

	assert_null(spf_new(AF_UNIX, &ip, "example.com", NULL, NULL));
	assert_null(spf_new(AF_INET, NULL, "example.com", NULL, NULL));
}

/* Driving by hand: the same query until answered, stray answers ignored,
 * OK without records is no data, a NUL byte in a record. */
static void
test_driving(void **state)
{
	struct in_addr ip;
	inet_pton(AF_INET, "192.0.2.1", &ip);
	struct spf *s = spf_new(AF_INET, &ip, "example.com", "a@example.com", "mta.example.net");
	enum spf_rrtype t;
	const char *name;

	assert_int_equal(spf_result(s), SPF_NONE);
	assert_string_equal(spf_mechanism(s), "");
	assert_int_equal(spf_step(s, &t, &name), 1);
	assert_int_equal(spf_step(s, &t, &name), 1); /* asked again, not answered */
	assert_int_equal(t, SPF_RR_TXT);
	assert_string_equal(name, "example.com");
	const char *rec[] = {"v=spf1 ip4:192.0.2.1\0 -all"};
	size_t len[] = {sizeof("v=spf1 ip4:192.0.2.1\0 -all") - 1};
	struct spf_answer a = {.status = SPF_DNS_OK, .n = 1, .txt = rec, .txtlen = len};
	spf_answer(s, &a);
	spf_answer(s, &a); /* nothing asked: ignored */
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_result(s), SPF_PERMERROR);
	assert_string_equal(spf_mechanism(s), "syntax error near \"ip4:192.0.2.1?\"");
	assert_null(spf_explanation(s));
	spf_free(s);

	/* The same record without its length reads up to its NUL. */
	s = spf_new(AF_INET, &ip, "example.com", "a@example.com", "mta.example.net");
	assert_int_equal(spf_step(s, &t, &name), 1);
	a.txtlen = NULL;
	spf_answer(s, &a);
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_result(s), SPF_PASS);
	assert_string_equal(spf_mechanism(s), "ip4:192.0.2.1");
	spf_free(s);

	/* OK with no records is no data: none. */
	s = spf_new(AF_INET, &ip, "example.com", NULL, NULL);
	assert_int_equal(spf_step(s, &t, &name), 1);
	spf_answer(s, &(struct spf_answer){.status = SPF_DNS_OK});
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_result(s), SPF_NONE);
	assert_string_equal(spf_mechanism(s), "no SPF record");
	spf_free(s);

	/* A caller that gives up answers TEMPFAIL. */
	s = spf_new(AF_INET, &ip, "example.com", NULL, NULL);
	assert_int_equal(spf_step(s, &t, &name), 1);
	spf_answer(s, &(struct spf_answer){.status = SPF_DNS_TEMPFAIL});
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_result(s), SPF_TEMPERROR);
	spf_free(s);

	/* A NULL helo is "unknown" in %{h}. */
	static const struct zrr z[] = {
		TXT("helo.example.com", "v=spf1 a:%{h}.example.com -all"),
		A("unknown.example.com", "192.0.2.1"),
		ZEND,
	};
	s = spf_new(AF_INET, &ip, "helo.example.com", NULL, NULL);
	assert_int_equal(spf_step(s, &t, &name), 1);
	struct zanswer za;
	zone_lookup(z, t, name, &za);
	spf_answer(s, &za.a);
	assert_int_equal(spf_step(s, &t, &name), 1);
	assert_int_equal(t, SPF_RR_A);
	assert_string_equal(name, "unknown.example.com");
	zone_lookup(z, t, name, &za);
	spf_answer(s, &za.a);
	assert_int_equal(spf_step(s, &t, &name), 0);
	assert_int_equal(spf_result(s), SPF_PASS);
	spf_free(s);
}

static void
test_strresult(void **state)
{
	assert_string_equal(spf_strresult(SPF_NONE), "none");
	assert_string_equal(spf_strresult(SPF_NEUTRAL), "neutral");
	assert_string_equal(spf_strresult(SPF_PASS), "pass");
	assert_string_equal(spf_strresult(SPF_FAIL), "fail");
	assert_string_equal(spf_strresult(SPF_SOFTFAIL), "softfail");
	assert_string_equal(spf_strresult(SPF_TEMPERROR), "temperror");
	assert_string_equal(spf_strresult(SPF_PERMERROR), "permerror");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite),	       cmocka_unit_test(test_own),
		cmocka_unit_test(test_queries),	       cmocka_unit_test(test_macros),
		cmocka_unit_test(test_invalid_domain), cmocka_unit_test(test_driving),
		cmocka_unit_test(test_strresult),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
