/*
 * test_data.c — unit tests for smtp/data.c: the DATA scanner and stuffing.
 *
 * Every scanner case is run on the input in one piece, in two pieces at
 * every split point, in three pieces at every pair of split points and
 * byte by byte: the result must not depend on how the input arrives.
 * Random inputs are checked against a line-based reference model written
 * from the contract in data.h, independently of the state machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/data.h"

#define LIT(s) s, sizeof(s) - 1

struct buf {
	char *p;
	size_t len, cap;
	size_t calls;	   /* out() calls */
	size_t zero_calls; /* out() calls with nothing to say */
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_out(void *arg, const char *s, size_t n)
{
	struct buf *b = arg;

	b->calls++;
	if (n == 0)
		b->zero_calls++;
	buf_add(b, s, n);
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool
buf_eq(const struct buf *b, const char *s, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->p, s, n) == 0);
}

/* Printable form of bytes for failure messages (rotating static buffers). */
static const char *
esc(const char *s, size_t n)
{
	static char bufs[4][2048];
	static int next;
	char *out = bufs[next++ % 4];
	size_t o = 0, i;

	for (i = 0; i < n && o + 8 < sizeof(bufs[0]); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			o += sprintf(out + o, "\\r");
		else if (c == '\n')
			o += sprintf(out + o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (i < n)
		o += sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

/* Deterministic PRNG (xorshift64*), so failures reproduce everywhere. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

struct scan_result {
	struct buf out;
	size_t consumed;
	bool done, bare;
	uint64_t size;
	bool overrun; /* input offered after done was consumed */
};

/*
 * Scan IN cut at the NCUTS ascending offsets CUTS. Feeding stops at the
 * chunk that ends DATA, as a server would; the rest is the next command.
 */
static void
scan(bool normalize, const char *in, size_t len, const size_t *cuts, size_t ncuts,
     struct scan_result *r)
{
	struct data_scan d;
	size_t start = 0, end, i, n;

	memset(r, 0, sizeof(*r));
	data_init(&d, normalize, buf_out, &r->out);
	for (i = 0; i <= ncuts && start < len; i++) {
		end = i < ncuts ? cuts[i] : len;
		if (end <= start)
			continue;
		n = data_scan(&d, in + start, end - start);
		r->consumed += n;
		if (n > end - start)
			r->overrun = true;
		if (d.done)
			break;
		if (n != end - start)
			r->overrun = true; /* short count without done */
		start = end;
	}
	/* After the end nothing more is consumed. */
	if (d.done && data_scan(&d, "x", 1) != 0)
		r->overrun = true;
	r->done = d.done;
	r->bare = d.bare;
	r->size = d.size;
}

static bool
result_eq(const struct scan_result *a, const struct scan_result *b)
{
	return buf_eq(&a->out, b->out.p, b->out.len) && a->consumed == b->consumed &&
	       a->done == b->done && a->bare == b->bare && a->size == b->size && !a->overrun &&
	       !b->overrun;
}

static const char *
result_str(const struct scan_result *r)
{
	static char s[2][2400];
	static int next;
	char *o = s[next++ % 2];

	snprintf(o, sizeof(s[0]), "out \"%s\" consumed %zu done %d bare %d size %llu%s",
		 esc(r->out.p, r->out.len), r->consumed, r->done, r->bare,
		 (unsigned long long)r->size, r->overrun ? " OVERRUN" : "");
	return o;
}

/*
 * Check that every way of cutting IN gives the same result as one piece;
 * returns the number of mismatches (reported) and leaves the one-piece
 * result in *WHOLE.
 */
static int
scan_all_splits(const char *name, bool normalize, const char *in, size_t len,
		struct scan_result *whole)
{
	struct scan_result r;
	size_t cuts[2], *bytes, i, j;
	int bad = 0;

	scan(normalize, in, len, NULL, 0, whole);

	for (i = 1; i < len; i++) {
		cuts[0] = i;
		scan(normalize, in, len, cuts, 1, &r);
		if (!result_eq(&r, whole)) {
			print_error("%s (%s): split at %zu: got %s, want %s\n", name,
				    normalize ? "normalize" : "reject", i, result_str(&r),
				    result_str(whole));
			bad++;
		}
		buf_free(&r.out);
		for (j = i + 1; j < len; j++) {
			cuts[1] = j;
			scan(normalize, in, len, cuts, 2, &r);
			if (!result_eq(&r, whole)) {
				print_error("%s (%s): split at %zu,%zu: got %s, want %s\n", name,
					    normalize ? "normalize" : "reject", i, j,
					    result_str(&r), result_str(whole));
				bad++;
			}
			buf_free(&r.out);
		}
	}

	bytes = malloc((len + 1) * sizeof(*bytes));
	assert_non_null(bytes);
	for (i = 0; i < len; i++)
		bytes[i] = i + 1;
	scan(normalize, in, len, bytes, len, &r);
	if (!result_eq(&r, whole)) {
		print_error("%s (%s): byte by byte: got %s, want %s\n", name,
			    normalize ? "normalize" : "reject", result_str(&r), result_str(whole));
		bad++;
	}
	buf_free(&r.out);
	free(bytes);
	return bad;
}

/* Occurrences of NEEDLE in B. */
static size_t
count(const struct buf *b, const char *needle)
{
	size_t n = 0, k = strlen(needle), i;

	for (i = 0; i + k <= b->len; i++)
		if (memcmp(b->p + i, needle, k) == 0)
			n++;
	return n;
}

/* A CR not followed by LF or an LF not preceded by CR in B. */
static bool
has_bare(const struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++) {
		if (b->p[i] == '\r' && (i + 1 == b->len || b->p[i + 1] != '\n'))
			return true;
		if (b->p[i] == '\n' && (i == 0 || b->p[i - 1] != '\r'))
			return true;
	}
	return false;
}

enum mode { N = 1, R = 2, NR = 3 };

/* clang-format off */
static const struct {
	const char *name;
	int modes; /* which modes the row is for */
	const char *in;
	size_t inlen;
	const char *want;
	size_t wantlen;
	size_t consumed; /* SIZE_MAX: all of it */
	bool done, bare;
	uint64_t size;
} scan_cases[] = {
	{ "empty message", NR, LIT(".\r\n"), LIT(".\r\n"), 3, true, false, 0 },
	{ "empty message, next command", NR, LIT(".\r\nQUIT\r\n"), LIT(".\r\n"), 3, true, false,
	  0 },
	{ "one line", NR, LIT("hello\r\n.\r\n"), LIT("hello\r\n.\r\n"), SIZE_MAX, true, false, 7 },
	{ "next command after end", NR, LIT("a\r\n.\r\nQUIT\r\n"), LIT("a\r\n.\r\n"), 6, true,
	  false, 3 },
	{ "pipelined next message", NR, LIT("a\r\n.\r\nMAIL FROM:<>\r\n"), LIT("a\r\n.\r\n"), 6,
	  true, false, 3 },
	{ "empty first line", NR, LIT("\r\n.\r\n"), LIT("\r\n.\r\n"), SIZE_MAX, true, false, 2 },
	{ "stuffed dot line", NR, LIT("..\r\n.\r\n"), LIT("..\r\n.\r\n"), SIZE_MAX, true, false,
	  3 },
	{ "stuffed text", NR, LIT("..foo\r\n.\r\n"), LIT("..foo\r\n.\r\n"), SIZE_MAX, true, false,
	  6 },
	{ "three dots", NR, LIT("...\r\n.\r\n"), LIT("...\r\n.\r\n"), SIZE_MAX, true, false, 4 },
	{ "unstuffed dot text", NR, LIT(".foo\r\n.\r\n"), LIT("foo\r\n.\r\n"), SIZE_MAX, true,
	  false, 5 },
	{ "dot space", NR, LIT(". \r\n.\r\n"), LIT(" \r\n.\r\n"), SIZE_MAX, true, false, 3 },
	{ "dot not at line start", NR, LIT("a.\r\nb.c\r\n.\r\n"), LIT("a.\r\nb.c\r\n.\r\n"),
	  SIZE_MAX, true, false, 9 },
	{ "dot line in middle", NR, LIT("a\r\n.x\r\nb\r\n.\r\n"), LIT("a\r\nx\r\nb\r\n.\r\n"),
	  SIZE_MAX, true, false, 9 },
	{ "many dot lines", NR, LIT("..\r\n..\r\n.a\r\n...\r\n.\r\n"),
	  LIT("..\r\n..\r\na\r\n...\r\n.\r\n"), SIZE_MAX, true, false, 13 },
	{ "NUL bytes", NR, LIT("a\0b\r\n\0\r\n.\r\n"), LIT("a\0b\r\n\0\r\n.\r\n"), SIZE_MAX, true,
	  false, 8 },
	{ "8-bit bytes", NR, LIT("\xc3\xa9t\xc3\xa9\xff\r\n.\r\n"),
	  LIT("\xc3\xa9t\xc3\xa9\xff\r\n.\r\n"), SIZE_MAX, true, false, 8 },
	{ "no end yet", NR, LIT("a\r\nb\r\n"), LIT("a\r\nb\r\n"), SIZE_MAX, false, false, 6 },
	{ "held dot at end", NR, LIT("a\r\n."), LIT("a\r\n"), SIZE_MAX, false, false, 3 },
	{ "held dot CR at end", NR, LIT("a\r\n.\r"), LIT("a\r\n"), SIZE_MAX, false, false, 3 },
	{ "CR at end", NR, LIT("a\r"), LIT("a\r"), SIZE_MAX, false, false, 2 },
	{ "dot CRLF without prior CRLF is not first", NR, LIT("a.\r\n.\r\n"), LIT("a.\r\n.\r\n"),
	  SIZE_MAX, true, false, 4 },
	{ "CRLF dot CR dot, normalize", N, LIT("a\r\n.\r.\r\n.\r\n"), LIT("a\r\n\r\n\r\n.\r\n"),
	  SIZE_MAX, true, true, 7 },
	{ "CRLF dot CR dot, reject", R, LIT("a\r\n.\r.\r\n.\r\n"), LIT("a\r\n\r.\r\n.\r\n"),
	  SIZE_MAX, true, true, 7 },

	/* bare LF */
	{ "bare LF, normalize", N, LIT("a\nb\r\n.\r\n"), LIT("a\r\nb\r\n.\r\n"), SIZE_MAX, true,
	  true, 6 },
	{ "bare LF, reject", R, LIT("a\nb\r\n.\r\n"), LIT("a\nb\r\n.\r\n"), SIZE_MAX, true, true,
	  5 },
	{ "bare LF only, normalize", N, LIT("\n"), LIT("\r\n"), SIZE_MAX, false, true, 2 },
	{ "bare LF only, reject", R, LIT("\n"), LIT("\n"), SIZE_MAX, false, true, 1 },
	{ "LF dot LF, normalize", N, LIT("\n.\n"), LIT("\r\n\r\n"), SIZE_MAX, false, true, 4 },
	{ "LF dot LF, reject", R, LIT("\n.\n"), LIT("\n.\n"), SIZE_MAX, false, true, 3 },
	{ "first line dot LF, normalize", N, LIT(".\n.\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX,
	  true, true, 4 },
	{ "first line dot LF, reject", R, LIT(".\n.\r\n.\r\n"), LIT("\n.\r\n.\r\n"), SIZE_MAX, true,
	  true, 4 },
	{ "LF dot CRLF, normalize", N, LIT("\n.\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX, true,
	  true, 4 },
	{ "double dot after LF, normalize", N, LIT("\n..\r\n.\r\n"), LIT("\r\n..\r\n.\r\n"),
	  SIZE_MAX, true, true, 5 },
	{ "dot text after LF, normalize", N, LIT("a\n.b\r\n.\r\n"), LIT("a\r\nb\r\n.\r\n"),
	  SIZE_MAX, true, true, 6 },
	{ "dot text after LF, reject", R, LIT("a\n.b\r\n.\r\n"), LIT("a\n.b\r\n.\r\n"), SIZE_MAX,
	  true, true, 6 },
	{ "LF LF, normalize", N, LIT("\n\n.\r\n"), LIT("\r\n\r\n\r\n"), SIZE_MAX, false, true, 6 },

	/* bare CR */
	{ "bare CR, normalize", N, LIT("a\rb\r\n.\r\n"), LIT("a\r\nb\r\n.\r\n"), SIZE_MAX, true,
	  true, 6 },
	{ "bare CR, reject", R, LIT("a\rb\r\n.\r\n"), LIT("a\rb\r\n.\r\n"), SIZE_MAX, true, true,
	  5 },
	{ "CR CR LF, normalize", N, LIT("\r\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX, true, true,
	  4 },
	{ "CR CR LF, reject", R, LIT("\r\r\n.\r\n"), LIT("\r\r\n.\r\n"), SIZE_MAX, true, true, 3 },
	{ "dot CR CR LF, normalize", N, LIT(".\r\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX, true,
	  true, 4 },
	{ "dot CR CR LF, reject", R, LIT(".\r\r\n.\r\n"), LIT("\r\r\n.\r\n"), SIZE_MAX, true, true,
	  3 },
	{ "dot CR text, normalize", N, LIT(".\rx\r\n.\r\n"), LIT("\r\nx\r\n.\r\n"), SIZE_MAX, true,
	  true, 5 },
	{ "dot CR text, reject", R, LIT(".\rx\r\n.\r\n"), LIT("\rx\r\n.\r\n"), SIZE_MAX, true, true,
	  4 },
	{ "dot CR dot, normalize", N, LIT(".\r.\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX, true,
	  true, 4 },
	{ "CR dot CR, normalize", N, LIT("\r.\r"), LIT("\r\n"), SIZE_MAX, false, true, 2 },
	{ "CR dot CR LF, normalize", N, LIT("\r.\r\n.\r\n"), LIT("\r\n\r\n.\r\n"), SIZE_MAX, true,
	  true, 4 },
	{ "CR dot CR LF, reject", R, LIT("\r.\r\n.\r\n"), LIT("\r.\r\n.\r\n"), SIZE_MAX, true, true,
	  4 },
	{ "LF CR, normalize", N, LIT("a\n\rb\r\n.\r\n"), LIT("a\r\n\r\nb\r\n.\r\n"), SIZE_MAX, true,
	  true, 8 },
	{ "CR LF dot LF, normalize", N, LIT("a\r\n.\nb\r\n.\r\n"), LIT("a\r\n\r\nb\r\n.\r\n"),
	  SIZE_MAX, true, true, 8 },
};
/* clang-format on */

static void
test_scan_table(void **state)
{
	struct scan_result whole;
	size_t i, consumed;
	int bad = 0, m;

	for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		for (m = N; m <= R; m++) {
			bool normalize = m == N;

			if (!(scan_cases[i].modes & m))
				continue;
			bad += scan_all_splits(scan_cases[i].name, normalize, scan_cases[i].in,
					       scan_cases[i].inlen, &whole);
			consumed = scan_cases[i].consumed == SIZE_MAX ? scan_cases[i].inlen
								      : scan_cases[i].consumed;
			if (!buf_eq(&whole.out, scan_cases[i].want, scan_cases[i].wantlen) ||
			    whole.consumed != consumed || whole.done != scan_cases[i].done ||
			    whole.bare != scan_cases[i].bare || whole.size != scan_cases[i].size) {
				print_error("%s (%s): got %s, want out \"%s\" consumed %zu done %d "
					    "bare %d size "
					    "%llu\n",
					    scan_cases[i].name, normalize ? "normalize" : "reject",
					    result_str(&whole),
					    esc(scan_cases[i].want, scan_cases[i].wantlen),
					    consumed, scan_cases[i].done, scan_cases[i].bare,
					    (unsigned long long)scan_cases[i].size);
				bad++;
			}
			if (whole.out.zero_calls != 0) {
				print_error("%s: %zu empty out() calls\n", scan_cases[i].name,
					    whole.out.zero_calls);
				bad++;
			}
			buf_free(&whole.out);
		}
	}
	if (bad)
		fail_msg("%d scanner mismatches", bad);
}

/*
 * SMTP smuggling (2023): a line end that one server honours and the next
 * does not must never end DATA here, nor become an end in what we relay.
 */
static void
test_scan_smuggling(void **state)
{
	static const char *const xs[] = {
		"\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", ".\n", ".\r",
		/* more of the same family */
		"\n.\r", "\r.\n", "\r\n.\r", "\r\n.\r\r\n", "\n..\n", "\r\n.\n.\n"};
	static const char *const prefixes[] = {"a\r\n", "", "a"};
	static const char tail[] = "b\r\n.\r\n";
	static const char next[] = "QUIT\r\n";
	struct scan_result whole;
	char in[128], name[128];
	size_t xi, pi, len, msglen;
	int bad = 0, m;

	for (pi = 0; pi < sizeof(prefixes) / sizeof(prefixes[0]); pi++) {
		for (xi = 0; xi < sizeof(xs) / sizeof(xs[0]); xi++) {
			len = (size_t)snprintf(in, sizeof(in), "%s%s%s", prefixes[pi], xs[xi],
					       tail);
			msglen = len;
			len += (size_t)snprintf(in + len, sizeof(in) - len, "%s", next);
			for (m = N; m <= R; m++) {
				bool normalize = m == N;

				snprintf(name, sizeof(name),
					 "smuggle \"%s\" + \"%s\" + \"b\\r\\n.\\r\\n\"",
					 esc(prefixes[pi], strlen(prefixes[pi])),
					 esc(xs[xi], strlen(xs[xi])));
				bad += scan_all_splits(name, normalize, in, len, &whole);
				if (!whole.done || whole.consumed != msglen) {
					print_error("%s (%s): got done %d consumed %zu, want done "
						    "1 consumed %zu\n",
						    name, normalize ? "normalize" : "reject",
						    whole.done, whole.consumed, msglen);
					bad++;
				}
				if (!whole.bare) {
					print_error("%s (%s): got bare 0, want 1\n", name,
						    normalize ? "normalize" : "reject");
					bad++;
				}
				if (count(&whole.out, "\r\n.\r\n") != 1 || whole.out.len < 5 ||
				    memcmp(whole.out.p + whole.out.len - 5, "\r\n.\r\n", 5) != 0) {
					print_error("%s (%s): got out \"%s\", want one CRLF.CRLF, "
						    "at the end\n",
						    name, normalize ? "normalize" : "reject",
						    esc(whole.out.p, whole.out.len));
					bad++;
				}
				if (normalize && has_bare(&whole.out)) {
					print_error("%s (normalize): got out \"%s\" with a bare CR "
						    "or LF\n",
						    name, esc(whole.out.p, whole.out.len));
					bad++;
				}
				buf_free(&whole.out);
			}
		}
	}
	if (bad)
		fail_msg("%d smuggling failures", bad);
}

/*
 * Reference model: split the whole input into lines first, then apply the
 * rules of data.h line by line. IN must end with CRLF "." CRLF.
 */
static void
reference(bool normalize, const char *in, size_t len, struct scan_result *r)
{
	size_t i = 0, j, elen, clen;
	bool prev_crlf = true, crlf;
	const char *c;

	memset(r, 0, sizeof(*r));
	while (i < len) {
		crlf = false;
		elen = 0;
		for (j = i; j < len; j++) {
			if (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n') {
				crlf = true;
				elen = 2;
				break;
			}
			if (in[j] == '\r' || in[j] == '\n') {
				r->bare = true;
				if (normalize) {
					elen = 1;
					break;
				}
			}
		}
		assert_true(j < len); /* the input ends with a CRLF */
		if (j - i == 1 && in[i] == '.' && crlf && prev_crlf) {
			buf_add(&r->out, ".\r\n", 3);
			r->done = true;
			r->consumed = j + 2;
			return;
		}
		c = in + i;
		clen = j - i;
		if (clen > 0 && c[0] == '.') {
			c++;
			clen--;
		}
		if (clen > 0 && c[0] == '.')
			buf_add(&r->out, ".", 1);
		buf_add(&r->out, c, clen);
		buf_add(&r->out, "\r\n", 2);
		r->size += clen + 2;
		prev_crlf = crlf;
		i = j + elen;
	}
	fail_msg("reference: no end in \"%s\"", esc(in, len));
}

static void
test_scan_random(void **state)
{
	static const char alphabet[] = {'.', '.', '\r', '\r', '\n', '\n', 'a', 'b', '\0', ' '};
	struct scan_result want, got;
	char in[96];
	size_t cuts[96], len, ncuts, i, k;
	int bad = 0, iter, m;

	for (iter = 0; iter < 20000 && bad < 10; iter++) {
		len = rng() % 48;
		for (i = 0; i < len; i++)
			in[i] = alphabet[rng() % sizeof(alphabet)];
		memcpy(in + len, "\r\n.\r\nZ", 6);
		len += 6;
		for (m = N; m <= R; m++) {
			bool normalize = m == N;

			reference(normalize, in, len, &want);
			/* random cuts, ascending */
			ncuts = 0;
			for (k = 1; k < len; k++)
				if (rng() % 3 == 0)
					cuts[ncuts++] = k;
			scan(normalize, in, len, cuts, ncuts, &got);
			if (!result_eq(&got, &want)) {
				print_error("random \"%s\" (%s): got %s, want %s\n", esc(in, len),
					    normalize ? "normalize" : "reject", result_str(&got),
					    result_str(&want));
				bad++;
			}
			if (normalize && (has_bare(&got.out) || count(&got.out, "\r\n.\r\n") > 1)) {
				print_error("random \"%s\" (normalize): got out \"%s\", not "
					    "canonical\n",
					    esc(in, len), esc(got.out.p, got.out.len));
				bad++;
			}
			buf_free(&got.out);
			buf_free(&want.out);
		}
	}
	if (bad)
		fail_msg("%d random mismatches", bad);
}

/* The hot path: plain lines in one chunk make one out() call, end included. */
static void
test_scan_calls(void **state)
{
	struct buf b = {0};
	struct data_scan d;
	char *msg;
	size_t len = 0, i, n;

	msg = malloc(70000);
	assert_non_null(msg);
	for (i = 0; i < 900; i++)
		len += (size_t)sprintf(msg + len, "line %zu: the quick brown fox. jumps...\r\n", i);
	n = len;
	memcpy(msg + len, ".\r\n", 3);
	len += 3;

	data_init(&d, true, buf_out, &b);
	assert_int_equal(data_scan(&d, msg, n), n);
	if (b.calls != 1)
		fail_msg("body without terminator: got %zu out() calls, want 1", b.calls);
	buf_free(&b);

	data_init(&d, false, buf_out, &b);
	assert_int_equal(data_scan(&d, msg, len), len);
	assert_true(d.done);
	if (b.calls != 1)
		fail_msg("body with terminator: got %zu out() calls, want 1", b.calls);
	if (!buf_eq(&b, msg, len))
		fail_msg("body with terminator: output differs from input");
	if (d.size != n)
		fail_msg("got size %llu, want %zu", (unsigned long long)d.size, n);
	buf_free(&b);

	/* ".." lines need no extra call either. */
	len = 0;
	for (i = 0; i < 100; i++)
		len += (size_t)sprintf(msg + len, "..%zu\r\n", i);
	len += (size_t)sprintf(msg + len, ".\r\n");
	data_init(&d, true, buf_out, &b);
	assert_int_equal(data_scan(&d, msg, len), len);
	if (b.calls != 1)
		fail_msg("stuffed lines: got %zu out() calls, want 1", b.calls);
	buf_free(&b);
	free(msg);
}

/* Bare CRs by the hundred thousand must not make the scan quadratic. */
static void
test_scan_many_bare_cr(void **state)
{
	struct buf b = {0};
	struct data_scan d;
	size_t len = 400000, i;
	char *msg = malloc(len + 8);

	assert_non_null(msg);
	for (i = 0; i < len; i++)
		msg[i] = i % 2 ? '\r' : 'x';
	memcpy(msg + len, "\r\n.\r\n", 5);
	data_init(&d, false, buf_out, &b);
	assert_int_equal(data_scan(&d, msg, len + 5), len + 5);
	assert_true(d.done);
	assert_true(d.bare);
	assert_true(buf_eq(&b, msg, len + 5));
	buf_free(&b);
	data_init(&d, true, buf_out, &b);
	assert_int_equal(data_scan(&d, msg, len + 5), len + 5);
	assert_true(d.done);
	assert_int_equal(b.len, len + len / 2 + 5);
	buf_free(&b);
	free(msg);
}

/* clang-format off */
static const struct {
	const char *name;
	const char *in;
	size_t inlen;
	const char *want;
	size_t wantlen;
} stuff_cases[] = {
	{ "empty", LIT(""), LIT(".\r\n") },
	{ "no line end", LIT("a"), LIT("a\r\n.\r\n") },
	{ "LF", LIT("a\n"), LIT("a\r\n.\r\n") },
	{ "CRLF", LIT("a\r\n"), LIT("a\r\n.\r\n") },
	{ "bare CR", LIT("a\rb"), LIT("a\r\nb\r\n.\r\n") },
	{ "CR at end", LIT("a\r"), LIT("a\r\n.\r\n") },
	{ "empty lines", LIT("\n\r\n\n"), LIT("\r\n\r\n\r\n.\r\n") },
	{ "dot", LIT("."), LIT("..\r\n.\r\n") },
	{ "dot line", LIT(".\n"), LIT("..\r\n.\r\n") },
	{ "two dots", LIT(".."), LIT("...\r\n.\r\n") },
	{ "dot lines", LIT(".a\n.b\r\nc.\n"), LIT("..a\r\n..b\r\nc.\r\n.\r\n") },
	{ "smuggled end", LIT("x\r\n.\r\nMAIL FROM:<a@b>\r\n"),
	  LIT("x\r\n..\r\nMAIL FROM:<a@b>\r\n.\r\n") },
	{ "NUL", LIT("\0\n"), LIT("\0\r\n.\r\n") },
};
/* clang-format on */

/*
 * NUL bytes: ->nul in both modes, wherever they sit in the body and however
 * the input is cut; never for bytes after the terminator (the next command).
 */
static void
test_scan_nul(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;
		bool nul;
	} cases[] = {
#define NUL_CASE(name, lit, nul) {name, lit, sizeof(lit) - 1, nul}
		NUL_CASE("smuggling variant", "a\r\n\0.\r\nMAIL FROM:<x@y>\r\n.\r\n", true),
		NUL_CASE("first byte", "\0\r\n.\r\n", true),
		NUL_CASE("mid line", "ab\0cd\r\n.\r\n", true),
		NUL_CASE("after a dot", "a\r\n.\0\r\n.\r\n", true),
		NUL_CASE("between CR and LF", "a\r\0\n.\r\n", true),
		NUL_CASE("none", "a\r\nb\r\n.\r\n", false),
		NUL_CASE("after the end", "a\r\n.\r\nNOOP\0\r\n", false),
#undef NUL_CASE
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int normalize = 0; normalize < 2; normalize++)
			for (size_t piece = 1; piece <= cases[i].len; piece++) {
				struct data_scan d;
				struct buf out = {0};
				size_t used = 0;
				data_init(&d, normalize, buf_out, &out);
				while (used < cases[i].len && !d.done) {
					size_t n = cases[i].len - used < piece ? cases[i].len - used
									       : piece;
					used += data_scan(&d, cases[i].in + used, n);
				}
				if (d.nul != cases[i].nul)
					fail_msg("%s (normalize %d, pieces of %zu): got nul %d, "
						 "want %d",
						 cases[i].name, normalize, piece, d.nul,
						 cases[i].nul);
				free(out.p);
			}
}

static void
test_stuff(void **state)
{
	struct buf b = {0};
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++) {
		data_stuff(stuff_cases[i].in, stuff_cases[i].inlen, buf_out, &b);
		if (!buf_eq(&b, stuff_cases[i].want, stuff_cases[i].wantlen)) {
			print_error("stuff %s: got \"%s\", want \"%s\"\n", stuff_cases[i].name,
				    esc(b.p, b.len),
				    esc(stuff_cases[i].want, stuff_cases[i].wantlen));
			bad++;
		}
		buf_free(&b);
	}
	if (bad)
		fail_msg("%d data_stuff mismatches", bad);
}

/* clang-format off */
static const struct {
	const char *name;
	const char *in;
	size_t inlen;
	const char *want;
	size_t wantlen;
} unstuff_cases[] = {
	{ "empty body", LIT(".\r\n"), LIT("") },
	{ "nothing", LIT(""), LIT("") },
	{ "one line", LIT("a\r\n.\r\n"), LIT("a\r\n") },
	{ "without terminator", LIT("a\r\nb\r\n"), LIT("a\r\nb\r\n") },
	{ "terminator cut short", LIT("a\r\n."), LIT("a\r\n") },
	{ "terminator without LF", LIT("a\r\n.\r"), LIT("a\r\n") },
	{ "stuffed", LIT("..a\r\n...\r\n..\r\n.\r\n"), LIT(".a\r\n..\r\n.\r\n") },
	{ "LF is not a line end", LIT("a\n.b\r\n.\r\n"), LIT("a\n.b\r\n") },
	{ "stops at the end", LIT("a\r\n.\r\nb\r\n"), LIT("a\r\n") },
	{ "last line without CRLF", LIT("a\r\n..b"), LIT("a\r\n.b") },
	{ "dot CR x", LIT(".\rx\r\n.\r\n"), LIT("\rx\r\n") },
};
/* clang-format on */

static void
test_unstuff(void **state)
{
	struct buf b = {0};
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(unstuff_cases) / sizeof(unstuff_cases[0]); i++) {
		data_unstuff(unstuff_cases[i].in, unstuff_cases[i].inlen, buf_out, &b);
		if (!buf_eq(&b, unstuff_cases[i].want, unstuff_cases[i].wantlen)) {
			print_error("unstuff %s: got \"%s\", want \"%s\"\n", unstuff_cases[i].name,
				    esc(b.p, b.len),
				    esc(unstuff_cases[i].want, unstuff_cases[i].wantlen));
			bad++;
		}
		if (b.zero_calls != 0) {
			print_error("unstuff %s: %zu empty out() calls\n", unstuff_cases[i].name,
				    b.zero_calls);
			bad++;
		}
		buf_free(&b);
	}
	if (bad)
		fail_msg("%d data_unstuff mismatches", bad);
}

/*
 * Random content with CRLF lines: unstuff(stuff(x)) == x, the stored form
 * passes the scanner unchanged in both modes, and LF input stores the same.
 */
static void
test_stuff_round_trip(void **state)
{
	static const char alphabet[] = {'.', '.', '.', 'a', 'z', ' ', '\t', '\0', '\xc3', '\xa9'};
	struct buf stored = {0}, back = {0}, lfstored = {0};
	struct scan_result r;
	char content[512], lf[512];
	size_t cuts[8], len, lflen, i, k, ncuts, linelen;
	int bad = 0, iter, m;

	for (iter = 0; iter < 5000 && bad < 10; iter++) {
		len = lflen = 0;
		while (len < 400 && rng() % 12 != 0) {
			linelen = rng() % 8;
			for (k = 0; k < linelen; k++) {
				content[len++] = alphabet[rng() % sizeof(alphabet)];
				lf[lflen++] = content[len - 1];
			}
			content[len++] = '\r';
			content[len++] = '\n';
			lf[lflen++] = '\n';
		}
		data_stuff(content, len, buf_out, &stored);
		data_unstuff(stored.p, stored.len, buf_out, &back);
		if (!buf_eq(&back, content, len)) {
			print_error("round trip \"%s\": got \"%s\"\n", esc(content, len),
				    esc(back.p, back.len));
			bad++;
		}
		data_stuff(lf, lflen, buf_out, &lfstored);
		if (!buf_eq(&lfstored, stored.p, stored.len)) {
			print_error("LF content \"%s\": got \"%s\", want \"%s\"\n", esc(lf, lflen),
				    esc(lfstored.p, lfstored.len), esc(stored.p, stored.len));
			bad++;
		}
		for (m = N; m <= R; m++) {
			ncuts = 0;
			for (i = 0; i < 8 && stored.len > 1; i++)
				cuts[ncuts++] = 1 + rng() % (stored.len - 1);
			/* ascending, as scan() wants */
			for (i = 1; i < ncuts; i++)
				for (k = i; k > 0 && cuts[k - 1] > cuts[k]; k--) {
					size_t t = cuts[k];

					cuts[k] = cuts[k - 1];
					cuts[k - 1] = t;
				}
			scan(m == N, stored.p, stored.len, cuts, ncuts, &r);
			if (!r.done || r.bare || r.consumed != stored.len || r.size != len ||
			    !buf_eq(&r.out, stored.p, stored.len)) {
				print_error("scan of stored \"%s\" (%s): got %s\n",
					    esc(stored.p, stored.len),
					    m == N ? "normalize" : "reject", result_str(&r));
				bad++;
			}
			buf_free(&r.out);
		}
		buf_free(&stored);
		buf_free(&back);
		buf_free(&lfstored);
	}
	if (bad)
		fail_msg("%d round trip failures", bad);
}

/* Pieces of a stored body (its final ".\r\n" left out), cut at every
 * place and at random places, unstuff to what data_unstuff() gives the
 * whole: stored bodies of the unstuff table, and random ones with dots,
 * bare CRs and LFs, and CRLFs cut between their CR and LF. */
static void
unstuff_pieces_check(const char *body, size_t len, const size_t *cuts, size_t ncuts, int *bad)
{
	struct buf whole = {0}, got = {0};
	struct data_unstuffer u;
	size_t at = 0;

	data_unstuff(body, len, buf_out, &whole);
	data_unstuff_init(&u);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len - 3;
		if (end < at)
			end = at;
		data_unstuff_more(&u, body + at, end - at, buf_out, &got);
		at = end;
	}
	if (!buf_eq(&got, whole.p, whole.len) || got.zero_calls) {
		print_error("pieces of \"%s\": got \"%s\" (%zu empty calls), want \"%s\"\n",
			    esc(body, len), esc(got.p, got.len), got.zero_calls,
			    esc(whole.p, whole.len));
		(*bad)++;
	}
	buf_free(&whole);
	buf_free(&got);
}

static void
test_unstuff_pieces(void **state)
{
	static const char alphabet[] = {'.', '.', '\r', '\n', 'a', '\xc3'};
	static const char *const fixed[] = {
		".\r\n",	  "a\r\n.\r\n",	   "..a\r\n...\r\n..\r\n.\r\n",
		"a\n.b\r\n.\r\n", ".\rx\r\n.\r\n", "\r\n..\r\n\r\n.\r\n",
		"..\r\r\n.\r\n",
	};
	struct buf stored = {0};
	char content[64];
	size_t cuts[8];
	int bad = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		size_t len = strlen(fixed[i]);
		for (size_t c = 0; c <= len - 3; c++)
			for (size_t d = c; d <= len - 3; d++) {
				cuts[0] = c;
				cuts[1] = d;
				unstuff_pieces_check(fixed[i], len, cuts, 2, &bad);
			}
	}
	for (int iter = 0; iter < 20000 && bad < 10; iter++) {
		size_t len = rng() % sizeof(content), ncuts = rng() % 8;
		for (size_t k = 0; k < len; k++)
			content[k] = alphabet[rng() % sizeof(alphabet)];
		data_stuff(content, len, buf_out, &stored);
		for (size_t k = 0; k < ncuts; k++)
			cuts[k] = rng() % (stored.len - 2);
		for (size_t k = 1; k < ncuts; k++)
			for (size_t j = k; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		unstuff_pieces_check(stored.p, stored.len, cuts, ncuts, &bad);
		buf_free(&stored);
	}
	if (bad)
		fail_msg("%d data_unstuff_more mismatches", bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_table),	  cmocka_unit_test(test_scan_smuggling),
		cmocka_unit_test(test_scan_random),	  cmocka_unit_test(test_scan_calls),
		cmocka_unit_test(test_scan_many_bare_cr), cmocka_unit_test(test_stuff),
		cmocka_unit_test(test_scan_nul),	  cmocka_unit_test(test_unstuff),
		cmocka_unit_test(test_stuff_round_trip),  cmocka_unit_test(test_unstuff_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
