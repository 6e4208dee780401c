/*
 * queue.h — the durable queue: the only code that touches the spool.
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
 * queue_hold_all(), queue_body_open(), queue_next(), queue_find(),
 * queue_foreach()     for relayctl
 *
 * Spool layout (all under conf->spool, mode 0700; the formats of the
 * files are defined, written and read in relayd/spool_fmt.c):
 *   log/N.log    the journal: messages kept in memory while received
 *                (up to 256 KiB) appended as records "@QID LEN\n" +
 *                envelope header + stored body, many per fdatasync
 *   log/N.done   the ids of N.log's messages that are finished, one a line
 *   tmp/QID      being written (O_EXCL); removed at start
 *   tmp/pool.N   spent message files kept for reuse (creating an inode
 *                costs more than overwriting one)
 *   queue/QID    committed: envelope header, blank line, stored body
 *   state/QID    recipient states ("RELAYD-STATE 2", one line each) and
 *                the message's flags (delay warning sent, on hold),
 *                replaced atomically (write + rename, fsync'd) when it
 *                records something final, overwritten in place without
 *                fsync for a deferral alone (state_save() in queue.c)
 *   corrupt/QID  unreadable files moved aside at start
 *
 * Invariant: a message is in queue/ only after its file and the directory
 * were fsync'd, and in the journal only after an fdatasync that followed
 * its record; the commit callback runs after that and only then may the
 * caller answer 250. Everything else about a message (what was sent,
 * attempts) may be lost in a crash and then costs a duplicate, never a loss.
 */
#ifndef RELAYD_QUEUE_H
#define RELAYD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "relayd/dlv.h"
#include "relayd/sched.h"
#include "relayd/spool_fmt.h"

struct event_base;
struct segment;

#define QID_MAX (FMT_QID_LEN + 1) /* 16 upper-case hex digits */

enum rcpt_state { RCPT_PENDING, RCPT_SENT, RCPT_BOUNCED, RCPT_EXPIRED };

/* A recipient: 64 bytes. Its strings but the address are interned
 * (intern.h): a backlog's recipients share their transport, relay and,
 * often, last reply. */
struct qrcpt {
	const char *addr;	/* in the message's own allocation */
	const char *last_reply; /* NULL until an attempt failed */
	const char *transport;	/* transport of the last attempt, NULL before */
	const char *relay;	/* "HOST[IP]:PORT" of the last attempt, or NULL */
	const char *detour;	/* re-routed to this fallback transport, or NULL */
	time_t next_attempt;
	unsigned attempts : 29;
	unsigned notify : 1;   /* failed: the sender is owed a DSN */
	unsigned inflight : 1; /* in a delivery job now */
	unsigned waiting : 1;  /* listed as waiting for its destination (waitq.h) */
	unsigned code : 10;    /* remote reply code of the last attempt, 0: local */
	unsigned cmd : 4;      /* enum reply_cmd the last reply answered */
	unsigned state : 2;    /* enum rcpt_state */
	char status[10];       /* enhanced status of the last attempt ("5.123.456") */
};

struct qrecv;

/*
 * A message: 104 bytes, then its recipients and their addresses in the same
 * allocation (one recipient of 27 bytes: 208 bytes with malloc's header;
 * with the id index and the heap, about 233 bytes per queued message).
 * What only receiving and committing need (the buffer, the tmp file, the
 * commit callback) is in struct qrecv, freed once committed. Read-only
 * outside queue.c.
 */
struct qmsg {
	union {
		struct sched_entry sched; /* queued: when it is due (private) */
		struct qrecv *rx;	  /* being received or committed (private) */
	};
	const char *sender;  /* interned; "" for the null sender */
	const char *client;  /* interned; "HOST[IP]" */
	struct segment *seg; /* journal segment holding it, or NULL: queue/QID (private) */
	time_t arrival;
	uint64_t size;
	off_t body_len;	   /* stored body (private) */
	uint32_t body_off; /* where the stored body starts in the record or file (private) */
	uint32_t rec_off;  /* where its record's content starts in SEG (private) */
	uint32_t nrcpt;
	uint32_t jobs; /* delivery jobs in flight (private) */
	uint32_t refs; /* (private) */
	char id[QID_MAX];
	unsigned state : 2; /* enum qstate (private) */
	unsigned body : 2;  /* BODY_NONE / BODY_7BIT / BODY_8BITMIME (cmd.h) */
	unsigned smtputf8 : 1;
	unsigned warned : 1; /* delay warning sent */
	unsigned held : 1;   /* on hold (relayctl hold): not delivered until released */
	/* private to queue.c */
	unsigned fresh : 1; /* SCHED is in the new-mail heap (no recipient tried yet) */
	unsigned state_writing : 1, state_dirty : 1;
	unsigned state_sync : 1; /* the next state save must be fsync'd (see state_save()) */
	unsigned has_state : 1;	 /* state/QID exists */
	unsigned pinned : 1;	 /* a reader has its file open: never reuse the file */
	unsigned retrying : 1;	 /* its jobs count in q_retry_inflight */
	struct qrcpt rcpt[];
};

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
