/*
 * test_reply.c — unit tests for smtp/reply.c: multi-line SMTP replies.
 *
 * Each row feeds a sequence of lines and states what every reply_feed()
 * returns and what the reply holds afterwards; mismatches print "got X,
 * want Y" and the run goes on to the next row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/reply.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define L(s, rc)                                                                                   \
	{                                                                                          \
		s, sizeof(s) - 1, rc                                                               \
	}

struct feed {
	const char *s;
	size_t len;
	int rc;
};

/* clang-format off */
static const struct {
	const char *name;
	struct feed lines[5]; /* until s == NULL */
	int code;
	const char *status;
	const char *line;
	const char *text;
	size_t nlines;
	bool complete;
} cases[] = {
	{ "one line", { L("250 ok", 1) }, 250, "", "250 ok", "ok", 1, true },
	{ "three lines", { L("250-a", 0), L("250-b", 0), L("250 c", 1) }, 250, "",
	  "250-a 250-b 250 c", "a b c", 3, true },
	{ "code alone", { L("250", 1) }, 250, "", "250", "", 1, true },
	{ "code and space", { L("250 ", 1) }, 250, "", "250 ", "", 1, true },
	{ "empty continuation", { L("250-", 0), L("250 x", 1) }, 250, "", "250- 250 x", "x", 2,
	  true },
	{ "code alone ends", { L("250-a", 0), L("250", 1) }, 250, "", "250-a 250", "a", 2, true },
	{ "incomplete", { L("220-hello", 0) }, 220, "", "220-hello", "hello", 1, false },
	{ "ehlo", { L("250-mx.example Hello", 0), L("250-PIPELINING", 0), L("250 8BITMIME", 1) },
	  250, "", "250-mx.example Hello 250-PIPELINING 250 8BITMIME",
	  "mx.example Hello PIPELINING 8BITMIME", 3, true },
	{ "spaces kept", { L("250  two  spaces", 1) }, 250, "", "250  two  spaces", " two  spaces",
	  1, true },

	/* enhanced status codes */
	{ "status", { L("550 5.7.1 Blocked", 1) }, 550, "5.7.1", "550 5.7.1 Blocked", "Blocked", 1,
	  true },
	{ "status on every line", { L("550-5.7.1 foo", 0), L("550 5.7.1 bar", 1) }, 550, "5.7.1",
	  "550-5.7.1 foo 550 5.7.1 bar", "foo bar", 2, true },
	{ "status on first line only",
	  { L("250-2.0.0 hello", 0), L("250-PIPELINING", 0), L("250 SIZE 10", 1) }, 250, "2.0.0",
	  "250-2.0.0 hello 250-PIPELINING 250 SIZE 10", "hello PIPELINING SIZE 10", 3, true },
	{ "other status later", { L("550-5.7.1 a", 0), L("550 5.7.2 b", 1) }, 550, "5.7.1",
	  "550-5.7.1 a 550 5.7.2 b", "a 5.7.2 b", 2, true },
	{ "status only", { L("250 2.0.0", 1) }, 250, "2.0.0", "250 2.0.0", "", 1, true },
	{ "status, spaces", { L("421 4.4.2  timeout", 1) }, 421, "4.4.2", "421 4.4.2  timeout",
	  "timeout", 1, true },
	{ "status on line 2 only", { L("250-hello", 0), L("250 2.0.0 ok", 1) }, 250, "",
	  "250-hello 250 2.0.0 ok", "hello 2.0.0 ok", 2, true },
	{ "status repeated alone", { L("550-5.7.1 a", 0), L("550 5.7.1", 1) }, 550, "5.7.1",
	  "550-5.7.1 a 550 5.7.1", "a", 2, true },
	{ "long status", { L("550 5.123.456 x", 1) }, 550, "5.123.456", "550 5.123.456 x", "x", 1,
	  true },
	{ "class mismatch", { L("550 4.7.1 foo", 1) }, 550, "", "550 4.7.1 foo", "4.7.1 foo", 1,
	  true },
	{ "subject too long", { L("550 5.1234.1 x", 1) }, 550, "", "550 5.1234.1 x", "5.1234.1 x",
	  1, true },
	{ "detail too long", { L("550 5.1.1234 x", 1) }, 550, "", "550 5.1.1234 x", "5.1.1234 x", 1,
	  true },
	{ "two parts", { L("550 5.1 x", 1) }, 550, "", "550 5.1 x", "5.1 x", 1, true },
	{ "glued", { L("250 2.0.0ok", 1) }, 250, "", "250 2.0.0ok", "2.0.0ok", 1, true },
	{ "empty subject", { L("550 5..1 x", 1) }, 550, "", "550 5..1 x", "5..1 x", 1, true },
	{ "status not at start", { L("550 x 5.7.1", 1) }, 550, "", "550 x 5.7.1", "x 5.7.1", 1,
	  true },

	/* unsafe bytes */
	{ "control bytes", { L("550 bad\tthing\x01\x7f", 1) }, 550, "", "550 bad?thing??",
	  "bad?thing??", 1, true },
	{ "NUL byte", { L("550 a\0b", 1) }, 550, "", "550 a?b", "a?b", 1, true },
	{ "CR and LF inside", { L("550 a\rb\nc", 1) }, 550, "", "550 a?b?c", "a?b?c", 1, true },
	{ "utf-8", { L("550 caf\xc3\xa9 \xf0\x9f\x98\x80", 1) }, 550, "",
	  "550 caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80", 1, true },
	{ "latin-1", { L("550 caf\xe9", 1) }, 550, "", "550 caf?", "caf?", 1, true },
	{ "overlong", { L("550 \xc0\xaf", 1) }, 550, "", "550 ??", "??", 1, true },
	{ "surrogate", { L("550 \xed\xa0\x80", 1) }, 550, "", "550 ???", "???", 1, true },
	{ "above U+10FFFF", { L("550 \xf4\x90\x80\x80", 1) }, 550, "", "550 ????", "????", 1,
	  true },
	{ "truncated sequence", { L("550 \xe2\x82", 1) }, 550, "", "550 ??", "??", 1, true },
	{ "sequence cut by end", { L("550 a\xe2\x82", 1) }, 550, "", "550 a??", "a??", 1, true },
	{ "C1 control", { L("550 a\xc2\x9b" "b", 1) }, 550, "", "550 a?b", "a?b", 1, true },
	{ "no-break space", { L("550 a\xc2\xa0" "b", 1) }, 550, "", "550 a\xc2\xa0" "b",
	  "a\xc2\xa0" "b", 1, true },

	/* malformed lines */
	{ "empty", { L("", -1) }, 0, "", "", "", 0, false },
	{ "two chars", { L("25", -1) }, 0, "", "", "", 0, false },
	{ "letter in code", { L("2x0 ok", -1) }, 0, "", "", "", 0, false },
	{ "code 199", { L("199 x", -1) }, 0, "", "", "", 0, false },
	{ "code 600", { L("600 x", -1) }, 0, "", "", "", 0, false },
	{ "code 099", { L("099", -1) }, 0, "", "", "", 0, false },
	{ "fourth char", { L("250x", -1) }, 0, "", "", "", 0, false },
	{ "fourth char tab", { L("250\tok", -1) }, 0, "", "", "", 0, false },
	{ "space before code", { L(" 250 ok", -1) }, 0, "", "", "", 0, false },
	{ "code changes", { L("250-a", 0), L("251 b", -1), L("250 c", 1) }, 250, "", "250-a 250 c",
	  "a c", 2, true },
	{ "bad continuation kept out", { L("250-a", 0), L("250x", -1), L("250 c", 1) }, 250, "",
	  "250-a 250 c", "a c", 2, true },

	/* a new reply after a complete one, without reply_reset() */
	{ "next reply", { L("250 a", 1), L("354 go ahead", 1) }, 354, "", "354 go ahead",
	  "go ahead", 1, true },
	{ "next multi-line reply", { L("550 5.7.1 a", 1), L("250-b", 0), L("250 c", 1) }, 250, "",
	  "250-b 250 c", "b c", 2, true },
	{ "bad line after complete", { L("250 a", 1), L("xyz", -1) }, 250, "", "250 a", "a", 1,
	  true },
};
/* clang-format on */

static void
test_table(void **state)
{
	struct reply r;
	size_t i, k;
	int bad = 0, rc;

	for (i = 0; i < NELEM(cases); i++) {
		reply_reset(&r);
		for (k = 0; k < NELEM(cases[i].lines) && cases[i].lines[k].s != NULL; k++) {
			rc = reply_feed(&r, cases[i].lines[k].s, cases[i].lines[k].len);
			if (rc != cases[i].lines[k].rc) {
				print_error("%s: line %zu: got %d, want %d\n", cases[i].name, k + 1,
					    rc, cases[i].lines[k].rc);
				bad++;
			}
		}
		if (r.code != cases[i].code || strcmp(r.status, cases[i].status) != 0 ||
		    strcmp(r.line, cases[i].line) != 0 || strcmp(r.text, cases[i].text) != 0 ||
		    r.nlines != cases[i].nlines || r.complete != cases[i].complete) {
			print_error("%s: got code %d status \"%s\" line \"%s\" text \"%s\" nlines "
				    "%zu complete %d, "
				    "want code %d status \"%s\" line \"%s\" text \"%s\" nlines %zu "
				    "complete %d\n",
				    cases[i].name, r.code, r.status, r.line, r.text, r.nlines,
				    r.complete, cases[i].code, cases[i].status, cases[i].line,
				    cases[i].text, cases[i].nlines, cases[i].complete);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d reply mismatches", bad);
}

/* Well-formed UTF-8 without control characters, as reply.h promises. */
static bool
safe_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 4;
		else
			return false;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* One long line: both buffers cut to REPLY_TEXT_MAX - 1 bytes with "...". */
static void
test_truncate_line(void **state)
{
	struct reply r;
	char line[2100];

	memcpy(line, "550 ", 4);
	memset(line + 4, 'x', sizeof(line) - 4);
	reply_reset(&r);
	assert_int_equal(reply_feed(&r, line, sizeof(line)), 1);
	if (strlen(r.line) != REPLY_TEXT_MAX - 1 || !ends_with(r.line, "...") ||
	    strncmp(r.line, "550 xxx", 7))
		fail_msg("got line of %zu bytes ending \"%s\", want %d ending \"...\"",
			 strlen(r.line), r.line + strlen(r.line) - 5, REPLY_TEXT_MAX - 1);
	if (strlen(r.text) != REPLY_TEXT_MAX - 1 || !ends_with(r.text, "...") || r.text[0] != 'x')
		fail_msg("got text of %zu bytes, want %d ending \"...\"", strlen(r.text),
			 REPLY_TEXT_MAX - 1);
}

/* Many lines: truncated once, and nothing is appended after the "...". */
static void
test_truncate_lines(void **state)
{
	struct reply r;
	char line[REPLY_TEXT_MAX];
	int i;

	reply_reset(&r);
	for (i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "250-%03d %0200d", i, 0);
		assert_int_equal(reply_feed(&r, line, strlen(line)), 0);
	}
	assert_int_equal(reply_feed(&r, "250 END", 7), 1);
	assert_int_equal(r.nlines, 21);
	if (strlen(r.line) != REPLY_TEXT_MAX - 1 || !ends_with(r.line, "...") ||
	    strstr(r.line, "END"))
		fail_msg("got line of %zu bytes \"...%s\", want %d ending \"...\" without END",
			 strlen(r.line), r.line + strlen(r.line) - 10, REPLY_TEXT_MAX - 1);
	if (strlen(r.text) != REPLY_TEXT_MAX - 1 || !ends_with(r.text, "...") ||
	    strstr(r.text, "END"))
		fail_msg("got text of %zu bytes, want %d ending \"...\" without END",
			 strlen(r.text), REPLY_TEXT_MAX - 1);
	/* a reply that exactly fills the buffer is not truncated */
	reply_reset(&r);
	memcpy(line, "250 ", 4);
	memset(line + 4, 'y', REPLY_TEXT_MAX - 1 - 4);
	assert_int_equal(reply_feed(&r, line, REPLY_TEXT_MAX - 1), 1);
	assert_int_equal(strlen(r.line), REPLY_TEXT_MAX - 1);
	assert_int_equal(r.line[REPLY_TEXT_MAX - 2], 'y');
}

/* A cut never splits a UTF-8 character, at any alignment. */
static void
test_truncate_utf8(void **state)
{
	static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	struct reply r;
	char line[3000];
	size_t len, shift, c;

	for (c = 0; c < NELEM(chars); c++) {
		for (shift = 0; shift < 4; shift++) {
			len = (size_t)snprintf(line, sizeof(line), "550-%.*s", (int)shift, "abc");
			while (len + 4 < sizeof(line)) {
				memcpy(line + len, chars[c], strlen(chars[c]));
				len += strlen(chars[c]);
			}
			reply_reset(&r);
			assert_int_equal(reply_feed(&r, line, len), 0);
			/* the room left by a character cut in two stays unused */
			assert_int_equal(reply_feed(&r, "550 E", 5), 1);
			if (!safe_text(r.line) || !safe_text(r.text) || !ends_with(r.line, "...") ||
			    !ends_with(r.text, "...") || strlen(r.line) != REPLY_TEXT_MAX - 1 ||
			    strlen(r.text) != REPLY_TEXT_MAX - 1 || strchr(r.line, 'E') ||
			    strchr(r.text, 'E'))
				fail_msg("char %zu shift %zu: got line of %zu bytes, text of %zu, "
					 "safe %d/%d",
					 c, shift, strlen(r.line), strlen(r.text),
					 safe_text(r.line), safe_text(r.text));
		}
	}
}

static void
test_line_max(void **state)
{
	struct reply r;
	char *line = malloc(REPLY_LINE_MAX + 1);

	assert_non_null(line);
	memcpy(line, "250 ", 4);
	memset(line + 4, 'z', REPLY_LINE_MAX + 1 - 4);
	reply_reset(&r);
	assert_int_equal(reply_feed(&r, line, REPLY_LINE_MAX + 1), -1);
	assert_int_equal(r.nlines, 0);
	assert_int_equal(reply_feed(&r, line, REPLY_LINE_MAX), 1);
	free(line);
}

/* Random bytes never produce unsafe text or overrun the buffers. */
static void
test_random(void **state)
{
	static uint64_t x = 0x2545f4914f6cdd1dULL;
	struct reply r;
	char line[1500];
	size_t len, i;
	int iter, rc;

	reply_reset(&r);
	for (iter = 0; iter < 20000; iter++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = 4 + x % 1400;
		memcpy(line, iter % 3 ? "250-" : "250 ", 4);
		for (i = 4; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			line[i] = (char)(x >> 24);
		}
		rc = reply_feed(&r, line, len);
		if (rc == -1 || !safe_text(r.line) || !safe_text(r.text) ||
		    strlen(r.line) >= REPLY_TEXT_MAX || strlen(r.text) >= REPLY_TEXT_MAX)
			fail_msg("iteration %d: got rc %d, safe %d/%d", iter, rc, safe_text(r.line),
				 safe_text(r.text));
	}
}

static void
test_cmd_phrase(void **state)
{
	static const struct {
		int cmd;
		const char *want;
	} phr[] = {
		{RCMD_NONE, NULL},
		{RCMD_GREETING, "in the greeting"},
		{RCMD_MAIL, "in reply to MAIL FROM command"},
		{RCMD_RCPT, "in reply to RCPT TO command"},
		{RCMD_DATA, "in reply to DATA command"},
		{RCMD_EOD, "in reply to end of DATA command"},
		{RCMD_LAST + 1, NULL},
		{-1, NULL},
	};
	for (size_t i = 0; i < sizeof(phr) / sizeof(phr[0]); i++) {
		const char *got = reply_cmd_phrase(phr[i].cmd);
		if ((got == NULL) != (phr[i].want == NULL) ||
		    (got && strcmp(got, phr[i].want) != 0))
			fail_msg("reply_cmd_phrase(%d): got \"%s\", want \"%s\"", phr[i].cmd,
				 got ? got : "(null)", phr[i].want ? phr[i].want : "(null)");
	}
	/* Every command has words. */
	for (int c = RCMD_NONE + 1; c <= RCMD_LAST; c++)
		assert_non_null(reply_cmd_phrase(c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),	       cmocka_unit_test(test_truncate_line),
		cmocka_unit_test(test_truncate_lines), cmocka_unit_test(test_truncate_utf8),
		cmocka_unit_test(test_line_max),       cmocka_unit_test(test_random),
		cmocka_unit_test(test_cmd_phrase),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
