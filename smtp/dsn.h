/*
 * dsn.h — delivery status notifications (RFC 3464, RFC 6522).
 *
 * dsn_build()   the complete bounce or delay message, headers and body
 *
 * Pure: builds text in memory from what it is given; the caller queues it
 * (from <>, to the original sender) like any other message.
 */
#ifndef SMTP_DSN_H
#define SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct dsn_rcpt {
	const char *addr;	 /* final recipient */
	bool delayed;		 /* Action: delayed (else failed) */
	const char *status;	 /* "5.1.1", "4.4.7" */
	const char *remote_host; /* "mx.example.com" or NULL (no connection) */
	const char *remote_ip;	 /* "192.0.2.1" or NULL */
	const char *reply;	 /* the remote reply verbatim, or relayd's reason */
	bool reply_is_smtp;	 /* reply came from the remote server */
	const char *in_reply_to; /* "in reply to RCPT TO command", or NULL */
	time_t last_attempt;
	const char *label; /* classification label, or NULL */
	/* What it most likely means, for the sender (classify()'s sender
	 * text: plain words, no operator advice), or NULL */
	const char *explain;
};

struct dsn_msg {
	const char *hostname; /* Reporting-MTA and MAILER-DAEMON@hostname */
	const char *qid;      /* original queue id */
	time_t arrival;
	const char *sender;  /* original envelope sender (the DSN goes there) */
	const char *headers; /* original header section (CRLF or LF), may be NULL */
	size_t headers_len;
	const struct dsn_rcpt *rcpt;
	size_t nrcpt;
	bool delay; /* a delay warning rather than a bounce */
	time_t now;
	unsigned long unique; /* mixed into Message-ID and the boundary */
	time_t retry_until;   /* delay warning: when relayd gives up; 0 unknown */
};

/*
 * The whole DSN as an RFC 5322 message with CRLF line ends: From
 * "MAILER-DAEMON@HOSTNAME" (Mail Delivery System), To the sender, Subject
 * ("Undelivered Mail Returned to Sender" / "Delayed Mail (still being
 * retried)"), Date, Message-ID, MIME-Version, Auto-Submitted:
 * auto-replied, Content-Type multipart/report; report-type=delivery-status;
 * then a text/plain part (human readable), a message/delivery-status part
 * and a text/rfc822-headers part. Returns malloc'd text (*LEN bytes, NUL
 * terminated) or NULL on allocation failure.
 */
char *dsn_build(const struct dsn_msg *m, size_t *len);

#endif
