/*
 * test_dnswire.c — DNS on the wire for TLSA lookups (relayd/dnswire.c):
 * the exact bytes of queries and the names refused; answers built from
 * tables of records (AD, RCODEs, CNAME chains, RRSIGs and other owners
 * ignored, malformed records), hand-written bytes for compression
 * pointers, every truncation of every good answer in a buffer of exactly
 * that size (run under valgrind or ASan to see reads past it), limits,
 * and the usability rules of RFC 7672.
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

#include "relayd/dnswire.h"

#define QNAME "_25._tcp.mx.example.com"

/* Header flags of answers. */
#define R 0x8180 /* QR, RD, RA */
#define AD 0x0020
#define TC 0x0200

#define H32 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H64 H32 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* --- building messages --- */

struct buf {
	unsigned char b[16384];
	size_t n;
};

static void
put8(struct buf *m, unsigned v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct buf *m, unsigned v)
{
	put8(m, v >> 8 & 0xff);
	put8(m, v & 0xff);
}

static void
put32(struct buf *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* NAME as uncompressed labels, unchecked ("." is the root). */
static void
putname(struct buf *m, const char *name)
{
	const char *p = name;

	while (*p != '\0' && strcmp(p, ".") != 0) {
		size_t l = strcspn(p, ".");
		put8(m, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(m, (unsigned char)p[i]);
		p += l + (p[l] == '.');
	}
	put8(m, 0);
}

static void
puthex(struct buf *m, const char *hex)
{
	unsigned v;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		if (sscanf(hex, "%2x", &v) != 1)
			fail_msg("bad hex \"%s\"", hex);
		put8(m, v);
	}
}

/*
 * A record: RDATA is "0x..." for raw bytes, else by TYPE: a CNAME's
 * target, a TLSA's "USAGE SELECTOR MTYPE [HEX]", hex for anything else.
 * CLASS 0 is IN, TTL 0 is 3600 (but for OPT, whose TTL holds flags).
 */
struct trr {
	const char *owner;
	uint16_t type;
	const char *rdata;
	uint16_t class;
	uint32_t ttl;
};

static void
putrr(struct buf *m, const struct trr *r)
{
	putname(m, r->owner);
	put16(m, r->type);
	put16(m, r->class ? r->class : DNSWIRE_CLASS_IN);
	put32(m, r->ttl || r->type == DNSWIRE_TYPE_OPT ? r->ttl : 3600);
	size_t at = m->n;
	put16(m, 0);
	if (strncmp(r->rdata, "0x", 2) == 0) {
		puthex(m, r->rdata + 2);
	} else if (r->type == DNSWIRE_TYPE_CNAME) {
		putname(m, r->rdata);
	} else if (r->type == DNSWIRE_TYPE_TLSA) {
		unsigned u, s, t;
		int n = 0;
		if (sscanf(r->rdata, "%u %u %u %n", &u, &s, &t, &n) < 3)
			fail_msg("bad TLSA \"%s\"", r->rdata);
		if (n == 0)
			n = (int)strlen(r->rdata);
		put8(m, u);
		put8(m, s);
		put8(m, t);
		puthex(m, r->rdata + n);
	} else {
		puthex(m, r->rdata);
	}
	size_t len = m->n - at - 2;
	m->b[at] = (unsigned char)(len >> 8);
	m->b[at + 1] = len & 0xff;
}

#define MAXRR 12

/* An answer: header, question (unless NOQ), the sections' records. */
struct answer {
	unsigned flags;
	bool noq;
	const char *q;		/* the question's name: NULL for QNAME */
	uint16_t qtype, qclass; /* 0: TLSA, IN */
	int qd;			/* added to the question count */
	int adj;		/* added to the answer count */
	struct trr an[MAXRR], ns[4], ar[4];
	const char *trail; /* hex bytes after the records */
};

static size_t
nrr(const struct trr *r, size_t max)
{
	size_t n = 0;

	while (n < max && r[n].owner != NULL)
		n++;
	return n;
}

static void
build(struct buf *m, const struct answer *a)
{
	size_t an = nrr(a->an, MAXRR), ns = nrr(a->ns, 4), ar = nrr(a->ar, 4);

	m->n = 0;
	put16(m, 0xbeef);
	put16(m, a->flags);
	put16(m, (unsigned)(a->noq ? 0 : 1) + a->qd);
	put16(m, (unsigned)an + a->adj);
	put16(m, (unsigned)ns);
	put16(m, (unsigned)ar);
	if (!a->noq) {
		putname(m, a->q ? a->q : QNAME);
		put16(m, a->qtype ? a->qtype : DNSWIRE_TYPE_TLSA);
		put16(m, a->qclass ? a->qclass : DNSWIRE_CLASS_IN);
	}
	for (size_t i = 0; i < an; i++)
		putrr(m, &a->an[i]);
	for (size_t i = 0; i < ns; i++)
		putrr(m, &a->ns[i]);
	for (size_t i = 0; i < ar; i++)
		putrr(m, &a->ar[i]);
	if (a->trail)
		puthex(m, a->trail);
}

/*
 * Parse the LEN bytes at P from a buffer of exactly that size. The TLSA
 * data must point into it; they are made to point into P instead.
 */
static int
parse_exact(const unsigned char *p, size_t len, const char *qname, struct dnswire_answer *out)
{
	unsigned char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, p, len);
	int rc = dnswire_parse_tlsa(copy, len, qname, out);
	for (size_t i = 0; rc == 0 && i < out->ntlsa; i++) {
		struct dnswire_tlsa *t = &out->tlsa[i];
		if (t->data < copy || t->data > copy + len ||
		    t->len > (size_t)(copy + len - t->data))
			fail_msg("TLSA %zu outside the message", i);
		t->data = p + (t->data - copy);
	}
	free(copy);
	return rc;
}

/* --- queries --- */

/* The whole query for QNAME's TLSA, byte by byte. */
static void
test_query_bytes(void **state)
{
	static const unsigned char want[] = {
		0x12, 0x34,				 /* id */
		0x01, 0x20,				 /* RD, AD */
		0,    1,    0,	  0,   0,   0,	 0,   1, /* QD 1, AN 0, NS 0, AR 1 */
		3,    '_',  '2',  '5', 4,   '_', 't', 'c', 'p', 2,   'm', 'x', 7,
		'e',  'x',  'a',  'm', 'p', 'l', 'e', 3,   'c', 'o', 'm', 0, /* the name */
		0,    52,   0,	  1,					     /* TLSA, IN */
		0,							     /* OPT: the root */
		0,    41,						     /* OPT */
		0x04, 0xd0,						     /* UDP size 1232 */
		0,    0,    0x80, 0, /* extended RCODE 0, version 0, DO */
		0,    0,	     /* no options */
	};
	unsigned char buf[DNSWIRE_QUERY_MAX];

	memset(buf, 0xaa, sizeof(buf));
	int n = dnswire_query(0x1234, QNAME, DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[n], 0xaa); /* nothing written past it */

	/* A trailing dot changes nothing; case is kept as given. */
	n = dnswire_query(0x1234, QNAME ".", DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	n = dnswire_query(0x1234, "_25._TCP.mx.example.com", DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
	assert_int_equal(buf[18], 'T');

	/* Another type, another id. */
	n = dnswire_query(0xfffe, "example.com", DNSWIRE_TYPE_A, buf, sizeof(buf));
	assert_int_equal(n, 12 + 13 + 4 + 11);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xfe);
	assert_int_equal(buf[12 + 13], 0);
	assert_int_equal(buf[12 + 13 + 1], DNSWIRE_TYPE_A);

	/* The buffer: exactly enough, one byte short. */
	size_t need = sizeof(want);
	assert_int_equal(dnswire_query(1, QNAME, DNSWIRE_TYPE_TLSA, buf, need), (int)need);
	assert_int_equal(dnswire_query(1, QNAME, DNSWIRE_TYPE_TLSA, buf, need - 1), -1);
	assert_int_equal(dnswire_query(1, QNAME, DNSWIRE_TYPE_TLSA, buf, 0), -1);
}

#define L63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
#define L61 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi"

/* Names: which are refused, and how long the query is for the others. */
static void
test_query_names(void **state)
{
	static const struct {
		const char *name;
		int want; /* the name's wire length, -1: refused */
	} cases[] = {
		{NULL, -1},
		{"", -1},
		{".", -1},
		{"..", -1},
		{".example.com", -1},
		{"example..com", -1},
		{"example.com..", -1},
		{"a", 3},
		{"a.", 3},
		{"com", 5},
		{L63 ".com", 1 + 63 + 4 + 1},
		{L63 "x.com", -1},			  /* a label of 64 */
		{L63 "." L63 "." L63 "." L61, 255},	  /* 253 characters */
		{L63 "." L63 "." L63 "." L61 ".", 255},	  /* and its dot */
		{L63 "." L63 "." L63 "." L61 "x", -1},	  /* 254 characters */
		{L63 "." L63 "." L63 "." L63, -1},	  /* 255 characters */
		{"a\\.b.example", 1 + 3 + 1 + 1 + 7 + 1}, /* no escapes: '\' is a byte */
		{"\xff\x01 *._tcp.example", 1 + 4 + 1 + 4 + 1 + 7 + 1}, /* any byte */
	};
	unsigned char buf[DNSWIRE_QUERY_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = dnswire_query(7, cases[i].name, DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
		int want = cases[i].want == -1 ? -1 : 12 + cases[i].want + 4 + 11;
		if (n != want)
			fail_msg("\"%s\": got %d, want %d",
				 cases[i].name ? cases[i].name : "(null)", n, want);
	}
}

/* --- answers from tables --- */

#define Q(type, rdata)                                                                             \
	{                                                                                          \
		QNAME, type, rdata, 0, 0                                                           \
	}
#define TLSA(owner, rdata)                                                                         \
	{                                                                                          \
		owner, DNSWIRE_TYPE_TLSA, rdata, 0, 0                                              \
	}
#define CNAME(owner, target)                                                                       \
	{                                                                                          \
		owner, DNSWIRE_TYPE_CNAME, target, 0, 0                                            \
	}
#define RRSIG(owner)                                                                               \
	{                                                                                          \
		owner, DNSWIRE_TYPE_RRSIG, "0034080400000e10" H32, 0, 0                            \
	}
#define SOA(owner)                                                                                 \
	{                                                                                          \
		owner, DNSWIRE_TYPE_SOA, "0000000000000000000000000000000000000000000000", 0, 0    \
	}
#define OPT(flags)                                                                                 \
	{                                                                                          \
		".", DNSWIRE_TYPE_OPT, "", 1232, flags                                             \
	}
#define T311 "3 1 1 " H32
#define T211 "2 1 1 " H32

static const struct acase {
	const char *what;
	struct answer a;
	int rc; /* 0 or -1 */
	int rcode;
	size_t ntlsa;
	bool ad, edns;
	const char *cname; /* cname_target */
	const char *why;   /* after -1 */
	const char *qname; /* asked: NULL for QNAME */
} acases[] = {
	{"3 1 1, AD", {R | AD, .an = {Q(DNSWIRE_TYPE_TLSA, T311)}}, .ntlsa = 1, .ad = true},
	{"3 1 1 without AD", {R, .an = {Q(DNSWIRE_TYPE_TLSA, T311)}}, .ntlsa = 1},
	{"3 1 1 and 2 1 1 with RRSIGs",
	 {R | AD,
	  .an = {RRSIG(QNAME), Q(DNSWIRE_TYPE_TLSA, T311), RRSIG(QNAME),
		 Q(DNSWIRE_TYPE_TLSA, T211)},
	  .ar = {OPT(0x8000)}},
	 .ntlsa = 2,
	 .ad = true,
	 .edns = true},
	{"a name asked in another case",
	 {R | AD, .an = {TLSA("_25._TCP.MX.EXAMPLE.COM", T311)}},
	 .ntlsa = 1,
	 .ad = true,
	 .qname = "_25._tcp.Mx.Example.Com."},
	{"a question in another case", {R, .q = "_25._TCP.mx.EXAMPLE.com"}, .rc = 0},
	{"NODATA", {R | AD, .ns = {SOA("example.com"), RRSIG("example.com")}}, .ad = true},
	{"NXDOMAIN", {R | AD | 3, .ns = {SOA("example.com")}}, .rcode = 3, .ad = true},
	{"SERVFAIL", {.flags = R | 2}, .rcode = 2},
	{"SERVFAIL with a record gives none",
	 {R | 2, .an = {Q(DNSWIRE_TYPE_TLSA, T311)}},
	 .rcode = 2},
	{"REFUSED without the question", {R | 5, .noq = true}, .rcode = 5},
	{"FORMERR without the question", {R | 1, .noq = true}, .rcode = 1},
	{"NOERROR without the question", {R, .noq = true}, .rc = -1, .why = "not one question"},
	{"NXDOMAIN without the question",
	 {R | 3, .noq = true},
	 .rc = -1,
	 .why = "not one question"},
	{"two questions", {R, .qd = 1}, .rc = -1, .why = "not one question"},
	{"BADVERS", {R, .ar = {OPT(0x01000000)}}, .rcode = 16, .edns = true},
	{"BADVERS gives no records",
	 {R, .an = {Q(DNSWIRE_TYPE_TLSA, T311)}, .ar = {OPT(0x01008000)}},
	 .rcode = 16,
	 .edns = true},
	{"the same record twice is twice",
	 {R | AD, .an = {Q(52, T311), Q(52, T311)}},
	 .ntlsa = 2,
	 .ad = true},

	/* other records */
	{"other owners, types and classes ignored",
	 {R | AD,
	  .an = {TLSA("_25._tcp.other.example.com", T311),
		 TLSA("_443._tcp.mx.example.com", T311),
		 TLSA("mx.example.com", T311),
		 TLSA("x._25._tcp.mx.example.com", T311),
		 {QNAME, DNSWIRE_TYPE_TLSA, T211, 3 /* CH */, 0},
		 Q(DNSWIRE_TYPE_TXT, "0568656c6c6f"),
		 Q(DNSWIRE_TYPE_A, "c0000201"),
		 Q(DNSWIRE_TYPE_TLSA, T311)},
	  .ns = {TLSA(QNAME, T211)}, .ar = {TLSA(QNAME, T211), OPT(0x8000)}},
	 .ntlsa = 1,
	 .ad = true,
	 .edns = true},
	{"a byte one bit from a letter's case is another byte",
	 {R, .q = "_25._tcp.m[.example.com"},
	 .rc = -1,
	 .why = "an answer for another name",
	 .qname = "_25._tcp.m{.example.com"},
	{"an empty TLSA", {R, .an = {Q(DNSWIRE_TYPE_TLSA, "3 1 1")}}, .ntlsa = 1},
	{"a TLSA of 2 bytes",
	 {R, .an = {Q(DNSWIRE_TYPE_TLSA, "0x0301")}},
	 .rc = -1,
	 .why = "a TLSA record shorter than 3 bytes"},
	{"a TLSA of 0 bytes, another owner's",
	 {R, .an = {TLSA("other.example", "0x")}},
	 .rc = -1,
	 .why = "a TLSA record shorter than 3 bytes"},
	{"a short TLSA outside the answer section", {R, .ns = {TLSA(QNAME, "0x03")}}, .rc = 0},
	{"unknown usage, selector and type returned",
	 {R, .an = {Q(DNSWIRE_TYPE_TLSA, "255 255 255 00"), Q(DNSWIRE_TYPE_TLSA, "0 0 0 ab")}},
	 .ntlsa = 2},
	{"CNAME garbage outside the answer section is not read",
	 {R, .ns = {CNAME(QNAME, "0xff")}, .ar = {CNAME(QNAME, "0x0161")}},
	 .rc = 0},

	/* CNAME chains */
	{"a CNAME chain",
	 {R | AD, .an = {CNAME(QNAME, "_25._tcp.a.example.net"), RRSIG(QNAME),
			 CNAME("_25._tcp.a.example.net", "tlsa.b.example.org"),
			 TLSA("tlsa.b.example.org", T311), TLSA("tlsa.b.example.org", T211)}},
	 .ntlsa = 2,
	 .ad = true,
	 .cname = "tlsa.b.example.org"},
	{"a CNAME chain in reverse order",
	 {R, .an = {TLSA("TLSA.b.example.org", T311),
		    CNAME("_25._tcp.a.example.net", "tlsa.b.example.org"),
		    CNAME(QNAME, "_25._tcp.a.example.net")}},
	 .ntlsa = 1,
	 .cname = "tlsa.b.example.org"},
	{"the qname's own TLSA ignored beside its CNAME",
	 {R, .an = {Q(DNSWIRE_TYPE_TLSA, T211), CNAME(QNAME, "t.example.net"),
		    TLSA("t.example.net", T311)}},
	 .ntlsa = 1,
	 .cname = "t.example.net"},
	{"a CNAME target without TLSA",
	 {R | AD, .an = {CNAME(QNAME, "T.example.net")}},
	 .ad = true,
	 .cname = "T.example.net"},
	{"a CNAME to a name that does not exist",
	 {R | 3, .an = {CNAME(QNAME, "gone.example.net")}, .ns = {SOA("example.net")}},
	 .rcode = 3,
	 .cname = "gone.example.net"},
	{"a CNAME of class CH ignored",
	 {R, .an = {{QNAME, DNSWIRE_TYPE_CNAME, "t.example.net", 3, 0}, Q(52, T311)}},
	 .ntlsa = 1},
	{"a CNAME to the root",
	 {R, .an = {CNAME(QNAME, "."), TLSA(".", T311)}},
	 .ntlsa = 1,
	 .cname = "."},
	{"8 CNAMEs",
	 {R, .an = {CNAME(QNAME, "c1"), CNAME("c1", "c2"), CNAME("c2", "c3"), CNAME("c3", "c4"),
		    CNAME("c4", "c5"), CNAME("c5", "c6"), CNAME("c6", "c7"), CNAME("c7", "c8"),
		    TLSA("c8", T311)}},
	 .ntlsa = 1,
	 .cname = "c8"},
	{"9 CNAMEs",
	 {R, .an = {CNAME(QNAME, "c1"), CNAME("c1", "c2"), CNAME("c2", "c3"), CNAME("c3", "c4"),
		    CNAME("c4", "c5"), CNAME("c5", "c6"), CNAME("c6", "c7"), CNAME("c7", "c8"),
		    CNAME("c8", "c9"), TLSA("c9", T311)}},
	 .rc = -1,
	 .why = "a CNAME chain too long"},
	{"a CNAME loop",
	 {R, .an = {CNAME(QNAME, "a.example"), CNAME("a.example", "b.example"),
		    CNAME("B.example", "_25._tcp.MX.example.com")}},
	 .rc = -1,
	 .why = "a CNAME loop"},
	{"a CNAME of itself", {R, .an = {CNAME(QNAME, QNAME)}}, .rc = -1, .why = "a CNAME loop"},
	{"a loop 8 CNAMEs away",
	 {R, .an = {CNAME(QNAME, "c1"), CNAME("c1", "c2"), CNAME("c2", "c3"), CNAME("c3", "c4"),
		    CNAME("c4", "c5"), CNAME("c5", "c6"), CNAME("c6", "c7"), CNAME("c7", "c8"),
		    CNAME("c8", "c8")}},
	 .rc = -1,
	 .why = "a CNAME loop"},
	{"two CNAMEs of one name",
	 {R, .an = {CNAME(QNAME, "a.example"), CNAME(QNAME, "b.example")}},
	 .rc = -1,
	 .why = "two CNAME records for one name"},
	{"a CNAME with bytes after its name",
	 {R, .an = {CNAME(QNAME, "0x016100ff")}},
	 .rc = -1,
	 .why = "a CNAME with bytes after its name"},
	{"a CNAME whose name runs past its data",
	 {R, .an = {CNAME(QNAME, "0x0361"), Q(52, T311)}},
	 .rc = -1,
	 .why = "a label runs past the end"},
	{"a CNAME of another owner is checked too",
	 {R, .an = {CNAME("x.example", "0x"), Q(52, T311)}},
	 .rc = -1,
	 .why = "a name runs past the end"},
	{"a CNAME target with a dot in a label",
	 {R, .an = {CNAME(QNAME, "0x03612e6200")}},
	 .rc = -1,
	 .why = "a CNAME target with '.' or NUL inside a label"},
	{"a CNAME target with NUL in a label",
	 {R, .an = {CNAME(QNAME, "0x0261000362636400")}},
	 .rc = -1,
	 .why = "a CNAME target with '.' or NUL inside a label"},
	{"a CNAME target with other bytes",
	 {R, .an = {CNAME(QNAME, "0x03a0205c00")}},
	 .cname = "\xa0 \\"},

	/* the header and question */
	{"TC", {R | TC | AD, .an = {Q(DNSWIRE_TYPE_TLSA, T311)}, .adj = 5}, .ad = true},
	{"TC with the question cut",
	 {R | TC, .noq = true, .qd = 1},
	 .rc = -1,
	 .why = "a name runs past the end"},
	{"TC, REFUSED, without the question", {R | TC | 5, .noq = true}, .rcode = 5},
	{"a query", {0x0100, .an = {Q(52, T311)}}, .rc = -1, .why = "not a response"},
	{"opcode IQUERY",
	 {R | 0x0800, .an = {Q(52, T311)}},
	 .rc = -1,
	 .why = "not a standard query's response"},
	{"opcode NOTIFY",
	 {.flags = R | 0x2000},
	 .rc = -1,
	 .why = "not a standard query's response"},
	{"another name",
	 {R, .q = "_25._tcp.mx.example.net"},
	 .rc = -1,
	 .why = "an answer for another name"},
	{"a longer name", {R, .q = "x." QNAME}, .rc = -1, .why = "an answer for another name"},
	{"another type",
	 {R, .qtype = DNSWIRE_TYPE_A},
	 .rc = -1,
	 .why = "an answer for another type"},
	{"another class", {R, .qclass = 3}, .rc = -1, .why = "an answer for another class"},
	{"a bad name asked",
	 {.flags = R},
	 .rc = -1,
	 .why = "the name asked is no DNS name",
	 .qname = "a..b"},
	{"an empty name asked",
	 {.flags = R},
	 .rc = -1,
	 .why = "the name asked is no DNS name",
	 .qname = ""},

	/* the sections */
	{"more records counted than there are",
	 {R, .an = {Q(52, T311)}, .adj = 1},
	 .rc = -1,
	 .why = "a name runs past the end"},
	{"bytes after the last record",
	 {R, .an = {Q(52, T311)}, .trail = "00"},
	 .rc = -1,
	 .why = "bytes after the last record"},
	{"two OPT records", {R, .ar = {OPT(0), OPT(0)}}, .rc = -1, .why = "two OPT records"},
	{"an OPT record in the answer section",
	 {R, .an = {OPT(0)}},
	 .rc = -1,
	 .why = "an OPT record outside the additional section"},
	{"an OPT record not owned by the root",
	 {R, .ar = {{"x", DNSWIRE_TYPE_OPT, "", 512, 0}}},
	 .rc = -1,
	 .why = "an OPT record not owned by the root"},
	{"an OPT record with options",
	 {R, .ar = {{".", DNSWIRE_TYPE_OPT, "000a0000", 512, 0}}},
	 .edns = true},
	{"a name of 257 bytes",
	 {R, .an = {TLSA(L63 "." L63 "." L63 "." L63, T311)}},
	 .rc = -1,
	 .why = "a name longer than 255 bytes"},
	{"a name of 255 bytes", {R, .an = {TLSA(L63 "." L63 "." L63 "." L61, T311)}}, .rc = 0},
};

static void
test_answers(void **state)
{
	static struct buf m;
	struct dnswire_answer out;

	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *c = &acases[i];
		build(&m, &c->a);
		int rc = parse_exact(m.b, m.n, c->qname ? c->qname : QNAME, &out);
		if (rc != c->rc)
			fail_msg("%s: got %d (%s), want %d", c->what, rc, out.why ? out.why : "",
				 c->rc);
		if (rc == -1) {
			if (c->why && (out.why == NULL || strcmp(out.why, c->why) != 0))
				fail_msg("%s: got \"%s\", want \"%s\"", c->what, out.why, c->why);
			continue;
		}
		if (out.why != NULL)
			fail_msg("%s: a reason \"%s\" with 0", c->what, out.why);
		if (out.id != 0xbeef)
			fail_msg("%s: got id %#x", c->what, out.id);
		if (out.rcode != c->rcode)
			fail_msg("%s: got rcode %d, want %d", c->what, out.rcode, c->rcode);
		if (out.ntlsa != c->ntlsa)
			fail_msg("%s: got %zu TLSA, want %zu", c->what, out.ntlsa, c->ntlsa);
		if (out.ad != c->ad)
			fail_msg("%s: got AD %d, want %d", c->what, out.ad, c->ad);
		if (out.tc != ((c->a.flags & TC) != 0))
			fail_msg("%s: got TC %d", c->what, out.tc);
		if (out.edns != c->edns)
			fail_msg("%s: got EDNS %d, want %d", c->what, out.edns, c->edns);
		const char *cname = c->cname ? c->cname : "";
		if (strcmp(out.cname_target, cname) != 0)
			fail_msg("%s: got CNAME target \"%s\", want \"%s\"", c->what,
				 out.cname_target, cname);
		if ((out.ncname == 0) != (*cname == '\0'))
			fail_msg("%s: %zu CNAMEs, target \"%s\"", c->what, out.ncname, cname);
	}
}

/* The fields of the records, where their data points, the TTL kept. */
static void
test_tlsa_fields(void **state)
{
	static struct buf m;
	struct dnswire_answer out;
	const struct answer a = {
		R | AD,
		.an = {{QNAME, DNSWIRE_TYPE_TLSA, T311, 0, 600},
		       RRSIG(QNAME),
		       {QNAME, DNSWIRE_TYPE_TLSA, "2 0 2 " H64, 0, 7200},
		       {QNAME, DNSWIRE_TYPE_TLSA, "3 0 0 3082", 0, 0x80000000}},
	};

	build(&m, &a);
	assert_int_equal(dnswire_parse_tlsa(m.b, m.n, QNAME, &out), 0);
	assert_int_equal(out.ntlsa, 3);
	assert_true(out.ad);
	assert_int_equal(out.tlsa[0].usage, 3);
	assert_int_equal(out.tlsa[0].selector, 1);
	assert_int_equal(out.tlsa[0].mtype, 1);
	assert_int_equal(out.tlsa[0].len, 32);
	assert_int_equal(out.tlsa[0].data[0], 0x00);
	assert_int_equal(out.tlsa[0].data[1], 0x11);
	assert_int_equal(out.tlsa[0].data[31], 0xff);
	assert_int_equal(out.tlsa[1].usage, 2);
	assert_int_equal(out.tlsa[1].selector, 0);
	assert_int_equal(out.tlsa[1].mtype, 2);
	assert_int_equal(out.tlsa[1].len, 64);
	assert_int_equal(out.tlsa[1].data[63], 0x00);
	assert_int_equal(out.tlsa[2].len, 2);
	assert_int_equal(out.tlsa[2].data[0], 0x30);
	/* Pointers into the message, not copies. */
	assert_true(out.tlsa[2].data > m.b && out.tlsa[2].data + 2 == m.b + m.n);
	assert_true(dnswire_tlsa_usable(&out.tlsa[0]));
	assert_true(dnswire_tlsa_usable(&out.tlsa[1]));
	assert_true(dnswire_tlsa_usable(&out.tlsa[2]));
	/* RFC 2181 8: a TTL with the top bit set is 0. */
	assert_int_equal(out.ttl, 0);

	/* The least TTL among the CNAME and the TLSA records used. */
	const struct answer b = {
		R,
		.an = {{QNAME, DNSWIRE_TYPE_CNAME, "t.example", 0, 300},
		       {"t.example", DNSWIRE_TYPE_TLSA, T311, 0, 900},
		       {"t.example", DNSWIRE_TYPE_TLSA, T211, 0, 400},
		       {"other.example", DNSWIRE_TYPE_TLSA, T211, 0, 5}},
		.ar = {OPT(0x8000)},
	};
	build(&m, &b);
	assert_int_equal(dnswire_parse_tlsa(m.b, m.n, QNAME, &out), 0);
	assert_int_equal(out.ntlsa, 2);
	assert_int_equal(out.ttl, 300);
	assert_int_equal(out.ncname, 1);
	assert_true(out.edns);
	assert_true(out.dobit);
	assert_false(out.ad);

	/* No records: no TTL. */
	const struct answer c = {R, .ar = {OPT(0)}};
	build(&m, &c);
	assert_int_equal(dnswire_parse_tlsa(m.b, m.n, QNAME, &out), 0);
	assert_int_equal(out.ttl, 0);
	assert_true(out.edns);
	assert_false(out.dobit);
}

/* 32 records fit, the 33rd is malformed (only the qname's count). */
static void
test_many(void **state)
{
	static struct buf m;
	struct dnswire_answer out;
	struct trr t = Q(DNSWIRE_TYPE_TLSA, T311), other = TLSA("other.example", T311);

	for (int extra = 0; extra <= 1; extra++) {
		m.n = 0;
		put16(&m, 1);
		put16(&m, R | AD);
		put16(&m, 1);
		put16(&m, DNSWIRE_TLSA_MAX + extra + 40);
		put16(&m, 0);
		put16(&m, 0);
		putname(&m, QNAME);
		put16(&m, DNSWIRE_TYPE_TLSA);
		put16(&m, DNSWIRE_CLASS_IN);
		for (int i = 0; i < DNSWIRE_TLSA_MAX + extra; i++)
			putrr(&m, &t);
		for (int i = 0; i < 40; i++)
			putrr(&m, &other);
		int rc = dnswire_parse_tlsa(m.b, m.n, QNAME, &out);
		if (extra == 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(out.ntlsa, DNSWIRE_TLSA_MAX);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(out.why, "too many TLSA records");
		}
	}
}

/* --- compression pointers, by hand --- */

#define HDR(an) 0xbe, 0xef, 0x81, 0xa0, 0, 1, 0, an, 0, 0, 0, 0
/* QNAME at 12: "_25" at 12, "_tcp" at 16, "mx" at 21, "example" at 24,
 * "com" at 32, the root at 36; then TLSA IN; the answers begin at 41. */
#define QN                                                                                         \
	3, '_', '2', '5', 4, '_', 't', 'c', 'p', 2, 'm', 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l',     \
		'e', 3, 'c', 'o', 'm', 0
#define QUESTION QN, 0, 52, 0, 1
#define D32                                                                                        \
	0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,     \
		0xff, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,   \
		0xdd, 0xee, 0xff
/* After an owner: TLSA IN, TTL 3600, 35 bytes of 3 1 1. */
#define TLSA311 0, 52, 0, 1, 0, 0, 0x0e, 0x10, 0, 35, 3, 1, 1, D32
#define CNAMEHDR(len) 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, len

static const unsigned char c_question[] = {HDR(1), QUESTION, 0xc0, 12, TLSA311};
static const unsigned char c_suffix[] = {HDR(1), QUESTION, 3,	'_', '2',  '5', 4,
					 '_',	 't',	   'c', 'p', 0xc0, 21,	TLSA311};
/* QNAME CNAME _25._tcp.mail + example.com at 24 (its rdata at 53); the TLSA
 * owner points to that rdata. */
static const unsigned char c_cname[] = {
	HDR(2), QUESTION, 0xc0, 12,  CNAMEHDR(16), 3,	'_', '2',  '5', 4,    '_', 't',
	'c',	'p',	  4,	'm', 'a',	   'i', 'l', 0xc0, 24,	0xc0, 53,  TLSA311};
static const unsigned char c_self[] = {HDR(1), QUESTION, 0xc0, 41, TLSA311};
static const unsigned char c_self_label[] = {HDR(1), QUESTION, 1, 'a', 0xc0, 41, TLSA311};
static const unsigned char c_forward[] = {HDR(1), QUESTION, 0xc0, 60, TLSA311};
static const unsigned char c_out[] = {HDR(1), QUESTION, 0xff, 0xff, TLSA311};
static const unsigned char c_header[] = {HDR(1), QUESTION, 0xc0, 4, TLSA311};
static const unsigned char c_zero[] = {HDR(1), QUESTION, 0xc0, 0, TLSA311};
static const unsigned char c_in_question[] = {HDR(0), 1, 'a', 0xc0, 12, 0, 52, 0, 1};
static const unsigned char c_cut[] = {HDR(1), QUESTION, 0xc0};
static const unsigned char c_ext01[] = {HDR(1), QUESTION, 0x41, 'a', 0, TLSA311};
static const unsigned char c_ext10[] = {HDR(1), QUESTION, 0x81, 'a', 0, TLSA311};
static const unsigned char c_ext_question[] = {HDR(0), 0x41, 'a', 0, 0, 52, 0, 1};
/* A TXT at 41 whose rdata (at 53) is "b" then a pointer to the CNAME's
 * rdata at 69, which is "a" then a pointer back to 53: a loop. */
static const unsigned char c_loop[] = {HDR(2), QUESTION, 0xc0,	      12, 0,   16,   0,	  1,	0,
				       0,      0x0e,	 0x10,	      0,  4,   1,    'b', 0xc0, 69,
				       0xc0,   12,	 CNAMEHDR(4), 1,  'a', 0xc0, 53};
/* The same with the TXT's pointer going to the CNAME's own start. */
static const unsigned char c_backward[] = {HDR(2), QUESTION, 0xc0,	  12, 0,   16,	 0,   1, 0,
					   0,	   0x0e,     0x10,	  0,  4,   1,	 'b', 0, 0,
					   0xc0,   12,	     CNAMEHDR(4), 1,  'a', 0xc0, 53};
/* A pointer in a CNAME's rdata into the name of the record before. */
static const unsigned char c_cname_ptr[] = {HDR(2), QUESTION, 0xc0, 12, CNAMEHDR(2),
					    0xc0,   24,	      0xc0, 24, TLSA311};

static void
test_compression(void **state)
{
	static const struct {
		const char *what;
		const unsigned char *msg;
		size_t len;
		int rc;
		size_t ntlsa;
		const char *why;
		const char *cname;
	} cases[] = {
#define C(m) m, sizeof(m)
		{"the owner is the question's name", C(c_question), 0, 1, NULL, NULL},
		{"the owner is labels and a suffix", C(c_suffix), 0, 1, NULL, NULL},
		{"a CNAME's target and the next owner compressed", C(c_cname), 0, 1, NULL,
		 "_25._tcp.mail.example.com"},
		{"a CNAME to example.com by a pointer", C(c_cname_ptr), 0, 1, NULL, "example.com"},
		{"a pointer to itself", C(c_self), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"a pointer to its own name", C(c_self_label), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"a pointer forward", C(c_forward), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"a pointer out of the message", C(c_out), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"a pointer into the header", C(c_header), -1, 0,
		 "a compression pointer into the header", NULL},
		{"a pointer to 0", C(c_zero), -1, 0, "a compression pointer into the header", NULL},
		{"a pointer in the question", C(c_in_question), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"the label type 01", C(c_ext01), -1, 0, "an extended label type", NULL},
		{"the label type 10", C(c_ext10), -1, 0, "an extended label type", NULL},
		{"the label type 01 in the question", C(c_ext_question), -1, 0,
		 "an extended label type", NULL},
		{"a pointer cut", C(c_cut), -1, 0, "a compression pointer runs past the end", NULL},
		{"a loop of two pointers", C(c_loop), -1, 0,
		 "a compression pointer forward or in a loop", NULL},
		{"a pointer back to a good name", C(c_backward), 0, 0, NULL, "a.b"},
#undef C
	};
	struct dnswire_answer out;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse_exact(cases[i].msg, cases[i].len, QNAME, &out);
		if (rc != cases[i].rc)
			fail_msg("%s: got %d (%s), want %d", cases[i].what, rc,
				 out.why ? out.why : "", cases[i].rc);
		if (rc == -1 && strcmp(out.why, cases[i].why) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].what, out.why,
				 cases[i].why);
		if (rc == 0 && out.ntlsa != cases[i].ntlsa)
			fail_msg("%s: got %zu TLSA, want %zu", cases[i].what, out.ntlsa,
				 cases[i].ntlsa);
		const char *cname = cases[i].cname ? cases[i].cname : "";
		if (rc == 0 && strcmp(out.cname_target, cname) != 0)
			fail_msg("%s: got CNAME target \"%s\", want \"%s\"", cases[i].what,
				 out.cname_target, cname);
	}
}

/*
 * Every good answer of the tables cut at every length, each in a buffer of
 * exactly that length: malformed, unless TC let the records go unread. One
 * byte more is malformed too.
 */
static void
test_truncated(void **state)
{
	static struct buf m;
	struct dnswire_answer out;
	int cut = 0;

	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *c = &acases[i];
		if (c->rc != 0)
			continue;
		build(&m, &c->a);
		const char *q = c->qname ? c->qname : QNAME;
		bool tc = (c->a.flags & TC) != 0;
		for (size_t len = 0; len < m.n; len++, cut++) {
			int rc = parse_exact(m.b, len, q, &out);
			if (rc != -1 && !(tc && rc == 0))
				fail_msg("%s cut to %zu of %zu: got %d", c->what, len, m.n, rc);
			if (rc == -1 && out.why == NULL)
				fail_msg("%s cut to %zu: no reason", c->what, len);
		}
		m.b[m.n++] = 0;
		int rc = parse_exact(m.b, m.n, q, &out);
		if (rc != (tc ? 0 : -1))
			fail_msg("%s with a byte more: got %d", c->what, rc);
	}
	print_message("%d truncated answers\n", cut);
}

/* Our own query sent back as its answer: no records, EDNS with DO. */
static void
test_query_answered(void **state)
{
	unsigned char buf[DNSWIRE_QUERY_MAX];
	struct dnswire_answer out;

	int n = dnswire_query(0x4242, QNAME, DNSWIRE_TYPE_TLSA, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(dnswire_parse_tlsa(buf, (size_t)n, QNAME, &out), -1);
	assert_string_equal(out.why, "not a response");
	buf[2] |= 0x80;
	assert_int_equal(dnswire_parse_tlsa(buf, (size_t)n, QNAME, &out), 0);
	assert_int_equal(out.id, 0x4242);
	assert_int_equal(out.rcode, 0);
	assert_true(out.ad);
	assert_true(out.edns);
	assert_true(out.dobit);
	assert_int_equal(out.ntlsa, 0);
	assert_int_equal(dnswire_parse_tlsa(buf, (size_t)n, "_25._tcp.mx.example.org", &out), -1);
	assert_string_equal(out.why, "an answer for another name");
}

static void
test_usable(void **state)
{
	static const struct {
		uint8_t usage, selector, mtype;
		size_t len;
		bool want;
	} cases[] = {
		{3, 1, 1, 32, true},	{2, 1, 1, 32, true},	{3, 0, 1, 32, true},
		{2, 0, 2, 64, true},	{3, 1, 2, 64, true},	{3, 1, 0, 294, true},
		{2, 0, 0, 1, true},	{0, 0, 1, 32, false}, /* PKIX-TA */
		{1, 1, 1, 32, false},			      /* PKIX-EE */
		{4, 1, 1, 32, false},	{255, 1, 1, 32, false}, {3, 2, 1, 32, false},
		{3, 255, 1, 32, false}, {3, 1, 3, 32, false},	{3, 1, 255, 32, false},
		{3, 1, 1, 31, false},	{3, 1, 1, 33, false},	{3, 1, 1, 64, false},
		{3, 1, 2, 32, false},	{3, 1, 2, 63, false},	{3, 1, 1, 0, false},
		{3, 1, 0, 0, false},
	};
	static const unsigned char data[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dnswire_tlsa t = {cases[i].usage, cases[i].selector, cases[i].mtype, data,
					 cases[i].len};
		bool got = dnswire_tlsa_usable(&t);
		if (got != cases[i].want)
			fail_msg("%u %u %u with %zu bytes: got %d, want %d", t.usage, t.selector,
				 t.mtype, t.len, got, cases[i].want);
	}
}

static void
test_rcode_name(void **state)
{
	static const struct {
		int rcode;
		const char *want;
	} cases[] = {
		{0, "NOERROR"},	 {1, "FORMERR"},    {2, "SERVFAIL"}, {3, "NXDOMAIN"},
		{4, "NOTIMP"},	 {5, "REFUSED"},    {6, "YXDOMAIN"}, {9, "NOTAUTH"},
		{12, "UNKNOWN"}, {15, "UNKNOWN"},   {16, "BADVERS"}, {23, "BADCOOKIE"},
		{24, "UNKNOWN"}, {4095, "UNKNOWN"}, {-1, "UNKNOWN"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = dnswire_rcode_name(cases[i].rcode);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%d: got %s, want %s", cases[i].rcode, got, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_bytes), cmocka_unit_test(test_query_names),
		cmocka_unit_test(test_answers),	    cmocka_unit_test(test_tlsa_fields),
		cmocka_unit_test(test_many),	    cmocka_unit_test(test_compression),
		cmocka_unit_test(test_truncated),   cmocka_unit_test(test_query_answered),
		cmocka_unit_test(test_usable),	    cmocka_unit_test(test_rcode_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
