/*
 * test_cmd.c — unit tests for smtp/cmd.c: verbs, paths, ESMTP parameters.
 *
 * Table-driven: each row is an input and the whole expected outcome; a
 * mismatch prints "got X, want Y" for that row and the test goes on, so
 * one run shows every failing row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/cmd.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *
str(const char *s)
{
	return s != NULL ? s : "(null)";
}

static bool
streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* clang-format off */
static const struct {
	const char *name;
	const char *line;
	size_t len; /* 0: strlen(line) */
	int rc;
	enum cmd_verb verb;
	const char *args;
} parse_cases[] = {
	{ "mail", "MAIL FROM:<a@b>", 0, 0, CMD_MAIL, "FROM:<a@b>" },
	{ "mail lower case", "mail from:<a@b>", 0, 0, CMD_MAIL, "from:<a@b>" },
	{ "mail mixed case", "MaIl FROM:<>", 0, 0, CMD_MAIL, "FROM:<>" },
	{ "rcpt", "RCPT TO:<x@y>", 0, 0, CMD_RCPT, "TO:<x@y>" },
	{ "ehlo, spaces", "EHLO   client.example", 0, 0, CMD_EHLO, "client.example" },
	{ "helo", "HELO x", 0, 0, CMD_HELO, "x" },
	{ "data", "DATA", 0, 0, CMD_DATA, "" },
	{ "data, trailing space", "DATA ", 0, 0, CMD_DATA, "" },
	{ "rset", "RSET", 0, 0, CMD_RSET, "" },
	{ "noop with argument", "NOOP hello", 0, 0, CMD_NOOP, "hello" },
	{ "quit", "quit", 0, 0, CMD_QUIT, "" },
	{ "vrfy", "VRFY root", 0, 0, CMD_VRFY, "root" },
	{ "expn", "EXPN list", 0, 0, CMD_EXPN, "list" },
	{ "help", "HELP", 0, 0, CMD_HELP, "" },
	{ "starttls", "StartTLS", 0, 0, CMD_STARTTLS, "" },
	{ "auth", "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", 0, 0, CMD_AUTH, "PLAIN dGVzdAB0ZXN0AHRlc3Q=" },
	{ "bdat", "BDAT 100 LAST", 0, 0, CMD_BDAT, "100 LAST" },
	{ "unknown", "FOO bar", 0, 0, CMD_UNKNOWN, "bar" },
	{ "verb glued to argument", "MAILFROM:<a@b>", 0, 0, CMD_UNKNOWN, "" },
	{ "verb with suffix", "DATAX", 0, 0, CMD_UNKNOWN, "" },
	{ "verb prefix", "ST", 0, 0, CMD_UNKNOWN, "" },
	{ "leading space", " MAIL FROM:<>", 0, 0, CMD_UNKNOWN, "MAIL FROM:<>" },
	{ "tab is not a separator", "MAIL\tFROM:<>", 0, 0, CMD_UNKNOWN, "" },
	{ "empty", "", 0, -1, CMD_UNKNOWN, NULL },
	{ "NUL byte", "MAIL\0FROM:<>", 12, -1, CMD_UNKNOWN, NULL },
};
/* clang-format on */

static void
test_parse(void **state)
{
	struct cmd c;
	size_t i, len;
	int bad = 0, rc;

	for (i = 0; i < NELEM(parse_cases); i++) {
		memset(&c, 0, sizeof(c));
		len = parse_cases[i].len != 0 ? parse_cases[i].len : strlen(parse_cases[i].line);
		rc = cmd_parse(parse_cases[i].line, len, &c);
		if (rc != parse_cases[i].rc) {
			print_error("parse %s: got rc %d, want %d\n", parse_cases[i].name, rc,
				    parse_cases[i].rc);
			bad++;
			continue;
		}
		if (rc != 0)
			continue;
		if (c.verb != parse_cases[i].verb || !streq(c.args, parse_cases[i].args)) {
			print_error("parse %s: got verb %d args \"%s\", want verb %d args \"%s\"\n",
				    parse_cases[i].name, c.verb, str(c.args), parse_cases[i].verb,
				    parse_cases[i].args);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_parse mismatches", bad);
}

#define MAIL_SYNTAX "501 5.5.4 Syntax: MAIL FROM:<address>"
#define RCPT_SYNTAX "501 5.5.4 Syntax: RCPT TO:<address>"
#define MAIL_BAD "501 5.1.7 Bad sender address syntax"
#define RCPT_BAD "501 5.1.3 Bad recipient address syntax"
#define MAIL_LONG "501 5.1.7 Sender address too long"
#define RCPT_LONG "501 5.1.3 Recipient address too long"

/* Long parts, built from these. */
#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16
#define B63 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C63 "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D61 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
/* A64 "@" B63 "." C63 "." D61 is 254 bytes: 256 with the brackets. */
#define MAX_BOX A64 "@" B63 "." C63 "." D61

/* clang-format off */
static const struct {
	const char *name;
	const char *args;
	const char *keyword;
	bool allow_null;
	int rc;
	const char *out;    /* when rc == 0 */
	const char *params; /* when rc == 0 */
	const char *err;    /* when rc == -1 */
} path_cases[] = {
	/* the shape of the argument */
	{ "plain", "FROM:<a@b>", "FROM", true, 0, "a@b", "", NULL },
	{ "keyword case", "from:<a@b>", "FROM", true, 0, "a@b", "", NULL },
	{ "keyword with colon", "FROM:<a@b>", "FROM:", true, 0, "a@b", "", NULL },
	{ "space after colon", "FROM: <a@b>", "FROM", true, 0, "a@b", "", NULL },
	{ "spaces after colon", "FROM:   <a@b>", "FROM", true, 0, "a@b", "", NULL },
	{ "params", "FROM:<a@b> SIZE=10", "FROM", true, 0, "a@b", "SIZE=10", NULL },
	{ "params, spaces", "FROM:<a@b>   SIZE=10 BODY=8BITMIME", "FROM", true, 0, "a@b",
	  "SIZE=10 BODY=8BITMIME", NULL },
	{ "trailing space", "TO:<x@y> ", "TO", false, 0, "x@y", "", NULL },
	{ "rcpt", "TO:<x@y>", "TO", false, 0, "x@y", "", NULL },
	{ "rcpt lower case", "to:<x@y>", "TO", false, 0, "x@y", "", NULL },
	{ "no brackets, mail", "FROM:a@b", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "no brackets, rcpt", "TO:x@y", "TO", false, -1, NULL, NULL, RCPT_SYNTAX },
	{ "no closing bracket", "FROM:<a@b", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "no closing bracket, rcpt", "TO:<x@y SIZE=1", "TO", false, -1, NULL, NULL, RCPT_SYNTAX },
	{ "no colon", "FROM <a@b>", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "space before colon", "FROM :<a@b>", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "wrong keyword", "TO:<a@b>", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "longer keyword", "FROMX:<a@b>", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "empty", "", "TO", false, -1, NULL, NULL, RCPT_SYNTAX },
	{ "junk after path", "FROM:<a@b>x", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "tab after path", "FROM:<a@b>\tSIZE=1", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },
	{ "two closing brackets", "FROM:<>>", "FROM", true, -1, NULL, NULL, MAIL_SYNTAX },

	/* the null path */
	{ "null sender", "FROM:<>", "FROM", true, 0, "", "", NULL },
	{ "null sender, params", "FROM:<> SIZE=5", "FROM", true, 0, "", "SIZE=5", NULL },
	{ "null recipient", "TO:<>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "null not allowed for mail", "FROM:<>", "FROM", false, -1, NULL, NULL, MAIL_BAD },

	/* local parts */
	{ "atext specials", "TO:<!#$%&'*+-/=?^_`{|}~@x.org>", "TO", false, 0,
	  "!#$%&'*+-/=?^_`{|}~@x.org", "", NULL },
	{ "dots", "TO:<a.b.c@x.org>", "TO", false, 0, "a.b.c@x.org", "", NULL },
	{ "leading dot", "TO:<.a@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "trailing dot", "TO:<a.@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "double dot", "TO:<a..b@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "space", "FROM:<a b@x.org>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "comma", "FROM:<a,b@x.org>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "bracket", "FROM:<a<b@x.org>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "control byte", "FROM:<a\x01@x.org>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "quoted with space", "FROM:<\"john doe\"@example.com>", "FROM", true, 0,
	  "\"john doe\"@example.com", "", NULL },
	{ "quoted pair", "TO:<\"a\\\"b\"@x.org>", "TO", false, 0, "\"a\\\"b\"@x.org", "", NULL },
	{ "quoted backslash", "TO:<\"a\\\\b\"@x.org>", "TO", false, 0, "\"a\\\\b\"@x.org", "",
	  NULL },
	{ "quoted bracket", "TO:<\"a>b\"@x.org> SIZE=1", "TO", false, 0, "\"a>b\"@x.org", "SIZE=1",
	  NULL },
	{ "quoted at", "TO:<\"a@b\"@x.org>", "TO", false, 0, "\"a@b\"@x.org", "", NULL },
	{ "quoted empty", "TO:<\"\"@x.org>", "TO", false, 0, "\"\"@x.org", "", NULL },
	{ "quoted tab", "TO:<\"a\tb\"@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "quoted pair of control", "TO:<\"a\\\x01\"@x.org>", "TO", false, -1, NULL, NULL,
	  RCPT_BAD },
	{ "unterminated quote", "TO:<\"ab@x.org>", "TO", false, -1, NULL, NULL, RCPT_SYNTAX },
	{ "quote inside atom", "TO:<a\"b\"@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "text after quote", "TO:<\"a\"b@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },

	/* domains */
	{ "no domain, rcpt", "TO:<user>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	/* RFC 5321 4.1.1.3 / 4.5.1: <Postmaster> in any case, recipients only. */
	{ "postmaster", "TO:<postmaster>", "TO", false, 0, "postmaster", "", NULL },
	{ "Postmaster", "TO:<Postmaster> ", "TO", false, 0, "Postmaster", "", NULL },
	{ "POSTMASTER", "TO:<POSTMASTER>", "TO", false, 0, "POSTMASTER", "", NULL },
	{ "postmaster routed", "TO:<@a.org:postmaster>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "postmasters", "TO:<postmasters>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "postmaster, mail", "FROM:<postmaster>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "no domain, mail", "FROM:<user>", "FROM", true, -1, NULL, NULL, MAIL_BAD },
	{ "empty domain", "TO:<a@>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "empty local part", "TO:<@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "two ats", "TO:<a@b@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "hyphen", "TO:<a@x-y.example>", "TO", false, 0, "a@x-y.example", "", NULL },
	{ "digits", "TO:<a@123.example>", "TO", false, 0, "a@123.example", "", NULL },
	{ "leading hyphen", "TO:<a@-x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "trailing hyphen", "TO:<a@x-.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "empty label", "TO:<a@x..org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "trailing dot in domain", "TO:<a@x.org.>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "underscore", "TO:<a@x_y.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "label of 63", "TO:<a@" B63 ".org>", "TO", false, 0, "a@" B63 ".org", "", NULL },
	{ "label of 64", "TO:<a@" B63 "b.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "ipv4 literal", "TO:<a@[192.0.2.1]>", "TO", false, 0, "a@[192.0.2.1]", "", NULL },
	{ "ipv6 literal", "TO:<a@[IPv6:2001:db8::1]>", "TO", false, 0, "a@[IPv6:2001:db8::1]", "",
	  NULL },
	{ "ipv6 tag case", "TO:<a@[ipv6:::1]>", "TO", false, 0, "a@[ipv6:::1]", "", NULL },
	{ "ipv4 short", "TO:<a@[1.2.3]>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "ipv4 out of range", "TO:<a@[300.1.1.1]>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "ipv6 without tag", "TO:<a@[2001:db8::1]>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "ipv6 tag, ipv4 address", "TO:<a@[IPv6:1.2.3.4]>", "TO", false, -1, NULL, NULL,
	  RCPT_BAD },
	{ "general literal", "TO:<a@[x-tag:foo]>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "empty literal", "TO:<a@[]>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "unclosed literal", "TO:<a@[1.2.3.4>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "text after literal", "TO:<a@[1.2.3.4]x>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "literal in label", "TO:<a@x.[1.2.3.4]>", "TO", false, -1, NULL, NULL, RCPT_BAD },

	/* source routes */
	{ "source route", "TO:<@a.example,@b.example:user@c.example>", "TO", false, 0,
	  "user@c.example", "", NULL },
	{ "source route, one hop", "FROM:<@a.example:user@c.example> SIZE=1", "FROM", true, 0,
	  "user@c.example", "SIZE=1", NULL },
	{ "source route without at", "TO:<@a.example,b.example:u@c.example>", "TO", false, -1, NULL,
	  NULL, RCPT_BAD },
	{ "source route, empty hop", "TO:<@:u@c.example>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "source route, no mailbox", "TO:<@a.example:>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "source route, no colon", "TO:<@a.example>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "source route, literal", "TO:<@[1.2.3.4]:u@c.example>", "TO", false, -1, NULL, NULL,
	  RCPT_BAD },

	/* UTF-8 (RFC 6531) */
	{ "utf-8", "TO:<j\xc3\xb6rg@m\xc3\xbcnchen.example>", "TO", false, 0,
	  "j\xc3\xb6rg@m\xc3\xbcnchen.example", "", NULL },
	{ "utf-8, cjk",
	  "TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", "TO",
	  false, 0, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	  "", NULL },
	{ "utf-8, 4 bytes", "TO:<\xf0\x9f\x98\x80@x.org>", "TO", false, 0, "\xf0\x9f\x98\x80@x.org",
	  "", NULL },
	{ "utf-8 quoted", "TO:<\"j\xc3\xb6 rg\"@x.org>", "TO", false, 0, "\"j\xc3\xb6 rg\"@x.org",
	  "", NULL },
	{ "invalid byte", "TO:<a\xff@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "lone continuation", "TO:<a\x80@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "overlong", "TO:<a\xc0\xaf@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "overlong 3 bytes", "TO:<a\xe0\x80\xaf@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "surrogate", "TO:<a\xed\xa0\x80@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "above U+10FFFF", "TO:<a\xf4\x90\x80\x80@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "truncated sequence", "TO:<a\xc3@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "invalid in domain", "TO:<a@x\xff.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },
	{ "invalid in quotes", "TO:<\"a\xff\"@x.org>", "TO", false, -1, NULL, NULL, RCPT_BAD },

	/* lengths (RFC 5321 4.5.3.1) */
	{ "local part of 64", "TO:<" A64 "@x.org>", "TO", false, 0, A64 "@x.org", "", NULL },
	{ "local part of 65", "TO:<" A64 "a@x.org>", "TO", false, -1, NULL, NULL, RCPT_LONG },
	{ "local part of 65, mail", "FROM:<" A64 "a@x.org>", "FROM", true, -1, NULL, NULL,
	  MAIL_LONG },
	{ "quoted local part of 66", "TO:<\"" A64 "\"@x.org>", "TO", false, -1, NULL, NULL,
	  RCPT_LONG },
	{ "path of 256", "TO:<" MAX_BOX ">", "TO", false, 0, MAX_BOX, "", NULL },
	{ "path of 257", "TO:<" MAX_BOX "d>", "TO", false, -1, NULL, NULL, RCPT_LONG },
	{ "path of 257 with route", "TO:<@r.example:" MAX_BOX ">", "TO", false, -1, NULL, NULL,
	  RCPT_LONG },
};
/* clang-format on */

static void
test_path(void **state)
{
	char out[512];
	const char *params, *err;
	size_t i;
	int bad = 0, rc;

	for (i = 0; i < NELEM(path_cases); i++) {
		memset(out, 'X', sizeof(out));
		params = err = NULL;
		rc = cmd_path(path_cases[i].args, path_cases[i].keyword, path_cases[i].allow_null,
			      out, sizeof(out), &params, &err);
		if (rc != path_cases[i].rc) {
			print_error("path %s: got rc %d (err \"%s\"), want %d\n",
				    path_cases[i].name, rc, str(err), path_cases[i].rc);
			bad++;
			continue;
		}
		if (rc == 0 &&
		    (!streq(out, path_cases[i].out) || !streq(params, path_cases[i].params))) {
			print_error(
				"path %s: got \"%s\" params \"%s\", want \"%s\" params \"%s\"\n",
				path_cases[i].name, out, str(params), path_cases[i].out,
				path_cases[i].params);
			bad++;
		}
		if (rc == -1 && !streq(err, path_cases[i].err)) {
			print_error("path %s: got err \"%s\", want \"%s\"\n", path_cases[i].name,
				    str(err), path_cases[i].err);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_path mismatches", bad);
}

/* OUT too small for the mailbox is refused, never overrun. */
static void
test_path_outlen(void **state)
{
	char out[8];
	const char *params = NULL, *err = NULL;

	memset(out, 'X', sizeof(out));
	assert_int_equal(cmd_path("TO:<a@b.cd>", "TO", false, out, 6, &params, &err), -1);
	assert_string_equal(err, RCPT_BAD);
	assert_int_equal(out[6], 'X');
	assert_int_equal(cmd_path("TO:<a@b.cd>", "TO", false, out, 7, &params, &err), 0);
	assert_string_equal(out, "a@b.cd");
	assert_int_equal(out[7], 'X');
	assert_int_equal(cmd_path("FROM:<>", "FROM", true, out, 1, &params, &err), 0);
	assert_string_equal(out, "");
}

#define P_SIZE(n) true, n
#define P_NOSIZE false, 0
#define E_PARAM "555 5.5.4 Unsupported MAIL parameter"
#define E_REPEAT "555 5.5.4 Repeated MAIL parameter"
#define E_SIZE "555 5.5.4 Bad SIZE value"
#define E_SIZE_BIG "555 5.5.4 SIZE value too large"
#define E_BODY "555 5.5.4 Unsupported BODY type"
#define E_UTF8 "555 5.5.4 SMTPUTF8 takes no value"
#define E_AUTH "555 5.5.4 Bad AUTH value"

/* clang-format off */
static const struct {
	const char *name;
	const char *params;
	int rc;
	bool has_size;
	uint64_t size;
	int body;
	bool smtputf8;
	const char *err;
} mail_cases[] = {
	{ "none", "", 0, P_NOSIZE, BODY_NONE, false, NULL },
	{ "spaces", "   ", 0, P_NOSIZE, BODY_NONE, false, NULL },
	{ "size", "SIZE=10", 0, P_SIZE(10), BODY_NONE, false, NULL },
	{ "size lower case", "size=0", 0, P_SIZE(0), BODY_NONE, false, NULL },
	{ "size leading zeros", "SIZE=007", 0, P_SIZE(7), BODY_NONE, false, NULL },
	{ "size max", "SIZE=18446744073709551615", 0, P_SIZE(UINT64_MAX), BODY_NONE, false, NULL },
	{ "size overflow", "SIZE=18446744073709551616", -1, P_NOSIZE, 0, false, E_SIZE_BIG },
	{ "size huge", "SIZE=99999999999999999999999999", -1, P_NOSIZE, 0, false, E_SIZE_BIG },
	{ "size empty", "SIZE=", -1, P_NOSIZE, 0, false, E_SIZE },
	{ "size without value", "SIZE", -1, P_NOSIZE, 0, false, E_SIZE },
	{ "size not a number", "SIZE=1a", -1, P_NOSIZE, 0, false, E_SIZE },
	{ "size negative", "SIZE=-1", -1, P_NOSIZE, 0, false, E_SIZE },
	{ "size plus", "SIZE=+1", -1, P_NOSIZE, 0, false, E_SIZE },
	{ "size twice", "SIZE=1 SIZE=2", -1, P_NOSIZE, 0, false, E_REPEAT },
	{ "body 8bitmime", "BODY=8BITMIME", 0, P_NOSIZE, BODY_8BITMIME, false, NULL },
	{ "body 7bit lower case", "body=7bit", 0, P_NOSIZE, BODY_7BIT, false, NULL },
	{ "body binarymime", "BODY=BINARYMIME", -1, P_NOSIZE, 0, false, E_BODY },
	{ "body without value", "BODY", -1, P_NOSIZE, 0, false, E_BODY },
	{ "body empty", "BODY=", -1, P_NOSIZE, 0, false, E_BODY },
	{ "body twice", "BODY=7BIT BODY=7BIT", -1, P_NOSIZE, 0, false, E_REPEAT },
	{ "smtputf8", "SMTPUTF8", 0, P_NOSIZE, BODY_NONE, true, NULL },
	{ "smtputf8 with value", "SMTPUTF8=yes", -1, P_NOSIZE, 0, false, E_UTF8 },
	{ "smtputf8 twice", "SMTPUTF8 smtputf8", -1, P_NOSIZE, 0, false, E_REPEAT },
	{ "all", "SIZE=12345 BODY=8BITMIME SMTPUTF8", 0, P_SIZE(12345), BODY_8BITMIME, true, NULL },
	{ "all, spaces", "  SMTPUTF8   BODY=7BIT  SIZE=1  ", 0, P_SIZE(1), BODY_7BIT, true, NULL },
	{ "postfix with sasl", "SIZE=1234 BODY=8BITMIME AUTH=<>", 0, P_SIZE(1234), BODY_8BITMIME,
	  false, NULL },
	{ "auth xtext", "AUTH=user+40example.com", 0, P_NOSIZE, BODY_NONE, false, NULL },
	{ "auth empty", "AUTH=", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth without value", "AUTH", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth short escape", "AUTH=a+4", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth bad escape", "AUTH=a+zz", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth lower case escape", "AUTH=a+4a", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth with equals", "AUTH=a=b", -1, P_NOSIZE, 0, false, E_AUTH },
	{ "auth twice", "AUTH=<> AUTH=<>", -1, P_NOSIZE, 0, false, E_REPEAT },
	{ "dsn ret", "RET=FULL", -1, P_NOSIZE, 0, false, E_PARAM },
	{ "dsn envid", "SIZE=1 ENVID=abc", -1, P_NOSIZE, 0, false, E_PARAM },
	{ "unknown", "FOO", -1, P_NOSIZE, 0, false, E_PARAM },
	{ "keyword prefix", "SIZEX=1", -1, P_NOSIZE, 0, false, E_PARAM },
	{ "no keyword", "=1", -1, P_NOSIZE, 0, false, E_PARAM },
};
/* clang-format on */

static void
test_mail_params(void **state)
{
	struct cmd_mail_params p;
	const char *err;
	size_t i;
	int bad = 0, rc;

	for (i = 0; i < NELEM(mail_cases); i++) {
		memset(&p, 0xa5, sizeof(p));
		err = NULL;
		rc = cmd_mail_params(mail_cases[i].params, &p, &err);
		if (rc != mail_cases[i].rc) {
			print_error("mail params %s: got rc %d (err \"%s\"), want %d\n",
				    mail_cases[i].name, rc, str(err), mail_cases[i].rc);
			bad++;
			continue;
		}
		if (rc == -1) {
			if (!streq(err, mail_cases[i].err)) {
				print_error("mail params %s: got err \"%s\", want \"%s\"\n",
					    mail_cases[i].name, str(err), mail_cases[i].err);
				bad++;
			}
			continue;
		}
		if (p.has_size != mail_cases[i].has_size || p.size != mail_cases[i].size ||
		    (int)p.body != mail_cases[i].body || p.smtputf8 != mail_cases[i].smtputf8) {
			print_error("mail params %s: got size %d/%llu body %d smtputf8 %d, want "
				    "size %d/%llu "
				    "body %d smtputf8 %d\n",
				    mail_cases[i].name, p.has_size, (unsigned long long)p.size,
				    (int)p.body, p.smtputf8, mail_cases[i].has_size,
				    (unsigned long long)mail_cases[i].size, mail_cases[i].body,
				    mail_cases[i].smtputf8);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_mail_params mismatches", bad);
}

/* clang-format off */
static const struct {
	const char *name;
	const char *params;
	int rc;
} rcpt_cases[] = {
	{ "none", "", 0 },
	{ "spaces", "  ", 0 },
	{ "notify", "NOTIFY=NEVER", -1 },
	{ "orcpt", "ORCPT=rfc822;a@b", -1 },
	{ "anything", "X", -1 },
};
/* clang-format on */

static void
test_rcpt_params(void **state)
{
	const char *err;
	size_t i;
	int bad = 0, rc;

	for (i = 0; i < NELEM(rcpt_cases); i++) {
		err = NULL;
		rc = cmd_rcpt_params(rcpt_cases[i].params, &err);
		if (rc != rcpt_cases[i].rc ||
		    (rc == -1 && !streq(err, "555 5.5.4 Unsupported RCPT parameter"))) {
			print_error("rcpt params %s: got rc %d err \"%s\", want %d\n",
				    rcpt_cases[i].name, rc, str(err), rcpt_cases[i].rc);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_rcpt_params mismatches", bad);
}

/* clang-format off */
static const struct {
	const char *mailbox;
	const char *domain;
} domain_cases[] = {
	{ "a@b.example", "b.example" },
	{ "\"a@b\"@c.example", "c.example" },
	{ "\"a@\"@c.example", "c.example" },
	{ "a@[192.0.2.1]", "[192.0.2.1]" },
	{ "postmaster", "" },
	{ "", "" },
};
/* clang-format on */

static void
test_domain(void **state)
{
	const char *d;
	size_t i;
	int bad = 0;

	for (i = 0; i < NELEM(domain_cases); i++) {
		d = cmd_domain(domain_cases[i].mailbox);
		if (!streq(d, domain_cases[i].domain) || d < domain_cases[i].mailbox ||
		    d > domain_cases[i].mailbox + strlen(domain_cases[i].mailbox)) {
			print_error(
				"domain of \"%s\": got \"%s\", want \"%s\" inside the mailbox\n",
				domain_cases[i].mailbox, str(d), domain_cases[i].domain);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_domain mismatches", bad);
}

/* The address of an address-literal domain; -1 for anything else. */
static void
test_literal_addr(void **state)
{
	/* clang-format off */
	static const struct {
		const char *domain;
		size_t size;
		int want;
		const char *addr;
	} cases[] = {
		{ "[192.0.2.7]", 64, 0, "192.0.2.7" },
		{ "[127.0.0.3]", 10, 0, "127.0.0.3" },
		{ "[127.0.0.3]", 9, -1, NULL },           /* no room for the NUL */
		{ "[IPv6:2001:db8::7]", 64, 0, "2001:db8::7" },
		{ "[ipv6:::1]", 64, 0, "::1" },            /* the prefix in any case */
		{ "[IPV6:::ffff:192.0.2.1]", 64, 0, "::ffff:192.0.2.1" },
		{ "[2001:db8::7]", 64, -1, NULL },         /* IPv6 without its prefix */
		{ "[IPv6:192.0.2.7]", 64, -1, NULL },      /* IPv4 with the prefix */
		{ "[192.0.2.256]", 64, -1, NULL },
		{ "[192.0.2.7", 64, -1, NULL },
		{ "[192.0.2.7]x", 64, -1, NULL },
		{ "x[192.0.2.7]", 64, -1, NULL },
		{ "[]", 64, -1, NULL },
		{ "[x-tag:foo]", 64, -1, NULL },
		{ "example.com", 64, -1, NULL },
		{ "192.0.2.7", 64, -1, NULL },             /* a bare address is a name */
		{ "", 64, -1, NULL },
	};
	/* clang-format on */
	char out[64];
	int bad = 0;

	for (size_t i = 0; i < NELEM(cases); i++) {
		memset(out, 'x', sizeof(out));
		out[sizeof(out) - 1] = '\0';
		int got = cmd_literal_addr(cases[i].domain, out, cases[i].size);
		/* Only asking: whether it is a literal, whatever the room. */
		int asked = cmd_literal_addr(cases[i].domain, NULL, 0);
		bool literal = cases[i].want == 0 || cases[i].size < 64;
		if (got != cases[i].want || (got == 0 && !streq(out, cases[i].addr)) ||
		    asked != (literal ? 0 : -1)) {
			print_error("\"%s\" in %zu bytes: got %d \"%s\" (asked: %d), want %d "
				    "\"%s\"\n",
				    cases[i].domain, cases[i].size, got, got == 0 ? out : "", asked,
				    cases[i].want, str(cases[i].addr));
			bad++;
		}
	}
	if (bad)
		fail_msg("%d cmd_literal_addr mismatches", bad);
}

/* The mailbox cmd_path() gives back has the domain cmd_domain() finds. */
static void
test_path_then_domain(void **state)
{
	char out[300];
	const char *params, *err;

	assert_int_equal(cmd_path("TO:<\"x@evil.example\"@good.example>", "TO", false, out,
				  sizeof(out), &params, &err),
			 0);
	assert_string_equal(cmd_domain(out), "good.example");
	assert_int_equal(cmd_path("TO:<@relay.example:u@dest.example>", "TO", false, out,
				  sizeof(out), &params, &err),
			 0);
	assert_string_equal(cmd_domain(out), "dest.example");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),	     cmocka_unit_test(test_path),
		cmocka_unit_test(test_path_outlen),  cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),  cmocka_unit_test(test_domain),
		cmocka_unit_test(test_literal_addr), cmocka_unit_test(test_path_then_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
