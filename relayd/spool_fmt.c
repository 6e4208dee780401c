/*
 * spool_fmt.c — the spool's on-disk formats (spool_fmt.h says which).
 *
 * spool_fmt_qid_ok(), spool_fmt_env_encode(), spool_fmt_env_size(),
 * spool_fmt_env_end(), spool_fmt_env_decode(), spool_fmt_env_free(),
 * spool_fmt_state_begin(), spool_fmt_state_rcpt(), spool_fmt_state_open(),
 * spool_fmt_state_next(), spool_fmt_rec_encode(), spool_fmt_rec_decode(),
 * spool_fmt_done_encode(), spool_fmt_done_next(), spool_fmt_buf_free()
 *
 * Each writer sits next to its reader. Readers work on (pointer, length)
 * slices and compare with memcmp(), never with functions that look for a
 * NUL (strtoull(), sscanf()...), so they cannot run past their input; a
 * field is checked against the same alphabet and length its writer keeps
 * to, so what is read can be written again unchanged.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/spool_fmt.h"
#include "smtp/cmd.h"
#include "smtp/reply.h"

_Static_assert(FMT_REPLY_MAX == REPLY_TEXT_MAX - 1, "a reply must fit in a state line");
_Static_assert(CMD_LINE_MAX <= FMT_VALUE_MAX, "an address must fit in a header value");

const char spool_fmt_nomem[] = "out of memory";

static const char env_magic[] = "RELAYD 1\n";
static const char state_magic[] = "RELAYD-STATE ";

/* ---- the growable buffer ---------------------------------------------- */

static int
buf_add(struct fmt_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	if (n != 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
buf_str(struct fmt_buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

static int
buf_printf(struct fmt_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1; /* only numbers are printed this way */
	return buf_add(b, tmp, (size_t)n);
}

void
spool_fmt_buf_free(struct fmt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- fields ----------------------------------------------------------- */

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
is_name(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool
is_relay(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static bool
all(const char *p, size_t n, bool (*ok)(unsigned char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok((unsigned char)p[i]))
			return false;
	return true;
}

static bool
no_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_ctl((unsigned char)p[i]))
			return false;
	return true;
}

bool
spool_fmt_qid_ok(const char *p, size_t n)
{
	if (n != FMT_QID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

/* An enhanced status as relayd keeps it: "D.D.D", 1 to 3 digits a part
 * after the first. */
static bool
status_ok(const char *p, size_t n)
{
	size_t i = 0;

	if (n > FMT_STATUS_MAX || n < 5 || p[0] < '0' || p[0] > '9')
		return false;
	i = 1;
	for (int part = 0; part < 2; part++) {
		if (i >= n || p[i++] != '.')
			return false;
		size_t k = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && k < 4)
			i++, k++;
		if (k < 1 || k > 3)
			return false;
	}
	return i == n;
}

/* The decimal number in the N bytes at P, digits only (leading zeros
 * allowed, at most 20 of them), no more than MAX. */
static bool
num(const char *p, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (x > max / 10 || (x == max / 10 && d > max % 10))
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* The same with an optional '-', within int64_t. */
static bool
snum(const char *p, size_t n, int64_t *v)
{
	uint64_t x;

	if (n > 0 && p[0] == '-') {
		if (!num(p + 1, n - 1, (uint64_t)INT64_MAX + 1, &x))
			return false;
		*v = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
		return true;
	}
	if (!num(p, n, INT64_MAX, &x))
		return false;
	*v = (int64_t)x;
	return true;
}

/* Is the line L (N bytes) KEY followed by a space? Then *V, *VN: the rest. */
static bool
key_is(const char *l, size_t n, const char *key, const char **v, size_t *vn)
{
	size_t k = strlen(key);

	if (n <= k || l[k] != ' ' || memcmp(l, key, k) != 0)
		return false;
	*v = l + k + 1;
	*vn = n - k - 1;
	return true;
}

/* The line at *OFF of BUF (LEN bytes), without its LF; false at the end.
 * A last line without LF counts. */
static bool
next_line(const char *buf, size_t len, size_t *off, const char **line, size_t *n)
{
	if (*off >= len)
		return false;
	const char *p = buf + *off;
	const char *lf = memchr(p, '\n', len - *off);
	*line = p;
	*n = lf ? (size_t)(lf - p) : len - *off;
	*off += *n + (lf != NULL);
	return true;
}

/* ---- the envelope header ---------------------------------------------- */

static const char *
value_check(const char *s, const char *what_ctl, const char *what_long)
{
	size_t n = strlen(s);

	if (n > FMT_VALUE_MAX)
		return what_long;
	if (!no_ctl(s, n))
		return what_ctl;
	return NULL;
}

/* Append E's header to OUT (see spool_fmt.h). */
int
spool_fmt_env_encode(struct fmt_buf *out, const struct fmt_env *e, size_t *size_at,
		     const char **why)
{
	const char *client = e->client ? e->client : "";
	const char *sender = e->sender ? e->sender : "";
	char digits[FMT_SIZE_DIGITS];

	*why = NULL;
	if (!spool_fmt_qid_ok(e->id, strnlen(e->id, sizeof(e->id))))
		*why = "id is not 16 upper-case hex digits";
	else if (e->body < BODY_NONE || e->body > BODY_8BITMIME)
		*why = "body out of range";
	else if (e->nrcpt == 0)
		*why = "no recipient";
	else
		*why = value_check(client, "a control byte in the client name",
				   "client name too long");
	if (*why == NULL)
		*why = value_check(sender, "a control byte in the sender", "sender too long");
	for (size_t i = 0; *why == NULL && i < e->nrcpt; i++) {
		if (e->rcpt[i] == NULL || e->rcpt[i][0] == '\0')
			*why = "empty recipient";
		else
			*why = value_check(e->rcpt[i], "a control byte in a recipient",
					   "recipient too long");
	}
	if (*why != NULL)
		return -1;

	size_t start = out->len;
	spool_fmt_env_size(digits, e->size);
	if (buf_str(out, env_magic) == -1 || buf_str(out, "id ") == -1 ||
	    buf_add(out, e->id, FMT_QID_LEN) == -1 ||
	    buf_printf(out, "\narrival %" PRId64 "\nsize ", e->arrival) == -1)
		goto nomem;
	*size_at = out->len;
	if (buf_add(out, digits, sizeof(digits)) == -1 || buf_str(out, "\nclient ") == -1 ||
	    buf_str(out, client) == -1 ||
	    buf_printf(out, "\nbody %d\nsmtputf8 %d\nfrom ", e->body, e->smtputf8 ? 1 : 0) == -1 ||
	    buf_str(out, sender) == -1 || buf_str(out, "\n") == -1)
		goto nomem;
	for (size_t i = 0; i < e->nrcpt; i++)
		if (buf_str(out, "rcpt ") == -1 || buf_str(out, e->rcpt[i]) == -1 ||
		    buf_str(out, "\n") == -1)
			goto nomem;
	if (buf_str(out, "\n") == -1)
		goto nomem;
	return 0;
nomem:
	out->len = start;
	if (out->p)
		out->p[start] = '\0';
	*why = spool_fmt_nomem;
	return -1;
}

/* Write SIZE as 20 digits at P. */
void
spool_fmt_env_size(char *p, uint64_t size)
{
	for (int i = FMT_SIZE_DIGITS - 1; i >= 0; i--) {
		p[i] = (char)('0' + size % 10);
		size /= 10;
	}
}

/* The header's length through its blank line, or 0. */
size_t
spool_fmt_env_end(const char *buf, size_t len)
{
	const char *end = len >= 2 ? memmem(buf, len, "\n\n", 2) : NULL;

	return end ? (size_t)(end - buf) + 2 : 0;
}

enum { K_ID, K_ARRIVAL, K_SIZE, K_CLIENT, K_BODY, K_SMTPUTF8, K_FROM, K_NKEYS };
static const char *const env_keys[K_NKEYS] = {"id",   "arrival",  "size", "client",
					      "body", "smtputf8", "from"};

/*
 * One pass over the header lines of BUF (HLEN bytes through the blank
 * line). Without STR it checks everything and counts: the recipients into
 * E->nrcpt and the string bytes (NULs included) into *NSTR. With STR (room
 * for *NSTR bytes) and RCPT (for E->nrcpt pointers) it copies the strings
 * there; it then meets only what the first pass accepted.
 */
static const char *
env_scan(const char *buf, size_t hlen, struct fmt_env *e, size_t *nstr, char *str,
	 const char **rcpt)
{
	bool seen[K_NKEYS] = {false};
	size_t off = sizeof(env_magic) - 1, n, vn, nr = 0;
	const char *l, *v;

	while (next_line(buf, hlen, &off, &l, &n) && n > 0) {
		const char *sp = memchr(l, ' ', n);
		if (sp == NULL || sp == l)
			return "bad header: a line without a key and a value";
		for (const char *k = l; k < sp; k++)
			if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
				return "bad header: a key that is not a word";
		v = sp + 1;
		vn = n - (size_t)(v - l);
		if (!no_ctl(v, vn))
			return "bad header: a control byte in a value";
		if (key_is(l, n, "rcpt", &v, &vn)) {
			if (vn == 0)
				return "bad header: an empty recipient";
			if (vn > FMT_VALUE_MAX)
				return "bad header: a recipient too long";
			if (str != NULL) {
				memcpy(str, v, vn);
				str[vn] = '\0';
				rcpt[nr] = str;
				str += vn + 1;
			} else {
				*nstr += vn + 1;
			}
			nr++;
			continue;
		}
		int k;
		for (k = 0; k < K_NKEYS; k++)
			if (key_is(l, n, env_keys[k], &v, &vn))
				break;
		if (k == K_NKEYS)
			continue; /* a newer relayd's */
		if (seen[k])
			return "bad header: a field given twice";
		seen[k] = true;
		uint64_t x;
		switch (k) {
		case K_ID:
			if (!spool_fmt_qid_ok(v, vn))
				return "bad header: id is not 16 upper-case hex digits";
			memcpy(e->id, v, vn);
			e->id[vn] = '\0';
			break;
		case K_ARRIVAL:
			if (!snum(v, vn, &e->arrival))
				return "bad header: arrival is not a number";
			break;
		case K_SIZE:
			if (vn != FMT_SIZE_DIGITS || !num(v, vn, UINT64_MAX, &e->size))
				return "bad header: size is not 20 digits";
			break;
		case K_BODY:
			if (!num(v, vn, BODY_8BITMIME, &x))
				return "bad header: body out of range";
			e->body = (int)x;
			break;
		case K_SMTPUTF8:
			if (!num(v, vn, 1, &x) || vn != 1)
				return "bad header: smtputf8 is not 0 or 1";
			e->smtputf8 = x != 0;
			break;
		case K_CLIENT:
		case K_FROM:
			if (vn > FMT_VALUE_MAX)
				return k == K_FROM ? "bad header: sender too long"
						   : "bad header: client name too long";
			if (str != NULL) {
				memcpy(str, v, vn);
				str[vn] = '\0';
				if (k == K_FROM)
					e->sender = str;
				else
					e->client = str;
				str += vn + 1;
			} else {
				*nstr += vn + 1;
			}
			break;
		}
	}
	if (!seen[K_ID])
		return "bad header: no id";
	if (!seen[K_ARRIVAL])
		return "bad header: no arrival";
	if (!seen[K_FROM])
		return "bad header: no sender";
	if (nr == 0)
		return "bad header: no recipient";
	e->nrcpt = nr;
	if (!seen[K_CLIENT]) {
		if (str != NULL) {
			memcpy(str, "unknown", 8);
			e->client = str;
		} else {
			*nstr += 8;
		}
	}
	return NULL;
}

/* Decode the header at the start of BUF into E. */
int
spool_fmt_env_decode(const char *buf, size_t len, struct fmt_env *e, size_t *hlen, const char **why)
{
	size_t nstr = 0, end = spool_fmt_env_end(buf, len);

	memset(e, 0, sizeof(*e));
	if (end == 0) {
		*why = "truncated header";
		return -1;
	}
	if (end < sizeof(env_magic) - 1 || memcmp(buf, env_magic, sizeof(env_magic) - 1) != 0) {
		*why = "bad header: not \"RELAYD 1\"";
		return -1;
	}
	if ((*why = env_scan(buf, end, e, &nstr, NULL, NULL)) != NULL) {
		memset(e, 0, sizeof(*e));
		return -1;
	}
	size_t nrcpt = e->nrcpt;
	const char **rcpt = malloc(nrcpt * sizeof(*rcpt) + nstr);
	if (rcpt == NULL) {
		memset(e, 0, sizeof(*e));
		*why = spool_fmt_nomem;
		return -1;
	}
	memset(e, 0, sizeof(*e));
	env_scan(buf, end, e, &nstr, (char *)(rcpt + nrcpt), rcpt);
	e->rcpt = rcpt;
	e->mem = rcpt;
	*hlen = end;
	return 0;
}

void
spool_fmt_env_free(struct fmt_env *e)
{
	free(e->mem);
	memset(e, 0, sizeof(*e));
}

/* ---- the state file --------------------------------------------------- */

int
spool_fmt_state_begin(struct fmt_buf *out, bool warned, bool held, const char **why)
{
	if (buf_printf(out, "%s2\nwarned %d\n%s", state_magic, warned ? 1 : 0,
		       held ? "held 1\n" : "") == -1) {
		*why = spool_fmt_nomem;
		return -1;
	}
	return 0;
}

/* Append the N bytes at S, each byte that OK refuses as BAD; "-" for none. */
static int
buf_field(struct fmt_buf *b, const char *s, size_t n, bool (*ok)(unsigned char), char bad)
{
	size_t start = b->len;

	if (n == 0)
		return buf_add(b, "-", 1);
	if (buf_add(b, s, n) == -1)
		return -1;
	for (size_t i = start; i < b->len; i++)
		if (!ok((unsigned char)b->p[i]))
			b->p[i] = bad;
	return 0;
}

static bool
not_ctl(unsigned char c)
{
	return !is_ctl(c);
}

static bool
code_ok(uint64_t code)
{
	return code == 0 || (code >= 200 && code <= 599);
}

/* Append R's line. */
int
spool_fmt_state_rcpt(struct fmt_buf *out, const struct fmt_rcpt *r, const char **why)
{
	size_t start = out->len;
	size_t ns = strnlen(r->status, FMT_STATUS_MAX);

	if (r->state < 0 || r->state > FMT_STATE_MAX) {
		*why = "state out of range";
		return -1;
	}
	if (r->code < 0 || !code_ok((uint64_t)r->code)) {
		*why = "code out of range";
		return -1;
	}
	if (r->cmd < RCMD_NONE || r->cmd > RCMD_LAST) {
		*why = "command out of range";
		return -1;
	}
	if (!status_ok(r->status, ns))
		ns = 0;
	if (buf_printf(out, "r %zu %d %u %" PRId64 " %d %d ", r->idx, r->state, r->attempts,
		       r->next, r->code, r->cmd) == -1 ||
	    buf_field(out, r->status, ns, not_ctl, '?') == -1 || buf_add(out, " ", 1) == -1 ||
	    buf_field(out, r->transport, strnlen(r->transport, FMT_NAME_MAX), is_name, '_') == -1 ||
	    buf_add(out, " ", 1) == -1 ||
	    buf_field(out, r->relay, strnlen(r->relay, FMT_RELAY_MAX), is_relay, '?') == -1 ||
	    buf_add(out, " ", 1) == -1 ||
	    buf_field(out, r->detour, strnlen(r->detour, FMT_NAME_MAX), is_name, '_') == -1 ||
	    buf_add(out, " ", 1) == -1)
		goto nomem;
	size_t rs = out->len, rn = strnlen(r->reply, FMT_REPLY_MAX);
	if (buf_add(out, r->reply, rn) == -1 || buf_add(out, "\n", 1) == -1)
		goto nomem;
	for (size_t i = rs; i < rs + rn; i++)
		if (is_ctl((unsigned char)out->p[i]))
			out->p[i] = '?';
	return 0;
nomem:
	out->len = start;
	if (out->p)
		out->p[start] = '\0';
	*why = spool_fmt_nomem;
	return -1;
}

int
spool_fmt_state_open(struct fmt_state_rd *rd, const char *buf, size_t len, size_t nrcpt,
		     const char **why)
{
	const char *l;
	size_t n, m = sizeof(state_magic) - 1;

	memset(rd, 0, sizeof(*rd));
	rd->buf = buf;
	rd->len = len;
	rd->nrcpt = nrcpt;
	/* The version line must end: a state file is renamed in whole. */
	if (!next_line(buf, len, &rd->off, &l, &n) || rd->off != n + 1 || n < m ||
	    memcmp(l, state_magic, m) != 0) {
		*why = "not a state file";
		return -1;
	}
	rd->line = 1;
	if (n == m + 1 && (l[m] == '1' || l[m] == '2')) {
		rd->version = l[m] - '0';
		return 0;
	}
	*why = "unknown state file version";
	return -1;
}

/* The next space-separated field of the line at *P (up to E); false when
 * the line has ended. */
static bool
field(const char **p, const char *e, const char **f, size_t *n)
{
	if (*p >= e)
		return false;
	const char *sp = memchr(*p, ' ', (size_t)(e - *p));
	*f = *p;
	*n = (size_t)((sp ? sp : e) - *p);
	*p = sp ? sp + 1 : e;
	return true;
}

/* Copy a "-"-or-value field of N bytes at F, each byte OK, into DST. */
static bool
text_field(const char *f, size_t n, size_t max, bool (*ok)(unsigned char), char *dst)
{
	if (n == 1 && f[0] == '-')
		n = 0;
	else if (n == 0 || n > max || !all(f, n, ok))
		return false;
	memcpy(dst, f, n);
	dst[n] = '\0';
	return true;
}

static const char *
rcpt_line(const char *l, size_t n, int version, size_t nrcpt, struct fmt_rcpt *r)
{
	const char *p = l + 2, *e = l + n, *f;
	size_t fn;
	uint64_t x;

	memset(r, 0, sizeof(*r));
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!num(f, fn, SIZE_MAX, &x))
		return "bad recipient index";
	if (x >= nrcpt)
		return "recipient index out of range";
	r->idx = (size_t)x;
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!num(f, fn, FMT_STATE_MAX, &x))
		return "state out of range";
	r->state = (int)x;
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!num(f, fn, UINT32_MAX, &x))
		return "bad attempts";
	r->attempts = (unsigned)x;
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!snum(f, fn, &r->next))
		return "bad next attempt time";
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!num(f, fn, 999, &x) || !code_ok(x))
		return "code out of range";
	r->code = (int)x;
	if (version >= 2) {
		if (!field(&p, e, &f, &fn))
			return "line cut short";
		if (!num(f, fn, UINT32_MAX, &x))
			return "bad command";
		/* A newer relayd's command: unknown, not wrong. */
		r->cmd = x <= RCMD_LAST ? (int)x : RCMD_NONE;
	}
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!((fn == 1 && f[0] == '-') || status_ok(f, fn)) ||
	    !text_field(f, fn, FMT_STATUS_MAX, not_ctl, r->status))
		return "bad status";
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!text_field(f, fn, FMT_NAME_MAX, is_name, r->transport))
		return "bad transport";
	if (!field(&p, e, &f, &fn))
		return "line cut short";
	if (!text_field(f, fn, FMT_RELAY_MAX, is_relay, r->relay))
		return "bad relay";
	/* The detour ends the line, or a space and the reply follow. */
	if (p >= e)
		return "line cut short";
	const char *sp = memchr(p, ' ', (size_t)(e - p));
	f = p;
	fn = (size_t)((sp ? sp : e) - p);
	if (!text_field(f, fn, FMT_NAME_MAX, is_name, r->detour))
		return "bad detour";
	if (sp == NULL)
		return NULL;
	p = sp + 1;
	if ((size_t)(e - p) > FMT_REPLY_MAX)
		return "reply too long";
	if (!no_ctl(p, (size_t)(e - p)))
		return "a control byte in the reply";
	memcpy(r->reply, p, (size_t)(e - p));
	r->reply[e - p] = '\0';
	return NULL;
}

int
spool_fmt_state_next(struct fmt_state_rd *rd, struct fmt_rcpt *r, bool *flag, const char **why)
{
	const char *l;
	size_t n;

	if (!next_line(rd->buf, rd->len, &rd->off, &l, &n))
		return FMT_END;
	rd->line++;
	if (n >= 2 && memcmp(l, "r ", 2) == 0) {
		if ((*why = rcpt_line(l, n, rd->version, rd->nrcpt, r)) != NULL)
			return -1;
		return FMT_RCPT;
	}
	if (n == 8 && memcmp(l, "warned ", 7) == 0 && (l[7] == '0' || l[7] == '1')) {
		*flag = l[7] == '1';
		return FMT_WARNED;
	}
	if (n == 6 && memcmp(l, "held ", 5) == 0 && (l[5] == '0' || l[5] == '1')) {
		*flag = l[5] == '1';
		return FMT_HELD;
	}
	if (n >= 7 && memcmp(l, "warned ", 7) == 0)
		*why = "bad warned line";
	else if (n >= 5 && memcmp(l, "held ", 5) == 0)
		*why = "bad held line";
	else
		*why = "unknown line";
	return -1;
}

/* ---- journal record heads and .done files ----------------------------- */

size_t
spool_fmt_rec_encode(char out[FMT_REC_HEAD_MAX], const char *qid, uint64_t len)
{
	if (!spool_fmt_qid_ok(qid, strnlen(qid, FMT_QID_LEN + 1)) || len > FMT_RECORD_MAX)
		return 0;
	int n = snprintf(out, FMT_REC_HEAD_MAX, "@%s %" PRIu64 "\n", qid, len);
	return n > 0 && n < FMT_REC_HEAD_MAX ? (size_t)n : 0;
}

int
spool_fmt_rec_decode(const char *buf, size_t len, char qid[FMT_QID_LEN + 1], uint64_t *reclen,
		     size_t *headlen, const char **why)
{
	size_t max = len < FMT_REC_HEAD_MAX ? len : FMT_REC_HEAD_MAX;
	const char *lf = max ? memchr(buf, '\n', max) : NULL;

	if (lf == NULL) {
		*why = "no end of line";
		return -1;
	}
	size_t n = (size_t)(lf - buf);
	if (n < 1 || buf[0] != '@') {
		*why = "no '@'";
		return -1;
	}
	if (n < 2 + FMT_QID_LEN || !spool_fmt_qid_ok(buf + 1, FMT_QID_LEN) ||
	    buf[1 + FMT_QID_LEN] != ' ') {
		*why = "bad id";
		return -1;
	}
	const char *d = buf + 2 + FMT_QID_LEN;
	size_t dn = (size_t)(lf - d);
	/* No leading zero: a head reads back only from the bytes written. */
	if (!num(d, dn, UINT64_MAX, reclen) || (dn > 1 && d[0] == '0')) {
		*why = "bad length";
		return -1;
	}
	if (*reclen > FMT_RECORD_MAX) {
		*why = "length out of range";
		return -1;
	}
	memcpy(qid, buf + 1, FMT_QID_LEN);
	qid[FMT_QID_LEN] = '\0';
	*headlen = n + 1;
	return 0;
}

size_t
spool_fmt_done_encode(char out[FMT_QID_LEN + 2], const char *qid)
{
	if (!spool_fmt_qid_ok(qid, strnlen(qid, FMT_QID_LEN + 1)))
		return 0;
	memcpy(out, qid, FMT_QID_LEN);
	out[FMT_QID_LEN] = '\n';
	out[FMT_QID_LEN + 1] = '\0';
	return FMT_QID_LEN + 1;
}

int
spool_fmt_done_next(const char *buf, size_t len, size_t *off, char qid[FMT_QID_LEN + 1],
		    const char **why)
{
	const char *l;
	size_t n;

	if (!next_line(buf, len, off, &l, &n))
		return 0;
	if (!spool_fmt_qid_ok(l, n)) {
		*why = "not an id";
		return -1;
	}
	memcpy(qid, l, FMT_QID_LEN);
	qid[FMT_QID_LEN] = '\0';
	return 1;
}
