/*
 * reply.c — assemble a remote server's (multi-line) SMTP reply.
 *
 * reply_reset()  start a new reply
 * reply_feed()   add one line; tells when the reply is complete
 * reply_cmd_phrase()  what a reply answered, in words
 *
 * Invariants: ->line and ->text are always NUL-terminated valid UTF-8
 * without control characters, whatever the server sent, because they end
 * up in logs, relayctl output and DSNs. A buffer that overflowed is exactly
 * REPLY_TEXT_MAX - 1 bytes long and ends in "...", and nothing more is ever
 * appended to it. A line that reply_feed() refuses leaves the reply as it was.
 */
#include <string.h>

#include "smtp/reply.h"
#include "smtp/utf8.h"

#define REPLY_ELLIPSIS "..."

/*
 * Copy LEN bytes of IN to OUT (at least LEN + 1 bytes) as safe text: each
 * control byte and each byte of invalid UTF-8 becomes '?', and so does a
 * C1 control (U+0080..U+009F), which terminals also obey. Returns the length.
 */
static size_t
reply_clean(char *out, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, n;

	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			out[o++] = (char)s[i++];
		else if (s[i] >= 0x80 && (n = utf8_seq(s + i, len - i, NULL)) != 0) {
			if (s[i] == 0xc2 && s[i + 1] < 0xa0)
				out[o++] = '?';
			else {
				memcpy(out + o, s + i, n);
				o += n;
			}
			i += n;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
	return o;
}

/*
 * Append N bytes of S to BUF (REPLY_TEXT_MAX bytes). On overflow BUF is
 * cut on a character boundary and filled up with dots, so that a full
 * buffer is also how a truncated one is recognised next time.
 */
static void
reply_append(char *buf, const char *s, size_t n)
{
	size_t cur = strlen(buf), room = REPLY_TEXT_MAX - 1 - cur, cut;

	if (n <= room) {
		memcpy(buf + cur, s, n);
		buf[cur + n] = '\0';
		return;
	}
	memcpy(buf + cur, s, room);
	cut = REPLY_TEXT_MAX - 1 - strlen(REPLY_ELLIPSIS);
	while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
		cut--;
	memset(buf + cut, '.', REPLY_TEXT_MAX - 1 - cut);
	buf[REPLY_TEXT_MAX - 1] = '\0';
}

/*
 * Length of an RFC 3463 status "C.SSS.DDD" at the start of T whose class C
 * is CLS, followed by a space or the end; 0 when there is none.
 */
static size_t
reply_status_len(const char *t, int cls)
{
	const char *p = t;
	size_t n;
	int part;

	if (*p++ != '0' + cls)
		return 0;
	for (part = 0; part < 2; part++) {
		if (*p++ != '.')
			return 0;
		for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
			;
		if (n == 0 || n > 3)
			return 0;
		p += n;
	}
	if (*p != ' ' && *p != '\0')
		return 0;
	return p - t;
}

/* What a reply answered, in the words Postfix logs ("... said: 550 ...
 * (in reply to RCPT TO command)"). */
const char *
reply_cmd_phrase(int cmd)
{
	static const char *const phrases[] = {
		[RCMD_GREETING] = "in the greeting",
		[RCMD_EHLO] = "in reply to EHLO command",
		[RCMD_HELO] = "in reply to HELO command",
		[RCMD_STARTTLS] = "in reply to STARTTLS command",
		[RCMD_AUTH] = "in reply to AUTH command",
		[RCMD_RSET] = "in reply to RSET command",
		[RCMD_MAIL] = "in reply to MAIL FROM command",
		[RCMD_RCPT] = "in reply to RCPT TO command",
		[RCMD_DATA] = "in reply to DATA command",
		[RCMD_EOD] = "in reply to end of DATA command",
		[RCMD_QUIT] = "in reply to QUIT command",
	};
	if (cmd <= RCMD_NONE || cmd > RCMD_LAST)
		return NULL;
	return phrases[cmd];
}

/* Start a new reply. */
void
reply_reset(struct reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* Add one line (CRLF removed) to R; 1 when it completed the reply. */
int
reply_feed(struct reply *r, const char *line, size_t len)
{
	char buf[REPLY_LINE_MAX + 1];
	const char *text;
	size_t n, i;
	int code = 0;

	if (len < 3 || len > REPLY_LINE_MAX)
		return -1;
	for (i = 0; i < 3; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		code = code * 10 + (line[i] - '0');
	}
	if (code < 200 || code > 599)
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	if (r->complete)
		reply_reset(r);
	else if (r->nlines > 0 && code != r->code)
		return -1;

	/* The first four bytes are ASCII, so they survive cleaning as is. */
	reply_clean(buf, line, len);
	text = len > 3 ? buf + 4 : "";
	if (r->nlines == 0) {
		r->code = code;
		if ((n = reply_status_len(text, code / 100)) != 0) {
			memcpy(r->status, text, n);
			r->status[n] = '\0';
			text += n;
		}
	} else if (r->status[0] != '\0') {
		/* Most servers repeat the status on every line. */
		n = strlen(r->status);
		if (strncmp(text, r->status, n) == 0 && (text[n] == ' ' || text[n] == '\0'))
			text += n;
	}
	if (text != buf + 4)
		while (*text == ' ')
			text++;

	if (r->nlines > 0)
		reply_append(r->line, " ", 1);
	reply_append(r->line, buf, strlen(buf));
	if (*text != '\0') {
		if (r->text[0] != '\0')
			reply_append(r->text, " ", 1);
		reply_append(r->text, text, strlen(text));
	}
	r->nlines++;
	r->complete = len == 3 || line[3] == ' ';
	return r->complete ? 1 : 0;
}
