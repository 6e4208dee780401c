/*
 * fuzz_classify_dsn.c — the reply classifier (smtp/classify.c) on any code,
 * status and text, and DSN building (smtp/dsn.c) with any bytes in every
 * string it takes.
 *
 * Input: 24 header bytes, then length-prefixed strings (see fuzz_str():
 * the largest length means NULL where NULL is allowed), then the original
 * header section (the rest).
 *   [0..1]   code, modulo 700 (0 is a local failure, 6xx is out of range)
 *   [2]      bit 0 delay warning, bits 1-2 recipients (0..3), bit 3 the
 *            classification's label and sender's text go to recipient 0
 *   [3]      per recipient i: bit i delayed, bit 4+i reply_is_smtp
 *   [4..23]  arrival, now, retry_until, last_attempt, unique (4 bytes each,
 *            signed, so times before 1970 and far ahead come up too)
 *   strings  status, text (2-byte length), hostname, qid, sender, then per
 *            recipient addr, status, remote_host, remote_ip, reply (2-byte
 *            length), label, explain
 *
 * Invariants checked, classify(): deterministic; kind is a known one of
 * replies; CLASS_NONE exactly when label and admin are NULL; a sender's text
 * exactly for a code in 400..599; reroute only for a blocklist or
 * reputation; a code outside 400..599 is CLASS_NONE; names and texts are
 * printable. classify_local() on the same status and text: deterministic,
 * never a blocklist, reputation or reroute, CLASS_NONE exactly when label
 * and admin are NULL, always a sender's text. dsn_build(): never NULL here; CRLF line ends
 * only, no NUL, no line over 998 octets; the top-level header section
 * is fields and folds only ("Name: value", then lines starting with a
 * blank) and has the fields dsn.h lists; in the body the boundary occurs
 * only as the three delimiters and the close;
 * the message/delivery-status part is ASCII fields and folds only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "smtp/classify.h"
#include "smtp/dsn.h"
#include "tests/fuzz/fuzz.h"

#define NSTR 32

static char *strs[NSTR];
static size_t nstrs;

static const char *
take(struct fuzz_in *in, bool nullable, bool wide)
{
	return strs[nstrs++] = fuzz_str(in, nullable, wide);
}

static int32_t
i32(struct fuzz_in *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | fuzz_byte(in);
	return (int32_t)v;
}

static void
check_static(const char *s, const char *what)
{
	FUZZ_CHECK(s != NULL && *s != '\0', "%s empty", what);
	for (; *s; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f, "%s: control byte", what);
}

static void
check_classify(int code, const char *status, const char *text, struct classification *c)
{
	struct classification again, local;

	classify(code, status, text, c);
	classify(code, status, text, &again);
	FUZZ_CHECK(c->kind == again.kind && c->label == again.label && c->admin == again.admin &&
			   c->sender == again.sender && c->reroute == again.reroute,
		   "classify() is not deterministic");
	FUZZ_CHECK(c->kind >= CLASS_NONE && c->kind <= CLASS_HOST_UNKNOWN, "kind %d", c->kind);
	FUZZ_CHECK((c->kind == CLASS_NONE) == (c->label == NULL) &&
			   (c->label == NULL) == (c->admin == NULL),
		   "kind %d with label %p, admin %p", c->kind, (const void *)c->label,
		   (const void *)c->admin);
	FUZZ_CHECK((code >= 400 && code <= 599) == (c->sender != NULL), "code %d with sender %p",
		   code, (const void *)c->sender);
	FUZZ_CHECK(!c->reroute || c->kind == CLASS_BLOCKLIST || c->kind == CLASS_REPUTATION,
		   "reroute for %s", classify_name(c->kind));
	FUZZ_CHECK((code >= 400 && code <= 599) || c->kind == CLASS_NONE, "code %d classified %s",
		   code, classify_name(c->kind));
	check_static(classify_name(c->kind), "classify_name()");
	if (c->label != NULL) {
		check_static(c->label, "label");
		check_static(c->admin, "admin");
	}
	if (c->sender != NULL)
		check_static(c->sender, "sender");

	/* The same text as relayd's own reason. */
	classify_local(status, text, &local);
	classify_local(status, text, &again);
	FUZZ_CHECK(local.kind == again.kind && local.label == again.label &&
			   local.admin == again.admin && local.sender == again.sender,
		   "classify_local() is not deterministic");
	FUZZ_CHECK(local.kind <= CLASS_LAST && local.kind != CLASS_BLOCKLIST &&
			   local.kind != CLASS_REPUTATION && !local.reroute,
		   "local reason classified %s", classify_name(local.kind));
	FUZZ_CHECK((local.kind == CLASS_NONE) == (local.label == NULL) &&
			   (local.label == NULL) == (local.admin == NULL) && local.sender != NULL,
		   "local kind %d with label %p, admin %p, sender %p", local.kind,
		   (const void *)local.label, (const void *)local.admin,
		   (const void *)local.sender);
	check_static(local.sender, "local sender");
}

/* Are the lines [P, E) header fields and their folds only (ASCII if ASCII)? */
static void
check_fields(const char *p, const char *e, bool ascii, const char *what)
{
	bool first = true;

	while (p < e) {
		const char *eol = memmem(p, e - p, "\r\n", 2);
		FUZZ_CHECK(eol != NULL, "%s: no CRLF at the end", what);
		if (eol == p) {
			/* Blank lines separate the per-recipient groups. */
			first = true;
			p += 2;
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			FUZZ_CHECK(!first, "%s: a fold with no field before it", what);
		} else {
			const char *q = p;
			while (q < eol && *q != ':' && *q > ' ' && *q < 0x7f)
				q++;
			/* An empty value ("Name:") is allowed (RFC 5322 unstructured). */
			FUZZ_CHECK(q > p && q < eol && q[0] == ':' && (q + 1 == eol || q[1] == ' '),
				   "%s: not a field: \"%.*s\"", what, (int)(eol - p), p);
		}
		if (ascii)
			for (const char *c = p; c < eol; c++)
				FUZZ_CHECK((unsigned char)*c < 0x80, "%s: 8-bit byte", what);
		first = false;
		p = eol + 2;
	}
}

static size_t
occurrences(const char *hay, size_t n, const char *needle)
{
	size_t count = 0, k = strlen(needle);
	const char *p = hay, *e = hay + n;

	while ((p = memmem(p, e - p, needle, k)) != NULL) {
		count++;
		p += k;
	}
	return count;
}

static void
check_dsn(const char *d, size_t len)
{
	size_t i, bol = 0;

	FUZZ_CHECK(strlen(d) == len, "NUL in the DSN (%zu of %zu)", strlen(d), len);
	FUZZ_CHECK(len >= 2 && d[len - 2] == '\r' && d[len - 1] == '\n', "no final CRLF");
	for (i = 0; i < len; i++) {
		if (d[i] == '\r')
			FUZZ_CHECK(i + 1 < len && d[i + 1] == '\n', "bare CR at %zu", i);
		if (d[i] != '\n')
			continue;
		FUZZ_CHECK(i > 0 && d[i - 1] == '\r', "bare LF at %zu", i);
		FUZZ_CHECK(i - 1 - bol <= 998, "line of %zu octets at %zu", i - 1 - bol, bol);
		bol = i + 1;
	}

	/* The top-level header section. */
	const char *body = memmem(d, len, "\r\n\r\n", 4);
	FUZZ_CHECK(body != NULL, "no end of the header section");
	check_fields(d, body + 2, false, "header");
	/* (A long value may be folded right after the colon.) */
	static const char *const fields[] = {
		"From:",       "To:",		"Subject:",	   "Date:",
		"Message-ID:", "MIME-Version:", "Auto-Submitted:", "Content-Type:"};
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "\r\n%s", fields[i]);
		const char *f = strncmp(d, fields[i], strlen(fields[i])) == 0 ? d : strstr(d, want);
		FUZZ_CHECK(f != NULL && f < body, "no %s field", fields[i]);
	}

	/* The boundary, from the Content-Type field (searched for from the
	 * field's start: the hostname in From: and Message-ID: may itself hold
	 * `boundary="` in this harness, which relayd's configuration refuses). */
	const char *ct = strstr(d, "\r\nContent-Type: multipart/report;");
	FUZZ_CHECK(ct != NULL && ct < body, "no multipart/report Content-Type field");
	const char *b = strstr(ct, "boundary=\"");
	FUZZ_CHECK(b != NULL && b < body, "no boundary");
	b += 10;
	const char *be = strchr(b, '"');
	FUZZ_CHECK(be != NULL && be > b && be - b <= 70, "bad boundary");
	char delim[80];
	snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(be - b), b);
	size_t nb = occurrences(body, d + len - body, delim + 4);
	FUZZ_CHECK(nb == 4, "the boundary occurs %zu times in the body", nb);
	const char *p1 = strstr(body, delim), *p2, *p3;
	FUZZ_CHECK(p1 != NULL, "no first part");
	p2 = strstr(p1 + 1, delim);
	FUZZ_CHECK(p2 != NULL, "no second part");
	p3 = strstr(p2 + 1, delim);
	FUZZ_CHECK(p3 != NULL, "no third part");

	/* The message/delivery-status part: its own fields, then the report. */
	const char *s = memmem(p2 + 2, p3 - p2 - 2, "\r\n\r\n", 4);
	FUZZ_CHECK(s != NULL, "no body in the delivery-status part");
	check_fields(s + 4, p3, true, "delivery-status");
}

/* One input: classify() its reply, then build a DSN from all of it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct classification c;
	struct dsn_rcpt rcpt[3];
	struct dsn_msg m;
	size_t i, len;

	if (size < 24)
		return 0;
	nstrs = 0;
	int code = fuzz_byte(&in) << 8;
	code = (code | fuzz_byte(&in)) % 700;
	uint8_t flags = fuzz_byte(&in), rflags = fuzz_byte(&in);
	memset(&m, 0, sizeof(m));
	memset(rcpt, 0, sizeof(rcpt));
	m.delay = flags & 1;
	m.nrcpt = (flags >> 1) & 3;
	m.arrival = i32(&in);
	m.now = i32(&in);
	m.retry_until = i32(&in);
	time_t last = i32(&in);
	m.unique = (uint32_t)i32(&in);

	const char *status = take(&in, true, false);
	const char *text = take(&in, true, true);
	check_classify(code, status, text, &c);

	m.hostname = take(&in, true, false);
	m.qid = take(&in, true, false);
	m.sender = take(&in, true, false);
	for (i = 0; i < m.nrcpt; i++) {
		rcpt[i].addr = take(&in, true, false);
		rcpt[i].status = take(&in, true, false);
		rcpt[i].remote_host = take(&in, true, false);
		rcpt[i].remote_ip = take(&in, true, false);
		rcpt[i].reply = take(&in, true, true);
		rcpt[i].label = take(&in, true, false);
		rcpt[i].explain = take(&in, true, false);
		rcpt[i].delayed = rflags >> i & 1;
		rcpt[i].reply_is_smtp = rflags >> (4 + i) & 1;
		rcpt[i].last_attempt = last;
	}
	if ((flags & 8) && m.nrcpt > 0) {
		rcpt[0].label = c.label;
		rcpt[0].explain = c.sender;
	}
	m.rcpt = rcpt;
	/* The rest: the original header section, NUL bytes and all. */
	m.headers = in.len ? fuzz_guard(in.p, in.len) : NULL;
	m.headers_len = in.len;

	char *dsn = dsn_build(&m, &len);
	FUZZ_CHECK(dsn != NULL, "dsn_build() failed");
	check_dsn(dsn, len);
	free(dsn);
	for (i = 0; i < nstrs; i++)
		free(strs[i]);
	return 0;
}
