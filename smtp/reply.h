/*
 * reply.h — SMTP replies from a remote server.
 *
 * reply_reset()  start a new reply
 * reply_feed()   add one line; tells when the reply is complete
 * reply_cmd_phrase()  "in reply to RCPT TO command", for logs and DSNs
 *
 * A reply is one or more lines "NNN-text" ... "NNN text" (RFC 5321 4.2).
 * The enhanced status code (RFC 3463) is taken from the first line when its
 * text starts with "X.Y.Z " and X matches the reply's first digit. The
 * verbatim lines are kept, joined with a space, bounded by REPLY_TEXT_MAX
 * (longer replies are truncated with "..."), with control characters and
 * invalid UTF-8 replaced by '?', so they are safe for logs and DSNs.
 */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define REPLY_TEXT_MAX 1024
#define REPLY_LINE_MAX 4096 /* longer input lines are an error */

/* What a reply answered (set by the client, smtp/client.c). The values
 * are stored in the spool's state files: append only. */
enum reply_cmd {
	RCMD_NONE,
	RCMD_GREETING,
	RCMD_EHLO,
	RCMD_HELO,
	RCMD_STARTTLS,
	RCMD_AUTH,
	RCMD_RSET,
	RCMD_MAIL,
	RCMD_RCPT,
	RCMD_DATA,
	RCMD_EOD, /* the end of the body */
	RCMD_QUIT,
	RCMD_LAST = RCMD_QUIT
};

struct reply {
	int code;		   /* 200..599 */
	enum reply_cmd cmd;	   /* what it answered; RCMD_NONE: unknown or local */
	char status[16];	   /* "5.7.1", or "" when the server gave none */
	char line[REPLY_TEXT_MAX]; /* "550-5.7.1 a 550 5.7.1 b": all lines */
	char text[REPLY_TEXT_MAX]; /* "a b": texts without codes/status */
	size_t nlines;
	bool complete;
};

void reply_reset(struct reply *r);

/*
 * Feed LINE (LEN bytes, CRLF removed; may contain any byte). Returns 1 when
 * this line completed the reply, 0 when more lines follow, -1 when the line
 * is malformed (no 3-digit code in 200..599, a code that differs from the
 * first line's, a 4th character other than ' ' '-' or end of line).
 */
int reply_feed(struct reply *r, const char *line, size_t len);

/* Postfix's words for what a reply answered: "in reply to RCPT TO command",
 * "in reply to end of DATA command", "in the greeting"; NULL for RCMD_NONE
 * or a value out of range. */
const char *reply_cmd_phrase(int cmd);

#endif
