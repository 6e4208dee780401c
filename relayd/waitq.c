/*
 * waitq.c — which queued messages wait for which destination (waitq.h).
 */
#include "relayd/waitq.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/log.h"

struct wlist {
	struct wlist *next; /* hash chain */
	uint32_t hash;
	size_t len; /* of KEY, both NULs included */
	uint64_t *ids;
	size_t n, cap;
	char key[]; /* "TRANSPORT\0domain" (domain in lower case) */
};

static struct wlist **tab;
static size_t tab_size, tab_count, total_ids;

/* KEY (for a compare) of TRANSPORT and DOMAIN into BUF; its length. */
static size_t
make_key(char *buf, size_t size, const char *transport, const char *domain, uint32_t *hash)
{
	size_t t = strlen(transport), d = domain ? strlen(domain) : 0;
	if (t + d + 2 > size)
		return 0;
	memcpy(buf, transport, t + 1);
	for (size_t i = 0; i < d; i++)
		buf[t + 1 + i] = (char)tolower((unsigned char)domain[i]);
	buf[t + 1 + d] = '\0';
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < t + 1 + d; i++)
		h = (h ^ (unsigned char)buf[i]) * 16777619u;
	*hash = h;
	return t + d + 2;
}

static struct wlist **
find(const char *key, size_t len, uint32_t h)
{
	struct wlist **pp = &tab[h & (tab_size - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

static void
grow(void)
{
	size_t n = tab_size ? tab_size * 2 : 64;
	struct wlist **t = calloc(n, sizeof(*t));
	if (!t)
		fatal("out of memory");
	for (size_t i = 0; i < tab_size; i++)
		for (struct wlist *w = tab[i], *next; w; w = next) {
			next = w->next;
			w->next = t[w->hash & (n - 1)];
			t[w->hash & (n - 1)] = w;
		}
	free(tab);
	tab = t;
	tab_size = n;
}

void
waitq_add(const char *transport, const char *domain, uint64_t id,
	  bool (*alive)(uint64_t id, void *arg), void *arg)
{
	char key[512];
	uint32_t h;
	size_t len = make_key(key, sizeof(key), transport, domain, &h);
	if (!len)
		return; /* never: names and domains are shorter; the walk-free
			   release then misses it and it waits its retry time */
	if (tab_count >= tab_size)
		grow();
	struct wlist **pp = find(key, len, h), *w = *pp;
	if (!w) {
		if (!(w = calloc(1, sizeof(*w) + len)))
			fatal("out of memory");
		w->hash = h;
		w->len = len;
		memcpy(w->key, key, len);
		w->next = tab[h & (tab_size - 1)];
		tab[h & (tab_size - 1)] = w;
		tab_count++;
	}
	if (w->n > 0 && w->ids[w->n - 1] == id)
		return; /* another recipient of the same message */
	if (w->n == w->cap) {
		/* Full: first drop what no longer waits, then grow if still
		 * more than half full. */
		size_t k = 0;
		for (size_t i = 0; i < w->n; i++)
			if (alive(w->ids[i], arg) && (k == 0 || w->ids[k - 1] != w->ids[i]))
				w->ids[k++] = w->ids[i];
		total_ids -= w->n - k;
		w->n = k;
		if (w->n >= w->cap / 2) {
			size_t cap = w->cap ? w->cap * 2 : 16;
			uint64_t *ids = realloc(w->ids, cap * sizeof(*ids));
			if (!ids)
				fatal("out of memory");
			w->ids = ids;
			w->cap = cap;
		}
	}
	w->ids[w->n++] = id;
	total_ids++;
}

uint64_t *
waitq_take(const char *transport, const char *domain, size_t *n)
{
	char key[512];
	uint32_t h;
	size_t len = make_key(key, sizeof(key), transport, domain, &h);
	*n = 0;
	if (!len || !tab_size)
		return NULL;
	struct wlist **pp = find(key, len, h), *w = *pp;
	if (!w)
		return NULL;
	*pp = w->next;
	tab_count--;
	total_ids -= w->n;
	uint64_t *ids = w->ids;
	*n = w->n;
	free(w);
	if (!*n) {
		free(ids);
		return NULL;
	}
	return ids;
}

size_t
waitq_count(const char *transport, const char *domain)
{
	char key[512];
	uint32_t h;
	size_t len = make_key(key, sizeof(key), transport, domain, &h);
	if (!len || !tab_size)
		return 0;
	struct wlist *w = *find(key, len, h);
	return w ? w->n : 0;
}

size_t
waitq_lists(void)
{
	return tab_count;
}

size_t
waitq_ids(void)
{
	return total_ids;
}

void
waitq_free(void)
{
	for (size_t i = 0; i < tab_size; i++)
		for (struct wlist *w = tab[i], *next; w; w = next) {
			next = w->next;
			free(w->ids);
			free(w);
		}
	free(tab);
	tab = NULL;
	tab_size = tab_count = total_ids = 0;
}
