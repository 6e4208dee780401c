/*
 * test_bounce.c — bounce_text(): what a queued message's recipients' last
 * attempts become in a DSN, each kind of failure explained for the sender;
 * bounce_headers(): the original header section from a stored body.
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
#include "smtp/reply.h"
#include "tests/unit/operator_words.h"

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

/* A message holding copies of R[0..N-1] (struct qmsg ends with its
 * recipients). */
static struct qmsg *
msg_with(const struct qrcpt *r, size_t n)
{
	struct qmsg *m = calloc(1, sizeof(*m) + n * sizeof(*r));
	assert_non_null(m);
	memcpy(m->rcpt, r, n * sizeof(*r));
	snprintf(m->id, sizeof(m->id), "661BA0C1A8F4E000");
	m->sender = "alice@origin.test";
	m->arrival = 1700000000;
	m->nrcpt = (uint32_t)n;
	return m;
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
	msg_set_status(&r[0], "5.1.1");
	r[0].relay = "mx.dest.test[192.0.2.7]:25";
	r[0].last_reply = "550 5.1.1 <nobody@dest.test>: no such user";
	r[1].addr = "slow@dest.test";
	r[1].state = RCPT_EXPIRED;
	r[1].code = 0;
	msg_set_status(&r[1], "4.4.7");
	r[1].last_reply = "connect to mx.dest.test[192.0.2.7]:25: Connection refused";
	r[2].addr = "never@dest.test";
	r[2].state = RCPT_BOUNCED;

	struct qmsg *m = msg_with(r, 3);

	struct conf c;
	memset(&c, 0, sizeof(c));
	c.hostname = "relay.test";
	c.queue.max_lifetime = 5 * 86400;

	const size_t idx[] = {0, 1, 2};
	const char hdr[] = "From: alice@origin.test\r\nSubject: hi\r\n";
	size_t len = 0;
	char *t = bounce_text(m, idx, 3, false, hdr, sizeof(hdr) - 1, &c, 1700000100, 7, &len);
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
		"What it most likely means (no connection)",
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
				  "refused What it most likely means (no connection): "));
	assert_non_null(strstr(u,
			       "on the recipient's side. Gave up: your message could not be "
			       "delivered for 1 minute, which is as long as this mail system keeps "
			       "trying."));
	free(u);
	free(t);

	/* A delay warning: Action delayed, Will-Retry-Until arrival + lifetime. */
	m->rcpt[1].state = RCPT_PENDING;
	msg_set_status(&m->rcpt[1], "4.4.1");
	t = bounce_text(m, idx + 1, 1, true, NULL, 0, &c, 1700000100, 8, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	assert_non_null(strstr(t, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000"));
	assert_null(strstr(t, "nobody@"));
	free(t);
	free(m);
}

/*
 * Each kind of failure, alone in a DSN: its text part explains it ("What it
 * most likely means", with the category's label where there is one), an
 * expired recipient also says for how long it was tried, and no explanation
 * holds an operator's word (the remote reply and relayd's reason are shown
 * verbatim above them and may).
 */
static void
test_kinds(void **state)
{
	/* clang-format off */
	static const struct {
		const char *name;
		enum rcpt_state state;
		int code;
		const char *status, *relay, *reply;
		const char *label; /* NULL: no label, a generic explanation */
		const char *says;  /* a phrase of the explanation */
	} kinds[] = {
		{ "unknown user", RCPT_BOUNCED, 550, "5.1.1", "mx.dest.test[192.0.2.7]:25",
		  "550 5.1.1 <u@dest.test>: Recipient address rejected: User unknown",
		  "unknown user", "Check it for typos" },
		{ "IP on Spamhaus PBL", RCPT_BOUNCED, 550, "5.7.1", "mx.dest.test[192.0.2.7]:25",
		  "550 5.7.1 Service unavailable; client [203.0.113.45] blocked using Spamhaus PBL",
		  "blocklist: Spamhaus PBL", "This is about the sending mail system" },
		{ "reputation", RCPT_BOUNCED, 550, "5.7.1", "mx.dest.test[192.0.2.7]:25",
		  "550-5.7.1 The IP you're using to send mail is not authorized to send email directly "
		  "to our servers.", "reputation: Gmail", "tell your IT team" },
		{ "reply nothing recognises", RCPT_BOUNCED, 554, "5.7.1", "mx.dest.test[192.0.2.7]:25",
		  "554 5.7.1 [CS01] Message rejected due to local policy", NULL,
		  "a security or policy rule of its own" },
		{ "reply without a status", RCPT_BOUNCED, 554, "5.0.0", "mx.dest.test[192.0.2.7]:25",
		  "554 go away", NULL, "its reply above is all it said" },
		{ "domain not found", RCPT_BOUNCED, 0, "5.1.2", NULL,
		  "Host or domain name not found. Name service error for name=nx.test type=MX: Host "
		  "not found", "domain not found", "does not exist" },
		{ "null MX", RCPT_BOUNCED, 0, "5.1.10", NULL,
		  "domain null.test does not accept mail (null MX, RFC 7505)",
		  "domain accepts no mail", "does not receive email at all" },
		{ "expired, greylisted", RCPT_EXPIRED, 451, "4.4.7", "mx.dest.test[192.0.2.7]:25",
		  "451 4.7.1 Greylisted, please try again later", "greylisted",
		  "a common defence against spam" },
		{ "expired, the reply's own status", RCPT_EXPIRED, 452, "4.4.7",
		  "mx.dest.test[192.0.2.7]:25", "452 4.2.2 <u@dest.test>: Recipient address rejected",
		  "mailbox full", "mailbox is full" },
		{ "expired, connection refused", RCPT_EXPIRED, 0, "4.4.7", NULL,
		  "connect to mx.dest.test[192.0.2.7]:25: Connection refused", "no connection",
		  "could not be reached" },
		{ "expired, TLS required but not offered", RCPT_EXPIRED, 0, "4.4.7",
		  "mx.dest.test[192.0.2.7]:25", "TLS is required, but was not offered by the remote host",
		  "TLS not offered", "was not sent unprotected" },
		{ "expired, certificate refused", RCPT_EXPIRED, 0, "4.4.7", "mx.dest.test[192.0.2.7]:25",
		  "TLS handshake with mx.dest.test[192.0.2.7]:25 failed: certificate verify failed",
		  "TLS failed", "could not prove its identity" },
		{ "expired, DNS failure", RCPT_EXPIRED, 0, "4.4.7", NULL,
		  "Host or domain name lookup failed for dest.test type=MX: temporary DNS failure "
		  "(will retry)", "DNS lookup failed", "could not be looked up" },
		{ "expired, no route", RCPT_EXPIRED, 0, "4.4.7", NULL,
		  "no route for the recipient's domain in the configuration", "no route",
		  "this mail system's own setup" },
		{ "expired, smarthost login refused", RCPT_EXPIRED, 0, "4.4.7",
		  "smtp.example.net[192.0.2.9]:587",
		  "authentication failed: 535 5.7.8 Error: authentication failed",
		  "authentication failed", "this mail system's own setup" },
		{ "expired, never tried", RCPT_EXPIRED, 0, "4.4.7", NULL, NULL, NULL,
		  "could not deliver your message" },
	};
	/* clang-format on */
	struct conf c;
	memset(&c, 0, sizeof(c));
	c.hostname = "relay.test";
	c.queue.max_lifetime = 5 * 86400;
	int bad = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct qrcpt r;
		memset(&r, 0, sizeof(r));
		r.addr = "u@dest.test";
		r.state = kinds[k].state;
		r.code = kinds[k].code;
		r.cmd = RCMD_RCPT;
		msg_set_status(&r, kinds[k].status);
		r.relay = kinds[k].relay;
		r.last_reply = kinds[k].reply;
		struct qmsg *m = msg_with(&r, 1);
		const size_t idx[] = {0};
		size_t len = 0;
		char *t =
			bounce_text(m, idx, 1, false, NULL, 0, &c, 1700000000 + 5 * 86400, k, &len);
		assert_non_null(t);
		char *u = unwrapped(t);
		/* The text part's explanation, up to the next MIME part. */
		const char *e = strstr(u, "What it most likely means");
		char *end = e ? strstr(e, " --") : NULL;
		if (!e || !end) {
			print_error("%s: no explanation in the DSN\n", kinds[k].name);
			bad++;
			goto next;
		}
		*end = '\0';
		char want[200];
		if (kinds[k].label)
			snprintf(want, sizeof(want),
				 "What it most likely means (%s): ", kinds[k].label);
		else
			snprintf(want, sizeof(want), "What it most likely means: ");
		if (strncmp(e, want, strlen(want)) != 0) {
			print_error("%s: got \"%.80s\", want \"%s\"\n", kinds[k].name, e, want);
			bad++;
			goto next;
		}
		const char *words = e + strlen(want), *w;
		if (!strstr(words, kinds[k].says)) {
			print_error("%s: got \"%s\", want it to say \"%s\"\n", kinds[k].name, words,
				    kinds[k].says);
			bad++;
		}
		if ((w = operator_word(words)) != NULL) {
			print_error("%s: the explanation has the operator word \"%s\": %s\n",
				    kinds[k].name, w, words);
			bad++;
		}
		bool gave_up = strstr(words, "Gave up: your message could not be delivered for 5 "
					     "days") != NULL;
		if (gave_up != (kinds[k].state == RCPT_EXPIRED)) {
			print_error("%s: got %s expiry line, want %s\n", kinds[k].name,
				    gave_up ? "an" : "no",
				    kinds[k].state == RCPT_EXPIRED ? "one" : "none");
			bad++;
		}
	next:
		free(u);
		free(t);
		free(m);
	}
	if (bad)
		fail_msg("%d failure kinds explained wrong", bad);
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
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
