/*
 * fuzz_client.c — the outbound SMTP state machine (smtp/client.c) and the
 * reply parser under it (smtp/reply.c) fed raw server bytes, line by line,
 * while ready() drives transactions of 1 to 3 recipients.
 *
 * Input: a 3-byte header, then what the server says, split at each LF (one
 * CR before it removed; a last line without LF is never complete).
 *   [0]  bits 0-1 first transaction's recipients - 1 (then cycling 1..3),
 *        bit 2 SMTPUTF8, bit 3 BODY=8BITMIME, bits 4-5 size (0, 1000, 10M,
 *        2^62), bit 6 client_quit() from txn_done() after two transactions,
 *        bit 7 a second client_txn() right after the first (must be refused)
 *   [1]  bits 0-2 transactions - 1, bit 6 the null sender, bit 7
 *        client_quit() at the end of the input
 *   [2]  bits 0-1 TLS policy (none, may, require, require), bit 2 SMTPS
 *        (TLS from the start), bit 3 AUTH credentials, bit 4 the STARTTLS
 *        handshake never finishes (else client_tls_done() follows the line),
 *        bit 5 lazy flushing: what the client wrote reaches the wire
 *        (client_flushed()) only at an empty input line, so server lines
 *        may answer ahead of the commands (else before every line)
 *
 * Invariants checked: each transaction ends in exactly one txn_done() or
 * one fail(), and fail() comes at most once; ready() only between
 * transactions; nothing is written after fail() or in CL_DEAD, nor while
 * the STARTTLS handshake runs; every write is one well-formed command line
 * ending in CRLF (no other CR, LF or NUL, at most 512 octets but AUTH's):
 * EHLO/HELO, STARTTLS in CL_STARTTLS, AUTH and the credentials in CL_AUTH
 * and only over TLS, RSET, QUIT, "." in CL_DOT, and within a transaction
 * at most one RSET first (a reused connection), MAIL FROM:<sender> with
 * only the parameters asked for (only over TLS when TLS is required), then
 * RCPT TO:<rcpt[i]> in order, then DATA; body()
 * only after DATA; every recipient has a final reply in txn_done(), with a
 * code and NUL-terminated, control-free text; fail()'s reason is the same
 * or a local one (code 0) flagged fail_temp; a malformed line gives -1
 * and fail().
 *
 * And the one that matters most: no recipient is ever reported delivered
 * (a 2xx final reply in txn_done()) unless DATA was answered 354 (body()
 * ran), the body was then flushed to the wire, and the 2xx is the server
 * line being read now, after that flush.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/base64.h"
#include "smtp/client.h"
#include "smtp/cmd.h"
#include "tests/fuzz/fuzz.h"

static const char *const rcpts[] = {
	"someone@gmail.com",
	"other@example.net",
	"b\xc3\xbc"
	"cher@b\xc3\xbc"
	"cher.example",
};

static const char user[] = "relay-user", pass[] = "s3cret pass";

struct fz {
	struct client *c;
	uint8_t h0, h1, h2;
	struct client_opts opts;
	char plain[128], b64user[64], b64pass[64]; /* what AUTH may send */
	unsigned ntxn, maxtxn, ndone;
	bool txn_open, failed, body;
	bool rset;   /* the open transaction began with RSET */
	bool in_tls; /* starttls() called, client_tls_done() not yet */
	struct client_msg m;
	size_t sent;	   /* commands of the open transaction: MAIL, RCPT..., DATA */
	bool body_flushed; /* client_flushed() came after body() */
	int line_code;	   /* the code of the server line being read, or -1 */
};

static struct fz fz;

static bool
in_txn_state(enum client_state st)
{
	return st == CL_TXN || st == CL_BODY || st == CL_DOT;
}

/* Is L (N bytes) "MAIL FROM:<sender>" with only the parameters asked for? */
static bool
mail_ok(const char *l, size_t n)
{
	char want[600];
	size_t w = (size_t)snprintf(want, sizeof(want), "MAIL FROM:<%s>", fz.m.sender);

	if (n < w || memcmp(l, want, w) != 0)
		return false;
	l += w;
	n -= w;
	while (n > 0) {
		const char *tok = l + 1;
		size_t k = 1;
		if (l[0] != ' ')
			return false;
		while (k < n && l[k] != ' ')
			k++;
		size_t tl = k - 1;
		if (tl > 5 && memcmp(tok, "SIZE=", 5) == 0) {
			if (fz.m.size == 0)
				return false;
		} else if (tl == 13 && memcmp(tok, "BODY=8BITMIME", 13) == 0) {
			if (fz.m.body != BODY_8BITMIME)
				return false;
		} else if (tl == 8 && memcmp(tok, "SMTPUTF8", 8) == 0) {
			if (!fz.m.smtputf8)
				return false;
		} else
			return false;
		l += k;
		n -= k;
	}
	return true;
}

/* Is L (N bytes) one of the AUTH exchange's lines? */
static bool
auth_line(const char *l, size_t n)
{
	const char *const lines[] = {fz.plain, "AUTH LOGIN", fz.b64user, fz.b64pass};

	for (size_t i = 0; i < 4; i++)
		if (strlen(lines[i]) == n && memcmp(lines[i], l, n) == 0)
			return true;
	return false;
}

static void
h_write(void *arg, const char *buf, size_t len)
{
	FUZZ_CHECK(!fz.failed, "write after fail(): \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(fz.c->state != CL_DEAD, "write in CL_DEAD: \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(!fz.in_tls, "write during the TLS handshake: \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(len >= 3 && buf[len - 2] == '\r' && buf[len - 1] == '\n',
		   "command not a CRLF line: \"%.*s\"", (int)len, buf);
	for (size_t i = 0; i < len - 2; i++)
		FUZZ_CHECK(buf[i] != '\r' && buf[i] != '\n' && buf[i] != '\0',
			   "CR, LF or NUL inside a command: \"%.*s\"", (int)len, buf);
	size_t n = len - 2;
	char want[600];

	if (fz.c->state == CL_AUTH) {
		/* RFC 4954 4: AUTH lines may be longer than 512 octets. */
		FUZZ_CHECK(auth_line(buf, n), "unexpected AUTH line: \"%.*s\"", (int)n, buf);
		FUZZ_CHECK(fz.c->tls, "credentials sent in plaintext: \"%.*s\"", (int)n, buf);
		return;
	}
	FUZZ_CHECK(len <= 512, "command of %zu octets", len);
	if (fz.c->state == CL_TXN && fz.txn_open) {
		/* A reused connection's transaction may begin with one RSET. */
		if (n == 4 && memcmp(buf, "RSET", 4) == 0) {
			FUZZ_CHECK(fz.sent == 0 && !fz.rset,
				   "RSET after %zu commands of a transaction", fz.sent);
			fz.rset = true;
			return;
		}
		/* The next command of the transaction. */
		size_t i = fz.sent++;
		if (i == 0) {
			FUZZ_CHECK(mail_ok(buf, n), "bad MAIL: \"%.*s\"", (int)n, buf);
			FUZZ_CHECK(fz.c->tls || fz.opts.tls != CLIENT_TLS_REQUIRE,
				   "MAIL in plaintext with TLS required");
		} else if (i <= fz.m.nrcpt) {
			snprintf(want, sizeof(want), "RCPT TO:<%s>", fz.m.rcpt[i - 1]);
			FUZZ_CHECK(strlen(want) == n && memcmp(want, buf, n) == 0,
				   "command %zu: got \"%.*s\", want \"%s\"", i, (int)n, buf, want);
		} else
			FUZZ_CHECK(i == fz.m.nrcpt + 1 && n == 4 && memcmp(buf, "DATA", 4) == 0,
				   "command %zu of a %zu-recipient transaction: \"%.*s\"", i,
				   fz.m.nrcpt, (int)n, buf);
		return;
	}
	static const char *const verbs[] = {
		"EHLO relay.fuzz.test", "HELO relay.fuzz.test", "RSET", "QUIT", ".", "STARTTLS"};
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strlen(verbs[v]) == n && memcmp(verbs[v], buf, n) == 0) {
			if (v == 4)
				FUZZ_CHECK(fz.c->state == CL_DOT && fz.txn_open,
					   "\".\" written in %s", client_strstate(fz.c->state));
			if (v == 5)
				FUZZ_CHECK(fz.c->state == CL_STARTTLS && !fz.c->tls &&
						   fz.opts.tls != CLIENT_TLS_NONE,
					   "STARTTLS in %s, tls %d", client_strstate(fz.c->state),
					   fz.c->tls);
			return;
		}
	FUZZ_CHECK(false, "unexpected command in %s: \"%.*s\"", client_strstate(fz.c->state),
		   (int)n, buf);
}

static void
h_body(void *arg)
{
	FUZZ_CHECK(fz.txn_open && !fz.failed, "body() outside a transaction");
	FUZZ_CHECK(fz.c->state == CL_BODY, "body() in %s", client_strstate(fz.c->state));
	FUZZ_CHECK(fz.sent == fz.m.nrcpt + 2, "body() after %zu commands", fz.sent);
	FUZZ_CHECK(!fz.body, "body() twice");
	fz.body = true;
	fz.body_flushed = false;
}

/* The owner's flush: everything written is on the wire now. */
static void
flush(void)
{
	if (fz.body)
		fz.body_flushed = true;
	client_flushed(fz.c);
}

static void
check_reply(const struct reply *r, const char *what)
{
	FUZZ_CHECK((r->code >= 200 && r->code <= 599) || (r->code == 0 && r->line[0] != '\0'),
		   "%s: code %d", what, r->code);
	FUZZ_CHECK(memchr(r->line, '\0', sizeof(r->line)) != NULL &&
			   memchr(r->text, '\0', sizeof(r->text)) != NULL &&
			   memchr(r->status, '\0', sizeof(r->status)) != NULL,
		   "%s: unterminated text", what);
	for (const char *p = r->line; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "%s: control char in line",
			   what);
	for (const char *p = r->text; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "%s: control char in text",
			   what);
}

static void
h_ready(void *arg)
{
	FUZZ_CHECK(!fz.txn_open && !fz.failed, "ready() with a transaction open or after fail()");
	FUZZ_CHECK(fz.c->state == CL_READY, "ready() in %s", client_strstate(fz.c->state));
	if (fz.ntxn >= fz.maxtxn) {
		client_quit(fz.c);
		return;
	}
	static const uint64_t sizes[] = {0, 1000, 10 * 1024 * 1024, (uint64_t)1 << 62};
	memset(&fz.m, 0, sizeof(fz.m));
	fz.m.sender = fz.h1 & 64 ? "" : "me@example.org";
	fz.m.rcpt = rcpts;
	fz.m.nrcpt = 1 + ((fz.h0 & 3) + fz.ntxn) % 3;
	fz.m.size = sizes[(fz.h0 >> 4) & 3];
	fz.m.body = fz.h0 & 8 ? BODY_8BITMIME : BODY_NONE;
	fz.m.smtputf8 = fz.h0 & 4;
	fz.ntxn++;
	fz.sent = 0;
	fz.body = false;
	fz.rset = false;
	fz.txn_open = true;
	int rc = client_txn(fz.c, &fz.m);
	FUZZ_CHECK(rc == 0, "client_txn() refused in READY");
	if ((fz.h0 & 128) && fz.c->state == CL_TXN) {
		size_t sent = fz.sent;
		FUZZ_CHECK(client_txn(fz.c, &fz.m) == -1, "a second client_txn() was accepted");
		FUZZ_CHECK(fz.sent == sent, "a refused client_txn() wrote");
	}
}

static void
h_txn_done(void *arg, const struct reply *replies)
{
	FUZZ_CHECK(fz.txn_open, "txn_done() without a transaction");
	FUZZ_CHECK(!fz.failed, "txn_done() after fail()");
	fz.txn_open = false;
	fz.ndone++;
	for (size_t i = 0; i < fz.m.nrcpt; i++) {
		check_reply(&replies[i], "txn_done() reply");
		FUZZ_CHECK(replies[i].code != 0, "recipient %zu without a final reply", i);
		if (replies[i].code / 100 != 2)
			continue;
		/* Delivered: only after 354, the body on the wire, then 2xx. */
		FUZZ_CHECK(fz.body, "recipient %zu delivered (%d) without a 354 to DATA", i,
			   replies[i].code);
		FUZZ_CHECK(fz.body_flushed,
			   "recipient %zu delivered (%d) before the body was on the wire", i,
			   replies[i].code);
		FUZZ_CHECK(replies[i].code == fz.line_code,
			   "recipient %zu delivered by %d, but the line read is %d", i,
			   replies[i].code, fz.line_code);
	}
	if ((fz.h0 & 64) && fz.ndone >= 2)
		client_quit(fz.c);
}

static void
h_fail(void *arg, const struct reply *r)
{
	FUZZ_CHECK(!fz.failed, "fail() twice");
	FUZZ_CHECK(fz.c->state == CL_DEAD, "fail() in %s", client_strstate(fz.c->state));
	check_reply(r, "fail() reply");
	FUZZ_CHECK(r->code != 0 || fz.c->fail_temp, "a local failure not flagged fail_temp");
	fz.failed = true;
	fz.txn_open = false;
}

static void
h_starttls(void *arg)
{
	FUZZ_CHECK(fz.c->state == CL_TLS && !fz.c->tls && fz.opts.tls != CLIENT_TLS_NONE,
		   "starttls() in %s, tls %d", client_strstate(fz.c->state), fz.c->tls);
	fz.in_tls = true;
}

/* Every state change comes here, and only real changes. */
static void
h_trace(void *arg, enum client_state from, enum client_state to)
{
	FUZZ_CHECK(from != to, "trace of %s -> itself", client_strstate(to));
	FUZZ_CHECK(fz.c->state == to, "trace to %s in %s", client_strstate(to),
		   client_strstate(fz.c->state));
	FUZZ_CHECK(from != CL_DEAD, "%s after CL_DEAD", client_strstate(to));
}

static const struct client_hooks hooks = {
	.write = h_write,
	.body = h_body,
	.ready = h_ready,
	.txn_done = h_txn_done,
	.fail = h_fail,
	.starttls = h_starttls,
	.trace = h_trace,
};

/* One input: a client session driven by the server lines that follow the header. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int nul_after = -1;
	const char *p, *e, *lf;

	if (nul_after == -1)
		nul_after = fuzz_skip("ehlo_size");
	if (size < 3)
		return 0;
	memset(&fz, 0, sizeof(fz));
	fz.h0 = data[0];
	fz.h1 = data[1];
	fz.h2 = data[2];
	fz.maxtxn = 1 + (fz.h1 & 7);
	fz.opts.tls = (fz.h2 & 3) == 0	 ? CLIENT_TLS_NONE
		      : (fz.h2 & 3) == 1 ? CLIENT_TLS_MAY
					 : CLIENT_TLS_REQUIRE;
	fz.opts.tls_active = fz.h2 & 4;
	if (fz.h2 & 8) {
		char plain[64];
		size_t ul = strlen(user), pl = strlen(pass);
		fz.opts.user = user;
		fz.opts.pass = pass;
		plain[0] = '\0';
		memcpy(plain + 1, user, ul + 1);
		memcpy(plain + ul + 2, pass, pl);
		memcpy(fz.plain, "AUTH PLAIN ", 11);
		base64_encode(plain, ul + pl + 2, fz.plain + 11, sizeof(fz.plain) - 11);
		base64_encode(user, ul, fz.b64user, sizeof(fz.b64user));
		base64_encode(pass, pl, fz.b64pass, sizeof(fz.b64pass));
	}
	fz.c = client_new("relay.fuzz.test", &hooks, NULL);
	FUZZ_CHECK(fz.c != NULL, "client_new");
	client_configure(fz.c, &fz.opts);

	for (p = (const char *)data + 3, e = (const char *)data + size;
	     (lf = memchr(p, '\n', e - p)) != NULL; p = lf + 1) {
		size_t n = lf - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		/* The line ends where an unreadable page begins; with the known
		 * bug "ehlo_size" skipped, a NUL comes first (as mta.c's CR or LF). */
		const char *line;
		if (nul_after) {
			char *t = malloc(n + 1);
			memcpy(t, p, n);
			t[n] = '\0';
			line = fuzz_guard(t, n + 1);
			free(t);
		} else
			line = fuzz_guard(p, n);
		if (fz.h2 & 32) {
			if (n == 0) {
				flush();
				continue;
			}
		} else
			flush();
		fz.line_code =
			n >= 3 && line[0] >= '0' && line[0] <= '9' && line[1] >= '0' &&
					line[1] <= '9' && line[2] >= '0' && line[2] <= '9'
				? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0')
				: -1;
		bool was_failed = fz.failed;
		int rv = client_input(fz.c, line, n);
		FUZZ_CHECK(rv == 0 || rv == -1, "client_input() returned %d", rv);
		if (rv == -1)
			FUZZ_CHECK(fz.failed && !was_failed, "-1 without fail()");
		FUZZ_CHECK(fz.txn_open == in_txn_state(fz.c->state),
			   "transaction open: %d, but in %s", fz.txn_open,
			   client_strstate(fz.c->state));
		if (fz.in_tls) {
			if (fz.h2 & 16)
				break; /* the handshake failed: the owner drops the connection */
			fz.in_tls = false;
			client_tls_done(fz.c);
			FUZZ_CHECK(fz.c->tls, "client_tls_done() did not turn TLS on");
		}
	}
	/* relayd/mta.c quits idle connections only, never mid-handshake. */
	if ((fz.h1 & 128) && !fz.in_tls)
		client_quit(fz.c);
	client_free(fz.c);
	return 0;
}
