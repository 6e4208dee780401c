/*
 * spool.h — the queue's storage: the only code that touches the spool.
 *
 * spool_check()        could spool_init() create or use a spool (changes nothing)
 * spool_init()         create or open the spool, recover its messages
 * spool_shutdown()     stop recovering (the rest is read at the next start)
 * spool_close()        stop the journal thread (nothing left to commit)
 * spool_idle()         no commit waiting for its completion
 * spool_begin()        the receiving part of a new message, its header first
 * spool_write()        append stored-form body bytes
 * spool_commit()       make it durable, then call back (the 250 point)
 * spool_abort()        drop a message that was never committed
 * spool_open(),
 * spool_body()         read a committed message back
 * spool_state_save()   write its recipients' states (spool_state.c)
 * spool_remove()       a finished message's files go
 *
 * Its files, one concept each:
 *   spool.c          this interface, the directories, commit completion,
 *                    recovery in slices (it drives the others)
 *   spool_journal.c  log/: segments, the journal thread, .done lines
 *   spool_file.c     tmp/ and queue/: spilled and large messages, the pool
 *                    of spent files, fsync + rename + shared directory fsync
 *   spool_state.c    state/: recipient states, saved and read back
 *   spool_fmt.c      what every file holds: pure, unit-tested and fuzzed
 *
 * Layout (all under the configured spool, mode 0700):
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
 *                fsync for a deferral alone, and only stamped on its
 *                modification time (next attempt . attempts in
 *                nanoseconds) for a deferral that repeats the last one
 *                (spool_state.c)
 *   corrupt/QID  unreadable files moved aside at start
 *
 * Invariant: a message is in queue/ only after its file and the directory
 * were fsync'd, and in the journal only after an fdatasync that followed
 * its record; the commit callback runs after that and only then may the
 * caller answer 250. Everything else about a message (what was sent,
 * attempts) may be lost in a crash and then costs a duplicate, never a loss.
 *
 * The storage never calls the queue: what it recovers and commits goes
 * back through struct spool_ops.
 */
#ifndef RELAYD_SPOOL_H
#define RELAYD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relayd/msg.h"

struct event_base;

struct spool_ops {
	/* A message read back at start: state Q_QUEUED, its state file
	 * applied, a recipient pending. The queue takes it. */
	void (*recovered)(struct qmsg *m);
	/* M is durable (state Q_QUEUED): the queue takes it, just before
	 * its commit callback runs. */
	void (*committed)(struct qmsg *m);
	/* The queued message with id KEY (msg_id_key()), or NULL. */
	const struct qmsg *(*find)(uint64_t key);
};

/* Whether spool_init() could use PATH: an existing directory (and its
 * subdirectories) this process can write, or a path whose nearest
 * existing parent is a directory it can write (spool_init() creates the
 * rest). Creates nothing. 0, or -1 and *CAUSE (static) saying why not. */
int spool_check(const char *path, char **cause);

/* Create or open the spool at PATH and recover its messages through OPS:
 * for up to a second now, the rest in slices on BASE's loop. 0, or -1 and
 * *CAUSE (static). */
int spool_init(const char *path, struct event_base *base, const struct spool_ops *ops,
	       char **cause);
void spool_shutdown(void);
void spool_close(void);
bool spool_idle(void);

/* Give M (new: msg_new(), its id, sender, arrival, body type set) the
 * receiving part and its envelope header for CLIENT ("HOST[IP]") and the
 * recipients RCPT[0..N-1].
 * A header that cannot be written fails the message: its commit reports
 * the error. */
void spool_begin(struct qmsg *m, const char *client, const char *const *rcpt, size_t n);

/* Append stored-form body bytes; -1 once writing failed (disk full). */
int spool_write(struct qmsg *m, const void *buf, size_t len);

/* Make M (m->size set) durable, then CB(ARG, M, 0) — or CB(ARG, M, errno)
 * and M is gone. Never calls back from inside this function. */
void spool_commit(struct qmsg *m, void (*cb)(void *arg, struct qmsg *m, int err), void *arg);

/* Drop M, never committed. */
void spool_abort(struct qmsg *m);

/* An fd of the file holding committed M, *BASE where M's record starts in
 * it; -1 when it cannot be opened. The caller owns the fd. */
int spool_open(const struct qmsg *m, off_t *base);

/* The client committed M came from, as its stored envelope says: malloc'd,
 * or NULL when it cannot be read. */
char *spool_client(const struct qmsg *m);

/* An fd on M's stored body (ending with ".\r\n") at *OFF for *LEN bytes. */
int spool_body(const struct qmsg *m, off_t *off, off_t *len);

/* Save M's recipient states and flags (spool_state.c): one write at a time
 * per message, the last state wins; fsync'd when m->state_sync says it
 * records something final. */
void spool_state_save(struct qmsg *m);

/* M is finished (state Q_DONE, out of the queue): its files go, then the
 * reference the queue held is dropped. */
void spool_remove(struct qmsg *m);

#endif
