/*
 * fuzz_mtasts.c — the MTA-STS parsers and matcher (relayd/mtasts.c).
 *
 * Input: one header byte (the size of the error buffer, 0 included, and
 * of a small id buffer), then bytes used four ways: as one policy body
 * and as one TXT record, each right before an unreadable page
 * (fuzz_guard()); split at each LF into up to 8 TXT records for
 * mtasts_txt_select() (each in a heap block of exactly its size); split
 * at the first LF into an mx pattern and a host for mtasts_mx_match().
 *
 * Invariants checked:
 * - a policy: 0 or -1; on 0 the mode is one of the three, max_age is at
 *   most MTASTS_MAX_AGE, 0 < nmx <= MTASTS_MX_MAX unless mode none, each
 *   mx is a non-empty lower-case name of [a-z0-9.-] (1..253 bytes, no
 *   final dot, no empty label) after an optional "*.", that matches
 *   itself, with a final dot and in upper case ("*.rest" one label more
 *   and neither "rest" nor two labels more), and the error buffer is "";
 *   on -1 the policy is zeroed and the reason is a non-empty line of
 *   printable ASCII within the buffer. A body with a NUL byte or without
 *   "version:", "mode:" or "max_age:" is never a policy.
 * - a TXT record: 0 or -1; on 0 it begins with "v=STSv1", the id is
 *   1..32 letters and digits and the record holds the field "id=<id>"
 *   (after ';' and optional WSP, before ';', WSP or the end); on -1 the
 *   id is "". A smaller id buffer gives the same id when it fits and -1
 *   when not, and is never written past.
 * - mtasts_txt_select(): 0 unless exactly one record begins with
 *   "v=STSv1" (then ';', WSP or its end); then 1 or -1 as
 *   mtasts_txt_parse() says of that record, with the same id.
 * - mtasts_mx_match(): no match for an empty host or one containing '*'
 *   or an empty label; the same answer whatever the case of either side
 *   and with or without one final dot; an exact match (no "*." pattern)
 *   only between names equal but for case and that dot.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relayd/mtasts.h"
#include "tests/fuzz/fuzz.h"

#define MAXREC 8

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A malloc'd copy of the N bytes at S with a NUL after them. */
static char *
copy(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	if (n != 0)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* S upper-cased (UP) or lower-cased, ASCII only, in place. */
static char *
recase(char *s, bool up)
{
	for (char *c = s; *c != '\0'; c++) {
		if (up && *c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
		else if (!up && *c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	}
	return s;
}

/* S with one final dot added (when it has none) or removed. */
static char *
redot(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 2);

	if (d == NULL)
		abort();
	memcpy(d, s, n + 1);
	if (n > 0 && d[n - 1] == '.')
		d[n - 1] = '\0';
	else {
		d[n] = '.';
		d[n + 1] = '\0';
	}
	return d;
}

static bool
has(const char *b, size_t n, const char *word)
{
	return memmem(b, n, word, strlen(word)) != NULL;
}

static void
check_mx(const struct mtasts_policy *p, const char *mx)
{
	size_t n = strlen(mx);
	const char *name = mx;

	FUZZ_CHECK(n > 0, "empty mx");
	if (n >= 2 && mx[0] == '*' && mx[1] == '.')
		name += 2;
	size_t nn = strlen(name);
	FUZZ_CHECK(nn >= 1 && nn <= 253, "mx \"%s\": name of %zu bytes", mx, nn);
	FUZZ_CHECK(name[0] != '.' && name[nn - 1] != '.' && strstr(name, "..") == NULL,
		   "mx \"%s\": empty label", mx);
	for (const char *c = name; *c != '\0'; c++)
		FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
				   *c == '.',
			   "mx \"%s\": byte 0x%02x", mx, (unsigned char)*c);

	char *up = recase(copy(mx, n), true), *dot = redot(mx);
	if (name == mx) {
		FUZZ_CHECK(mtasts_mx_match(mx, mx), "mx \"%s\" does not match itself", mx);
		FUZZ_CHECK(mtasts_mx_match(mx, up), "mx \"%s\" does not match \"%s\"", mx, up);
		FUZZ_CHECK(mtasts_mx_match(up, dot), "\"%s\" does not match \"%s\"", up, dot);
		FUZZ_CHECK(mtasts_policy_allows(p, up), "policy does not allow \"%s\"", up);
	} else {
		char *one = malloc(nn + 3), *two = malloc(nn + 5);
		if (one == NULL || two == NULL)
			abort();
		snprintf(one, nn + 3, "a.%s", name);
		snprintf(two, nn + 5, "b.a.%s", name);
		FUZZ_CHECK(mtasts_mx_match(mx, one), "\"%s\" does not match \"%s\"", mx, one);
		FUZZ_CHECK(mtasts_mx_match(dot, recase(one, true)), "\"%s\" does not match \"%s\"",
			   dot, one);
		FUZZ_CHECK(!mtasts_mx_match(mx, name), "\"%s\" matches \"%s\"", mx, name);
		FUZZ_CHECK(!mtasts_mx_match(mx, two), "\"%s\" matches \"%s\"", mx, two);
		FUZZ_CHECK(mtasts_policy_allows(p, one), "policy does not allow \"%s\"", one);
		free(one);
		free(two);
	}
	free(up);
	free(dot);
}

static void
check_policy(const char *b, size_t n, size_t errlen)
{
	struct mtasts_policy p;
	char err[256];

	memset(err, 'X', sizeof(err));
	int rv = mtasts_policy_parse(b, n, &p, errlen ? err : NULL, errlen);
	FUZZ_CHECK(rv == 0 || rv == -1, "mtasts_policy_parse() returned %d", rv);
	if (errlen > 0)
		FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "error not NUL-terminated");
	if (errlen < sizeof(err))
		FUZZ_CHECK(err[errlen] == 'X', "error buffer overrun");
	if (rv == -1) {
		FUZZ_CHECK(p.mode == MTASTS_NONE && p.max_age == 0 && p.mx == NULL && p.nmx == 0,
			   "policy not zeroed on failure");
		if (errlen > 1)
			FUZZ_CHECK(err[0] != '\0', "no reason");
		for (size_t i = 0; errlen > 0 && err[i] != '\0'; i++)
			FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f, "reason byte 0x%02x",
				   (unsigned char)err[i]);
		return;
	}
	FUZZ_CHECK(errlen == 0 || err[0] == '\0', "reason \"%s\" on success", err);
	FUZZ_CHECK(memchr(b, '\0', n) == NULL, "a policy with a NUL byte");
	FUZZ_CHECK(has(b, n, "version:") && has(b, n, "mode:") && has(b, n, "max_age:"),
		   "a policy without a required field");
	FUZZ_CHECK(p.mode == MTASTS_NONE || p.mode == MTASTS_TESTING || p.mode == MTASTS_ENFORCE,
		   "mode %d", (int)p.mode);
	FUZZ_CHECK(p.max_age <= MTASTS_MAX_AGE, "max_age %lu", p.max_age);
	FUZZ_CHECK(p.nmx > 0 || p.mode == MTASTS_NONE, "no mx in mode %s", mtasts_strmode(p.mode));
	FUZZ_CHECK(p.nmx <= MTASTS_MX_MAX, "%zu mx", p.nmx);
	FUZZ_CHECK(p.nmx == 0 || p.mx != NULL, "%zu mx and no array", p.nmx);
	FUZZ_CHECK(p.nmx == 0 || has(b, n, "mx:"), "mx without an mx field");
	for (size_t i = 0; i < p.nmx; i++)
		check_mx(&p, p.mx[i]);
	FUZZ_CHECK(!mtasts_policy_allows(&p, ""), "allows \"\"");
	mtasts_policy_free(&p);
	FUZZ_CHECK(p.mx == NULL && p.nmx == 0, "not zeroed by mtasts_policy_free()");
}

/* Does the record begin with "v=STSv1" then ';', WSP or its end? */
static bool
sts_start(const char *t, size_t n)
{
	return n >= 7 && memcmp(t, "v=STSv1", 7) == 0 &&
	       (n == 7 || t[7] == ';' || t[7] == ' ' || t[7] == '\t');
}

/* Does T hold the field "id=ID": after ';' and any WSP, before ';', WSP
 * or the end? */
static bool
id_field(const char *t, size_t n, const char *id)
{
	char want[MTASTS_ID_MAX + 4];
	size_t k = (size_t)snprintf(want, sizeof(want), "id=%s", id);

	for (const char *at = t; (at = memmem(at, n - (at - t), want, k)) != NULL; at++) {
		const char *b = at, *end = at + k;
		while (b > t && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > t && b[-1] == ';' &&
		    (end == t + n || *end == ';' || *end == ' ' || *end == '\t'))
			return true;
	}
	return false;
}

static void
check_txt(const char *t, size_t n, size_t small)
{
	char id[MTASTS_ID_MAX + 2], id2[MTASTS_ID_MAX + 2];

	memset(id, 'X', sizeof(id));
	int rv = mtasts_txt_parse(t, n, id, MTASTS_ID_MAX + 1);
	FUZZ_CHECK(rv == 0 || rv == -1, "mtasts_txt_parse() returned %d", rv);
	FUZZ_CHECK(id[MTASTS_ID_MAX + 1] == 'X', "id buffer overrun");
	if (rv == -1) {
		FUZZ_CHECK(id[0] == '\0', "id \"%.32s\" on failure", id);
	} else {
		size_t k = strlen(id);
		FUZZ_CHECK(k >= 1 && k <= MTASTS_ID_MAX, "id of %zu bytes", k);
		for (size_t i = 0; i < k; i++)
			FUZZ_CHECK(is_alnum(id[i]), "id byte 0x%02x", (unsigned char)id[i]);
		FUZZ_CHECK(sts_start(t, n), "a record not beginning with v=STSv1");
		FUZZ_CHECK(id_field(t, n, id), "no field id=%s in the record", id);
	}

	memset(id2, 'X', sizeof(id2));
	int rv2 = mtasts_txt_parse(t, n, id2, small);
	FUZZ_CHECK(id2[small] == 'X', "id buffer of %zu bytes overrun", small);
	if (rv == 0 && strlen(id) < small)
		FUZZ_CHECK(rv2 == 0 && strcmp(id, id2) == 0, "id \"%s\" with %zu bytes: %d \"%s\"",
			   id, small, rv2, rv2 == 0 ? id2 : "");
	else
		FUZZ_CHECK(rv2 == -1, "%zu bytes for id \"%s\": %d", small, id, rv2);
}

static void
check_select(const char *b, size_t n)
{
	char *rec[MAXREC];
	size_t lens[MAXREC], nrec = 0, nsts = 0, which = 0;
	const char *p = b, *e = b + n;

	while (p < e && nrec < MAXREC) {
		const char *lf = memchr(p, '\n', e - p);
		size_t k = (lf ? lf : e) - p;
		/* exactly its size: ASan sees a read past it */
		rec[nrec] = malloc(k ? k : 1);
		if (rec[nrec] == NULL)
			abort();
		if (k != 0)
			memcpy(rec[nrec], p, k);
		lens[nrec] = k;
		if (sts_start(p, k)) {
			nsts++;
			which = nrec;
		}
		nrec++;
		p = lf ? lf + 1 : e;
	}

	char id[MTASTS_ID_MAX + 1] = "X", id1[MTASTS_ID_MAX + 1];
	int rv = mtasts_txt_select((const char *const *)rec, lens, nrec, id, sizeof(id));
	if (nsts != 1) {
		FUZZ_CHECK(rv == 0, "%zu STS records of %zu: %d", nsts, nrec, rv);
		FUZZ_CHECK(id[0] == '\0', "id \"%s\" without a record", id);
	} else {
		int one = mtasts_txt_parse(rec[which], lens[which], id1, sizeof(id1));
		FUZZ_CHECK(rv == (one == 0 ? 1 : -1), "select %d, parse %d", rv, one);
		FUZZ_CHECK(strcmp(id, id1) == 0, "select id \"%s\", parse id \"%s\"", id, id1);
	}
	for (size_t i = 0; i < nrec; i++)
		free(rec[i]);
}

/* Does S end with two dots? */
static bool
two_dots(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && s[n - 1] == '.' && s[n - 2] == '.';
}

/* The name without one final dot, lower case. */
static char *
canon(const char *s)
{
	char *d = recase(copy(s, strlen(s)), false);
	size_t n = strlen(d);

	if (n > 0 && d[n - 1] == '.')
		d[n - 1] = '\0';
	return d;
}

static void
check_match(const char *b, size_t n)
{
	const char *lf = memchr(b, '\n', n);
	if (lf == NULL)
		return;
	char *pat = copy(b, lf - b), *host = copy(lf + 1, n - (lf - b) - 1);

	bool m = mtasts_mx_match(pat, host);
	char *hc = canon(host), *pc = canon(pat);
	if (m) {
		FUZZ_CHECK(hc[0] != '\0' && strchr(hc, '*') == NULL && hc[0] != '.' &&
				   hc[strlen(hc) - 1] != '.' && strstr(hc, "..") == NULL,
			   "\"%s\" matches host \"%s\"", pat, host);
		if (strncmp(pc, "*.", 2) != 0)
			FUZZ_CHECK(strcmp(pc, hc) == 0, "\"%s\" matches \"%s\"", pat, host);
	}
	char *pu = recase(copy(pat, strlen(pat)), true),
	     *hl = recase(copy(host, strlen(host)), false);
	FUZZ_CHECK(mtasts_mx_match(pu, hl) == m, "case changes \"%s\" vs \"%s\"", pat, host);
	char *pd = redot(pat), *hd = redot(host);
	/* One final dot is ignored: adding one where there is none, or
	 * removing the only one, gives the same answer. */
	if (!two_dots(pat))
		FUZZ_CHECK(mtasts_mx_match(pd, host) == m, "a final dot changes \"%s\"", pat);
	if (!two_dots(host))
		FUZZ_CHECK(mtasts_mx_match(pat, hd) == m, "a final dot changes \"%s\"", host);
	free(pat);
	free(host);
	free(hc);
	free(pc);
	free(pu);
	free(hl);
	free(pd);
	free(hd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t h = fuzz_byte(&in);
	const char *b = (const char *)in.p;
	size_t n = in.len;
	/* errlen: 0, tiny, or enough; small id buffer: 0..MTASTS_ID_MAX + 1 */
	size_t errlen = (h & 3) == 0 ? 0 : (h & 3) == 1 ? (h >> 2) % 16 : 256;
	size_t small = (h >> 2) % (MTASTS_ID_MAX + 2);

	check_policy(fuzz_guard(b, n), n, errlen);
	check_txt(fuzz_guard(b, n), n, small);
	check_select(b, n);
	check_match(b, n);
	return 0;
}
