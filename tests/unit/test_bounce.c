/*
 * test_bounce.c — bounce_text(): what a queued message's recipients' last
 * attempts become in a DSN; bounce_headers(): the original header section
 * from a stored body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "relayd/bounce.h"
#include "relayd/queue.h"

/* T with each line break and the indent after it made one space (the
 * text part wraps at 76 columns). */
static char *
unwrapped(const char *t)
{
	char *u = malloc(strlen(t) + 1), *o = u;
	assert_non_null(u);
	for (const char *p = t; *p;) {
		if (p[0] == '\r' && p[1] == '\n') {
			p += 2;
			*o++ = ' ';
			while (*p == ' ')
				p++;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return u;
}

static void
test_text(void **state)
{
	struct qrcpt r[3];
	memset(r, 0, sizeof(r));
	r[0].addr = "nobody@dest.test";
	r[0].state = RCPT_BOUNCED;
	r[0].code = 550;
	r[0].cmd = RCMD_RCPT;
	snprintf(r[0].status, sizeof(r[0].status), "5.1.1");
	r[0].relay = "mx.dest.test[192.0.2.7]:25";
	r[0].last_reply = "550 5.1.1 <nobody@dest.test>: no such user";
	r[1].addr = "slow@dest.test";
	r[1].state = RCPT_EXPIRED;
	r[1].code = 0;
	snprintf(r[1].status, sizeof(r[1].status), "4.4.7");
	r[1].last_reply = "connect to mx.dest.test[192.0.2.7]:25: Connection refused";
	r[2].addr = "never@dest.test";
	r[2].state = RCPT_BOUNCED;

	struct qmsg m;
	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "661BA0C1A8F4E000");
	m.sender = "alice@origin.test";
	m.arrival = 1700000000;
	m.rcpt = r;
	m.nrcpt = 3;

	struct conf c;
	memset(&c, 0, sizeof(c));
	c.hostname = "relay.test";
	c.queue.max_lifetime = 5 * 86400;

	const size_t idx[] = {0, 1, 2};
	const char hdr[] = "From: alice@origin.test\r\nSubject: hi\r\n";
	size_t len = 0;
	char *t = bounce_text(&m, idx, 3, false, hdr, sizeof(hdr) - 1, &c, 1700000100, 7, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	static const char *const want[] = {
		"Final-Recipient: rfc822; nobody@dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
		"Remote-MTA: dns; mx.dest.test\r\n"
		"Diagnostic-Code: smtp; 550 5.1.1 <nobody@dest.test>: no such user\r\n",
		"Remote host: mx.dest.test [192.0.2.7]",
		"Final-Recipient: rfc822; slow@dest.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"
		"Diagnostic-Code: X-Relayd; connect to",
		"Final-Recipient: rfc822; never@dest.test\r\nAction: failed\r\nStatus: 5.0.0\r\n",
		"no attempt was made",
		"Subject: hi\r\n",
		"What it most likely means (unknown user)",
		"X-Relayd-Queue-ID: 661BA0C1A8F4E000",
		"To: <alice@origin.test>",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(t, want[i]))
			fail_msg("DSN lacks \"%.200s\"", want[i]);
	/* Postfix's words for the command the remote refused, in the text. */
	char *u = unwrapped(t);
	assert_non_null(strstr(u, "Remote reply: 550 5.1.1 <nobody@dest.test>: no such user (in "
				  "reply to RCPT TO command)"));
	assert_non_null(strstr(u, "Reason: connect to mx.dest.test[192.0.2.7]:25: Connection "
				  "refused Gave up"));
	free(u);
	free(t);

	/* A delay warning: Action delayed, Will-Retry-Until arrival + lifetime. */
	r[1].state = RCPT_PENDING;
	snprintf(r[1].status, sizeof(r[1].status), "4.4.1");
	t = bounce_text(&m, idx + 1, 1, true, NULL, 0, &c, 1700000100, 8, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	assert_non_null(strstr(t, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000"));
	assert_null(strstr(t, "nobody@"));
	free(t);
}

static void
test_headers(void **state)
{
	static const struct {
		const char *name, *raw, *want;
	} rows[] = {
		{"to the blank line", "From: a\r\nSubject: x\r\n\r\nbody\r\n.\r\n",
		 "From: a\r\nSubject: x\r\n"},
		{"stuffed dot unstuffed", "X-A: 1\r\n..dot: y\r\n\r\n", "X-A: 1\r\n.dot: y\r\n"},
		{"no blank line: the complete lines", "From: a\r\nSubject: cut he", "From: a\r\n"},
		{"nothing complete", "From: a", ""},
		{"empty", "", ""},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t len = 99;
		char *h = bounce_headers(rows[i].raw, strlen(rows[i].raw), &len);
		assert_non_null(h);
		if (len != strlen(rows[i].want) || strcmp(h, rows[i].want) != 0)
			fail_msg("%s: got \"%s\" (%zu), want \"%s\"", rows[i].name, h, len,
				 rows[i].want);
		free(h);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
