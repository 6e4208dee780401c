/*
 * tlsrpt.c — RFC 8460 TLS-RPT counts of one interval, their texts and
 * their state file (tlsrpt.h).
 *
 * tlsrpt_result_name(), tlsrpt_result_parse(), tlsrpt_type_name(),
 * tlsrpt_type_parse(), tlsrpt_new(), tlsrpt_free(), tlsrpt_start(),
 * tlsrpt_policy(), tlsrpt_success(), tlsrpt_failure(), tlsrpt_ndomains(),
 * tlsrpt_domain(), tlsrpt_counts(), tlsrpt_dropped(), tlsrpt_write(),
 * tlsrpt_report_json(), tlsrpt_filename(), tlsrpt_save(), tlsrpt_load()
 *
 * Domains live in an array of pointers sorted by their key, and each
 * (domain, type)'s failure tuples in an array sorted by tuple, so
 * lookups are binary searches and every output comes out sorted without
 * sorting (tlsrpt_write() allocates nothing). Both arrays are bounded
 * (tlsrpt.h), so an insertion's memmove stays cheap. Character tests are
 * ASCII written out, not <ctype.h>, so the locale cannot change a key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relayd/tlsrpt.h"

#define DOMAIN_MAX 253	   /* a domain name without its final dot */
#define LINE_MAX_LEN 65536 /* bytes of a state file line, without its newline */
#define STATE_MAGIC "tlsrpt-state"
#define STATE_VERSION "1"
#define FIELDS_MAX 6 /* fields of a state file line: "failure" has the most */
#define QUOTE_MAX 40 /* bytes of input quoted in a reason */

/* One failure tuple and its count; NULL strings are not known. */
struct tuple {
	enum tlsrpt_result result;
	char *sending_ip;
	char *mx_host;
	char *receiving_ip;
	uint64_t count;
};

/* The policy and counts of one (domain, type). */
struct entry {
	bool policy; /* tlsrpt_policy() was called */
	char **strings;
	size_t nstrings;
	char **mx;
	size_t nmx;
	uint64_t successful;
	uint64_t failed;      /* >= the sum of the tuples' counts */
	struct tuple *tuples; /* sorted by tuple_cmp() */
	size_t ntuples;
	size_t tcap;
};

struct dom {
	char *name; /* the key: lower case, no final dot */
	struct entry *e[TLSRPT_NTYPES];
};

struct tlsrpt {
	time_t start;
	struct dom **doms; /* sorted by name */
	size_t ndoms;
	size_t cap;
	uint64_t dropped;
};

static const char *const result_names[TLSRPT_NRESULT] = {
	[TLSRPT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
	[TLSRPT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
	[TLSRPT_CERTIFICATE_EXPIRED] = "certificate-expired",
	[TLSRPT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
	[TLSRPT_VALIDATION_FAILURE] = "validation-failure",
	[TLSRPT_TLSA_INVALID] = "tlsa-invalid",
	[TLSRPT_DNSSEC_INVALID] = "dnssec-invalid",
	[TLSRPT_DANE_REQUIRED] = "dane-required",
	[TLSRPT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
	[TLSRPT_STS_POLICY_INVALID] = "sts-policy-invalid",
	[TLSRPT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

static const char *const type_names[TLSRPT_NTYPES] = {
	[TLSRPT_STS] = "sts",
	[TLSRPT_TLSA] = "tlsa",
};

/* R's RFC 8460 name. */
const char *
tlsrpt_result_name(enum tlsrpt_result r)
{
	if ((unsigned)r >= TLSRPT_NRESULT)
		return "unknown";
	return result_names[r];
}

/* The result NAME spells. */
int
tlsrpt_result_parse(const char *name, enum tlsrpt_result *r)
{
	for (size_t i = 0; i < TLSRPT_NRESULT; i++)
		if (strcmp(name, result_names[i]) == 0) {
			*r = (enum tlsrpt_result)i;
			return 0;
		}
	return -1;
}

/* T's RFC 8460 policy-type. */
const char *
tlsrpt_type_name(enum tlsrpt_type t)
{
	if ((unsigned)t >= TLSRPT_NTYPES)
		return "unknown";
	return type_names[t];
}

/* The type NAME spells. */
int
tlsrpt_type_parse(const char *name, enum tlsrpt_type *t)
{
	for (size_t i = 0; i < TLSRPT_NTYPES; i++)
		if (strcmp(name, type_names[i]) == 0) {
			*t = (enum tlsrpt_type)i;
			return 0;
		}
	return -1;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
ascii_casecmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;

	while (*p && lower(*p) == lower(*q)) {
		p++;
		q++;
	}
	return lower(*p) - lower(*q);
}

/* NULL sorts first. */
static int
nullcmp(const char *a, const char *b, bool icase)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return icase ? ascii_casecmp(a, b) : strcmp(a, b);
}

/* DOMAIN's key in KEY (DOMAIN_MAX + 1 bytes): ASCII lower case without
 * one final dot; -1 when empty or too long. */
static int
domain_key(const char *domain, char *key)
{
	size_t n;

	if (domain == NULL)
		return -1;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > DOMAIN_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)lower((unsigned char)domain[i]);
	key[n] = '\0';
	return 0;
}

/* An optional name: NULL for NULL or ""; -1 when too long. */
static int
opt_name(const char *s, const char **out)
{
	if (s == NULL || *s == '\0') {
		*out = NULL;
		return 0;
	}
	if (strlen(s) > TLSRPT_NAME_MAX)
		return -1;
	*out = s;
	return 0;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A copy of the N strings of V in *OUT (NULL when N is 0). */
static int
strv_copy(const char *const *v, size_t n, char ***out)
{
	char **c;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((c = calloc(n, sizeof(*c))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((c[i] = strdup(v[i])) == NULL) {
			strv_free(c, i);
			return -1;
		}
	*out = c;
	return 0;
}

static bool
strv_equal(char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static void
tuple_clear(struct tuple *u)
{
	free(u->sending_ip);
	free(u->mx_host);
	free(u->receiving_ip);
}

static void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	strv_free(e->strings, e->nstrings);
	strv_free(e->mx, e->nmx);
	for (size_t i = 0; i < e->ntuples; i++)
		tuple_clear(&e->tuples[i]);
	free(e->tuples);
	free(e);
}

static void
dom_free(struct dom *d)
{
	for (size_t i = 0; i < TLSRPT_NTYPES; i++)
		entry_free(d->e[i]);
	free(d->name);
	free(d);
}

/* Empty counts of an interval. */
struct tlsrpt *
tlsrpt_new(time_t start)
{
	struct tlsrpt *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->start = start;
	return t;
}

/* Frees T. */
void
tlsrpt_free(struct tlsrpt *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ndoms; i++)
		dom_free(t->doms[i]);
	free(t->doms);
	free(t);
}

/* The interval's start. */
time_t
tlsrpt_start(const struct tlsrpt *t)
{
	return t->start;
}

/* The domain of KEY, or NULL with where it would go in *POS. */
static struct dom *
dom_find(const struct tlsrpt *t, const char *key, size_t *pos)
{
	size_t lo = 0, hi = t->ndoms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, t->doms[mid]->name);

		if (c == 0) {
			*pos = mid;
			return t->doms[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return NULL;
}

/* A new domain KEY at POS (the caller checked the bound). */
static struct dom *
dom_insert(struct tlsrpt *t, const char *key, size_t pos)
{
	struct dom *d;

	if (t->ndoms == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct dom **v;

		if ((v = realloc(t->doms, cap * sizeof(*v))) == NULL)
			return NULL;
		t->doms = v;
		t->cap = cap;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if ((d->name = strdup(key)) == NULL) {
		free(d);
		return NULL;
	}
	memmove(&t->doms[pos + 1], &t->doms[pos], (t->ndoms - pos) * sizeof(*t->doms));
	t->doms[pos] = d;
	t->ndoms++;
	return d;
}

/* The entry of (DOMAIN, TYPE), made if need be; NULL with errno. */
static struct entry *
entry_get(struct tlsrpt *t, const char *domain, enum tlsrpt_type type)
{
	char key[DOMAIN_MAX + 1];
	struct entry *e;
	struct dom *d;
	size_t pos;

	if ((unsigned)type >= TLSRPT_NTYPES || domain_key(domain, key) == -1) {
		errno = EINVAL;
		return NULL;
	}
	d = dom_find(t, key, &pos);
	if (d != NULL && d->e[type] != NULL)
		return d->e[type];
	if (d == NULL && t->ndoms >= TLSRPT_DOMAINS_MAX) {
		errno = ENOSPC;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if (d == NULL && (d = dom_insert(t, key, pos)) == NULL) {
		free(e);
		return NULL;
	}
	d->e[type] = e;
	return e;
}

/* The entry of (DOMAIN, TYPE) if there is one. */
static const struct entry *
entry_find(const struct tlsrpt *t, const char *domain, enum tlsrpt_type type)
{
	char key[DOMAIN_MAX + 1];
	const struct dom *d;
	size_t pos;

	if ((unsigned)type >= TLSRPT_NTYPES || domain_key(domain, key) == -1)
		return NULL;
	if ((d = dom_find(t, key, &pos)) == NULL)
		return NULL;
	return d->e[type];
}

/* Replaces the policy of (DOMAIN, TYPE). */
int
tlsrpt_policy(struct tlsrpt *t, const char *domain, enum tlsrpt_type type,
	      const char *const *strings, size_t nstrings, const char *const *mx, size_t nmx)
{
	char **s, **m;
	struct entry *e;

	if (type == TLSRPT_TLSA)
		nmx = 0;
	if (nstrings > TLSRPT_STRINGS_MAX || nmx > TLSRPT_STRINGS_MAX ||
	    (nstrings > 0 && strings == NULL) || (nmx > 0 && mx == NULL)) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < nstrings; i++)
		if (strings[i] == NULL || strlen(strings[i]) > TLSRPT_STRING_MAX) {
			errno = EINVAL;
			return -1;
		}
	for (size_t i = 0; i < nmx; i++)
		if (mx[i] == NULL || *mx[i] == '\0' || strlen(mx[i]) > TLSRPT_NAME_MAX) {
			errno = EINVAL;
			return -1;
		}
	if ((e = entry_get(t, domain, type)) == NULL)
		return -1;
	if (e->policy && strv_equal(e->strings, e->nstrings, strings, nstrings) &&
	    strv_equal(e->mx, e->nmx, mx, nmx))
		return 0;
	if (strv_copy(strings, nstrings, &s) == -1)
		return -1;
	if (strv_copy(mx, nmx, &m) == -1) {
		strv_free(s, nstrings);
		return -1;
	}
	strv_free(e->strings, e->nstrings);
	strv_free(e->mx, e->nmx);
	e->strings = s;
	e->nstrings = nstrings;
	e->mx = m;
	e->nmx = nmx;
	e->policy = true;
	return 0;
}

/* Counts one successful session. */
int
tlsrpt_success(struct tlsrpt *t, const char *domain, enum tlsrpt_type type)
{
	struct entry *e;

	if ((e = entry_get(t, domain, type)) == NULL) {
		if (errno == ENOSPC)
			t->dropped++;
		return -1;
	}
	e->successful++;
	return 0;
}

static int
tuple_cmp(const struct tuple *u, enum tlsrpt_result r, const char *sip, const char *mx,
	  const char *rip)
{
	int c;

	if (u->result != r)
		return u->result < r ? -1 : 1;
	if ((c = nullcmp(u->mx_host, mx, true)) != 0)
		return c;
	if ((c = nullcmp(u->receiving_ip, rip, false)) != 0)
		return c;
	return nullcmp(u->sending_ip, sip, false);
}

/* The tuple of (R, SIP, MX, RIP) in E, or NULL with where it would go in
 * *POS. */
static struct tuple *
tuple_find(const struct entry *e, enum tlsrpt_result r, const char *sip, const char *mx,
	   const char *rip, size_t *pos)
{
	size_t lo = 0, hi = e->ntuples;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = tuple_cmp(&e->tuples[mid], r, sip, mx, rip);

		if (c == 0) {
			*pos = mid;
			return &e->tuples[mid];
		}
		if (c > 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return NULL;
}

static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	return s != NULL && (*out = strdup(s)) == NULL ? -1 : 0;
}

/* A new tuple at POS with COUNT (the caller checked the bound). */
static int
tuple_insert(struct entry *e, size_t pos, enum tlsrpt_result r, const char *sip, const char *mx,
	     const char *rip, uint64_t count)
{
	struct tuple u = {.result = r, .count = count};

	if (e->ntuples == e->tcap) {
		size_t cap = e->tcap ? e->tcap * 2 : 4;
		struct tuple *v;

		if (cap > TLSRPT_FAILURES_MAX)
			cap = TLSRPT_FAILURES_MAX;
		if ((v = realloc(e->tuples, cap * sizeof(*v))) == NULL)
			return -1;
		e->tuples = v;
		e->tcap = cap;
	}
	if (dup_opt(sip, &u.sending_ip) == -1 || dup_opt(mx, &u.mx_host) == -1 ||
	    dup_opt(rip, &u.receiving_ip) == -1) {
		tuple_clear(&u);
		return -1;
	}
	memmove(&e->tuples[pos + 1], &e->tuples[pos], (e->ntuples - pos) * sizeof(*e->tuples));
	e->tuples[pos] = u;
	e->ntuples++;
	return 0;
}

/* Counts one failed session. */
int
tlsrpt_failure(struct tlsrpt *t, const char *domain, enum tlsrpt_type type, enum tlsrpt_result r,
	       const char *sending_ip, const char *mx_host, const char *receiving_ip)
{
	const char *sip, *mx, *rip;
	struct entry *e;
	struct tuple *u;
	size_t pos;

	if ((unsigned)r >= TLSRPT_NRESULT || opt_name(sending_ip, &sip) == -1 ||
	    opt_name(mx_host, &mx) == -1 || opt_name(receiving_ip, &rip) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((e = entry_get(t, domain, type)) == NULL) {
		if (errno == ENOSPC)
			t->dropped++;
		return -1;
	}
	if ((u = tuple_find(e, r, sip, mx, rip, &pos)) != NULL)
		u->count++;
	else if (e->ntuples < TLSRPT_FAILURES_MAX && tuple_insert(e, pos, r, sip, mx, rip, 1) == -1)
		return -1;
	e->failed++;
	return 0;
}

/* Domains known. */
size_t
tlsrpt_ndomains(const struct tlsrpt *t)
{
	return t->ndoms;
}

/* The I-th domain. */
const char *
tlsrpt_domain(const struct tlsrpt *t, size_t i)
{
	return i < t->ndoms ? t->doms[i]->name : NULL;
}

/* The counts of (DOMAIN, TYPE). */
int
tlsrpt_counts(const struct tlsrpt *t, const char *domain, enum tlsrpt_type type,
	      uint64_t *successful, uint64_t *failed, size_t *ntuples)
{
	const struct entry *e;

	if ((e = entry_find(t, domain, type)) == NULL)
		return -1;
	if (successful)
		*successful = e->successful;
	if (failed)
		*failed = e->failed;
	if (ntuples)
		*ntuples = e->ntuples;
	return 0;
}

/* Sessions dropped at the domain bound. */
uint64_t
tlsrpt_dropped(const struct tlsrpt *t)
{
	return t->dropped;
}

/*
 * Output: to a callback in pieces, or into a growing buffer.
 */

struct sink {
	void (*out)(void *arg, const char *s, size_t len);
	void *arg;
	char *buf; /* without OUT: NUL-terminated */
	size_t len;
	size_t cap;
	bool failed; /* out of memory: BUF is incomplete */
};

static void
put(struct sink *k, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (k->out != NULL) {
		k->out(k->arg, s, n);
		return;
	}
	if (k->failed)
		return;
	if (k->len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 512;
		char *b;

		while (k->len + n + 1 > cap)
			cap *= 2;
		if ((b = realloc(k->buf, cap)) == NULL) {
			k->failed = true;
			return;
		}
		k->buf = b;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, s, n);
	k->len += n;
	k->buf[k->len] = '\0';
}

static void
puts_(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

static void
putu(struct sink *k, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	put(k, b, (size_t)n);
}

/* S for a terminal: control characters and DEL as '?', so a name cannot
 * forge lines. */
static void
put_text(struct sink *k, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7F)
			continue;
		put(k, run, (size_t)(s - run));
		put(k, "?", 1);
		run = s + 1;
	}
	put(k, run, (size_t)(s - run));
}

/* Length of the well-formed UTF-8 sequence of 2..4 bytes at P, or 0
 * (Unicode table 3-7: no overlongs, surrogates, or code points above
 * U+10FFFF). */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* S as a JSON string literal, null for NULL (as relayd/json.h). */
static void
put_json(struct sink *k, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	char esc[8];

	if (s == NULL) {
		puts_(k, "null");
		return;
	}
	put(k, "\"", 1);
	run = p;
	while (*p) {
		const char *e;
		size_t n;

		if (*p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
			p += n;
			continue;
		}
		switch (*p) {
		case '"':
			e = "\\\"";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\b':
			e = "\\b";
			break;
		case '\f':
			e = "\\f";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			e = esc;
			break;
		}
		put(k, (const char *)run, (size_t)(p - run));
		puts_(k, e);
		run = ++p;
	}
	put(k, (const char *)run, (size_t)(p - run));
	put(k, "\"", 1);
}

/* "KEY": */
static void
put_key(struct sink *k, const char *key)
{
	put(k, "\"", 1);
	puts_(k, key);
	put(k, "\":", 2);
}

static bool
has_sessions(const struct entry *e)
{
	return e != NULL && (e->successful > 0 || e->failed > 0);
}

static void
write_text(const struct dom *d, enum tlsrpt_type type, const struct entry *e, struct sink *k)
{
	put_text(k, d->name);
	puts_(k, " (");
	puts_(k, type_names[type]);
	puts_(k, "): ");
	putu(k, e->successful);
	puts_(k, " successful, ");
	putu(k, e->failed);
	puts_(k, " failed\n");
	for (size_t i = 0; i < e->ntuples; i++) {
		const struct tuple *u = &e->tuples[i];

		puts_(k, "  ");
		puts_(k, result_names[u->result]);
		put(k, " ", 1);
		put_text(k, u->mx_host ? u->mx_host : "-");
		if (u->receiving_ip) {
			put(k, "[", 1);
			put_text(k, u->receiving_ip);
			put(k, "]", 1);
		}
		puts_(k, ": ");
		putu(k, u->count);
		put(k, "\n", 1);
	}
}

static void
write_json(const struct dom *d, enum tlsrpt_type type, const struct entry *e, struct sink *k)
{
	put(k, "{", 1);
	put_key(k, "domain");
	put_json(k, d->name);
	put(k, ",", 1);
	put_key(k, "policy_type");
	put_json(k, type_names[type]);
	put(k, ",", 1);
	put_key(k, "successful");
	putu(k, e->successful);
	put(k, ",", 1);
	put_key(k, "failed");
	putu(k, e->failed);
	put(k, ",", 1);
	put_key(k, "failures");
	put(k, "[", 1);
	for (size_t i = 0; i < e->ntuples; i++) {
		const struct tuple *u = &e->tuples[i];

		puts_(k, i ? ",{" : "{");
		put_key(k, "result_type");
		put_json(k, result_names[u->result]);
		put(k, ",", 1);
		put_key(k, "receiving_mx_hostname");
		put_json(k, u->mx_host);
		put(k, ",", 1);
		put_key(k, "receiving_ip");
		put_json(k, u->receiving_ip);
		put(k, ",", 1);
		put_key(k, "sending_mta_ip");
		put_json(k, u->sending_ip);
		put(k, ",", 1);
		put_key(k, "count");
		putu(k, u->count);
		put(k, "}", 1);
	}
	puts_(k, "]}");
}

/* relayctl tls-report. */
void
tlsrpt_write(const struct tlsrpt *t, bool json, void (*out)(void *arg, const char *s, size_t len),
	     void *arg)
{
	struct sink k = {.out = out, .arg = arg};
	bool first = true;

	if (json)
		put(&k, "[", 1);
	for (size_t i = 0; i < t->ndoms; i++)
		for (int type = 0; type < TLSRPT_NTYPES; type++) {
			const struct entry *e = t->doms[i]->e[type];

			if (!has_sessions(e))
				continue;
			if (json) {
				if (!first)
					put(&k, ",", 1);
				write_json(t->doms[i], (enum tlsrpt_type)type, e, &k);
			} else
				write_text(t->doms[i], (enum tlsrpt_type)type, e, &k);
			first = false;
		}
	if (json)
		put(&k, "]\n", 2);
}

/* WHEN in RFC 3339 UTC into BUF (at least 21 bytes). */
static int
rfc3339(time_t when, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	return strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ? -1 : 0;
}

/* The "policies" element of one (domain, type). */
static void
report_policy(const struct dom *d, enum tlsrpt_type type, const struct entry *e, struct sink *k)
{
	puts_(k, "{\"policy\":{");
	put_key(k, "policy-type");
	put_json(k, type_names[type]);
	put(k, ",", 1);
	put_key(k, "policy-string");
	put(k, "[", 1);
	for (size_t i = 0; i < e->nstrings; i++) {
		if (i)
			put(k, ",", 1);
		put_json(k, e->strings[i]);
	}
	put(k, "],", 2);
	put_key(k, "policy-domain");
	put_json(k, d->name);
	if (type == TLSRPT_STS && e->nmx > 0) {
		put(k, ",", 1);
		put_key(k, "mx-host");
		put(k, "[", 1);
		for (size_t i = 0; i < e->nmx; i++) {
			if (i)
				put(k, ",", 1);
			put_json(k, e->mx[i]);
		}
		put(k, "]", 1);
	}
	puts_(k, "},\"summary\":{");
	put_key(k, "total-successful-session-count");
	putu(k, e->successful);
	put(k, ",", 1);
	put_key(k, "total-failure-session-count");
	putu(k, e->failed);
	puts_(k, "},\"failure-details\":[");
	for (size_t i = 0; i < e->ntuples; i++) {
		const struct tuple *u = &e->tuples[i];

		puts_(k, i ? ",{" : "{");
		put_key(k, "result-type");
		put_json(k, result_names[u->result]);
		if (u->sending_ip) {
			put(k, ",", 1);
			put_key(k, "sending-mta-ip");
			put_json(k, u->sending_ip);
		}
		if (u->mx_host) {
			put(k, ",", 1);
			put_key(k, "receiving-mx-hostname");
			put_json(k, u->mx_host);
		}
		if (u->receiving_ip) {
			put(k, ",", 1);
			put_key(k, "receiving-ip");
			put_json(k, u->receiving_ip);
		}
		put(k, ",", 1);
		put_key(k, "failed-session-count");
		putu(k, u->count);
		put(k, "}", 1);
	}
	puts_(k, "]}");
}

/* The RFC 8460 report of DOMAIN. */
int
tlsrpt_report_json(const struct tlsrpt *t, const char *domain, const char *organization,
		   const char *contact, const char *report_id, time_t end, char **out, size_t *len)
{
	char key[DOMAIN_MAX + 1], begin_s[32], end_s[32];
	struct sink k = {0};
	const struct dom *d;
	bool first = true;
	size_t pos;

	*out = NULL;
	*len = 0;
	if (organization == NULL || report_id == NULL || rfc3339(t->start, begin_s, 32) == -1 ||
	    rfc3339(end, end_s, sizeof(end_s)) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (domain_key(domain, key) == -1 || (d = dom_find(t, key, &pos)) == NULL ||
	    (!has_sessions(d->e[TLSRPT_STS]) && !has_sessions(d->e[TLSRPT_TLSA]))) {
		errno = ENOENT;
		return -1;
	}
	puts_(&k, "{");
	put_key(&k, "organization-name");
	put_json(&k, organization);
	puts_(&k, ",\"date-range\":{");
	put_key(&k, "start-datetime");
	put_json(&k, begin_s);
	put(&k, ",", 1);
	put_key(&k, "end-datetime");
	put_json(&k, end_s);
	put(&k, "}", 1);
	if (contact != NULL) {
		put(&k, ",", 1);
		put_key(&k, "contact-info");
		put_json(&k, contact);
	}
	put(&k, ",", 1);
	put_key(&k, "report-id");
	put_json(&k, report_id);
	puts_(&k, ",\"policies\":[");
	for (int type = 0; type < TLSRPT_NTYPES; type++) {
		if (!has_sessions(d->e[type]))
			continue;
		if (!first)
			put(&k, ",", 1);
		report_policy(d, (enum tlsrpt_type)type, d->e[type], &k);
		first = false;
	}
	puts_(&k, "]}");
	if (k.failed) {
		free(k.buf);
		errno = ENOMEM;
		return -1;
	}
	*out = k.buf;
	*len = k.len;
	return 0;
}

/* A name that can be part of a report's file name. */
static bool
filename_part(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (*s == '!' || *s == '/' || (unsigned char)*s < 0x20 || *s == 0x7F)
			return false;
	return true;
}

/* The report's file name. */
int
tlsrpt_filename(const char *submitter, const char *domain, time_t begin, time_t end, char *buf,
		size_t len)
{
	int n;

	if (!filename_part(submitter) || !filename_part(domain) || begin < 0 || end < 0) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, len, "%s!%s!%lld!%lld.json.gz", submitter, domain, (long long)begin,
		     (long long)end);
	if (n < 0 || (size_t)n >= len) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

/*
 * The state file.
 */

/* A byte written as it is in the state file. */
static bool
plain(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '%';
}

/* S percent-encoded, "-" for NULL. */
static void
save_string(FILE *f, const char *s)
{
	if (s == NULL) {
		fputc('-', f);
		return;
	}
	if (strcmp(s, "-") == 0) {
		fputs("%2D", f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (plain(*p))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
}

/* Writes T to F. */
int
tlsrpt_save(const struct tlsrpt *t, FILE *f)
{
	fprintf(f, "%s %s\nstart %lld\ndropped %" PRIu64 "\n", STATE_MAGIC, STATE_VERSION,
		(long long)t->start, t->dropped);
	for (size_t i = 0; i < t->ndoms; i++)
		for (int type = 0; type < TLSRPT_NTYPES; type++) {
			const struct entry *e = t->doms[i]->e[type];

			if (e == NULL)
				continue;
			fputs("domain ", f);
			save_string(f, t->doms[i]->name);
			fprintf(f, " %s %" PRIu64 " %" PRIu64 "\n", type_names[type], e->successful,
				e->failed);
			if (e->policy)
				fputs("policy\n", f);
			for (size_t j = 0; j < e->nstrings; j++) {
				fputs("string ", f);
				save_string(f, e->strings[j]);
				fputc('\n', f);
			}
			for (size_t j = 0; j < e->nmx; j++) {
				fputs("mx ", f);
				save_string(f, e->mx[j]);
				fputc('\n', f);
			}
			for (size_t j = 0; j < e->ntuples; j++) {
				const struct tuple *u = &e->tuples[j];

				fprintf(f, "failure %s ", result_names[u->result]);
				save_string(f, u->sending_ip);
				fputc(' ', f);
				save_string(f, u->mx_host);
				fputc(' ', f);
				save_string(f, u->receiving_ip);
				fprintf(f, " %" PRIu64 "\n", u->count);
			}
		}
	fputs("end\n", f);
	return ferror(f) ? -1 : 0;
}

/* What one load has read so far. */
struct load {
	struct tlsrpt *t;
	struct entry *cur; /* the entry of the last domain line */
	enum tlsrpt_type curtype;
	uint64_t itemized; /* the sum of CUR's tuples' counts */
	char why[160];	   /* the reason, without the line number */
};

static int
fail(struct load *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* S safe to quote in a reason: at most QUOTE_MAX bytes, anything but
 * printable ASCII as '?'. */
static const char *
quote(const char *s, char *buf)
{
	size_t i;

	for (i = 0; i < QUOTE_MAX && s[i]; i++)
		buf[i] = s[i] > 0x20 && s[i] < 0x7F ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes the field S in place: *OUT is S, or NULL for "-" when ABSENT
 * may be. */
static int
load_string(struct load *l, char *s, bool absent, const char *what, char **out)
{
	char q[QUOTE_MAX + 1];
	char *w = s;

	if (strcmp(s, "-") == 0) {
		if (!absent)
			return fail(l, "%s missing", what);
		*out = NULL;
		return 0;
	}
	for (const char *p = s; *p; p++) {
		int hi, lo;

		if (plain((unsigned char)*p)) {
			*w++ = *p;
			continue;
		}
		if (*p != '%' || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0 ||
		    (hi == 0 && lo == 0))
			return fail(l, "bad %s \"%s\"", what, quote(s, q));
		*w++ = (char)(hi << 4 | lo);
		p += 2;
	}
	*w = '\0';
	*out = s;
	return 0;
}

/* A count: 1 to 20 decimal digits that fit. */
static int
load_count(struct load *l, const char *s, uint64_t *v)
{
	char q[QUOTE_MAX + 1];
	uint64_t n = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return fail(l, "count out of range \"%s\"", quote(s, q));
		n = n * 10 + d;
	}
	if (i == 0 || s[i] != '\0')
		return fail(l, "bad count \"%s\"", quote(s, q));
	*v = n;
	return 0;
}

/* The start line's time: an optional '-' and digits that fit a time_t. */
static int
load_time(struct load *l, const char *s, time_t *when)
{
	char q[QUOTE_MAX + 1];
	bool neg = *s == '-';
	uint64_t v;
	int64_t w;

	if (load_count(l, s + neg, &v) == -1 || v > INT64_MAX)
		return fail(l, "bad start \"%s\"", quote(s, q));
	w = neg ? -(int64_t)v : (int64_t)v;
	if ((int64_t)(time_t)w != w)
		return fail(l, "bad start \"%s\"", quote(s, q));
	*when = (time_t)w;
	return 0;
}

/* Splits LINE at single spaces into F (FIELDS_MAX); how many fields, or
 * FIELDS_MAX + 1 for too many. */
static size_t
split(char *line, char **f)
{
	size_t n = 0;

	for (;;) {
		char *sp;

		if (n == FIELDS_MAX)
			return FIELDS_MAX + 1;
		f[n++] = line;
		if ((sp = strchr(line, ' ')) == NULL)
			return n;
		*sp = '\0';
		line = sp + 1;
	}
}

/* "domain DOMAIN TYPE SUCCESSFUL FAILED" */
static int
load_domain(struct load *l, char **f)
{
	char key[DOMAIN_MAX + 1], q[QUOTE_MAX + 1];
	enum tlsrpt_type type;
	uint64_t ok, failed;
	const struct dom *d;
	char *name;
	size_t pos;

	if (load_string(l, f[1], false, "domain", &name) == -1)
		return -1;
	if (domain_key(name, key) == -1)
		return fail(l, "bad domain \"%s\"", quote(name, q));
	if (tlsrpt_type_parse(f[2], &type) == -1)
		return fail(l, "bad policy type \"%s\"", quote(f[2], q));
	if (load_count(l, f[3], &ok) == -1 || load_count(l, f[4], &failed) == -1)
		return -1;
	if ((d = dom_find(l->t, key, &pos)) != NULL && d->e[type] != NULL)
		return fail(l, "duplicate domain \"%s\" (%s)", quote(key, q), type_names[type]);
	if ((l->cur = entry_get(l->t, key, type)) == NULL)
		return fail(l, "%s", errno == ENOSPC ? "too many domains" : "out of memory");
	l->curtype = type;
	l->cur->successful = ok;
	l->cur->failed = failed;
	l->itemized = 0;
	return 0;
}

/* "string STRING" or "mx PATTERN": one more of CUR's policy. */
static int
load_policy_item(struct load *l, bool mx, char *field)
{
	char ***v = mx ? &l->cur->mx : &l->cur->strings;
	size_t *n = mx ? &l->cur->nmx : &l->cur->nstrings;
	char **nv, *s;

	if (!l->cur->policy)
		return fail(l, "%s before the policy line", mx ? "mx" : "string");
	if (mx && l->curtype != TLSRPT_STS)
		return fail(l, "mx in a %s policy", type_names[l->curtype]);
	if (*n == TLSRPT_STRINGS_MAX)
		return fail(l, "too many %s", mx ? "mx patterns" : "policy strings");
	if (load_string(l, field, false, mx ? "mx pattern" : "policy string", &s) == -1)
		return -1;
	if (mx && (*s == '\0' || strlen(s) > TLSRPT_NAME_MAX))
		return fail(l, "bad mx pattern");
	if (strlen(s) > TLSRPT_STRING_MAX)
		return fail(l, "policy string too long");
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return fail(l, "out of memory");
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return fail(l, "out of memory");
	(*n)++;
	return 0;
}

/* "failure RESULT SENDING-IP MX-HOST RECEIVING-IP COUNT" */
static int
load_failure(struct load *l, char **f)
{
	char *sip, *mx, *rip, q[QUOTE_MAX + 1];
	enum tlsrpt_result r;
	uint64_t count;
	size_t pos;

	if (tlsrpt_result_parse(f[1], &r) == -1)
		return fail(l, "bad result type \"%s\"", quote(f[1], q));
	if (load_string(l, f[2], true, "sending IP", &sip) == -1 ||
	    load_string(l, f[3], true, "MX host", &mx) == -1 ||
	    load_string(l, f[4], true, "receiving IP", &rip) == -1 ||
	    load_count(l, f[5], &count) == -1)
		return -1;
	if ((sip && (*sip == '\0' || strlen(sip) > TLSRPT_NAME_MAX)) ||
	    (mx && (*mx == '\0' || strlen(mx) > TLSRPT_NAME_MAX)) ||
	    (rip && (*rip == '\0' || strlen(rip) > TLSRPT_NAME_MAX)))
		return fail(l, "bad failure name");
	if (count == 0)
		return fail(l, "failure count 0");
	if (count > l->cur->failed - l->itemized)
		return fail(l, "failure counts exceed the failed count");
	if (tuple_find(l->cur, r, sip, mx, rip, &pos) != NULL)
		return fail(l, "duplicate failure");
	if (l->cur->ntuples == TLSRPT_FAILURES_MAX)
		return fail(l, "too many failures");
	if (tuple_insert(l->cur, pos, r, sip, mx, rip, count) == -1)
		return fail(l, "out of memory");
	l->itemized += count;
	return 0;
}

/* One line after the header: 1 at the end line. */
static int
load_line(struct load *l, char *line)
{
	char *f[FIELDS_MAX], q[QUOTE_MAX + 1];
	size_t n = split(line, f);
	static const struct {
		const char *key;
		size_t nfields;
		bool entry; /* needs a domain line before */
	} kinds[] = {
		{"domain", 5, false}, {"policy", 1, true},  {"string", 2, true},
		{"mx", 2, true},      {"failure", 6, true}, {"end", 1, false},
	};
	size_t k;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(f[0], kinds[k].key) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return fail(l, "unknown line \"%s\"", quote(f[0], q));
	if (n != kinds[k].nfields)
		return fail(l, "%s: wrong number of fields", kinds[k].key);
	if (kinds[k].entry && l->cur == NULL)
		return fail(l, "%s before any domain line", kinds[k].key);
	switch (k) {
	case 0:
		return load_domain(l, f);
	case 1:
		if (l->cur->policy)
			return fail(l, "duplicate policy line");
		l->cur->policy = true;
		return 0;
	case 2:
		return load_policy_item(l, false, f[1]);
	case 3:
		return load_policy_item(l, true, f[1]);
	case 4:
		return load_failure(l, f);
	default:
		return 1;
	}
}

/* One line of F into BUF (LINE_MAX_LEN + 1 bytes) without its newline:
 * 0, 1 at the end of the file, or -1 with the reason. */
static int
read_line(struct load *l, FILE *f, char *buf)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF) {
		if (c == '\n') {
			buf[n] = '\0';
			return 0;
		}
		if (c == '\0')
			return fail(l, "NUL byte");
		if (n == LINE_MAX_LEN)
			return fail(l, "line too long");
		buf[n++] = (char)c;
	}
	if (ferror(f))
		return fail(l, "read error: %s", strerror(errno));
	if (n > 0)
		return fail(l, "no newline at the end");
	return 1;
}

/* Counts from F. */
struct tlsrpt *
tlsrpt_load(FILE *f, char *err, size_t errlen)
{
	struct load l = {0};
	size_t lineno = 0;
	bool end = false;
	char *buf;
	int rc;

	if ((buf = malloc(LINE_MAX_LEN + 1)) == NULL || (l.t = tlsrpt_new(0)) == NULL) {
		fail(&l, "out of memory");
		goto bad;
	}
	for (;;) {
		char *fld[FIELDS_MAX], q[QUOTE_MAX + 1];
		uint64_t v;

		lineno++;
		if ((rc = read_line(&l, f, buf)) == 1)
			break;
		if (rc == 0 && end)
			rc = fail(&l, "data after the end line");
		else if (rc == 0 && lineno == 1) {
			if (split(buf, fld) != 2 || strcmp(fld[0], STATE_MAGIC) != 0)
				rc = fail(&l, "not a TLS-RPT state file");
			else if (strcmp(fld[1], STATE_VERSION) != 0)
				rc = fail(&l, "unknown version \"%s\"", quote(fld[1], q));
		} else if (rc == 0 && lineno == 2) {
			if (split(buf, fld) != 2 || strcmp(fld[0], "start") != 0)
				rc = fail(&l, "no start line");
			else
				rc = load_time(&l, fld[1], &l.t->start);
		} else if (rc == 0 && lineno == 3) {
			if (split(buf, fld) != 2 || strcmp(fld[0], "dropped") != 0)
				rc = fail(&l, "no dropped line");
			else if ((rc = load_count(&l, fld[1], &v)) == 0)
				l.t->dropped = v;
		} else if (rc == 0 && (rc = load_line(&l, buf)) == 1) {
			end = true;
			rc = 0;
		}
		if (rc == -1) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "line %zu: %s", lineno, l.why);
			free(buf);
			tlsrpt_free(l.t);
			return NULL;
		}
	}
	if (lineno == 1)
		fail(&l, "empty file");
	else if (!end)
		fail(&l, "no end line (truncated?)");
	else {
		free(buf);
		return l.t;
	}
bad:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", l.why);
	free(buf);
	tlsrpt_free(l.t);
	return NULL;
}
