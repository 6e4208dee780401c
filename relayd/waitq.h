/*
 * waitq.h — which queued messages wait for which destination.
 *
 * waitq_add()    message ID has a recipient waiting for (TRANSPORT, DOMAIN)
 * waitq_take()   the ids waiting for it, and forget them (it works again)
 * waitq_count()  ids listed for a destination (some may wait no more)
 * waitq_lists()  destinations with a list now
 * waitq_ids()    ids in all lists
 * waitq_free()   forget everything (shutdown)
 *
 * A recipient deferred because of its destination (a connection failure,
 * a 421, throttling, a down pause: dlv_waits_for_destination()) is released
 * at once when that destination delivers again. The queue keeps here, per
 * destination, the ids of the messages with such a recipient, so a release
 * costs what waited for that destination rather than a walk of the whole
 * queue. A list may hold ids whose message or recipient no longer waits:
 * the queue checks each id it takes. When a list doubles, ids for which
 * ALIVE says false are dropped, so a destination that never comes back
 * holds no more than what still waits for it (amortised O(1) per add).
 * DOMAIN is NULL or "" for a relay transport (one destination), compared
 * without case otherwise.
 */
#ifndef RELAYD_WAITQ_H
#define RELAYD_WAITQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void waitq_add(const char *transport, const char *domain, uint64_t id,
	       bool (*alive)(uint64_t id, void *arg), void *arg);

/* The ids (in the order added, without a repeat in a row), *N of them;
 * the caller frees the array. NULL and *N = 0 when none. */
uint64_t *waitq_take(const char *transport, const char *domain, size_t *n);

size_t waitq_count(const char *transport, const char *domain);
size_t waitq_lists(void);
size_t waitq_ids(void);
void waitq_free(void);

#endif
