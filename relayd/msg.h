/*
 * msg.h — a queued message and its recipients, as the queue keeps them in
 * memory; what every part of the queue shares about them.
 *
 * msg_new()        a message with its recipients' addresses, one allocation
 * msg_unref()      drop a reference; the last one frees it (msg_free())
 * msg_finished()   no recipient pending any more
 * msg_set_status() an enhanced status into a recipient
 * msg_status()     a recipient's enhanced status as text
 * msg_newid()      a fresh queue id
 * msg_id_key()     a queue id as the number it writes, or 0
 *
 * The queue (queue.c) owns the messages; its storage (spool.h) reads and
 * writes them. Pure but for msg_newid()'s clock: unit-tested in test_msg.c.
 */
#ifndef RELAYD_MSG_H
#define RELAYD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "relayd/sched.h"
#include "relayd/spool_fmt.h"

struct segment;

/* Where a message is in its life (struct qmsg's state). */
enum qstate { Q_BUILDING, Q_COMMITTING, Q_QUEUED, Q_DONE };

#define QID_MAX (FMT_QID_LEN + 1) /* 16 upper-case hex digits */

enum rcpt_state { RCPT_PENDING, RCPT_SENT, RCPT_BOUNCED, RCPT_EXPIRED };

#define MSG_STATUS_MAX 10		  /* "5.123.456" and its NUL */
#define MSG_ATTEMPTS_MAX ((1u << 19) - 1) /* attempts saturate there */

/* A recipient: 56 bytes. Its strings but the address are interned
 * (intern.h): a backlog's recipients share their transport, relay and,
 * often, last reply. Its enhanced status is packed (msg_status()). */
struct qrcpt {
	const char *addr;	/* in the message's own allocation */
	const char *last_reply; /* NULL until an attempt failed */
	const char *transport;	/* transport of the last attempt, NULL before */
	const char *relay;	/* "HOST[IP]:PORT" of the last attempt, or NULL */
	const char *detour;	/* re-routed to this fallback transport, or NULL */
	time_t next_attempt;
	unsigned attempts : 19;	  /* saturates at MSG_ATTEMPTS_MAX */
	unsigned notify : 1;	  /* failed: the sender is owed a DSN */
	unsigned inflight : 1;	  /* in a delivery job now */
	unsigned waiting : 1;	  /* listed as waiting for its destination (waitq.h) */
	unsigned state : 2;	  /* enum rcpt_state */
	unsigned cmd : 4;	  /* enum reply_cmd the last reply answered */
	unsigned st_class : 4;	  /* enhanced status of the last attempt: 0 none, else */
				  /* its class + 1 (msg_status()) */
	unsigned code : 10;	  /* remote reply code of the last attempt, 0: local */
	unsigned st_subject : 11; /* the status's subject and detail, 1-3 digits each: */
	unsigned st_detail : 11;  /* 0-9, 10 + 00-99, 110 + 000-999 */
};

struct qrecv;

/*
 * A message: 96 bytes, then its recipients and their addresses in the same
 * allocation (one recipient of 27 bytes: 192 bytes with malloc's header;
 * with the id index and the heap, about 220 bytes per queued message).
 * The client it came from is only in its stored envelope (queue_client()).
 * What only receiving and committing need (the buffer, the tmp file, the
 * commit callback) is in struct qrecv, freed once committed. Read-only
 * outside the queue (queue.c) and
 * its storage (spool*.c).
 */
struct qmsg {
	union {
		struct sched_entry sched; /* queued: when it is due (private) */
		struct qrecv *rx;	  /* being received or committed (private) */
	};
	const char *sender;  /* interned; "" for the null sender */
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
	/* private to the queue and its storage */
	unsigned fresh : 1; /* SCHED is in the new-mail heap (no recipient tried yet) */
	unsigned state_writing : 1, state_dirty : 1;
	unsigned state_sync : 1; /* the next state save must be fsync'd (see state_save()) */
	unsigned has_state : 1;	 /* state/QID exists */
	/* A deferral changed what state/QID says beyond attempts and the next
	 * attempt (spool_state_save() rewrites it; else it only stamps them
	 * on the file's times) */
	unsigned state_changed : 1;
	unsigned pinned : 1;   /* a reader has its file open: never reuse the file */
	unsigned retrying : 1; /* its jobs count in q_retry_inflight */
	struct qrcpt rcpt[];
};

/* A message with the recipients ADDR[0..N-1], their addresses copied into
 * the same allocation: one reference, state Q_QUEUED, out of any heap.
 * The storage adds the receiving part (spool_begin()). */
struct qmsg *msg_new(const char *const *addr, size_t n);

/* Free M (its interned strings dropped); M has no receiving part left. */
void msg_free(struct qmsg *m);

/* Drop a reference to M; the last one frees it. */
void msg_unref(struct qmsg *m);

/* True when no recipient of M is pending. */
bool msg_finished(const struct qmsg *m);

/* STATUS (an enhanced status, "C.S.D" of 1, 1-3 and 1-3 digits) into R;
 * anything else, "" included, leaves R without one. */
void msg_set_status(struct qrcpt *r, const char *status);

/* R's enhanced status into BUF (MSG_STATUS_MAX bytes), "" when none; BUF. */
const char *msg_status(const struct qrcpt *r, char *buf);

/* A fresh queue id into ID (QID_MAX bytes): microseconds since the epoch
 * and a counter in hex, strictly increasing within a run. */
void msg_newid(char *id);

/* A queue id as the number it writes (16 upper-case hex digits), or 0. */
uint64_t msg_id_key(const char *id);

#endif
