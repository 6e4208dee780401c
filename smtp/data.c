/*
 * data.c — the body of a message on the wire: DATA scanning and stuffing.
 *
 * data_init()     start scanning DATA input
 * data_scan()     consume input up to and including CRLF.CRLF
 * data_stuff()    encode content as a DATA body (CRLF, dot-stuffed, ".")
 * data_unstuff()  decode a stored DATA body back to content
 * data_unstuff_init(), data_unstuff_more()   the same, in pieces
 *
 * This is where SMTP smuggling is stopped, so the rules are strict:
 *   - DATA ends only at "." CRLF at the start of a line that itself began
 *     after a real CRLF (or is the first line). A "." line reached through
 *     a bare LF or bare CR, or ended by one, is content.
 *   - In normalize mode every bare LF and bare CR becomes CRLF and every
 *     line is unstuffed and stuffed again, so the output never holds a "."
 *     line other than the terminator, nor a CR or LF outside a CRLF: any
 *     downstream parser, however it splits lines, sees the same message.
 *   - In reject mode bare CR/LF are kept as content and only flag the
 *     message (->bare); the caller refuses it, so the output needs no care
 *     beyond never ending early.
 *
 * Invariants of data_scan(): input may arrive in pieces of any size (one
 * byte included), with the same result as in one piece. Bytes that cannot
 * be decided yet (a line-leading '.', then ".\r") are held in ->state, not
 * in a buffer. Unchanged input goes to ->out in runs, one call per run, so
 * a chunk of plain lines costs two memchr() calls per line and one ->out
 * call in all, ".." lines included; the terminator goes out with the last
 * body bytes when they share a chunk (one write, no Nagle stall).
 */
#include <string.h>

#include "smtp/data.h"

enum data_state {
	DATA_BOL,   /* at the start of a line */
	DATA_MID,   /* inside a line */
	DATA_CR,    /* inside a line just after a CR (already passed on) */
	DATA_DOT,   /* a line started with '.' (held back) */
	DATA_DOTCR, /* a line started with ".\r" (both held back) */
	DATA_DONE,  /* the terminator was consumed */
};

#define DATA_F_CRLF 0x01 /* the last line ended with a real CRLF */

/* Pass content bytes on; they count towards ->size. */
static void
data_put(struct data_scan *d, const char *s, size_t n)
{
	d->out(d->arg, s, n);
	d->size += n;
}

/*
 * Pass on the pending run of input [*RUN, TO), less its STUFFED dots in
 * ->size (dots of ".." lines: both are passed on, one is stuffing).
 */
static void
data_flush(struct data_scan *d, const char **run, const char *to, size_t *stuffed)
{
	if (to > *run) {
		d->out(d->arg, *run, to - *run);
		d->size += (size_t)(to - *run) - *stuffed;
	}
	*stuffed = 0;
	*run = to;
}

/* Start scanning the input that follows a DATA command's 354. */
void
data_init(struct data_scan *d, bool normalize, data_out_fn out, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->normalize = normalize;
	d->out = out;
	d->arg = arg;
	d->state = DATA_BOL;
	/* The CRLF of the DATA command itself precedes the first line. */
	d->flags = DATA_F_CRLF;
}

static size_t data_scan_body(struct data_scan *d, const char *in, size_t len);

/* Consume DATA input up to and including the terminator; see data.h. */
size_t
data_scan(struct data_scan *d, const char *in, size_t len)
{
	size_t n = data_scan_body(d, in, len);

	/* One more pass over bytes just read (cache-hot): NUL is never
	 * content (RFC 5321 2.3.8), and the terminator holds none. */
	if (!d->nul && n > 0 && memchr(in, '\0', n) != NULL)
		d->nul = true;
	return n;
}

static size_t
data_scan_body(struct data_scan *d, const char *in, size_t len)
{
	const char *p = in, *e = in + len, *run = in, *hold = NULL, *lf = NULL, *cr;
	bool lf_known = false;
	size_t stuffed = 0;

	/*
	 * RUN is the first input byte not yet passed on. HOLD is where the
	 * held-back '.' (and CR) of DATA_DOT/DATA_DOTCR sit in this chunk, or
	 * NULL when they came in an earlier one and are re-created from
	 * literals. LF caches the next LF so that lines full of bare CRs
	 * cannot make the scan quadratic.
	 */
	while (p < e) {
		switch (d->state) {
		case DATA_BOL:
			if (*p == '.') {
				hold = p++;
				d->state = DATA_DOT;
				break;
			}
			d->state = DATA_MID;
			/* FALLTHROUGH */
		case DATA_MID:
			if (!lf_known || (lf != NULL && lf < p)) {
				lf = memchr(p, '\n', e - p);
				lf_known = true;
			}
			cr = memchr(p, '\r', (lf != NULL ? lf : e) - p);
			if (cr != NULL && cr + 1 == lf) {
				p = lf + 1;
				d->flags |= DATA_F_CRLF;
				d->state = DATA_BOL;
			} else if (cr != NULL) {
				p = cr + 1;
				d->state = DATA_CR;
			} else if (lf == NULL) {
				p = e;
			} else {
				/* A bare LF. */
				d->bare = true;
				p = lf;
				if (!d->normalize) {
					p++;
					break;
				}
				data_flush(d, &run, p, &stuffed);
				data_put(d, "\r\n", 2);
				run = ++p;
				d->flags &= ~DATA_F_CRLF;
				d->state = DATA_BOL;
			}
			break;
		case DATA_CR:
			if (*p == '\n') {
				p++;
				d->flags |= DATA_F_CRLF;
				d->state = DATA_BOL;
				break;
			}
			/* A bare CR; it has been passed on already. */
			d->bare = true;
			if (!d->normalize) {
				d->state = DATA_MID;
				break;
			}
			data_flush(d, &run, p, &stuffed);
			data_put(d, "\n", 1);
			d->flags &= ~DATA_F_CRLF;
			d->state = DATA_BOL;
			break;
		case DATA_DOT:
			if (*p == '.') {
				/* Content starting with '.': it stays stuffed. */
				if (hold != NULL)
					stuffed++;
				else
					d->out(d->arg, ".", 1);
				hold = NULL;
				d->state = DATA_MID;
				break;
			}
			if (*p == '\r') {
				if (hold == NULL)
					run = p + 1;
				p++;
				d->state = DATA_DOTCR;
				break;
			}
			if (*p == '\n' && d->normalize) {
				/* "." ended by a bare LF: an empty line. */
				d->bare = true;
				data_flush(d, &run, hold != NULL ? hold : p, &stuffed);
				data_put(d, "\r\n", 2);
				run = ++p;
				hold = NULL;
				d->flags &= ~DATA_F_CRLF;
				d->state = DATA_BOL;
				break;
			}
			/* Any other byte: the dot was stuffing; drop it. */
			data_flush(d, &run, hold != NULL ? hold : p, &stuffed);
			run = p;
			hold = NULL;
			d->state = DATA_MID;
			break;
		case DATA_DOTCR:
			if (*p == '\n' && (d->flags & DATA_F_CRLF)) {
				/* CRLF "." CRLF: the end. */
				p++;
				if (hold != NULL) {
					d->out(d->arg, run, p - run);
					d->size += (size_t)(hold - run) - stuffed;
				} else
					d->out(d->arg, ".\r\n", 3);
				d->done = true;
				d->state = DATA_DONE;
				return p - in;
			}
			data_flush(d, &run, hold != NULL ? hold : p, &stuffed);
			hold = NULL;
			if (*p == '\n') {
				/* "." CRLF after a bare line end: an empty line. */
				data_put(d, "\r\n", 2);
				run = ++p;
				d->flags |= DATA_F_CRLF;
				d->state = DATA_BOL;
				break;
			}
			/* "." and a bare CR: an empty line, or "\r" content. */
			d->bare = true;
			run = p;
			if (d->normalize) {
				data_put(d, "\r\n", 2);
				d->flags &= ~DATA_F_CRLF;
				d->state = DATA_BOL;
			} else {
				data_put(d, "\r", 1);
				d->state = DATA_MID;
			}
			break;
		default: /* DATA_DONE */
			return 0;
		}
	}
	data_flush(d, &run, hold != NULL ? hold : p, &stuffed);
	return len;
}

/* Encode content as a stored body: CRLF line ends, stuffed, ".\r\n". */
void
data_stuff(const char *content, size_t len, data_out_fn out, void *arg)
{
	const char *p = content, *e = content + len, *run = content, *lf = NULL, *cr;
	bool lf_known = false;

	while (p < e) {
		/* P is at the start of a line. */
		if (*p == '.') {
			if (p > run)
				out(arg, run, p - run);
			out(arg, ".", 1);
			run = p;
		}
		if (!lf_known || (lf != NULL && lf < p)) {
			lf = memchr(p, '\n', e - p);
			lf_known = true;
		}
		cr = memchr(p, '\r', (lf != NULL ? lf : e) - p);
		if (cr != NULL && cr + 1 == lf) {
			p = lf + 1;
		} else if (cr != NULL) {
			/* A bare CR ends a line too: the stored form never
			 * holds one (see data_scan()). */
			p = cr + 1;
			out(arg, run, p - run);
			out(arg, "\n", 1);
			run = p;
		} else if (lf != NULL) {
			if (lf > run)
				out(arg, run, lf - run);
			out(arg, "\r\n", 2);
			run = p = lf + 1;
		} else
			p = e;
	}
	if (p > run)
		out(arg, run, p - run);
	if (len > 0 && content[len - 1] != '\n' && content[len - 1] != '\r')
		out(arg, "\r\n", 2);
	out(arg, ".\r\n", 3);
}

/* Decode a stored body to content: unstuff, drop the final "." line. */
void
data_unstuff(const char *body, size_t len, data_out_fn out, void *arg)
{
	const char *p = body, *e = body + len, *run = body, *lf;

	while (p < e) {
		/* P is at the start of a line. */
		if (*p == '.') {
			/* ".\r\n", or a terminator cut short by the end. */
			if (p + 1 == e || (p[1] == '\r' && (p + 2 == e || p[2] == '\n'))) {
				e = p;
				break;
			}
			if (p > run)
				out(arg, run, p - run);
			run = p + 1;
		}
		/* Only CRLF ends a line of a stored body. */
		for (lf = p; (lf = memchr(lf, '\n', e - lf)) != NULL; lf++)
			if (lf > p && lf[-1] == '\r')
				break;
		if (lf == NULL)
			break;
		p = lf + 1;
	}
	if (e > run)
		out(arg, run, e - run);
}

/* Start decoding a stored body in pieces. */
void
data_unstuff_init(struct data_unstuffer *u)
{
	u->bol = true;
	u->cr = false;
}

/* Decode the next piece of a stored body (its final ".\r\n" left out). */
void
data_unstuff_more(struct data_unstuffer *u, const char *in, size_t len, data_out_fn out, void *arg)
{
	const char *p = in, *e = in + len, *run = in, *lf;

	while (p < e) {
		if (u->bol) {
			/* A line's leading '.' is stuffing: drop it. */
			u->bol = false;
			if (*p == '.') {
				if (p > run)
					out(arg, run, p - run);
				run = p + 1;
			}
		}
		if ((lf = memchr(p, '\n', e - p)) == NULL) {
			u->cr = e[-1] == '\r';
			break;
		}
		/* Only CRLF ends a line; the CR may end the previous piece. */
		u->bol = lf > p ? lf[-1] == '\r' : u->cr;
		u->cr = false;
		p = lf + 1;
	}
	if (e > run)
		out(arg, run, e - run);
}
