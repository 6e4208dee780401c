/*
 * fuzz_data.c — DATA end detection, bare newlines and dot-stuffing
 * (smtp/data.c): data_scan() in both modes, one-shot and in pieces,
 * against a plain reference model; data_stuff() and data_unstuff().
 *
 * Input: a 4-byte header (piece sizes, used in turn: 0..191 -> 1..192
 * bytes, else the rest), then the bytes that follow a DATA command's 354.
 *
 * Invariants checked, in each mode:
 *   - any piecing gives the one-shot result: same output, bytes consumed,
 *     done, size and bare; after done nothing more is consumed; nul is
 *     set exactly when a NUL is among the bytes consumed;
 *   - the one-shot result is the reference model's: lines end at CRLF
 *     (normalize: also at a bare LF or bare CR, which become CRLF), each
 *     line loses one leading '.', gains one again when it then starts with
 *     '.', and the first "." line after a real CRLF ends DATA;
 *   - normalize (or no bare CR/LF): the output is CRLF lines only, no "."
 *     line but the final terminator ("\r\n.\r\n" never occurs before it),
 *     and data_stuff(data_unstuff(output)) gives the output back;
 * and for data_stuff(input): a well-formed body, data_unstuff() of it is
 * the input with every line end made CRLF, and data_scan() of it consumes
 * it whole, ends, flags nothing and passes it on unchanged.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/data.h"
#include "tests/fuzz/fuzz.h"

#define HDR 4

struct result {
	struct fuzz_mem out;
	size_t used;
	bool done, bare, nul;
	uint64_t size;
};

static void
collect(void *arg, const char *buf, size_t len)
{
	FUZZ_CHECK(len > 0, "an empty out() call");
	fuzz_mem(arg, buf, len);
}

static void
result_free(struct result *r)
{
	free(r->out.p);
	memset(r, 0, sizeof(*r));
}

static void
scan_one(const char *in, size_t len, bool normalize, struct result *r)
{
	struct data_scan d;

	data_init(&d, normalize, collect, &r->out);
	r->used = data_scan(&d, in, len);
	FUZZ_CHECK(r->used <= len, "consumed %zu of %zu", r->used, len);
	FUZZ_CHECK(d.done || r->used == len, "consumed %zu of %zu, not done", r->used, len);
	if (d.done) {
		FUZZ_CHECK(r->used >= 3 && in[r->used - 1] == '\n' && in[r->used - 2] == '\r' &&
				   in[r->used - 3] == '.',
			   "done, but the input consumed does not end with \".\\r\\n\"");
		FUZZ_CHECK(data_scan(&d, in + r->used, len - r->used) == 0,
			   "input consumed after done");
	}
	r->done = d.done;
	r->bare = d.bare;
	r->nul = d.nul;
	r->size = d.size;
}

static void
scan_pieces(const char *in, size_t len, bool normalize, const uint8_t *hdr, struct result *r)
{
	struct data_scan d;
	size_t pos = 0, k = 0;

	data_init(&d, normalize, collect, &r->out);
	while (pos < len && !d.done) {
		uint8_t b = hdr[k++ % HDR];
		size_t n = b < 192 ? (size_t)b + 1 : len - pos;
		if (n > len - pos)
			n = len - pos;
		size_t u = data_scan(&d, in + pos, n);
		FUZZ_CHECK(u <= n && (u == n || d.done), "consumed %zu of %zu, done %d", u, n,
			   d.done);
		pos += u;
	}
	r->used = pos;
	r->done = d.done;
	r->bare = d.bare;
	r->nul = d.nul;
	r->size = d.size;
}

/*
 * The reference: data.h's rules written the slow and obvious way, a line
 * at a time. Only complete lines are modelled: when the input ends in the
 * middle of one, R->out holds what came before it and R->used is where it
 * starts (R->size likewise).
 */
static void
reference(const char *in, size_t len, bool normalize, struct result *r)
{
	size_t i = 0, bol, eol, next;
	bool prev_crlf = true;

	memset(r, 0, sizeof(*r));
	fuzz_mem(&r->out, "", 0);
	while (i < len) {
		/* Find the end of the line starting at I. */
		bol = i;
		for (eol = bol; eol < len; eol++) {
			if (in[eol] == '\r' && eol + 1 < len && in[eol + 1] == '\n')
				break;
			if (normalize && in[eol] == '\n')
				break;
			if (normalize && in[eol] == '\r' && eol + 1 < len)
				break; /* a bare CR (not the last byte: that one is pending) */
		}
		if (eol == len)
			break; /* incomplete */
		bool crlf = in[eol] == '\r' && in[eol + 1] == '\n';
		next = eol + (crlf ? 2 : 1);
		if (crlf && prev_crlf && eol - bol == 1 && in[bol] == '.') {
			fuzz_mem(&r->out, ".\r\n", 3);
			r->done = true;
			r->used = next;
			break;
		}
		if (!crlf)
			r->bare = true;
		for (size_t k = bol; k < eol; k++)
			if ((in[k] == '\n' && (k == 0 || in[k - 1] != '\r')) ||
			    (in[k] == '\r' && in[k + 1] != '\n'))
				r->bare = true; /* reject mode: kept as content */
		/* Unstuff, then stuff again. */
		size_t s = bol + (in[bol] == '.' && eol > bol);
		if (s < eol && in[s] == '.')
			fuzz_mem(&r->out, ".", 1);
		fuzz_mem(&r->out, in + s, eol - s);
		fuzz_mem(&r->out, "\r\n", 2);
		r->size += eol - s + 2;
		prev_crlf = crlf;
		i = r->used = next;
	}
	/* A bare LF or CR in the incomplete last line is seen too. */
	if (!r->done)
		for (size_t k = r->used; k < len; k++)
			if ((in[k] == '\n' && (k == 0 || in[k - 1] != '\r')) ||
			    (in[k] == '\r' && k + 1 < len && in[k + 1] != '\n'))
				r->bare = true;
}

static void
count(void *arg, const char *buf, size_t len)
{
	*(uint64_t *)arg += len;
}

/* data_stuff(data_unstuff(B)) == B, and B holds SIZE content bytes. */
static void
check_canonical(const char *b, size_t n, uint64_t size)
{
	struct fuzz_mem content = {0}, again = {0};
	uint64_t got = 0;

	data_unstuff(b, n, collect, &content);
	data_unstuff(b, n, count, &got);
	FUZZ_CHECK(got == size, "size %llu, but the output holds %llu content bytes",
		   (unsigned long long)size, (unsigned long long)got);
	data_stuff(content.p ? content.p : "", content.len, collect, &again);
	FUZZ_CHECK(again.len == n && memcmp(again.p, b, n) == 0,
		   "stuff(unstuff(output)) differs from the output");
	free(content.p);
	free(again.p);
}

static void
scan_mode(const char *in, size_t len, bool normalize, const uint8_t *hdr)
{
	struct result one = {0}, pieces = {0}, ref;
	const char *mode = normalize ? "normalize" : "reject";

	scan_one(in, len, normalize, &one);
	scan_pieces(in, len, normalize, hdr, &pieces);
	FUZZ_CHECK(one.used == pieces.used && one.done == pieces.done && one.bare == pieces.bare &&
			   one.size == pieces.size,
		   "%s: one-shot used %zu done %d bare %d size %llu, in pieces %zu %d %d %llu",
		   mode, one.used, one.done, one.bare, (unsigned long long)one.size, pieces.used,
		   pieces.done, pieces.bare, (unsigned long long)pieces.size);
	FUZZ_CHECK(one.out.len == pieces.out.len &&
			   (one.out.len == 0 || memcmp(one.out.p, pieces.out.p, one.out.len) == 0),
		   "%s: output differs between one-shot and pieces", mode);
	/* NUL: seen exactly when one is among the bytes consumed, however cut. */
	FUZZ_CHECK(one.nul == pieces.nul && one.nul == (memchr(in, '\0', one.used) != NULL),
		   "%s: nul %d, in pieces %d, for a body %s a NUL", mode, one.nul, pieces.nul,
		   memchr(in, '\0', one.used) ? "with" : "without");

	reference(in, len, normalize, &ref);
	FUZZ_CHECK(one.done == ref.done, "%s: done %d, reference %d", mode, one.done, ref.done);
	if (one.done) {
		FUZZ_CHECK(one.used == ref.used && one.size == ref.size && one.bare == ref.bare,
			   "%s: used %zu size %llu bare %d, reference %zu %llu %d", mode, one.used,
			   (unsigned long long)one.size, one.bare, ref.used,
			   (unsigned long long)ref.size, ref.bare);
		FUZZ_CHECK(one.out.len == ref.out.len &&
				   memcmp(one.out.p, ref.out.p, ref.out.len) == 0,
			   "%s: output differs from the reference", mode);
	} else {
		FUZZ_CHECK(one.bare == ref.bare, "%s: bare %d, reference %d", mode, one.bare,
			   ref.bare);
		FUZZ_CHECK(one.out.len >= ref.out.len &&
				   memcmp(one.out.p ? one.out.p : "", ref.out.p, ref.out.len) == 0,
			   "%s: output of the complete lines differs from the reference", mode);
	}
	if (normalize || !one.bare) {
		fuzz_check_body(one.out.p ? one.out.p : "", one.out.len, one.done);
		if (one.done)
			check_canonical(one.out.p, one.out.len, one.size);
	}
	result_free(&one);
	result_free(&pieces);
	result_free(&ref);
}

/* IN with every line end (CRLF, LF, CR) made CRLF and the last line ended. */
static void
crlf_lines(const char *in, size_t len, struct fuzz_mem *m)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			fuzz_mem(m, "\r\n", 2);
			i += in[i] == '\r' && i + 1 < len && in[i + 1] == '\n';
		} else
			fuzz_mem(m, in + i, 1);
	}
	if (len > 0 && in[len - 1] != '\r' && in[len - 1] != '\n')
		fuzz_mem(m, "\r\n", 2);
}

static void
stuff_roundtrip(const char *in, size_t len)
{
	struct fuzz_mem body = {0}, back = {0}, want = {0};
	struct result scan = {0};

	data_stuff(in, len, collect, &body);
	fuzz_check_body(body.p, body.len, true);
	data_unstuff(body.p, body.len, collect, &back);
	crlf_lines(in, len, &want);
	FUZZ_CHECK(back.len == want.len && (want.len == 0 || memcmp(back.p, want.p, want.len) == 0),
		   "unstuff(stuff(x)) is not x with CRLF line ends");
	for (int normalize = 0; normalize < 2; normalize++) {
		scan_one(body.p, body.len, normalize, &scan);
		FUZZ_CHECK(
			scan.done && scan.used == body.len && !scan.bare && scan.size == want.len,
			"scanning a stuffed body: done %d used %zu of %zu bare %d size %llu",
			scan.done, scan.used, body.len, scan.bare, (unsigned long long)scan.size);
		FUZZ_CHECK(scan.out.len == body.len && memcmp(scan.out.p, body.p, body.len) == 0,
			   "scanning a stuffed body changed it");
		result_free(&scan);
	}
	/* Any bytes as a stored body: never more content than input. */
	uint64_t n = 0;
	data_unstuff(in, len, count, &n);
	FUZZ_CHECK(n <= len, "unstuffed %llu bytes out of %zu", (unsigned long long)n, len);
	free(body.p);
	free(back.p);
	free(want.p);
}

/* One input: both scanning modes, then the stuffing round trip. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	/* Any read past the end faults (the input is used whole throughout). */
	size_t len = size - HDR;
	const char *in = fuzz_guard(data + HDR, len);

	scan_mode(in, len, false, data);
	scan_mode(in, len, true, data);
	stuff_roundtrip(in, len);
	return 0;
}
