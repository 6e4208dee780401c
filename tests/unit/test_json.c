/*
 * test_json.c — unit tests for relayd/json.c, the JSON string escaper of
 * relayctl queue --json.
 *
 * A table {name, input, want}; a failure prints the case with "got X, want
 * Y". Well-formed UTF-8 passes through, everything else is escaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "relayd/json.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* json_string(IN) as a NUL-terminated string the caller frees. */
static char *
render(const char *in)
{
	struct evbuffer *b = evbuffer_new();
	assert_non_null(b);
	assert_int_equal(json_string(b, in), 0);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static void
test_escape(void **state)
{
	static const struct {
		const char *name, *in, *want;
	} t[] = {
		{"null", NULL, "null"},
		{"empty", "", "\"\""},
		{"plain", "user@example.com", "\"user@example.com\""},
		{"quote", "say \"hi\"", "\"say \\\"hi\\\"\""},
		{"backslash", "a\\b", "\"a\\\\b\""},
		{"slash kept", "a/b", "\"a/b\""},
		{"short escapes", "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
		{"other control", "a\001b\037c", "\"a\\u0001b\\u001fc\""},
		{"escape", "\033[1m", "\"\\u001b[1m\""},
		{"delete", "x\177y", "\"x\\u007fy\""},
		{"two-byte utf-8", "J\xc3\xbcrgen", "\"J\xc3\xbcrgen\""},
		{"three-byte utf-8", "\xe6\x97\xa5\xe6\x9c\xac", "\"\xe6\x97\xa5\xe6\x9c\xac\""},
		{"four-byte utf-8", "\xf0\x9f\x93\xa7 mail", "\"\xf0\x9f\x93\xa7 mail\""},
		{"largest code point", "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},
		{"U+2028 kept", "\xe2\x80\xa8", "\"\xe2\x80\xa8\""},
		{"latin-1 byte", "caf\xe9", "\"caf\\u00e9\""},
		{"lone continuation", "\x80", "\"\\u0080\""},
		{"overlong slash", "\xc0\xaf", "\"\\u00c0\\u00af\""},
		{"overlong 3-byte", "\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\""},
		{"surrogate", "\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""},
		{"above U+10FFFF", "\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\""},
		{"f5 never valid", "\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\""},
		{"truncated at end", "ok\xe6\x97", "\"ok\\u00e6\\u0097\""},
		{"truncated then ascii", "\xc3x", "\"\\u00c3x\""},
		{"quote after utf-8", "\xc3\xbc\"", "\"\xc3\xbc\\\"\""},
	};

	for (size_t i = 0; i < NELEM(t); i++) {
		char *got = render(t[i].in);
		if (strcmp(got, t[i].want) != 0)
			fail_msg("%s: json_string got %s, want %s", t[i].name, got, t[i].want);
		free(got);
	}
}

/* Every single byte value gives valid output: printable ASCII as itself,
 * the rest escaped. */
static void
test_every_byte(void **state)
{
	for (int c = 1; c < 256; c++) {
		char in[2] = {(char)c, '\0'};
		char *got = render(in);
		size_t n = strlen(got);
		if (n < 3 || got[0] != '"' || got[n - 1] != '"')
			fail_msg("byte %#x: got %s, want a quoted string", c, got);
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)got[k] < 0x20 || (unsigned char)got[k] >= 0x7F)
				fail_msg("byte %#x: got raw byte %#x in %s", c,
					 (unsigned char)got[k], got);
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
