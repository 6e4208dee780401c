/*
 * test_server.c — the inbound SMTP state machine fed raw bytes: replies,
 * sequencing, pipelining, limits, DATA end and storage hooks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/server.h"

struct rec {
	char out[16384];
	size_t outlen;
	char stored[65536];
	size_t storedlen;
	int closed, data_end_ok, data_end_bad;
	const char *refuse_rcpt;
	struct server *s;
	/* The reject hook's calls: "STAGE|SENDER|RCPT|REASON|REPLY|PROTO|HELO\n" each,
	 * "-" for a NULL sender or recipient. */
	char rejects[2048];
};

static void
h_write(void *arg, const char *buf, size_t len)
{
	struct rec *r = arg;
	assert_true(r->outlen + len < sizeof(r->out));
	memcpy(r->out + r->outlen, buf, len);
	r->outlen += len;
	r->out[r->outlen] = '\0';
}

static void
h_close(void *arg)
{
	((struct rec *)arg)->closed++;
}

static const char *
h_rcpt(void *arg, const struct server_txn *t, const char *rcpt)
{
	struct rec *r = arg;
	if (r->refuse_rcpt && strstr(rcpt, "denied"))
		return r->refuse_rcpt;
	return NULL;
}

static const char *
h_data_start(void *arg, const struct server_txn *t)
{
	struct rec *r = arg;
	r->storedlen = 0;
	return NULL;
}

static void
h_data_write(void *arg, const char *buf, size_t len)
{
	struct rec *r = arg;
	if (r->storedlen + len < sizeof(r->stored)) {
		memcpy(r->stored + r->storedlen, buf, len);
		r->storedlen += len;
	}
}

static void
h_data_end(void *arg, const struct server_txn *t, bool ok)
{
	struct rec *r = arg;
	if (ok)
		r->data_end_ok++;
	else
		r->data_end_bad++;
}

static int starttls_calls, auth_calls;
static char auth_user[64], auth_pass[64];
static const char *auth_refuse, *auth_begin_refuse; /* what the hooks answer */

static void
h_starttls(void *arg)
{
	starttls_calls++;
}

static const char *
h_auth(void *arg, const char *user, const char *pass)
{
	auth_calls++;
	snprintf(auth_user, sizeof(auth_user), "%s", user);
	snprintf(auth_pass, sizeof(auth_pass), "%s", pass);
	return auth_refuse;
}

static const char *
h_auth_begin(void *arg)
{
	return auth_begin_refuse;
}

static void
h_reject(void *arg, const struct server_txn *t, const struct server_reject *j)
{
	struct rec *r = arg;
	size_t n = strlen(r->rejects);
	snprintf(r->rejects + n, sizeof(r->rejects) - n, "%s|%s|%s|%s|%s|%s|%s\n", j->stage,
		 j->sender ? j->sender : "-", j->rcpt ? j->rcpt : "-", j->reason, j->reply,
		 t->esmtp ? "ESMTP" : "SMTP", t->helo);
}

static const struct server_hooks hooks = {h_write,	h_close,    h_rcpt,	h_data_start,
					  h_data_write, h_data_end, h_starttls, h_auth,
					  h_auth_begin, h_reject};

static struct rec *
new_rec_p(const struct server_params *p)
{
	struct rec *r = calloc(1, sizeof(*r));
	r->s = server_new(p, &hooks, r);
	server_start(r->s);
	return r;
}

static struct rec *
new_rec(uint64_t max_size, unsigned max_rcpt, bool normalize)
{
	struct rec *r = calloc(1, sizeof(*r));
	struct server_params p = {"relay.test", max_size, max_rcpt,
				  normalize,	false,	  false,
				  false,	false,	  "postmaster@relay.test"};
	r->s = server_new(&p, &hooks, r);
	server_start(r->s);
	return r;
}

static void
free_rec(struct rec *r)
{
	server_free(r->s);
	free(r);
}

static void
send_str(struct rec *r, const char *in)
{
	size_t len = strlen(in), used = server_input(r->s, in, len);
	if (used != len && !server_paused(r->s))
		fail_msg("consumed %zu of %zu bytes without pausing", used, len);
}

/* The replies since the last call, as one string. */
static void
expect(struct rec *r, const char *want)
{
	if (strcmp(r->out, want) != 0)
		fail_msg("replies: got \"%s\", want \"%s\"", r->out, want);
	r->outlen = 0;
	r->out[0] = '\0';
}

static void
test_greeting_and_ehlo(void **state)
{
	struct rec *r = new_rec(10240, 100, false);
	expect(r, "220 relay.test ESMTP relayd\r\n");
	send_str(r, "EHLO client.example\r\n");
	expect(r, "250-relay.test\r\n250-PIPELINING\r\n250-SIZE 10240\r\n250-8BITMIME\r\n"
		  "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
	send_str(r, "HELO client.example\r\n");
	expect(r, "250 relay.test\r\n");
	free_rec(r);
}

static void
test_command_table(void **state)
{
	static const struct {
		const char *name, *input, *want_prefix;
	} cases[] = {
		{"unknown", "FOO bar\r\n", "500 5.5.1"},
		{"mail before helo", "MAIL FROM:<a@b.c>\r\n", "503 5.5.1"},
		{"rcpt before mail", "EHLO x\r\nRCPT TO:<a@b.c>\r\n", "503 5.5.1"},
		{"data before rcpt", "EHLO x\r\nMAIL FROM:<a@b.c>\r\nDATA\r\n", "503 5.5.1"},
		{"bad mail syntax", "EHLO x\r\nMAIL FROM:a@b.c\r\n", "501 5.5.4"},
		{"ehlo without name", "EHLO\r\n", "501 5.5.4"},
		{"noop", "NOOP\r\n", "250 2.0.0"},
		{"rset", "RSET\r\n", "250 2.0.0"},
		{"help", "HELP\r\n", "214 2.0.0"},
		{"vrfy", "VRFY someone\r\n", "252 2.0.0"},
		{"nested mail", "EHLO x\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n",
		 "503 5.5.1"},
		{"size over limit", "EHLO x\r\nMAIL FROM:<a@b.c> SIZE=20000\r\n", "552 5.3.4"},
		{"unknown param", "EHLO x\r\nMAIL FROM:<a@b.c> FOO=1\r\n", "555 5.5.4"},
		{"starttls not offered", "STARTTLS\r\n", "502 5.5.1"},
		{"quit", "QUIT\r\n", "221 2.0.0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec *r = new_rec(10240, 100, false);
		r->outlen = 0;
		send_str(r, cases[i].input);
		/* The reply of interest is the last one. */
		char *last = r->out, *p;
		while ((p = strstr(last, "\r\n")) && p[2])
			last = p + 2;
		if (strncmp(last, cases[i].want_prefix, strlen(cases[i].want_prefix)) != 0)
			fail_msg("%s: got \"%s\", want \"%s...\"", cases[i].name, last,
				 cases[i].want_prefix);
		free_rec(r);
	}
}

static void
test_long_line(void **state)
{
	struct rec *r = new_rec(10240, 100, false);
	char line[700];
	memset(line, 'A', sizeof(line));
	memcpy(line, "NOOP ", 5);
	r->outlen = 0;
	/* In small pieces, to check nothing beyond the limit is buffered. */
	for (size_t i = 0; i < sizeof(line); i += 100)
		server_input(r->s, line + i, sizeof(line) - i < 100 ? sizeof(line) - i : 100);
	server_input(r->s, "\r\nNOOP\r\n", 8);
	expect(r, "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	/* Exactly 512 bytes with CRLF is fine. */
	char ok[512];
	memset(ok, 'B', sizeof(ok));
	memcpy(ok, "NOOP ", 5);
	ok[510] = '\r';
	ok[511] = '\n';
	server_input(r->s, ok, sizeof(ok));
	expect(r, "250 2.0.0 Ok\r\n");
	free_rec(r);
}

static void
test_pipelined_transaction(void **state)
{
	struct rec *r = new_rec(10240, 100, false);
	r->refuse_rcpt = "554 5.7.1 <denied@x.example>: Relay access denied";
	r->outlen = 0;
	const char *in = "EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@x.example>\r\n"
			 "RCPT TO:<denied@x.example>\r\nDATA\r\nline 1\r\n..dot\r\n.\r\nNOOP\r\n";
	size_t len = strlen(in);
	size_t used = server_input(r->s, in, len);
	/* Paused at the end of DATA, waiting for the spool. */
	assert_true(server_paused(r->s));
	assert_int_equal(used, len - strlen("NOOP\r\n"));
	assert_int_equal(r->data_end_ok, 1);
	assert_non_null(
		strstr(r->out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.7.1 <denied@x.example>"));
	assert_non_null(strstr(r->out, "354 "));
	assert_int_equal(r->s->txn.nrcpt, 1);
	assert_memory_equal(r->stored, "line 1\r\n..dot\r\n.\r\n", r->storedlen);
	r->outlen = 0;
	server_data_done(r->s, "250 2.0.0 Ok: queued as ABC");
	assert_false(server_paused(r->s));
	server_input(r->s, in + used, len - used);
	expect(r, "250 2.0.0 Ok: queued as ABC\r\n250 2.0.0 Ok\r\n");
	free_rec(r);
}

static void
test_data_limits(void **state)
{
	/* Too big: 552 after the final dot, nothing stored. */
	struct rec *r = new_rec(100, 2, false);
	send_str(r, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nRCPT TO:<2@b.c>\r\n"
		    "RCPT TO:<3@b.c>\r\n");
	assert_non_null(strstr(r->out, "452 4.5.3"));
	r->outlen = 0;
	send_str(r, "DATA\r\n");
	char body[300];
	memset(body, 'x', sizeof(body));
	body[298] = '\r';
	body[299] = '\n';
	server_input(r->s, body, sizeof(body));
	send_str(r, ".\r\n");
	assert_non_null(strstr(r->out, "552 5.3.4"));
	assert_int_equal(r->data_end_bad, 1);
	assert_int_equal(r->data_end_ok, 0);
	assert_false(server_paused(r->s));
	free_rec(r);

	/* Regression (fuzz_server): one read that crosses the limit and ends
	 * DATA at once is still refused. */
	r = new_rec(64, 2, false);
	{
		char in[256];
		int n = snprintf(
			in, sizeof(in),
			"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n%s\r\n.\r\n",
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxx"
			"xxxxxxxxxxxxxxxxxxxxx");
		server_input(r->s, in, (size_t)n);
	}
	assert_non_null(strstr(r->out, "552 5.3.4"));
	assert_int_equal(r->data_end_ok, 0);
	free_rec(r);

	/* Bare LF: rejected in reject mode, normalised otherwise. */
	r = new_rec(10000, 2, false);
	send_str(r, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\na\nb\r\n.\r\n");
	assert_non_null(strstr(r->out, "550 5.5.2"));
	assert_int_equal(r->data_end_bad, 1);
	free_rec(r);
	r = new_rec(10000, 2, true);
	send_str(r, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\na\nb\r\n.\r\n");
	assert_int_equal(r->data_end_ok, 1);
	assert_memory_equal(r->stored, "a\r\nb\r\n.\r\n", r->storedlen);
	free_rec(r);

	/* NUL: refused in both modes, nothing kept, the session goes on. */
	for (int normalize = 0; normalize < 2; normalize++) {
		static const char in[] =
			"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\n"
			"a\r\n\0.\r\nb\r\n.\r\nNOOP\r\n";
		r = new_rec(10000, 2, normalize);
		server_input(r->s, in, sizeof(in) - 1);
		assert_non_null(strstr(r->out, "550 5.6.0 Error: message contains NUL characters"));
		assert_non_null(strstr(r->out, "\r\n250 2.0.0 Ok\r\n"));
		assert_int_equal(r->data_end_bad, 1);
		assert_int_equal(r->data_end_ok, 0);
		free_rec(r);
	}
}

static void
test_postmaster(void **state)
{
	/* RCPT TO:<Postmaster> (RFC 5321 4.5.1) becomes the configured address. */
	struct rec *r = new_rec(1000, 10, false);
	send_str(r, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<PostMaster>\r\n");
	assert_non_null(strstr(r->out, "\r\n250 2.1.5 Ok\r\n"));
	assert_int_equal(r->s->txn.nrcpt, 1);
	assert_string_equal(r->s->txn.rcpt[0], "postmaster@relay.test");
	free_rec(r);

	/* Without an address: a clear 550, not a syntax error. */
	struct server_params p = {"relay.test", 1000, 10, false, false, false, false, false, NULL};
	r = new_rec_p(&p);
	send_str(r, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<postmaster>\r\n");
	assert_non_null(strstr(r->out, "550 5.1.1 <postmaster>"));
	assert_int_equal(r->s->txn.nrcpt, 0);
	free_rec(r);
}

static void
test_too_many_errors(void **state)
{
	struct rec *r = new_rec(10000, 2, false);
	for (int i = 0; i < SERVER_MAX_ERRORS; i++)
		send_str(r, "BOGUS\r\n");
	assert_int_equal(r->closed, 1);
	assert_non_null(strstr(r->out, "421 4.7.0"));
	assert_true(server_paused(r->s));
	/* Nothing more is consumed. */
	assert_int_equal(server_input(r->s, "NOOP\r\n", 6), 0);
	free_rec(r);
}

static void
test_null_sender_and_bytes(void **state)
{
	struct rec *r = new_rec(10000, 5, false);
	send_str(r, "EHLO x\r\nMAIL FROM:<>\r\n");
	assert_non_null(strstr(r->out, "250 2.1.0"));
	assert_string_equal(r->s->txn.sender, "");
	/* A NUL inside a command line is refused, not truncated. */
	r->outlen = 0;
	server_input(r->s, "RCPT TO:<a@b.c>\0x\r\n", 19);
	assert_non_null(strstr(r->out, "500 5.5.2"));
	free_rec(r);
}

static void
test_starttls(void **state)
{
	struct server_params p = {"relay.test", 1000, 10, false, true, false, true, true, NULL};
	struct rec *r = new_rec_p(&p);
	r->outlen = 0;
	send_str(r, "EHLO x\r\n");
	assert_non_null(strstr(r->out, "250-STARTTLS\r\n"));
	assert_null(strstr(r->out, "AUTH")); /* only after TLS */
	r->outlen = 0;
	send_str(r, "MAIL FROM:<a@b.c>\r\n");
	expect(r, "530 5.7.0 Must issue a STARTTLS command first\r\n");
	send_str(r, "AUTH PLAIN AHUAcA==\r\n");
	assert_non_null(strstr(r->out, "538 5.7.11"));
	r->outlen = 0;
	/* Pipelined commands after STARTTLS are not consumed: the owner
	 * throws them away before the handshake. */
	starttls_calls = 0;
	const char *in = "STARTTLS\r\nMAIL FROM:<evil@x>\r\n";
	size_t used = server_input(r->s, in, strlen(in));
	assert_int_equal(used, strlen("STARTTLS\r\n"));
	assert_true(server_paused(r->s));
	assert_int_equal(starttls_calls, 1);
	expect(r, "220 2.0.0 Ready to start TLS\r\n");
	server_tls_done(r->s, true);
	/* Everything before is forgotten: EHLO first. */
	send_str(r, "MAIL FROM:<a@b.c>\r\n");
	assert_non_null(strstr(r->out, "503 5.5.1"));
	r->outlen = 0;
	send_str(r, "EHLO x\r\n");
	assert_null(strstr(r->out, "STARTTLS"));
	assert_non_null(strstr(r->out, "250-AUTH PLAIN LOGIN\r\n"));
	r->outlen = 0;
	send_str(r, "STARTTLS\r\n");
	assert_non_null(strstr(r->out, "554 5.5.1"));
	free_rec(r);
}

static void
test_auth(void **state)
{
	struct server_params p = {"relay.test", 1000, 10, false, false, true, false, true, NULL};
	struct rec *r = new_rec_p(&p);
	send_str(r, "EHLO x\r\n");
	r->outlen = 0;
	/* PLAIN with an initial response: base64("\0user\0secret") */
	send_str(r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\nNOOP\r\n");
	assert_true(server_paused(r->s));
	assert_string_equal(auth_user, "user");
	assert_string_equal(auth_pass, "secret");
	server_auth_done(r->s, false);
	assert_non_null(strstr(r->out, "535 5.7.8"));
	assert_false(r->s->authenticated);
	/* LOGIN, step by step. */
	r->outlen = 0;
	send_str(r, "AUTH LOGIN\r\n");
	expect(r, "334 VXNlcm5hbWU6\r\n");
	send_str(r, "dXNlcg==\r\n");
	expect(r, "334 UGFzc3dvcmQ6\r\n");
	send_str(r, "c2VjcmV0\r\n");
	server_auth_done(r->s, true);
	expect(r, "235 2.7.0 Authentication successful\r\n");
	assert_true(r->s->authenticated);
	send_str(r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	assert_non_null(strstr(r->out, "503 5.5.1"));
	free_rec(r);

	/* Aborts, bad base64, unknown mechanisms. */
	r = new_rec_p(&p);
	send_str(r, "EHLO x\r\n");
	r->outlen = 0;
	send_str(r, "AUTH PLAIN\r\n*\r\n");
	expect(r, "334 \r\n501 5.7.0 Error: authentication aborted\r\n");
	send_str(r, "AUTH PLAIN !!!!\r\n");
	assert_non_null(strstr(r->out, "501 5.5.2"));
	r->outlen = 0;
	send_str(r, "AUTH CRAM-MD5\r\n");
	assert_non_null(strstr(r->out, "504 5.5.4"));
	free_rec(r);
}

#define REFUSED_454                                                                                \
	"454 4.7.0 Error: too many failed authentication attempts from this address; try "         \
	"again later"

/* The owner refuses AUTH at the command (before 334, nothing more read)
 * or at the credentials (no check); either way the session goes on. */
static void
test_auth_refused(void **state)
{
	struct server_params p = {"relay.test", 1000, 10, false, false, true, false, true, NULL};
	struct rec *r = new_rec_p(&p);
	send_str(r, "EHLO x\r\n");
	r->outlen = 0;

	auth_calls = 0;
	auth_begin_refuse = REFUSED_454;
	send_str(r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	expect(r, REFUSED_454 "\r\n");
	send_str(r, "AUTH LOGIN\r\n");
	expect(r, REFUSED_454 "\r\n");
	assert_int_equal(auth_calls, 0);
	assert_int_equal(r->s->state, SRV_HELO);
	auth_begin_refuse = NULL;

	auth_refuse = REFUSED_454;
	send_str(r, "AUTH LOGIN\r\n");
	expect(r, "334 VXNlcm5hbWU6\r\n");
	send_str(r, "dXNlcg==\r\n");
	expect(r, "334 UGFzc3dvcmQ6\r\n");
	send_str(r, "c2VjcmV0\r\nNOOP\r\n");
	expect(r, REFUSED_454 "\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(auth_calls, 1);
	assert_false(server_paused(r->s));
	assert_false(r->s->authenticated);
	assert_string_equal(r->s->user, "");

	/* The session goes on; AUTH within a transaction is 503 before any hook. */
	send_str(r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\nMAIL FROM:<a@b.c>\r\n");
	expect(r, REFUSED_454 "\r\n250 2.1.0 Ok\r\n");
	auth_refuse = NULL;
	auth_calls = 0;
	send_str(r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	assert_non_null(strstr(r->out, "503 5.5.1 Error: MAIL transaction in progress"));
	assert_int_equal(auth_calls, 0);
	free_rec(r);

	/* A refusal counts as an error: 20 of them and the client is cut off. */
	r = new_rec_p(&p);
	send_str(r, "EHLO x\r\n");
	auth_begin_refuse = REFUSED_454;
	for (int i = 0; i < SERVER_MAX_ERRORS; i++)
		send_str(r, "AUTH LOGIN\r\n");
	assert_non_null(strstr(r->out, "421 4.7.0 relay.test Error: too many errors\r\n"));
	assert_int_equal(r->closed, 1);
	auth_begin_refuse = NULL;
	free_rec(r);
}

/* Every refusal of MAIL, RCPT or a message this file decides reaches the
 * reject hook once, with what the log line needs; the owner's own refusals
 * (the rcpt hook's) and syntax errors do not. */
static void
test_reject_hook(void **state)
{
	static const struct {
		const char *name;
		bool require_tls, normalize, no_postmaster;
		const char *input, *want;
	} cases[] = {
		{"tls required", true, false, false,
		 "EHLO c.example\r\nMAIL FROM:<a@b.c> SIZE=10\r\n",
		 "MAIL|a@b.c|-|tls_required|530 5.7.0 Must issue a STARTTLS command first|ESMTP|"
		 "c.example\n"},
		{"tls required, sender unreadable", true, false, false,
		 "HELO h\r\nMAIL FROM:junk\r\n",
		 "MAIL|-|-|tls_required|530 5.7.0 Must issue a STARTTLS command first|SMTP|h\n"},
		{"size at MAIL", false, false, false, "EHLO x\r\nMAIL FROM:<a@b.c> SIZE=20000\r\n",
		 "MAIL|a@b.c|-|message_too_large|552 5.3.4 Message size exceeds fixed limit|ESMTP|"
		 "x\n"},
		{"too many recipients", false, false, false,
		 "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<1@b.c>\r\nRCPT TO:<2@b.c>\r\nRCPT "
		 "TO:<3@b.c>\r\n",
		 "RCPT||3@b.c|too_many_recipients|452 4.5.3 Error: too many recipients|ESMTP|x\n"},
		{"no postmaster", false, false, true,
		 "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<Postmaster>\r\n",
		 "RCPT|a@b.c|Postmaster|no_postmaster|550 5.1.1 <postmaster>: Recipient address "
		 "rejected: no postmaster address is configured|ESMTP|x\n"},
		{"bare LF", false, false, false,
		 "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nRCPT "
		 "TO:<2@b.c>\r\nDATA\r\na\nb\r\n"
		 ".\r\n",
		 "END-OF-MESSAGE|a@b.c|2@b.c|bare_newline|550 5.5.2 Error: message contains bare "
		 "CR or LF characters (lines must end with CRLF)|ESMTP|x\n"},
		{"too big at the end", false, false, false,
		 "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\n"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "\r\n"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "\r\n"
		 ".\r\n",
		 "END-OF-MESSAGE|a@b.c|1@b.c|message_too_large|552 5.3.4 Message size exceeds "
		 "fixed limit|ESMTP|x\n"},
		{"not refused: syntax, sequence, owner's refusal", false, false, false,
		 "EHLO x\r\nMAIL FROM:a@b.c\r\nRCPT TO:<1@b.c>\r\nMAIL FROM:<a@b.c>\r\n"
		 "RCPT TO:<denied@b.c>\r\nRCPT TO:bad\r\nDATA\r\n",
		 ""},
		{"normalised bare LF is accepted", false, true, false,
		 "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\na\nb\r\n.\r\n", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server_params p = {"relay.test",
					  100,
					  2,
					  cases[i].normalize,
					  false,
					  false,
					  cases[i].require_tls,
					  false,
					  cases[i].no_postmaster ? NULL : "postmaster@relay.test"};
		struct rec *r = new_rec_p(&p);
		r->refuse_rcpt = "554 5.7.1 <denied@b.c>: Relay access denied";
		send_str(r, cases[i].input);
		if (strcmp(r->rejects, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, r->rejects,
				 cases[i].want);
		free_rec(r);
	}

	/* A NUL, in both bare_newline modes. */
	for (int normalize = 0; normalize < 2; normalize++) {
		static const char in[] =
			"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nDATA\r\n"
			"a\0b\r\n.\r\n";
		struct rec *r = new_rec(10000, 2, normalize);
		server_input(r->s, in, sizeof(in) - 1);
		assert_string_equal(r->rejects, "END-OF-MESSAGE|a@b.c|1@b.c|nul|550 5.6.0 Error: "
						"message contains NUL characters (not allowed in "
						"mail, RFC 5321 2.3.8)|ESMTP|x\n");
		free_rec(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_ehlo),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_pipelined_transaction),
		cmocka_unit_test(test_data_limits),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_reject_hook),
		cmocka_unit_test(test_null_sender_and_bytes),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_auth_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
