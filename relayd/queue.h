/*
 * queue.h — the durable queue: its manager, which owns the messages.
 *
 * queue_check()      can queue_init() create or use a spool (changes nothing)
 * queue_init()       create the spool, recover every queued message
 * queue_shutdown()   stop scheduling; wait for spool writes in flight
 * queue_create()     start a new message (assigns the queue id)
 * queue_write()      append stored-form body bytes
 * queue_commit()     make it durable, then call back (the 250 point)
 * queue_abort()      drop a message that was never committed
 * queue_body()       open a committed message's body for sending
 * queue_result()     record one recipient's outcome (and log it)
 * queue_job_done()   a delivery job over the message has finished
 * queue_count()      messages in the queue
 * queue_flush(), queue_delete(), queue_delete_all(), queue_hold(),
 * queue_hold_all(), queue_body_open(), queue_client(), queue_next(), queue_find(),
 * queue_foreach()     for relayctl
 *
 * The messages live in memory as msg.h says; their storage, its layout
 * and its durability invariant (nothing is answered 250 before it is on
 * stable storage) are spool.h's.
 */
#ifndef RELAYD_QUEUE_H
#define RELAYD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "relayd/dlv.h"
#include "relayd/msg.h"

struct event_base;

/* The envelope of a message being received. */
struct qenv {
	const char *sender;
	const char *const *rcpt;
	size_t nrcpt;
	const char *client;
	int body;
	bool smtputf8;
};

/* Whether queue_init() could use SPOOL: an existing directory (and its
 * subdirectories) this process can write, or a path whose nearest
 * existing parent is a directory it can write (queue_init() creates the
 * rest). Creates nothing. 0, or -1 and *CAUSE (static) saying why not. */
int queue_check(const char *spool, char **cause);

int queue_init(struct event_base *base, char **cause);
void queue_shutdown(void);

struct qmsg *queue_create(const struct qenv *env);
int queue_write(struct qmsg *m, const void *buf, size_t len);
void queue_commit(struct qmsg *m, uint64_t size, void (*cb)(void *arg, struct qmsg *m, int err),
		  void *arg);
void queue_abort(struct qmsg *m);
/* A new message's 250 came SECS after its first RCPT (a drain's pace). */
void queue_accepted(double secs);

/* An fd positioned for the caller to read the stored body (ending with
 * ".\r\n") at *OFF for *LEN bytes; -1 when the file is gone. The caller
 * owns the fd. */
int queue_body(const struct qmsg *m, off_t *off, off_t *len);

/* Record what happened to recipient IDX over TRANSPORT, log the
 * contract's outcome line, and decide its next step. */
void queue_result(struct qmsg *m, size_t idx, const char *transport, const struct dlv *d);

/* A job handed out by the queue finished; every recipient in it has had
 * queue_result(). */
void queue_job_done(struct qmsg *m);

size_t queue_count(void);

/* True when no message is being made durable (for a clean stop). */
bool queue_idle(void);

/* After the loop has stopped: stop the journal thread. */
void queue_close(void);

/* Retry every deferred recipient now (or only those of QID), after the
 * down pause of their destinations is lifted (mta_flush()); held messages
 * wait for their release. 0, or -1 when QID is not queued. */
int queue_flush(const char *qid);

/* Remove QID without a bounce; 0, or -1 when it is not queued. */
int queue_delete(const char *qid);

/* Remove every queued message without a bounce; how many. */
size_t queue_delete_all(void);

/* Put QID on hold (HOLD) or release it: a held message is not delivered
 * (its lifetime keeps running: released after max_lifetime, its tried
 * recipients expire) and stays held across restarts (its state file
 * says so); released, its pending recipients are due at once. 1 when QID
 * changed, 0 when it already was so, -1 when it is not queued. */
int queue_hold(const char *qid, bool hold);

/* queue_hold() for every message (DOMAIN NULL) or every message with a
 * pending recipient in DOMAIN (compared without case); how many changed. */
size_t queue_hold_all(const char *domain, bool hold);

/* An fd for reading QID's stored body (ending with ".\r\n") at *OFF for
 * *LEN bytes; the caller owns the fd. The file is never reused while the
 * message is queued or after it, so the fd reads this message whatever
 * happens to it meanwhile. -1 when QID is not queued or its file cannot
 * be opened. */
int queue_body_open(const char *qid, off_t *off, off_t *len);

/* The client M came from ("HOST[IP]"), read from its stored envelope
 * (the queue keeps no copy in memory): malloc'd, or NULL. */
char *queue_client(const struct qmsg *m);

/* A delivery over TRANSPORT (to DOMAIN for MX delivery; NULL: any)
 * succeeded again: its deferred recipients are retried now. */
void queue_release(const char *transport, const char *domain);

/* Call CB for each queued message (read-only), oldest id first. */
void queue_foreach(void (*cb)(void *arg, const struct qmsg *m), void *arg);

/* The queued message with the smallest id above AFTER (NULL or "": the
 * first one), or NULL at the end: for listings in batches, whatever left
 * the queue in between: a binary search. */
const struct qmsg *queue_next(const char *after);

/* The queued message QID (a binary search), or NULL. */
const struct qmsg *queue_find(const char *qid);

#endif
