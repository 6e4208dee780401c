/*
 * shape.c — the queue's shape by recipient domain and age (shape.h).
 *
 * shape_new(), shape_add(), shape_render(), shape_free()
 *
 * Invariants: one row per domain (stored lower case), found by hash; the
 * TOTAL row is the sum of the others, column by column; a recipient falls
 * in exactly one age column, the first whose limit its age does not pass.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "relayd/log.h"
#include "relayd/shape.h"

/* Age limits of the columns, in minutes; the last column has none. */
static const unsigned shape_limit[SHAPE_BUCKETS - 1] = {5, 10, 20, 40, 80, 160, 320, 640, 1280};
static const char *const shape_head[1 + SHAPE_BUCKETS] = {
	"T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+",
};

struct row {
	char *domain;
	unsigned long n[1 + SHAPE_BUCKETS]; /* T, then the age columns */
	unsigned hash;
	struct row *hnext;
};

struct shape {
	time_t now;
	struct row **tab;
	size_t size, count; /* buckets (a power of two), rows */
	struct row total;
};

/* FNV-1a of S without case. */
static unsigned
row_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 16777619u;
	return h;
}

/* An empty table; ages are counted at NOW. */
struct shape *
shape_new(time_t now)
{
	struct shape *s = calloc(1, sizeof(*s));
	if (!s)
		fatal("out of memory");
	static char total[] = "TOTAL";
	s->now = now;
	s->total.domain = total;
	return s;
}

static void
shape_grow(struct shape *s)
{
	size_t n = s->size ? s->size * 2 : 64;
	struct row **t = calloc(n, sizeof(*t));
	if (!t)
		fatal("out of memory");
	for (size_t i = 0; i < s->size; i++) {
		struct row *r, *next;
		for (r = s->tab[i]; r; r = next) {
			next = r->hnext;
			r->hnext = t[r->hash & (n - 1)];
			t[r->hash & (n - 1)] = r;
		}
	}
	free(s->tab);
	s->tab = t;
	s->size = n;
}

/* The column of a recipient whose message arrived at ARRIVAL. */
static size_t
shape_column(const struct shape *s, time_t arrival)
{
	long long age = (long long)(s->now - arrival);
	size_t i;
	for (i = 0; i < SHAPE_BUCKETS - 1; i++)
		if (age <= (long long)shape_limit[i] * 60)
			break;
	return 1 + i;
}

/* Count a recipient in DOMAIN of a message that arrived at ARRIVAL. */
void
shape_add(struct shape *s, const char *domain, time_t arrival)
{
	if (!*domain)
		domain = "(none)";
	unsigned h = row_hash(domain);
	struct row *r = NULL;
	if (s->size)
		for (r = s->tab[h & (s->size - 1)]; r; r = r->hnext)
			if (r->hash == h && strcasecmp(r->domain, domain) == 0)
				break;
	if (!r) {
		if (s->count >= s->size)
			shape_grow(s);
		if (!(r = calloc(1, sizeof(*r))) || !(r->domain = strdup(domain)))
			fatal("out of memory");
		for (char *p = r->domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		r->hash = h;
		r->hnext = s->tab[h & (s->size - 1)];
		s->tab[h & (s->size - 1)] = r;
		s->count++;
	}
	size_t col = shape_column(s, arrival);
	r->n[0]++;
	r->n[col]++;
	s->total.n[0]++;
	s->total.n[col]++;
}

/* Most recipients first, then by name. */
static int
row_order(const void *x, const void *y)
{
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	if (a->n[0] != b->n[0])
		return a->n[0] > b->n[0] ? -1 : 1;
	return strcmp(a->domain, b->domain);
}

/* Text for people: a control byte (never in a domain relayd accepted, but
 * never trusted either) becomes '?'. */
static void
put_domain(struct evbuffer *out, const char *d, int width)
{
	int n = (int)strlen(d);
	for (int i = n; i < width; i++)
		evbuffer_add(out, " ", 1);
	for (; *d; d++) {
		char c = (unsigned char)*d < 0x20 || *d == 0x7F ? '?' : *d;
		evbuffer_add(out, &c, 1);
	}
}

/* The table: header, TOTAL, then each domain. */
void
shape_render(const struct shape *s, struct evbuffer *out)
{
	struct row **rows = calloc(s->count + 1, sizeof(*rows));
	size_t n = 0;
	int w[1 + SHAPE_BUCKETS], wd = (int)strlen(s->total.domain);
	char num[32];

	if (!rows)
		fatal("out of memory");
	for (size_t i = 0; i < s->size; i++)
		for (struct row *r = s->tab[i]; r; r = r->hnext)
			rows[n++] = r;
	qsort(rows, n, sizeof(*rows), row_order);
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(rows[i]->domain) > wd)
			wd = (int)strlen(rows[i]->domain);
	/* Each column as wide as its header or its largest number: TOTAL's. */
	for (size_t k = 0; k <= SHAPE_BUCKETS; k++) {
		w[k] = snprintf(num, sizeof(num), "%lu", s->total.n[k]);
		if ((int)strlen(shape_head[k]) > w[k])
			w[k] = (int)strlen(shape_head[k]);
	}
	put_domain(out, "", wd);
	for (size_t k = 0; k <= SHAPE_BUCKETS; k++)
		evbuffer_add_printf(out, " %*s", w[k], shape_head[k]);
	evbuffer_add(out, "\n", 1);
	for (size_t i = 0; i <= n; i++) {
		const struct row *r = i == 0 ? &s->total : rows[i - 1];
		put_domain(out, r->domain, wd);
		for (size_t k = 0; k <= SHAPE_BUCKETS; k++)
			evbuffer_add_printf(out, " %*lu", w[k], r->n[k]);
		evbuffer_add(out, "\n", 1);
	}
	free(rows);
}

/* Release S. */
void
shape_free(struct shape *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->size; i++) {
		struct row *r, *next;
		for (r = s->tab[i]; r; r = next) {
			next = r->hnext;
			free(r->domain);
			free(r);
		}
	}
	free(s->tab);
	free(s);
}
