/*
 * spf_suite.h — the openspf.org RFC 7208 test suite (rfc7208-tests.yml,
 * release 2014.04, as pyspf ships it) as C tables, for test_spf.c only.
 *
 * Each scenario below is one YAML document of the suite: its description,
 * its zonedata and its tests; each case row is named by the suite's test
 * name, with its helo, host, mailfrom, result and explanation. The zone
 * follows the suite's driver: a name's SPF-type records serve as its TXT
 * records unless it has TXT records of its own (or "TXT: NONE"), since
 * RFC 7208 looks TXT up only; TIMEOUT makes every query of that name
 * without records of the type asked fail temporarily; an MX's preference
 * is dropped (the order is kept). Where the suite accepts two results,
 * the row has both (the first is the one we give).
 *
 * Differences, all in expected explanation text, none in results:
 * v-macro-ip6 expects the nibbles of %{ir} in upper case; RFC 7208 7.4
 * writes them in lower case, as we do ("...e.b.a.b.e.f.a.c.ip6.arpa").
 */
#ifndef TEST_SPF_SUITE_H
#define TEST_SPF_SUITE_H

enum ztype {
	Z_TXT,
	Z_A,
	Z_AAAA,
	Z_MX,
	Z_PTR,
	Z_TIMEOUT, /* queries of types the name has no records of time out */
	Z_EXISTS,  /* the name exists (records of other types only) */
};

struct zrr {
	const char *name;
	enum ztype type;
	const char *data;
	size_t len; /* a TXT record with a NUL byte: its length; else 0 */
};

#define TXT(n, d)                                                                                  \
	{                                                                                          \
		n, Z_TXT, d, 0                                                                     \
	}
#define TXTN(n, d)                                                                                 \
	{                                                                                          \
		n, Z_TXT, d, sizeof(d) - 1                                                         \
	} /* d has a NUL byte */
#define A(n, d)                                                                                    \
	{                                                                                          \
		n, Z_A, d, 0                                                                       \
	}
#define AAAA(n, d)                                                                                 \
	{                                                                                          \
		n, Z_AAAA, d, 0                                                                    \
	}
#define MX(n, d)                                                                                   \
	{                                                                                          \
		n, Z_MX, d, 0                                                                      \
	}
#define PTR(n, d)                                                                                  \
	{                                                                                          \
		n, Z_PTR, d, 0                                                                     \
	}
#define TIMEOUT(n)                                                                                 \
	{                                                                                          \
		n, Z_TIMEOUT, NULL, 0                                                              \
	}
#define EXISTS(n)                                                                                  \
	{                                                                                          \
		n, Z_EXISTS, NULL, 0                                                               \
	}
#define ZEND                                                                                       \
	{                                                                                          \
		NULL, Z_TXT, NULL, 0                                                               \
	}

#define DEFAULT "" /* the suite's "explanation: DEFAULT": no exp= text */

struct scase {
	const char *name; /* the suite's test name */
	const char *helo, *host, *mailfrom;
	enum spf_result want, alt; /* alt: the other result the suite accepts */
	const char *exp;	   /* NULL: not checked */
};

#define C(name, helo, host, from, r)                                                               \
	{                                                                                          \
		name, helo, host, from, r, r, NULL                                                 \
	}
#define C2(name, helo, host, from, r, alt)                                                         \
	{                                                                                          \
		name, helo, host, from, r, alt, NULL                                               \
	}
#define CX(name, helo, host, from, r, exp)                                                         \
	{                                                                                          \
		name, helo, host, from, r, r, exp                                                  \
	}
#define CEND                                                                                       \
	{                                                                                          \
		NULL, NULL, NULL, NULL, SPF_NONE, SPF_NONE, NULL                                   \
	}

/* --- Initial processing --- */

static const struct zrr z_initial[] = {
	TIMEOUT("example.com"),
	TXT("example.net", "v=spf1 -all exp=exp.example.net"),
	TXT("a.example.net", "v=spf1 -all exp=exp.example.net"),
	TXT("exp.example.net", "%{l}"),
	TXT("a12345678901234567890123456789012345678901234567890123456789012.example.com",
	    "v=spf1 -all"),
	TXT("hosed.example.com", "v=spf1 a:\xEF\xBB\xBF"
				 "garbage.example.net -all"),
	TXT("hosed2.example.com", "v=spf1 \x80"
				  "a:example.net -all"),
	TXT("hosed3.example.com", "v=spf1 a:example.net \x96"
				  "all"),
	TXT("nothosed.example.com", "v=spf1 a:example.net -all"),
	TXT("nothosed.example.com", "\x96"),
	TXT("ctrl.example.com", "v=spf1 a:ctrl.example.com\r"
				"ptr -all"),
	A("ctrl.example.com", "192.0.2.3"),
	TXT("fine.example.com", "v=spf1 a  -all"),
	ZEND,
};

static const struct scase c_initial[] = {
	C("toolonglabel", "mail.example.net", "1.2.3.5",
	  "lyme.eater@A123456789012345678901234567890123456789012345678901234567890123.example.com",
	  SPF_NONE),
	C("longlabel", "mail.example.net", "1.2.3.5",
	  "lyme.eater@A12345678901234567890123456789012345678901234567890123456789012.example.com",
	  SPF_FAIL),
	C("emptylabel", "mail.example.net", "1.2.3.5", "lyme.eater@A...example.com", SPF_NONE),
	C("helo-not-fqdn", "A2345678", "1.2.3.5", "", SPF_NONE),
	C("helo-domain-literal", "[1.2.3.5]", "1.2.3.5", "", SPF_NONE),
	CX("nolocalpart", "mail.example.net", "1.2.3.4", "@example.net", SPF_FAIL, "postmaster"),
	C("domain-literal", "OEMCOMPUTER", "1.2.3.5", "foo@[1.2.3.5]", SPF_NONE),
	C("non-ascii-policy", "hosed", "1.2.3.4", "foobar@hosed.example.com", SPF_PERMERROR),
	C("non-ascii-mech", "hosed", "1.2.3.4", "foobar@hosed2.example.com", SPF_PERMERROR),
	C("non-ascii-result", "hosed", "1.2.3.4", "foobar@hosed3.example.com", SPF_PERMERROR),
	CX("non-ascii-non-spf", "hosed", "1.2.3.4", "foobar@nothosed.example.com", SPF_FAIL,
	   DEFAULT),
	C("control-char-policy", "hosed", "192.0.2.3", "foobar@ctrl.example.com", SPF_PERMERROR),
	C("two-spaces", "hosed", "1.2.3.4", "actually@fine.example.com", SPF_FAIL),
	CEND,
};

/* --- Record lookup --- */

static const struct zrr z_lookup[] = {
	TXT("both.example.net", "v=spf1 -all"),
	TXT("txtonly.example.net", "v=spf1 -all"),
	EXISTS("spfonly.example.net"), /* SPF only, TXT: NONE */
	TXT("spftimeout.example.net", "v=spf1 -all"),
	TIMEOUT("spftimeout.example.net"),
	EXISTS("txttimeout.example.net"),
	TIMEOUT("txttimeout.example.net"),
	EXISTS("nospftxttimeout.example.net"),
	TIMEOUT("nospftxttimeout.example.net"),
	TIMEOUT("alltimeout.example.net"),
	ZEND,
};

static const struct scase c_lookup[] = {
	C("both", "mail.example.net", "1.2.3.4", "foo@both.example.net", SPF_FAIL),
	C("txtonly", "mail.example.net", "1.2.3.4", "foo@txtonly.example.net", SPF_FAIL),
	C("spfonly", "mail.example.net", "1.2.3.4", "foo@spfonly.example.net", SPF_NONE),
	C("spftimeout", "mail.example.net", "1.2.3.4", "foo@spftimeout.example.net", SPF_FAIL),
	C("txttimeout", "mail.example.net", "1.2.3.4", "foo@txttimeout.example.net", SPF_TEMPERROR),
	C("nospftxttimeout", "mail.example.net", "1.2.3.4", "foo@nospftxttimeout.example.net",
	  SPF_TEMPERROR),
	C("alltimeout", "mail.example.net", "1.2.3.4", "foo@alltimeout.example.net", SPF_TEMPERROR),
	CEND,
};

/* --- Selecting records --- */

static const struct zrr z_select[] = {
	TXT("example3.com", "v=spf10"),
	TXT("example3.com", "v=spf1 mx"),
	MX("example3.com", "mail.example1.com"),
	TXT("example1.com", "v=spf1"),
	TXT("example2.com", "v=spf1"
			    "mx"), /* ['v=spf1', 'mx']: joined without a space */
	A("mail.example1.com", "1.2.3.4"),
	TXT("example4.com", "v=spf1 -all"), /* its SPF-type v=spf1 +all is not looked up */
	TXT("example5.com", "v=spf1 -all"),
	TXT("example5.com", "v=spf1 +all"),
	TXT("example6.com", "v=spf1 -all"),
	TXT("example6.com", "V=sPf1 +all"),
	TXT("example7.com", "v=spf1 -all"),
	TXT("example7.com", "v=spf1 -all"),
	TXT("example8.com", "v=spf1 +all"),
	TXT("example9.com", "v=SpF1 ~all"),
	ZEND,
};

static const struct scase c_select[] = {
	C("nospace1", "mail.example1.com", "1.2.3.4", "foo@example2.com", SPF_NONE),
	C("empty", "mail1.example1.com", "1.2.3.4", "foo@example1.com", SPF_NEUTRAL),
	C("nospace2", "mail.example1.com", "1.2.3.4", "foo@example3.com", SPF_PASS),
	C("spfoverride", "mail.example1.com", "1.2.3.4", "foo@example4.com", SPF_FAIL),
	C("multitxt1", "mail.example1.com", "1.2.3.4", "foo@example5.com", SPF_PERMERROR),
	C("multitxt2", "mail.example1.com", "1.2.3.4", "foo@example6.com", SPF_PERMERROR),
	C2("multispf1", "mail.example1.com", "1.2.3.4", "foo@example7.com", SPF_PERMERROR,
	   SPF_FAIL),
	C("multispf2", "mail.example1.com", "1.2.3.4", "foo@example8.com", SPF_PASS),
	C("nospf", "mail.example1.com", "1.2.3.4", "foo@mail.example1.com", SPF_NONE),
	C("case-insensitive", "mail.example1.com", "1.2.3.4", "foo@example9.com", SPF_SOFTFAIL),
	CEND,
};

/* --- Record evaluation --- */

static const struct zrr z_eval[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("t1.example.com", "v=spf1 ip4:1.2.3.4 -all moo"),
	TXT("t2.example.com", "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all"),
	TXT("t3.example.com", "v=spf1 moo.cow/far_out=man:dog/cat ip4:1.2.3.4 -all"),
	TXT("t4.example.com", "v=spf1 moo.cow:far_out=man:dog/cat ip4:1.2.3.4 -all"),
	TXT("t5.example.com", "v=spf1 redirect=t5.example.com ~all"),
	TXT("t6.example.com", "v=spf1 ip4:1.2.3.4 redirect=t2.example.com"),
	TXT("t7.example.com", "v=spf1 ip4:1.2.3.4"),
	TXT("t8.example.com", "v=spf1 ip4:1.2.3.4 redirect:t2.example.com"),
	TXT("t9.example.com", "v=spf1 a:foo-bar -all"),
	TXT("t10.example.com", "v=spf1 a:mail.example...com -all"),
	TXT("t11.example.com", "v=spf1 "
			       "a:a123456789012345678901234567890123456789012345678901234567890123"
			       ".example.com -all"),
	TXT("t12.example.com", "v=spf1 a:%{H}.bar -all"),
	ZEND,
};

static const struct scase c_eval[] = {
	C("detect-errors-anywhere", "mail.example.com", "1.2.3.4", "foo@t1.example.com",
	  SPF_PERMERROR),
	C("modifier-charset-good", "mail.example.com", "1.2.3.4", "foo@t2.example.com", SPF_PASS),
	C("modifier-charset-bad1", "mail.example.com", "1.2.3.4", "foo@t3.example.com",
	  SPF_PERMERROR),
	C("modifier-charset-bad2", "mail.example.com", "1.2.3.4", "foo@t4.example.com",
	  SPF_PERMERROR),
	C("redirect-after-mechanisms1", "mail.example.com", "1.2.3.4", "foo@t5.example.com",
	  SPF_SOFTFAIL),
	C("redirect-after-mechanisms2", "mail.example.com", "1.2.3.5", "foo@t6.example.com",
	  SPF_FAIL),
	C("default-result", "mail.example.com", "1.2.3.5", "foo@t7.example.com", SPF_NEUTRAL),
	C("redirect-is-modifier", "mail.example.com", "1.2.3.4", "foo@t8.example.com",
	  SPF_PERMERROR),
	C("invalid-domain", "mail.example.com", "1.2.3.4", "foo@t9.example.com", SPF_PERMERROR),
	C2("invalid-domain-empty-label", "mail.example.com", "1.2.3.4", "foo@t10.example.com",
	   SPF_FAIL, SPF_PERMERROR),
	C2("invalid-domain-long", "mail.example.com", "1.2.3.4", "foo@t11.example.com", SPF_FAIL,
	   SPF_PERMERROR),
	C2("invalid-domain-long-via-macro", "%%%%%%%%%%%%%%%%%%%%%%", "1.2.3.4",
	   "foo@t12.example.com", SPF_FAIL, SPF_PERMERROR),
	CEND,
};

/* --- ALL mechanism syntax --- */

static const struct zrr z_all[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 -all."),
	TXT("e2.example.com", "v=spf1 -all:foobar"),
	TXT("e3.example.com", "v=spf1 -all/8"),
	TXT("e4.example.com", "v=spf1 ?all"),
	TXT("e5.example.com", "v=spf1 all -all"),
	ZEND,
};

static const struct scase c_all[] = {
	C("all-dot", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_PERMERROR),
	C("all-arg", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PERMERROR),
	C("all-cidr", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_PERMERROR),
	C("all-neutral", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_NEUTRAL),
	C("all-double", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PASS),
	CEND,
};

/* --- PTR mechanism syntax --- */

static const struct zrr z_ptr[] = {
	A("mail.example.com", "1.2.3.4"),
	AAAA("mail.example.com", "2001:db8::1"),
	TXT("e1.example.com", "v=spf1 ptr/0 -all"),
	TXT("e2.example.com", "v=spf1 ptr:example.com -all"),
	PTR("4.3.2.1.in-addr.arpa", "e3.example.com"),
	PTR("4.3.2.1.in-addr.arpa", "e4.example.com"),
	PTR("4.3.2.1.in-addr.arpa", "mail.example.com"),
	PTR("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.E.B.A.B.E.F.A.C.ip6.arpa",
	    "e3.example.com"),
	PTR("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.D.0.1.0.0.2.ip6.arpa",
	    "mail.Example.com"),
	TXT("e3.example.com", "v=spf1 ptr -all"),
	A("e3.example.com", "1.2.3.4"),
	AAAA("e3.example.com", "CAFE:BABE::1"),
	TXT("e4.example.com", "v=spf1 ptr -all"),
	TXT("e5.example.com", "v=spf1 ptr:"),
	TXT("e6.example.com", "v=spf1 ptr:example.Com -all"),
	ZEND,
};

static const struct scase c_ptr[] = {
	C("ptr-cidr", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_PERMERROR),
	C("ptr-match-target", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PASS),
	C("ptr-match-implicit", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_PASS),
	C("ptr-nomatch-invalid", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_FAIL),
	C("ptr-match-ip6", "mail.example.com", "CAFE:BABE::1", "foo@e3.example.com", SPF_PASS),
	C("ptr-empty-domain", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PERMERROR),
	C("ptr-case-change", "mail.example.com", "2001:db8::1", "bar@e6.example.com", SPF_PASS),
	CEND,
};

/* --- A mechanism syntax --- */

static const struct zrr z_a[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 a/0 -all"),
	A("e2.example.com", "1.1.1.1"),
	AAAA("e2.example.com", "1234::2"),
	TXT("e2.example.com", "v=spf1 a/0 -all"),
	AAAA("e2a.example.com", "1234::1"),
	TXT("e2a.example.com", "v=spf1 a//0 -all"),
	A("e2b.example.com", "1.1.1.1"),
	TXT("e2b.example.com", "v=spf1 a//0 -all"),
	AAAA("ipv6.example.com", "1234::1"),
	A("ipv6.example.com", "1.1.1.1"),
	TXT("ipv6.example.com", "v=spf1 a -all"),
	TXTN("e3.example.com", "v=spf1 a:foo.example.com\0"),
	TXT("e4.example.com", "v=spf1 a:111.222.33.44"),
	TXT("e5.example.com", "v=spf1 a:abc.123"),
	TXT("e5a.example.com", "v=spf1 a:museum"),
	TXT("e5b.example.com", "v=spf1 a:museum."),
	TXT("e6.example.com", "v=spf1 a//33 -all"),
	TXT("e6a.example.com", "v=spf1 a/33 -all"),
	TXT("e7.example.com", "v=spf1 a//129 -all"),
	A("e8.example.com", "1.2.3.5"),
	AAAA("e8.example.com", "2001:db8:1234::dead:beef"),
	TXT("e8.example.com", "v=spf1 a/24//64 -all"),
	A("e8e.example.com", "1.2.3.5"),
	AAAA("e8e.example.com", "2001:db8:1234::dead:beef"),
	TXT("e8e.example.com", "v=spf1 a/24/64 -all"),
	A("e8a.example.com", "1.2.3.5"),
	AAAA("e8a.example.com", "2001:db8:1234::dead:beef"),
	TXT("e8a.example.com", "v=spf1 a/24 -all"),
	A("e8b.example.com", "1.2.3.5"),
	AAAA("e8b.example.com", "2001:db8:1234::dead:beef"),
	TXT("e8b.example.com", "v=spf1 a//64 -all"),
	TXT("e9.example.com", "v=spf1 a:example.com:8080"),
	TXT("e10.example.com", "v=spf1 a:foo.example.com/24"),
	A("foo.example.com", "1.1.1.1"),
	A("foo.example.com", "1.2.3.5"),
	TXT("e11.example.com", "v=spf1 a:foo:bar/baz.example.com"),
	A("foo:bar/baz.example.com", "1.2.3.4"),
	TXT("e12.example.com", "v=spf1 a:example.-com"),
	TXT("e13.example.com", "v=spf1 a:"),
	TXT("e14.example.com", "v=spf1 a:foo.example.xn--zckzah -all"),
	A("foo.example.xn--zckzah", "1.2.3.4"),
	ZEND,
};

static const struct scase c_a[] = {
	C("a-cidr6", "mail.example.com", "1.2.3.4", "foo@e6.example.com", SPF_FAIL),
	C("a-bad-cidr4", "mail.example.com", "1.2.3.4", "foo@e6a.example.com", SPF_PERMERROR),
	C("a-bad-cidr6", "mail.example.com", "1.2.3.4", "foo@e7.example.com", SPF_PERMERROR),
	C("a-dual-cidr-ip4-match", "mail.example.com", "1.2.3.4", "foo@e8.example.com", SPF_PASS),
	C("a-dual-cidr-ip4-err", "mail.example.com", "1.2.3.4", "foo@e8e.example.com",
	  SPF_PERMERROR),
	C("a-dual-cidr-ip6-match", "mail.example.com", "2001:db8:1234::cafe:babe",
	  "foo@e8.example.com", SPF_PASS),
	C("a-dual-cidr-ip4-default", "mail.example.com", "1.2.3.4", "foo@e8b.example.com",
	  SPF_FAIL),
	C("a-dual-cidr-ip6-default", "mail.example.com", "2001:db8:1234::cafe:babe",
	  "foo@e8a.example.com", SPF_FAIL),
	C("a-multi-ip1", "mail.example.com", "1.2.3.4", "foo@e10.example.com", SPF_PASS),
	C("a-multi-ip2", "mail.example.com", "1.2.3.4", "foo@e10.example.com", SPF_PASS),
	C("a-bad-domain", "mail.example.com", "1.2.3.4", "foo@e9.example.com", SPF_PERMERROR),
	C("a-nxdomain", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_FAIL),
	C("a-cidr4-0", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PASS),
	C("a-cidr4-0-ip6", "mail.example.com", "1234::1", "foo@e2.example.com", SPF_FAIL),
	C("a-cidr6-0-ip4", "mail.example.com", "1.2.3.4", "foo@e2a.example.com", SPF_FAIL),
	C("a-cidr6-0-ip4mapped", "mail.example.com", "::FFFF:1.2.3.4", "foo@e2a.example.com",
	  SPF_FAIL),
	C("a-cidr6-0-ip6", "mail.example.com", "1234::1", "foo@e2a.example.com", SPF_PASS),
	C("a-ip6-dualstack", "mail.example.com", "1234::1", "foo@ipv6.example.com", SPF_PASS),
	C("a-cidr6-0-nxdomain", "mail.example.com", "1234::1", "foo@e2b.example.com", SPF_FAIL),
	C("a-null", "mail.example.com", "1.2.3.5", "foo@e3.example.com", SPF_PERMERROR),
	C("a-numeric", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_PERMERROR),
	C("a-numeric-toplabel", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PERMERROR),
	C("a-dash-in-toplabel", "mail.example.com", "1.2.3.4", "foo@e14.example.com", SPF_PASS),
	C("a-bad-toplabel", "mail.example.com", "1.2.3.4", "foo@e12.example.com", SPF_PERMERROR),
	C("a-only-toplabel", "mail.example.com", "1.2.3.4", "foo@e5a.example.com", SPF_PERMERROR),
	C("a-only-toplabel-trailing-dot", "mail.example.com", "1.2.3.4", "foo@e5b.example.com",
	  SPF_PERMERROR),
	C("a-colon-domain", "mail.example.com", "1.2.3.4", "foo@e11.example.com", SPF_PASS),
	C("a-colon-domain-ip4mapped", "mail.example.com", "::FFFF:1.2.3.4", "foo@e11.example.com",
	  SPF_PASS),
	C("a-empty-domain", "mail.example.com", "1.2.3.4", "foo@e13.example.com", SPF_PERMERROR),
	CEND,
};

/* --- Include mechanism semantics and syntax --- */

static const struct zrr z_include[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("ip5.example.com", "v=spf1 ip4:1.2.3.5 -all"),
	TXT("ip6.example.com", "v=spf1 ip4:1.2.3.6 ~all"),
	TXT("ip7.example.com", "v=spf1 ip4:1.2.3.7 ?all"),
	TIMEOUT("ip8.example.com"),
	TXT("erehwon.example.com", "v=spfl am not an SPF record"),
	TXT("e1.example.com", "v=spf1 include:ip5.example.com ~all"),
	TXT("e2.example.com", "v=spf1 include:ip6.example.com all"),
	TXT("e3.example.com", "v=spf1 include:ip7.example.com -all"),
	TXT("e4.example.com", "v=spf1 include:ip8.example.com -all"),
	TXT("e5.example.com", "v=spf1 include:e6.example.com -all"),
	TXT("e6.example.com", "v=spf1 include +all"),
	TXT("e7.example.com", "v=spf1 include:erehwon.example.com -all"),
	TXT("e8.example.com", "v=spf1 include: -all"),
	TXT("e9.example.com", "v=spf1 include:ip5.example.com/24 -all"),
	ZEND,
};

static const struct scase c_include[] = {
	C("include-fail", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_SOFTFAIL),
	C("include-softfail", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PASS),
	C("include-neutral", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_FAIL),
	C("include-temperror", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_TEMPERROR),
	C("include-permerror", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PERMERROR),
	C("include-syntax-error", "mail.example.com", "1.2.3.4", "foo@e6.example.com",
	  SPF_PERMERROR),
	C("include-cidr", "mail.example.com", "1.2.3.4", "foo@e9.example.com", SPF_PERMERROR),
	C("include-none", "mail.example.com", "1.2.3.4", "foo@e7.example.com", SPF_PERMERROR),
	C("include-empty-domain", "mail.example.com", "1.2.3.4", "foo@e8.example.com",
	  SPF_PERMERROR),
	CEND,
};

/* --- MX mechanism syntax --- */

static const struct zrr z_mx[] = {
	A("mail.example.com", "1.2.3.4"),
	MX("mail.example.com", ""), /* [0, ""]: a null MX */
	TXT("mail.example.com", "v=spf1 mx"),
	TXT("e1.example.com", "v=spf1 mx/0 -all"),
	MX("e1.example.com", "e1.example.com"),
	A("e2.example.com", "1.1.1.1"),
	AAAA("e2.example.com", "1234::2"),
	MX("e2.example.com", "e2.example.com"),
	TXT("e2.example.com", "v=spf1 mx/0 -all"),
	AAAA("e2a.example.com", "1234::1"),
	MX("e2a.example.com", "e2a.example.com"),
	TXT("e2a.example.com", "v=spf1 mx//0 -all"),
	A("e2b.example.com", "1.1.1.1"),
	MX("e2b.example.com", "e2b.example.com"),
	TXT("e2b.example.com", "v=spf1 mx//0 -all"),
	TXTN("e3.example.com", "v=spf1 mx:foo.example.com\0"),
	TXT("e4.example.com", "v=spf1 mx"),
	A("e4.example.com", "1.2.3.4"),
	TXT("e5.example.com", "v=spf1 mx:abc.123"),
	TXT("e6.example.com", "v=spf1 mx//33 -all"),
	TXT("e6a.example.com", "v=spf1 mx/33 -all"),
	TXT("e7.example.com", "v=spf1 mx//129 -all"),
	TXT("e9.example.com", "v=spf1 mx:example.com:8080"),
	TXT("e10.example.com", "v=spf1 mx:foo.example.com/24"),
	MX("foo.example.com", "foo1.example.com"),
	A("foo1.example.com", "1.1.1.1"),
	A("foo1.example.com", "1.2.3.5"),
	TXT("e11.example.com", "v=spf1 mx:foo:bar/baz.example.com"),
	MX("foo:bar/baz.example.com", "foo:bar/baz.example.com"),
	A("foo:bar/baz.example.com", "1.2.3.4"),
	TXT("e12.example.com", "v=spf1 mx:example.-com"),
	TXT("e13.example.com", "v=spf1 mx: -all"),
	ZEND,
};

static const struct scase c_mx[] = {
	C("mx-cidr6", "mail.example.com", "1.2.3.4", "foo@e6.example.com", SPF_FAIL),
	C("mx-bad-cidr4", "mail.example.com", "1.2.3.4", "foo@e6a.example.com", SPF_PERMERROR),
	C("mx-bad-cidr6", "mail.example.com", "1.2.3.4", "foo@e7.example.com", SPF_PERMERROR),
	C("mx-multi-ip1", "mail.example.com", "1.2.3.4", "foo@e10.example.com", SPF_PASS),
	C("mx-multi-ip2", "mail.example.com", "1.2.3.4", "foo@e10.example.com", SPF_PASS),
	C("mx-bad-domain", "mail.example.com", "1.2.3.4", "foo@e9.example.com", SPF_PERMERROR),
	C("mx-nxdomain", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_FAIL),
	C("mx-cidr4-0", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PASS),
	C("mx-cidr4-0-ip6", "mail.example.com", "1234::1", "foo@e2.example.com", SPF_FAIL),
	C("mx-cidr6-0-ip4", "mail.example.com", "1.2.3.4", "foo@e2a.example.com", SPF_FAIL),
	C("mx-cidr6-0-ip4mapped", "mail.example.com", "::FFFF:1.2.3.4", "foo@e2a.example.com",
	  SPF_FAIL),
	C("mx-cidr6-0-ip6", "mail.example.com", "1234::1", "foo@e2a.example.com", SPF_PASS),
	C("mx-cidr6-0-nxdomain", "mail.example.com", "1234::1", "foo@e2b.example.com", SPF_FAIL),
	C("mx-null", "mail.example.com", "1.2.3.5", "foo@e3.example.com", SPF_PERMERROR),
	C("mx-numeric-top-label", "mail.example.com", "1.2.3.4", "foo@e5.example.com",
	  SPF_PERMERROR),
	C("mx-colon-domain", "mail.example.com", "1.2.3.4", "foo@e11.example.com", SPF_PASS),
	C("mx-colon-domain-ip4mapped", "mail.example.com", "::FFFF:1.2.3.4", "foo@e11.example.com",
	  SPF_PASS),
	C("mx-bad-toplab", "mail.example.com", "1.2.3.4", "foo@e12.example.com", SPF_PERMERROR),
	C("mx-empty", "mail.example.com", "1.2.3.4", "", SPF_NEUTRAL),
	C("mx-implicit", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_NEUTRAL),
	C("mx-empty-domain", "mail.example.com", "1.2.3.4", "foo@e13.example.com", SPF_PERMERROR),
	CEND,
};

/* --- EXISTS mechanism syntax --- */

static const struct zrr z_exists[] = {
	A("mail.example.com", "1.2.3.4"),
	AAAA("mail6.example.com", "CAFE:BABE::4"),
	TIMEOUT("err.example.com"),
	TXT("e1.example.com", "v=spf1 exists:"),
	TXT("e2.example.com", "v=spf1 exists"),
	TXT("e3.example.com", "v=spf1 exists:mail.example.com/24"),
	TXT("e4.example.com", "v=spf1 exists:mail.example.com"),
	TXT("e5.example.com", "v=spf1 exists:mail6.example.com -all"),
	TXT("e6.example.com", "v=spf1 exists:err.example.com -all"),
	ZEND,
};

static const struct scase c_exists[] = {
	C("exists-empty-domain", "mail.example.com", "1.2.3.4", "foo@e1.example.com",
	  SPF_PERMERROR),
	C("exists-implicit", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PERMERROR),
	C("exists-cidr", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_PERMERROR),
	C("exists-ip4", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_PASS),
	C("exists-ip6", "mail.example.com", "CAFE:BABE::3", "foo@e4.example.com", SPF_PASS),
	C("exists-ip6only", "mail.example.com", "CAFE:BABE::3", "foo@e5.example.com", SPF_FAIL),
	C("exists-dnserr", "mail.example.com", "CAFE:BABE::3", "foo@e6.example.com", SPF_TEMPERROR),
	CEND,
};

/* --- IP4 mechanism syntax --- */

static const struct zrr z_ip4[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 ip4:1.1.1.1/0 -all"),
	TXT("e2.example.com", "v=spf1 ip4:1.2.3.4/32 -all"),
	TXT("e3.example.com", "v=spf1 ip4:1.2.3.4/33 -all"),
	TXT("e4.example.com", "v=spf1 ip4:1.2.3.4/032 -all"),
	TXT("e5.example.com", "v=spf1 ip4"),
	TXT("e6.example.com", "v=spf1 ip4:1.2.3.4//32"),
	TXT("e7.example.com", "v=spf1 -ip4:1.2.3.4 ip6:::FFFF:1.2.3.4"),
	TXT("e8.example.com", "v=spf1 ip4:1.2.3.4:8080"),
	TXT("e9.example.com", "v=spf1 ip4:1.2.3"),
	ZEND,
};

static const struct scase c_ip4[] = {
	C("cidr4-0", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_PASS),
	C("cidr4-32", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PASS),
	C("cidr4-33", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_PERMERROR),
	C("cidr4-032", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_PERMERROR),
	C("bare-ip4", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PERMERROR),
	C("bad-ip4-port", "mail.example.com", "1.2.3.4", "foo@e8.example.com", SPF_PERMERROR),
	C("bad-ip4-short", "mail.example.com", "1.2.3.4", "foo@e9.example.com", SPF_PERMERROR),
	C("ip4-dual-cidr", "mail.example.com", "1.2.3.4", "foo@e6.example.com", SPF_PERMERROR),
	C("ip4-mapped-ip6", "mail.example.com", "::FFFF:1.2.3.4", "foo@e7.example.com", SPF_FAIL),
	CEND,
};

/* --- IP6 mechanism syntax --- */

static const struct zrr z_ip6[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 -all ip6"),
	TXT("e2.example.com", "v=spf1 ip6:::1.1.1.1/0"),
	TXT("e3.example.com", "v=spf1 ip6:::1.1.1.1/129"),
	TXT("e4.example.com", "v=spf1 ip6:::1.1.1.1//33"),
	TXT("e5.example.com", "v=spf1 ip6:Cafe:Babe:8000::/33"),
	TXT("e6.example.com", "v=spf1 ip6::CAFE::BABE"),
	ZEND,
};

static const struct scase c_ip6[] = {
	C("bare-ip6", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_PERMERROR),
	C("cidr6-0-ip4", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_NEUTRAL),
	C("cidr6-ip4", "mail.example.com", "::FFFF:1.2.3.4", "foo@e2.example.com", SPF_NEUTRAL),
	C("cidr6-0", "mail.example.com", "DEAF:BABE::CAB:FEE", "foo@e2.example.com", SPF_PASS),
	C("cidr6-129", "mail.example.com", "1.2.3.4", "foo@e3.example.com", SPF_PERMERROR),
	C("cidr6-bad", "mail.example.com", "1.2.3.4", "foo@e4.example.com", SPF_PERMERROR),
	C("cidr6-33", "mail.example.com", "CAFE:BABE:8000::", "foo@e5.example.com", SPF_PASS),
	C("cidr6-33-ip4", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_NEUTRAL),
	C("ip6-bad1", "mail.example.com", "1.2.3.4", "foo@e6.example.com", SPF_PERMERROR),
	CEND,
};

/* --- Semantics of exp and other modifiers --- */

static const struct zrr z_exp[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 exp=exp1.example.com redirect=e2.example.com"),
	TXT("e2.example.com", "v=spf1 -all"),
	TXT("e3.example.com", "v=spf1 exp=exp1.example.com redirect=e4.example.com"),
	TXT("e4.example.com", "v=spf1 -all exp=exp2.example.com"),
	TXT("exp1.example.com", "No-see-um"),
	TXT("exp2.example.com", "See me."),
	TXT("exp3.example.com", "Correct!"),
	TXT("exp4.example.com", "%{l} in implementation"),
	TXT("e5.example.com", "v=spf1 1up=foo"),
	TXT("e6.example.com", "v=spf1 =all"),
	TXT("e7.example.com", "v=spf1 include:e3.example.com -all exp=exp3.example.com"),
	TXT("e8.example.com", "v=spf1 -all exp=exp4.example.com"),
	TXT("e9.example.com", "v=spf1 -all foo=%abc"),
	TXT("e10.example.com", "v=spf1 redirect=erehwon.example.com"),
	TXT("e11.example.com", "v=spf1 -all exp=e11msg.example.com"),
	TXT("e11msg.example.com", "Answer a fool according to his folly."),
	TXT("e11msg.example.com", "Do not answer a fool according to his folly."),
	TXT("e12.example.com", "v=spf1 exp= -all"),
	TXT("e13.example.com", "v=spf1 exp=e13msg.example.com -all"),
	TXT("e13msg.example.com", "The %{x}-files."),
	TXT("e14.example.com", "v=spf1 exp=e13msg.example.com -all exp=e11msg.example.com"),
	TXT("e15.example.com", "v=spf1 redirect=e12.example.com -all redirect=e12.example.com"),
	TXT("e16.example.com", "v=spf1 exp=-all"),
	TXT("e17.example.com", "v=spf1 redirect=-all ?all"),
	TXT("e18.example.com", "v=spf1 ?all redirect="),
	TXT("e19.example.com", "v=spf1 default=pass"),
	TXT("e20.example.com", "v=spf1 default=+"),
	TXT("e21.example.com", "v=spf1 exp=e21msg.example.com -all"),
	TIMEOUT("e21msg.example.com"),
	TXT("e22.example.com", "v=spf1 exp=mail.example.com -all"),
	TXT("nonascii.example.com", "v=spf1 exp=badexp.example.com -all"),
	TXT("badexp.example.com", "\xEF\xBB\xBF"
				  "Explanation"),
	TXT("tworecs.example.com", "v=spf1 exp=twoexp.example.com -all"),
	TXT("twoexp.example.com", "one"),
	TXT("twoexp.example.com", "two"),
	TXT("e23.example.com", "v=spf1 a:erehwon.example.com a:foobar.com exp=nxdomain.com -all"),
	TXT("e24.example.com", "v=spf1 redirect=testimplicit.example.com"),
	A("e24.example.com", "192.0.2.1"),
	TXT("testimplicit.example.com", "v=spf1 a -all"),
	A("testimplicit.example.com", "192.0.2.2"),
	ZEND,
};

static const struct scase c_exp[] = {
	C("redirect-none", "mail.example.com", "1.2.3.4", "foo@e10.example.com", SPF_PERMERROR),
	CX("redirect-cancels-exp", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_FAIL,
	   DEFAULT),
	C("redirect-syntax-error", "mail.example.com", "1.2.3.4", "foo@e17.example.com",
	  SPF_PERMERROR),
	CX("include-ignores-exp", "mail.example.com", "1.2.3.4", "foo@e7.example.com", SPF_FAIL,
	   "Correct!"),
	CX("redirect-cancels-prior-exp", "mail.example.com", "1.2.3.4", "foo@e3.example.com",
	   SPF_FAIL, "See me."),
	C("invalid-modifier", "mail.example.com", "1.2.3.4", "foo@e5.example.com", SPF_PERMERROR),
	C("empty-modifier-name", "mail.example.com", "1.2.3.4", "foo@e6.example.com",
	  SPF_PERMERROR),
	CX("dorky-sentinel", "mail.example.com", "1.2.3.4", "Macro Error@e8.example.com", SPF_FAIL,
	   "Macro Error in implementation"),
	CX("exp-multiple-txt", "mail.example.com", "1.2.3.4", "foo@e11.example.com", SPF_FAIL,
	   DEFAULT),
	CX("exp-no-txt", "mail.example.com", "1.2.3.4", "foo@e22.example.com", SPF_FAIL, DEFAULT),
	CX("exp-dns-error", "mail.example.com", "1.2.3.4", "foo@e21.example.com", SPF_FAIL,
	   DEFAULT),
	C("exp-empty-domain", "mail.example.com", "1.2.3.4", "foo@e12.example.com", SPF_PERMERROR),
	CX("explanation-syntax-error", "mail.example.com", "1.2.3.4", "foo@e13.example.com",
	   SPF_FAIL, DEFAULT),
	C("exp-syntax-error", "mail.example.com", "1.2.3.4", "foo@e16.example.com", SPF_PERMERROR),
	C("exp-twice", "mail.example.com", "1.2.3.4", "foo@e14.example.com", SPF_PERMERROR),
	C("redirect-empty-domain", "mail.example.com", "1.2.3.4", "foo@e18.example.com",
	  SPF_PERMERROR),
	C("redirect-twice", "mail.example.com", "1.2.3.4", "foo@e15.example.com", SPF_PERMERROR),
	C("unknown-modifier-syntax", "mail.example.com", "1.2.3.4", "foo@e9.example.com",
	  SPF_PERMERROR),
	C("default-modifier-obsolete", "mail.example.com", "1.2.3.4", "foo@e19.example.com",
	  SPF_NEUTRAL),
	C("default-modifier-obsolete2", "mail.example.com", "1.2.3.4", "foo@e20.example.com",
	  SPF_NEUTRAL),
	CX("non-ascii-exp", "hosed", "1.2.3.4", "foobar@nonascii.example.com", SPF_FAIL, DEFAULT),
	CX("two-exp-records", "hosed", "1.2.3.4", "foobar@tworecs.example.com", SPF_FAIL, DEFAULT),
	C("exp-void", "mail.example.com", "1.2.3.4", "foo@e23.example.com", SPF_FAIL),
	C("redirect-implicit", "e24.example.com", "192.0.2.2", "bar@e24.example.com", SPF_PASS),
	CEND,
};

/* --- Macro expansion rules --- */

#define LONGEXP "somewhat.long.exp.example.com."
static const struct zrr z_macro[] = {
	TXT("example.com.d.spf.example.com", "v=spf1 redirect=a.spf.example.com"),
	TXT("a.spf.example.com", "v=spf1 include:o.spf.example.com. ~all"),
	TXT("o.spf.example.com", "v=spf1 ip4:192.168.218.40"),
	A("msgbas2x.cos.example.com", "192.168.218.40"),
	A("example.com", "192.168.90.76"),
	TXT("example.com", "v=spf1 redirect=%{d}.d.spf.example.com."),
	TXT("exp.example.com", "v=spf1 exp=msg.example.com. -all"),
	TXT("msg.example.com", "This is a test."),
	TXT("e1.example.com", "v=spf1 -exists:%(ir).sbl.example.com ?all"),
	TXT("e1e.example.com", "v=spf1 exists:foo%(ir).sbl.example.com ?all"),
	TXT("e1t.example.com", "v=spf1 exists:foo%.sbl.example.com ?all"),
	TXT("e1a.example.com", "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all"),
	A("macro%percent  space%20url-space.example.com", "1.2.3.4"),
	TXT("e2.example.com", "v=spf1 -all exp=%{r}.example.com"),
	TXT("e3.example.com", "v=spf1 -all exp=%{ir}.example.com"),
	TXT("40.218.168.192.example.com", "Connections from %{c} not authorized."),
	TXT("somewhat.long.exp.example.com",
	    "v=spf1 -all exp=foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com"),
	TXT(LONGEXP LONGEXP LONGEXP LONGEXP LONGEXP LONGEXP LONGEXP LONGEXP "example.com",
	    "Congratulations!  That was tricky."),
	TXT("e4.example.com", "v=spf1 -all exp=e4msg.example.com"),
	TXT("e4msg.example.com", "%{c} is queried as %{ir}.%{v}.arpa"),
	TXT("e5.example.com", "v=spf1 a:%{a}.example.com -all"),
	TXT("e6.example.com", "v=spf1 -all exp=e6msg.example.com"),
	TXT("e6msg.example.com", "connect from %{p}"),
	A("mx.example.com", "192.168.218.41"),
	A("mx.example.com", "192.168.218.42"),
	AAAA("mx.example.com", "CAFE:BABE::2"),
	AAAA("mx.example.com", "CAFE:BABE::3"),
	PTR("40.218.168.192.in-addr.arpa", "mx.example.com"),
	PTR("41.218.168.192.in-addr.arpa", "mx.example.com"),
	PTR("42.218.168.192.in-addr.arpa", "mx.example.com"),
	PTR("42.218.168.192.in-addr.arpa", "mx.e7.example.com"),
	PTR("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.E.B.A.B.E.F.A.C.ip6.arpa",
	    "mx.example.com"),
	PTR("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.E.B.A.B.E.F.A.C.ip6.arpa",
	    "mx.example.com"),
	A("mx.e7.example.com", "192.168.218.42"),
	A("mx.e7.example.com.should.example.com", "127.0.0.2"),
	A("mx.example.com.ok.example.com", "127.0.0.2"),
	TXT("e7.example.com", "v=spf1 exists:%{p}.should.example.com ~exists:%{p}.ok.example.com"),
	TXT("e8.example.com", "v=spf1 -all exp=msg8.%{D2}"),
	TXT("msg8.example.com", "http://example.com/why.html?l=%{L}"),
	TXT("e9.example.com", "v=spf1 a:%{H} -all"),
	TXT("e10.example.com", "v=spf1 -include:_spfh.%{d2} ip4:1.2.3.0/24 -all"),
	TXT("_spfh.example.com", "v=spf1 -a:%{h} +all"),
	TXT("e11.example.com", "v=spf1 exists:%{i}.%{l2r-}.user.%{d2}"),
	A("1.2.3.4.gladstone.philip.user.example.com", "127.0.0.2"),
	TXT("e12.example.com", "v=spf1 exists:%{l2r+-}.user.%{d2}"),
	A("bar.foo.user.example.com", "127.0.0.2"),
	ZEND,
};

#define MSGBAS "msgbas2x.cos.example.com"
static const struct scase c_macro[] = {
	C("trailing-dot-domain", MSGBAS, "192.168.218.40", "test@example.com", SPF_PASS),
	CX("trailing-dot-exp", MSGBAS, "192.168.218.40", "test@exp.example.com", SPF_FAIL,
	   "This is a test."),
	C("exp-only-macro-char", MSGBAS, "192.168.218.40", "test@e2.example.com", SPF_PERMERROR),
	C("invalid-macro-char", MSGBAS, "192.168.218.40", "test@e1.example.com", SPF_PERMERROR),
	C("invalid-embedded-macro-char", MSGBAS, "192.168.218.40", "test@e1e.example.com",
	  SPF_PERMERROR),
	C("invalid-trailing-macro-char", MSGBAS, "192.168.218.40", "test@e1t.example.com",
	  SPF_PERMERROR),
	C("macro-mania-in-domain", "mail.example.com", "1.2.3.4", "test@e1a.example.com", SPF_PASS),
	CX("exp-txt-macro-char", MSGBAS, "192.168.218.40", "test@e3.example.com", SPF_FAIL,
	   "Connections from 192.168.218.40 not authorized."),
	CX("domain-name-truncation", MSGBAS, "192.168.218.40", "test@somewhat.long.exp.example.com",
	   SPF_FAIL, "Congratulations!  That was tricky."),
	CX("v-macro-ip4", MSGBAS, "192.168.218.40", "test@e4.example.com", SPF_FAIL,
	   "192.168.218.40 is queried as 40.218.168.192.in-addr.arpa"),
	CX("v-macro-ip6", MSGBAS, "CAFE:BABE::1", "test@e4.example.com", SPF_FAIL,
	   "cafe:babe::1 is queried as "
	   "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa"),
	C("undef-macro", MSGBAS, "CAFE:BABE::192.168.218.40", "test@e5.example.com", SPF_PERMERROR),
	CX("p-macro-ip4-novalid", MSGBAS, "192.168.218.40", "test@e6.example.com", SPF_FAIL,
	   "connect from unknown"),
	CX("p-macro-ip4-valid", MSGBAS, "192.168.218.41", "test@e6.example.com", SPF_FAIL,
	   "connect from mx.example.com"),
	CX("p-macro-ip6-novalid", MSGBAS, "CAFE:BABE::1", "test@e6.example.com", SPF_FAIL,
	   "connect from unknown"),
	CX("p-macro-ip6-valid", MSGBAS, "CAFE:BABE::3", "test@e6.example.com", SPF_FAIL,
	   "connect from mx.example.com"),
	C2("p-macro-multiple", MSGBAS, "192.168.218.42", "test@e7.example.com", SPF_PASS,
	   SPF_SOFTFAIL),
	CX("upper-macro", MSGBAS, "192.168.218.42", "~jack&jill=up-a_b3.c@e8.example.com", SPF_FAIL,
	   "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c"),
	C("hello-macro", MSGBAS, "192.168.218.40", "test@e9.example.com", SPF_PASS),
	C("invalid-hello-macro", "JUMPIN' JUPITER", "192.168.218.40", "test@e9.example.com",
	  SPF_FAIL),
	C("hello-domain-literal", "[192.168.218.40]", "192.168.218.40", "test@e9.example.com",
	  SPF_FAIL),
	C("require-valid-helo", "OEMCOMPUTER", "1.2.3.4", "test@e10.example.com", SPF_FAIL),
	C("macro-reverse-split-on-dash", "mail.example.com", "1.2.3.4",
	  "philip-gladstone-test@e11.example.com", SPF_PASS),
	C("macro-multiple-delimiters", "mail.example.com", "1.2.3.4",
	  "foo-bar+zip+quux@e12.example.com", SPF_PASS),
	CEND,
};

/* --- Processing limits --- */

static const struct zrr z_limits[] = {
	A("mail.example.com", "1.2.3.4"),
	TXT("e1.example.com", "v=spf1 ip4:1.1.1.1 redirect=e1.example.com"),
	A("e1.example.com", "1.2.3.6"),
	TXT("e2.example.com", "v=spf1 include:e3.example.com"),
	A("e2.example.com", "1.2.3.7"),
	TXT("e3.example.com", "v=spf1 include:e2.example.com"),
	A("e3.example.com", "1.2.3.8"),
	TXT("e4.example.com", "v=spf1 mx"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "mail.example.com"),
	MX("e4.example.com", "e4.example.com"),
	A("e4.example.com", "1.2.3.5"),
	TXT("e5.example.com", "v=spf1 ptr"),
	A("e5.example.com", "1.2.3.5"),
	PTR("5.3.2.1.in-addr.arpa", "e1.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e2.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e3.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e4.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e6.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e7.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e8.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e9.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e10.example.com."),
	PTR("5.3.2.1.in-addr.arpa", "e5.example.com."),
	TXT("e6.example.com", "v=spf1 a mx a mx a mx a mx a ptr ip4:1.2.3.4 -all"),
	A("e6.example.com", "1.2.3.8"),
	MX("e6.example.com", "e6.example.com"),
	TXT("e7.example.com", "v=spf1 a mx a mx a mx a mx a ptr a ip4:1.2.3.4 -all"),
	A("e7.example.com", "1.2.3.20"),
	TXT("e8.example.com", "v=spf1 a include:inc.example.com ip4:1.2.3.4 mx -all"),
	A("e8.example.com", "1.2.3.4"),
	TXT("inc.example.com", "v=spf1 a a a a a a a a"),
	A("inc.example.com", "1.2.3.10"),
	TXT("e9.example.com", "v=spf1 a include:inc.example.com a ip4:1.2.3.4 -all"),
	A("e9.example.com", "1.2.3.21"),
	TXT("e10.example.com", "v=spf1 a -all"),
	A("e10.example.com", "1.2.3.1"),
	A("e10.example.com", "1.2.3.2"),
	A("e10.example.com", "1.2.3.3"),
	A("e10.example.com", "1.2.3.4"),
	A("e10.example.com", "1.2.3.5"),
	A("e10.example.com", "1.2.3.6"),
	A("e10.example.com", "1.2.3.7"),
	A("e10.example.com", "1.2.3.8"),
	A("e10.example.com", "1.2.3.9"),
	A("e10.example.com", "1.2.3.10"),
	A("e10.example.com", "1.2.3.11"),
	A("e10.example.com", "1.2.3.12"),
	TXT("e11.example.com",
	    "v=spf1 a:err.example.com a:err1.example.com a:err2.example.com ?all"),
	TXT("e12.example.com", "v=spf1 a:err.example.com a:err1.example.com ?all"),
	ZEND,
};

static const struct scase c_limits[] = {
	C("redirect-loop", "mail.example.com", "1.2.3.4", "foo@e1.example.com", SPF_PERMERROR),
	C("include-loop", "mail.example.com", "1.2.3.4", "foo@e2.example.com", SPF_PERMERROR),
	C("mx-limit", "mail.example.com", "1.2.3.5", "foo@e4.example.com", SPF_PERMERROR),
	C2("ptr-limit", "mail.example.com", "1.2.3.5", "foo@e5.example.com", SPF_NEUTRAL, SPF_PASS),
	C("false-a-limit", "mail.example.com", "1.2.3.12", "foo@e10.example.com", SPF_PASS),
	C("mech-at-limit", "mail.example.com", "1.2.3.4", "foo@e6.example.com", SPF_PASS),
	C("mech-over-limit", "mail.example.com", "1.2.3.4", "foo@e7.example.com", SPF_PERMERROR),
	C("include-at-limit", "mail.example.com", "1.2.3.4", "foo@e8.example.com", SPF_PASS),
	C("include-over-limit", "mail.example.com", "1.2.3.4", "foo@e9.example.com", SPF_PERMERROR),
	C("void-at-limit", "mail.example.com", "1.2.3.4", "foo@e12.example.com", SPF_NEUTRAL),
	C("void-over-limit", "mail.example.com", "1.2.3.4", "foo@e11.example.com", SPF_PERMERROR),
	CEND,
};

/* --- Test cases from implementation bugs --- */

static const struct zrr z_bugs[] = {
	TXT("example.org", "v=spf1 mx redirect=_spf.example.com"),
	MX("example.org", "smtp.example.org"),
	MX("example.org", "smtp1.example.com"),
	A("smtp.example.org", "198.51.100.2"),
	AAAA("smtp.example.org", "2001:db8:ff0:100::3"),
	A("smtp1.example.com", "192.0.2.26"),
	AAAA("smtp1.example.com", "2001:db8:ff0:200::2"),
	PTR("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.F.F.0.8.B.D.0.1.0.0.2.ip6.arpa",
	    "smtp6-v.fe.example.org"),
	AAAA("smtp6-v.fe.example.org", "2001:db8:ff0:100::2"),
	TXT("_spf.example.com",
	    "v=spf1 ptr:fe.example.org ptr:sgp.example.com exp=_expspf.example.org -all"),
	TXT("_expspf.example.org", "Sender domain not allowed from this host. Please see "
				   "http://www.openspf.org/Why?s=mfrom&id=%{S}&ip=%{C}&r=%{R}"),
	ZEND,
};

static const struct scase c_bugs[] = {
	C("bytes-bug", "example.org", "2001:db8:ff0:100::2", "test@example.org", SPF_PASS),
	CEND,
};

static const struct {
	const char *description; /* the suite's */
	const struct zrr *zone;
	const struct scase *cases;
} suite[] = {
	{"Initial processing", z_initial, c_initial},
	{"Record lookup", z_lookup, c_lookup},
	{"Selecting records", z_select, c_select},
	{"Record evaluation", z_eval, c_eval},
	{"ALL mechanism syntax", z_all, c_all},
	{"PTR mechanism syntax", z_ptr, c_ptr},
	{"A mechanism syntax", z_a, c_a},
	{"Include mechanism semantics and syntax", z_include, c_include},
	{"MX mechanism syntax", z_mx, c_mx},
	{"EXISTS mechanism syntax", z_exists, c_exists},
	{"IP4 mechanism syntax", z_ip4, c_ip4},
	{"IP6 mechanism syntax", z_ip6, c_ip6},
	{"Semantics of exp and other modifiers", z_exp, c_exp},
	{"Macro expansion rules", z_macro, c_macro},
	{"Processing limits", z_limits, c_limits},
	{"Test cases from implementation bugs", z_bugs, c_bugs},
};

#endif
