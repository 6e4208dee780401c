/*
 * fuzz_spool_fmt.c — the spool's formats (relayd/spool_fmt.c): every
 * decoder fed arbitrary bytes, every encoder fed arbitrary values.
 *
 * Input: a 1-byte header. Below 0x80 it is the number of recipients the
 * state file's message has (0..127) and the rest of the input goes, each
 * time copied to end right before an unreadable page (fuzz_guard()), to
 * spool_fmt_env_decode(), to the state file reader, to
 * spool_fmt_rec_decode() (and, when that reads a head, to the envelope
 * decoder again on what follows it, as recovery does) and to the .done
 * reader. From 0x80 up the rest gives the values of a recipient line, of
 * an envelope, of a record head and a .done line (the layout is in
 * encode_values() below) for the encoders.
 *
 * Invariants checked, decoding: no crash and no read past the input; a
 * failure has a reason; what is read stays within what spool_fmt.h
 * allows (a 16 upper-case hex id, an index below the recipients, a state,
 * code and command in range, each field in its alphabet and length, no
 * control byte in any value, at least one recipient, a header that ends
 * with its blank line within the input, a record no longer than
 * FMT_RECORD_MAX); readers move forward and stop; and what was read
 * encodes without error to bytes that read back to the same values and
 * encode again to the same bytes (a record head and a .done line: to the
 * very bytes read; a warned or held flag: its first lines read back the
 * same flag, held absent when not set).
 *
 * Encoding: an encoder refuses exactly the values spool_fmt.h says it
 * refuses (and then appends nothing); otherwise its output is one line
 * per field (a recipient: exactly one line, no control byte but its LF),
 * and reads back to the values a model of spool_fmt.h's rules expects:
 * status kept or "-", names mapped to their alphabet, control bytes in a
 * reply as '?', fields cut at their arrays.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "relayd/spool_fmt.h"
#include "smtp/reply.h"
#include "tests/fuzz/fuzz.h"

static bool
ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
name_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool
relay_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* A NUL-terminated field within SIZE bytes, each byte OK, at most MAX. */
static void
check_field(const char *s, size_t size, size_t max, bool (*ok)(unsigned char), const char *what)
{
	const char *end = memchr(s, '\0', size);

	FUZZ_CHECK(end != NULL, "%s not NUL-terminated", what);
	size_t n = (size_t)(end - s);
	FUZZ_CHECK(n <= max, "%s of %zu bytes", what, n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(ok((unsigned char)s[i]), "%s: byte 0x%02x", what, (unsigned char)s[i]);
}

static bool
not_ctl(unsigned char c)
{
	return !ctl(c);
}

static bool
status_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '.';
}

static bool
code_ok(int code)
{
	return code == 0 || (code >= 200 && code <= 599);
}

static void
check_rcpt(const struct fmt_rcpt *r, size_t nrcpt)
{
	FUZZ_CHECK(r->idx < nrcpt, "index %zu of %zu", r->idx, nrcpt);
	FUZZ_CHECK(r->state >= 0 && r->state <= FMT_STATE_MAX, "state %d", r->state);
	FUZZ_CHECK(code_ok(r->code), "code %d", r->code);
	FUZZ_CHECK(r->cmd >= RCMD_NONE && r->cmd <= RCMD_LAST, "command %d", r->cmd);
	check_field(r->status, sizeof(r->status), FMT_STATUS_MAX, status_char, "status");
	FUZZ_CHECK(r->status[0] == '\0' || strlen(r->status) >= 5, "status \"%s\"", r->status);
	check_field(r->transport, sizeof(r->transport), FMT_NAME_MAX, name_ok, "transport");
	check_field(r->relay, sizeof(r->relay), FMT_RELAY_MAX, relay_ok, "relay");
	check_field(r->detour, sizeof(r->detour), FMT_NAME_MAX, name_ok, "detour");
	check_field(r->reply, sizeof(r->reply), FMT_REPLY_MAX, not_ctl, "reply");
}

static bool
rcpt_eq(const struct fmt_rcpt *a, const struct fmt_rcpt *b)
{
	return a->idx == b->idx && a->state == b->state && a->attempts == b->attempts &&
	       a->next == b->next && a->code == b->code && a->cmd == b->cmd &&
	       strcmp(a->status, b->status) == 0 && strcmp(a->transport, b->transport) == 0 &&
	       strcmp(a->relay, b->relay) == 0 && strcmp(a->detour, b->detour) == 0 &&
	       strcmp(a->reply, b->reply) == 0;
}

/* Read back the one line L (with its LF) for NRCPT recipients. */
static int
read_back(const struct fmt_buf *l, size_t nrcpt, struct fmt_rcpt *r, bool *warned)
{
	struct fuzz_mem m = {0};
	struct fmt_state_rd rd;
	const char *why;

	fuzz_mem(&m, "RELAYD-STATE 2\n", 15);
	fuzz_mem(&m, l->p, l->len);
	const char *g = fuzz_guard(m.p, m.len);
	FUZZ_CHECK(spool_fmt_state_open(&rd, g, m.len, nrcpt, &why) == 0, "version line: %s", why);
	int rc = spool_fmt_state_next(&rd, r, warned, &why);
	struct fmt_rcpt more;
	FUZZ_CHECK(spool_fmt_state_next(&rd, &more, warned, &why) == FMT_END,
		   "one line read back as more");
	free(m.p);
	return rc;
}

/* One line: exactly one LF, at its end, and no other control byte. */
static void
check_one_line(const struct fmt_buf *b, size_t from)
{
	FUZZ_CHECK(b->len > from && b->p[b->len - 1] == '\n', "not a line");
	for (size_t i = from; i < b->len - 1; i++)
		FUZZ_CHECK(!ctl((unsigned char)b->p[i]), "control byte 0x%02x at %zu of a line",
			   (unsigned char)b->p[i], i - from);
}

/* A recipient read: written again, read back the same, written the same. */
static void
round_trip_rcpt(const struct fmt_rcpt *r, size_t nrcpt)
{
	struct fmt_buf b = {0}, b2 = {0};
	struct fmt_rcpt r2;
	const char *why;
	bool warned;

	FUZZ_CHECK(spool_fmt_state_rcpt(&b, r, &why) == 0, "a line read cannot be written: %s",
		   why);
	check_one_line(&b, 0);
	FUZZ_CHECK(read_back(&b, nrcpt, &r2, &warned) == FMT_RCPT, "written line not read");
	FUZZ_CHECK(rcpt_eq(r, &r2), "read back other values: \"%s\"", b.p);
	FUZZ_CHECK(spool_fmt_state_rcpt(&b2, &r2, &why) == 0 && b2.len == b.len &&
			   memcmp(b.p, b2.p, b.len) == 0,
		   "written again differently: \"%s\" then \"%s\"", b.p, b2.p);
	spool_fmt_buf_free(&b);
	spool_fmt_buf_free(&b2);
}

static void
check_env(const struct fmt_env *e)
{
	FUZZ_CHECK(spool_fmt_qid_ok(e->id, strnlen(e->id, sizeof(e->id))), "id \"%s\"", e->id);
	FUZZ_CHECK(e->body >= 0 && e->body <= 2, "body %d", e->body);
	FUZZ_CHECK(e->nrcpt >= 1, "no recipient");
	FUZZ_CHECK(e->client && e->sender, "NULL client or sender");
	const char *vals[] = {e->client, e->sender};
	for (size_t i = 0; i < 2 + e->nrcpt; i++) {
		const char *v = i < 2 ? vals[i] : e->rcpt[i - 2];
		size_t n = strlen(v);
		FUZZ_CHECK(n <= FMT_VALUE_MAX, "a value of %zu bytes", n);
		FUZZ_CHECK(i < 2 || n > 0, "an empty recipient");
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK(!ctl((unsigned char)v[k]), "control byte in a value");
	}
}

static bool
env_eq(const struct fmt_env *a, const struct fmt_env *b)
{
	if (strcmp(a->id, b->id) != 0 || a->arrival != b->arrival || a->size != b->size ||
	    strcmp(a->client ? a->client : "", b->client) != 0 || a->body != b->body ||
	    a->smtputf8 != b->smtputf8 || strcmp(a->sender ? a->sender : "", b->sender) != 0 ||
	    a->nrcpt != b->nrcpt)
		return false;
	for (size_t i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i], b->rcpt[i]) != 0)
			return false;
	return true;
}

/* Encode E (whose encoding must succeed), patch the size; check the
 * header reads back as E. The bytes are left in OUT. */
static void
env_write_read(const struct fmt_env *e, struct fmt_buf *out)
{
	struct fmt_env d;
	size_t at, hlen;
	const char *why;

	FUZZ_CHECK(spool_fmt_env_encode(out, e, &at, &why) == 0, "not written: %s", why);
	FUZZ_CHECK(at + FMT_SIZE_DIGITS < out->len, "size_at %zu of %zu", at, out->len);
	char digits[FMT_SIZE_DIGITS];
	spool_fmt_env_size(digits, e->size);
	FUZZ_CHECK(memcmp(out->p + at, digits, sizeof(digits)) == 0,
		   "size digits at size_at: %.20s", out->p + at);
	/* Lines: magic, id, arrival, size, client, body, smtputf8, from, the
	 * recipients, the blank one: nothing a value held broke one. */
	size_t lines = 0;
	for (size_t i = 0; i < out->len; i++)
		lines += out->p[i] == '\n';
	FUZZ_CHECK(lines == 9 + e->nrcpt, "%zu lines for %zu recipients", lines, e->nrcpt);
	const char *g = fuzz_guard(out->p, out->len);
	FUZZ_CHECK(spool_fmt_env_decode(g, out->len, &d, &hlen, &why) == 0, "not read back: %s",
		   why);
	FUZZ_CHECK(hlen == out->len, "read back %zu of %zu bytes", hlen, out->len);
	FUZZ_CHECK(env_eq(e, &d), "read back other values");
	spool_fmt_env_free(&d);
}

static void
decode_env(const uint8_t *p, size_t n)
{
	const char *g = fuzz_guard(p, n), *why = NULL;
	struct fmt_env e;
	size_t hlen = 0, end = spool_fmt_env_end(g, n);

	if (spool_fmt_env_decode(g, n, &e, &hlen, &why) == -1) {
		FUZZ_CHECK(why && *why, "refused without a reason");
		return;
	}
	FUZZ_CHECK(hlen == end && hlen >= 4 && hlen <= n && p[hlen - 1] == '\n' &&
			   p[hlen - 2] == '\n',
		   "header of %zu bytes (end %zu) in %zu", hlen, end, n);
	check_env(&e);
	struct fmt_buf b = {0}, b2 = {0};
	env_write_read(&e, &b);
	struct fmt_env d;
	size_t h2, at;
	const char *g2 = fuzz_guard(b.p, b.len);
	FUZZ_CHECK(spool_fmt_env_decode(g2, b.len, &d, &h2, &why) == 0, "%s", why);
	FUZZ_CHECK(spool_fmt_env_encode(&b2, &d, &at, &why) == 0, "%s", why);
	spool_fmt_env_size(b2.p + at, d.size);
	FUZZ_CHECK(b2.len == b.len && memcmp(b.p, b2.p, b.len) == 0, "written again differently");
	spool_fmt_env_free(&d);
	spool_fmt_env_free(&e);
	spool_fmt_buf_free(&b);
	spool_fmt_buf_free(&b2);
}

static void
decode_state(const uint8_t *p, size_t n, size_t nrcpt)
{
	const char *g = fuzz_guard(p, n), *why = NULL;
	struct fmt_state_rd rd;
	struct fmt_rcpt r;
	bool flag;
	int rc;

	if (spool_fmt_state_open(&rd, g, n, nrcpt, &why) == -1) {
		FUZZ_CHECK(why && *why, "refused without a reason");
		return;
	}
	FUZZ_CHECK(rd.version == 1 || rd.version == 2, "version %d", rd.version);
	/* Keep the records: the guard region is reused by the checks. */
	struct item {
		int kind;
		bool flag;
		struct fmt_rcpt r;
	} *got = NULL;
	size_t ngot = 0, last = rd.off;
	unsigned lines = rd.line;
	while ((rc = spool_fmt_state_next(&rd, &r, &flag, &why)) != FMT_END) {
		FUZZ_CHECK(rd.off > last && rd.off <= n, "reader at %zu after %zu of %zu", rd.off,
			   last, n);
		FUZZ_CHECK(rd.line == ++lines, "line %u, want %u", rd.line, lines);
		last = rd.off;
		FUZZ_CHECK(rc == -1 || rc == FMT_RCPT || rc == FMT_WARNED || rc == FMT_HELD,
			   "returned %d", rc);
		if (rc == -1) {
			FUZZ_CHECK(why && *why, "bad line without a reason");
			continue;
		}
		struct item *more = realloc(got, (ngot + 1) * sizeof(*got));
		if (more == NULL)
			abort();
		got = more;
		if (rc == FMT_RCPT)
			check_rcpt(&r, nrcpt);
		got[ngot].kind = rc;
		got[ngot].flag = flag;
		got[ngot++].r = r;
	}
	FUZZ_CHECK(rd.off == n, "stopped at %zu of %zu", rd.off, n);
	for (size_t i = 0; i < ngot; i++) {
		if (got[i].kind == FMT_RCPT) {
			round_trip_rcpt(&got[i].r, nrcpt);
			continue;
		}
		/* A flag read is written by spool_fmt_state_begin() and reads
		 * back the same: warned always, held only when set (absent
		 * reads as not held). */
		bool warned = got[i].kind == FMT_WARNED && got[i].flag;
		bool held = got[i].kind == FMT_HELD && got[i].flag;
		struct fmt_buf b = {0};
		FUZZ_CHECK(spool_fmt_state_begin(&b, warned, held, &why) == 0, "%s", why);
		const char *g2 = fuzz_guard(b.p, b.len);
		bool w2 = !warned, h2 = false;
		int k, nw = 0, nh = 0;
		FUZZ_CHECK(spool_fmt_state_open(&rd, g2, b.len, 0, &why) == 0 && rd.version == 2,
			   "the first lines not read back: %s", why);
		while ((k = spool_fmt_state_next(&rd, &r, &flag, &why)) != FMT_END) {
			FUZZ_CHECK(k == FMT_WARNED || k == FMT_HELD, "read back %d", k);
			if (k == FMT_WARNED) {
				w2 = flag;
				nw++;
			} else {
				h2 = flag;
				nh++;
			}
		}
		FUZZ_CHECK(nw == 1 && nh == (held ? 1 : 0) && w2 == warned && h2 == held,
			   "warned %d held %d read back as %d lines of warned %d, %d of held %d",
			   warned, held, nw, w2, nh, h2);
		spool_fmt_buf_free(&b);
	}
	free(got);
}

static void
decode_rec(const uint8_t *p, size_t n)
{
	const char *g = fuzz_guard(p, n), *why = NULL;
	char qid[FMT_QID_LEN + 1], out[FMT_REC_HEAD_MAX];
	uint64_t len;
	size_t hl;

	if (spool_fmt_rec_decode(g, n, qid, &len, &hl, &why) == -1) {
		FUZZ_CHECK(why && *why, "refused without a reason");
		return;
	}
	FUZZ_CHECK(hl <= n && hl <= FMT_REC_HEAD_MAX && p[hl - 1] == '\n', "head of %zu in %zu", hl,
		   n);
	FUZZ_CHECK(spool_fmt_qid_ok(qid, strnlen(qid, sizeof(qid))), "id \"%s\"", qid);
	FUZZ_CHECK(len <= FMT_RECORD_MAX, "record of %llu", (unsigned long long)len);
	size_t k = spool_fmt_rec_encode(out, qid, len);
	FUZZ_CHECK(k == hl && memcmp(out, p, hl) == 0, "written as \"%.*s\"", (int)k, out);
	/* What follows is a header, as recovery reads it. */
	decode_env(p + hl, n - hl);
}

static void
decode_done(const uint8_t *p, size_t n)
{
	const char *g = fuzz_guard(p, n), *why = NULL;
	char qid[FMT_QID_LEN + 1], out[FMT_QID_LEN + 2];
	size_t off = 0, last = 0;
	int rc;

	while ((rc = spool_fmt_done_next(g, n, &off, qid, &why)) != 0) {
		FUZZ_CHECK(off > last && off <= n, "reader at %zu after %zu of %zu", off, last, n);
		FUZZ_CHECK(rc == 1 || rc == -1, "returned %d", rc);
		if (rc == 1) {
			size_t k = spool_fmt_done_encode(out, qid);
			FUZZ_CHECK(k == FMT_QID_LEN + 1 && memcmp(out, p + last, off - last) == 0,
				   "id %s read from other bytes", qid);
		} else {
			FUZZ_CHECK(why && *why, "bad line without a reason");
		}
		last = off;
	}
	FUZZ_CHECK(off == n, "stopped at %zu of %zu", off, n);
}

/* ---- encoders --------------------------------------------------------- */

static uint64_t
bytes_be(struct fuzz_in *in, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | fuzz_byte(in);
	return v;
}

/* Fill the array DST (SIZE bytes) from S: NUL-terminated, or, when FULL,
 * filled to the end without a NUL. */
static void
fill(char *dst, size_t size, const char *s, bool full)
{
	size_t n = strlen(s);
	if (full) {
		memset(dst, 'x', size);
		memcpy(dst, s, n < size ? n : size);
		return;
	}
	snprintf(dst, size, "%s", s);
}

/* The model: how spool_fmt.h says a field is written and read back
 * (DASH: "-" means none). */
static void
model(char *dst, const char *src, size_t max, bool (*ok)(unsigned char), char bad, bool dash)
{
	size_t n = strnlen(src, max);
	for (size_t i = 0; i < n; i++)
		dst[i] = ok((unsigned char)src[i]) ? src[i] : bad;
	dst[n] = '\0';
	if (dash && strcmp(dst, "-") == 0)
		dst[0] = '\0';
}

static bool
status_shape(const char *s, size_t n)
{
	size_t i = 1, k;
	if (n < 5 || n > FMT_STATUS_MAX || s[0] < '0' || s[0] > '9')
		return false;
	for (int part = 0; part < 2; part++) {
		if (i >= n || s[i++] != '.')
			return false;
		for (k = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			;
		if (k < 1 || k > 3)
			return false;
	}
	return i == n;
}

static void
encode_rcpt(struct fuzz_in *in, bool full)
{
	struct fmt_rcpt r, want, got;
	const char *why;
	bool warned;

	memset(&r, 0, sizeof(r));
	r.idx = fuzz_byte(in);
	r.state = (int)(fuzz_byte(in) % 6) - 1;
	r.attempts = (unsigned)bytes_be(in, 4);
	r.next = (int64_t)bytes_be(in, 8);
	r.code = (int)(bytes_be(in, 2) % 700) - 50;
	r.cmd = (int)(fuzz_byte(in) % (RCMD_LAST + 3)) - 1;
	char *s[5] = {fuzz_str(in, false, false), fuzz_str(in, false, false),
		      fuzz_str(in, false, true), fuzz_str(in, false, false),
		      fuzz_str(in, false, true)};
	fill(r.status, sizeof(r.status), s[0], full);
	fill(r.transport, sizeof(r.transport), s[1], full);
	fill(r.relay, sizeof(r.relay), s[2], full);
	fill(r.detour, sizeof(r.detour), s[3], full);
	fill(r.reply, sizeof(r.reply), s[4], full);

	struct fmt_buf b = {0};
	bool refuse = r.state < 0 || r.state > FMT_STATE_MAX || !code_ok(r.code) ||
		      r.cmd < RCMD_NONE || r.cmd > RCMD_LAST;
	int rc = spool_fmt_state_rcpt(&b, &r, &why);
	FUZZ_CHECK((rc == -1) == refuse, "state %d code %d cmd %d: returned %d", r.state, r.code,
		   r.cmd, rc);
	if (rc == 0) {
		check_one_line(&b, 0);
		want = r;
		size_t ns = strnlen(r.status, FMT_STATUS_MAX);
		if (status_shape(r.status, ns)) {
			memcpy(want.status, r.status, ns);
			want.status[ns] = '\0';
		} else {
			want.status[0] = '\0';
		}
		model(want.transport, r.transport, FMT_NAME_MAX, name_ok, '_', true);
		model(want.relay, r.relay, FMT_RELAY_MAX, relay_ok, '?', true);
		model(want.detour, r.detour, FMT_NAME_MAX, name_ok, '_', true);
		model(want.reply, r.reply, FMT_REPLY_MAX, not_ctl, '?', false);
		FUZZ_CHECK(read_back(&b, r.idx + 1, &got, &warned) == FMT_RCPT,
			   "written line not read: \"%s\"", b.p);
		FUZZ_CHECK(rcpt_eq(&got, &want), "read back other values than the model: \"%s\"",
			   b.p);
		round_trip_rcpt(&got, r.idx + 1);
	} else {
		FUZZ_CHECK(b.len == 0 && why && *why, "refused, but wrote or gave no reason");
	}
	spool_fmt_buf_free(&b);
	for (int i = 0; i < 5; i++)
		free(s[i]);
}

static bool
value_ok(const char *v, bool rcpt)
{
	if (v == NULL)
		return !rcpt;
	size_t n = strlen(v);
	if (n > FMT_VALUE_MAX || (rcpt && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (ctl((unsigned char)v[i]))
			return false;
	return true;
}

static void
encode_env_rec_done(struct fuzz_in *in)
{
	static const char hex[] = "0123456789ABCDEF";
	struct fmt_env e;
	char *rc[4] = {NULL, NULL, NULL, NULL};
	const char *why;

	memset(&e, 0, sizeof(e));
	if (fuzz_byte(in) & 1) {
		for (size_t i = 0; i < FMT_QID_LEN; i++)
			e.id[i] = (char)fuzz_byte(in);
	} else {
		for (size_t i = 0; i < FMT_QID_LEN; i += 2) {
			uint8_t x = fuzz_byte(in);
			e.id[i] = hex[x >> 4];
			e.id[i + 1] = hex[x & 15];
		}
	}
	e.arrival = (int64_t)bytes_be(in, 8);
	e.size = bytes_be(in, 8);
	e.body = fuzz_byte(in) % 4;
	e.smtputf8 = fuzz_byte(in) & 1;
	char *client = fuzz_str(in, true, true), *sender = fuzz_str(in, true, true);
	e.client = client;
	e.sender = sender;
	e.nrcpt = fuzz_byte(in) % 5;
	for (size_t i = 0; i < e.nrcpt; i++)
		rc[i] = fuzz_str(in, true, true);
	e.rcpt = (const char *const *)rc;

	bool ok = spool_fmt_qid_ok(e.id, strnlen(e.id, sizeof(e.id))) && e.body <= 2 &&
		  e.nrcpt > 0 && value_ok(client, false) && value_ok(sender, false);
	for (size_t i = 0; i < e.nrcpt; i++)
		ok = ok && value_ok(rc[i], true);
	struct fmt_buf b = {0};
	size_t at;
	if (ok) {
		env_write_read(&e, &b);
	} else {
		FUZZ_CHECK(spool_fmt_env_encode(&b, &e, &at, &why) == -1 && b.len == 0 && why,
			   "values that cannot be written were written");
	}
	spool_fmt_buf_free(&b);

	/* A record head and a .done line for the same id. */
	uint64_t len = bytes_be(in, 4);
	len >>= fuzz_byte(in) % 32;
	char out[FMT_REC_HEAD_MAX], qid[FMT_QID_LEN + 1], done[FMT_QID_LEN + 2];
	size_t hl, k = spool_fmt_rec_encode(out, e.id, len);
	bool id_ok = spool_fmt_qid_ok(e.id, strnlen(e.id, sizeof(e.id)));
	FUZZ_CHECK((k > 0) == (id_ok && len <= FMT_RECORD_MAX), "record head of %llu: %zu bytes",
		   (unsigned long long)len, k);
	if (k > 0) {
		uint64_t len2;
		const char *g = fuzz_guard(out, k);
		FUZZ_CHECK(spool_fmt_rec_decode(g, k, qid, &len2, &hl, &why) == 0 && hl == k &&
				   len2 == len && strcmp(qid, e.id) == 0,
			   "record head not read back");
	}
	k = spool_fmt_done_encode(done, e.id);
	FUZZ_CHECK((k > 0) == id_ok, ".done line of a%s id", id_ok ? " good" : " bad");
	if (k > 0) {
		size_t off = 0;
		const char *g = fuzz_guard(done, k);
		FUZZ_CHECK(spool_fmt_done_next(g, k, &off, qid, &why) == 1 && off == k &&
				   strcmp(qid, e.id) == 0,
			   ".done line not read back");
	}
	free(client);
	free(sender);
	for (size_t i = 0; i < 4; i++)
		free(rc[i]);
}

/*
 * Encoder input after the header byte (bit 0 of which: fill the
 * recipient's arrays to the end, without a NUL): index, state, 4 bytes
 * attempts, 8 next, 2 code, command; strings (1- or 2-byte length first,
 * see fuzz_str()) status, transport, relay (2), detour, reply (2); then
 * the envelope: a byte (odd: 16 raw id bytes follow, even: 8 bytes as
 * hex), 8 bytes arrival, 8 size, body, smtputf8, client and sender
 * (2-byte lengths, 0xffff for NULL), a recipient count (mod 5) and the
 * recipients; then 4 bytes and a shift for a record length.
 */
static void
encode_values(const uint8_t *p, size_t n, bool full)
{
	struct fuzz_in in = {p, n};

	encode_rcpt(&in, full);
	encode_env_rec_done(&in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 0x80) {
		encode_values(data + 1, size - 1, data[0] & 1);
		return 0;
	}
	decode_env(data + 1, size - 1);
	decode_state(data + 1, size - 1, data[0]);
	decode_rec(data + 1, size - 1);
	decode_done(data + 1, size - 1);
	return 0;
}
