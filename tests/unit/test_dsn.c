/*
 * test_dsn.c — unit tests for smtp/dsn.c: bounces and delay warnings.
 *
 * Each table row is a DSN to build and what must be in it. Every DSN is
 * held to the same invariants: CRLF line ends only, no NUL, no line over
 * 998 octets, the boundary nowhere but in its delimiters, and the exact
 * set of fields in each header block (top, each part, each block of the
 * delivery status). Then it is written to a temp directory and handed to
 * tests/unit/dsn_check.py, which parses it with Python's email package, an
 * implementation that is not ours. Mismatches print "got X, want Y" and
 * the row goes on, so one run shows every problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/dsn.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1700000000 /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define H(s) .headers = (s), .headers_len = sizeof(s) - 1
#define R(a) .rcpt = (a), .nrcpt = NELEM(a)
#define MAXW 8
#define MAXF 16

struct row {
	const char *name;
	struct dsn_msg m;
	const char *to;		  /* the To: value wanted */
	const char *orig;	  /* the text/rfc822-headers body wanted, or NULL */
	const char *text[MAXW];	  /* in the text part, blanks squashed */
	const char *status[MAXW]; /* in the delivery-status part, unfolded */
	const char *never[MAXW];  /* nowhere in the output */
};

static char big_reply[5001]; /* "550 5.7.1 word word ... XXXX...": 5000 bytes */
static char big_addr[1201];  /* a 1200-byte address without blanks */
static char long_hdrs[1601]; /* a header line of 1500 bytes and then some */
static char tmpdir[] = "/tmp/test_dsn.XXXXXX";
static const char *checker; /* tests/unit/dsn_check.py, NULL when not found */

static const char hdrs_crlf[] = "Received: from client.test (client.test [192.0.2.9])\r\n"
				"\tby relay.test with ESMTP id Q1\r\n"
				"From: Alice <alice@sender.test>\r\n"
				"To: user@example.com\r\n"
				"Subject: hello\r\n"
				"\r\n";

/* clang-format off */
static const struct dsn_rcpt one_failed[] = {
	{ .addr = "user@example.com", .status = "5.1.1", .remote_host = "mx.example.com",
	  .remote_ip = "192.0.2.1", .reply_is_smtp = true, .last_attempt = T0 + 60,
	  .reply = "550 5.1.1 <user@example.com>: Recipient address rejected: User unknown in "
		   "virtual mailbox table",
	  .in_reply_to = "in reply to RCPT TO command",
	  .label = "unknown user",
	  .explain = "The address does not exist at the receiving site. Check it for typos or "
		     "ask the recipient for the right one." },
};

static const struct dsn_rcpt three_mixed[] = {
	{ .addr = "a@gmail.com", .status = "5.7.1", .remote_host = "gmail-smtp-in.l.google.com",
	  .remote_ip = "2a00:1450:400c:c0b::1a", .reply_is_smtp = true, .last_attempt = T0 + 30,
	  .reply = "550-5.7.1 [192.0.2.7] The IP you're using to send mail is not authorized to "
		   "send email directly to our servers. Please use the SMTP relay at your service "
		   "provider instead. For more information, go to "
		   "https://support.google.com/mail/?p=NotAuthorizedError a1-20020a.1 - gsmtp",
	  .label = "reputation: Gmail",
	  .explain = "The recipient's mail provider refuses mail from this mail system. Please "
		     "tell your IT team." },
	{ .addr = "b@nx.test", .status = "5.4.4", .reply_is_smtp = false, .last_attempt = T0 + 31,
	  .reply = "Host or domain name not found. Name service error for name=nx.test type=MX: "
		   "Host not found",
	  .label = "domain not found" },
	{ .addr = "c@example.org", .status = "5.2.2", .remote_ip = "198.51.100.4",
	  .reply_is_smtp = true, .last_attempt = T0 + 32,
	  .reply = "552 5.2.2 Mailbox full", .explain = "The recipient's mailbox is full." },
};

static const struct dsn_rcpt delayed[] = {
	{ .addr = "user@greylist.test", .delayed = true, .status = "4.7.1",
	  .remote_host = "mx.greylist.test", .remote_ip = "203.0.113.5", .reply_is_smtp = true,
	  .last_attempt = T0 + 4 * 3600 - 60,
	  .reply = "451 4.7.1 Greylisted, please try again later", .label = "greylisting",
	  .explain = "The receiver delays mail from unknown senders; it will be accepted on a "
		     "later attempt." },
};

static const struct dsn_rcpt expired[] = {
	{ .addr = "user@slow.test", .status = "4.4.7", .remote_host = "mx.slow.test",
	  .remote_ip = "203.0.113.6", .reply_is_smtp = true, .last_attempt = T0 + 5 * 86400 - 600,
	  .reply = "421 4.7.0 Too many connections, try again later",
	  .in_reply_to = "in the greeting" },
	{ .addr = "other@slow.test", .status = "4.4.7", .reply_is_smtp = false,
	  .last_attempt = T0 + 5 * 86400 - 600,
	  .reply = "connect to mx.slow.test[203.0.113.6]:25: Connection timed out" },
};

static const struct dsn_rcpt odd[] = {
	{ .addr = "j\xc3\xb6rg@ex\xc3\xa4mple.de", .status = "5.1.1", .remote_host = "mx\nevil",
	  .remote_ip = "192.0.2.1\r", .reply_is_smtp = true, .last_attempt = T0,
	  .reply = "550 5.1.1 bad\r\nline\x01 \xff\xfe \xc3\x28 \xc3\xbc end\x7f",
	  .label = "unknown\r\nuser", .explain = "Bcc: injected\r\n\r\nbody" },
	{ .addr = "a\r\nb\x01@x.test", .status = "5.0.0", .reply_is_smtp = false,
	  .last_attempt = T0, .reply = "reason\nwith\rbreaks" },
	{ .addr = "big@reply.test", .status = "5.7.1", .remote_host = "mx.reply.test",
	  .reply_is_smtp = true, .last_attempt = T0, .reply = big_reply },
	{ .addr = big_addr, .status = "5.1.3", .reply_is_smtp = false, .last_attempt = T0,
	  .reply = "bad address syntax" },
	{ .addr = "plus+tag=x\\y z@\xe4\xbe\x8b.test", .status = "5.1.1", .reply_is_smtp = true,
	  .reply = "550 \xe2\x80\x8b\xc2\x85 C1 and zero width" },
};

static const struct dsn_rcpt plain[] = {
	{ .addr = "user@example.com", .status = "5.1.1", .remote_host = "mx.example.com",
	  .remote_ip = "192.0.2.1", .reply_is_smtp = true, .last_attempt = T0,
	  .reply = "550 5.1.1 No such user" },
};

static const struct row rows[] = {
	{ "one failed recipient, SMTP reply",
	  { .hostname = "relay.test", .qid = "4TxQ1abc", .arrival = T0,
	    .sender = "alice@sender.test", H(hdrs_crlf), R(one_failed), .now = T0 + 61,
	    .unique = 7 },
	  "<alice@sender.test>",
	  "Received: from client.test (client.test [192.0.2.9])\r\n"
	  "\tby relay.test with ESMTP id Q1\r\n"
	  "From: Alice <alice@sender.test>\r\n"
	  "To: user@example.com\r\n"
	  "Subject: hello\r\n",
	  { "This is the mail system at host relay.test.",
	    "could not be delivered to one or more recipients",
	    "<user@example.com>",
	    "Remote host: mx.example.com [192.0.2.1]",
	    "Remote reply: 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown "
	    "in virtual mailbox table (in reply to RCPT TO command)",
	    "What it most likely means (unknown user): The address does not exist at the "
	    "receiving site. Check it for typos or ask the recipient for the right one." },
	  { "Final-Recipient: rfc822; user@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.com\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <user@example.com>: Recipient address rejected: "
	    "User unknown in virtual mailbox table\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:14:20 +0000\r\n" },
	  { "Bcc", "delayed", "4.4.7" } },

	{ "three recipients, mixed",
	  { .hostname = "relay.test", .qid = "Q2", .arrival = T0, .sender = "bob@sender.test",
	    H("Subject: three\r\n"), R(three_mixed), .now = T0 + 33, .unique = 8 },
	  "<bob@sender.test>", "Subject: three\r\n",
	  { "<a@gmail.com> Remote host: gmail-smtp-in.l.google.com [2a00:1450:400c:c0b::1a]",
	    "Remote reply: 550-5.7.1 [192.0.2.7] The IP you're using to send mail is not "
	    "authorized to send email directly to our servers. Please use the SMTP relay at your "
	    "service provider instead. For more information, go to "
	    "https://support.google.com/mail/?p=NotAuthorizedError a1-20020a.1 - gsmtp",
	    "What it most likely means (reputation: Gmail): The recipient's mail provider "
	    "refuses",
	    "<b@nx.test> Remote host: none, no connection was made Reason: Host or domain name "
	    "not found.",
	    "Reason: Host or domain name not found. Name service error for name=nx.test type=MX: "
	    "Host not found What it most likely means: domain not found",
	    "<c@example.org> Remote host: 198.51.100.4 Remote reply: 552 5.2.2 Mailbox full "
	    "What it most likely means: The recipient's mailbox is full." },
	  { "Diagnostic-Code: smtp; 550-5.7.1 [192.0.2.7] The IP you're using to send mail is "
	    "not authorized to send email directly to our servers. Please use the SMTP relay at "
	    "your service provider instead. For more information, go to "
	    "https://support.google.com/mail/?p=NotAuthorizedError a1-20020a.1 - gsmtp\r\n",
	    "Final-Recipient: rfc822; b@nx.test\r\nAction: failed\r\nStatus: 5.4.4\r\n"
	    "Diagnostic-Code: X-Relayd; Host or domain name not found. Name service error for "
	    "name=nx.test type=MX: Host not found\r\n",
	    "Remote-MTA: dns; [198.51.100.4]\r\n",
	    "Reporting-MTA: dns; relay.test\r\nX-Relayd-Queue-ID: Q2\r\n"
	    "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" },
	  { "delayed" } },

	{ "delay warning",
	  { .hostname = "relay.test", .qid = "Q3", .arrival = T0, .sender = "carol@sender.test",
	    H(hdrs_crlf), R(delayed), .delay = true, .now = T0 + 4 * 3600, .unique = 9,
	    .retry_until = T0 + 5 * 86400 },
	  "<carol@sender.test>", NULL,
	  { "THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.",
	    "has not yet been delivered",
	    "waiting for 4 hours",
	    "will keep trying until Sun, 19 Nov 2023 22:13:20 +0000",
	    "<user@greylist.test> (still being retried)",
	    "Remote reply: 451 4.7.1 Greylisted, please try again later" },
	  { "Final-Recipient: rfc822; user@greylist.test\r\nAction: delayed\r\nStatus: 4.7.1\r\n",
	    "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n" },
	  { "Undelivered Mail", "Action: failed", "could not be delivered" } },

	{ "expired recipients",
	  { .hostname = "relay.test", .qid = "Q4", .arrival = T0, .sender = "dave@sender.test",
	    H(hdrs_crlf), R(expired), .now = T0 + 5 * 86400, .unique = 10 },
	  "<dave@sender.test>", NULL,
	  { "<user@slow.test> Remote host: mx.slow.test [203.0.113.6] Remote reply: 421 4.7.0 "
	    "Too many connections, try again later (in the greeting) Gave up: your message could "
	    "not be delivered for 5 days, which is as long as this mail system keeps trying.",
	    "<other@slow.test> Remote host: none, no connection was made Reason: connect to "
	    "mx.slow.test[203.0.113.6]:25: Connection timed out Gave up" },
	  { "Final-Recipient: rfc822; user@slow.test\r\nAction: failed\r\nStatus: 4.4.7\r\n",
	    "Diagnostic-Code: smtp; 421 4.7.0 Too many connections, try again later\r\n",
	    "Final-Recipient: rfc822; other@slow.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"
	    "Diagnostic-Code: X-Relayd; connect to mx.slow.test[203.0.113.6]:25: Connection "
	    "timed out\r\n" },
	  { "Action: delayed", "WARNING" } },

	{ "odd bytes in addresses and replies",
	  { .hostname = "relay.test", .qid = "Q5", .arrival = T0, .sender = "s\r\nBcc: evil@x.test",
	    H("Subject: caf\xc3\xa9\r\nX-Bad: \xff\r\n"), R(odd), .now = T0, .unique = 11 },
	  "<s??Bcc: evil@x.test>", "Subject: caf\xc3\xa9\r\nX-Bad: \xff\r\n",
	  { "<j\xc3\xb6rg@ex\xc3\xa4mple.de> Remote host: mx?evil [192.0.2.1?]",
	    "Remote reply: 550 5.1.1 bad??line? ?? ?( \xc3\xbc end?",
	    "What it most likely means (unknown??user): Bcc: injected????body",
	    "<a??b?@x.test> Remote host: none, no connection was made Reason: reason?with?breaks",
	    "<plus+tag=x\\y z@\xe4\xbe\x8b.test>",
	    "Remote reply: 550 \xe2\x80\x8b? C1 and zero width" },
	  { "Final-Recipient: utf-8; j\\x{F6}rg@ex\\x{E4}mple.de\r\n",
	    "Remote-MTA: dns; mx?evil\r\n",
	    "Diagnostic-Code: smtp; 550 5.1.1 bad??line? ?? ?( ? end?\r\n",
	    "Final-Recipient: rfc822; a??b?@x.test\r\n",
	    "Diagnostic-Code: X-Relayd; reason?with?breaks\r\n",
	    "Diagnostic-Code: smtp; 550 5.7.1 word word word",
	    "Final-Recipient: utf-8; plus\\x{2B}tag\\x{3D}x\\x{5C}y\\x{20}z@\\x{4F8B}.test\r\n",
	    "Diagnostic-Code: smtp; 550 ?? C1 and zero width\r\n" },
	  { "\r\nBcc:", "\r\r", "\n\n\n", "\xc3\x28", "\xc2\x85" } },

	{ "original headers with LF, bare CR, NUL and a body",
	  { .hostname = "relay.test", .qid = "Q6", .arrival = T0, .sender = "e@sender.test",
	    H("Received: from a\nSubject: hi\n\tcontinued\nX-A: 1\rX-B: 2\0z\r\n\nbody line\n"),
	    R(plain), .now = T0, .unique = 12 },
	  "<e@sender.test>",
	  "Received: from a\r\nSubject: hi\r\n\tcontinued\r\nX-A: 1\r\nX-B: 2?z\r\n",
	  { "Remote reply: 550 5.1.1 No such user" }, { "Status: 5.1.1\r\n" },
	  { "body line" } },

	{ "original headers without a line end",
	  { .hostname = "relay.test", .qid = "Q7", .arrival = T0, .sender = "f@sender.test",
	    H("Subject: no end"), R(plain), .now = T0, .unique = 13 },
	  "<f@sender.test>", "Subject: no end\r\n", { "" }, { "" }, { "" } },

	{ "no original headers",
	  { .hostname = "relay.test", .qid = "Q8", .arrival = T0, .sender = "g@sender.test",
	    .headers = NULL, R(plain), .now = T0, .unique = 14 },
	  "<g@sender.test>", "", { "" }, { "" }, { "" } },

	{ "a 1500-byte original header line",
	  { .hostname = "relay.test", .qid = "Q9", .arrival = T0, .sender = "h@sender.test",
	    .headers = long_hdrs, .headers_len = sizeof(long_hdrs) - 1, R(plain), .now = T0,
	    .unique = 15 },
	  "<h@sender.test>", NULL, { "" }, { "" }, { "" } },

	{ "SMTPUTF8 sender",
	  { .hostname = "relay.test", .qid = "Q10", .arrival = T0,
	    .sender = "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test",
	    H(hdrs_crlf), R(plain), .now = T0, .unique = 16 },
	  "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>", NULL, { "" }, { "" },
	  { "" } },
};
/* clang-format on */

static const char *
str(const char *s)
{
	return s != NULL ? s : "(null)";
}

/* RFC 5322 date as the test expects it, by strftime in the C locale. */
static void
date_of(char *out, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static size_t
count(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), c = 0;
	const char *p = hay, *end = hay + n;

	while (k > 0 && (p = memmem(p, end - p, needle, k)) != NULL) {
		c++;
		p += k;
	}
	return c;
}

static bool
has8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* A malloc'd copy of N bytes of S with CRLF + blank unfolded (RFC 5322 2.2.3). */
static char *
unfold(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t i, k = 0;

	assert_non_null(o);
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 2 < n && s[i + 1] == '\n' &&
		    (s[i + 2] == ' ' || s[i + 2] == '\t')) {
			i++;
			continue;
		}
		o[k++] = s[i];
	}
	o[k] = '\0';
	return o;
}

/* A malloc'd copy of S with each run of blanks and line ends made one space. */
static char *
squash(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t i, k = 0;

	assert_non_null(o);
	for (i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			if (k == 0 || o[k - 1] != ' ')
				o[k++] = ' ';
		} else
			o[k++] = s[i];
	}
	o[k] = '\0';
	return o;
}

struct block {
	size_t n;
	char names[MAXF * 32]; /* "A,B,C" */
	const char *name[MAXF];
	const char *value[MAXF];
};

/*
 * Split the unfolded header lines of S (modified in place) from *POS up
 * to an empty line or the end into B; *POS is left after the empty line.
 */
static void
block_parse(char *s, size_t *pos, struct block *b)
{
	char *line = s + *pos, *e, *colon;

	memset(b, 0, sizeof(*b));
	while (*line != '\0') {
		e = strstr(line, "\r\n");
		if (e == NULL)
			e = line + strlen(line);
		if (e == line) {
			line += 2;
			break;
		}
		if (*e != '\0')
			*e++ = '\0', *e++ = '\0';
		colon = strchr(line, ':');
		if (b->n < MAXF && colon != NULL) {
			*colon = '\0';
			b->name[b->n] = line;
			for (colon++; *colon == ' ' || *colon == '\t'; colon++)
				;
			b->value[b->n++] = colon;
			if (b->names[0] != '\0')
				strncat(b->names, ",", sizeof(b->names) - strlen(b->names) - 1);
			strncat(b->names, line, sizeof(b->names) - strlen(b->names) - 1);
		} else if (colon == NULL) {
			if (b->names[0] != '\0')
				strncat(b->names, ",", sizeof(b->names) - strlen(b->names) - 1);
			strncat(b->names, "(no colon)", sizeof(b->names) - strlen(b->names) - 1);
		}
		line = e;
	}
	*pos = line - s;
}

static const char *
block_get(const struct block *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->name[i], name) == 0)
			return b->value[i];
	return NULL;
}

static int
want_names(const char *what, const struct block *b, const char *want)
{
	if (strcmp(b->names, want) == 0)
		return 0;
	print_error("%s: got fields %s, want %s\n", what, b->names, want);
	return 1;
}

static int
want_value(const char *what, const struct block *b, const char *name, const char *want, bool prefix)
{
	const char *got = block_get(b, name);

	if (got != NULL &&
	    (prefix ? strncmp(got, want, strlen(want)) == 0 : strcmp(got, want) == 0))
		return 0;
	print_error("%s: got %s \"%s\", want %s\"%s\"\n", what, name, str(got),
		    prefix ? "a value starting with " : "", want);
	return 1;
}

/* Byte-level invariants: NUL-free, CRLF only, lines of at most 998 octets. */
static int
check_lines(const char *name, const char *out, size_t len)
{
	size_t i, start = 0, longest = 0;
	int bad = 0;

	if (out[len] != '\0' || memchr(out, '\0', len) != NULL) {
		print_error("%s: got a NUL inside or none after the text, want one after\n", name);
		bad++;
	}
	for (i = 0; i < len; i++) {
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) {
			print_error("%s: got a bare LF at offset %zu, want CRLF only\n", name, i);
			return bad + 1;
		}
		if (out[i] == '\r' && (i + 1 >= len || out[i + 1] != '\n')) {
			print_error("%s: got a bare CR at offset %zu, want CRLF only\n", name, i);
			return bad + 1;
		}
		if (out[i] == '\n') {
			if (i - 1 - start > longest)
				longest = i - 1 - start;
			start = i + 1;
		}
	}
	if (longest > 998) {
		print_error("%s: got a line of %zu octets, want <= 998\n", name, longest);
		bad++;
	}
	if (len < 2 || start != len) {
		print_error("%s: got no CRLF at the end, want one\n", name);
		bad++;
	}
	return bad;
}

/* Run dsn_check.py on OUT; 0 when it is happy. */
static int
check_python(const char *name, int idx, const struct dsn_msg *m, const char *out, size_t len)
{
	char path[256], cmd[8192];
	size_t i, n;
	FILE *f;
	int rc;

	if (checker == NULL) {
		print_error("%s: tests/unit/dsn_check.py not found (set RELAYD_SRCDIR)\n", name);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/dsn-%d.eml", tmpdir, idx);
	if ((f = fopen(path, "wb")) == NULL || fwrite(out, 1, len, f) != len || fclose(f) != 0) {
		print_error("%s: cannot write %s\n", name, path);
		return 1;
	}
	n = snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' --rcpts %zu --action", checker,
		     path, m->nrcpt);
	for (i = 0; i < m->nrcpt && n < sizeof(cmd) - 16; i++)
		n += snprintf(cmd + n, sizeof(cmd) - n, " %s",
			      m->rcpt[i].delayed ? "delayed" : "failed");
	rc = system(cmd);
	unlink(path);
	if (rc != 0) {
		print_error("%s: got dsn_check.py status %d, want 0 (see its messages above)\n",
			    name, rc);
		return 1;
	}
	return 0;
}

/*
 * Everything every DSN must be, checked against the message M it was
 * built from and the row W; returns the number of problems printed.
 */
static int
check_dsn(const struct row *w, int idx, const char *out, size_t len)
{
	const struct dsn_msg *m = &w->m;
	char date[64], want[2048], boundary[128], delim[160], *hdr, *part[3], *st, *t, *s;
	const char *p, *q, *v, *cte;
	struct block b;
	size_t i, k, pos, plen[3];
	bool eight;
	int bad = check_lines(w->name, out, len);

	if (bad)
		return bad;

	/* Top-level header. */
	p = strstr(out, "\r\n\r\n");
	assert_non_null(p);
	hdr = unfold(out, p - out + 4);
	pos = 0;
	block_parse(hdr, &pos, &b);
	eight = has8bit(p, len - (p - out)); /* the body's encoding, not the header's */
	snprintf(want, sizeof(want),
		 "From,To,Subject,Date,Message-ID,MIME-Version,Auto-Submitted,"
		 "Content-Type%s",
		 eight ? ",Content-Transfer-Encoding" : "");
	bad += want_names(w->name, &b, want);
	snprintf(want, sizeof(want), "Mail Delivery System <MAILER-DAEMON@%s>", m->hostname);
	bad += want_value(w->name, &b, "From", want, false);
	bad += want_value(w->name, &b, "To", w->to, false);
	bad += want_value(w->name, &b, "Subject",
			  m->delay ? "Delayed Mail (still being retried)"
				   : "Undelivered Mail Returned to Sender",
			  false);
	date_of(date, sizeof(date), m->now);
	bad += want_value(w->name, &b, "Date", date, false);
	snprintf(want, sizeof(want), "<%s.%lu.dsn@%s>", m->qid, m->unique, m->hostname);
	bad += want_value(w->name, &b, "Message-ID", want, false);
	bad += want_value(w->name, &b, "MIME-Version", "1.0", false);
	bad += want_value(w->name, &b, "Auto-Submitted", "auto-replied", false);
	bad += want_value(w->name, &b, "Content-Type",
			  "multipart/report; report-type=delivery-status; boundary=\"", true);
	if (eight)
		bad += want_value(w->name, &b, "Content-Transfer-Encoding", "8bit", false);

	/* The boundary: in the Content-Type and its four delimiters only. */
	v = block_get(&b, "Content-Type");
	v = v != NULL ? strstr(v, "boundary=\"") : NULL;
	if (v == NULL || (q = strchr(v + 10, '"')) == NULL || q - v - 10 >= 71 || q == v + 10) {
		print_error("%s: got Content-Type \"%s\", want a boundary of 1..70 chars\n",
			    w->name, str(block_get(&b, "Content-Type")));
		free(hdr);
		return bad + 1;
	}
	snprintf(boundary, sizeof(boundary), "%.*s", (int)(q - v - 10), v + 10);
	free(hdr);
	if (m->headers != NULL && memmem(m->headers, m->headers_len, boundary, strlen(boundary))) {
		print_error("%s: got boundary \"%s\" in the original headers, want it nowhere\n",
			    w->name, boundary);
		bad++;
	}
	if ((k = count(out, len, boundary)) != 5) {
		print_error("%s: got boundary \"%s\" %zu times, want 5 (header, 3 delimiters, "
			    "close)\n",
			    w->name, boundary, k);
		bad++;
	}
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
	if (len < strlen(delim) || strcmp(out + len - strlen(delim), delim) != 0) {
		print_error("%s: got an end other than the close delimiter\n", w->name);
		return bad + 1;
	}

	/* The three parts, each: header, empty line, body. */
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	p = strstr(out, delim);
	for (i = 0; i < 3; i++) {
		if (p == NULL || strncmp(p + strlen(delim), "\r\n", 2) != 0) {
			print_error("%s: got no delimiter for part %zu\n", w->name, i + 1);
			while (i-- > 0)
				free(part[i]);
			return bad + 1;
		}
		p += strlen(delim) + 2;
		q = strstr(p, delim);
		assert_non_null(q);
		part[i] = malloc(q - p + 1);
		assert_non_null(part[i]);
		memcpy(part[i], p, q - p);
		part[i][q - p] = '\0';
		plen[i] = q - p;
		p = q;
	}
	for (i = 0; i < 3; i++) {
		static const char *names[3] = {
			"Content-Description,Content-Type,Content-Transfer-Encoding",
			"Content-Description,Content-Type",
			"Content-Description,Content-Type,Content-Transfer-Encoding",
		};
		static const char *types[3] = {"text/plain; charset=utf-8",
					       "message/delivery-status", "text/rfc822-headers"};

		s = strstr(part[i], "\r\n\r\n");
		if (s == NULL) {
			print_error("%s: part %zu: got no empty line after its header\n", w->name,
				    i + 1);
			bad++;
			continue;
		}
		pos = 0;
		block_parse(part[i], &pos, &b);
		snprintf(want, sizeof(want), "%s part %zu", w->name, i + 1);
		bad += want_names(want, &b, names[i]);
		bad += want_value(want, &b, "Content-Type", types[i], false);
		cte = has8bit(part[i] + pos, plen[i] - pos) ? "8bit" : "7bit";
		if (i != 1)
			bad += want_value(want, &b, "Content-Transfer-Encoding", cte, false);
		plen[i] -= pos;
		memmove(part[i], part[i] + pos, plen[i] + 1);
	}

	/* Part 1: what people read. */
	t = squash(part[0], plen[0]);
	for (i = 0; i < MAXW && w->text[i] != NULL; i++) {
		s = squash(w->text[i], strlen(w->text[i]));
		if (strstr(t, s) == NULL) {
			print_error("%s: got text part \"%s\", want it to hold \"%s\"\n", w->name,
				    t, s);
			bad++;
		}
		free(s);
	}
	free(t);

	/* Part 2: the per-message block, then one block per recipient. */
	st = unfold(part[1], plen[1]);
	for (i = 0; i < MAXW && w->status[i] != NULL; i++) {
		if (strstr(st, w->status[i]) == NULL) {
			print_error("%s: got delivery-status \"%s\", want it to hold \"%s\"\n",
				    w->name, st, w->status[i]);
			bad++;
		}
	}
	pos = 0;
	block_parse(st, &pos, &b);
	snprintf(want, sizeof(want), "%s per-message block", w->name);
	bad += want_names(want, &b, "Reporting-MTA,X-Relayd-Queue-ID,Arrival-Date");
	date_of(date, sizeof(date), m->arrival);
	bad += want_value(want, &b, "Arrival-Date", date, false);
	bad += want_value(want, &b, "X-Relayd-Queue-ID", m->qid, false);
	for (i = 0; i < m->nrcpt; i++) {
		const struct dsn_rcpt *r = &m->rcpt[i];

		if (st[pos] == '\0') {
			print_error("%s: got %zu recipient blocks, want %zu\n", w->name, i,
				    m->nrcpt);
			bad++;
			break;
		}
		block_parse(st, &pos, &b);
		snprintf(want, sizeof(want), "%s recipient %zu", w->name, i + 1);
		snprintf(delim, sizeof(delim),
			 "Final-Recipient,Action,Status%s,Diagnostic-Code%s%s",
			 r->remote_host != NULL || r->remote_ip != NULL ? ",Remote-MTA" : "",
			 r->last_attempt != 0 ? ",Last-Attempt-Date" : "",
			 r->delayed && m->retry_until != 0 ? ",Will-Retry-Until" : "");
		bad += want_names(want, &b, delim);
		bad += want_value(want, &b, "Final-Recipient",
				  has8bit(r->addr, strlen(r->addr)) ? "utf-8; " : "rfc822; ", true);
		bad += want_value(want, &b, "Action", r->delayed ? "delayed" : "failed", false);
		bad += want_value(want, &b, "Status", r->status, false);
		bad += want_value(want, &b, "Diagnostic-Code",
				  r->reply_is_smtp ? "smtp; " : "X-Relayd; ", true);
		if (r->last_attempt != 0) {
			date_of(date, sizeof(date), r->last_attempt);
			bad += want_value(want, &b, "Last-Attempt-Date", date, false);
		}
	}
	if (st[pos] != '\0') {
		print_error("%s: got \"%s\" after the last recipient block, want nothing\n",
			    w->name, st + pos);
		bad++;
	}
	if (has8bit(st, strlen(st))) {
		print_error("%s: got 8-bit bytes in the delivery-status part, want ASCII\n",
			    w->name);
		bad++;
	}
	free(st);

	/* Part 3: the original header section only. */
	if (w->orig != NULL && strcmp(part[2], w->orig) != 0) {
		print_error("%s: got original headers \"%s\", want \"%s\"\n", w->name, part[2],
			    w->orig);
		bad++;
	}
	for (i = 0; i < 3; i++)
		free(part[i]);

	for (i = 0; i < MAXW && w->never[i] != NULL; i++) {
		if (w->never[i][0] != '\0' && memmem(out, len, w->never[i], strlen(w->never[i]))) {
			print_error("%s: got \"%s\" in the DSN, want it nowhere\n", w->name,
				    w->never[i]);
			bad++;
		}
	}
	return bad + check_python(w->name, idx, m, out, len);
}

static void
test_row(void **state)
{
	const struct row *w = *state;
	size_t len = 0;
	char *out;
	int bad;

	out = dsn_build(&w->m, &len);
	assert_non_null(out);
	if (getenv("DSN_DUMP") != NULL && strcmp(getenv("DSN_DUMP"), w->name) == 0)
		fwrite(out, 1, len, stdout);
	bad = check_dsn(w, (int)(w - rows), out, len);
	free(out);
	if (bad)
		fail_msg("%s: %d problems", w->name, bad);
}

/* A boundary found in the original headers or a reply is replaced, again and again. */
static void
test_boundary_collision(void **state)
{
	struct dsn_rcpt r = plain[0];
	struct row w = rows[0];
	char b[3][128], hdrs[512], reply[256];
	const char *v;
	size_t len;
	char *out;
	int bad = 0, k;

	for (k = 0; k < 3; k++) {
		w.m.rcpt = &r;
		w.m.nrcpt = 1;
		w.orig = NULL;
		memset(w.text, 0, sizeof(w.text));
		memset(w.status, 0, sizeof(w.status));
		memset(w.never, 0, sizeof(w.never));
		out = dsn_build(&w.m, &len);
		assert_non_null(out);
		v = strstr(out, "boundary=\"");
		assert_non_null(v);
		v += 10;
		snprintf(b[k], sizeof(b[k]), "%.*s", (int)(strchr(v, '"') - v), v);
		bad += check_dsn(&w, 100 + k, out, len);
		free(out);
		if (k == 0) {
			/* The first boundary inside a header line of the original. */
			snprintf(hdrs, sizeof(hdrs), "Subject: trap\r\nX-Trap: --%s\r\n", b[0]);
			w.m.headers = hdrs;
			w.m.headers_len = strlen(hdrs);
		} else if (k == 1) {
			/* The second one inside the remote reply as well. */
			snprintf(reply, sizeof(reply), "550 5.1.1 see --%s--", b[1]);
			r.reply = reply;
		}
	}
	if (strcmp(b[0], b[1]) == 0 || strcmp(b[1], b[2]) == 0 || strcmp(b[0], b[2]) == 0) {
		print_error("got boundaries \"%s\", \"%s\", \"%s\", want three different ones\n",
			    b[0], b[1], b[2]);
		bad++;
	}
	if (bad)
		fail_msg("%d problems", bad);
}

/* Same input, same bytes: nothing depends on the clock or on memory. */
static void
test_deterministic(void **state)
{
	size_t l1, l2;
	char *a, *b;

	a = dsn_build(&rows[1].m, &l1);
	b = dsn_build(&rows[1].m, &l2);
	assert_non_null(a);
	assert_non_null(b);
	if (l1 != l2 || memcmp(a, b, l1) != 0)
		fail_msg("got two different DSNs (%zu and %zu bytes), want the same", l1, l2);
	free(a);
	free(b);
}

/* NULL strings where the caller had nothing: still a well-formed DSN. */
static void
test_nulls(void **state)
{
	static const struct dsn_rcpt r = {.addr = "x@y.test"};
	struct dsn_msg m = {.hostname = "relay.test",
			    .qid = "Q11",
			    .sender = "s@x.test",
			    .rcpt = &r,
			    .nrcpt = 1,
			    .now = T0,
			    .arrival = T0};
	size_t len;
	char *out;

	out = dsn_build(&m, &len);
	assert_non_null(out);
	if (check_lines("nulls", out, len) != 0 || strstr(out, "Status: 5.0.0\r\n") == NULL ||
	    strstr(out, "Diagnostic-Code: X-Relayd; unknown\r\n") == NULL ||
	    strstr(out, "Last-Attempt-Date") != NULL)
		fail_msg("got \"%s\", want Status 5.0.0, Diagnostic-Code X-Relayd; unknown and "
			 "no Last-Attempt-Date",
			 out);
	free(out);
}

/*
 * Original header lines of 998 octets stay whole; longer ones get CRLF SP
 * inserted between characters, never inside one, and removing those gives
 * the original back.
 */
static void
test_orig_long_lines(void **state)
{
	static const size_t lens[] = {998, 999, 1000, 1901, 2500};
	struct row w = rows[7]; /* "no original headers": nothing else to check */
	char *hdrs, *out, *p3, *q, *back;
	size_t i, k, n = 0, len, blen;
	int bad = 0;

	hdrs = malloc(8192);
	assert_non_null(hdrs);
	for (i = 0; i < NELEM(lens); i++) {
		n += snprintf(hdrs + n, 8192 - n, "X-%zu: ", i);
		for (k = 0; k < lens[i] - 5; k++) {
			/* Two-byte characters from 890 on: a cut at 900 falls inside one. */
			if (k + 5 >= 889 && k + 5 < 920 && k + 1 < lens[i] - 5) {
				memcpy(hdrs + n, "\xc3\xa9", 2);
				n += 2;
				k++;
			} else
				hdrs[n++] = 'a' + k % 26;
		}
		memcpy(hdrs + n, "\n", 1);
		n++;
	}
	w.name = "long original header lines";
	w.orig = NULL;
	w.m.headers = hdrs;
	w.m.headers_len = n;
	out = dsn_build(&w.m, &len);
	assert_non_null(out);
	bad += check_dsn(&w, 200, out, len);

	p3 = strstr(out, "Content-Description: Undelivered Message Headers\r\n");
	assert_non_null(p3);
	p3 = strstr(p3, "\r\n\r\n") + 4;
	q = strstr(p3, "\r\n--");
	assert_non_null(q);
	back = malloc(q - p3 + 1);
	assert_non_null(back);
	for (k = 0; p3 < q; p3++) {
		if (p3[0] == '\r' && p3[1] == '\n' && p3[2] == ' ') {
			if (((unsigned char)p3[3] & 0xc0) == 0x80) {
				print_error("got a fold inside a UTF-8 character, want none\n");
				bad++;
			}
			p3 += 2;
			continue;
		}
		if (p3[0] == '\r')
			continue;
		back[k++] = *p3;
	}
	blen = k;
	if (blen != n || memcmp(back, hdrs, n) != 0) {
		print_error("got %zu bytes back from the folded headers, want the %zu original\n",
			    blen, n);
		bad++;
	}
	if (count(out, len, "\r\nX-0: ") != 1 || count(out, len, "\r\n ") < 4) {
		print_error("got the 998-octet line folded or a longer one not, want only the "
			    "longer ones folded\n");
		bad++;
	}
	free(back);
	free(out);
	free(hdrs);
	if (bad)
		fail_msg("%d problems", bad);
}

/* Status: what the caller gave when it is a class 4 or 5 code, else X.0.0. */
static void
test_status(void **state)
{
	/* clang-format off */
	static const struct {
		const char *status;
		bool delayed;
		const char *want;
	} cases[] = {
		{ "5.1.1", false, "5.1.1" },
		{ "4.4.7", false, "4.4.7" },
		{ "4.7.1", true, "4.7.1" },
		{ "5.7.123", false, "5.7.123" },
		{ NULL, false, "5.0.0" },
		{ NULL, true, "4.0.0" },
		{ "", false, "5.0.0" },
		{ "2.0.0", false, "5.0.0" },
		{ "5.1", false, "5.0.0" },
		{ "5.1.1 ", false, "5.0.0" },
		{ "5.1.1\r\nX: y", false, "5.0.0" },
		{ "5..1", true, "4.0.0" },
		{ "5.1.1234", false, "5.0.0" },
		{ "x", true, "4.0.0" },
	};
	/* clang-format on */
	struct dsn_rcpt r = {.addr = "x@y.test", .reply = "550 no"};
	struct dsn_msg m = {.hostname = "relay.test",
			    .qid = "Q12",
			    .sender = "s@x.test",
			    .rcpt = &r,
			    .nrcpt = 1,
			    .now = T0,
			    .arrival = T0};
	char want[64];
	const char *got;
	size_t i, len;
	char *out;
	int bad = 0;

	for (i = 0; i < NELEM(cases); i++) {
		r.status = cases[i].status;
		r.delayed = cases[i].delayed;
		out = dsn_build(&m, &len);
		assert_non_null(out);
		snprintf(want, sizeof(want), "\r\nStatus: %s\r\n", cases[i].want);
		if (strstr(out, want) == NULL) {
			got = strstr(out, "\r\nStatus: ");
			print_error("status \"%s\": got \"%.*s\", want \"Status: %s\"\n",
				    str(cases[i].status),
				    got != NULL ? (int)strcspn(got + 2, "\r") : 6,
				    got != NULL ? got + 2 : "(none)", cases[i].want);
			bad++;
		}
		free(out);
	}
	if (bad)
		fail_msg("%d status mismatches", bad);
}

/* tests/unit/dsn_check.py from $RELAYD_SRCDIR, the cwd or next to the binary. */
static const char *
find_checker(void)
{
	static char path[4096];
	char exe[2048];
	const char *dirs[] = {"/../../tests/unit", "/../../../tests/unit"};
	const char *env = getenv("RELAYD_SRCDIR");
	ssize_t n;
	size_t i;
	char *slash;

	if (env != NULL) {
		snprintf(path, sizeof(path), "%s/tests/unit/dsn_check.py", env);
		if (access(path, R_OK) == 0)
			return path;
	}
	if (access("tests/unit/dsn_check.py", R_OK) == 0 && getcwd(exe, sizeof(exe)) != NULL) {
		snprintf(path, sizeof(path), "%s/tests/unit/dsn_check.py", exe);
		return path;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < NELEM(dirs); i++) {
		snprintf(path, sizeof(path), "%s%s/dsn_check.py", exe, dirs[i]);
		if (access(path, R_OK) == 0)
			return path;
	}
	return NULL;
}

static int
setup(void **state)
{
	size_t i, n;

	/* 5000 bytes: words, then one 2000-byte word, then words again. */
	n = snprintf(big_reply, sizeof(big_reply), "550 5.7.1 ");
	while (n < 2000)
		n += snprintf(big_reply + n, sizeof(big_reply) - n, "word ");
	for (i = 0; i < 2000; i++)
		big_reply[n++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26];
	for (; n < sizeof(big_reply) - 1; n++)
		big_reply[n] = n % 6 == 0 ? ' ' : 'w';
	big_reply[n] = '\0';

	memset(big_addr, 'a', sizeof(big_addr) - 1);
	memcpy(big_addr + sizeof(big_addr) - 11, "@long.test", 10);
	big_addr[sizeof(big_addr) - 1] = '\0';

	n = snprintf(long_hdrs, sizeof(long_hdrs), "X-Long: ");
	while (n < 1500)
		long_hdrs[n++] = 'L';
	n += snprintf(long_hdrs + n, sizeof(long_hdrs) - n, "\r\nSubject: ");
	while (n < sizeof(long_hdrs) - 3)
		long_hdrs[n++] = 's';
	memcpy(long_hdrs + n, "\r\n", 3);

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	checker = find_checker();
	return 0;
}

static int
teardown(void **state)
{
	rmdir(tmpdir);
	return 0;
}

int
main(void)
{
	struct CMUnitTest tests[NELEM(rows) + 5];
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(test_row, (void *)&rows[i]);
		tests[i].name = rows[i].name;
	}
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_boundary_collision);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_deterministic);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_nulls);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_status);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_orig_long_lines);
	return _cmocka_run_group_tests("dsn", tests, i, setup, teardown);
}
