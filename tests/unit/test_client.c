/*
 * test_client.c — the outbound SMTP state machine driven by scripted
 * server lines: commands written, pipelining, per-recipient outcomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/client.h"
#include "smtp/cmd.h"

struct rec {
	char out[4096];
	size_t outlen;
	int writes;
	int ready, body, txn_done, fail;
	struct reply replies[8];
	size_t nreplies;
	struct reply failr;
	struct client *c;
	const struct client_msg *next; /* started from ready() */
	bool quit_when_ready;
	char trace[1024]; /* "FROM>TO " per state change */
};

static void
h_write(void *arg, const char *buf, size_t len)
{
	struct rec *r = arg;
	memcpy(r->out + r->outlen, buf, len);
	r->outlen += len;
	r->out[r->outlen] = '\0';
	r->writes++;
}

static void
h_body(void *arg)
{
	struct rec *r = arg;
	r->body++;
	h_write(arg, "body\r\n.\r\n", 9);
}

static void
h_ready(void *arg)
{
	struct rec *r = arg;
	r->ready++;
	if (r->next) {
		const struct client_msg *m = r->next;
		r->next = NULL;
		client_txn(r->c, m);
	} else if (r->quit_when_ready) {
		client_quit(r->c);
	}
}

static void
h_txn_done(void *arg, const struct reply *replies)
{
	struct rec *r = arg;
	r->txn_done++;
	r->nreplies = 0;
	/* The test messages have at most 8 recipients. */
	for (size_t i = 0; i < r->c->msg.nrcpt && i < 8; i++)
		r->replies[r->nreplies++] = replies[i];
}

static void
h_fail(void *arg, const struct reply *rp)
{
	struct rec *r = arg;
	r->fail++;
	r->failr = *rp;
}

static int starttls_calls;

static void
h_starttls(void *arg)
{
	starttls_calls++;
}

static void
h_trace(void *arg, enum client_state from, enum client_state to)
{
	struct rec *r = arg;
	size_t n = strlen(r->trace);
	snprintf(r->trace + n, sizeof(r->trace) - n, "%s>%s ", client_strstate(from),
		 client_strstate(to));
}

static const struct client_hooks hooks = {h_write, h_body,     h_ready, h_txn_done,
					  h_fail,  h_starttls, h_trace};

/* LINES holds "\n"-separated server lines; with FLUSH, what the client
 * wrote is on the wire before each line (a server that waits for it),
 * without it every line arrives before anything more is sent. */
static void
feed_lines(struct client *c, const char *lines, bool flush)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s", lines);
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		if (flush)
			client_flushed(c);
		client_input(c, l, strlen(l));
	}
}

static void
feed(struct client *c, const char *lines)
{
	feed_lines(c, lines, true);
}

static void
expect_out(struct rec *r, const char *want)
{
	if (strcmp(r->out, want) != 0)
		fail_msg("written: got \"%s\", want \"%s\"", r->out, want);
	r->outlen = 0;
	r->out[0] = '\0';
	r->writes = 0;
}

static const char *rcpt2[] = {"x@y.example", "z@y.example"};
static const struct client_msg msg2 = {"a@b.example", rcpt2, 2, 100, BODY_8BITMIME, false};

static struct client *
start(struct rec *r, const char *ehlo_reply)
{
	memset(r, 0, sizeof(*r));
	r->c = client_new("relay.test", &hooks, r);
	feed(r->c, "220 mx.example ESMTP");
	expect_out(r, "EHLO relay.test\r\n");
	feed(r->c, ehlo_reply);
	return r->c;
}

static void
test_pipelined_mixed(void **state)
{
	struct rec r;
	struct client *c = start(&r, "250-mx.example\n250-PIPELINING\n250-SIZE 1000\n250 8BITMIME");
	assert_int_equal(r.ready, 1);
	assert_true(c->ext.pipelining && c->ext.size && c->ext.eightbit);
	assert_int_equal(client_txn(c, &msg2), 0);
	expect_out(&r, "MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<x@y.example>\r\n"
		       "RCPT TO:<z@y.example>\r\nDATA\r\n");
	feed(c, "250 2.1.0 ok\n250 2.1.5 ok\n550 5.1.1 no such user\n354 go");
	assert_int_equal(r.body, 1);
	expect_out(&r, "body\r\n.\r\n");
	feed(c, "250 2.0.0 queued as X");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 250);
	assert_string_equal(r.replies[0].status, "2.0.0");
	assert_int_equal(r.replies[1].code, 550);
	assert_string_equal(r.replies[1].status, "5.1.1");
	/* What each reply answered, for "(in reply to RCPT TO command)". */
	assert_int_equal(r.replies[0].cmd, RCMD_EOD);
	assert_int_equal(r.replies[1].cmd, RCMD_RCPT);
	assert_int_equal(r.ready, 2);
	assert_int_equal(c->state, CL_READY);
	client_quit(c);
	expect_out(&r, "QUIT\r\n");
	feed(c, "221 bye");
	assert_int_equal(c->state, CL_DEAD);
	assert_int_equal(r.fail, 0);
	/* Every state change was traced, in order. */
	assert_string_equal(r.trace,
			    "GREETING>EHLO EHLO>READY READY>TXN TXN>BODY BODY>TXN TXN>READY "
			    "READY>QUIT QUIT>DEAD ");
	client_free(c);
}

static void
test_sequential(void **state)
{
	struct rec r;
	struct client *c = start(&r, "250 mx.example");
	assert_false(c->ext.pipelining);
	client_txn(c, &msg2);
	/* Without SIZE/8BITMIME offered, no parameters. */
	expect_out(&r, "MAIL FROM:<a@b.example>\r\n");
	feed(c, "250 ok");
	expect_out(&r, "RCPT TO:<x@y.example>\r\n");
	feed(c, "250 ok");
	expect_out(&r, "RCPT TO:<z@y.example>\r\n");
	feed(c, "250 ok");
	expect_out(&r, "DATA\r\n");
	feed(c, "354 go");
	expect_out(&r, "body\r\n.\r\n");
	feed(c, "451 4.3.0 try later");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 451);
	assert_int_equal(r.replies[1].code, 451);
	client_free(c);
}

static void
test_ehlo_size_within_line(void **state)
{
	/* Regression (fuzz_client): the SIZE value is read only within the
	 * line's length, never past it. */
	struct rec r;
	memset(&r, 0, sizeof(r));
	r.c = client_new("relay.test", &hooks, &r);
	client_input(r.c, "220 x", 5);
	client_input(r.c, "250 SIZE 12345", 10);
	assert_int_equal(r.c->ext.maxsize, 1);
	client_free(r.c);
}

static void
test_helo_fallback(void **state)
{
	struct rec r;
	struct client *c = start(&r, "502 5.5.1 EHLO not implemented");
	expect_out(&r, "HELO relay.test\r\n");
	feed(c, "250 mx.example");
	assert_int_equal(r.ready, 1);
	client_free(c);
}

static void
test_session_failures(void **state)
{
	static const struct {
		const char *name;
		const char *lines; /* after greeting+EHLO unless greeting */
		int code;
	} cases[] = {
		{"greeting 554", "554 5.7.1 no service", 554},
		{"greeting 421", "421 4.7.0 busy", 421},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r;
		memset(&r, 0, sizeof(r));
		r.c = client_new("relay.test", &hooks, &r);
		feed(r.c, cases[i].lines);
		if (r.fail != 1 || r.failr.code != cases[i].code)
			fail_msg("%s: got fail=%d code=%d, want 1 and %d", cases[i].name, r.fail,
				 r.failr.code, cases[i].code);
		assert_int_equal(r.failr.cmd, RCMD_GREETING);
		assert_int_equal(r.c->state, CL_DEAD);
		client_free(r.c);
	}

	/* 421 in the middle of a pipelined transaction. */
	struct rec r;
	struct client *c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	feed(c, "250 ok\n421 4.7.0 closing");
	assert_int_equal(r.fail, 1);
	assert_int_equal(r.txn_done, 0);
	assert_int_equal(r.failr.cmd, RCMD_RCPT);
	client_free(c);

	/* A malformed reply kills the session. */
	c = start(&r, "250 mx");
	client_txn(c, &msg2);
	assert_int_equal(client_input(c, "hello there", 11), -1);
	assert_int_equal(r.fail, 1);
	assert_int_equal(r.failr.code, 451);
	client_free(c);
}

/* A session that failed with a protocol error: fail_temp, 4.5.0, the
 * words WANT and the server's reply in the reason, and no txn_done. */
static void
expect_protocol_error(struct rec *r, const char *name, const char *want, const char *reply)
{
	if (r->fail != 1 || r->txn_done != 0)
		fail_msg("%s: got fail=%d txn_done=%d, want 1 and 0", name, r->fail, r->txn_done);
	if (!r->c->fail_temp || r->failr.code != 0 || strcmp(r->failr.status, "4.5.0") != 0)
		fail_msg("%s: got fail_temp=%d code=%d status %s, want 1, 0, 4.5.0", name,
			 r->c->fail_temp, r->failr.code, r->failr.status);
	if (!strstr(r->failr.line, "protocol error") || !strstr(r->failr.line, want) ||
	    !strstr(r->failr.line, reply))
		fail_msg("%s: got reason \"%s\", want \"protocol error\", \"%s\" and \"%s\"", name,
			 r->failr.line, want, reply);
	assert_int_equal(r->c->state, CL_DEAD);
}

static void
test_data_without_354(void **state)
{
	/* Only 354 starts the body: any other 2xx or 3xx to DATA is a
	 * protocol error, never a delivery (with and without PIPELINING). */
	static const struct {
		const char *name, *ehlo, *lines, *reply;
	} cases[] = {
		{"pipelined 250", "250-mx\n250 PIPELINING",
		 "250 ok\n250 ok\n250 ok\n250 2.0.0 sent", "250 2.0.0 sent"},
		{"pipelined 220", "250-mx\n250 PIPELINING", "250 ok\n250 ok\n250 ok\n220 hello",
		 "220 hello"},
		{"sequential 250", "250 mx", "250 ok\n250 ok\n250 ok\n250 Ok: queued as 123",
		 "250 Ok: queued as 123"},
		{"sequential 334", "250 mx", "250 ok\n250 ok\n250 ok\n334 what", "334 what"},
		{"sequential 221", "250 mx", "250 ok\n250 ok\n250 ok\n221 bye", "221 bye"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r;
		struct client *c = start(&r, cases[i].ehlo);
		client_txn(c, &msg2);
		feed(c, cases[i].lines);
		assert_int_equal(r.body, 0);
		expect_protocol_error(&r, cases[i].name, "DATA answered without 354",
				      cases[i].reply);
		client_free(c);
	}
}

static void
test_3xx_to_mail_rcpt(void **state)
{
	static const struct {
		const char *name, *lines, *want;
	} cases[] = {
		{"MAIL 354", "354 go", "MAIL FROM answered with 3xx"},
		{"RCPT 354", "250 ok\n354 go", "RCPT TO answered with 3xx"},
		{"RCPT 334", "250 ok\n250 ok\n334 x", "RCPT TO answered with 3xx"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r;
		struct client *c = start(&r, "250-mx\n250 PIPELINING");
		client_txn(c, &msg2);
		feed(c, cases[i].lines);
		assert_int_equal(r.body, 0);
		expect_protocol_error(&r, cases[i].name, cases[i].want, "");
		client_free(c);
	}
}

static void
test_reply_before_body_sent(void **state)
{
	/* "354" and "250" in one segment: the 250 came before the body was
	 * on the wire, so it answers nothing we sent. */
	struct rec r;
	struct client *c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	feed(c, "250 ok\n250 ok\n250 ok");
	feed_lines(c, "354 go\n250 2.0.0 queued", false);
	assert_int_equal(r.body, 1);
	expect_protocol_error(&r, "354+250", "before the message was sent", "250 2.0.0 queued");
	client_free(c);

	/* The same 250 once the body is out: sent. */
	c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	feed(c, "250 ok\n250 ok\n250 ok\n354 go\n250 2.0.0 queued");
	assert_int_equal(r.fail, 0);
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 250);
	assert_int_equal(r.replies[1].code, 250);
	client_free(c);

	/* An early rejection of a body still being written is taken as the
	 * verdict: it cannot make anything count as sent. */
	c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	feed(c, "250 ok\n250 ok\n250 ok");
	feed_lines(c, "354 go\n552 5.3.4 too big", false);
	assert_int_equal(r.fail, 0);
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 552);
	assert_int_equal(r.replies[1].code, 552);
	/* The rest of the body may still be on its way and the server may
	 * read it as commands: the connection is never used again. */
	assert_int_equal(c->state, CL_DEAD);
	assert_int_equal(r.ready, 1);
	assert_null(strstr(r.out, "RSET"));
	assert_null(strstr(r.out, "QUIT"));
	client_free(c);
}

static void
test_replies_one_to_one(void **state)
{
	/* Sequential: two replies to MAIL before RCPT was sent. */
	struct rec r;
	struct client *c = start(&r, "250 mx");
	client_txn(c, &msg2);
	feed_lines(c, "250 ok\n250 ok", false);
	expect_protocol_error(&r, "MAIL twice", "pipelining violation", "250 ok");
	client_free(c);

	/* Pipelined: a reply more than the commands on the wire (the batch
	 * is answered, then one more comes before RSET was sent). */
	c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	feed(c, "250 ok\n550 no\n550 no\n554 no valid recipients");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(c->state, CL_RSET);
	r.txn_done = 0;
	feed_lines(c, "250 extra", false);
	expect_protocol_error(&r, "one more", "pipelining violation", "250 extra");
	client_free(c);

	/* A greeting followed at once by a reply to the EHLO not yet sent. */
	memset(&r, 0, sizeof(r));
	r.c = client_new("relay.test", &hooks, &r);
	feed_lines(r.c, "220 mx\n250 mx", false);
	expect_protocol_error(&r, "greeting+250", "pipelining violation", "250 mx");
	client_free(r.c);

	/* An unsolicited reply on an idle connection. */
	c = start(&r, "250 mx");
	assert_int_equal(c->state, CL_READY);
	feed(c, "250 hello again");
	expect_protocol_error(&r, "idle", "pipelining violation", "250 hello again");
	client_free(c);

	/* ... but a 421 is the server leaving: taken at any time. */
	c = start(&r, "250 mx");
	feed(c, "421 4.3.2 shutting down");
	assert_int_equal(r.fail, 1);
	assert_int_equal(r.failr.code, 421);
	client_free(c);

	/* What a command is owed, client_due() says. */
	c = start(&r, "250-mx\n250 PIPELINING");
	assert_int_equal(client_due(c), 0);
	client_txn(c, &msg2);
	assert_int_equal(client_due(c), 4);
	feed(c, "250 ok\n250 ok");
	assert_int_equal(client_due(c), 2);
	client_free(c);
}

static void
test_reply_caps(void **state)
{
	/* An endless multi-line reply ends at CLIENT_REPLY_LINES lines. */
	struct rec r;
	struct client *c = start(&r, "250 mx");
	client_txn(c, &msg2);
	client_flushed(c);
	int rv = 0;
	unsigned n;
	for (n = 0; n < 100000 && rv == 0; n++)
		rv = client_input(c, "250-more", 8);
	assert_int_equal(rv, -1);
	assert_int_equal(n, CLIENT_REPLY_LINES + 1);
	assert_int_equal(r.fail, 1);
	assert_true(c->fail_temp);
	assert_non_null(strstr(r.failr.line, "more than 100 lines"));
	client_free(c);

	/* ... and at CLIENT_REPLY_BYTES bytes. */
	c = start(&r, "250 mx");
	char line[4000];
	memset(line, 'x', sizeof(line));
	memcpy(line, "250-", 4);
	client_txn(c, &msg2);
	client_flushed(c);
	rv = 0;
	for (n = 0; n < 1000 && rv == 0; n++)
		rv = client_input(c, line, sizeof(line));
	assert_int_equal(rv, -1);
	assert_true(n * (sizeof(line) + 2) > CLIENT_REPLY_BYTES);
	assert_true(n < CLIENT_REPLY_LINES);
	client_free(c);

	/* A reply just under both caps is fine. */
	c = start(&r, "250 mx");
	client_txn(c, &msg2);
	client_flushed(c);
	for (n = 0; n < CLIENT_REPLY_LINES - 1; n++)
		assert_int_equal(client_input(c, "250-ok", 6), 0);
	assert_int_equal(client_input(c, "250 ok", 6), 0);
	assert_int_equal(r.fail, 0);
	client_free(c);
}

static void
test_mail_rejected(void **state)
{
	struct rec r;
	struct client *c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	expect_out(&r, "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n"
		       "RCPT TO:<z@y.example>\r\nDATA\r\n");
	feed(c, "553 5.7.1 sender rejected\n503 5.5.1 need MAIL\n503 5.5.1 need MAIL\n"
		"503 5.5.1 need MAIL");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 553);
	assert_int_equal(r.replies[1].code, 553);
	assert_int_equal(r.replies[0].cmd, RCMD_MAIL);
	/* The next transaction starts clean. */
	expect_out(&r, "RSET\r\n");
	feed(c, "250 ok");
	assert_int_equal(r.ready, 2);
	client_free(c);
}

static void
test_all_rcpt_rejected(void **state)
{
	struct rec r;
	struct client *c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	r.outlen = 0;
	feed(c, "250 ok\n550 5.1.1 nope\n450 4.2.1 later\n554 5.5.1 no valid recipients");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 550);
	assert_int_equal(r.replies[1].code, 450);
	assert_int_equal(r.body, 0);
	client_free(c);

	/* A server that says 354 anyway gets an empty message. */
	c = start(&r, "250-mx\n250 PIPELINING");
	client_txn(c, &msg2);
	r.outlen = 0;
	r.out[0] = '\0';
	feed(c, "250 ok\n550 5.1.1 nope\n550 5.1.1 nope\n354 go");
	assert_int_equal(r.body, 0);
	expect_out(&r, ".\r\n");
	feed(c, "250 ok");
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 550);
	client_free(c);
}

static void
test_smtputf8_required(void **state)
{
	static const char *rc[] = {"u@y.example"};
	struct client_msg m = {"a@b.example", rc, 1, 10, BODY_NONE, true};
	struct rec r;
	struct client *c = start(&r, "250 mx");
	r.outlen = 0;
	client_txn(c, &m);
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(r.replies[0].code, 550);
	assert_string_equal(r.replies[0].status, "5.6.7");
	client_free(c);
}

static void
test_reuse_from_ready(void **state)
{
	struct rec r;
	struct client *c = start(&r, "250-mx\n250 PIPELINING");
	r.next = &msg2;
	client_txn(c, &msg2);
	r.outlen = 0;
	r.out[0] = '\0';
	feed(c, "250 ok\n250 ok\n250 ok\n354 go\n250 done");
	/* The second transaction was started from ready() right away, with
	 * RSET first in the same pipelined write. */
	assert_int_equal(r.txn_done, 1);
	assert_int_equal(c->state, CL_TXN);
	assert_non_null(strstr(r.out, "body\r\n.\r\nRSET\r\nMAIL FROM:<a@b.example>"));
	feed(c, "250 reset\n250 ok\n250 ok\n250 ok\n354 go\n250 done");
	assert_int_equal(r.txn_done, 2);
	assert_int_equal(r.replies[0].code, 250);
	assert_string_equal(r.replies[0].text, "done");
	client_free(c);

	/* Without PIPELINING: RSET, wait, then MAIL. A failed RSET means
	 * the connection is no good. */
	c = start(&r, "250 mx");
	client_txn(c, &msg2);
	feed(c, "250 ok\n250 ok\n250 ok\n354 go\n250 done");
	r.outlen = 0;
	r.out[0] = '\0';
	client_txn(c, &msg2);
	expect_out(&r, "RSET\r\n");
	feed(c, "250 reset");
	expect_out(&r, "MAIL FROM:<a@b.example>\r\n");
	client_free(c);
	c = start(&r, "250 mx");
	client_txn(c, &msg2);
	feed(c, "250 ok\n250 ok\n250 ok\n354 go\n250 done");
	client_txn(c, &msg2);
	feed(c, "421 4.4.2 idle too long");
	assert_int_equal(r.fail, 1);
	client_free(c);
}

static struct client *
start_opts(struct rec *r, const struct client_opts *o, const char *ehlo_reply)
{
	memset(r, 0, sizeof(*r));
	r->c = client_new("relay.test", &hooks, r);
	client_configure(r->c, o);
	feed(r->c, "220 mx.example ESMTP");
	expect_out(r, "EHLO relay.test\r\n");
	feed(r->c, ehlo_reply);
	return r->c;
}

static void
test_tls_policy(void **state)
{
	struct rec r;
	struct client_opts req = {CLIENT_TLS_REQUIRE, false, NULL, NULL};
	struct client_opts may = {CLIENT_TLS_MAY, false, NULL, NULL};

	/* Required but not offered: a failure that must never bounce. */
	struct client *c = start_opts(&r, &req, "250 mx");
	assert_int_equal(r.fail, 1);
	assert_true(c->fail_temp);
	assert_string_equal(r.failr.status, "4.7.4");
	assert_non_null(strstr(r.failr.line, "not offered"));
	assert_int_equal(r.ready, 0);
	client_free(c);

	/* May, not offered: plaintext is fine. */
	c = start_opts(&r, &may, "250 mx");
	assert_int_equal(r.ready, 1);
	client_free(c);

	/* Offered: STARTTLS, the owner's handshake, EHLO again. */
	starttls_calls = 0;
	c = start_opts(&r, &req, "250-mx\n250 STARTTLS");
	expect_out(&r, "STARTTLS\r\n");
	feed(c, "220 2.0.0 go ahead");
	assert_int_equal(starttls_calls, 1);
	assert_int_equal(c->state, CL_TLS);
	client_tls_done(c);
	expect_out(&r, "EHLO relay.test\r\n");
	feed(c, "250-mx\n250 PIPELINING");
	assert_int_equal(r.ready, 1);
	assert_true(c->tls);
	assert_string_equal(r.trace,
			    "GREETING>EHLO EHLO>STARTTLS STARTTLS>TLS TLS>EHLO EHLO>READY ");
	client_free(c);

	/* Required and refused. */
	c = start_opts(&r, &req, "250-mx\n250 STARTTLS");
	expect_out(&r, "STARTTLS\r\n");
	feed(c, "454 4.7.0 TLS not available");
	assert_int_equal(r.fail, 1);
	assert_true(c->fail_temp);
	assert_non_null(strstr(r.failr.line, "454 4.7.0"));
	client_free(c);
}

static void
test_auth(void **state)
{
	struct rec r;
	struct client_opts tls_auth = {CLIENT_TLS_NONE, true, "user", "secret"};
	struct client_opts plain_auth = {CLIENT_TLS_NONE, false, "user", "secret"};

	/* PLAIN: base64("\0user\0secret") */
	struct client *c = start_opts(&r, &tls_auth, "250-mx\n250 AUTH PLAIN LOGIN");
	expect_out(&r, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	feed(c, "235 2.7.0 ok");
	assert_int_equal(r.ready, 1);
	client_free(c);

	/* LOGIN when only that is offered. */
	c = start_opts(&r, &tls_auth, "250-mx\n250 AUTH LOGIN");
	expect_out(&r, "AUTH LOGIN\r\n");
	feed(c, "334 VXNlcm5hbWU6");
	expect_out(&r, "dXNlcg==\r\n");
	feed(c, "334 UGFzc3dvcmQ6");
	expect_out(&r, "c2VjcmV0\r\n");
	feed(c, "235 2.7.0 ok");
	assert_int_equal(r.ready, 1);
	client_free(c);

	/* 535 is a configuration problem: deferred, never bounced. */
	c = start_opts(&r, &tls_auth, "250-mx\n250 AUTH PLAIN");
	r.outlen = 0;
	feed(c, "535 5.7.8 bad credentials");
	assert_int_equal(r.fail, 1);
	assert_true(c->fail_temp);
	assert_string_equal(r.failr.status, "4.7.8");
	client_free(c);

	/* No TLS: the password never leaves. */
	c = start_opts(&r, &plain_auth, "250-mx\n250 AUTH PLAIN");
	assert_int_equal(r.fail, 1);
	assert_true(c->fail_temp);
	assert_null(strstr(r.out, "AUTH"));
	client_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_mixed),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_session_failures),
		cmocka_unit_test(test_mail_rejected),
		cmocka_unit_test(test_all_rcpt_rejected),
		cmocka_unit_test(test_smtputf8_required),
		cmocka_unit_test(test_reuse_from_ready),
		cmocka_unit_test(test_tls_policy),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_ehlo_size_within_line),
		cmocka_unit_test(test_data_without_354),
		cmocka_unit_test(test_3xx_to_mail_rcpt),
		cmocka_unit_test(test_reply_before_body_sent),
		cmocka_unit_test(test_replies_one_to_one),
		cmocka_unit_test(test_reply_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
