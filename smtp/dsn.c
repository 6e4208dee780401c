/*
 * dsn.c — delivery status notifications: bounces and delay warnings, an
 * RFC 3464 message/delivery-status inside an RFC 6522 multipart/report.
 *
 * dsn_build()   the complete DSN message, headers and body
 *
 * Invariants: whatever bytes the addresses, replies and original headers
 * hold, the output has CRLF line ends only, no NUL, and no line longer than
 * 998 octets (RFC 5322 2.1.1): control characters and invalid UTF-8 become
 * '?', header fields are folded at blanks (hard-folded only when a "word"
 * is longer than a line), the human-readable text is wrapped at 76 columns.
 * The message/delivery-status part is pure ASCII as RFC 3464 wants: a
 * non-ASCII address is written as an RFC 6533 "utf-8" address in its
 * xtext form, non-ASCII reply text as '?'. The MIME boundary occurs in none
 * of the parts. The output is not dot-stuffed.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp/dsn.h"
#include "smtp/utf8.h"

#define DSN_LINE_MAX 998    /* RFC 5322 2.1.1, without the CRLF */
#define DSN_FOLD 78	    /* preferred length of a header line */
#define DSN_HARD 900	    /* where a header "word" longer than a line is cut */
#define DSN_WIDTH 76	    /* columns of the human-readable text */
#define DSN_WORD_MAX 500    /* longer "words" are not URLs: cut them at the width */
#define DSN_BLANKS_MAX 16   /* longer runs of blanks in a field become one */
#define DSN_BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

/* A growable byte buffer; after an allocation failure it only records it. */
struct dbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* How dsn_clean() writes what is not printable ASCII. */
enum dsn_mode {
	DSN_UTF8,  /* well-formed UTF-8 kept (text part, RFC 6532 headers) */
	DSN_ASCII, /* each UTF-8 character becomes '?' (delivery-status text) */
	DSN_XTEXT, /* RFC 6533 utf-8-addr-xtext: "\x{HEX}" (delivery-status address) */
};

static const char *dsn_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *dsn_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void
dbuf_add(struct dbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (n > SIZE_MAX / 4 - b->len) {
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap != 0 ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n != 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
dbuf_str(struct dbuf *b, const char *s)
{
	dbuf_add(b, s, strlen(s));
}

static void dbuf_fmt(struct dbuf *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
dbuf_fmt(struct dbuf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	char small[256];
	char *big;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0)
		b->oom = true;
	else if ((size_t)n < sizeof(small))
		dbuf_add(b, small, n);
	else if ((big = malloc((size_t)n + 1)) == NULL)
		b->oom = true;
	else {
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
		dbuf_add(b, big, n);
		free(big);
	}
	va_end(ap2);
	va_end(ap);
}

/* Empty B for reuse (its memory is kept). */
static void
dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* B's text; after an allocation failure, whatever: the caller sees oom. */
static const char *
dbuf_text(const struct dbuf *b)
{
	return b->p != NULL && !b->oom ? b->p : "";
}

static const char *
dsn_str(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * Append N bytes of S as safe text: each control character (C0, DEL, C1)
 * and each byte of invalid UTF-8 becomes '?', so no CR, LF or NUL gets
 * through. With BLANKS, a run of more than DSN_BLANKS_MAX spaces becomes
 * one, so that folding never has to leave a line of blanks alone.
 */
static void
dsn_clean(struct dbuf *b, const char *s, size_t n, enum dsn_mode mode, bool blanks)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long cp;
	size_t i = 0, k, run;

	while (i < n) {
		if (u[i] == ' ' && blanks) {
			for (run = 0; i + run < n && u[i + run] == ' '; run++)
				;
			dbuf_add(b, s + i, run > DSN_BLANKS_MAX ? 1 : run);
			i += run;
		} else if (mode == DSN_XTEXT &&
			   (u[i] == ' ' || u[i] == '+' || u[i] == '=' || u[i] == '\\')) {
			dbuf_fmt(b, "\\x{%02X}", u[i]);
			i++;
		} else if (u[i] >= 0x20 && u[i] < 0x7f) {
			dbuf_add(b, s + i, 1);
			i++;
		} else if (u[i] >= 0x80 && (k = utf8_seq(u + i, n - i, &cp)) != 0) {
			if (cp < 0xa0 || mode == DSN_ASCII)
				dbuf_add(b, "?", 1);
			else if (mode == DSN_XTEXT)
				dbuf_fmt(b, "\\x{%lX}", cp);
			else
				dbuf_add(b, s + i, k);
			i += k;
		} else {
			dbuf_add(b, "?", 1);
			i++;
		}
	}
}

/* Whether N bytes of S hold anything but ASCII. */
static bool
dsn_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* Columns taken by N bytes of clean UTF-8 (one per character). */
static size_t
dsn_cols(const char *s, size_t n)
{
	size_t i, cols = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			cols++;
	return cols;
}

/* RFC 5322 date-time in UTC: "Tue, 14 Nov 2023 22:13:20 +0000". */
static void
dsn_date(char *out, size_t size, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", dsn_days[tm.tm_wday % 7],
		 tm.tm_mday, dsn_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

/* "3 days 4 hours", "25 minutes": how long SECS is, for people. */
static void
dsn_duration(char *out, size_t size, time_t secs)
{
	long d, h, m;

	if (secs < 0)
		secs = 0;
	d = secs / 86400;
	h = secs % 86400 / 3600;
	m = secs % 3600 / 60;
	if (d > 0 && h > 0)
		snprintf(out, size, "%ld day%s %ld hour%s", d, d == 1 ? "" : "s", h,
			 h == 1 ? "" : "s");
	else if (d > 0)
		snprintf(out, size, "%ld day%s", d, d == 1 ? "" : "s");
	else if (h > 0)
		snprintf(out, size, "%ld hour%s", h, h == 1 ? "" : "s");
	else
		snprintf(out, size, "%ld minute%s", m, m == 1 ? "" : "s");
}

/*
 * Append the logical header line L (N bytes, clean: no CR or LF, runs of
 * blanks bounded) folded per RFC 5322 2.2.3: CRLF goes in before a blank,
 * so that unfolding gives L back; lines are kept to DSN_FOLD octets when
 * a blank allows, always to DSN_LINE_MAX. A word longer than a line is cut
 * with CRLF SP, the only place where unfolding adds a space.
 */
static void
dsn_fold(struct dbuf *b, const char *l, size_t n)
{
	size_t s = 0, i, brk, lead = 0;
	bool word;

	while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	while (lead + n - s > DSN_FOLD) {
		brk = 0;
		word = false;
		for (i = s; i < n && lead + i - s <= DSN_LINE_MAX; i++) {
			if (l[i] != ' ' && l[i] != '\t') {
				word = true;
				continue;
			}
			if (!word)
				continue;
			if (lead + i - s <= DSN_FOLD || brk == 0)
				brk = i;
			if (lead + i - s >= DSN_FOLD)
				break;
		}
		if (brk != 0) {
			dbuf_add(b, l + s, brk - s);
			dbuf_add(b, "\r\n", 2);
			s = brk;
			lead = 0;
			continue;
		}
		if (lead + n - s <= DSN_LINE_MAX)
			break;
		brk = s + DSN_HARD;
		while (brk > s + 1 && ((unsigned char)l[brk] & 0xc0) == 0x80)
			brk--;
		dbuf_add(b, l + s, brk - s);
		dbuf_add(b, "\r\n ", 3);
		s = brk;
		lead = 1;
	}
	dbuf_add(b, l + s, n - s);
	dbuf_add(b, "\r\n", 2);
}

/*
 * Append the header field "NAME: VALUE" folded; VALUE is cleaned with
 * MODE. A field that is already clean can be given with MODE DSN_UTF8.
 */
static void
dsn_field(struct dbuf *b, const char *name, const char *value, enum dsn_mode mode)
{
	struct dbuf l = {0};

	dbuf_str(&l, name);
	dbuf_add(&l, ": ", 2);
	dsn_clean(&l, value, strlen(value), mode, true);
	if (l.oom)
		b->oom = true;
	else
		dsn_fold(b, l.p, l.len);
	free(l.p);
}

/*
 * Append TEXT as lines of at most DSN_WIDTH columns, the first starting
 * with FIRST and the others with INDENT (both short). TEXT is cleaned
 * first. Blanks where a line is broken are dropped; a word longer than
 * DSN_WORD_MAX bytes is cut at the width, so no line nears DSN_LINE_MAX.
 */
static void
dsn_wrap(struct dbuf *b, const char *first, const char *indent, const char *text)
{
	struct dbuf c = {0};
	const char *t;
	size_t col, sp, w, wcols, take, tcols, icols = dsn_cols(indent, strlen(indent));
	bool any = false;

	dsn_clean(&c, text, strlen(text), DSN_UTF8, false);
	if (c.oom) {
		b->oom = true;
		return;
	}
	dbuf_str(b, first);
	col = dsn_cols(first, strlen(first));
	for (t = dbuf_text(&c); *t != '\0'; any = true) {
		for (sp = 0; t[sp] == ' '; sp++)
			;
		t += sp;
		if (*t == '\0')
			break;
		for (w = 0; t[w] != '\0' && t[w] != ' '; w++)
			;
		wcols = dsn_cols(t, w);
		if (any && col + sp + wcols > DSN_WIDTH) {
			dbuf_add(b, "\r\n", 2);
			dbuf_str(b, indent);
			col = icols;
		} else if (any) {
			col += sp;
			while (sp-- > 0)
				dbuf_add(b, " ", 1);
		}
		if (w <= DSN_WORD_MAX) {
			dbuf_add(b, t, w);
			col += wcols;
			t += w;
			continue;
		}
		while (w > 0) {
			/* Up to the width, at least one character, whole characters. */
			for (take = 0, tcols = 0; take < w; take++) {
				if (((unsigned char)t[take] & 0xc0) == 0x80)
					continue;
				if (tcols > 0 && col + tcols >= DSN_WIDTH)
					break;
				tcols++;
			}
			dbuf_add(b, t, take);
			t += take;
			w -= take;
			col += tcols;
			if (w > 0) {
				dbuf_add(b, "\r\n", 2);
				dbuf_str(b, indent);
				col = icols;
			}
		}
	}
	dbuf_add(b, "\r\n", 2);
	free(c.p);
}

/*
 * Append the original header section: each line end (CRLF, LF or a bare
 * CR) made CRLF, NUL made '?', a line longer than DSN_LINE_MAX folded with
 * CRLF SP (at a character boundary), and nothing from the first empty line
 * on (that is the body).
 */
static void
dsn_orig_headers(struct dbuf *b, const char *h, size_t n)
{
	size_t i = 0, e, k, cut, lead;

	while (i < n) {
		for (e = i; e < n && h[e] != '\r' && h[e] != '\n'; e++)
			;
		if (e == i)
			break;
		for (lead = 0; i < e; lead = 1) {
			cut = e;
			if (lead + e - i > DSN_LINE_MAX) {
				cut = i + DSN_HARD;
				while (cut > i + 1 && ((unsigned char)h[cut] & 0xc0) == 0x80)
					cut--;
			}
			for (; i < cut; i = k) {
				for (k = i; k < cut && h[k] != '\0'; k++)
					;
				dbuf_add(b, h + i, k - i);
				if (k < cut) {
					dbuf_add(b, "?", 1);
					k++;
				}
			}
			dbuf_add(b, i < e ? "\r\n " : "\r\n", i < e ? 3 : 2);
		}
		if (e < n)
			i = e + 1 < n && h[e] == '\r' && h[e + 1] == '\n' ? e + 2 : e + 1;
	}
}

/* The human-readable first part. */
static void
dsn_text(struct dbuf *b, const struct dsn_msg *m)
{
	struct dbuf l = {0};
	const struct dsn_rcpt *r;
	char when[64], dur[64];
	size_t i;

	dbuf_str(&l, "This is the mail system at host ");
	dbuf_str(&l, dsn_str(m->hostname));
	dbuf_str(&l, ".");
	dsn_wrap(b, "", "", dbuf_text(&l));
	dbuf_add(b, "\r\n", 2);
	dsn_duration(dur, sizeof(dur), m->now - m->arrival);
	if (m->delay) {
		dbuf_str(b,
			 "####################################################################\r\n"
			 "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
			 "####################################################################\r\n"
			 "\r\n");
		dbuf_reset(&l);
		dbuf_fmt(&l,
			 "Your message has not yet been delivered to one or more recipients: it "
			 "has been waiting for %s.",
			 dur);
		if (m->retry_until != 0) {
			dsn_date(when, sizeof(when), m->retry_until);
			dbuf_fmt(&l, " The mail system will keep trying until %s; if it", when);
		} else
			dbuf_str(&l, " The mail system will keep trying to deliver it; if it");
		dbuf_str(&l,
			 " still fails then, the message comes back to you with a final report. "
			 "The headers of your message are attached below.");
	} else {
		dbuf_reset(&l);
		dbuf_str(&l, "I'm sorry to have to inform you that your message could not be "
			     "delivered to one or more recipients. The headers of your message are "
			     "attached below.");
	}
	dsn_wrap(b, "", "", dbuf_text(&l));
	dbuf_add(b, "\r\n", 2);
	dsn_wrap(b, "", "",
		 "For further assistance, please send mail to postmaster. If you do so, please "
		 "include this problem report.");
	dbuf_str(b, "\r\n                   The mail system\r\n");

	for (i = 0; i < m->nrcpt; i++) {
		r = &m->rcpt[i];
		dbuf_add(b, "\r\n", 2);
		dbuf_reset(&l);
		dbuf_fmt(&l, "<%s>%s", dsn_str(r->addr),
			 r->delayed ? " (still being retried)" : "");
		dsn_wrap(b, "", "    ", dbuf_text(&l));

		dbuf_reset(&l);
		if (r->remote_host != NULL && r->remote_ip != NULL)
			dbuf_fmt(&l, "Remote host: %s [%s]", r->remote_host, r->remote_ip);
		else if (r->remote_host != NULL || r->remote_ip != NULL)
			dbuf_fmt(&l, "Remote host: %s",
				 r->remote_host != NULL ? r->remote_host : r->remote_ip);
		else
			dbuf_str(&l, "Remote host: none, no connection was made");
		dsn_wrap(b, "    ", "      ", dbuf_text(&l));

		dbuf_reset(&l);
		dbuf_fmt(&l, "%s: %s", r->reply_is_smtp ? "Remote reply" : "Reason",
			 r->reply != NULL ? r->reply : "unknown");
		if (r->reply_is_smtp && r->in_reply_to != NULL)
			dbuf_fmt(&l, " (%s)", r->in_reply_to);
		dsn_wrap(b, "    ", "      ", dbuf_text(&l));

		if (r->label != NULL || r->explain != NULL) {
			dbuf_reset(&l);
			dbuf_str(&l, "What it most likely means");
			if (r->label != NULL && r->explain != NULL)
				dbuf_fmt(&l, " (%s)", r->label);
			dbuf_fmt(&l, ": %s", r->explain != NULL ? r->explain : r->label);
			dsn_wrap(b, "    ", "      ", dbuf_text(&l));
		}
		if (!r->delayed && r->status != NULL && r->status[0] == '4') {
			dbuf_reset(&l);
			dbuf_fmt(&l,
				 "Gave up: your message could not be delivered for %s, which is "
				 "as long as this mail system keeps trying. It will not be "
				 "delivered; if it still matters, send it again later or reach "
				 "the recipient another way.",
				 dur);
			dsn_wrap(b, "    ", "      ", dbuf_text(&l));
		}
	}
	if (l.oom)
		b->oom = true;
	free(l.p);
}

/*
 * Whether S is an RFC 3463 status "C.SSS.DDD" of class 4 or 5, the only
 * ones a failure or a delay can have; anything else would make the report
 * unparsable, so the caller's garbage is replaced by X.0.0.
 */
static bool
dsn_status_ok(const char *s)
{
	int part;
	size_t n;

	if (s == NULL || (*s != '4' && *s != '5'))
		return false;
	for (s++, part = 0; part < 2; part++) {
		if (*s++ != '.')
			return false;
		for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
			;
		if (n == 0 || n > 3)
			return false;
		s += n;
	}
	return *s == '\0';
}

/* The message/delivery-status part (RFC 3464 2.1), ASCII only. */
static void
dsn_status(struct dbuf *b, const struct dsn_msg *m)
{
	struct dbuf l = {0};
	const struct dsn_rcpt *r;
	const char *status;
	char date[64];
	size_t i;

	dbuf_fmt(&l, "dns; %s", dsn_str(m->hostname));
	dsn_field(b, "Reporting-MTA", dbuf_text(&l), DSN_ASCII);
	dsn_field(b, "X-Relayd-Queue-ID", dsn_str(m->qid), DSN_ASCII);
	dsn_date(date, sizeof(date), m->arrival);
	dsn_field(b, "Arrival-Date", date, DSN_UTF8);

	for (i = 0; i < m->nrcpt; i++) {
		r = &m->rcpt[i];
		dbuf_add(b, "\r\n", 2);

		dbuf_reset(&l);
		if (dsn_8bit(dsn_str(r->addr), strlen(dsn_str(r->addr)))) {
			dbuf_str(&l, "Final-Recipient: utf-8; ");
			dsn_clean(&l, r->addr, strlen(r->addr), DSN_XTEXT, false);
		} else {
			dbuf_str(&l, "Final-Recipient: rfc822; ");
			dsn_clean(&l, dsn_str(r->addr), strlen(dsn_str(r->addr)), DSN_ASCII, true);
		}
		dsn_fold(b, dbuf_text(&l), l.oom ? 0 : l.len);

		dsn_field(b, "Action", r->delayed ? "delayed" : "failed", DSN_UTF8);
		if (dsn_status_ok(r->status))
			status = r->status;
		else
			status = r->delayed ? "4.0.0" : "5.0.0";
		dsn_field(b, "Status", status, DSN_ASCII);

		if (r->remote_host != NULL || r->remote_ip != NULL) {
			dbuf_reset(&l);
			if (r->remote_host != NULL)
				dbuf_fmt(&l, "dns; %s", r->remote_host);
			else
				dbuf_fmt(&l, "dns; [%s]", r->remote_ip);
			dsn_field(b, "Remote-MTA", dbuf_text(&l), DSN_ASCII);
		}

		dbuf_reset(&l);
		dbuf_fmt(&l, "%s; %s", r->reply_is_smtp ? "smtp" : "X-Relayd",
			 r->reply != NULL ? r->reply : "unknown");
		dsn_field(b, "Diagnostic-Code", dbuf_text(&l), DSN_ASCII);

		if (r->last_attempt != 0) {
			dsn_date(date, sizeof(date), r->last_attempt);
			dsn_field(b, "Last-Attempt-Date", date, DSN_UTF8);
		}
		if (r->delayed && m->retry_until != 0) {
			dsn_date(date, sizeof(date), m->retry_until);
			dsn_field(b, "Will-Retry-Until", date, DSN_UTF8);
		}
	}
	if (l.oom)
		b->oom = true;
	free(l.p);
}

/* Whether BOUNDARY occurs in any of the N parts. */
static bool
dsn_boundary_used(const char *boundary, struct dbuf *parts, size_t n)
{
	size_t i, blen = strlen(boundary);

	for (i = 0; i < n; i++)
		if (parts[i].p != NULL && memmem(parts[i].p, parts[i].len, boundary, blen) != NULL)
			return true;
	return false;
}

/*
 * A boundary made of the queue id, the unique number, the time and the
 * host name (bchars only), that occurs in none of the N parts: a number is
 * appended until it does not.
 */
static void
dsn_boundary(char *out, size_t size, const struct dsn_msg *m, struct dbuf *parts, size_t n)
{
	char base[DSN_BOUNDARY_MAX - 21]; /* room for ".N" */
	unsigned long k;
	size_t i;

	snprintf(base, sizeof(base), "%s.%lu.%lld/%s", dsn_str(m->qid), m->unique,
		 (long long)m->now, dsn_str(m->hostname));
	for (i = 0; base[i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			   "'()+_,-./:=?",
			   base[i]) == NULL)
			base[i] = '_';
	snprintf(out, size, "%s", base);
	for (k = 1; dsn_boundary_used(out, parts, n); k++)
		snprintf(out, size, "%s.%lu", base, k);
}

/* Whether C may stay in the Message-ID's left part (not locale dependent). */
static bool
dsn_idchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/* The whole bounce or delay DSN; malloc'd, *LEN bytes, or NULL. */
char *
dsn_build(const struct dsn_msg *m, size_t *len)
{
	struct dbuf out = {0}, parts[3] = {{0}}, l = {0};
	const char *hostname = dsn_str(m->hostname), *h;
	const char *cte[3];
	char boundary[DSN_BOUNDARY_MAX + 1], date[64];
	bool eightbit = false;
	size_t i;

	dsn_text(&parts[0], m);
	dsn_status(&parts[1], m);
	if (m->headers != NULL)
		dsn_orig_headers(&parts[2], m->headers, m->headers_len);
	for (i = 0; i < 3; i++) {
		cte[i] = parts[i].p != NULL && dsn_8bit(parts[i].p, parts[i].len) ? "8bit" : "7bit";
		eightbit |= cte[i][0] == '8';
	}
	dsn_boundary(boundary, sizeof(boundary), m, parts, 3);

	dbuf_str(&l, "Mail Delivery System <MAILER-DAEMON@");
	dbuf_str(&l, hostname);
	dbuf_str(&l, ">");
	dsn_field(&out, "From", dbuf_text(&l), DSN_UTF8);
	dbuf_reset(&l);
	dbuf_fmt(&l, "<%s>", dsn_str(m->sender));
	dsn_field(&out, "To", dbuf_text(&l), DSN_UTF8);
	dsn_field(&out, "Subject",
		  m->delay ? "Delayed Mail (still being retried)"
			   : "Undelivered Mail Returned to Sender",
		  DSN_UTF8);
	dsn_date(date, sizeof(date), m->now);
	dsn_field(&out, "Date", date, DSN_UTF8);
	dbuf_reset(&l);
	dbuf_add(&l, "<", 1);
	for (h = dsn_str(m->qid); *h != '\0'; h++) /* keep the left part a dot-atom */
		dbuf_add(&l, dsn_idchar(*h) ? h : "_", 1);
	dbuf_fmt(&l, ".%lu.dsn@%s>", m->unique, hostname);
	dsn_field(&out, "Message-ID", dbuf_text(&l), DSN_ASCII);
	dsn_field(&out, "MIME-Version", "1.0", DSN_UTF8);
	dsn_field(&out, "Auto-Submitted", "auto-replied", DSN_UTF8);
	dbuf_reset(&l);
	dbuf_fmt(&l, "multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary);
	dsn_field(&out, "Content-Type", dbuf_text(&l), DSN_UTF8);
	if (eightbit)
		dsn_field(&out, "Content-Transfer-Encoding", "8bit", DSN_UTF8);
	dbuf_str(&out, "\r\nThis is a MIME-encapsulated message.\r\n");

	dbuf_fmt(&out,
		 "\r\n--%s\r\n"
		 "Content-Description: Notification\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n"
		 "Content-Transfer-Encoding: %s\r\n\r\n",
		 boundary, cte[0]);
	dbuf_add(&out, parts[0].p, parts[0].len);
	dbuf_fmt(&out,
		 "\r\n--%s\r\n"
		 "Content-Description: Delivery report\r\n"
		 "Content-Type: message/delivery-status\r\n\r\n",
		 boundary);
	dbuf_add(&out, parts[1].p, parts[1].len);
	dbuf_fmt(&out,
		 "\r\n--%s\r\n"
		 "Content-Description: Undelivered Message Headers\r\n"
		 "Content-Type: text/rfc822-headers\r\n"
		 "Content-Transfer-Encoding: %s\r\n\r\n",
		 boundary, cte[2]);
	dbuf_add(&out, parts[2].p, parts[2].len);
	dbuf_fmt(&out, "\r\n--%s--\r\n", boundary);

	for (i = 0; i < 3; i++) {
		out.oom |= parts[i].oom;
		free(parts[i].p);
	}
	out.oom |= l.oom;
	free(l.p);
	if (out.oom) {
		free(out.p);
		return NULL;
	}
	*len = out.len;
	return out.p;
}
