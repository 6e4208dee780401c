/*
 * fuzz_reply.c — the reply parser (smtp/reply.c) fed a server's lines.
 *
 * Input: lines split at each LF (one CR before it removed; a last line
 * without LF counts too), each fed to reply_feed() right before an
 * unreadable page (fuzz_guard()).
 *
 * Invariants checked: reply_feed() returns -1, 0 or 1, and -1 exactly for
 * the lines reply.h calls malformed; a refused line leaves the reply
 * untouched; ->line, ->text and ->status are NUL-terminated within their
 * arrays; ->line and ->text hold no control character (C0, DEL, C1) and
 * only well-formed UTF-8; a full buffer (REPLY_TEXT_MAX - 1 bytes) ends in
 * "..." once anything more came, and then never changes; ->status is "" or
 * "C.SSS.DDD" of the code's class; the code is 200..599 and ->complete says
 * whether the last line ended the reply; ->line begins with the code.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/reply.h"
#include "tests/fuzz/fuzz.h"

static void
check_text(const char *s, size_t size, const char *what)
{
	const char *end = memchr(s, '\0', size);

	FUZZ_CHECK(end != NULL, "%s not NUL-terminated", what);
	size_t n = end - s;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "%s: control byte 0x%02x", what, c);
		FUZZ_CHECK(!(c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0),
			   "%s: C1 control", what);
	}
	FUZZ_CHECK(fuzz_utf8_ok(s, n), "%s: not UTF-8", what);
}

/*
 * BEFORE and AFTER are a buffer before and after a line was added to the
 * same reply. Full (REPLY_TEXT_MAX - 1 bytes) it may have been filled
 * exactly; then anything more makes it end in "...", and from then on it
 * never changes.
 */
static void
check_full(const char *before, const char *after, const char *what)
{
	size_t n = strlen(before);

	if (n != REPLY_TEXT_MAX - 1)
		return;
	if (memcmp(before + n - 3, "...", 3) == 0)
		FUZZ_CHECK(strcmp(before, after) == 0, "%s: appended to after it was cut", what);
	else if (strcmp(before, after) != 0)
		FUZZ_CHECK(strlen(after) == n && memcmp(after + n - 3, "...", 3) == 0,
			   "%s: overflowed without \"...\"", what);
}

/* Does reply.h call the line malformed? */
static bool
malformed(const char *l, size_t n, const struct reply *r)
{
	if (n < 3 || n > REPLY_LINE_MAX)
		return true;
	for (int i = 0; i < 3; i++)
		if (l[i] < '0' || l[i] > '9')
			return true;
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599)
		return true;
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return true;
	return !r->complete && r->nlines > 0 && code != r->code;
}

static void
check_status(const struct reply *r)
{
	const char *s = r->status;

	FUZZ_CHECK(memchr(s, '\0', sizeof(r->status)) != NULL, "status not NUL-terminated");
	if (*s == '\0')
		return;
	FUZZ_CHECK(*s == '0' + r->code / 100, "status %s for code %d", r->status, r->code);
	s++;
	for (int part = 0; part < 2; part++) {
		FUZZ_CHECK(*s++ == '.', "status \"%s\"", r->status);
		size_t n = strspn(s, "0123456789");
		FUZZ_CHECK(n >= 1 && n <= 3, "status \"%s\"", r->status);
		s += n;
	}
	FUZZ_CHECK(*s == '\0', "status \"%s\"", r->status);
}

static void
feed(struct reply *r, const char *p, size_t n)
{
	const char *line = fuzz_guard(p, n);
	struct reply before = *r;

	bool bad = malformed(line, n, r);
	int rv = reply_feed(r, line, n);
	FUZZ_CHECK(rv == -1 || rv == 0 || rv == 1, "reply_feed() returned %d", rv);
	FUZZ_CHECK((rv == -1) == bad, "reply_feed() returned %d for a %smalformed line", rv,
		   bad ? "" : "well-formed ");
	if (rv == -1) {
		FUZZ_CHECK(before.code == r->code && before.nlines == r->nlines &&
				   before.complete == r->complete &&
				   strcmp(before.status, r->status) == 0 &&
				   strcmp(before.line, r->line) == 0 && strcmp(before.text, r->text) == 0,
			   "a refused line changed the reply");
	} else {
		FUZZ_CHECK(r->complete == (rv == 1), "complete %d, returned %d", r->complete, rv);
		FUZZ_CHECK(r->complete == (n == 3 || line[3] == ' '), "complete %d after \"%.3s%c\"",
			   r->complete, line, n > 3 ? line[3] : '$');
		FUZZ_CHECK(r->code >= 200 && r->code <= 599, "code %d", r->code);
		FUZZ_CHECK(r->nlines == (before.complete || before.nlines == 0 ? 1 : before.nlines + 1),
			   "%zu lines after %zu", r->nlines, before.nlines);
		char code[8];
		snprintf(code, sizeof(code), "%03d", r->code);
		FUZZ_CHECK(strncmp(r->line, code, 3) == 0, "line \"%.20s\" for code %d", r->line,
			   r->code);
		if (!before.complete && before.nlines > 0) {
			check_full(before.line, r->line, "line");
			check_full(before.text, r->text, "text");
		}
	}
	check_text(r->line, sizeof(r->line), "line");
	check_text(r->text, sizeof(r->text), "text");
	check_status(r);
}

/* One input: its lines fed to one reply in turn. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *e = p + size, *lf;
	struct reply r;

	reply_reset(&r);
	while (p < e) {
		lf = memchr(p, '\n', e - p);
		size_t n = (lf ? lf : e) - p;
		if (lf && n > 0 && p[n - 1] == '\r')
			n--;
		feed(&r, p, n);
		p = lf ? lf + 1 : e;
	}
	return 0;
}
