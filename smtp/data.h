/*
 * data.h — the body of a message on the wire.
 *
 * data_init()     start scanning DATA input
 * data_scan()     consume input up to and including CRLF.CRLF
 * data_stuff()    encode content as a DATA body (CRLF, dot-stuffed, ".")
 * data_unstuff()  decode a stored DATA body back to content
 * data_unstuff_init(), data_unstuff_more()   the same, in pieces
 *
 * The stored form of a body is its wire form: CRLF line ends, every line
 * that starts with '.' stuffed with one more '.', ending with ".\r\n" after
 * the last CRLF. It is relayed verbatim, so outbound needs no work.
 *
 * Only CRLF "." CRLF ends DATA (where the first CRLF may be the end of the
 * DATA command itself, i.e. the very first line is "."). In
 * BARE_NEWLINE_REJECT mode a bare LF or bare CR anywhere sets ->bare and the
 * bytes are kept as they are; the caller rejects the message. In
 * BARE_NEWLINE_NORMALIZE mode a bare LF and a bare CR each become CRLF (so no
 * downstream that splits lines on either can be smuggled a second message);
 * a "." line reached through a bare LF or CR is content, never the end.
 *
 * A NUL byte anywhere in the body sets ->nul, in both modes; the bytes are
 * kept as they are and the caller rejects the message (a downstream that
 * drops NULs would otherwise read "\r\n\0.\r\n" as the end of data).
 *
 * Lines are unstuffed (one leading '.' removed at each line start) and
 * stuffed again on output, so the output is canonical: the content a
 * downstream server sees is exactly what this server saw.
 */
#ifndef SMTP_DATA_H
#define SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*data_out_fn)(void *arg, const char *buf, size_t len);

struct data_scan {
	/* configuration */
	bool normalize;
	data_out_fn out; /* receives the stored form, in pieces */
	void *arg;
	/* results */
	bool done;     /* CRLF.CRLF seen; ".\r\n" was emitted */
	bool bare;     /* a bare LF or CR was seen (either mode) */
	bool nul;      /* a NUL byte was seen */
	uint64_t size; /* content bytes so far: unstuffed, CRLF line ends,
			   without the final "." line */
	/* private */
	int state;
	int flags;
};

void data_init(struct data_scan *d, bool normalize, data_out_fn out, void *arg);

/* Consume up to LEN bytes of IN. Returns the number consumed: all of them,
 * or fewer when the end of DATA came first (d->done is then set and the
 * rest of IN is the next command). */
size_t data_scan(struct data_scan *d, const char *in, size_t len);

/* Encode CONTENT (LEN bytes; CRLF, bare LF and bare CR all end lines; a
 * missing final line end is added) as a stored body, ".\r\n" included. */
void data_stuff(const char *content, size_t len, data_out_fn out, void *arg);

/* Decode a stored body (with or without its final ".\r\n") to content:
 * one leading '.' removed from each line, the final "." line dropped. */
void data_unstuff(const char *body, size_t len, data_out_fn out, void *arg);

/* Decoding a stored body that comes in pieces (read from a file): */
struct data_unstuffer {
	bool bol; /* the next byte starts a line */
	bool cr;  /* the last byte was a CR */
};

void data_unstuff_init(struct data_unstuffer *u);

/* Decode the next LEN bytes of a stored body whose final ".\r\n" the
 * caller leaves out (it knows the body's length): one leading '.' removed
 * at each line start, lines ending only at CRLF. Pieces may be cut
 * anywhere; their output is what data_unstuff() gives for the whole. */
void data_unstuff_more(struct data_unstuffer *u, const char *in, size_t len, data_out_fn out,
		       void *arg);

#endif
