/*
 * bounce.h — the delivery status notifications of a queued message.
 *
 * bounce_text()     the DSN about some of a message's recipients: the
 *                   complete RFC 3464 message (content, not dot-stuffed)
 * bounce_headers()  the original header section for the DSN's third part,
 *                   from the start of the stored body
 * bounce_classify() what a recipient's last failure most likely means: the
 *                   DSN explains it with the sender's text, the log and
 *                   relayctl with the operator's
 *
 * Pure: what the recipients' last attempts left (status, relay, reply,
 * the command it answered, its classification) becomes dsn_build()'s input
 * here; queue.c reads the message from the spool and queues the DSN.
 */
#ifndef RELAYD_BOUNCE_H
#define RELAYD_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct classification;
struct conf;
struct qmsg;
struct qrcpt;

/* The DSN to M's sender about recipients IDX[0..N-1] (a delay warning when
 * DELAY), with the original HEADERS (HLEN bytes, may be NULL), at NOW; its
 * UNIQUE number goes into the Message-ID and the boundary. Malloc'd text of
 * *LEN bytes, or NULL when out of memory. */
char *bounce_text(const struct qmsg *m, const size_t *idx, size_t n, bool delay,
		  const char *headers, size_t hlen, const struct conf *c, time_t now,
		  unsigned long unique, size_t *len);

/* The header section of a stored body's first N bytes RAW (wire form:
 * CRLF, dot-stuffed): up to the blank line, or without one up to the last
 * complete line; unstuffed. Malloc'd (*LEN bytes, NUL-terminated), or NULL
 * when out of memory. */
char *bounce_headers(const char *raw, size_t n, size_t *len);

/* The classification of R's last failure: its remote reply (classify()),
 * or relayd's own reason (classify_local()); for an expired recipient, the
 * last reply's own status counts, not 4.4.7. */
void bounce_classify(const struct qrcpt *r, struct classification *cl);

#endif
