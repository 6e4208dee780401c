/*
 * qindex.c — the queue's messages by id: one sorted array (qindex.h).
 */
#include "relayd/qindex.h"

#include <stdlib.h>
#include <string.h>

void
qindex_init(struct qindex *x)
{
	memset(x, 0, sizeof(*x));
}

void
qindex_free(struct qindex *x)
{
	free(x->v);
	qindex_init(x);
}

/* The first slot whose key is >= KEY (N if none). */
static size_t
lower_bound(const struct qindex *x, uint64_t key)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Drop the holes. */
static void
compact(struct qindex *x)
{
	size_t k = 0;
	for (size_t i = 0; i < x->n; i++)
		if (x->v[i].val)
			x->v[k++] = x->v[i];
	x->n = k;
	x->first = 0;
	/* Give memory back when a big queue has drained. */
	if (x->cap > 1024 && x->n < x->cap / 4) {
		size_t cap = x->cap / 2;
		struct qindex_slot *v = realloc(x->v, cap * sizeof(*v));
		if (v) {
			x->v = v;
			x->cap = cap;
		}
	}
}

int
qindex_add(struct qindex *x, uint64_t key, void *val)
{
	if (x->n == x->cap) {
		if (x->live < x->n / 2 + 1 && x->n >= 64) {
			compact(x);
		} else {
			size_t cap = x->cap ? x->cap * 2 : 1024;
			struct qindex_slot *v = realloc(x->v, cap * sizeof(*v));
			if (!v)
				return -1;
			x->v = v;
			x->cap = cap;
		}
	}
	size_t at = x->n;
	if (x->n > 0 && x->v[x->n - 1].key >= key) {
		at = lower_bound(x, key);
		if (at < x->n && x->v[at].key == key && !x->v[at].val) {
			x->v[at].val = val; /* fills its own hole */
			x->live++;
			if (at < x->first)
				x->first = at;
			return 0;
		}
		memmove(&x->v[at + 1], &x->v[at], (x->n - at) * sizeof(*x->v));
	}
	x->v[at].key = key;
	x->v[at].val = val;
	x->n++;
	x->live++;
	if (at < x->first)
		x->first = at;
	return 0;
}

void
qindex_del(struct qindex *x, uint64_t key)
{
	size_t at = lower_bound(x, key);
	if (at == x->n || x->v[at].key != key || !x->v[at].val)
		return;
	x->v[at].val = NULL;
	x->live--;
	if (x->live == 0) {
		x->n = 0;
		x->first = 0;
		if (x->cap > 1024) {
			free(x->v);
			qindex_init(x);
		}
	} else if (x->live < x->n / 2 && x->n >= 64) {
		compact(x);
	}
}

void *
qindex_find(const struct qindex *x, uint64_t key)
{
	size_t at = lower_bound(x, key);
	return at < x->n && x->v[at].key == key ? x->v[at].val : NULL;
}

void *
qindex_first(struct qindex *x)
{
	while (x->first < x->n && !x->v[x->first].val)
		x->first++;
	return x->first < x->n ? x->v[x->first].val : NULL;
}

void *
qindex_after(const struct qindex *x, uint64_t key)
{
	if (key == UINT64_MAX)
		return NULL;
	for (size_t at = lower_bound(x, key + 1); at < x->n; at++)
		if (x->v[at].val)
			return x->v[at].val;
	return NULL;
}

size_t
qindex_count(const struct qindex *x)
{
	return x->live;
}

size_t
qindex_bytes(const struct qindex *x)
{
	return x->cap * sizeof(*x->v);
}
