/*
 * fuzz_server.c — the inbound SMTP state machine (smtp/server.c) fed raw
 * client bytes in pieces of varying size, with hooks that decide from the
 * input.
 *
 * Input: a 10-byte header, then the client's bytes.
 *   [0]     bit 0 normalize, 1 starttls, 2 tls, 3 require_tls, 4 auth,
 *           bits 5-7 max_rcpt - 1
 *   [1]     bits 0-1 max_size (64, 1000, 65536, 50M); bits 2-3 what happens
 *           at the end: nothing, server_timeout(), server_shutdown(), both;
 *           bit 4 a postmaster address (else RCPT TO:<postmaster> gets 550)
 *   [2..5]  piece sizes, used in turn: 0..191 -> 1..192 bytes, else the rest
 *   [6..9]  32 decision bits, two at a time, in turn: RCPT (1: pending, 2:
 *           450, 3: 550), a pending RCPT's verdict (2-3: refused), DATA
 *           refused (3), the storage verdict (0-1: 250, 2: 451, 3: a timeout
 *           instead), the TLS handshake (3: failed), AUTH refused at the
 *           command (3) and at the credentials (3), the AUTH verdict (odd:
 *           refused)
 *
 * Invariants checked: every write is whole reply lines ending in CRLF, each
 * "NNN" (200..599) then ' ' or '-', no bare CR or LF, no NUL, at most 512
 * octets, one code per multi-line reply; nothing is written after close()
 * nor between STARTTLS's 220 and server_tls_done(); close() once;
 * server_input() consumes at most what it is given, all of it unless it
 * pauses, nothing while paused; data hooks come in order (start, writes,
 * one end) exactly while in SRV_DATA; an accepted message is a well-formed
 * stored body whose size matches and is within max_size; RCPT never goes
 * beyond max_rcpt; a refusal the reject hook hears of has a known stage, a
 * 4xx or 5xx one-line reply, and a recipient exactly when at RCPT.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/data.h"
#include "smtp/server.h"
#include "tests/fuzz/fuzz.h"

#define HDR 10
#define STORE_MAX 65536

struct fz {
	struct server *s;
	struct server_params p;
	const uint8_t *chunks; /* 4 piece sizes */
	unsigned nchunk;
	uint32_t bits;
	unsigned nbit;
	bool closed;
	bool in_tls; /* 220 for STARTTLS written, server_tls_done() not yet called */
	bool data_open;
	char store[STORE_MAX];
	size_t stored;	   /* bytes in store */
	uint64_t received; /* stored-form bytes given to data_write */
};

static struct fz fz;

/* The next two decision bits. */
static unsigned
decide(void)
{
	unsigned d = (fz.bits >> (fz.nbit % 32)) & 3;

	fz.nbit += 2;
	return d;
}

static size_t
chunk_size(size_t rest)
{
	uint8_t b = fz.chunks[fz.nchunk++ % 4];
	size_t n = b < 192 ? (size_t)b + 1 : rest;

	return n < rest ? n : rest;
}

static void
h_write(void *arg, const char *buf, size_t len)
{
	size_t i, bol = 0;
	int code = -1;

	FUZZ_CHECK(!fz.closed, "write after close: \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(!fz.in_tls, "write while the TLS handshake runs: \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n',
		   "reply does not end with CRLF: \"%.*s\"", (int)len, buf);
	FUZZ_CHECK(memchr(buf, '\0', len) == NULL, "NUL in a reply");
	for (i = 0; i < len; i++) {
		if (buf[i] == '\r')
			FUZZ_CHECK(i + 1 < len && buf[i + 1] == '\n', "bare CR in a reply");
		if (buf[i] != '\n')
			continue;
		FUZZ_CHECK(i > 0 && buf[i - 1] == '\r', "bare LF in a reply");
		const char *l = buf + bol;
		size_t n = i - 1 - bol; /* without CRLF */
		FUZZ_CHECK(n + 2 <= 512, "reply line of %zu octets", n + 2);
		FUZZ_CHECK(n >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
				   l[2] >= '0' && l[2] <= '9',
			   "reply line without a code: \"%.*s\"", (int)n, l);
		int c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		FUZZ_CHECK(code == -1 || c == code, "codes %d and %d in one reply", code, c);
		code = c;
		bool last = i + 1 == len;
		FUZZ_CHECK(n == 3 ? last : l[3] == (last ? ' ' : '-'),
			   "bad separator in reply line \"%.*s\"", (int)n, l);
		bol = i + 1;
	}
}

static void
h_close(void *arg)
{
	FUZZ_CHECK(!fz.closed, "close() twice");
	fz.closed = true;
}

static const char *
h_rcpt(void *arg, const struct server_txn *t, const char *rcpt)
{
	FUZZ_CHECK(fz.s->state == SRV_MAIL || fz.s->state == SRV_RCPT, "rcpt hook in %s",
		   server_strstate(fz.s->state));
	FUZZ_CHECK(t->nrcpt < fz.p.max_rcpt, "rcpt hook with %zu of %u recipients", t->nrcpt,
		   fz.p.max_rcpt);
	FUZZ_CHECK(strchr(rcpt, '@') != NULL, "rcpt hook with \"%s\", no domain", rcpt);
	FUZZ_CHECK(strlen(rcpt) > 0 && strlen(rcpt) < CMD_LINE_MAX, "recipient of %zu bytes",
		   strlen(rcpt));
	switch (decide()) {
	case 1:
		return SERVER_PENDING; /* a lookup: server_rcpt_done() later */
	case 2:
		return "450 4.2.0 Recipient address rejected: Greylisted";
	case 3:
		return "550 5.1.1 Recipient address rejected: User unknown";
	default:
		return NULL;
	}
}

static const char *
h_data_start(void *arg, const struct server_txn *t)
{
	FUZZ_CHECK(!fz.data_open, "data_start() twice");
	FUZZ_CHECK(fz.s->state == SRV_RCPT && t->nrcpt > 0, "data_start() in %s with %zu rcpt",
		   server_strstate(fz.s->state), t->nrcpt);
	if (decide() == 3)
		return "451 4.3.0 Error: queue file write error";
	fz.data_open = true;
	fz.stored = 0;
	fz.received = 0;
	return NULL;
}

static void
h_data_write(void *arg, const char *buf, size_t len)
{
	FUZZ_CHECK(fz.data_open, "data_write() outside DATA");
	FUZZ_CHECK(fz.s->state == SRV_DATA, "data_write() in %s", server_strstate(fz.s->state));
	if (fz.stored + len <= STORE_MAX) {
		memcpy(fz.store + fz.stored, buf, len);
		fz.stored += len;
	}
	fz.received += len;
}

static void
count(void *arg, const char *buf, size_t len)
{
	*(uint64_t *)arg += len;
}

static void
h_data_end(void *arg, const struct server_txn *t, bool ok)
{
	FUZZ_CHECK(fz.data_open, "data_end() without data_start()");
	fz.data_open = false;
	if (!ok)
		return;
	FUZZ_CHECK(fz.s->state == SRV_COMMIT, "data_end(ok) in %s", server_strstate(fz.s->state));
	FUZZ_CHECK(t->size <= fz.p.max_size || fuzz_skip("size"),
		   "message of %llu bytes accepted, max_size %llu", (unsigned long long)t->size,
		   (unsigned long long)fz.p.max_size);
	if (fz.received != fz.stored)
		return; /* too big for the store: not checked */
	fuzz_check_body(fz.store, fz.stored, true);
	uint64_t content = 0;
	data_unstuff(fz.store, fz.stored, count, &content);
	FUZZ_CHECK(content == t->size, "size %llu, but the stored body holds %llu content bytes",
		   (unsigned long long)t->size, (unsigned long long)content);
}

static void
h_starttls(void *arg)
{
	FUZZ_CHECK(fz.s->state == SRV_TLS, "starttls hook in %s", server_strstate(fz.s->state));
	fz.in_tls = true;
}

#define FUZZ_AUTH_REFUSED                                                                          \
	"454 4.7.0 Error: too many failed authentication attempts from this address; try "         \
	"again later"

static const char *
h_auth(void *arg, const char *user, const char *password)
{
	FUZZ_CHECK(fz.s->state == SRV_AUTHCHECK, "auth hook in %s", server_strstate(fz.s->state));
	FUZZ_CHECK(strlen(user) < 256 && strlen(password) < 768, "credentials too long");
	return decide() == 3 ? FUZZ_AUTH_REFUSED : NULL;
}

static const char *
h_auth_begin(void *arg)
{
	FUZZ_CHECK(fz.p.auth && fz.s->tls && !fz.s->authenticated && (fz.s->state == SRV_HELO),
		   "auth_begin hook in %s (auth %d, tls %d, authenticated %d)",
		   server_strstate(fz.s->state), fz.p.auth, fz.s->tls, fz.s->authenticated);
	return decide() == 3 ? FUZZ_AUTH_REFUSED : NULL;
}

static void
h_reject(void *arg, const struct server_txn *t, const struct server_reject *r)
{
	FUZZ_CHECK(r->stage && r->reason && r->reply, "reject without stage, reason or reply");
	FUZZ_CHECK(strcmp(r->stage, "MAIL") == 0 || strcmp(r->stage, "RCPT") == 0 ||
			   strcmp(r->stage, "END-OF-MESSAGE") == 0,
		   "reject stage %s", r->stage);
	FUZZ_CHECK(r->reply[0] == '4' || r->reply[0] == '5', "reject with reply %.20s", r->reply);
	FUZZ_CHECK(!strpbrk(r->reply, "\r\n"), "reject reply with CR or LF");
	FUZZ_CHECK((strcmp(r->stage, "RCPT") == 0) == (r->rcpt != NULL) ||
			   strcmp(r->stage, "END-OF-MESSAGE") == 0,
		   "reject at %s with%s a recipient", r->stage, r->rcpt ? "" : "out");
}

static const struct server_hooks hooks = {
	.write = h_write,
	.close = h_close,
	.rcpt = h_rcpt,
	.data_start = h_data_start,
	.data_write = h_data_write,
	.data_end = h_data_end,
	.starttls = h_starttls,
	.auth = h_auth,
	.auth_begin = h_auth_begin,
	.reject = h_reject,
};

/* The owner's answer to whatever the server waits for. Returns false when
 * the session is over. */
static bool
unpause(void)
{
	switch (fz.s->state) {
	case SRV_COMMIT:
		switch (decide()) {
		case 2:
			server_data_done(fz.s, "451 4.3.0 Error: queue file write error");
			break;
		case 3:
			server_timeout(fz.s);
			/* A verdict that comes after the session closed. */
			server_data_done(fz.s, "250 2.0.0 Ok: queued as LATE");
			break;
		default:
			server_data_done(fz.s, "250 2.0.0 Ok: queued as 660DF183FB68C000");
			break;
		}
		break;
	case SRV_TLS:
		fz.in_tls = false;
		server_tls_done(fz.s, decide() != 3);
		break;
	case SRV_AUTHCHECK:
		server_auth_done(fz.s, decide() % 2 == 0);
		break;
	case SRV_RCPTCHECK:
		server_rcpt_done(fz.s,
				 decide() < 2 ? NULL : "550 5.1.2 Recipient domain not found");
		FUZZ_CHECK(fz.s->txn.nrcpt <= fz.p.max_rcpt, "%zu recipients, max_rcpt %u",
			   fz.s->txn.nrcpt, fz.p.max_rcpt);
		break;
	default:
		break;
	}
	return fz.s->state != SRV_CLOSED;
}

/* One input: a server session fed the client bytes in pieces. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = {64, 1000, 65536, 50 * 1024 * 1024};
	const char *in = (const char *)data + HDR;
	size_t len, pos = 0;

	if (size < HDR)
		return 0;
	memset(&fz, 0, sizeof(fz));
	fz.p.hostname = "relay.fuzz.test";
	fz.p.postmaster = data[1] & 16 ? "postmaster@relay.fuzz.test" : NULL;
	fz.p.normalize = data[0] & 1;
	fz.p.starttls = data[0] & 2;
	fz.p.tls = data[0] & 4;
	fz.p.require_tls = data[0] & 8;
	fz.p.auth = data[0] & 16;
	fz.p.max_rcpt = 1 + (data[0] >> 5);
	fz.p.max_size = sizes[data[1] & 3];
	fz.chunks = data + 2;
	fz.bits = (uint32_t)data[6] | (uint32_t)data[7] << 8 | (uint32_t)data[8] << 16 |
		  (uint32_t)data[9] << 24;
	len = size - HDR;

	fz.s = server_new(&fz.p, &hooks, NULL);
	FUZZ_CHECK(fz.s != NULL, "server_new");
	server_start(fz.s);
	while (pos < len) {
		if (server_paused(fz.s)) {
			bool tls = fz.s->state == SRV_TLS;
			if (!unpause())
				break;
			if (tls) {
				/* The owner drops what came in the clear with STARTTLS. */
				pos += chunk_size(len - pos);
			}
			continue;
		}
		size_t n = chunk_size(len - pos);
		size_t used = server_input(fz.s, fuzz_guard(in + pos, n), n);
		FUZZ_CHECK(used <= n, "consumed %zu of %zu bytes", used, n);
		FUZZ_CHECK(used == n || server_paused(fz.s), "consumed %zu of %zu without pausing",
			   used, n);
		FUZZ_CHECK(fz.data_open == (fz.s->state == SRV_DATA), "data hooks open: %d in %s",
			   fz.data_open, server_strstate(fz.s->state));
		if (fz.s->state == SRV_TLS)
			FUZZ_CHECK(used > 0 && in[pos + used - 1] == '\n',
				   "STARTTLS paused after %zu bytes, not at a line end", used);
		if (server_paused(fz.s)) {
			/* Paused: nothing is consumed, nothing written. */
			FUZZ_CHECK(server_input(fz.s, fuzz_guard(in + pos + used, n - used),
						n - used) == 0,
				   "input consumed in %s", server_strstate(fz.s->state));
		}
		pos += used;
	}

	/* The end of the input: verdicts, then a timeout and/or a shutdown. */
	if (server_paused(fz.s) && fz.s->state != SRV_CLOSED)
		unpause();
	if (data[1] & 4)
		server_timeout(fz.s);
	if (data[1] & 8) {
		server_shutdown(fz.s);
		if (fz.s->state == SRV_COMMIT) /* shutdown waits for a pending verdict */
			server_data_done(fz.s, "451 4.3.0 Error: shutting down");
	}
	/* server_timeout() in DATA leaves the message to the owner (no
	 * data_end()): relayd/session.c aborts it when the session goes. */
	if (fz.s->state == SRV_CLOSED)
		FUZZ_CHECK(server_input(fz.s, "QUIT\r\n", 6) == 0, "input consumed after close");
	server_free(fz.s);
	return 0;
}
