/*
 * test_spool_fmt.c — unit tests for relayd/spool_fmt.c: the envelope
 * header, the state file, the journal record head and .done files.
 *
 * The "today" rows are bytes relayd wrote before the formats moved into
 * spool_fmt.c (copied from a spool: a journal segment, a queue/ file,
 * state files, a .done file; the version-1 state file from the writer of
 * commit eae1cbc^): they must decode to the values shown and those must
 * encode to the same bytes (version 2 for a version-1 file). Every reason
 * a decoder gives has a row. Mismatches print "got X, want Y" and the run
 * goes on to the next row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/spool_fmt.h"
#include "smtp/reply.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(s) s, sizeof(s) - 1 /* a string literal as bytes and length */
/* A row of a refusal: the input and the reason; the other fields zero. */
#define NO(n, s, why)                                                                              \
	{                                                                                          \
		.name = n, .in = s, .len = sizeof(s) - 1, .want = why                              \
	}
#define NOV(n, v, s, why)                                                                          \
	{                                                                                          \
		.name = n, .version = v, .in = s, .len = sizeof(s) - 1, .want = why                \
	}

static int bad; /* mismatches in the current test */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
			bad++;                                                                     \
		}                                                                                  \
	} while (0)

static void
done(void)
{
	int n = bad;

	bad = 0;
	if (n)
		fail_msg("%d mismatches", n);
}

static const char *
str(const char *s)
{
	return s ? s : "(null)";
}

/* ---- envelope --------------------------------------------------------- */

/* A journal record as relayd wrote it: head, header, the start of a body. */
static const char rec_1545[] =
	"@661BADAF1545E000 485\n"
	"RELAYD 1\nid 661BADAF1545E000\narrival 1796305025\nsize 00000000000000000262\n"
	"client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom sender@origin.test\n"
	"rcpt a@example.com\nrcpt b@example.com\nrcpt c@example.com\nrcpt d@dead.example\n\n"
	"Received: from client.test (unknown [127.0.0.1])\r\n";

static const struct {
	const char *name;
	const char *bytes; /* a header, then maybe body bytes */
	size_t len, hlen;
	const char *id;
	int64_t arrival;
	uint64_t size;
	const char *client;
	int body;
	bool smtputf8;
	const char *sender;
	const char *rcpt[4];
	size_t size_at;
} env_today[] = {
	{.name = "journal record",
	 .bytes = rec_1545 + 22,
	 .len = sizeof(rec_1545) - 1 - 22,
	 .hlen = 220,
	 .id = "661BADAF1545E000",
	 .arrival = 1796305025,
	 .size = 262,
	 .client = "unknown[127.0.0.1]",
	 .sender = "sender@origin.test",
	 .rcpt = {"a@example.com", "b@example.com", "c@example.com", "d@dead.example"},
	 .size_at = 53},
	{.name = "null sender",
	 .bytes = "RELAYD 1\nid 661BADAF165BD001\narrival 1796305025\nsize 00000000000000000292\n"
		  "client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom \nrcpt x@example.com\n\n",
	 .len = 144,
	 .hlen = 144,
	 .id = "661BADAF165BD001",
	 .arrival = 1796305025,
	 .size = 292,
	 .client = "unknown[127.0.0.1]",
	 .sender = "",
	 .rcpt = {"x@example.com"},
	 .size_at = 53},
	{.name = "queue file (300 KB)",
	 .bytes = "RELAYD 1\nid 661BADAF17635003\narrival 1796305025\nsize 00000000000000300272\n"
		  "client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom big@origin.test\n"
		  "rcpt b2@example.com\n\nReceived: from client.test (unknown [127.0.0.1])\r\n",
	 .len = 160 + 51,
	 .hlen = 160,
	 .id = "661BADAF17635003",
	 .arrival = 1796305025,
	 .size = 300272,
	 .client = "unknown[127.0.0.1]",
	 .sender = "big@origin.test",
	 .rcpt = {"b2@example.com"},
	 .size_at = 53},
	{.name = "SMTPUTF8, 8BITMIME",
	 .bytes = "RELAYD 1\nid 661BAE6123903000\narrival 1796305212\nsize 00000000000000000260\n"
		  "client unknown[127.0.0.1]\nbody 2\nsmtputf8 1\nfrom s\xc3\xa9nder@origin.test\n"
		  "rcpt e@example.com\nrcpt f\xc3\xbc@example.com\n\n",
	 .len = 184,
	 .hlen = 184,
	 .id = "661BAE6123903000",
	 .arrival = 1796305212,
	 .size = 260,
	 .client = "unknown[127.0.0.1]",
	 .body = 2,
	 .smtputf8 = true,
	 .sender = "s\xc3\xa9nder@origin.test",
	 .rcpt = {"e@example.com", "f\xc3\xbc@example.com"},
	 .size_at = 53},
	{.name = "a DSN (client local)",
	 .bytes = "RELAYD 1\nid 661BADAF168DA002\narrival 1796305025\nsize 00000000000000001800\n"
		  "client local\nbody 2\nsmtputf8 0\nfrom \nrcpt sender@origin.test\n\n",
	 .len = 136,
	 .hlen = 136,
	 .id = "661BADAF168DA002",
	 .arrival = 1796305025,
	 .size = 1800,
	 .client = "local",
	 .body = 2,
	 .sender = "",
	 .rcpt = {"sender@origin.test"},
	 .size_at = 53},
};

static size_t
nrcpt_of(const char *const *r, size_t max)
{
	size_t n = 0;
	while (n < max && r[n])
		n++;
	return n;
}

static void
check_env(const char *name, const struct fmt_env *e, const char *id, int64_t arrival, uint64_t size,
	  const char *client, int body, bool smtputf8, const char *sender, const char *const *rcpt,
	  size_t nrcpt)
{
	CHECK(strcmp(e->id, id) == 0, "%s: id: got %s, want %s", name, e->id, id);
	CHECK(e->arrival == arrival, "%s: arrival: got %lld, want %lld", name,
	      (long long)e->arrival, (long long)arrival);
	CHECK(e->size == size, "%s: size: got %llu, want %llu", name, (unsigned long long)e->size,
	      (unsigned long long)size);
	CHECK(strcmp(str(e->client), client) == 0, "%s: client: got %s, want %s", name,
	      str(e->client), client);
	CHECK(e->body == body, "%s: body: got %d, want %d", name, e->body, body);
	CHECK(e->smtputf8 == smtputf8, "%s: smtputf8: got %d, want %d", name, e->smtputf8,
	      smtputf8);
	CHECK(strcmp(str(e->sender), sender) == 0, "%s: sender: got %s, want %s", name,
	      str(e->sender), sender);
	CHECK(e->nrcpt == nrcpt, "%s: nrcpt: got %zu, want %zu", name, e->nrcpt, nrcpt);
	for (size_t i = 0; i < nrcpt && i < e->nrcpt; i++)
		CHECK(strcmp(e->rcpt[i], rcpt[i]) == 0, "%s: rcpt %zu: got %s, want %s", name, i,
		      e->rcpt[i], rcpt[i]);
}

static void
test_env_today(void **state)
{
	for (size_t i = 0; i < NELEM(env_today); i++) {
		const char *name = env_today[i].name, *why = NULL;
		size_t nr = nrcpt_of(env_today[i].rcpt, 4), hlen = 0, at = 0;
		struct fmt_env e;

		CHECK(spool_fmt_env_end(env_today[i].bytes, env_today[i].len) == env_today[i].hlen,
		      "%s: end: got %zu, want %zu", name,
		      spool_fmt_env_end(env_today[i].bytes, env_today[i].len), env_today[i].hlen);
		if (spool_fmt_env_decode(env_today[i].bytes, env_today[i].len, &e, &hlen, &why) ==
		    -1) {
			CHECK(0, "%s: decode: got \"%s\", want success", name, why);
			continue;
		}
		CHECK(hlen == env_today[i].hlen, "%s: hlen: got %zu, want %zu", name, hlen,
		      env_today[i].hlen);
		check_env(name, &e, env_today[i].id, env_today[i].arrival, env_today[i].size,
			  env_today[i].client, env_today[i].body, env_today[i].smtputf8,
			  env_today[i].sender, env_today[i].rcpt, nr);
		spool_fmt_env_free(&e);

		/* Today's bytes from the same values: written with size 0 and
		 * the digits patched at size_at, as queue.c does. */
		struct fmt_env w = {.arrival = env_today[i].arrival,
				    .client = env_today[i].client,
				    .body = env_today[i].body,
				    .smtputf8 = env_today[i].smtputf8,
				    .sender = env_today[i].sender,
				    .rcpt = env_today[i].rcpt,
				    .nrcpt = nr};
		snprintf(w.id, sizeof(w.id), "%s", env_today[i].id);
		struct fmt_buf b = {0};
		if (spool_fmt_env_encode(&b, &w, &at, &why) == -1) {
			CHECK(0, "%s: encode: got \"%s\", want success", name, why);
			continue;
		}
		CHECK(at == env_today[i].size_at, "%s: size_at: got %zu, want %zu", name, at,
		      env_today[i].size_at);
		CHECK(memcmp(b.p + at, "00000000000000000000", 20) == 0,
		      "%s: size digits: got %.20s", name, b.p + at);
		spool_fmt_env_size(b.p + at, env_today[i].size);
		CHECK(b.len == env_today[i].hlen && memcmp(b.p, env_today[i].bytes, b.len) == 0,
		      "%s: encoded:\ngot  \"%s\"\nwant \"%.*s\"", name, b.p, (int)env_today[i].hlen,
		      env_today[i].bytes);
		spool_fmt_buf_free(&b);
	}
	done();
}

#define HDR "RELAYD 1\nid 661BADAF1545E000\n"

/* Headers the decoder refuses (want: the reason) or reads (want NULL;
 * then the client, body and size it reads). */
static const struct {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
	const char *client;
	int body;
	uint64_t size;
} env_dec[] = {
	{"minimal", S(HDR "arrival 1\nfrom \nrcpt a@b\n\n"), NULL, "unknown", 0, 0},
	{"any order", S("RELAYD 1\nrcpt a@b\nfrom x@y\nbody 1\narrival 5\nid 661BADAF1545E000\n\n"),
	 NULL, "unknown", 1, 0},
	{"unknown key skipped", S(HDR "arrival 1\nfrom \nrcpt a@b\nnewkey some value\n\n"), NULL,
	 "unknown", 0, 0},
	{"negative arrival", S(HDR "arrival -5\nfrom \nrcpt a@b\n\n"), NULL, "unknown", 0, 0},
	{"empty client", S(HDR "arrival 1\nclient \nfrom \nrcpt a@b\n\n"), NULL, "", 0, 0},
	{"size max", S(HDR "arrival 1\nsize 18446744073709551615\nfrom \nrcpt a@b\n\n"), NULL,
	 "unknown", 0, UINT64_MAX},
	{"spaces in a value", S(HDR "arrival 1\nfrom \nrcpt \"a b\"@c\n\n"), NULL, "unknown", 0, 0},
	{"body ignored", S(HDR "arrival 1\nfrom \nrcpt a@b\n\nrcpt x\n\n"), NULL, "unknown", 0, 0},

	NO("empty", "", "truncated header"),
	NO("no blank line", HDR "arrival 1\nfrom \nrcpt a@b\n", "truncated header"),
	NO("NUL before the blank line", HDR "arrival 1\0\nfrom \nrcpt a@b\n\n",
	   "bad header: a control byte in a value"),
	NO("other magic", "GARBAGE!\nid 661BADAF1545E000\n\n", "bad header: not \"RELAYD 1\""),
	NO("version 2", "RELAYD 2\n" HDR "\n", "bad header: not \"RELAYD 1\""),
	NO("magic only", "RELAYD 1\n\n", "bad header: no id"),
	NO("short", "\n\n", "bad header: not \"RELAYD 1\""),
	NO("line without value", HDR "arrival 1\nfrom\nrcpt a@b\n\n",
	   "bad header: a line without a key and a value"),
	NO("line without key", HDR " 1\n\n", "bad header: a line without a key and a value"),
	NO("key not a word", HDR "Arrival 1\n\n", "bad header: a key that is not a word"),
	NO("CR in a value", HDR "arrival 1\nfrom a\r\nrcpt a@b\n\n",
	   "bad header: a control byte in a value"),
	NO("DEL in a value", HDR "arrival 1\nfrom \nrcpt a\x7f@b\n\n",
	   "bad header: a control byte in a value"),
	NO("tab in a value", HDR "arrival 1\nfrom \nrcpt a\t@b\n\n",
	   "bad header: a control byte in a value"),
	NO("empty recipient", HDR "arrival 1\nfrom \nrcpt \n\n", "bad header: an empty recipient"),
	NO("id lower case", "RELAYD 1\nid 661badaf1545e000\narrival 1\nfrom \nrcpt a\n\n",
	   "bad header: id is not 16 upper-case hex digits"),
	NO("id short", "RELAYD 1\nid 661BADAF1545E00\narrival 1\nfrom \nrcpt a\n\n",
	   "bad header: id is not 16 upper-case hex digits"),
	NO("id a path", "RELAYD 1\nid ../../etc/passwd\narrival 1\nfrom \nrcpt a\n\n",
	   "bad header: id is not 16 upper-case hex digits"),
	NO("id twice", HDR "id 661BADAF1545E000\narrival 1\nfrom \nrcpt a\n\n",
	   "bad header: a field given twice"),
	NO("from twice", HDR "arrival 1\nfrom \nfrom x@y\nrcpt a\n\n",
	   "bad header: a field given twice"),
	NO("arrival text", HDR "arrival 1x\nfrom \nrcpt a\n\n",
	   "bad header: arrival is not a number"),
	NO("arrival plus", HDR "arrival +1\nfrom \nrcpt a\n\n",
	   "bad header: arrival is not a number"),
	NO("arrival overflow", HDR "arrival 9223372036854775808\nfrom \nrcpt a\n\n",
	   "bad header: arrival is not a number"),
	NO("arrival empty", HDR "arrival \nfrom \nrcpt a\n\n",
	   "bad header: arrival is not a number"),
	NO("size short", HDR "arrival 1\nsize 262\nfrom \nrcpt a\n\n",
	   "bad header: size is not 20 digits"),
	NO("size overflow", HDR "arrival 1\nsize 18446744073709551616\nfrom \nrcpt a\n\n",
	   "bad header: size is not 20 digits"),
	NO("size negative", HDR "arrival 1\nsize -0000000000000000001\nfrom \nrcpt a\n\n",
	   "bad header: size is not 20 digits"),
	NO("body 3", HDR "arrival 1\nbody 3\nfrom \nrcpt a\n\n", "bad header: body out of range"),
	NO("body -1", HDR "arrival 1\nbody -1\nfrom \nrcpt a\n\n", "bad header: body out of range"),
	NO("smtputf8 2", HDR "arrival 1\nsmtputf8 2\nfrom \nrcpt a\n\n",
	   "bad header: smtputf8 is not 0 or 1"),
	NO("smtputf8 01", HDR "arrival 1\nsmtputf8 01\nfrom \nrcpt a\n\n",
	   "bad header: smtputf8 is not 0 or 1"),
	NO("no id", "RELAYD 1\narrival 1\nfrom \nrcpt a\n\n", "bad header: no id"),
	NO("no arrival", HDR "from \nrcpt a\n\n", "bad header: no arrival"),
	NO("no sender", HDR "arrival 1\nrcpt a\n\n", "bad header: no sender"),
	NO("no recipient", HDR "arrival 1\nfrom \n\n", "bad header: no recipient"),
};

static char *
long_header(const char *key, size_t n)
{
	char *v = malloc(n + 1), *h = malloc(n + 200);

	memset(v, 'x', n);
	v[n] = '\0';
	snprintf(h, n + 200, HDR "arrival 1\nclient %s\nfrom %s\nrcpt %s\n\n",
		 strcmp(key, "client") == 0 ? v : "c", strcmp(key, "from") == 0 ? v : "",
		 strcmp(key, "rcpt") == 0 ? v : "a@b");
	free(v);
	return h;
}

static void
test_env_decode(void **state)
{
	for (size_t i = 0; i < NELEM(env_dec); i++) {
		struct fmt_env e;
		size_t hlen;
		const char *why = NULL;
		/* Copied to an exact-size buffer: a read past it is ASan's. */
		char *in = malloc(env_dec[i].len ? env_dec[i].len : 1);
		memcpy(in, env_dec[i].in, env_dec[i].len);
		int rc = spool_fmt_env_decode(in, env_dec[i].len, &e, &hlen, &why);
		if (env_dec[i].want) {
			CHECK(rc == -1 && strcmp(str(why), env_dec[i].want) == 0,
			      "%s: got %d \"%s\", want \"%s\"", env_dec[i].name, rc,
			      rc ? str(why) : "success", env_dec[i].want);
		} else if (rc == -1) {
			CHECK(0, "%s: got \"%s\", want success", env_dec[i].name, str(why));
		} else {
			CHECK(strcmp(e.client, env_dec[i].client) == 0 &&
				      e.body == env_dec[i].body && e.size == env_dec[i].size,
			      "%s: got client %s body %d size %llu, want %s %d %llu",
			      env_dec[i].name, e.client, e.body, (unsigned long long)e.size,
			      env_dec[i].client, env_dec[i].body,
			      (unsigned long long)env_dec[i].size);
			spool_fmt_env_free(&e);
		}
		free(in);
	}

	/* Values up to FMT_VALUE_MAX bytes, not one more. */
	static const struct {
		const char *key, *want;
	} lens[] = {
		{"client", "bad header: client name too long"},
		{"from", "bad header: sender too long"},
		{"rcpt", "bad header: a recipient too long"},
	};
	for (size_t i = 0; i < NELEM(lens); i++)
		for (size_t n = FMT_VALUE_MAX; n <= FMT_VALUE_MAX + 1; n++) {
			char *h = long_header(lens[i].key, n);
			struct fmt_env e;
			size_t hlen;
			const char *why = NULL;
			int rc = spool_fmt_env_decode(h, strlen(h), &e, &hlen, &why);
			if (n == FMT_VALUE_MAX) {
				CHECK(rc == 0, "%s of %zu bytes: got \"%s\", want success",
				      lens[i].key, n, str(why));
				if (rc == 0)
					spool_fmt_env_free(&e);
			} else {
				CHECK(rc == -1 && strcmp(str(why), lens[i].want) == 0,
				      "%s of %zu bytes: got %d \"%s\", want \"%s\"", lens[i].key, n,
				      rc, str(why), lens[i].want);
			}
			free(h);
		}
	done();
}

/* What the encoder refuses: nothing that would break the header. */
static void
test_env_encode_refused(void **state)
{
	char big[FMT_VALUE_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *ok[] = {"a@b"}, *inj[] = {"a@b\nrcpt evil@x"}, *cr[] = {"a@b\r"},
		   *empty[] = {""}, *nul[] = {NULL}, *two[] = {"a@b", "c\x01@d"}, *bigr[] = {big};
	static const struct {
		const char *name, *id, *client, *sender;
		int body;
		int rcpt; /* which list */
		size_t nrcpt;
		const char *want;
	} rows[] = {
		{"fine", "661BADAF1545E000", "unknown[::1]", "", 0, 0, 1, NULL},
		{"NULL client and sender", "661BADAF1545E000", NULL, NULL, 2, 0, 1, NULL},
		{"LF in a recipient", "661BADAF1545E000", "c", "", 0, 1, 1,
		 "a control byte in a recipient"},
		{"CR in a recipient", "661BADAF1545E000", "c", "", 0, 2, 1,
		 "a control byte in a recipient"},
		{"SOH in the second", "661BADAF1545E000", "c", "", 0, 5, 2,
		 "a control byte in a recipient"},
		{"LF in the sender", "661BADAF1545E000", "c", "a\nrcpt x", 0, 0, 1,
		 "a control byte in the sender"},
		{"ESC in the client", "661BADAF1545E000", "c\x1b[0m", "", 0, 0, 1,
		 "a control byte in the client name"},
		{"empty recipient", "661BADAF1545E000", "c", "", 0, 3, 1, "empty recipient"},
		{"NULL recipient", "661BADAF1545E000", "c", "", 0, 4, 1, "empty recipient"},
		{"no recipient", "661BADAF1545E000", "c", "", 0, 0, 0, "no recipient"},
		{"recipient too long", "661BADAF1545E000", "c", "", 0, 6, 1, "recipient too long"},
		{"bad id", "661badaf1545e000", "c", "", 0, 0, 1,
		 "id is not 16 upper-case hex digits"},
		{"short id", "661BADAF", "c", "", 0, 0, 1, "id is not 16 upper-case hex digits"},
		{"body 3", "661BADAF1545E000", "c", "", 3, 0, 1, "body out of range"},
	};
	const char *const *lists[] = {ok, inj, cr, empty, nul, two, bigr};

	for (size_t i = 0; i < NELEM(rows); i++) {
		struct fmt_env e = {.client = rows[i].client,
				    .sender = rows[i].sender,
				    .body = rows[i].body,
				    .rcpt = lists[rows[i].rcpt],
				    .nrcpt = rows[i].nrcpt};
		snprintf(e.id, sizeof(e.id), "%s", rows[i].id);
		struct fmt_buf b = {0};
		size_t at;
		const char *why = NULL;
		int rc = spool_fmt_env_encode(&b, &e, &at, &why);
		if (rows[i].want)
			CHECK(rc == -1 && strcmp(str(why), rows[i].want) == 0 && b.len == 0,
			      "%s: got %d \"%s\" (%zu bytes), want \"%s\"", rows[i].name, rc,
			      str(why), b.len, rows[i].want);
		else
			CHECK(rc == 0, "%s: got \"%s\", want success", rows[i].name, str(why));
		spool_fmt_buf_free(&b);
	}
	/* The longest value fits. */
	big[FMT_VALUE_MAX] = '\0';
	struct fmt_env e = {
		.id = "661BADAF1545E000", .client = big, .sender = big, .rcpt = bigr, .nrcpt = 1};
	struct fmt_buf b = {0};
	size_t at;
	const char *why = NULL;
	CHECK(spool_fmt_env_encode(&b, &e, &at, &why) == 0, "longest values: got \"%s\"", str(why));
	spool_fmt_buf_free(&b);
	done();
}

/* Encode, decode, encode: the same values, the same bytes; appended after
 * what the buffer held, with size_at counted from the buffer's start. */
static void
test_env_round_trip(void **state)
{
	static const char *const r1[] = {"a@b"},
				 *const r3[] = {
					 "\"x y\"@[IPv6:2001:db8::1]", "postmaster",
					 "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.\xe5\xb9\xbf"};
	static const struct fmt_env rows[] = {
		{.id = "0000000000000000", .client = "local", .sender = "", .rcpt = r1, .nrcpt = 1},
		{.id = "FFFFFFFFFFFFFFFF",
		 .arrival = INT64_MIN,
		 .size = UINT64_MAX,
		 .client = "",
		 .body = 2,
		 .smtputf8 = true,
		 .sender = "s\xc3\xa9@x",
		 .rcpt = r3,
		 .nrcpt = 3},
		{.id = "661BADAF1545E000",
		 .arrival = INT64_MAX,
		 .size = 12345,
		 .client = "unknown[127.0.0.1]",
		 .body = 1,
		 .sender = "a b@c",
		 .rcpt = r3,
		 .nrcpt = 2},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct fmt_buf b = {0}, b2 = {0};
		struct fmt_env d;
		size_t at, at2, hlen;
		const char *why = NULL;
		char name[32];

		snprintf(name, sizeof(name), "row %zu", i);
		assert_int_equal(spool_fmt_env_encode(&b, &rows[i], &at, &why), 0);
		spool_fmt_env_size(b.p + at, rows[i].size);
		/* A second header after the first: size_at is from the start. */
		assert_int_equal(spool_fmt_env_encode(&b2, &rows[i], &at2, &why), 0);
		size_t first = b2.len;
		assert_int_equal(spool_fmt_env_encode(&b2, &rows[i], &at2, &why), 0);
		CHECK(at2 == first + at, "%s: second size_at: got %zu, want %zu", name, at2,
		      first + at);
		spool_fmt_buf_free(&b2);

		if (spool_fmt_env_decode(b.p, b.len, &d, &hlen, &why) == -1) {
			CHECK(0, "%s: decode: got \"%s\", want success", name, why);
			spool_fmt_buf_free(&b);
			continue;
		}
		CHECK(hlen == b.len, "%s: hlen: got %zu, want %zu", name, hlen, b.len);
		check_env(name, &d, rows[i].id, rows[i].arrival, rows[i].size, rows[i].client,
			  rows[i].body, rows[i].smtputf8, rows[i].sender, rows[i].rcpt,
			  rows[i].nrcpt);
		assert_int_equal(spool_fmt_env_encode(&b2, &d, &at2, &why), 0);
		spool_fmt_env_size(b2.p + at2, d.size);
		CHECK(b2.len == b.len && memcmp(b.p, b2.p, b.len) == 0 && at2 == at,
		      "%s: encoded again:\ngot  \"%s\"\nwant \"%s\"", name, b2.p, b.p);
		spool_fmt_env_free(&d);
		spool_fmt_buf_free(&b);
		spool_fmt_buf_free(&b2);
	}
	done();
}

static void
test_env_size(void **state)
{
	static const struct {
		uint64_t size;
		const char *want;
	} rows[] = {
		{0, "00000000000000000000"},
		{262, "00000000000000000262"},
		{UINT64_MAX, "18446744073709551615"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		char got[FMT_SIZE_DIGITS + 1] = {0};
		spool_fmt_env_size(got, rows[i].size);
		CHECK(strcmp(got, rows[i].want) == 0, "size %llu: got %s, want %s",
		      (unsigned long long)rows[i].size, got, rows[i].want);
	}
	done();
}

static void
test_qid(void **state)
{
	static const struct {
		const char *in;
		bool want;
	} rows[] = {
		{"661BADAF1545E000", true},  {"0000000000000000", true},
		{"FFFFFFFFFFFFFFFF", true},  {"661badaf1545e000", false},
		{"661BADAF1545E00", false},  {"661BADAF1545E0000", false},
		{"661BADAF1545E00G", false}, {"", false},
		{"../../etc/passw", false},  {"661BADAF 545E000", false},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		bool got = spool_fmt_qid_ok(rows[i].in, strlen(rows[i].in));
		CHECK(got == rows[i].want, "\"%s\": got %d, want %d", rows[i].in, got,
		      rows[i].want);
	}
	done();
}

/* ---- state files ------------------------------------------------------ */

#define RCPT(i, st, att, nx, code, cmd, status, tr, relay, det, reply)                             \
	{                                                                                          \
		i, st, att, nx, code, cmd, status, tr, relay, det, reply                           \
	}

static const struct {
	const char *name;
	const char *in;
	size_t len, nrcpt;
	bool warned, held;
	struct fmt_rcpt want[4];
	size_t nwant;
	const char *v2; /* the values encoded; NULL: the input itself */
} state_today[] = {
	{"four recipients",
	 S("RELAYD-STATE 2\nwarned 0\n"
	   "r 0 1 1 1796305025 250 10 2.0.0 sink 127.0.0.2[127.0.0.2]:52643 - \n"
	   "r 1 0 1 1796308625 451 8 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - 451 4.3.0 "
	   "greylisted, try later\n"
	   "r 2 2 1 1796305025 550 8 5.1.1 sink 127.0.0.2[127.0.0.2]:52643 - 550 5.1.1 "
	   "<c@example.com>: user unknown\n"
	   "r 3 0 1 1796308625 0 0 4.4.1 dead 127.0.0.3[127.0.0.3]:47329 - connect to "
	   "127.0.0.3[127.0.0.3]:47329: Connection refused\n"),
	 4,
	 false,
	 false,
	 {RCPT(0, 1, 1, 1796305025, 250, RCMD_EOD, "2.0.0", "sink", "127.0.0.2[127.0.0.2]:52643",
	       "", ""),
	  RCPT(1, 0, 1, 1796308625, 451, RCMD_RCPT, "4.3.0", "sink", "127.0.0.2[127.0.0.2]:52643",
	       "", "451 4.3.0 greylisted, try later"),
	  RCPT(2, 2, 1, 1796305025, 550, RCMD_RCPT, "5.1.1", "sink", "127.0.0.2[127.0.0.2]:52643",
	       "", "550 5.1.1 <c@example.com>: user unknown"),
	  RCPT(3, 0, 1, 1796308625, 0, RCMD_NONE, "4.4.1", "dead", "127.0.0.3[127.0.0.3]:47329", "",
	       "connect to 127.0.0.3[127.0.0.3]:47329: Connection refused")},
	 4,
	 NULL},
	{"a detour",
	 S("RELAYD-STATE 2\nwarned 0\n"
	   "r 0 0 2 1796308812 0 0 4.4.1 dead 127.0.0.3[127.0.0.3]:42545 dead connect to "
	   "127.0.0.3[127.0.0.3]:42545: Connection refused\n"
	   "r 1 0 1 1796308812 452 8 4.2.2 sink 127.0.0.2[127.0.0.2]:42625 - 452 4.2.2 Mailbox "
	   "full\n"),
	 2,
	 false,
	 false,
	 {RCPT(0, 0, 2, 1796308812, 0, RCMD_NONE, "4.4.1", "dead", "127.0.0.3[127.0.0.3]:42545",
	       "dead", "connect to 127.0.0.3[127.0.0.3]:42545: Connection refused"),
	  RCPT(1, 0, 1, 1796308812, 452, RCMD_RCPT, "4.2.2", "sink", "127.0.0.2[127.0.0.2]:42625",
	       "", "452 4.2.2 Mailbox full")},
	 2,
	 NULL},
	/* Written by the version-1 writer (eae1cbc^): no command field. */
	{"version 1",
	 S("RELAYD-STATE 1\nwarned 1\n"
	   "r 0 0 3 1796308625 451 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - 451 4.3.0 "
	   "greylisted, try later\n"
	   "r 1 0 0 1796305025 0 - - - - \n"
	   "r 2 3 9 1796305025 0 4.4.7 dead 127.0.0.3[127.0.0.3]:47329 dead delivery time "
	   "expired; last reply: none\n"),
	 3,
	 true,
	 false,
	 {RCPT(0, 0, 3, 1796308625, 451, RCMD_NONE, "4.3.0", "sink", "127.0.0.2[127.0.0.2]:52643",
	       "", "451 4.3.0 greylisted, try later"),
	  RCPT(1, 0, 0, 1796305025, 0, RCMD_NONE, "", "", "", "", ""),
	  RCPT(2, 3, 9, 1796305025, 0, RCMD_NONE, "4.4.7", "dead", "127.0.0.3[127.0.0.3]:47329",
	       "dead", "delivery time expired; last reply: none")},
	 3,
	 "RELAYD-STATE 2\nwarned 1\n"
	 "r 0 0 3 1796308625 451 0 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - 451 4.3.0 "
	 "greylisted, try later\n"
	 "r 1 0 0 1796305025 0 0 - - - - \n"
	 "r 2 3 9 1796305025 0 0 4.4.7 dead 127.0.0.3[127.0.0.3]:47329 dead delivery time "
	 "expired; last reply: none\n"},
	{"the orphan of test_faults.py",
	 S("RELAYD-STATE 1\nwarned 0\n"),
	 1,
	 false,
	 false,
	 {{0}},
	 0,
	 "RELAYD-STATE 2\nwarned 0\n"},
	/* relayctl hold: the line is there only while the message is held. */
	{"held",
	 S("RELAYD-STATE 2\nwarned 0\nheld 1\n"
	   "r 0 0 1 1796308625 451 8 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - 451 4.3.0 "
	   "greylisted, try later\n"),
	 1,
	 false,
	 true,
	 {RCPT(0, 0, 1, 1796308625, 451, RCMD_RCPT, "4.3.0", "sink", "127.0.0.2[127.0.0.2]:52643",
	       "", "451 4.3.0 greylisted, try later")},
	 1,
	 NULL},
	{"released: held 0 reads, and is not written",
	 S("RELAYD-STATE 2\nwarned 1\nheld 0\nr 0 0 0 1796305025 0 0 - - - - \n"),
	 1,
	 true,
	 false,
	 {RCPT(0, 0, 0, 1796305025, 0, RCMD_NONE, "", "", "", "", "")},
	 1,
	 "RELAYD-STATE 2\nwarned 1\nr 0 0 0 1796305025 0 0 - - - - \n"},
	{"held in a version-1 file (after the recipients)",
	 S("RELAYD-STATE 1\nwarned 0\nr 0 0 0 1796305025 0 - - - - \nheld 1\n"),
	 1,
	 false,
	 true,
	 {RCPT(0, 0, 0, 1796305025, 0, RCMD_NONE, "", "", "", "", "")},
	 1,
	 "RELAYD-STATE 2\nwarned 0\nheld 1\nr 0 0 0 1796305025 0 0 - - - - \n"},
};

/* Are A and B the same values? Say what differs. */
static bool
rcpt_eq(const char *name, const struct fmt_rcpt *a, const struct fmt_rcpt *b)
{
	bool same = a->idx == b->idx && a->state == b->state && a->attempts == b->attempts &&
		    a->next == b->next && a->code == b->code && a->cmd == b->cmd &&
		    strcmp(a->status, b->status) == 0 && strcmp(a->transport, b->transport) == 0 &&
		    strcmp(a->relay, b->relay) == 0 && strcmp(a->detour, b->detour) == 0 &&
		    strcmp(a->reply, b->reply) == 0;
	CHECK(same,
	      "%s:\ngot  r %zu %d %u %lld %d %d [%s] [%s] [%s] [%s] [%s]\n"
	      "want r %zu %d %u %lld %d %d [%s] [%s] [%s] [%s] [%s]",
	      name, a->idx, a->state, a->attempts, (long long)a->next, a->code, a->cmd, a->status,
	      a->transport, a->relay, a->detour, a->reply, b->idx, b->state, b->attempts,
	      (long long)b->next, b->code, b->cmd, b->status, b->transport, b->relay, b->detour,
	      b->reply);
	return same;
}

static void
test_state_today(void **state)
{
	for (size_t i = 0; i < NELEM(state_today); i++) {
		const char *name = state_today[i].name, *why = NULL;
		struct fmt_state_rd rd;
		struct fmt_rcpt got[4];
		size_t n = 0;
		bool flag, warned = !state_today[i].warned, held = false;
		int rc;

		if (spool_fmt_state_open(&rd, state_today[i].in, state_today[i].len,
					 state_today[i].nrcpt, &why) == -1) {
			CHECK(0, "%s: open: got \"%s\", want success", name, why);
			continue;
		}
		while ((rc = spool_fmt_state_next(&rd, &got[n < 3 ? n : 3], &flag, &why)) !=
		       FMT_END) {
			CHECK(rc != -1, "%s: line %u: got \"%s\", want success", name, rd.line,
			      str(why));
			if (rc == FMT_RCPT)
				n++;
			if (rc == FMT_WARNED)
				warned = flag;
			if (rc == FMT_HELD)
				held = flag;
			if (n > 4)
				break;
		}
		CHECK(warned == state_today[i].warned, "%s: warned: got %d, want %d", name, warned,
		      state_today[i].warned);
		CHECK(held == state_today[i].held, "%s: held: got %d, want %d", name, held,
		      state_today[i].held);
		CHECK(n == state_today[i].nwant, "%s: got %zu recipients, want %zu", name, n,
		      state_today[i].nwant);
		struct fmt_buf b = {0};
		assert_int_equal(spool_fmt_state_begin(&b, warned, held, &why), 0);
		for (size_t k = 0; k < n && k < state_today[i].nwant; k++) {
			rcpt_eq(name, &got[k], &state_today[i].want[k]);
			CHECK(spool_fmt_state_rcpt(&b, &got[k], &why) == 0,
			      "%s: encode %zu: got \"%s\"", name, k, why);
		}
		const char *want = state_today[i].v2 ? state_today[i].v2 : state_today[i].in;
		CHECK(strcmp(b.p, want) == 0, "%s: encoded:\ngot  \"%s\"\nwant \"%s\"", name, b.p,
		      want);
		spool_fmt_buf_free(&b);
	}
	done();
}

static void
test_state_open(void **state)
{
	static const struct {
		const char *name, *in;
		size_t len;
		const char *want;
		int version;
	} rows[] = {
		{"version 1", S("RELAYD-STATE 1\n"), NULL, 1},
		{"version 2", S("RELAYD-STATE 2\nwarned 0\n"), NULL, 2},
		{"empty", S(""), "not a state file", 0},
		{"no LF", S("RELAYD-STATE 2"), "not a state file", 0},
		{"CRLF", S("RELAYD-STATE 2\r\n"), "unknown state file version", 0},
		{"version 3", S("RELAYD-STATE 3\nwarned 0\n"), "unknown state file version", 0},
		{"version 22", S("RELAYD-STATE 22\n"), "unknown state file version", 0},
		{"no version", S("RELAYD-STATE \n"), "unknown state file version", 0},
		{"a message file", S("RELAYD 1\nid 661BADAF1545E000\n"), "not a state file", 0},
		{"lower case", S("relayd-state 2\n"), "not a state file", 0},
		{"NUL", S("RELAYD-STATE\0002\n"), "not a state file", 0},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct fmt_state_rd rd;
		const char *why = NULL;
		char *in = malloc(rows[i].len ? rows[i].len : 1);
		memcpy(in, rows[i].in, rows[i].len);
		int rc = spool_fmt_state_open(&rd, in, rows[i].len, 1, &why);
		if (rows[i].want)
			CHECK(rc == -1 && strcmp(str(why), rows[i].want) == 0,
			      "%s: got %d \"%s\", want \"%s\"", rows[i].name, rc, str(why),
			      rows[i].want);
		else
			CHECK(rc == 0 && rd.version == rows[i].version,
			      "%s: got %d \"%s\" version %d, want version %d", rows[i].name, rc,
			      str(why), rd.version, rows[i].version);
		free(in);
	}
	done();
}

#define LINE "r 0 0 1 100 451 8 4.3.0 sink h[1.2.3.4]:25 - text"

/* One line after the version line; want: the reason, or NULL for a
 * recipient (whose cmd and reply are then checked), "warned" or "held". */
static const struct {
	const char *name;
	int version;
	const char *in;
	size_t len;
	const char *want;
	int cmd;
	const char *reply;
} state_lines[] = {
	{"a line", 2, S(LINE), NULL, RCMD_RCPT, "text"},
	{"version 1", 1, S("r 0 0 1 100 451 4.3.0 sink h[1.2.3.4]:25 - text"), NULL, RCMD_NONE,
	 "text"},
	{"no space after the detour", 2, S("r 2 0 1 100 0 0 - - - -"), NULL, 0, ""},
	{"spaces in the reply", 2, S("r 0 0 1 100 0 0 - - - -  two  spaces "), NULL, 0,
	 " two  spaces "},
	{"a newer command", 2, S("r 0 0 1 100 451 99 4.3.0 sink h - text"), NULL, RCMD_NONE,
	 "text"},
	{"last command", 2, S("r 0 0 1 100 221 11 2.0.0 sink h - bye"), NULL, RCMD_QUIT, "bye"},
	{"status with three digits", 2, S("r 0 0 1 100 451 8 4.7.650 sink h - x"), NULL, RCMD_RCPT,
	 "x"},
	{"negative next", 2, S("r 0 0 1 -100 451 8 - sink h - x"), NULL, RCMD_RCPT, "x"},
	{"leading zeros", 2, S("r 00 0 01 0100 451 08 - sink h - x"), NULL, RCMD_RCPT, "x"},
	{"UTF-8 and C1 in the reply", 2, S("r 0 0 1 1 550 8 - - - - caf\xc3\xa9 \xc2\x9b"), NULL,
	 RCMD_RCPT, "caf\xc3\xa9 \xc2\x9b"},
	{"warned 1", 2, S("warned 1"), "warned", 0, NULL},
	{"warned 0", 2, S("warned 0"), "warned", 0, NULL},
	{"held 1", 2, S("held 1"), "held", 0, NULL},
	{"held 0", 2, S("held 0"), "held", 0, NULL},
	{"held 1 in version 1", 1, S("held 1"), "held", 0, NULL},

	NOV("empty line", 2, "", "unknown line"),
	NOV("r alone", 2, "r", "unknown line"),
	NOV("other line", 2, "x 0 0 1 100 451 8 4.3.0 sink h - text", "unknown line"),
	NOV("upper case", 2, "R 0 0 1 100 451 8 4.3.0 sink h - text", "unknown line"),
	NOV("warned 2", 2, "warned 2", "bad warned line"),
	NOV("warned 10", 2, "warned 10", "bad warned line"),
	NOV("warned empty", 2, "warned ", "bad warned line"),
	NOV("held 2", 2, "held 2", "bad held line"),
	NOV("held yes", 2, "held yes", "bad held line"),
	NOV("held empty", 2, "held ", "bad held line"),
	NOV("held without a value", 2, "held", "unknown line"),
	NOV("held upper case", 2, "HELD 1", "unknown line"),
	NOV("r and a space", 2, "r ", "line cut short"),
	NOV("index only", 2, "r 0", "line cut short"),
	NOV("index and space", 2, "r 0 ", "line cut short"),
	NOV("cut after the code", 2, "r 0 0 1 100 451", "line cut short"),
	NOV("cut after the relay", 2, "r 0 0 1 100 451 8 4.3.0 sink h", "line cut short"),
	NOV("cut after the relay's space", 2, "r 0 0 1 100 451 8 4.3.0 sink h ", "line cut short"),
	NOV("index not a number", 2, "r x 0 1 100 451 8 4.3.0 sink h - text",
	    "bad recipient index"),
	NOV("index negative", 2, "r -1 0 1 100 451 8 4.3.0 sink h - text", "bad recipient index"),
	NOV("index plus", 2, "r +1 0 1 100 451 8 4.3.0 sink h - text", "bad recipient index"),
	NOV("index empty", 2, "r  0 1 100 451 8 4.3.0 sink h - text", "bad recipient index"),
	NOV("index overflow", 2, "r 18446744073709551616 0 1 100 451 8 - sink h - x",
	    "bad recipient index"),
	NOV("index at nrcpt", 2, "r 3 0 1 100 451 8 4.3.0 sink h - text",
	    "recipient index out of range"),
	NOV("index huge", 2, "r 18446744073709551615 0 1 100 451 8 - sink h - x",
	    "recipient index out of range"),
	NOV("state 4", 2, "r 0 4 1 100 451 8 4.3.0 sink h - text", "state out of range"),
	NOV("state -1", 2, "r 0 -1 1 100 451 8 4.3.0 sink h - text", "state out of range"),
	NOV("state x", 2, "r 0 x 1 100 451 8 4.3.0 sink h - text", "state out of range"),
	NOV("attempts overflow", 2, "r 0 0 4294967296 100 451 8 - sink h - x", "bad attempts"),
	NOV("attempts negative", 2, "r 0 0 -1 100 451 8 - sink h - x", "bad attempts"),
	NOV("next a fraction", 2, "r 0 0 1 1.5 451 8 - sink h - x", "bad next attempt time"),
	NOV("next overflow", 2, "r 0 0 1 9223372036854775808 451 8 - sink h - x",
	    "bad next attempt time"),
	NOV("next dash", 2, "r 0 0 1 - 451 8 - sink h - x", "bad next attempt time"),
	NOV("code 600", 2, "r 0 0 1 100 600 8 - sink h - x", "code out of range"),
	NOV("code 199", 2, "r 0 0 1 100 199 8 - sink h - x", "code out of range"),
	NOV("code 1000", 2, "r 0 0 1 100 1000 8 - sink h - x", "code out of range"),
	NOV("code -1", 2, "r 0 0 1 100 -1 8 - sink h - x", "code out of range"),
	NOV("command text", 2, "r 0 0 1 100 451 x - sink h - x", "bad command"),
	NOV("command negative", 2, "r 0 0 1 100 451 -1 - sink h - x", "bad command"),
	NOV("command overflow", 2, "r 0 0 1 100 451 4294967296 - sink h - x", "bad command"),
	NOV("version 1 read as 2", 2, "r 0 0 1 100 451 4.3.0 sink h[1.2.3.4]:25 - text",
	    "bad command"),
	NOV("version 2 read as 1", 1, LINE, "bad status"),
	NOV("status two parts", 2, "r 0 0 1 100 451 8 4.3 sink h - x", "bad status"),
	NOV("status word", 2, "r 0 0 1 100 451 8 temporary sink h - x", "bad status"),
	NOV("status part of 4", 2, "r 0 0 1 100 451 8 4.1.1234 sink h - x", "bad status"),
	NOV("status empty", 2, "r 0 0 1 100 451 8  sink h - x", "bad status"),
	NOV("status trailing dot", 2, "r 0 0 1 100 451 8 4.3.0. sink h - x", "bad status"),
	NOV("status CR", 2, "r 0 0 1 100 451 8 4.3.0\r sink h - x", "bad status"),
	NOV("transport with '/'", 2, "r 0 0 1 100 451 8 - a/b h - x", "bad transport"),
	NOV("transport UTF-8", 2, "r 0 0 1 100 451 8 - caf\xc3\xa9 h - x", "bad transport"),
	NOV("transport empty", 2, "r 0 0 1 100 451 8 -  h - x", "bad transport"),
	NOV("relay UTF-8", 2, "r 0 0 1 100 451 8 - t m\xc3\xa9x - x", "bad relay"),
	NOV("relay tab", 2, "r 0 0 1 100 451 8 - t a\tb - x", "bad relay"),
	NOV("relay empty", 2, "r 0 0 1 100 451 8 - t  - x", "bad relay"),
	NOV("detour with '/'", 2, "r 0 0 1 100 451 8 - t h a/b x", "bad detour"),
	NOV("detour empty", 2, "r 0 0 1 100 451 8 - t h  x", "bad detour"),
	NOV("tab in the reply", 2, "r 0 0 1 100 451 8 - t h - a\tb", "a control byte in the reply"),
	NOV("CR in the reply", 2, "r 0 0 1 100 451 8 - t h - a\r", "a control byte in the reply"),
	NOV("NUL in the reply", 2, "r 0 0 1 100 451 8 - t h - a\0b", "a control byte in the reply"),
	NOV("ESC in the reply", 2, "r 0 0 1 100 451 8 - t h - \x1b[2J",
	    "a control byte in the reply"),
	NOV("DEL in the reply", 2, "r 0 0 1 100 451 8 - t h - \x7f", "a control byte in the reply"),
};

/* Read "RELAYD-STATE V\n" LINE "\n" (an exact-size buffer) for 3 recipients. */
static int
read_line(int version, const char *line, size_t len, struct fmt_rcpt *r, bool *warned,
	  const char **why, int *after)
{
	size_t n = 15 + len + 1;
	char *buf = malloc(n);
	struct fmt_state_rd rd;

	memcpy(buf, version == 1 ? "RELAYD-STATE 1\n" : "RELAYD-STATE 2\n", 15);
	memcpy(buf + 15, line, len);
	buf[n - 1] = '\n';
	assert_int_equal(spool_fmt_state_open(&rd, buf, n, 3, why), 0);
	int rc = spool_fmt_state_next(&rd, r, warned, why);
	const char *w2;
	*after = spool_fmt_state_next(&rd, r + 1, warned, &w2);
	free(buf);
	return rc;
}

static void
test_state_lines(void **state)
{
	for (size_t i = 0; i < NELEM(state_lines); i++) {
		struct fmt_rcpt r[2];
		bool warned = false;
		const char *why = NULL, *name = state_lines[i].name, *want = state_lines[i].want;
		int after;
		int rc = read_line(state_lines[i].version, state_lines[i].in, state_lines[i].len, r,
				   &warned, &why, &after);

		CHECK(after == FMT_END, "%s: then got %d, want the end", name, after);
		if (want && strcmp(want, "warned") == 0) {
			CHECK(rc == FMT_WARNED && warned == (state_lines[i].in[7] == '1'),
			      "%s: got %d warned %d, want FMT_WARNED", name, rc, warned);
		} else if (want && strcmp(want, "held") == 0) {
			CHECK(rc == FMT_HELD && warned == (state_lines[i].in[5] == '1'),
			      "%s: got %d flag %d, want FMT_HELD", name, rc, warned);
		} else if (want) {
			CHECK(rc == -1 && strcmp(str(why), want) == 0,
			      "%s: got %d \"%s\", want \"%s\"", name, rc,
			      rc == -1 ? str(why) : "success", want);
		} else {
			CHECK(rc == FMT_RCPT, "%s: got %d \"%s\", want a recipient", name, rc,
			      str(why));
			if (rc == FMT_RCPT)
				CHECK(r[0].cmd == state_lines[i].cmd &&
					      strcmp(r[0].reply, state_lines[i].reply) == 0,
				      "%s: got cmd %d reply \"%s\", want %d \"%s\"", name, r[0].cmd,
				      r[0].reply, state_lines[i].cmd, state_lines[i].reply);
		}
	}
	done();
}

/* Fields at their longest are read; one byte more is refused. */
static void
test_state_lengths(void **state)
{
	static const struct {
		const char *name, *fmt; /* %s: the field */
		size_t max;
		const char *want;
	} rows[] = {
		{"transport", "r 0 0 1 1 0 0 - %s h - x", FMT_NAME_MAX, "bad transport"},
		{"relay", "r 0 0 1 1 0 0 - t %s - x", FMT_RELAY_MAX, "bad relay"},
		{"detour", "r 0 0 1 1 0 0 - t h %s x", FMT_NAME_MAX, "bad detour"},
		{"reply", "r 0 0 1 1 0 0 - t h - %s", FMT_REPLY_MAX, "reply too long"},
	};
	for (size_t i = 0; i < NELEM(rows); i++)
		for (size_t n = rows[i].max; n <= rows[i].max + 1; n++) {
			char *v = malloc(n + 1), *line = malloc(n + 64);
			memset(v, 'a', n);
			v[n] = '\0';
			snprintf(line, n + 64, rows[i].fmt, v);
			struct fmt_rcpt r[2];
			bool warned;
			const char *why = NULL;
			int after, rc = read_line(2, line, strlen(line), r, &warned, &why, &after);
			if (n == rows[i].max)
				CHECK(rc == FMT_RCPT, "%s of %zu: got %d \"%s\", want a recipient",
				      rows[i].name, n, rc, str(why));
			else
				CHECK(rc == -1 && strcmp(str(why), rows[i].want) == 0,
				      "%s of %zu: got %d \"%s\", want \"%s\"", rows[i].name, n, rc,
				      str(why), rows[i].want);
			free(v);
			free(line);
		}
	done();
}

/*
 * Control bytes and other bytes a field cannot hold, as the encoder writes
 * them: the line stays one line, and reads back as written.
 */
static void
test_state_sanitise(void **state)
{
	static const struct {
		const char *name;
		const char *status, *transport, *relay, *detour, *reply;
		const char *want; /* the line */
	} rows[] = {
		{"reply with CR LF and a forged line", "5.1.1", "t", "h", "",
		 "550 a\r\nr 0 1 0 0 250 0 - - - - injected",
		 "r 1 0 2 100 550 8 5.1.1 t h - 550 a??r 0 1 0 0 250 0 - - - - injected\n"},
		{"reply with TAB, ESC, DEL; UTF-8 and C1 kept", "", "", "", "",
		 "a\tb\x1b[31m\x7f caf\xc3\xa9 \xc2\x9b",
		 "r 1 0 2 100 550 8 - - - - a?b?[31m? caf\xc3\xa9 \xc2\x9b\n"},
		{"reply of spaces", "", "", "", "", "  ", "r 1 0 2 100 550 8 - - - -   \n"},
		{"reply empty", "", "", "", "", "", "r 1 0 2 100 550 8 - - - - \n"},
		{"transport with a space and LF", "", "smart host\n", "", "", "",
		 "r 1 0 2 100 550 8 - smart_host_ - - \n"},
		{"detour with a slash and UTF-8", "", "", "",
		 "fall/b\xc3\xa4"
		 "ck",
		 "", "r 1 0 2 100 550 8 - - - fall_b__ck \n"},
		{"relay with a space, CR, UTF-8", "", "", "mx .ex\xc3\xa9[1.2.3.4]:25\r", "", "",
		 "r 1 0 2 100 550 8 - - mx?.ex??[1.2.3.4]:25? - \n"},
		{"IPv6 relay", "", "", "mx.example[2001:db8::1]:25", "", "",
		 "r 1 0 2 100 550 8 - - mx.example[2001:db8::1]:25 - \n"},
		{"status with CR", "5.1.1\r", "", "", "", "", "r 1 0 2 100 550 8 - - - - \n"},
		{"status with a space", "5.1.1 x", "", "", "", "", "r 1 0 2 100 550 8 - - - - \n"},
		{"status of a word", "failed", "", "", "", "", "r 1 0 2 100 550 8 - - - - \n"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct fmt_rcpt r = {
			.idx = 1, .attempts = 2, .next = 100, .code = 550, .cmd = RCMD_RCPT};
		snprintf(r.status, sizeof(r.status), "%s", rows[i].status);
		snprintf(r.transport, sizeof(r.transport), "%s", rows[i].transport);
		snprintf(r.relay, sizeof(r.relay), "%s", rows[i].relay);
		snprintf(r.detour, sizeof(r.detour), "%s", rows[i].detour);
		snprintf(r.reply, sizeof(r.reply), "%s", rows[i].reply);
		struct fmt_buf b = {0}, b2 = {0};
		const char *why = NULL;
		assert_int_equal(spool_fmt_state_rcpt(&b, &r, &why), 0);
		CHECK(strcmp(b.p, rows[i].want) == 0, "%s:\ngot  \"%s\"\nwant \"%s\"", rows[i].name,
		      b.p, rows[i].want);
		CHECK(memchr(b.p, '\n', b.len) == b.p + b.len - 1, "%s: not one line",
		      rows[i].name);

		/* Read back: one recipient, then the end; written again the same. */
		struct fmt_rcpt got[2];
		bool warned;
		int after, rc = read_line(2, b.p, b.len - 1, got, &warned, &why, &after);
		CHECK(rc == FMT_RCPT && after == FMT_END, "%s: read back: got %d (%s) then %d",
		      rows[i].name, rc, str(why), after);
		if (rc == FMT_RCPT) {
			assert_int_equal(spool_fmt_state_rcpt(&b2, &got[0], &why), 0);
			CHECK(strcmp(b.p, b2.p) == 0, "%s: again:\ngot  \"%s\"\nwant \"%s\"",
			      rows[i].name, b2.p, b.p);
		}
		spool_fmt_buf_free(&b);
		spool_fmt_buf_free(&b2);
	}

	/* A value "-" reads back empty, and is then written the same. */
	struct fmt_rcpt r = {.transport = "-", .relay = "-", .detour = "-"}, got[2];
	struct fmt_buf b = {0};
	const char *why;
	bool warned;
	int after;
	assert_int_equal(spool_fmt_state_rcpt(&b, &r, &why), 0);
	CHECK(strcmp(b.p, "r 0 0 0 0 0 0 - - - - \n") == 0, "dashes: got \"%s\"", b.p);
	assert_int_equal(read_line(2, b.p, b.len - 1, got, &warned, &why, &after), FMT_RCPT);
	CHECK(got[0].transport[0] == '\0' && got[0].relay[0] == '\0' && got[0].detour[0] == '\0',
	      "dashes: got \"%s\" \"%s\" \"%s\", want empty", got[0].transport, got[0].relay,
	      got[0].detour);
	spool_fmt_buf_free(&b);

	/* Arrays without their NUL: cut at the field's length. */
	memset(&r, 'a', sizeof(r));
	r.idx = 0;
	r.state = 0;
	r.code = 0;
	r.cmd = 0;
	assert_int_equal(spool_fmt_state_rcpt(&b, &r, &why), 0);
	assert_int_equal(read_line(2, b.p, b.len - 1, got, &warned, &why, &after), FMT_RCPT);
	CHECK(strlen(got[0].transport) == FMT_NAME_MAX && strlen(got[0].relay) == FMT_RELAY_MAX &&
		      strlen(got[0].reply) == FMT_REPLY_MAX && got[0].status[0] == '\0',
	      "unterminated: got lengths %zu %zu %zu, status \"%s\"", strlen(got[0].transport),
	      strlen(got[0].relay), strlen(got[0].reply), got[0].status);
	spool_fmt_buf_free(&b);
	done();
}

static void
test_state_refused(void **state)
{
	static const struct {
		const char *name;
		int st, code, cmd;
		const char *want;
	} rows[] = {
		{"state 3", 3, 0, 0, NULL},
		{"state 4", 4, 0, 0, "state out of range"},
		{"state -1", -1, 0, 0, "state out of range"},
		{"code 200", 0, 200, 0, NULL},
		{"code 599", 0, 599, 0, NULL},
		{"code 600", 0, 600, 0, "code out of range"},
		{"code 199", 0, 199, 0, "code out of range"},
		{"code -1", 0, -1, 0, "code out of range"},
		{"command last", 0, 0, RCMD_LAST, NULL},
		{"command beyond", 0, 0, RCMD_LAST + 1, "command out of range"},
		{"command -1", 0, 0, -1, "command out of range"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct fmt_rcpt r = {.state = rows[i].st, .code = rows[i].code, .cmd = rows[i].cmd};
		struct fmt_buf b = {0};
		const char *why = NULL;
		int rc = spool_fmt_state_rcpt(&b, &r, &why);
		if (rows[i].want)
			CHECK(rc == -1 && strcmp(str(why), rows[i].want) == 0 && b.len == 0,
			      "%s: got %d \"%s\", want \"%s\"", rows[i].name, rc, str(why),
			      rows[i].want);
		else
			CHECK(rc == 0, "%s: got \"%s\", want success", rows[i].name, str(why));
		spool_fmt_buf_free(&b);
	}
	done();
}

/* A file's lines: a bad one is skipped and reading goes on. */
static void
test_state_skip(void **state)
{
	static const char in[] = "RELAYD-STATE 2\nwarned 0\nr 0 0 1 1 0 0 - - - - a\n"
				 "r 9 0 1 1 0 0 - - - - b\ngarbage\nwarned 1\nheld x\n"
				 "r 1 0 1 1 0 0 - - - - c";
	static const int want[] = {FMT_WARNED, FMT_RCPT, -1, -1, FMT_WARNED, -1, FMT_RCPT, FMT_END};
	struct fmt_state_rd rd;
	struct fmt_rcpt r;
	bool warned = false;
	const char *why;

	assert_int_equal(spool_fmt_state_open(&rd, in, sizeof(in) - 1, 2, &why), 0);
	for (size_t i = 0; i < NELEM(want); i++) {
		int rc = spool_fmt_state_next(&rd, &r, &warned, &why);
		CHECK(rc == want[i], "line %u: got %d, want %d", rd.line, rc, want[i]);
	}
	CHECK(warned && r.idx == 1 && strcmp(r.reply, "c") == 0,
	      "the last: got warned %d, r %zu \"%s\"", warned, r.idx, r.reply);
	CHECK(rd.line == 8, "lines: got %u, want 8", rd.line);
	done();
}

/* ---- journal record heads and .done files ----------------------------- */

static void
test_rec(void **state)
{
	static const struct {
		const char *name, *in;
		size_t len;
		const char *want;
		uint64_t reclen;
		size_t headlen;
	} rows[] = {
		{"today", S(rec_1545), NULL, 485, 22},
		{"empty record", S("@661BADAF1545E000 0\n"), NULL, 0, 20},
		{"longest", S("@661BADAF1545E000 1073741824\nx"), NULL, 1073741824, 29},
		NO("too long", "@661BADAF1545E000 1073741825\n", "length out of range"),
		NO("13 digits", "@661BADAF1545E000 9999999999999\n", "length out of range"),
		NO("empty", "", "no end of line"),
		NO("cut", "@661BADAF1545E000 485", "no end of line"),
		NO("LF too far", "@661BADAF1545E000 00000000000000000485\n", "no end of line"),
		NO("no '@'", "661BADAF1545E000 485\n", "no '@'"),
		NO("LF first", "\n@661BADAF1545E000 485\n", "no '@'"),
		NO("id lower case", "@661badaf1545e000 485\n", "bad id"),
		NO("id short", "@661BADAF1545E00 485\n", "bad id"),
		NO("id alone", "@661BADAF1545E000\n", "bad id"),
		NO("'@' alone", "@\n", "bad id"),
		NO("tab", "@661BADAF1545E000\t485\n", "bad id"),
		NO("two spaces", "@661BADAF1545E000  485\n", "bad length"),
		NO("no length", "@661BADAF1545E000 \n", "bad length"),
		NO("negative", "@661BADAF1545E000 -1\n", "bad length"),
		NO("plus", "@661BADAF1545E000 +5\n", "bad length"),
		NO("leading zero", "@661BADAF1545E000 0485\n", "bad length"),
		NO("CRLF", "@661BADAF1545E000 485\r\n", "bad length"),
		NO("trailing", "@661BADAF1545E000 485 x\n", "bad length"),
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		char qid[FMT_QID_LEN + 1] = "";
		uint64_t reclen = 7;
		size_t headlen = 7, len = rows[i].len < 40 ? rows[i].len : 40;
		const char *why = NULL;
		/* At most the 40 bytes queue.c would read, in an exact buffer. */
		char *in = malloc(len ? len : 1);
		memcpy(in, rows[i].in, len);
		int rc = spool_fmt_rec_decode(in, len, qid, &reclen, &headlen, &why);
		if (rows[i].want)
			CHECK(rc == -1 && strcmp(str(why), rows[i].want) == 0,
			      "%s: got %d \"%s\", want \"%s\"", rows[i].name, rc, str(why),
			      rows[i].want);
		else
			CHECK(rc == 0 && strcmp(qid, "661BADAF1545E000") == 0 &&
				      reclen == rows[i].reclen && headlen == rows[i].headlen,
			      "%s: got %d \"%s\" %s %llu %zu, want %llu %zu", rows[i].name, rc,
			      str(why), qid, (unsigned long long)reclen, headlen,
			      (unsigned long long)rows[i].reclen, rows[i].headlen);
		if (rc == 0) {
			char out[FMT_REC_HEAD_MAX];
			size_t n = spool_fmt_rec_encode(out, qid, reclen);
			CHECK(n == headlen && memcmp(out, rows[i].in, n) == 0,
			      "%s: encoded: got \"%.*s\"", rows[i].name, (int)n, out);
		}
		free(in);
	}
	char out[FMT_REC_HEAD_MAX];
	CHECK(spool_fmt_rec_encode(out, "661badaf1545e000", 1) == 0, "lower-case id encoded");
	CHECK(spool_fmt_rec_encode(out, "661BADAF1545E0001", 1) == 0, "17-digit id encoded");
	CHECK(spool_fmt_rec_encode(out, "661BADAF1545E000", FMT_RECORD_MAX + 1ULL) == 0,
	      "too long a record encoded");
	done();
}

static void
test_done(void **state)
{
	static const struct {
		const char *name, *in;
		size_t len;
		const char *want; /* ids, '-' for a bad line, ' ' between */
	} rows[] = {
		{"today", S("661BADAF165BD001\n661BADAF168DA002\n"),
		 "661BADAF165BD001 661BADAF168DA002"},
		{"last line without LF", S("661BADAF165BD001\n661BADAF168DA002"),
		 "661BADAF165BD001 661BADAF168DA002"},
		{"last line cut", S("661BADAF165BD001\n661BADAF16"), "661BADAF165BD001 -"},
		{"empty", S(""), ""},
		{"bad lines", S("\nabc\n661badaf165bd001\n661BADAF165BD0011\n661BADAF165BD001\n"),
		 "- - - - 661BADAF165BD001"},
		{"NUL", S("661BADAF165BD00\0\n"), "-"},
		{"CRLF", S("661BADAF165BD001\r\n"), "-"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		char got[256] = "", qid[FMT_QID_LEN + 1];
		size_t off = 0;
		const char *why;
		int rc;
		char *in = malloc(rows[i].len ? rows[i].len : 1);
		memcpy(in, rows[i].in, rows[i].len);
		while ((rc = spool_fmt_done_next(in, rows[i].len, &off, qid, &why)) != 0) {
			size_t n = strlen(got);
			snprintf(got + n, sizeof(got) - n, "%s%s", n ? " " : "",
				 rc == 1 ? qid : "-");
			if (rc == -1)
				CHECK(strcmp(why, "not an id") == 0, "%s: reason \"%s\"",
				      rows[i].name, why);
		}
		CHECK(strcmp(got, rows[i].want) == 0, "%s: got \"%s\", want \"%s\"", rows[i].name,
		      got, rows[i].want);
		CHECK(off == rows[i].len, "%s: stopped at %zu of %zu", rows[i].name, off,
		      rows[i].len);
		free(in);
	}
	char out[FMT_QID_LEN + 2];
	CHECK(spool_fmt_done_encode(out, "661BADAF165BD001") == 17 &&
		      strcmp(out, "661BADAF165BD001\n") == 0,
	      "encode: got \"%s\"", out);
	CHECK(spool_fmt_done_encode(out, "661BADAF165BD00") == 0, "a short id encoded");
	done();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qid),
		cmocka_unit_test(test_env_today),
		cmocka_unit_test(test_env_decode),
		cmocka_unit_test(test_env_encode_refused),
		cmocka_unit_test(test_env_round_trip),
		cmocka_unit_test(test_env_size),
		cmocka_unit_test(test_state_today),
		cmocka_unit_test(test_state_open),
		cmocka_unit_test(test_state_lines),
		cmocka_unit_test(test_state_lengths),
		cmocka_unit_test(test_state_sanitise),
		cmocka_unit_test(test_state_refused),
		cmocka_unit_test(test_state_skip),
		cmocka_unit_test(test_rec),
		cmocka_unit_test(test_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
