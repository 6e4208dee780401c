/*
 * mtasts.c — RFC 8461 MTA-STS records, policies and MX matching
 * (mtasts.h).
 *
 * mtasts_txt_parse(), mtasts_txt_select(), mtasts_policy_parse(),
 * mtasts_policy_free(), mtasts_mx_match(), mtasts_policy_allows(),
 * mtasts_strmode()
 *
 * Both parsers walk the bytes once with explicit bounds and never read
 * past LEN, so a body fetched over HTTPS needs no NUL. Character classes
 * are ASCII tests written out, not <ctype.h>, so the locale cannot change
 * what a record means. A policy is built in *P as it is read; any error
 * frees it whole, so the caller sees a complete policy or a zeroed one.
 * Reasons quote at most QUOTE_MAX bytes of the input, anything but
 * printable ASCII shown as '?', so they are safe to log.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/mtasts.h"

#define STS_VERSION "v=STSv1"
#define STS_VERSION_LEN (sizeof(STS_VERSION) - 1)
#define FIELD_NAME_MAX 32 /* (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
#define MAX_AGE_DIGITS 10 /* 1*10DIGIT */
#define NAME_MAX_LEN 253  /* a domain name without its final dot */
#define LABEL_MAX 63
#define QUOTE_MAX 40

/* What one policy parse has seen so far. */
struct parse {
	struct mtasts_policy *p;
	bool version, mode, max_age; /* seen: a repeat is ignored */
	size_t mxcap;
	size_t line; /* 1-based; 0 once the lines are done */
	char *err;
	size_t errlen;
};

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
to_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* sts-ext-value: %x21-3A / %x3C / %x3E-7E (no '=', ';', space or control). */
static bool
is_ext_value(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

/* The length of the field name (sts-ext-name, sts-policy-ext-name) that
 * begins the N bytes at S: 0 when there is none; FIELD_NAME_MAX at most,
 * so a longer one is followed by a name character, not its delimiter. */
static size_t
field_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum(s[0]))
		return 0;
	for (i = 1; i < n && i < FIELD_NAME_MAX; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			break;
	return i;
}

/* Do the N bytes at S begin an STS record: "v=STSv1", then ';', WSP or
 * the end? */
static bool
txt_is_sts(const char *s, size_t n)
{
	return n >= STS_VERSION_LEN && memcmp(s, STS_VERSION, STS_VERSION_LEN) == 0 &&
	       (n == STS_VERSION_LEN || s[STS_VERSION_LEN] == ';' || is_wsp(s[STS_VERSION_LEN]));
}

/* Parsed per 3.1's grammar: the first id counts, later ones are
 * extension fields; trailing WSP is accepted. */
int
mtasts_txt_parse(const char *txt, size_t len, char *id, size_t idlen)
{
	const char *p, *e, *idv = NULL;
	size_t idn = 0;

	if (idlen > 0)
		id[0] = '\0';
	if (txt == NULL || !txt_is_sts(txt, len))
		return -1;
	p = txt + STS_VERSION_LEN;
	e = txt + len;
	for (;;) {
		while (p < e && is_wsp(*p))
			p++;
		if (p == e)
			break;
		if (*p++ != ';')
			return -1;
		while (p < e && is_wsp(*p))
			p++;
		if (p == e)
			break; /* a final delimiter */

		size_t nl = field_name(p, e - p);
		if (nl == 0 || nl == (size_t)(e - p) || p[nl] != '=')
			return -1;
		const char *v = p + nl + 1;
		size_t vl = 0;
		while (v + vl < e && is_ext_value(v[vl]))
			vl++;
		if (vl == 0)
			return -1;
		if (nl == 2 && memcmp(p, "id", 2) == 0 && idv == NULL) {
			if (vl > MTASTS_ID_MAX)
				return -1;
			for (size_t i = 0; i < vl; i++)
				if (!is_alnum(v[i]))
					return -1;
			idv = v;
			idn = vl;
		}
		p = v + vl;
	}
	if (idv == NULL || idn >= idlen)
		return -1;
	memcpy(id, idv, idn);
	id[idn] = '\0';
	return 0;
}

/* Only records beginning with "v=STSv1" count (3.1); one of them or none. */
int
mtasts_txt_select(const char *const *txt, const size_t *lens, size_t n, char *id, size_t idlen)
{
	size_t count = 0, found = 0;

	if (idlen > 0)
		id[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (txt[i] != NULL && txt_is_sts(txt[i], lens[i])) {
			count++;
			found = i;
		}
	}
	if (count != 1)
		return 0;
	return mtasts_txt_parse(txt[found], lens[found], id, idlen) == 0 ? 1 : -1;
}

/* The N bytes at S quoted for a reason, into BUF (QUOTE_MAX + 6 bytes). */
static const char *
quote(const char *s, size_t n, char *buf)
{
	size_t i, k = 0;

	buf[k++] = '"';
	for (i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = s[i];
		buf[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i < n) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k++] = '"';
	buf[k] = '\0';
	return buf;
}

/* The reason of an error into the caller's buffer, after the line it is
 * on; always -1. */
static int __attribute__((format(printf, 2, 3))) fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (ps->errlen == 0)
		return -1;
	if (ps->line > 0)
		n = snprintf(ps->err, ps->errlen, "line %zu: ", ps->line);
	if (n < 0 || (size_t)n >= ps->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Is the N bytes at S the C string WORD? */
static bool
equals(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Are the N bytes at S a domain name of LDH labels (RFC 5321 Domain),
 * without a final dot? */
static bool
ldh_name(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			i++;
		}
		size_t l = i - start;
		if (l == 0 || l > LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
			return false;
		if (i < n && ++i == n)
			return false; /* "example.com." is handled by the caller */
	}
	return true;
}

/* An mx value: ["*."] Domain, an optional final dot; added lower case
 * and without the dot. */
static int
add_mx(struct parse *ps, const char *v, size_t n)
{
	struct mtasts_policy *p = ps->p;
	char q[QUOTE_MAX + 6];
	size_t skip = n >= 2 && v[0] == '*' && v[1] == '.' ? 2 : 0;
	size_t len = n > 0 && v[n - 1] == '.' ? n - 1 : n;

	if (len <= skip || !ldh_name(v + skip, len - skip))
		return fail(ps, "bad mx %s", quote(v, n, q));
	if (p->nmx == MTASTS_MX_MAX)
		return fail(ps, "more than %d mx", MTASTS_MX_MAX);
	if (p->nmx == ps->mxcap) {
		size_t cap = ps->mxcap ? ps->mxcap * 2 : 4;
		char **mx = realloc(p->mx, cap * sizeof(*mx));
		if (mx == NULL)
			return fail(ps, "out of memory");
		p->mx = mx;
		ps->mxcap = cap;
	}
	char *s = malloc(len + 1);
	if (s == NULL)
		return fail(ps, "out of memory");
	for (size_t i = 0; i < len; i++)
		s[i] = (char)to_lower(v[i]);
	s[len] = '\0';
	p->mx[p->nmx++] = s;
	return 0;
}

/* A max_age value: 1*10DIGIT, clamped to MTASTS_MAX_AGE. */
static int
set_max_age(struct parse *ps, const char *v, size_t n)
{
	char q[QUOTE_MAX + 6];
	uint64_t a = 0;

	if (n == 0 || n > MAX_AGE_DIGITS)
		return fail(ps, "bad max_age %s", quote(v, n, q));
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return fail(ps, "bad max_age %s", quote(v, n, q));
		a = a * 10 + (uint64_t)(v[i] - '0');
	}
	ps->p->max_age = a > MTASTS_MAX_AGE ? MTASTS_MAX_AGE : (unsigned long)a;
	return 0;
}

/* One "KEY: VALUE" line (both without their surrounding WSP). */
static int
field(struct parse *ps, const char *k, size_t kn, const char *v, size_t vn)
{
	char q[QUOTE_MAX + 6];

	if (equals(k, kn, "mx"))
		return add_mx(ps, v, vn);
	if (equals(k, kn, "version") && !ps->version) {
		ps->version = true;
		if (!equals(v, vn, "STSv1"))
			return fail(ps, "bad version %s", quote(v, vn, q));
	} else if (equals(k, kn, "mode") && !ps->mode) {
		ps->mode = true;
		if (equals(v, vn, "enforce"))
			ps->p->mode = MTASTS_ENFORCE;
		else if (equals(v, vn, "testing"))
			ps->p->mode = MTASTS_TESTING;
		else if (equals(v, vn, "none"))
			ps->p->mode = MTASTS_NONE;
		else
			return fail(ps, "bad mode %s", quote(v, vn, q));
	} else if (equals(k, kn, "max_age") && !ps->max_age) {
		ps->max_age = true;
		return set_max_age(ps, v, vn);
	}
	return 0; /* unknown, or a repeat: ignored */
}

/* Every line of BODY in turn, then the required fields. */
static int
parse_lines(struct parse *ps, const char *body, size_t len)
{
	const char *s = body, *e = body + len;
	bool any = false;

	while (s < e) {
		const char *lf = memchr(s, '\n', e - s);
		const char *le = lf != NULL ? lf : e, *next = lf != NULL ? lf + 1 : e;

		ps->line++;
		if (lf != NULL && le > s && le[-1] == '\r')
			le--;
		if (le - s > MTASTS_LINE_MAX)
			return fail(ps, "longer than %d bytes", MTASTS_LINE_MAX);
		for (const char *c = s; c < le; c++) {
			unsigned char u = *c;
			if (u == '\0')
				return fail(ps, "NUL byte");
			if ((u < 0x20 && u != '\t') || u == 0x7f)
				return fail(ps, "control character 0x%02x", u);
		}
		while (le > s && is_wsp(le[-1]))
			le--;
		if (le == s) {
			s = next;
			continue; /* a blank line */
		}
		any = true;

		size_t kn = field_name(s, le - s);
		if (kn == 0 || s + kn == le || s[kn] != ':') {
			char q[QUOTE_MAX + 6];
			return fail(ps, "not \"key: value\": %s", quote(s, le - s, q));
		}
		const char *v = s + kn + 1;
		while (v < le && is_wsp(*v))
			v++;
		if (field(ps, s, kn, v, le - v) == -1)
			return -1;
		s = next;
	}

	ps->line = 0;
	if (!any)
		return fail(ps, "empty policy");
	if (!ps->version)
		return fail(ps, "no version");
	if (!ps->mode)
		return fail(ps, "no mode");
	if (!ps->max_age)
		return fail(ps, "no max_age");
	if (ps->p->mode != MTASTS_NONE && ps->p->nmx == 0)
		return fail(ps, "no mx (mode %s)", mtasts_strmode(ps->p->mode));
	return 0;
}

/* A policy per 3.2's grammar, with the choices of mtasts.h. */
int
mtasts_policy_parse(const char *body, size_t len, struct mtasts_policy *p, char *err, size_t errlen)
{
	struct parse ps = {.p = p, .err = err, .errlen = errlen};

	memset(p, 0, sizeof(*p));
	if (errlen > 0)
		err[0] = '\0';
	if (body == NULL && len > 0)
		return fail(&ps, "no body");
	if (body == NULL)
		body = ""; /* no arithmetic on NULL */
	if (parse_lines(&ps, body, len) == -1) {
		mtasts_policy_free(p);
		return -1;
	}
	return 0;
}

/* Frees the patterns, then zeroes P. */
void
mtasts_policy_free(struct mtasts_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

/* Do the N bytes at A and B match, ASCII case-insensitively? */
static bool
same_name(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (to_lower(a[i]) != to_lower(b[i]))
			return false;
	return true;
}

/* 4.1: as RFC 6125, a '*' only as the whole leftmost label. */
bool
mtasts_mx_match(const char *pattern, const char *host)
{
	size_t pn, hn;

	if (pattern == NULL || host == NULL)
		return false;
	pn = strlen(pattern);
	hn = strlen(host);
	if (pn > 0 && pattern[pn - 1] == '.')
		pn--;
	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	if (pn == 0 || hn == 0 || memchr(host, '*', hn) != NULL)
		return false;
	/* No empty label in HOST: none first, last or between two dots. */
	if (host[0] == '.' || host[hn - 1] == '.')
		return false;
	for (size_t i = 1; i < hn; i++)
		if (host[i] == '.' && host[i - 1] == '.')
			return false;

	if (pattern[0] == '*') {
		const char *dot = memchr(host, '.', hn);
		if (pn < 3 || pattern[1] != '.' || dot == NULL)
			return false;
		pattern += 2;
		pn -= 2;
		hn -= (size_t)(dot + 1 - host);
		host = dot + 1;
	}
	if (memchr(pattern, '*', pn) != NULL)
		return false;
	return pn == hn && same_name(pattern, host, pn);
}

/* Any pattern will do. */
bool
mtasts_policy_allows(const struct mtasts_policy *p, const char *host)
{
	if (p == NULL)
		return false;
	for (size_t i = 0; i < p->nmx; i++)
		if (mtasts_mx_match(p->mx[i], host))
			return true;
	return false;
}

/* The mode as a policy writes it. */
const char *
mtasts_strmode(enum mtasts_mode m)
{
	switch (m) {
	case MTASTS_ENFORCE:
		return "enforce";
	case MTASTS_TESTING:
		return "testing";
	case MTASTS_NONE:
		break;
	}
	return "none";
}
