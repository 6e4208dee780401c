/*
 * test_mtasts.c — unit tests for relayd/mtasts.c: RFC 8461 TXT records,
 * the choice among a name's TXT records, policy bodies and MX matching.
 *
 * Each table row states an input and what the parser returns and fills
 * in; mismatches print "got X, want Y" and the run goes on to the next
 * row, then the test fails with the count. The API's edges (small
 * buffers, limits, NULL) have their own tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/mtasts.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A literal with its length, so that it may hold a NUL byte. */
#define S(s) s, sizeof(s) - 1

#define ID32 "abcdefghijklmnopqrstuvwxyz012345"

/* --- TXT records (3.1) --- */

/* clang-format off */
static const struct {
	const char *name;
	const char *txt;
	size_t len;
	int want;
	const char *id; /* when want == 0 */
} txts[] = {
	{ "RFC example", S("v=STSv1; id=20160831085700Z;"), 0, "20160831085700Z" },
	{ "no final ;", S("v=STSv1; id=20160831085700Z"), 0, "20160831085700Z" },
	{ "no spaces", S("v=STSv1;id=abc"), 0, "abc" },
	{ "spaces and tabs around ;", S("v=STSv1 \t; \tid=abc \t;\t "), 0, "abc" },
	{ "space before the first ;", S("v=STSv1 ;id=abc"), 0, "abc" },
	{ "trailing spaces, no ;", S("v=STSv1; id=abc  "), 0, "abc" },
	{ "trailing tab", S("v=STSv1; id=abc\t"), 0, "abc" },
	{ "one-character id", S("v=STSv1; id=7"), 0, "7" },
	{ "32-character id", S("v=STSv1; id=" ID32), 0, ID32 },
	{ "extension before id", S("v=STSv1; foo=bar; id=abc"), 0, "abc" },
	{ "extension after id", S("v=STSv1; id=abc; x-ext.1_a=!\"#$%&'()*+,-./:<>?@[]^`{|}~"), 0,
	  "abc" },
	{ "32-character extension name", S("v=STSv1; " ID32 "=x; id=abc"), 0, "abc" },
	{ "a second v is an extension", S("v=STSv1; v=STSv2; id=abc"), 0, "abc" },
	{ "first id counts", S("v=STSv1; id=first; id=second"), 0, "first" },
	{ "a later id is an extension", S("v=STSv1; id=first; id=not_an_id!"), 0, "first" },
	{ "mixed-case id kept", S("v=STSv1; id=AbC123"), 0, "AbC123" },

	{ "empty", S(""), -1, NULL },
	{ "version only", S("v=STSv1"), -1, NULL },
	{ "version and ;", S("v=STSv1;"), -1, NULL },
	{ "version, ; and space", S("v=STSv1; "), -1, NULL },
	{ "no id", S("v=STSv1; foo=bar"), -1, NULL },
	{ "not first", S("id=abc; v=STSv1"), -1, NULL },
	{ "leading space", S(" v=STSv1; id=abc"), -1, NULL },
	{ "version case", S("v=stsv1; id=abc"), -1, NULL },
	{ "V case", S("V=STSv1; id=abc"), -1, NULL },
	{ "ID case", S("v=STSv1; ID=abc"), -1, NULL },
	{ "other version", S("v=STSv2; id=abc"), -1, NULL },
	{ "STSv10", S("v=STSv10; id=abc"), -1, NULL },
	{ "no ; after version", S("v=STSv1 id=abc"), -1, NULL },
	{ "comma", S("v=STSv1, id=abc"), -1, NULL },
	{ ";;", S("v=STSv1;; id=abc"), -1, NULL },
	{ "; ; at the end", S("v=STSv1; id=abc; ;"), -1, NULL },
	{ "id too long", S("v=STSv1; id=" ID32 "6"), -1, NULL },
	{ "empty id", S("v=STSv1; id="), -1, NULL },
	{ "empty id then ;", S("v=STSv1; id=; foo=bar"), -1, NULL },
	{ "id with _", S("v=STSv1; id=2016_08"), -1, NULL },
	{ "id with -", S("v=STSv1; id=2016-08"), -1, NULL },
	{ "id with .", S("v=STSv1; id=2016.08"), -1, NULL },
	{ "id with a space", S("v=STSv1; id=abc def"), -1, NULL },
	{ "id with =", S("v=STSv1; id=abc=def"), -1, NULL },
	{ "id with UTF-8", S("v=STSv1; id=caf\xc3\xa9"), -1, NULL },
	{ "id then NUL", S("v=STSv1; id=abc\0"), -1, NULL },
	{ "NUL in the middle", S("v=STSv1; id=ab\0c"), -1, NULL },
	{ "NUL after version", S("v=STSv1\0; id=abc"), -1, NULL },
	{ "space around =", S("v=STSv1; id = abc"), -1, NULL },
	{ "CR LF at the end", S("v=STSv1; id=abc\r\n"), -1, NULL },
	{ "extension without =", S("v=STSv1; id=abc; foo"), -1, NULL },
	{ "extension without value", S("v=STSv1; foo=; id=abc"), -1, NULL },
	{ "extension name with _ first", S("v=STSv1; _foo=bar; id=abc"), -1, NULL },
	{ "33-character extension name", S("v=STSv1; " ID32 "6=x; id=abc"), -1, NULL },
	{ "extension value with a space", S("v=STSv1; foo=a b; id=abc"), -1, NULL },
	{ "extension value with a control", S("v=STSv1; foo=a\x01; id=abc"), -1, NULL },
	{ "extension value with DEL", S("v=STSv1; foo=a\x7f; id=abc"), -1, NULL },
	{ "later id not a field", S("v=STSv1; id=first; id="), -1, NULL },
	{ "SPF record", S("v=spf1 -all"), -1, NULL },
};
/* clang-format on */

static void
test_txt_parse(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < NELEM(txts); i++) {
		char id[MTASTS_ID_MAX + 1];
		memset(id, 'X', sizeof(id));
		int rv = mtasts_txt_parse(txts[i].txt, txts[i].len, id, sizeof(id));
		if (rv != txts[i].want) {
			print_error("%s: got %d, want %d\n", txts[i].name, rv, txts[i].want);
			failed++;
		} else if (rv == 0 && strcmp(id, txts[i].id) != 0) {
			print_error("%s: got id \"%s\", want \"%s\"\n", txts[i].name, id,
				    txts[i].id);
			failed++;
		} else if (rv == -1 && id[0] != '\0') {
			print_error("%s: got id \"%.33s\" on failure, want \"\"\n", txts[i].name,
				    id);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* --- choosing among a name's TXT records (3.1) --- */

/* clang-format off */
static const struct {
	const char *name;
	const char *txt[5]; /* until NULL */
	int want;
	const char *id; /* when want == 1 */
} selects[] = {
	{ "none", { NULL }, 0, NULL },
	{ "one", { "v=STSv1; id=abc" }, 1, "abc" },
	{ "one among others", { "v=spf1 -all", "v=STSv1; id=abc", "google-site-verification=x" },
	  1, "abc" },
	{ "others only", { "v=spf1 -all", "hello" }, 0, NULL },
	{ "two", { "v=STSv1; id=abc", "v=STSv1; id=def" }, 0, NULL },
	{ "two the same", { "v=STSv1; id=abc", "v=STSv1; id=abc" }, 0, NULL },
	{ "two, one invalid", { "v=STSv1; id=abc", "v=STSv1; id=a_b" }, 0, NULL },
	{ "one invalid", { "v=STSv1; id=a_b" }, -1, NULL },
	{ "one invalid among others", { "v=spf1 -all", "v=STSv1" }, -1, NULL },
	{ "a bare version counts", { "v=STSv1", "v=STSv1; id=abc" }, 0, NULL },
	{ "a space before ; counts", { "v=STSv1 ; id=abc", "v=STSv1; id=def" }, 0, NULL },
	{ "STSv10 does not count", { "v=STSv10; id=abc", "v=STSv1; id=def" }, 1, "def" },
	{ "case does not count", { "V=STSv1; id=abc", "v=stsv1; id=x", "v=STSv1; id=def" }, 1,
	  "def" },
	{ "a leading space does not count", { " v=STSv1; id=abc", "v=STSv1; id=def" }, 1, "def" },
	{ "empty records", { "", "", "v=STSv1; id=def" }, 1, "def" },
};
/* clang-format on */

static void
test_txt_select(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < NELEM(selects); i++) {
		size_t lens[NELEM(selects[i].txt)], n;
		char id[MTASTS_ID_MAX + 1] = "X";

		for (n = 0; n < NELEM(selects[i].txt) && selects[i].txt[n] != NULL; n++)
			lens[n] = strlen(selects[i].txt[n]);
		int rv = mtasts_txt_select(selects[i].txt, lens, n, id, sizeof(id));
		if (rv != selects[i].want) {
			print_error("%s: got %d, want %d\n", selects[i].name, rv, selects[i].want);
			failed++;
		} else if (rv == 1 && strcmp(id, selects[i].id) != 0) {
			print_error("%s: got id \"%s\", want \"%s\"\n", selects[i].name, id,
				    selects[i].id);
			failed++;
		} else if (rv != 1 && id[0] != '\0') {
			print_error("%s: got id \"%s\", want \"\"\n", selects[i].name, id);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* A record's length is the caller's: bytes past it are not read. */
static void
test_txt_lengths(void **state)
{
	const char *txt[] = {"v=STSv1; id=abcdef", "v=STSv1; id=xyz"};
	size_t lens[] = {strlen("v=STSv1; id=abc"), strlen("v=STSv")};
	char id[MTASTS_ID_MAX + 1];

	assert_int_equal(mtasts_txt_select(txt, lens, 2, id, sizeof(id)), 1);
	assert_string_equal(id, "abc");
	assert_int_equal(mtasts_txt_parse(txt[0], 7, id, sizeof(id)), -1);
	/* a NULL record is skipped */
	txt[0] = NULL;
	lens[1] = strlen(txt[1]);
	assert_int_equal(mtasts_txt_select(txt, lens, 2, id, sizeof(id)), 1);
	assert_string_equal(id, "xyz");
	assert_int_equal(mtasts_txt_select(txt, lens, 0, id, sizeof(id)), 0);
	assert_int_equal(mtasts_txt_parse(NULL, 0, id, sizeof(id)), -1);
}

/* An id that does not fit the caller's buffer is a failure, never cut. */
static void
test_txt_idlen(void **state)
{
	char id[8];

	assert_int_equal(mtasts_txt_parse(S("v=STSv1; id=abcdefg"), id, 8), 0);
	assert_string_equal(id, "abcdefg");
	assert_int_equal(mtasts_txt_parse(S("v=STSv1; id=abcdefgh"), id, 8), -1);
	assert_string_equal(id, "");
	assert_int_equal(mtasts_txt_parse(S("v=STSv1; id=a"), id, 1), -1);
	assert_string_equal(id, "");
	assert_int_equal(mtasts_txt_parse(S("v=STSv1; id=a"), NULL, 0), -1);
	const char *txt[] = {"v=STSv1; id=abcdefgh"};
	size_t lens[] = {strlen(txt[0])};
	assert_int_equal(mtasts_txt_select(txt, lens, 1, id, 8), -1);
	assert_string_equal(id, "");
}

/* --- policies (3.2) --- */

#define V "version: STSv1\r\n"
#define E "mode: enforce\r\n"
#define A "max_age: 604800\r\n"
#define MX "mx: mail.example.com\r\n"
#define GOOD V E MX A

/* clang-format off */
static const struct {
	const char *name;
	const char *body;
	size_t len;
	int want;
	enum mtasts_mode mode;	  /* when want == 0 */
	unsigned long max_age;	  /* when want == 0 */
	const char *mx;		  /* when want == 0: the patterns, space separated */
	const char *err;	  /* when want == -1 */
} policies[] = {
	{ "RFC example, LF",
	  S("version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: mx2.example.com\n"
	    "mx: mx.backup-example.com\nmax_age: 1296000\n"),
	  0, MTASTS_TESTING, 1296000, "mx1.example.com mx2.example.com mx.backup-example.com",
	  NULL },
	{ "RFC example, CRLF",
	  S("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
	    "mx: backupmx.example.com\r\nmax_age: 604800\r\n"),
	  0, MTASTS_ENFORCE, 604800, "mail.example.com *.example.net backupmx.example.com", NULL },
	{ "no final line end", S(V E MX "max_age: 604800"), 0, MTASTS_ENFORCE, 604800,
	  "mail.example.com", NULL },
	{ "mixed CRLF and LF", S("version: STSv1\nmode: enforce\r\nmx: a.example\nmax_age: 1\r\n"),
	  0, MTASTS_ENFORCE, 1, "a.example", NULL },
	{ "any order", S(A MX E V), 0, MTASTS_ENFORCE, 604800, "mail.example.com", NULL },
	{ "no space after :", S("version:STSv1\nmode:enforce\nmx:a.example\nmax_age:86400\n"), 0,
	  MTASTS_ENFORCE, 86400, "a.example", NULL },
	{ "spaces and tabs trimmed",
	  S("version: \t STSv1 \t\r\nmode:\tenforce  \nmx:  a.example\t\nmax_age: 86400 \r\n"), 0,
	  MTASTS_ENFORCE, 86400, "a.example", NULL },
	{ "blank lines skipped", S("\r\n" V "\n" E "  \r\n" MX "\t\n" A "\r\n\r\n"), 0,
	  MTASTS_ENFORCE, 604800, "mail.example.com", NULL },
	{ "mode testing", S(V "mode: testing\n" MX A), 0, MTASTS_TESTING, 604800,
	  "mail.example.com", NULL },
	{ "mode none without mx", S(V "mode: none\n" A), 0, MTASTS_NONE, 604800, "", NULL },
	{ "mode none with mx", S(V "mode: none\n" MX A), 0, MTASTS_NONE, 604800,
	  "mail.example.com", NULL },
	{ "unknown keys ignored",
	  S(V "foo: bar\n" E "x-ext_1.a: anything = ; goes\n" MX "Mode: none\n" A "tls-rpt:\n"), 0,
	  MTASTS_ENFORCE, 604800, "mail.example.com", NULL },
	{ "unknown value with UTF-8", S(GOOD "comment: caf\xc3\xa9\n"), 0, MTASTS_ENFORCE, 604800,
	  "mail.example.com", NULL },
	{ "first mode counts", S(V E "mode: none\n" MX A), 0, MTASTS_ENFORCE, 604800,
	  "mail.example.com", NULL },
	{ "a repeated mode is not checked", S(V E "mode: strict\n" MX A), 0, MTASTS_ENFORCE,
	  604800, "mail.example.com", NULL },
	{ "first max_age counts", S(V E MX "max_age: 86400\nmax_age: abc\nmax_age: 1\n"), 0,
	  MTASTS_ENFORCE, 86400, "mail.example.com", NULL },
	{ "first version counts", S(V "version: STSv2\n" E MX A), 0, MTASTS_ENFORCE, 604800,
	  "mail.example.com", NULL },
	{ "mx repeats", S(V E "mx: a.example\nmx: b.example\nmx: a.example\n" A), 0,
	  MTASTS_ENFORCE, 604800, "a.example b.example a.example", NULL },
	{ "mx wildcard", S(V E "mx: *.example.net\n" A), 0, MTASTS_ENFORCE, 604800,
	  "*.example.net", NULL },
	{ "mx lower-cased, final dot dropped", S(V E "mx: *.MX.Example.NET.\n" A), 0,
	  MTASTS_ENFORCE, 604800, "*.mx.example.net", NULL },
	{ "mx single label", S(V E "mx: localhost\n" A), 0, MTASTS_ENFORCE, 604800, "localhost",
	  NULL },
	{ "mx with digits and hyphens", S(V E "mx: 0-mx-1.ex-ample.com\n" A), 0, MTASTS_ENFORCE,
	  604800, "0-mx-1.ex-ample.com", NULL },
	{ "mx 63-character label",
	  S(V E "mx: a23456789012345678901234567890123456789012345678901234567890123.example\n"
	    A), 0, MTASTS_ENFORCE, 604800,
	  "a23456789012345678901234567890123456789012345678901234567890123.example", NULL },
	{ "max_age 0", S(V E MX "max_age: 0\n"), 0, MTASTS_ENFORCE, 0, "mail.example.com", NULL },
	{ "max_age at the maximum", S(V E MX "max_age: 31557600\n"), 0, MTASTS_ENFORCE, 31557600,
	  "mail.example.com", NULL },
	{ "max_age above it is clamped", S(V E MX "max_age: 31557601\n"), 0, MTASTS_ENFORCE,
	  31557600, "mail.example.com", NULL },
	{ "max_age of 10 digits is clamped", S(V E MX "max_age: 9999999999\n"), 0,
	  MTASTS_ENFORCE, 31557600, "mail.example.com", NULL },
	{ "max_age leading zeros", S(V E MX "max_age: 0000086400\n"), 0, MTASTS_ENFORCE, 86400,
	  "mail.example.com", NULL },

	{ "empty body", S(""), -1, 0, 0, NULL, "empty policy" },
	{ "blank lines only", S("\r\n\n  \n"), -1, 0, 0, NULL, "empty policy" },
	{ "no version", S(E MX A), -1, 0, 0, NULL, "no version" },
	{ "no mode", S(V MX A), -1, 0, 0, NULL, "no mode" },
	{ "no max_age", S(V E MX), -1, 0, 0, NULL, "no max_age" },
	{ "no mx, enforce", S(V E A), -1, 0, 0, NULL, "no mx (mode enforce)" },
	{ "no mx, testing", S(V "mode: testing\n" A), -1, 0, 0, NULL, "no mx (mode testing)" },
	{ "keys are case-sensitive", S("Version: STSv1\n" E MX A), -1, 0, 0, NULL, "no version" },
	{ "Mode is not mode", S(V "Mode: enforce\n" MX A), -1, 0, 0, NULL, "no mode" },
	{ "bad version", S("version: STSv2\n" E MX A), -1, 0, 0, NULL,
	  "line 1: bad version \"STSv2\"" },
	{ "version case", S("version: stsv1\n" E MX A), -1, 0, 0, NULL,
	  "line 1: bad version \"stsv1\"" },
	{ "empty version", S("version:\n" E MX A), -1, 0, 0, NULL, "line 1: bad version \"\"" },
	{ "bad mode", S(V "mode: strict\n" MX A), -1, 0, 0, NULL, "line 2: bad mode \"strict\"" },
	{ "mode case", S(V "mode: Enforce\n" MX A), -1, 0, 0, NULL,
	  "line 2: bad mode \"Enforce\"" },
	{ "mode with two words", S(V "mode: enforce now\n" MX A), -1, 0, 0, NULL,
	  "line 2: bad mode \"enforce now\"" },
	{ "empty mode", S(V "mode: \t\n" MX A), -1, 0, 0, NULL, "line 2: bad mode \"\"" },
	{ "bad max_age", S(V E MX "max_age: abc\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"abc\"" },
	{ "negative max_age", S(V E MX "max_age: -1\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"-1\"" },
	{ "max_age with +", S(V E MX "max_age: +1\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"+1\"" },
	{ "max_age with a unit", S(V E MX "max_age: 86400s\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"86400s\"" },
	{ "max_age in hex", S(V E MX "max_age: 0x10\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"0x10\"" },
	{ "max_age of 11 digits", S(V E MX "max_age: 00000000001\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"00000000001\"" },
	{ "max_age huge", S(V E MX "max_age: 99999999999999999999999\n"), -1, 0, 0, NULL,
	  "line 4: bad max_age \"99999999999999999999999\"" },
	{ "empty max_age", S(V E MX "max_age:\n"), -1, 0, 0, NULL, "line 4: bad max_age \"\"" },
	{ "empty mx", S(V E "mx:\n" A), -1, 0, 0, NULL, "line 3: bad mx \"\"" },
	{ "mx dot", S(V E "mx: .\n" A), -1, 0, 0, NULL, "line 3: bad mx \".\"" },
	{ "mx *", S(V E "mx: *\n" A), -1, 0, 0, NULL, "line 3: bad mx \"*\"" },
	{ "mx *.", S(V E "mx: *.\n" A), -1, 0, 0, NULL, "line 3: bad mx \"*.\"" },
	{ "mx partial wildcard", S(V E "mx: mx*.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"mx*.example.com\"" },
	{ "mx inner wildcard", S(V E "mx: a.*.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a.*.example.com\"" },
	{ "mx double wildcard", S(V E "mx: *.*.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"*.*.example.com\"" },
	{ "mx leading dot", S(V E "mx: .example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \".example.com\"" },
	{ "mx two final dots", S(V E "mx: example.com..\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"example.com..\"" },
	{ "mx empty label", S(V E "mx: a..example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a..example.com\"" },
	{ "mx label starting with -", S(V E "mx: -a.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"-a.example.com\"" },
	{ "mx label ending with -", S(V E "mx: a-.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a-.example.com\"" },
	{ "mx underscore", S(V E "mx: a_b.example.com\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a_b.example.com\"" },
	{ "mx with a port", S(V E "mx: mail.example.com:25\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"mail.example.com:25\"" },
	{ "two mx on a line", S(V E "mx: a.example b.example\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a.example b.example\"" },
	{ "mx U-label", S(V E "mx: m\xc3\xa4il.example\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"m??il.example\"" },
	{ "mx 64-character label",
	  S(V E "mx: a234567890123456789012345678901234567890123456789012345678901234.example\n"
	    A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a234567890123456789012345678901234567890...\"" },
	{ "bad mx in mode none", S(V "mode: none\nmx: a..b\n" A), -1, 0, 0, NULL,
	  "line 3: bad mx \"a..b\"" },
	{ "no colon", S(V "mode enforce\n" MX A), -1, 0, 0, NULL,
	  "line 2: not \"key: value\": \"mode enforce\"" },
	{ "space before colon", S(V "mode : enforce\n" MX A), -1, 0, 0, NULL,
	  "line 2: not \"key: value\": \"mode : enforce\"" },
	{ "leading space", S(V " mode: enforce\n" MX A), -1, 0, 0, NULL,
	  "line 2: not \"key: value\": \" mode: enforce\"" },
	{ "= instead of :", S(V "mode=enforce\n" MX A), -1, 0, 0, NULL,
	  "line 2: not \"key: value\": \"mode=enforce\"" },
	{ "a key alone", S(V E MX A "garbage\n"), -1, 0, 0, NULL,
	  "line 5: not \"key: value\": \"garbage\"" },
	{ "no key", S(V E MX A ": value\n"), -1, 0, 0, NULL,
	  "line 5: not \"key: value\": \": value\"" },
	{ "33-character key", S(V E MX A ID32 "6: x\n"), -1, 0, 0, NULL,
	  "line 5: not \"key: value\": \"" ID32 "6: x\"" },
	{ "UTF-8 BOM", S("\xef\xbb\xbf" V E MX A), -1, 0, 0, NULL,
	  "line 1: not \"key: value\": \"???version: STSv1\"" },
	{ "HTML", S("<html><body>Not Found</body></html>\n"), -1, 0, 0, NULL,
	  "line 1: not \"key: value\": \"<html><body>Not Found</body></html>\"" },
	{ "JSON", S("{\"version\": \"STSv1\"}"), -1, 0, 0, NULL,
	  "line 1: not \"key: value\": \"{\"version\": \"STSv1\"}\"" },
	{ "NUL byte", S(V E "mx: mail.example.com\0\n" A), -1, 0, 0, NULL, "line 3: NUL byte" },
	{ "NUL in an unknown field", S(GOOD "foo: a\0b\n"), -1, 0, 0, NULL, "line 5: NUL byte" },
	{ "NUL alone at the end", S(GOOD "\0"), -1, 0, 0, NULL, "line 5: NUL byte" },
	{ "bare CR", S(V "mode: enforce\rmx: a.example\n" A), -1, 0, 0, NULL,
	  "line 2: control character 0x0d" },
	{ "CR at the end without LF", S(GOOD "\r"), -1, 0, 0, NULL,
	  "line 5: control character 0x0d" },
	{ "CR CR LF", S(V "mode: enforce\r\r\n" MX A), -1, 0, 0, NULL,
	  "line 2: control character 0x0d" },
	{ "form feed", S(V E "\f" MX A), -1, 0, 0, NULL, "line 3: control character 0x0c" },
	{ "DEL", S(V E MX A "foo: \x7f\n"), -1, 0, 0, NULL, "line 5: control character 0x7f" },
	{ "escape in an unknown field", S(GOOD "foo: \x1b[31m\n"), -1, 0, 0, NULL,
	  "line 5: control character 0x1b" },
};
/* clang-format on */

/* The patterns of P joined with spaces, into BUF. */
static const char *
joined(const struct mtasts_policy *p, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->nmx && k < len; i++)
		k += snprintf(buf + k, len - k, "%s%s", i ? " " : "", p->mx[i]);
	return buf;
}

static void
test_policy_parse(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < NELEM(policies); i++) {
		struct mtasts_policy p;
		char err[256] = "X", mx[1024];

		int rv = mtasts_policy_parse(policies[i].body, policies[i].len, &p, err,
					     sizeof(err));
		if (rv != policies[i].want) {
			print_error("%s: got %d (%s), want %d\n", policies[i].name, rv, err,
				    policies[i].want);
			failed++;
		} else if (rv == 0 &&
			   (p.mode != policies[i].mode || p.max_age != policies[i].max_age ||
			    strcmp(joined(&p, mx, sizeof(mx)), policies[i].mx) != 0)) {
			print_error("%s: got mode %s max_age %lu mx \"%s\", want mode %s max_age "
				    "%lu mx \"%s\"\n",
				    policies[i].name, mtasts_strmode(p.mode), p.max_age, mx,
				    mtasts_strmode(policies[i].mode), policies[i].max_age,
				    policies[i].mx);
			failed++;
		} else if (rv == 0 && err[0] != '\0') {
			print_error("%s: got error \"%s\" on success, want \"\"\n",
				    policies[i].name, err);
			failed++;
		} else if (rv == -1 && strcmp(err, policies[i].err) != 0) {
			print_error("%s: got error \"%s\", want \"%s\"\n", policies[i].name, err,
				    policies[i].err);
			failed++;
		} else if (rv == -1 && (p.mx != NULL || p.nmx != 0 || p.max_age != 0 ||
					p.mode != MTASTS_NONE)) {
			print_error("%s: got a policy left filled in on failure\n",
				    policies[i].name);
			failed++;
		}
		mtasts_policy_free(&p);
	}
	assert_int_equal(failed, 0);
}

/* A body's length is the caller's: bytes past it are not read. */
static void
test_policy_length(void **state)
{
	const char body[] = GOOD "mx: extra.example.com\n";
	struct mtasts_policy p;
	char err[64];

	assert_int_equal(mtasts_policy_parse(body, strlen(GOOD), &p, err, sizeof(err)), 0);
	assert_int_equal(p.nmx, 1);
	mtasts_policy_free(&p);
	/* cut in the middle of "max_age: 604800" */
	assert_int_equal(
		mtasts_policy_parse(body, strlen(V E MX "max_age: 60"), &p, err, sizeof(err)), 0);
	assert_int_equal(p.max_age, 60);
	mtasts_policy_free(&p);
	assert_int_equal(mtasts_policy_parse(body, strlen(V E MX "max_"), &p, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "line 4: not \"key: value\": \"max_\"");
	assert_int_equal(mtasts_policy_parse(NULL, 0, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "empty policy");
	assert_int_equal(mtasts_policy_parse(NULL, 5, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "no body");
}

/* Lines up to MTASTS_LINE_MAX bytes (without CRLF), mx up to MTASTS_MX_MAX. */
static void
test_policy_limits(void **state)
{
	struct mtasts_policy p;
	char err[128], *body;
	size_t n = 0, size = (MTASTS_MX_MAX + 10) * 32 + 2 * MTASTS_LINE_MAX;

	body = malloc(size);
	assert_non_null(body);

	/* a line of exactly MTASTS_LINE_MAX bytes, then one byte more */
	n = snprintf(body, size, GOOD "comment: ");
	memset(body + n, 'x', MTASTS_LINE_MAX - strlen("comment: "));
	n += MTASTS_LINE_MAX - strlen("comment: ");
	memcpy(body + n, "\r\n", 2);
	assert_int_equal(mtasts_policy_parse(body, n + 2, &p, err, sizeof(err)), 0);
	mtasts_policy_free(&p);
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), 0);
	mtasts_policy_free(&p);
	body[n] = 'x';
	assert_int_equal(mtasts_policy_parse(body, n + 1, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "line 5: longer than 1024 bytes");

	/* MTASTS_MX_MAX patterns, then one more */
	n = snprintf(body, size, V E A);
	for (int i = 0; i < MTASTS_MX_MAX; i++)
		n += snprintf(body + n, size - n, "mx: mx%d.example.com\n", i);
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nmx, MTASTS_MX_MAX);
	assert_string_equal(p.mx[MTASTS_MX_MAX - 1], "mx999.example.com");
	assert_true(mtasts_policy_allows(&p, "mx500.example.com"));
	mtasts_policy_free(&p);
	n += snprintf(body + n, size - n, "mx: one-more.example.com\n");
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1004: more than 1000 mx");
	assert_null(p.mx);

	/* an mx of 253 characters, then 254 */
	n = snprintf(body, size, V E A "mx: ");
	for (int i = 0; i < 4; i++)
		n += snprintf(body + n, size - n, "%.63s.", ID32 ID32);
	n--; /* 4 * 64 - 1 = 255 */
	n -= 2;
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), 0);
	assert_int_equal(strlen(p.mx[0]), 253);
	mtasts_policy_free(&p);
	body[n++] = 'x';
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), -1);
	/* a final dot does not count */
	body[n - 1] = '.';
	assert_int_equal(mtasts_policy_parse(body, n, &p, err, sizeof(err)), 0);
	assert_int_equal(strlen(p.mx[0]), 253);
	mtasts_policy_free(&p);
	free(body);
}

/* The error buffer may be small or absent; the reason is cut, never overrun. */
static void
test_policy_errbuf(void **state)
{
	struct mtasts_policy p;
	char err[12];

	memset(err, 'X', sizeof(err));
	assert_int_equal(mtasts_policy_parse(S(V E MX "max_age: abc\n"), &p, err, 8), -1);
	assert_string_equal(err, "line 4:");
	assert_int_equal(err[8], 'X');
	assert_int_equal(mtasts_policy_parse(S(V E MX "max_age: abc\n"), &p, err, 10), -1);
	assert_string_equal(err, "line 4: b");
	assert_int_equal(mtasts_policy_parse(S(V E MX), &p, err, 5), -1);
	assert_string_equal(err, "no m");
	assert_int_equal(mtasts_policy_parse(S(V E MX), &p, err, 1), -1);
	assert_string_equal(err, "");
	assert_int_equal(mtasts_policy_parse(S(V E MX), &p, NULL, 0), -1);
	assert_int_equal(mtasts_policy_parse(S(GOOD), &p, NULL, 0), 0);
	mtasts_policy_free(&p);
}

static void
test_policy_free(void **state)
{
	struct mtasts_policy p = {0};

	mtasts_policy_free(NULL);
	mtasts_policy_free(&p);
	assert_int_equal(mtasts_policy_parse(S(GOOD), &p, NULL, 0), 0);
	mtasts_policy_free(&p);
	assert_null(p.mx);
	assert_int_equal(p.nmx, 0);
	mtasts_policy_free(&p); /* twice is fine */
}

/* --- MX matching (4.1) --- */

/* clang-format off */
static const struct {
	const char *pattern, *host;
	bool want;
} matches[] = {
	{ "mail.example.com", "mail.example.com", true },
	{ "mail.example.com", "MAIL.Example.COM", true },
	{ "MAIL.EXAMPLE.COM", "mail.example.com", true },
	{ "mail.example.com", "mail.example.com.", true },
	{ "mail.example.com.", "mail.example.com", true },
	{ "mail.example.com.", "mail.example.com.", true },
	{ "mail.example.com", "mail.example.com..", false },
	{ "mail.example.com..", "mail.example.com", false },
	{ "mail.example.com", "mail.example.co", false },
	{ "mail.example.com", "mail.example.comm", false },
	{ "mail.example.com", "xmail.example.com", false },
	{ "mail.example.com", "a.mail.example.com", false },
	{ "mail.example.com", "example.com", false },
	{ "mail.example.com", ".mail.example.com", false },
	{ "mail.example.com", "", false },
	{ "mail.example.com", ".", false },
	{ "", "mail.example.com", false },
	{ ".", "mail.example.com", false },
	{ "", "", false },
	{ ".", ".", false },

	{ "*.example.com", "mx1.example.com", true },
	{ "*.example.com", "MX1.EXAMPLE.COM", true },
	{ "*.EXAMPLE.com", "mx1.example.COM", true },
	{ "*.example.com", "mx1.example.com.", true },
	{ "*.example.com.", "mx1.example.com", true },
	{ "*.example.com", "x.example.com", true },
	{ "*.example.com", "a-b.example.com", true },
	{ "*.example.com", "a.b.example.com", false },
	{ "*.example.com", "foo.bar.example.com", false },
	{ "*.example.com", "example.com", false },
	{ "*.example.com", "example.com.", false },
	{ "*.example.com", ".example.com", false },
	{ "*.example.com", "..example.com", false },
	{ "*.example.com", "mx1.example.net", false },
	{ "*.example.com", "mx1.example.com.au", false },
	{ "*.example.com", "mx1-example.com", false },
	{ "*.example.com", "mx1.xexample.com", false },
	{ "*.example.com", "*.example.com", false },
	{ "*.example.com", "mx*.example.com", false },
	{ "*.com", "example.com", true },
	{ "*.com", "mail.example.com", false },
	{ "*", "mail", false },
	{ "*", "*", false },
	{ "*.", "mail", false },
	{ "*..", "a..", false },
	{ "mx*.example.com", "mx1.example.com", false },
	{ "mx*.example.com", "mx*.example.com", false },
	{ "a.*.example.com", "a.b.example.com", false },
	{ "*.*.example.com", "a.b.example.com", false },
	{ "**.example.com", "a.example.com", false },
	{ "*example.com", "aexample.com", false },
	{ "a..b", "a..b", false },
	{ "a.b", "a..b", false },
	{ "localhost", "LOCALHOST.", true },
};
/* clang-format on */

static void
test_mx_match(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < NELEM(matches); i++) {
		bool got = mtasts_mx_match(matches[i].pattern, matches[i].host);
		if (got != matches[i].want) {
			print_error("\"%s\" vs \"%s\": got %s, want %s\n", matches[i].pattern,
				    matches[i].host, got ? "match" : "no match",
				    matches[i].want ? "match" : "no match");
			failed++;
		}
	}
	assert_false(mtasts_mx_match(NULL, "a.example"));
	assert_false(mtasts_mx_match("a.example", NULL));
	assert_int_equal(failed, 0);
}

static void
test_policy_allows(void **state)
{
	struct mtasts_policy p;
	char err[64];

	assert_int_equal(mtasts_policy_parse(S(V E "mx: mail.example.com\nmx: *.Example.NET\n"
						   "mx: backupmx.example.com.\n" A),
					     &p, err, sizeof(err)),
			 0);
	assert_true(mtasts_policy_allows(&p, "mail.example.com"));
	assert_true(mtasts_policy_allows(&p, "Mail.Example.Com."));
	assert_true(mtasts_policy_allows(&p, "mx7.example.net"));
	assert_true(mtasts_policy_allows(&p, "backupmx.example.com"));
	assert_false(mtasts_policy_allows(&p, "example.net"));
	assert_false(mtasts_policy_allows(&p, "a.mx7.example.net"));
	assert_false(mtasts_policy_allows(&p, "mx.attacker.example"));
	assert_false(mtasts_policy_allows(&p, ""));
	assert_false(mtasts_policy_allows(&p, NULL));
	mtasts_policy_free(&p);

	/* mode none without mx allows nothing; what that means is the caller's */
	assert_int_equal(mtasts_policy_parse(S(V "mode: none\n" A), &p, err, sizeof(err)), 0);
	assert_false(mtasts_policy_allows(&p, "mail.example.com"));
	mtasts_policy_free(&p);
	assert_false(mtasts_policy_allows(NULL, "mail.example.com"));
}

static void
test_strmode(void **state)
{
	assert_string_equal(mtasts_strmode(MTASTS_ENFORCE), "enforce");
	assert_string_equal(mtasts_strmode(MTASTS_TESTING), "testing");
	assert_string_equal(mtasts_strmode(MTASTS_NONE), "none");
	assert_int_equal(MTASTS_NONE, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_parse),     cmocka_unit_test(test_txt_select),
		cmocka_unit_test(test_txt_lengths),   cmocka_unit_test(test_txt_idlen),
		cmocka_unit_test(test_policy_parse),  cmocka_unit_test(test_policy_length),
		cmocka_unit_test(test_policy_limits), cmocka_unit_test(test_policy_errbuf),
		cmocka_unit_test(test_policy_free),   cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_policy_allows), cmocka_unit_test(test_strmode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
