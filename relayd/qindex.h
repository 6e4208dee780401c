/*
 * qindex.h — the queue's messages by id: one sorted array.
 *
 * qindex_init(), qindex_free()  an empty index / give its memory back
 * qindex_add()      put (KEY, VAL) in; KEY not in it yet
 * qindex_del()      take KEY out
 * qindex_find()     VAL of KEY, or NULL
 * qindex_first()    VAL of the smallest key, or NULL
 * qindex_after()    VAL of the smallest key above KEY, or NULL
 * qindex_count()    keys in it
 * qindex_bytes()    the memory it holds
 *
 * Queue ids are 64-bit numbers (microseconds and a counter) given in
 * increasing order, so an add is an append but after a clock set back or
 * while recovering. A delete leaves a hole (its key stays, its value is
 * NULL) that a compaction removes once holes are half the array: every
 * operation is O(log n) or amortised O(1), and a message costs 16 bytes
 * (a hash and a doubly-linked list cost 32). Iteration by key survives
 * deletes and adds between steps. Pure: unit-tested in test_qindex.c.
 */
#ifndef RELAYD_QINDEX_H
#define RELAYD_QINDEX_H

#include <stddef.h>
#include <stdint.h>

struct qindex_slot {
	uint64_t key;
	void *val; /* NULL: a hole */
};

struct qindex {
	struct qindex_slot *v;
	size_t n, cap; /* slots used (holes included), allocated */
	size_t live;   /* keys with a value */
	size_t first;  /* no value below this slot */
};

void qindex_init(struct qindex *x);
void qindex_free(struct qindex *x);
/* 0, or -1 when out of memory. */
int qindex_add(struct qindex *x, uint64_t key, void *val);
void qindex_del(struct qindex *x, uint64_t key);
void *qindex_find(const struct qindex *x, uint64_t key);
void *qindex_first(struct qindex *x);
void *qindex_after(const struct qindex *x, uint64_t key);
size_t qindex_count(const struct qindex *x);
size_t qindex_bytes(const struct qindex *x);

#endif
