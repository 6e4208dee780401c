/*
 * sched.h — when things happen: a timer heap and the retry policy.
 *
 * sched_init(), sched_free()   an empty heap
 * sched_set()                  (re)schedule an entry at a time
 * sched_cancel()               take an entry out
 * sched_peek()                 the earliest entry, or NULL
 * sched_pop_due()              the earliest entry due at NOW, removed
 * sched_retry_at()             next attempt after a temporary failure
 * sched_expired()              has a recipient outlived max_lifetime
 * sched_warn_due()             is the delay warning due
 * retryq_*()                   retries: a heap, and the batches a flush set aside
 *
 * Pure logic: no I/O, no clock; NOW is always passed in, so retries and
 * lifetimes are unit-tested without sleeping. O(log n) per operation.
 */
#ifndef RELAYD_SCHED_H
#define RELAYD_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf/conf.h"

#define SCHED_NONE UINT32_MAX

/* Embedded in whatever is scheduled (16 bytes: one per queued message);
 * idx is SCHED_NONE when not queued. */
struct sched_entry {
	time_t when;
	uint32_t idx;
	uint32_t seq; /* FIFO among equal times (compared across a wrap) */
};

struct sched {
	struct sched_entry **heap;
	size_t n, cap;
	uint32_t seq;
};

void sched_init(struct sched *s);
void sched_free(struct sched *s);
int sched_set(struct sched *s, struct sched_entry *e, time_t when);
void sched_cancel(struct sched *s, struct sched_entry *e);
struct sched_entry *sched_peek(const struct sched *s);
struct sched_entry *sched_pop_due(struct sched *s, time_t now);

/*
 * Retries: a heap by due time, and the batches a flush of the whole queue
 * set aside as they stood (O(1), whatever the queue's size): every entry of
 * a batch is due, the oldest batch first. A flush while SCHED_BATCHES are
 * still not taken adds the heap to the newest one (O(n log n)).
 */
#define SCHED_BATCHES 8
struct retryq {
	struct sched due;
	struct sched batch[SCHED_BATCHES];
	unsigned nbatch;
};

void retryq_init(struct retryq *q);
void retryq_free(struct retryq *q);
/* Schedule E at WHEN in the heap (out of a batch if it was in one). */
int retryq_set(struct retryq *q, struct sched_entry *e, time_t when);
void retryq_cancel(struct retryq *q, struct sched_entry *e);
/* The next entry, not removed: the first of the oldest batch (*FLUSHED
 * true: due whatever its time), else the heap's earliest; NULL if none. */
struct sched_entry *retryq_next(struct retryq *q, bool *flushed);
/* Everything in the heap due now: set aside as a batch. */
int retryq_flush(struct retryq *q);
size_t retryq_count(const struct retryq *q);

/* Time of the next attempt after attempt number ATTEMPTS (1-based) failed
 * at NOW: queue.retry[ATTEMPTS-1], the last entry repeating. */
time_t sched_retry_at(const struct conf_queue *q, unsigned attempts, time_t now);

/* True when a recipient that arrived at ARRIVAL and failed temporarily at
 * NOW must not be retried again: NOW >= ARRIVAL + max_lifetime. */
bool sched_expired(const struct conf_queue *q, time_t arrival, time_t now);

/* True when a still-pending message that arrived at ARRIVAL should get its
 * one delay warning now (delay_warning > 0, not yet WARNED, old enough). */
bool sched_warn_due(const struct conf_queue *q, time_t arrival, bool warned, time_t now);

#endif
