/*
 * reply.h — SMTP replies from a remote server.
 *
 * reply_reset()  start a new reply
 * reply_feed()   add one line; tells when the reply is complete
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

struct reply {
	int code;		   /* 200..599 */
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

#endif
