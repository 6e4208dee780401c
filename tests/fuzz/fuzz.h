/*
 * fuzz.h — what the libFuzzer harnesses of tests/fuzz/ share.
 *
 * FUZZ_CHECK()     abort with a message when an invariant is broken
 * fuzz_skip()      is a named check switched off (RELAYD_FUZZ_SKIP)
 * fuzz_in          the input taken apart: header bytes, then the rest
 * fuzz_byte()      the next header byte (0 once the input is used up)
 * fuzz_str()       a length-prefixed string, malloc'd to its exact size
 * fuzz_utf8_ok()   N bytes are well-formed UTF-8 (RFC 3629)
 * fuzz_mem()       append to a growable byte buffer
 * fuzz_guard()     a copy that ends where an unreadable page begins
 * fuzz_check_body() the stored form of a DATA body, as data.h defines it
 *
 * Everything is static inline so each harness is one translation unit,
 * linked with the code it tests (mk/fuzz.mk builds smtp/ and conf/ again
 * with the sanitizers).
 *
 * A broken invariant aborts, which libFuzzer reports as a crash with the
 * input saved. RELAYD_FUZZ_SKIP="size,..." switches off named checks that
 * trip on a known, already reported bug, so a campaign can go on looking
 * for others until the fix lands (docs/fuzzing.md lists the names).
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__,      \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Is the check NAME listed in RELAYD_FUZZ_SKIP (comma separated)? */
static inline bool
fuzz_skip(const char *name)
{
	const char *list = getenv("RELAYD_FUZZ_SKIP"), *p;
	size_t n = strlen(name);

	for (p = list; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
		p += *p == ',';
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

/* The next byte, or 0 once the input is used up. */
static inline uint8_t
fuzz_byte(struct fuzz_in *in)
{
	if (in->len == 0)
		return 0;
	in->len--;
	return *in->p++;
}

/*
 * A string (length first: one byte, or two with WIDE; any byte inside, NUL
 * included, so the C string may end early) in a buffer of exactly its size
 * plus the NUL, so that ASan sees any read past it. The largest length
 * means NULL when NULLABLE, so "may be NULL" arguments get exercised too.
 * Free it.
 */
static inline char *
fuzz_str(struct fuzz_in *in, bool nullable, bool wide)
{
	size_t n = fuzz_byte(in), max = wide ? 0xffff : 0xff;
	char *s;

	if (wide)
		n = n << 8 | fuzz_byte(in);
	if (nullable && n == max)
		return NULL;
	if (n > in->len)
		n = in->len;
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n;
	in->len -= n;
	return s;
}

/* Are the N bytes at S well-formed UTF-8 (no overlongs, no surrogates)? */
static inline bool
fuzz_utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k, len;
	unsigned long cp, min;

	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if (u[i] >= 0xc2 && u[i] <= 0xdf)
			len = 2, cp = u[i] & 0x1f, min = 0x80;
		else if (u[i] >= 0xe0 && u[i] <= 0xef)
			len = 3, cp = u[i] & 0x0f, min = 0x800;
		else if (u[i] >= 0xf0 && u[i] <= 0xf4)
			len = 4, cp = u[i] & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/*
 * A copy of the N bytes at P that ends where an unreadable page begins, so
 * that a read one byte past them faults at once, also inside libc
 * (strtoull(), strlen()...), which ASan does not see into: how
 * length-delimited input (a line, a piece of a session) is handed to the
 * code under test. One region per process: the copy is valid until the
 * next call.
 */
static inline const char *
fuzz_guard(const void *p, size_t n)
{
	static char *region;
	static size_t size;

	if (region == NULL) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size = ((size_t)1 << 20) / page * page;
		region = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0);
		if (region == MAP_FAILED || mprotect(region + size, page, PROT_NONE) != 0)
			abort();
	}
	FUZZ_CHECK(n <= size, "input of %zu bytes: run with -max_len=%zu or less", n, size);
	if (n != 0)
		memcpy(region + size - n, p, n);
	return region + size - n;
}

/* A growable byte buffer (the harness's own, never the tested code's). */
struct fuzz_mem {
	char *p;
	size_t len, cap;
};

static inline void
fuzz_mem(struct fuzz_mem *m, const char *s, size_t n)
{
	if (m->len + n + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		while (cap < m->len + n + 1)
			cap *= 2;
		if ((m->p = realloc(m->p, cap)) == NULL)
			abort();
		m->cap = cap;
	}
	if (n != 0)
		memcpy(m->p + m->len, s, n);
	m->len += n;
	m->p[m->len] = '\0';
}

/*
 * Check that the N bytes at B are a stored-form DATA body as data.h
 * defines it, as far as it goes: CR and LF only as CRLF, every line that
 * starts with '.' stuffed ("..") except the final "." line, which must be
 * there when DONE and nowhere else. Unless DONE, the piece may stop in the
 * middle of a line, after its CR even.
 */
static inline void
fuzz_check_body(const char *b, size_t n, bool done)
{
	size_t i, bol = 0;

	for (i = 0; i < n; i++) {
		if (b[i] == '\r')
			FUZZ_CHECK((i + 1 < n && b[i + 1] == '\n') || (!done && i + 1 == n),
				   "bare CR at %zu of %zu", i, n);
		if (b[i] == '\n') {
			FUZZ_CHECK(i > 0 && b[i - 1] == '\r', "bare LF at %zu of %zu", i, n);
			if (b[bol] == '.' && i - bol == 2)
				FUZZ_CHECK(done && i + 1 == n, "a \".\" line at %zu of %zu", bol, n);
			else if (b[bol] == '.')
				FUZZ_CHECK(b[bol + 1] == '.', "unstuffed '.' line at %zu of %zu", bol, n);
			bol = i + 1;
		}
	}
	if (done)
		FUZZ_CHECK(n >= 3 && bol == n && memcmp(b + n - 3, ".\r\n", 3) == 0 &&
				   (n == 3 || b[n - 4] == '\n'),
			   "done, but the body does not end with the \".\" line");
	else if (bol < n && b[bol] == '.')
		/* A partial line: a '.' is held back until the next byte. */
		FUZZ_CHECK(n - bol >= 2 && b[bol + 1] == '.', "unstuffed partial '.' line at %zu",
			   bol);
}

#endif
