/*
 * spool_fmt.h — the spool's on-disk formats, encoded and decoded.
 *
 * spool_fmt_qid_ok()        is it a queue id relayd makes
 * spool_fmt_env_encode()    the envelope header of a queue/QID file or record
 * spool_fmt_env_size()      its 20 size digits, written in place later
 * spool_fmt_env_end()       where a header ends (after its blank line)
 * spool_fmt_env_decode()    a header back into a struct fmt_env
 * spool_fmt_env_free()      what a decoded struct fmt_env holds
 * spool_fmt_state_begin()   the first lines of a state file (version 2)
 * spool_fmt_state_rcpt()    one recipient's line of it
 * spool_fmt_state_open()    read a state file's version line
 * spool_fmt_state_next()    its next line: a recipient, the warned or the
 *                           held flag
 * spool_fmt_rec_encode()    a journal record's head "@QID LEN\n"
 * spool_fmt_rec_decode()    and back
 * spool_fmt_done_encode()   a line of log/N.done: "QID\n"
 * spool_fmt_done_next()     its next id
 * spool_fmt_buf_free()      the growable buffer encoders append to
 *
 * The formats (text, one field a line, LF line ends):
 *
 *   envelope header  "RELAYD 1\n" "id QID\n" "arrival SECONDS\n"
 *                    "size DDDDDDDDDDDDDDDDDDDD\n" (20 digits) "client NAME\n"
 *                    "body 0|1|2\n" "smtputf8 0|1\n" "from SENDER\n" (empty
 *                    for <>) "rcpt ADDRESS\n" per recipient, then "\n"; the
 *                    stored body follows. Read back in any order; unknown
 *                    keys (a newer relayd's) are skipped; id, arrival, from
 *                    and a rcpt are needed; client defaults to "unknown",
 *                    size, body and smtputf8 to 0.
 *   state/QID        "RELAYD-STATE 2\n" "warned 0|1\n", "held 1\n" when
 *                    the message is on hold (relayctl hold), then per
 *                    recipient "r IDX STATE ATTEMPTS NEXT CODE CMD STATUS
 *                    TRANSPORT RELAY DETOUR REPLY\n": one space between
 *                    fields, "-" for an empty STATUS, TRANSPORT, RELAY or
 *                    DETOUR (so a value "-" reads back empty), REPLY last up
 *                    to the end of the line (empty: none). "held 0" is read
 *                    too; no held line means not held, so every file
 *                    written before holds existed reads as it did, and a
 *                    message that is not held is written as before (an
 *                    older relayd reads it unchanged; one that meets
 *                    "held 1" skips that line as unknown). Version 1
 *                    ("RELAYD-STATE 1") is the same without CMD, and is
 *                    still read.
 *   record head      "@QID LEN\n", then LEN bytes: a header and stored body.
 *   log/N.done       "QID\n" per finished message of segment N.
 *
 * What a value may hold. An encoder never lets a value break its line:
 *   - header values (client, sender, addresses) with a control byte (C0 or
 *     DEL) or longer than FMT_VALUE_MAX are refused (-1): an address is not
 *     changed behind the sender's back (smtp/cmd.c never accepts one);
 *   - STATUS is kept when it is "D.D.D" (1 to 3 digits a part), else "-";
 *   - TRANSPORT and DETOUR: a byte other than a letter, digit, '_', '.' or
 *     '-' (a relayd.conf name) becomes '_';
 *   - RELAY: a byte outside printable ASCII, or a space, becomes '?';
 *   - REPLY: a C0 control (CR, LF, TAB...) or DEL becomes '?', as
 *     smtp/reply.c does with remote replies; other bytes are kept;
 *   - a field longer than its array in struct fmt_rcpt is cut there.
 * The decoders take exactly these alphabets and lengths and refuse the
 * rest, and further: an id that is not 16 upper-case hex digits, a number
 * out of range (recipient index >= the message's recipients, STATE above
 * FMT_STATE_MAX, CODE other than 0 or 200..599, a record longer than
 * FMT_RECORD_MAX), a header field given twice. An unknown CMD reads as 0
 * (RCMD_NONE): smtp/reply.h's enum only grows.
 *
 * Invariants: no I/O, no globals, no clock. Decoders read only the LEN
 * bytes they are given (no NUL needed after them). What an encoder writes
 * its decoder reads back to the same values, and those encode to the same
 * bytes again; what a decoder accepts encodes to what it reads back alike.
 */
#ifndef RELAYD_SPOOL_FMT_H
#define RELAYD_SPOOL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FMT_QID_LEN 16		 /* "%016" PRIX64 */
#define FMT_SIZE_DIGITS 20	 /* "size" is always this many digits */
#define FMT_VALUE_MAX 512	 /* a header value: an SMTP command line is shorter */
#define FMT_STATE_MAX 3		 /* RCPT_PENDING, RCPT_SENT, RCPT_BOUNCED, RCPT_EXPIRED */
#define FMT_STATUS_MAX 15	 /* "5.123.456" fits; struct qrcpt's status[16] */
#define FMT_NAME_MAX 255	 /* a transport name */
#define FMT_RELAY_MAX 399	 /* "HOST[IP]:PORT", struct dlv's relay[400] */
#define FMT_REPLY_MAX 1023	 /* REPLY_TEXT_MAX - 1 */
#define FMT_RECORD_MAX (1 << 30) /* a journal record: a message kept in memory */
#define FMT_REC_HEAD_MAX 32	 /* "@QID LEN\n" is shorter, its NUL included */

/* A message's envelope. Encoding reads the pointers (client and sender may
 * be NULL for ""); decoding points them into MEM. */
struct fmt_env {
	char id[FMT_QID_LEN + 1];
	int64_t arrival;
	uint64_t size;
	const char *client; /* "HOST[IP]" */
	int body;	    /* BODY_NONE, BODY_7BIT, BODY_8BITMIME (smtp/cmd.h) */
	bool smtputf8;
	const char *sender; /* "" for the null sender */
	const char *const *rcpt;
	size_t nrcpt;
	void *mem; /* decoded: one block holding the strings and RCPT */
};

/* One recipient's progress: a line of state/QID. Empty strings for none. */
struct fmt_rcpt {
	size_t idx; /* its place in the envelope */
	int state;  /* enum rcpt_state (queue.h), 0..FMT_STATE_MAX */
	unsigned attempts;
	int64_t next; /* time of the next attempt */
	int code;     /* the last reply's code, 0: a local reason */
	int cmd;      /* enum reply_cmd: what the last reply answered */
	char status[FMT_STATUS_MAX + 1];
	char transport[FMT_NAME_MAX + 1];
	char relay[FMT_RELAY_MAX + 1];
	char detour[FMT_NAME_MAX + 1];
	char reply[FMT_REPLY_MAX + 1];
};

/* Where the encoders append; free P when done. Start it zeroed. */
struct fmt_buf {
	char *p; /* NUL-terminated beyond LEN */
	size_t len, cap;
};

/* Reading a state file line by line. */
struct fmt_state_rd {
	const char *buf;
	size_t len, off;
	int version;   /* 1 or 2 */
	size_t nrcpt;  /* indexes must be below this */
	unsigned line; /* number of the line last read (1: the version) */
};

enum fmt_item { FMT_END, FMT_RCPT, FMT_WARNED, FMT_HELD };

/* The reason given when memory ran out (compare the pointer). */
extern const char spool_fmt_nomem[];

/* Are the N bytes at P an id relayd makes: 16 upper-case hex digits? */
bool spool_fmt_qid_ok(const char *p, size_t n);

/* Append E's header to OUT; *SIZE_AT is where in OUT its size digits are.
 * -1 with *WHY when a value cannot be written (see above). */
int spool_fmt_env_encode(struct fmt_buf *out, const struct fmt_env *e, size_t *size_at,
			 const char **why);

/* Write SIZE as the header's 20 size digits at P (no NUL). */
void spool_fmt_env_size(char *p, uint64_t size);

/* The length of the header at BUF through its blank line; 0 when the LEN
 * bytes do not hold all of it. */
size_t spool_fmt_env_end(const char *buf, size_t len);

/* Decode the header that starts BUF (LEN bytes, the body after it
 * ignored) into E, *HLEN its length; 0, or -1 with *WHY. On success free
 * E with spool_fmt_env_free(). */
int spool_fmt_env_decode(const char *buf, size_t len, struct fmt_env *e, size_t *hlen,
			 const char **why);

void spool_fmt_env_free(struct fmt_env *e);

/* Append a state file's first lines: the version, the warned flag, and
 * the held line when HELD. */
int spool_fmt_state_begin(struct fmt_buf *out, bool warned, bool held, const char **why);

/* Append recipient R's line (R->idx, not its place in any array); -1 with
 * *WHY when STATE, CODE or CMD is out of range. */
int spool_fmt_state_rcpt(struct fmt_buf *out, const struct fmt_rcpt *r, const char **why);

/* Start reading the state file BUF (LEN bytes) of a message with NRCPT
 * recipients: 0 once its version line was read, -1 with *WHY. */
int spool_fmt_state_open(struct fmt_state_rd *rd, const char *buf, size_t len, size_t nrcpt,
			 const char **why);

/* The next line: FMT_RCPT (*R filled), FMT_WARNED or FMT_HELD (*FLAG set
 * to that flag's value) or FMT_END; -1 with *WHY for a bad line, which is
 * then behind: reading may go on. */
int spool_fmt_state_next(struct fmt_state_rd *rd, struct fmt_rcpt *r, bool *flag, const char **why);

/* Write the head of a record of LEN bytes for QID into OUT; its length,
 * or 0 when QID is not an id or LEN is over FMT_RECORD_MAX. */
size_t spool_fmt_rec_encode(char out[FMT_REC_HEAD_MAX], const char *qid, uint64_t len);

/* Decode the record head that starts BUF (LEN bytes): the id into QID,
 * the record's length into *RECLEN, the head's own (with its LF) into
 * *HEADLEN; 0, or -1 with *WHY. */
int spool_fmt_rec_decode(const char *buf, size_t len, char qid[FMT_QID_LEN + 1], uint64_t *reclen,
			 size_t *headlen, const char **why);

/* Write QID's line of a .done file into OUT; its length, or 0 when QID is
 * not an id. */
size_t spool_fmt_done_encode(char out[FMT_QID_LEN + 2], const char *qid);

/* The next id of the .done file BUF (LEN bytes) from *OFF: 1 with QID
 * set, 0 at the end, -1 with *WHY for a bad line, which is then behind.
 * A last line without its LF counts (appends are not synced). */
int spool_fmt_done_next(const char *buf, size_t len, size_t *off, char qid[FMT_QID_LEN + 1],
			const char **why);

void spool_fmt_buf_free(struct fmt_buf *b);

#endif
