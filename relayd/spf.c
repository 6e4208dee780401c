/*
 * spf.c — RFC 7208 check_host() as a state machine (spf.h).
 *
 * spf_new(), spf_set_receiver(), spf_step(), spf_answer(), spf_result(),
 * spf_strresult(), spf_mechanism(), spf_explanation(), spf_expand(),
 * spf_free()
 *
 * A selected record is parsed whole into a frame, every term checked
 * before any is evaluated (4.6: a syntax error anywhere is a permerror).
 * An include pushes a frame; a redirect replaces the frame it ends (its
 * result is that frame's), so the bottom frame is always the record
 * whose exp= explains a fail (6.2). Errors end the whole evaluation at
 * once: a temperror or permerror inside an include is the result.
 *
 * spf_step() runs the machine until it asks a query (pending) or is done;
 * spf_answer() consumes the answer in the state that asked, copying what
 * it keeps (MX hosts, PTR names, the exp= text).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "relayd/spf.h"

#define SPF_MAX_LOOKUPS 10 /* terms that query DNS, 4.6.4 */
#define SPF_MAX_VOID 2
#define SPF_MAX_MX 10
#define SPF_MAX_PTR 10
#define SPF_MAX_FRAMES (SPF_MAX_LOOKUPS + 1) /* each include is a lookup */
#define SPF_NAME_MAX 256		     /* a name (253 at most) and its NUL */
#define SPF_WHY_MAX 512
#define SPF_EXPAND_MAX 8192 /* a longer expansion is no name */

enum spf_kind {
	K_ALL,
	K_INCLUDE,
	K_A,
	K_MX,
	K_PTR,
	K_IP4,
	K_IP6,
	K_EXISTS,
	K_REDIRECT,
	K_EXP,
	K_UNKNOWN, /* a modifier we ignore */
};

static const struct {
	const char *name;
	enum spf_kind kind;
} mechanisms[] = {
	{"all", K_ALL}, {"include", K_INCLUDE}, {"a", K_A},	{"mx", K_MX},
	{"ptr", K_PTR}, {"ip4", K_IP4},		{"ip6", K_IP6}, {"exists", K_EXISTS},
};

struct spf_term {
	const char *text; /* as written, qualifier included */
	const char *spec; /* domain-spec (or modifier value); NULL: <domain> */
	enum spf_kind kind;
	enum spf_result qual;
	unsigned cidr4, cidr6;
	struct in_addr net4;
	struct in6_addr net6;
};

struct spf_frame {
	char domain[SPF_NAME_MAX];
	char opener[SPF_NAME_MAX]; /* the include or redirect that led here */
	char *buf;		   /* the terms as written, then a copy cut up */
	struct spf_term *terms;
	size_t nterms, next;
	int redirect, exp; /* the modifiers' indexes in terms, or -1 */
};

enum spf_state {
	ST_RECORD, /* fetch the top frame's record */
	ST_RECORD_ANS,
	ST_TERM,   /* evaluate the top frame's next term */
	ST_TARGET, /* the current term is counted: its target, its query */
	ST_A_ANS,
	ST_MX_ANS,
	ST_MX_HOST, /* the addresses of the next MX host */
	ST_MX_HOST_ANS,
	ST_EXISTS_ANS,
	ST_PTR_MATCH,
	ST_VALIDATE_ANS, /* the PTR names of <ip>, for ptr and %{p} */
	ST_VALIDATE_NAME,
	ST_VALIDATE_NAME_ANS,
	ST_EXP, /* a fail with exp=: its TXT record */
	ST_EXP_ANS,
	ST_EXP_TEXT,
	ST_DONE,
};

struct spf {
	int family; /* AF_INET (also for a mapped address) or AF_INET6 */
	struct in_addr ip4;
	struct in6_addr ip6;
	char *sender, *local, *odomain, *helo;
	char receiver[SPF_NAME_MAX];
	time_t now;

	enum spf_state state;
	enum spf_state ret; /* where validation returns to */
	bool pending;	    /* the query below is asked, not yet answered */
	enum spf_rrtype qtype;
	char qname[SPF_NAME_MAX];

	struct spf_frame frames[SPF_MAX_FRAMES];
	size_t depth;		    /* frames in use; the top one is evaluated */
	const struct spf_term *cur; /* the term looking something up */
	char target[SPF_NAME_MAX];  /* its expanded target */
	unsigned lookups, voids;

	char mx[SPF_MAX_MX][SPF_NAME_MAX];
	size_t nmx, mxi;

	bool validated; /* ptr[] holds the first PTR names, ptrok[] which are valid */
	char ptr[SPF_MAX_PTR][SPF_NAME_MAX];
	bool ptrok[SPF_MAX_PTR];
	size_t nptr, ptri;

	char *exptext, *explanation;
	enum spf_result result;
	char why[SPF_WHY_MAX];
};

/* Output of a macro expansion; P NULL: syntax check only. */
struct xbuf {
	char *p;
	size_t n, cap;
	bool over; /* truncated */
};

/* What a syntax pass found. */
struct mscan {
	size_t lastend; /* where the last macro-expand ended, SIZE_MAX: none */
	bool uses_p;
};

#define M_EXP 0x1 /* an explanation: spaces, and c, r, t */
#define M_ANY 0x2 /* an unknown modifier's value: any letter, never expanded */

static struct spf_frame *
top(struct spf *s)
{
	return &s->frames[s->depth - 1];
}

static enum spf_rrtype
addr_type(const struct spf *s)
{
	return s->family == AF_INET ? SPF_RR_A : SPF_RR_AAAA;
}

static const char *
rrname(enum spf_rrtype t)
{
	static const char *const names[] = {"TXT", "A", "AAAA", "MX", "PTR"};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *
spf_strresult(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "unknown";
}

/* --- macros (7) --- */

static void
xput(struct xbuf *b, const char *s, size_t n)
{
	if (b == NULL || b->p == NULL)
		return;
	if (n >= b->cap - b->n) {
		b->over = true;
		n = b->cap - b->n - 1;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Puts S (N bytes), URL-escaped when ESC (7.3: uppercase macro letters). */
static void
xput_esc(struct xbuf *b, const char *s, size_t n, bool esc)
{
	if (!esc) {
		xput(b, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			xput(b, s + i, 1);
		} else {
			char hex[4];
			snprintf(hex, sizeof(hex), "%%%02X", c);
			xput(b, hex, 3);
		}
	}
}

/* V split on DELIMS (default "."), reversed when REV, its KEEP rightmost
 * parts (0: all), joined with "." (7.3). */
static void
macro_put(struct xbuf *b, const char *v, unsigned keep, bool rev, const char *delims, bool esc)
{
	if (*delims == '\0')
		delims = ".";
	size_t n = 1;
	for (const char *q = v; *q; q++)
		if (strchr(delims, *q))
			n++;
	const char **part = malloc(n * sizeof(*part));
	size_t *len = malloc(n * sizeof(*len));
	if (part == NULL || len == NULL) {
		free(part);
		free(len);
		b->over = true;
		return;
	}
	size_t k = 0;
	part[0] = v;
	for (const char *q = v;; q++) {
		if (*q == '\0' || strchr(delims, *q)) {
			len[k] = (size_t)(q - part[k]);
			if (*q == '\0')
				break;
			part[++k] = q + 1;
		}
	}
	size_t first = keep > 0 && keep < n ? n - keep : 0;
	for (size_t j = first; j < n; j++) {
		size_t i = rev ? n - 1 - j : j;
		if (j > first)
			xput(b, ".", 1);
		xput_esc(b, part[i], len[i], esc);
	}
	free(part);
	free(len);
}

/* <ip> as the i macro writes it: dotted quad, or 32 dotted nibbles. */
static void
ip_dotted(const struct spf *s, char *buf, size_t len)
{
	if (s->family == AF_INET) {
		inet_ntop(AF_INET, &s->ip4, buf, (socklen_t)len);
		return;
	}
	size_t o = 0;
	for (int i = 0; i < 16 && o + 4 < len; i++) {
		o += (size_t)snprintf(buf + o, len - o, "%s%x.%x", i ? "." : "",
				      s->ip6.s6_addr[i] >> 4, s->ip6.s6_addr[i] & 15);
	}
}

/* The name a PTR query of <ip> asks. */
static void
ip_reverse(const struct spf *s, char *buf, size_t len)
{
	const unsigned char *b;
	if (s->family == AF_INET) {
		b = (const unsigned char *)&s->ip4;
		snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return;
	}
	b = s->ip6.s6_addr;
	size_t o = 0;
	for (int i = 15; i >= 0 && o + 4 < len; i--)
		o += (size_t)snprintf(buf + o, len - o, "%x.%x.", b[i] & 15, b[i] >> 4);
	snprintf(buf + o, len - o, "ip6.arpa");
}

/* NAME is DOMAIN or one of its subdomains (case-insensitively). */
static bool
name_under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	if (n == d)
		return strcasecmp(name, domain) == 0;
	return n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, domain) == 0;
}

/* %{p}: a validated name of <ip>, DOMAIN itself or a subdomain of it
 * preferred (7.3), or "unknown". */
static const char *
ptr_choose(const struct spf *s, const char *domain)
{
	const char *sub = NULL, *any = NULL;
	for (size_t i = 0; i < s->nptr; i++) {
		if (!s->ptrok[i])
			continue;
		if (strcasecmp(s->ptr[i], domain) == 0)
			return s->ptr[i];
		if (sub == NULL && name_under(s->ptr[i], domain))
			sub = s->ptr[i];
		if (any == NULL)
			any = s->ptr[i];
	}
	return sub ? sub : any ? any : "unknown";
}

static const char *
macro_value(const struct spf *s, const char *domain, int letter, char *tmp, size_t len)
{
	switch (letter) {
	case 's':
		return s->sender;
	case 'l':
		return s->local;
	case 'o':
		return s->odomain;
	case 'd':
		return domain;
	case 'i':
		ip_dotted(s, tmp, len);
		return tmp;
	case 'p':
		return ptr_choose(s, domain);
	case 'v':
		return s->family == AF_INET ? "in-addr" : "ip6";
	case 'h':
		return s->helo ? s->helo : "unknown";
	case 'c':
		if (s->family == AF_INET)
			inet_ntop(AF_INET, &s->ip4, tmp, (socklen_t)len);
		else
			inet_ntop(AF_INET6, &s->ip6, tmp, (socklen_t)len);
		return tmp;
	case 'r':
		return s->receiver[0] ? s->receiver : "unknown";
	case 't':
		snprintf(tmp, len, "%lld", (long long)s->now);
		return tmp;
	}
	return "";
}

/* One "%{...}" from P (just after the brace): checked, and expanded into
 * B when S is set. The character after it, or NULL on a syntax error. */
static const char *
macro_one(const struct spf *s, const char *domain, const char *p, unsigned flags, struct xbuf *b,
	  struct mscan *ms)
{
	const char *letters = flags & (M_EXP | M_ANY) ? "slodipvhcrt" : "slodipvh";
	int letter = tolower((unsigned char)*p);
	bool upper = isupper((unsigned char)*p);
	if (*p == '\0' || strchr(letters, letter) == NULL)
		return NULL;
	p++;
	unsigned keep = 0;
	bool digits = false;
	for (; isdigit((unsigned char)*p); p++) {
		digits = true;
		if (keep < 1000)
			keep = keep * 10 + (unsigned)(*p - '0');
	}
	if (digits && keep == 0)
		return NULL; /* 7.3: a DIGIT transformer is nonzero */
	bool rev = false;
	if (*p == 'r' || *p == 'R') {
		rev = true;
		p++;
	}
	char delims[8] = "";
	size_t nd = 0;
	for (; *p && strchr(".-+,/_=", *p); p++)
		if (nd < sizeof(delims) - 1 && memchr(delims, *p, nd) == NULL)
			delims[nd++] = *p;
	if (*p != '}')
		return NULL;
	if (letter == 'p')
		ms->uses_p = true;
	if (s != NULL && b != NULL && b->p != NULL) {
		char tmp[128];
		macro_put(b, macro_value(s, domain, letter, tmp, sizeof(tmp)), keep, rev, delims,
			  upper);
	}
	return p + 1;
}

/* Checks the macro-string STR (7.1) and, with S and B, expands it for
 * DOMAIN. -1 on a syntax error. */
static int
macro_run(const struct spf *s, const char *domain, const char *str, unsigned flags, struct xbuf *b,
	  struct mscan *ms)
{
	struct mscan scratch;
	if (ms == NULL)
		ms = &scratch;
	ms->lastend = SIZE_MAX;
	ms->uses_p = false;
	const char *p = str;
	while (*p) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' && (flags & M_EXP)) {
			xput(b, p++, 1);
			continue;
		}
		if (c < 0x21 || c > 0x7e)
			return -1;
		if (c != '%') {
			xput(b, p++, 1);
			continue;
		}
		switch (p[1]) {
		case '%':
			xput(b, "%", 1);
			p += 2;
			break;
		case '_':
			xput(b, " ", 1);
			p += 2;
			break;
		case '-':
			xput(b, "%20", 3);
			p += 2;
			break;
		case '{':
			if ((p = macro_one(s, domain, p + 2, flags, b, ms)) == NULL)
				return -1;
			break;
		default:
			return -1; /* 7.1: "%" followed by anything else */
		}
		ms->lastend = (size_t)(p - str);
	}
	return 0;
}

/* 7.1: toplabel = ( *alphanum ALPHA *alphanum ) /
 *                 ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool
toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, dash = false;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalpha(c))
			alpha = true;
		else if (c == '-')
			dash = true;
		else if (!isdigit(c))
			return false;
	}
	if (dash)
		return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
	return alpha;
}

/* 7.1: domain-spec = macro-string domain-end, domain-end = ( "." toplabel
 * [ "." ] ) / macro-expand; never empty. */
static bool
domain_spec_ok(const char *spec)
{
	struct mscan ms;
	size_t n = strlen(spec);
	if (n == 0 || macro_run(NULL, NULL, spec, 0, NULL, &ms) == -1)
		return false;
	if (ms.lastend == n)
		return true;
	if (spec[n - 1] == '.')
		n--;
	size_t i = n;
	while (i > 0 && spec[i - 1] != '.')
		i--;
	return i > 0 && toplabel_ok(spec + i, n - i); /* no "%" in a toplabel */
}

/* NAME (modified) made a name to query, into OUT: without its final dot,
 * labels dropped from the left to at most 253 characters (7.3); false when
 * it has an empty label or one over 63 characters. */
static bool
name_fix(char *name, char *out)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	char *p = name;
	while (len > 253) {
		char *dot = strchr(p, '.');
		if (dot == NULL)
			return false;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (len == 0)
		return false;
	for (const char *l = p;;) {
		const char *e = strchr(l, '.');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		if (n == 0 || n > 63)
			return false;
		if (e == NULL)
			break;
		l = e + 1;
	}
	memcpy(out, p, len + 1);
	return true;
}

/* SPEC expanded for DOMAIN into a name to query in OUT; false when it
 * cannot be one. */
static bool
expand_name(const struct spf *s, const char *domain, const char *spec, char *out)
{
	char buf[SPF_EXPAND_MAX];
	struct xbuf b = {buf, 0, sizeof(buf), false};
	buf[0] = '\0';
	if (macro_run(s, domain, spec, 0, &b, NULL) == -1 || b.over)
		return false;
	return name_fix(buf, out);
}

static bool
needs_p(const char *str, unsigned flags)
{
	struct mscan ms;
	return macro_run(NULL, NULL, str, flags, NULL, &ms) == 0 && ms.uses_p;
}

int
spf_expand(const struct spf *s, const char *str, bool exp, char *buf, size_t len)
{
	if (len == 0)
		return -1;
	struct xbuf b = {buf, 0, len, false};
	buf[0] = '\0';
	const char *domain = s->depth > 0 ? s->frames[s->depth - 1].domain : s->odomain;
	return macro_run(s, domain, str, exp ? M_EXP : 0, &b, NULL);
}

/* --- records (4.5, 4.6, 5, 6) --- */

/* A CIDR length of N digits at S (no leading zero, at most MAX). */
static int
cidr_num(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Cuts a trailing dual-cidr-length ("/24", "//64", "/24//64") off ARG. */
static int
cidr_cut(char *arg, unsigned *c4, unsigned *c6)
{
	size_t n = strlen(arg), i = n;
	while (i > 0 && isdigit((unsigned char)arg[i - 1]))
		i--;
	if (i == n || i == 0 || arg[i - 1] != '/')
		return 0;
	if (i >= 2 && arg[i - 2] == '/') {
		if (cidr_num(arg + i, n - i, 128, c6) == -1)
			return -1;
		n = i - 2;
		arg[n] = '\0';
		i = n;
		while (i > 0 && isdigit((unsigned char)arg[i - 1]))
			i--;
		if (i == n || i == 0 || arg[i - 1] != '/')
			return 0;
	}
	if (cidr_num(arg + i, n - i, 32, c4) == -1)
		return -1;
	arg[i - 1] = '\0';
	return 0;
}

/* ARG of ip4 or ip6: ":" network [ "/" length ]. */
static int
ip_parse(char *arg, int family, void *net, unsigned *cidr)
{
	unsigned max = family == AF_INET ? 32 : 128;
	if (*arg != ':')
		return -1;
	char *slash = strchr(arg + 1, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (cidr_num(slash + 1, strlen(slash + 1), max, cidr) == -1)
			return -1;
	}
	return inet_pton(family, arg + 1, net) == 1 ? 0 : -1;
}

static int
modifier_parse(struct spf_frame *f, struct spf_term *t, const char *name, size_t n, char *value)
{
	if (n == 8 && strncasecmp(name, "redirect", 8) == 0) {
		if (f->redirect >= 0 || !domain_spec_ok(value))
			return -1;
		t->kind = K_REDIRECT;
		f->redirect = (int)f->nterms;
	} else if (n == 3 && strncasecmp(name, "exp", 3) == 0) {
		if (f->exp >= 0 || !domain_spec_ok(value))
			return -1;
		t->kind = K_EXP;
		f->exp = (int)f->nterms;
	} else {
		if (macro_run(NULL, NULL, value, M_ANY, NULL, NULL) == -1)
			return -1;
		t->kind = K_UNKNOWN; /* 6: ignored */
	}
	t->spec = value;
	return 0;
}

/* The term W (its copy C, same length, may be cut) of F's record, as
 * 4.6.1 and 5 write it. */
static int
term_parse(struct spf_frame *f, struct spf_term *t, const char *w, char *c)
{
	for (const char *p = w; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return -1;
	*t = (struct spf_term){.text = w, .qual = SPF_PASS, .cidr4 = 32, .cidr6 = 128};
	size_t i = 1;
	switch (w[0]) {
	case '+':
		break;
	case '-':
		t->qual = SPF_FAIL;
		break;
	case '~':
		t->qual = SPF_SOFTFAIL;
		break;
	case '?':
		t->qual = SPF_NEUTRAL;
		break;
	default:
		i = 0;
	}
	if (!isalpha((unsigned char)w[i]))
		return -1;
	size_t n = 0;
	while (isalnum((unsigned char)w[i + n]) || w[i + n] == '-' || w[i + n] == '_' ||
	       w[i + n] == '.')
		n++;
	char *rest = c + i + n;
	if (*rest == '=')
		return i == 0 ? modifier_parse(f, t, w, n, rest + 1) : -1;

	size_t m;
	for (m = 0; m < sizeof(mechanisms) / sizeof(mechanisms[0]); m++)
		if (strlen(mechanisms[m].name) == n &&
		    strncasecmp(w + i, mechanisms[m].name, n) == 0)
			break;
	if (m == sizeof(mechanisms) / sizeof(mechanisms[0]))
		return -1;
	t->kind = mechanisms[m].kind;
	switch (t->kind) {
	case K_ALL:
		return *rest == '\0' ? 0 : -1;
	case K_PTR:
		if (*rest == '\0')
			return 0;
		/* FALLTHROUGH */
	case K_INCLUDE:
	case K_EXISTS:
		break;
	case K_A:
	case K_MX:
		if (cidr_cut(rest, &t->cidr4, &t->cidr6) == -1)
			return -1;
		if (*rest == '\0')
			return 0;
		break;
	case K_IP4:
		return ip_parse(rest, AF_INET, &t->net4, &t->cidr4);
	case K_IP6:
		return ip_parse(rest, AF_INET6, &t->net6, &t->cidr6);
	default:
		return -1;
	}
	if (*rest != ':' || !domain_spec_ok(rest + 1))
		return -1;
	t->spec = rest + 1;
	return 0;
}

static void
frame_init(struct spf_frame *f, const char *domain, const char *opener)
{
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	snprintf(f->opener, sizeof(f->opener), "%s", opener);
	f->buf = NULL;
	f->terms = NULL;
	f->nterms = f->next = 0;
	f->redirect = f->exp = -1;
}

static void
frame_free(struct spf_frame *f)
{
	free(f->buf);
	free(f->terms);
	f->buf = NULL;
	f->terms = NULL;
}

/* The record TEXT (LEN bytes, "v=spf1" first) parsed into F; -1 with the
 * first bad term in BAD (printable). */
static int
frame_parse(struct spf_frame *f, const char *text, size_t len, char *bad, size_t badlen)
{
	text += 6;
	len -= 6;
	if ((f->buf = malloc(2 * len + 2)) == NULL) {
		snprintf(bad, badlen, "(out of memory)");
		return -1;
	}
	char *w = f->buf, *c = f->buf + len + 1;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i] == '\0' ? '\001' : text[i]; /* a NUL is no VCHAR */
		w[i] = c[i] = ch == ' ' ? '\0' : ch;
		if (w[i] && (i == 0 || !w[i - 1]))
			n++;
	}
	w[len] = c[len] = '\0';
	if ((f->terms = calloc(n ? n : 1, sizeof(*f->terms))) == NULL) {
		snprintf(bad, badlen, "(out of memory)");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!w[i] || (i > 0 && w[i - 1]))
			continue;
		if (term_parse(f, &f->terms[f->nterms], w + i, c + i) == -1) {
			size_t k;
			for (k = 0; w[i + k] && k + 1 < badlen; k++) {
				unsigned char ch = (unsigned char)w[i + k];
				bad[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
			}
			bad[k] = '\0';
			return -1;
		}
		f->nterms++;
	}
	return 0;
}

/* 4.5: a record of version 1 ("v=spf1" then a space or its end). */
static bool
is_spf(const char *r, size_t len)
{
	return len >= 6 && strncasecmp(r, "v=spf1", 6) == 0 && (len == 6 || r[6] == ' ');
}

/* 4.3: DOMAIN a multi-label domain name (not a literal), into OUT. */
static bool
domain_ok(const char *domain, char *out)
{
	if (domain == NULL)
		return false;
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || domain[0] == '[')
		return false;
	size_t labels = 1, l = 0;
	bool digits = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];
		if (c < 0x21 || c > 0x7e)
			return false;
		if (c == '.') {
			if (l == 0)
				return false;
			labels++;
			l = 0;
			digits = true;
			continue;
		}
		if (++l > 63)
			return false;
		if (!isdigit(c))
			digits = false;
	}
	if (l == 0 || labels < 2 || digits)
		return false; /* an all-numeric last label is an address */
	memcpy(out, domain, len);
	out[len] = '\0';
	return true;
}

/* --- the machine --- */

static void
query(struct spf *s, enum spf_rrtype type, const char *name, enum spf_state next)
{
	s->qtype = type;
	snprintf(s->qname, sizeof(s->qname), "%s", name);
	s->pending = true;
	s->state = next;
}

/* Ends the evaluation with R and its reason; IN_FRAME: the reason is about
 * the top frame's record, prefixed by the term that led to it. */
static void __attribute__((format(printf, 4, 5)))
spf_end(struct spf *s, enum spf_result r, bool in_frame, const char *fmt, ...)
{
	char msg[SPF_WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *opener = in_frame && s->depth > 0 ? top(s)->opener : "";
	size_t o = (size_t)snprintf(s->why, sizeof(s->why), "%s%s", opener, *opener ? ": " : "");
	if (o < sizeof(s->why))
		snprintf(s->why + o, sizeof(s->why) - o, "%s", msg);
	s->result = r;
	s->state = ST_DONE;
}

static void
dns_failure(struct spf *s)
{
	spf_end(s, SPF_TEMPERROR, false, "DNS failure: %s %s", rrname(s->qtype), s->qname);
}

/* A lookup that found nothing (4.6.4); false when it was one too many. */
static bool
void_lookup(struct spf *s)
{
	if (++s->voids <= SPF_MAX_VOID)
		return true;
	spf_end(s, SPF_PERMERROR, false, "too many void lookups");
	return false;
}

static void term_match(struct spf *, const struct spf_term *);

/* The top frame's record gave R, not an error: the evaluation's result at
 * the bottom (then exp= of a fail), else what its include makes of it
 * (5.2: pass matches; fail, softfail, neutral do not). */
static void
frame_end(struct spf *s, enum spf_result r)
{
	if (s->depth == 1) {
		s->result = r;
		s->state = r == SPF_FAIL && top(s)->exp >= 0 ? ST_EXP : ST_DONE;
		return;
	}
	frame_free(top(s));
	s->depth--;
	struct spf_frame *f = top(s);
	if (r == SPF_PASS)
		term_match(s, &f->terms[f->next - 1]);
	else
		s->state = ST_TERM;
}

static void
term_match(struct spf *s, const struct spf_term *t)
{
	snprintf(s->why, sizeof(s->why), "%s", t->text);
	frame_end(s, t->qual);
}

static bool
match4(const struct in_addr *ip, const struct in_addr *net, unsigned bits)
{
	if (bits == 0)
		return true;
	uint32_t mask = bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
	return (ntohl(ip->s_addr) & mask) == (ntohl(net->s_addr) & mask);
}

static bool
match6(const struct in6_addr *ip, const struct in6_addr *net, unsigned bits)
{
	size_t full = bits / 8;
	unsigned rest = bits % 8;
	if (memcmp(ip->s6_addr, net->s6_addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (ip->s6_addr[full] & mask) == (net->s6_addr[full] & mask);
}

/* An address of the answer (A or AAAA, as asked) within the term's CIDR
 * length of <ip>. */
static bool
addr_match(const struct spf *s, const struct spf_answer *a, size_t n, unsigned c4, unsigned c6)
{
	for (size_t i = 0; i < n; i++) {
		if (s->family == AF_INET ? match4(&s->ip4, &a->a[i], c4)
					 : match6(&s->ip6, &a->aaaa[i], c6))
			return true;
	}
	return false;
}

/* Looks up the PTR names of <ip> and validates them (5.5), then goes on
 * in RET. */
static void
validate(struct spf *s, enum spf_state ret)
{
	char rev[SPF_NAME_MAX];
	ip_reverse(s, rev, sizeof(rev));
	s->ret = ret;
	s->nptr = s->ptri = 0;
	query(s, SPF_RR_PTR, rev, ST_VALIDATE_ANS);
}

static void
run_term(struct spf *s)
{
	struct spf_frame *f = top(s);
	if (f->next == f->nterms) {
		if (f->redirect < 0) {
			snprintf(s->why, sizeof(s->why), "default");
			frame_end(s, SPF_NEUTRAL); /* 4.7 */
			return;
		}
		if (++s->lookups > SPF_MAX_LOOKUPS) {
			spf_end(s, SPF_PERMERROR, false, "too many DNS lookups");
			return;
		}
		s->cur = &f->terms[f->redirect];
		s->state = ST_TARGET;
		return;
	}
	const struct spf_term *t = &f->terms[f->next++];
	switch (t->kind) {
	case K_ALL:
		term_match(s, t);
		break;
	case K_IP4:
		if (s->family == AF_INET && match4(&s->ip4, &t->net4, t->cidr4))
			term_match(s, t);
		break;
	case K_IP6:
		if (s->family == AF_INET6 && match6(&s->ip6, &t->net6, t->cidr6))
			term_match(s, t);
		break;
	case K_INCLUDE:
	case K_A:
	case K_MX:
	case K_PTR:
	case K_EXISTS:
		if (++s->lookups > SPF_MAX_LOOKUPS) {
			spf_end(s, SPF_PERMERROR, false, "too many DNS lookups");
			return;
		}
		s->cur = t;
		s->state = ST_TARGET;
		break;
	default:
		break; /* modifiers act after the mechanisms */
	}
}

/* The current term's target, expanded (after %{p} is known), then its
 * query, frame or match. */
static void
run_target(struct spf *s)
{
	const struct spf_term *t = s->cur;
	struct spf_frame *f = top(s);
	bool ok = true;
	if (t->spec == NULL) {
		snprintf(s->target, sizeof(s->target), "%s", f->domain);
	} else {
		if (!s->validated && needs_p(t->spec, 0)) {
			validate(s, ST_TARGET);
			return;
		}
		ok = expand_name(s, f->domain, t->spec, s->target);
	}
	char opener[SPF_NAME_MAX];
	switch (t->kind) {
	case K_A:
		if (ok)
			query(s, addr_type(s), s->target, ST_A_ANS);
		else
			s->state = ST_TERM;
		break;
	case K_MX:
		if (ok)
			query(s, SPF_RR_MX, s->target, ST_MX_ANS);
		else
			s->state = ST_TERM;
		break;
	case K_EXISTS:
		if (ok)
			query(s, SPF_RR_A, s->target, ST_EXISTS_ANS); /* A even for IPv6, 5.7 */
		else
			s->state = ST_TERM;
		break;
	case K_PTR:
		if (!ok)
			s->state = ST_TERM;
		else if (!s->validated)
			validate(s, ST_PTR_MATCH);
		else
			s->state = ST_PTR_MATCH;
		break;
	case K_INCLUDE:
		if (!ok) {
			spf_end(s, SPF_PERMERROR, false, "%s: not a valid domain", t->text);
		} else if (s->depth == SPF_MAX_FRAMES) {
			spf_end(s, SPF_PERMERROR, false, "too many DNS lookups");
		} else {
			frame_init(&s->frames[s->depth++], s->target, t->text);
			s->state = ST_RECORD;
		}
		break;
	case K_REDIRECT:
		if (!ok) {
			spf_end(s, SPF_PERMERROR, false, "%s: not a valid domain", t->text);
			break;
		}
		snprintf(opener, sizeof(opener), "%s", t->text); /* T is in F's record */
		frame_free(f);
		frame_init(f, s->target, opener);
		s->cur = NULL;
		s->state = ST_RECORD;
		break;
	default:
		spf_end(s, SPF_TEMPERROR, false, "internal error");
		break;
	}
}

static void
run_exp(struct spf *s)
{
	struct spf_frame *f = top(s);
	const char *spec = f->terms[f->exp].spec;
	if (!s->validated && needs_p(spec, 0)) {
		validate(s, ST_EXP);
		return;
	}
	if (expand_name(s, f->domain, spec, s->target))
		query(s, SPF_RR_TXT, s->target, ST_EXP_ANS);
	else
		s->state = ST_DONE; /* 6.2: as if there were no exp= */
}

static void
run_exp_text(struct spf *s)
{
	struct mscan ms;
	s->state = ST_DONE;
	if (macro_run(NULL, NULL, s->exptext, M_EXP, NULL, &ms) == -1)
		return; /* 6.2: a bad explanation is ignored */
	if (ms.uses_p && !s->validated) {
		validate(s, ST_EXP_TEXT);
		return;
	}
	char buf[SPF_EXPAND_MAX];
	struct xbuf b = {buf, 0, sizeof(buf), false};
	buf[0] = '\0';
	macro_run(s, top(s)->domain, s->exptext, M_EXP, &b, NULL);
	s->explanation = strdup(buf);
}

static void
spf_run(struct spf *s)
{
	switch (s->state) {
	case ST_RECORD:
		query(s, SPF_RR_TXT, top(s)->domain, ST_RECORD_ANS);
		break;
	case ST_TERM:
		run_term(s);
		break;
	case ST_TARGET:
		run_target(s);
		break;
	case ST_MX_HOST:
		if (s->mxi == s->nmx)
			s->state = ST_TERM;
		else
			query(s, addr_type(s), s->mx[s->mxi++], ST_MX_HOST_ANS);
		break;
	case ST_PTR_MATCH:
		s->state = ST_TERM;
		for (size_t i = 0; i < s->nptr; i++) {
			if (s->ptrok[i] && name_under(s->ptr[i], s->target)) {
				term_match(s, s->cur);
				break;
			}
		}
		break;
	case ST_VALIDATE_NAME:
		if (s->ptri == s->nptr) {
			s->validated = true;
			s->state = s->ret;
		} else {
			query(s, addr_type(s), s->ptr[s->ptri], ST_VALIDATE_NAME_ANS);
		}
		break;
	case ST_EXP:
		run_exp(s);
		break;
	case ST_EXP_TEXT:
		run_exp_text(s);
		break;
	case ST_DONE:
		break;
	default: /* an _ANS state with nothing asked: never */
		spf_end(s, SPF_TEMPERROR, false, "internal error");
		break;
	}
}

int
spf_step(struct spf *s, enum spf_rrtype *type, const char **name)
{
	while (!s->pending && s->state != ST_DONE)
		spf_run(s);
	if (!s->pending)
		return 0;
	*type = s->qtype;
	*name = s->qname;
	return 1;
}

/* The TXT answer for the top frame's domain: its one SPF record (4.5). */
static void
record_answer(struct spf *s, enum spf_dns st, const struct spf_answer *a, size_t n)
{
	struct spf_frame *f = top(s);
	if (st == SPF_DNS_TEMPFAIL) {
		dns_failure(s);
		return;
	}
	size_t found = 0, pick = 0;
	for (size_t i = 0; i < n; i++) {
		if (a->txt[i] == NULL)
			continue;
		size_t len = a->txtlen ? a->txtlen[i] : strlen(a->txt[i]);
		if (is_spf(a->txt[i], len)) {
			found++;
			pick = i;
		}
	}
	if (found == 0) {
		if (s->depth == 1 && f->opener[0] == '\0')
			spf_end(s, SPF_NONE, false, "no SPF record");
		else
			spf_end(s, SPF_PERMERROR, true, "no SPF record"); /* 5.2, 6.1 */
		return;
	}
	if (found > 1) {
		spf_end(s, SPF_PERMERROR, true, "two SPF records");
		return;
	}
	char bad[200];
	size_t len = a->txtlen ? a->txtlen[pick] : strlen(a->txt[pick]);
	if (frame_parse(f, a->txt[pick], len, bad, sizeof(bad)) == -1) {
		spf_end(s, SPF_PERMERROR, true, "syntax error near \"%s\"", bad);
		return;
	}
	s->state = ST_TERM;
}

/* Copies the host NAME (final dot dropped) into OUT; false when it names
 * no host (a null MX) or cannot be queried. */
static bool
host_copy(const char *name, char *out)
{
	char tmp[SPF_NAME_MAX + 1];
	if (name == NULL || strlen(name) >= sizeof(tmp))
		return false;
	memcpy(tmp, name, strlen(name) + 1);
	return name_fix(tmp, out);
}

void
spf_answer(struct spf *s, const struct spf_answer *a)
{
	if (s == NULL || a == NULL || !s->pending)
		return;
	s->pending = false;
	enum spf_dns st = a->status;
	size_t n = a->n;
	const void *rr = s->qtype == SPF_RR_TXT	   ? (const void *)a->txt
			 : s->qtype == SPF_RR_A	   ? (const void *)a->a
			 : s->qtype == SPF_RR_AAAA ? (const void *)a->aaaa
						   : (const void *)a->names;
	if (st == SPF_DNS_OK && (n == 0 || rr == NULL))
		st = SPF_DNS_NODATA;
	if (st != SPF_DNS_OK)
		n = 0;

	switch (s->state) {
	case ST_RECORD_ANS:
		record_answer(s, st, a, n);
		break;
	case ST_A_ANS:
	case ST_EXISTS_ANS:
		if (st == SPF_DNS_TEMPFAIL)
			dns_failure(s);
		else if (n == 0) {
			if (void_lookup(s))
				s->state = ST_TERM;
		} else if (s->state == ST_EXISTS_ANS ||
			   addr_match(s, a, n, s->cur->cidr4, s->cur->cidr6))
			term_match(s, s->cur);
		else
			s->state = ST_TERM;
		break;
	case ST_MX_ANS:
		if (st == SPF_DNS_TEMPFAIL) {
			dns_failure(s);
		} else if (n == 0) {
			if (void_lookup(s))
				s->state = ST_TERM;
		} else if (n > SPF_MAX_MX) {
			spf_end(s, SPF_PERMERROR, false, "too many MX records (%s)", s->cur->text);
		} else {
			s->nmx = s->mxi = 0;
			for (size_t i = 0; i < n; i++)
				if (host_copy(a->names[i], s->mx[s->nmx]))
					s->nmx++;
			s->state = ST_MX_HOST;
		}
		break;
	case ST_MX_HOST_ANS:
		if (st == SPF_DNS_TEMPFAIL)
			dns_failure(s);
		else if (addr_match(s, a, n, s->cur->cidr4, s->cur->cidr6))
			term_match(s, s->cur);
		else
			s->state = ST_MX_HOST;
		break;
	case ST_VALIDATE_ANS:
		/* 5.5: a failure here is no match; 4.6.4: the first 10 names */
		for (size_t i = 0; i < n && i < SPF_MAX_PTR; i++)
			if (host_copy(a->names[i], s->ptr[s->nptr]))
				s->ptrok[s->nptr++] = false;
		s->state = ST_VALIDATE_NAME;
		break;
	case ST_VALIDATE_NAME_ANS:
		s->ptrok[s->ptri] = addr_match(s, a, n, 32, 128);
		s->ptri++;
		s->state = ST_VALIDATE_NAME;
		break;
	case ST_EXP_ANS:
		s->state = ST_DONE;
		if (n == 1 && a->txt[0] != NULL) { /* 6.2: else as if no exp= */
			size_t len = a->txtlen ? a->txtlen[0] : strlen(a->txt[0]);
			if ((s->exptext = malloc(len + 1)) == NULL)
				break;
			for (size_t i = 0; i < len; i++)
				s->exptext[i] = a->txt[0][i] ? a->txt[0][i] : '\001';
			s->exptext[len] = '\0';
			s->state = ST_EXP_TEXT;
		}
		break;
	default:
		break;
	}
}

/* --- the evaluation --- */

struct spf *
spf_new(int family, const void *ip, const char *domain, const char *sender, const char *helo)
{
	if (ip == NULL || (family != AF_INET && family != AF_INET6))
		return NULL;
	struct spf *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->family = family;
	if (family == AF_INET) {
		memcpy(&s->ip4, ip, sizeof(s->ip4));
	} else {
		memcpy(&s->ip6, ip, sizeof(s->ip6));
		if (IN6_IS_ADDR_V4MAPPED(&s->ip6)) { /* 5: evaluated as IPv4 */
			memcpy(&s->ip4, s->ip6.s6_addr + 12, sizeof(s->ip4));
			s->family = AF_INET;
		}
	}

	/* 4.3: <sender> without a local part has "postmaster" */
	const char *at = sender ? strrchr(sender, '@') : NULL;
	size_t llen = sender == NULL ? 0 : at ? (size_t)(at - sender) : strlen(sender);
	s->local = llen ? strndup(sender, llen) : strdup("postmaster");
	s->odomain = strdup(at ? at + 1 : domain ? domain : "");
	if (s->local && s->odomain &&
	    (s->sender = malloc(strlen(s->local) + strlen(s->odomain) + 2)) != NULL)
		sprintf(s->sender, "%s@%s", s->local, s->odomain);
	if (helo != NULL)
		s->helo = strdup(helo);
	if (s->sender == NULL || (helo != NULL && s->helo == NULL)) {
		spf_free(s);
		return NULL;
	}

	char d[SPF_NAME_MAX];
	if (!domain_ok(domain, d)) {
		snprintf(s->why, sizeof(s->why), "not a valid domain");
		s->state = ST_DONE; /* 4.3: none */
		return s;
	}
	frame_init(&s->frames[0], d, "");
	s->depth = 1;
	s->state = ST_RECORD;
	return s;
}

void
spf_set_receiver(struct spf *s, const char *receiver, time_t now)
{
	snprintf(s->receiver, sizeof(s->receiver), "%s", receiver ? receiver : "");
	s->now = now;
}

enum spf_result
spf_result(const struct spf *s)
{
	return s->state == ST_DONE ? s->result : SPF_NONE;
}

const char *
spf_mechanism(const struct spf *s)
{
	return s->state == ST_DONE ? s->why : "";
}

const char *
spf_explanation(const struct spf *s)
{
	return s->state == ST_DONE && s->result == SPF_FAIL ? s->explanation : NULL;
}

void
spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->depth; i++)
		frame_free(&s->frames[i]);
	free(s->sender);
	free(s->local);
	free(s->odomain);
	free(s->helo);
	free(s->exptext);
	free(s->explanation);
	free(s);
}
