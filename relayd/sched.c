/*
 * sched.c — a binary min-heap of timed entries and the retry policy.
 *
 * sched_init(), sched_free(), sched_set(), sched_cancel(), sched_peek(),
 * sched_pop_due(), sched_retry_at(), sched_expired(), sched_warn_due(),
 * retryq_init(), retryq_free(), retryq_set(), retryq_cancel(),
 * retryq_next(), retryq_flush(), retryq_count()
 *
 * Invariant: heap[i]->idx == i for every queued entry; entries compare by
 * (when, seq) so equal times come out first in, first out.
 */
#include <stdlib.h>
#include <string.h>

#include "relayd/sched.h"

static bool
before(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return (int32_t)(a->seq - b->seq) < 0; /* right across a wrap */
}

static void
place(struct sched *s, size_t i, struct sched_entry *e)
{
	s->heap[i] = e;
	e->idx = (uint32_t)i;
}

static void
sift_up(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(e, s->heap[p]))
			break;
		place(s, i, s->heap[p]);
		i = p;
	}
	place(s, i, e);
}

static void
sift_down(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->n)
			break;
		if (c + 1 < s->n && before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!before(s->heap[c], e))
			break;
		place(s, i, s->heap[c]);
		i = c;
	}
	place(s, i, e);
}

/* An empty heap. */
void
sched_init(struct sched *s)
{
	s->heap = NULL;
	s->n = s->cap = 0;
	s->seq = 0;
}

/* Release the heap array (not the entries). */
void
sched_free(struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->heap[i]->idx = SCHED_NONE;
	free(s->heap);
	sched_init(s);
}

/* Schedule E at WHEN, moving it if already queued. */
int
sched_set(struct sched *s, struct sched_entry *e, time_t when)
{
	if (e->idx != SCHED_NONE && e->idx < s->n && s->heap[e->idx] == e) {
		e->when = when;
		e->seq = s->seq++;
		sift_up(s, e->idx);
		sift_down(s, e->idx);
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct sched_entry **h = realloc(s->heap, cap * sizeof(*h));
		if (!h)
			return -1;
		s->heap = h;
		s->cap = cap;
	}
	e->when = when;
	e->seq = s->seq++;
	s->heap[s->n] = e;
	e->idx = (uint32_t)s->n++;
	sift_up(s, e->idx);
	return 0;
}

/* Take E out of the heap; nothing happens when it is not queued. */
void
sched_cancel(struct sched *s, struct sched_entry *e)
{
	size_t i = e->idx;
	if (i == SCHED_NONE || i >= s->n || s->heap[i] != e)
		return;
	e->idx = SCHED_NONE;
	s->n--;
	if (i == s->n)
		return;
	place(s, i, s->heap[s->n]);
	sift_up(s, i);
	sift_down(s, s->heap[i]->idx);
}

/* The earliest entry, or NULL when empty. */
struct sched_entry *
sched_peek(const struct sched *s)
{
	return s->n ? s->heap[0] : NULL;
}

/* Remove and return the earliest entry if it is due at NOW. */
struct sched_entry *
sched_pop_due(struct sched *s, time_t now)
{
	struct sched_entry *e = sched_peek(s);
	if (!e || e->when > now)
		return NULL;
	sched_cancel(s, e);
	return e;
}

void
retryq_init(struct retryq *q)
{
	sched_init(&q->due);
	for (unsigned i = 0; i < SCHED_BATCHES; i++)
		sched_init(&q->batch[i]);
	q->nbatch = 0;
}

void
retryq_free(struct retryq *q)
{
	sched_free(&q->due);
	for (unsigned i = 0; i < SCHED_BATCHES; i++)
		sched_free(&q->batch[i]);
	q->nbatch = 0;
}

void
retryq_cancel(struct retryq *q, struct sched_entry *e)
{
	sched_cancel(&q->due, e); /* each a no-op where E is not */
	for (unsigned i = 0; i < q->nbatch; i++)
		sched_cancel(&q->batch[i], e);
}

int
retryq_set(struct retryq *q, struct sched_entry *e, time_t when)
{
	for (unsigned i = 0; i < q->nbatch; i++)
		sched_cancel(&q->batch[i], e);
	return sched_set(&q->due, e, when);
}

struct sched_entry *
retryq_next(struct retryq *q, bool *flushed)
{
	while (q->nbatch && !q->batch[0].n) { /* taken: drop it */
		sched_free(&q->batch[0]);
		memmove(&q->batch[0], &q->batch[1], --q->nbatch * sizeof(q->batch[0]));
		sched_init(&q->batch[q->nbatch]);
	}
	*flushed = q->nbatch > 0;
	return *flushed ? sched_peek(&q->batch[0]) : sched_peek(&q->due);
}

int
retryq_flush(struct retryq *q)
{
	if (!q->due.n)
		return 0;
	if (q->nbatch < SCHED_BATCHES) {
		q->batch[q->nbatch++] = q->due;
		sched_init(&q->due);
		return 0;
	}
	struct sched *last = &q->batch[SCHED_BATCHES - 1];
	struct sched_entry *e;
	while ((e = sched_peek(&q->due)) != NULL) {
		sched_cancel(&q->due, e);
		if (sched_set(last, e, e->when) == -1)
			return -1;
	}
	return 0;
}

size_t
retryq_count(const struct retryq *q)
{
	size_t n = q->due.n;
	for (unsigned i = 0; i < q->nbatch; i++)
		n += q->batch[i].n;
	return n;
}

/* Next attempt after attempt ATTEMPTS failed at NOW. */
time_t
sched_retry_at(const struct conf_queue *q, unsigned attempts, time_t now)
{
	size_t i = attempts ? attempts - 1 : 0;
	if (q->nretry == 0)
		return now + 60;
	if (i >= q->nretry)
		i = q->nretry - 1;
	return now + (time_t)q->retry[i];
}

/* Has a recipient that arrived at ARRIVAL outlived the queue lifetime. */
bool
sched_expired(const struct conf_queue *q, time_t arrival, time_t now)
{
	return now >= arrival + (time_t)q->max_lifetime;
}

/* Is the one delay warning due now. */
bool
sched_warn_due(const struct conf_queue *q, time_t arrival, bool warned, time_t now)
{
	return q->delay_warning > 0 && !warned && now >= arrival + (time_t)q->delay_warning;
}
