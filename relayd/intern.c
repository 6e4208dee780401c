/*
 * intern.c — shared, reference-counted copies of strings (intern.h).
 */
#include "relayd/intern.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/log.h"

struct istr {
	struct istr *next; /* hash chain */
	uint32_t hash;
	uint32_t refs;
	char s[];
};

static struct istr **tab;
static size_t tab_size, tab_count, tab_bytes;

static uint32_t
str_hash(const char *s, size_t *len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	const char *p = s;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	*len = (size_t)(p - s);
	return h;
}

static struct istr *
istr_of(const char *s)
{
	return (struct istr *)(void *)((char *)(uintptr_t)s - offsetof(struct istr, s));
}

static void
grow(void)
{
	size_t n = tab_size ? tab_size * 2 : 256;
	struct istr **t = calloc(n, sizeof(*t));
	if (!t)
		fatal("out of memory");
	for (size_t i = 0; i < tab_size; i++)
		for (struct istr *e = tab[i], *next; e; e = next) {
			next = e->next;
			e->next = t[e->hash & (n - 1)];
			t[e->hash & (n - 1)] = e;
		}
	free(tab);
	tab = t;
	tab_size = n;
}

const char *
intern(const char *s)
{
	if (!s)
		return NULL;
	size_t len;
	uint32_t h = str_hash(s, &len);
	if (tab_size)
		for (struct istr *e = tab[h & (tab_size - 1)]; e; e = e->next)
			if (e->hash == h && strcmp(e->s, s) == 0) {
				if (e->refs == UINT32_MAX)
					break; /* never wraps: a second copy instead */
				e->refs++;
				return e->s;
			}
	if (tab_count >= tab_size)
		grow();
	struct istr *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		fatal("out of memory");
	e->hash = h;
	e->refs = 1;
	memcpy(e->s, s, len + 1);
	e->next = tab[h & (tab_size - 1)];
	tab[h & (tab_size - 1)] = e;
	tab_count++;
	tab_bytes += sizeof(*e) + len + 1;
	return e->s;
}

const char *
intern_ref(const char *s)
{
	if (!s)
		return NULL;
	struct istr *e = istr_of(s);
	if (e->refs == UINT32_MAX)
		return intern(s);
	e->refs++;
	return s;
}

void
intern_drop(const char *s)
{
	if (!s)
		return;
	struct istr *e = istr_of(s);
	if (--e->refs > 0)
		return;
	struct istr **pp = &tab[e->hash & (tab_size - 1)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	tab_count--;
	tab_bytes -= sizeof(*e) + strlen(e->s) + 1;
	free(e);
}

size_t
intern_count(void)
{
	return tab_count;
}

size_t
intern_bytes(void)
{
	return tab_bytes + tab_size * sizeof(*tab);
}

void
intern_free_all(void)
{
	for (size_t i = 0; i < tab_size; i++)
		for (struct istr *e = tab[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(tab);
	tab = NULL;
	tab_size = tab_count = tab_bytes = 0;
}
