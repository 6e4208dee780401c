/*
 * fuzz_cmd.c — inbound command-line parsing (smtp/cmd.c): cmd_parse(),
 * cmd_path() with both keywords and both allow_null values, cmd_mail_params(),
 * cmd_rcpt_params(), cmd_domain(), cmd_literal_addr().
 *
 * Input: a 1-byte header (the size of cmd_path()'s output buffer: 1..256,
 * besides the full CMD_LINE_MAX one), then one line (any bytes, NUL too).
 * Every parser sees the line itself, the arguments cmd_parse() found in it,
 * and the "FROM:"/"TO:" prefixed line, each in a buffer of exactly its size.
 *
 * Invariants checked: no crash and no read past the NUL; cmd_parse() fails
 * exactly when the line is empty or holds a NUL, and its args point into
 * the line, past the verb and its spaces; a mailbox from cmd_path() is
 * NUL-terminated within OUTLEN, holds no control character (CR, LF and NUL
 * included) and only well-formed UTF-8, is "" only for allow_null, else
 * "local@domain" within RFC 5321's lengths with no '@' in the domain (or,
 * for a recipient only, "postmaster" in any case, RFC 5321 4.1.1.3); the
 * parameters pointer is inside the argument and past the spaces; errors are
 * complete "5yz x.y.z text" replies without CR or LF; cmd_domain() points
 * into its argument, and when that domain is an address literal
 * cmd_literal_addr() gives an address inet_pton() reads, from inside it.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "smtp/cmd.h"
#include "tests/fuzz/fuzz.h"

static void
check_err(const char *err, const char *what)
{
	FUZZ_CHECK(err != NULL, "%s: -1 without a reply", what);
	size_t n = strlen(err);
	FUZZ_CHECK(n > 10 && err[0] == '5' && err[1] >= '0' && err[1] <= '9' && err[2] >= '0' &&
			   err[2] <= '9' && err[3] == ' ' && err[4] == '5' && err[5] == '.',
		   "%s: not a 5yz x.y.z reply: \"%s\"", what, err);
	FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "%s: CR or LF in \"%s\"", what, err);
}

static void
check_params(const char *params)
{
	struct cmd_mail_params mp;
	const char *err = NULL;

	if (cmd_mail_params(params, &mp, &err) == -1)
		check_err(err, "cmd_mail_params");
	else
		FUZZ_CHECK(mp.size == 0 || mp.has_size, "a size without has_size");
	err = NULL;
	if (cmd_rcpt_params(params, &err) == -1)
		check_err(err, "cmd_rcpt_params");
	else
		FUZZ_CHECK(params[strspn(params, " ")] == '\0', "RCPT parameters accepted: \"%s\"",
			   params);
}

static void
check_domain(const char *box)
{
	const char *d = cmd_domain(box);
	size_t n = strlen(box);

	FUZZ_CHECK(d >= box && d <= box + n, "cmd_domain() points outside its argument");
	FUZZ_CHECK(strchr(d, '@') == NULL, "cmd_domain(\"%s\") holds an '@'", box);

	/* An address literal's address is one inet_pton() reads, inside the
	 * brackets; asking alone says the same. */
	char addr[64];
	unsigned char bin[16];
	int lit = cmd_literal_addr(d, addr, sizeof(addr));
	FUZZ_CHECK(lit == cmd_literal_addr(d, NULL, 0), "cmd_literal_addr(\"%s\") disagrees", d);
	if (lit == 0) {
		FUZZ_CHECK(d[0] == '[' && d[strlen(d) - 1] == ']' && strstr(d, addr) != NULL,
			   "\"%s\" is not the literal \"%s\"", addr, d);
		FUZZ_CHECK(inet_pton(AF_INET, addr, bin) == 1 ||
				   inet_pton(AF_INET6, addr, bin) == 1,
			   "cmd_literal_addr(\"%s\") gave \"%s\", not an address", d, addr);
	}
}

static void
path(const char *args, const char *keyword, bool allow_null, size_t outlen)
{
	char *out = malloc(outlen);
	const char *params = NULL, *err = NULL;
	size_t n;

	memset(out, 0x55, outlen);
	if (cmd_path(args, keyword, allow_null, out, outlen, &params, &err) == -1) {
		check_err(err, "cmd_path");
		free(out);
		return;
	}
	n = strnlen(out, outlen);
	FUZZ_CHECK(n < outlen, "mailbox not NUL-terminated within %zu bytes", outlen);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f,
			   "control byte 0x%02x in mailbox", (unsigned char)out[i]);
	FUZZ_CHECK(fuzz_utf8_ok(out, n), "mailbox is not UTF-8: \"%s\"", out);
	FUZZ_CHECK(params != NULL && params > args && params <= args + strlen(args) &&
			   *params != ' ',
		   "params outside the arguments");
	if (n == 0) {
		FUZZ_CHECK(allow_null, "empty mailbox with allow_null false");
	} else if (strchr(out, '@') == NULL && n == 10 && strncasecmp(out, "postmaster", 10) == 0) {
		bool from = strncasecmp(keyword, "FROM", 4) == 0;
		FUZZ_CHECK(!from, "<%s> accepted as a sender", out);
	} else {
		const char *at = strrchr(out, '@');
		FUZZ_CHECK(at != NULL && at > out && at[1] != '\0',
			   "mailbox not local@domain: \"%s\"", out);
		FUZZ_CHECK(at - out <= 64 && strlen(at + 1) <= 255 && n <= 254,
			   "mailbox too long: \"%s\"", out);
		check_domain(out);
	}
	check_params(params);
	free(out);
}

/* Every path variant on ARGS (NUL-terminated). */
static void
paths(const char *args, size_t small)
{
	static const char *const keywords[] = {"FROM", "TO", "FROM:", "to"};

	for (size_t k = 0; k < 4; k++) {
		path(args, keywords[k], true, CMD_LINE_MAX);
		path(args, keywords[k], false, CMD_LINE_MAX);
		path(args, keywords[k], k % 2 == 0, small);
	}
}

/* One input: every command parser on the line, its args and FROM:/TO: forms. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmd cmd;

	if (size < 1)
		return 0;
	size_t small = 1 + data[0];
	size_t len = size - 1;
	char *line = malloc(len + 1);
	memcpy(line, data + 1, len);
	line[len] = '\0';

	int rc = cmd_parse(line, len, &cmd);
	FUZZ_CHECK((rc == -1) == (len == 0 || memchr(line, '\0', len) != NULL),
		   "cmd_parse() returned %d for a %zu-byte line", rc, len);
	if (rc == 0) {
		FUZZ_CHECK(cmd.args >= line && cmd.args <= line + len && *cmd.args != ' ',
			   "args outside the line or on a space");
		FUZZ_CHECK(cmd.verb >= CMD_UNKNOWN && cmd.verb <= CMD_BDAT, "verb %d", cmd.verb);
		FUZZ_CHECK(cmd.args == line + len || cmd.args[-1] == ' ' || cmd.args == line,
			   "args not after a space");
		if (cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT)
			paths(cmd.args, small);
	}

	/* The line as an argument itself, and behind each keyword. */
	paths(line, small);
	check_params(line);
	check_domain(line);
	for (size_t k = 0; k < 2; k++) {
		const char *pre = k ? "TO:" : "FROM:";
		size_t pl = strlen(pre);
		char *args = malloc(pl + len + 1);
		memcpy(args, pre, pl);
		memcpy(args + pl, line, len + 1);
		paths(args, small);
		free(args);
	}
	free(line);
	return 0;
}
