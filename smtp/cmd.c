/*
 * cmd.c — inbound SMTP command lines: verbs, paths, ESMTP parameters.
 *
 * cmd_parse()        split a command line into verb and arguments
 * cmd_path()         parse "FROM:<path> params" / "TO:<path> params"
 * cmd_mail_params()  parse MAIL's ESMTP parameters
 * cmd_rcpt_params()  refuse any RCPT parameter
 * cmd_domain()       the domain part of a parsed mailbox
 * cmd_literal_addr() the address of an address-literal domain
 *
 * Invariants: nothing here allocates or does I/O; every error is a complete
 * reply line in static storage. A mailbox written to OUT has passed the RFC
 * 5321 4.1.2 grammar (with the RFC 6531 UTF-8 extension) and its length
 * limits, so later code may treat it as "local@domain" with the last '@' as
 * separator: a domain or address literal never holds an '@'. The one
 * exception is the recipient "<Postmaster>" (RFC 5321 4.1.1.3), any case,
 * written as given and without an '@': the caller substitutes its address.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "smtp/cmd.h"
#include "smtp/utf8.h"

/* RFC 5321 4.5.3.1: limits on the parts of a path. */
#define CMD_LOCAL_MAX 64
#define CMD_DOMAIN_MAX 255
#define CMD_PATH_MAX 256 /* "<" ... ">" included */
#define CMD_LABEL_MAX 63 /* RFC 1035 2.3.4, checked on ASCII labels only */

static const struct {
	const char *name;
	enum cmd_verb verb;
} cmd_verbs[] = {
	{"HELO", CMD_HELO}, {"EHLO", CMD_EHLO}, {"MAIL", CMD_MAIL}, {"RCPT", CMD_RCPT},
	{"DATA", CMD_DATA}, {"RSET", CMD_RSET}, {"NOOP", CMD_NOOP}, {"QUIT", CMD_QUIT},
	{"VRFY", CMD_VRFY}, {"EXPN", CMD_EXPN}, {"HELP", CMD_HELP}, {"STARTTLS", CMD_STARTTLS},
	{"AUTH", CMD_AUTH}, {"BDAT", CMD_BDAT},
};

static const char cmd_err_mail_syntax[] = "501 5.5.4 Syntax: MAIL FROM:<address>";
static const char cmd_err_rcpt_syntax[] = "501 5.5.4 Syntax: RCPT TO:<address>";
static const char cmd_err_mail_addr[] = "501 5.1.7 Bad sender address syntax";
static const char cmd_err_rcpt_addr[] = "501 5.1.3 Bad recipient address syntax";
static const char cmd_err_mail_long[] = "501 5.1.7 Sender address too long";
static const char cmd_err_rcpt_long[] = "501 5.1.3 Recipient address too long";

static const char cmd_err_param[] = "555 5.5.4 Unsupported MAIL parameter";
static const char cmd_err_repeat[] = "555 5.5.4 Repeated MAIL parameter";
static const char cmd_err_size[] = "555 5.5.4 Bad SIZE value";
static const char cmd_err_size_big[] = "555 5.5.4 SIZE value too large";
static const char cmd_err_body[] = "555 5.5.4 Unsupported BODY type";
static const char cmd_err_utf8[] = "555 5.5.4 SMTPUTF8 takes no value";
static const char cmd_err_auth[] = "555 5.5.4 Bad AUTH value";
static const char cmd_err_rcpt_param[] = "555 5.5.4 Unsupported RCPT parameter";

static bool
cmd_isalnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 5322 atext without the letters and digits. */
static bool
cmd_isatext(unsigned char c)
{
	return cmd_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the well-formed UTF-8 sequence at P (before END), or 0. */
static size_t
cmd_utf8(const char *p, const char *end)
{
	return utf8_seq((const unsigned char *)p, (size_t)(end - p), NULL);
}

/* Dot-string: atoms of atext (or UTF-8) joined by single dots. */
static const char *
cmd_dotstring(const char *p, const char *end)
{
	const char *atom;
	size_t n;

	for (;;) {
		atom = p;
		while (p < end) {
			if (cmd_isatext((unsigned char)*p))
				p++;
			else if ((unsigned char)*p >= 0x80 && (n = cmd_utf8(p, end)) != 0)
				p += n;
			else
				break;
		}
		if (p == atom)
			return NULL;
		if (p < end && *p == '.') {
			p++;
			continue;
		}
		return p;
	}
}

/* Quoted-string: qtextSMTP, quoted-pairSMTP or UTF-8 between DQUOTEs. */
static const char *
cmd_quoted(const char *p, const char *end)
{
	unsigned char c;
	size_t n;

	p++; /* the opening quote */
	while (p < end) {
		c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c == '\\') {
			if (p + 1 >= end || (unsigned char)p[1] < 32 || (unsigned char)p[1] > 126)
				return NULL;
			p += 2;
		} else if (c >= 32 && c <= 126)
			p++;
		else if (c >= 0x80 && (n = cmd_utf8(p, end)) != 0)
			p += n;
		else
			return NULL;
	}
	return NULL;
}

/*
 * Domain: labels of letters, digits (or UTF-8, a U-label) and inner hyphens
 * joined by single dots. No trailing dot: RFC 5321 has no room for one.
 */
static const char *
cmd_hostname(const char *p, const char *end)
{
	const char *label;
	bool ascii, hyphen;
	size_t n;

	for (;;) {
		label = p;
		ascii = true;
		hyphen = false;
		while (p < end) {
			if (cmd_isalnum((unsigned char)*p)) {
				p++;
				hyphen = false;
			} else if (*p == '-' && p != label) {
				p++;
				hyphen = true;
			} else if ((unsigned char)*p >= 0x80 && (n = cmd_utf8(p, end)) != 0) {
				p += n;
				ascii = false;
				hyphen = false;
			} else
				break;
		}
		if (p == label || hyphen)
			return NULL;
		/* A U-label's limit applies to its A-label, unknown here. */
		if (ascii && p - label > CMD_LABEL_MAX)
			return NULL;
		if (p < end && *p == '.') {
			p++;
			continue;
		}
		return p;
	}
}

/* Address literal "[1.2.3.4]" or "[IPv6:...]", checked by inet_pton(). */
static const char *
cmd_literal(const char *p, const char *end)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *close;
	size_t n;
	int af = AF_INET;

	close = memchr(p, ']', end - p);
	if (close == NULL)
		return NULL;
	p++;
	if (close - p > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		af = AF_INET6;
		p += 5;
	}
	n = close - p;
	if (n == 0 || n >= sizeof(buf))
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(af, buf, addr) != 1)
		return NULL;
	return close + 1;
}

/* Mailbox: local-part "@" (domain / address literal), ending exactly at END. */
static int
cmd_mailbox(const char *p, const char *end, bool *toolong)
{
	const char *at, *q;

	at = *p == '"' ? cmd_quoted(p, end) : cmd_dotstring(p, end);
	if (at == NULL || at >= end || *at != '@')
		return -1;
	if (at - p > CMD_LOCAL_MAX) {
		*toolong = true;
		return -1;
	}
	p = at + 1;
	q = p < end && *p == '[' ? cmd_literal(p, end) : cmd_hostname(p, end);
	if (q != end)
		return -1;
	if (end - p > CMD_DOMAIN_MAX) {
		*toolong = true;
		return -1;
	}
	return 0;
}

/* Source route "@a,@b:" (RFC 5321 4.1.2 A-d-l); returns what follows it. */
static const char *
cmd_route(const char *p, const char *end)
{
	for (;;) {
		if (p >= end || *p != '@')
			return NULL;
		p = cmd_hostname(p + 1, end);
		if (p == NULL || p >= end)
			return NULL;
		if (*p == ':')
			return p + 1;
		if (*p != ',')
			return NULL;
		p++;
	}
}

/*
 * The '>' closing a path that starts at P ('<'). Quoted strings may hold a
 * '>', so they are skipped; NULL when the path is never closed.
 */
static const char *
cmd_close(const char *p)
{
	bool quoted = false;

	for (p++; *p != '\0'; p++) {
		if (quoted && *p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p++;
		} else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>')
			return p;
	}
	return NULL;
}

/* Parse "FROM:<path> params" or "TO:<path> params"; see cmd.h. */
int
cmd_path(const char *args, const char *keyword, bool allow_null, char *out, size_t outlen,
	 const char **params, const char **err)
{
	const char *p = args, *open, *close, *box;
	size_t klen = strlen(keyword);
	bool mail, toolong = false;

	/* Callers may pass "FROM" or "FROM:". */
	if (klen > 0 && keyword[klen - 1] == ':')
		klen--;
	mail = klen == 4 && strncasecmp(keyword, "FROM", 4) == 0;

	if (strncasecmp(p, keyword, klen) != 0 || p[klen] != ':')
		goto syntax;
	p += klen + 1;
	while (*p == ' ')
		p++;
	if (*p != '<')
		goto syntax;
	open = p;
	if ((close = cmd_close(open)) == NULL)
		goto syntax;
	if (close[1] != '\0' && close[1] != ' ')
		goto syntax;
	if (close - open + 1 > CMD_PATH_MAX) {
		toolong = true;
		goto bad;
	}

	if (close == open + 1) {
		if (!allow_null)
			goto bad;
		box = close;
	} else {
		box = open + 1;
		if (*box == '@' && (box = cmd_route(box, close)) == NULL)
			goto bad;
		/* RFC 5321 4.1.1.3: "Postmaster" without a domain, any case,
		 * is a recipient (the caller supplies the address). */
		if (!(!mail && box == open + 1 && close - box == 10 &&
		      strncasecmp(box, "postmaster", 10) == 0) &&
		    cmd_mailbox(box, close, &toolong) == -1)
			goto bad;
	}
	if ((size_t)(close - box) >= outlen)
		goto bad;
	memcpy(out, box, close - box);
	out[close - box] = '\0';

	for (p = close + 1; *p == ' '; p++)
		;
	*params = p;
	return 0;

syntax:
	*err = mail ? cmd_err_mail_syntax : cmd_err_rcpt_syntax;
	return -1;
bad:
	if (toolong)
		*err = mail ? cmd_err_mail_long : cmd_err_rcpt_long;
	else
		*err = mail ? cmd_err_mail_addr : cmd_err_rcpt_addr;
	return -1;
}

/* RFC 3461 4 spells hexchar with upper case digits only. */
static bool
cmd_ishex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* RFC 3461 4: xtext, printable ASCII with "+XX" escapes for '+' and '='. */
static bool
cmd_xtext(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			if (i + 2 >= n || !cmd_ishex(s[i + 1]) || !cmd_ishex(s[i + 2]))
				return false;
			i += 2;
		} else if (s[i] < 33 || s[i] > 126 || s[i] == '=')
			return false;
	}
	return true;
}

static bool
cmd_keyword(const char *tok, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(tok, name, n) == 0;
}

/* Parse MAIL's ESMTP parameters; see cmd.h. */
int
cmd_mail_params(const char *params, struct cmd_mail_params *p, const char **err)
{
	const char *s = params, *tok, *eq, *val;
	size_t n, klen, vlen, i;
	bool seen_body = false, seen_auth = false;
	uint64_t v;

	memset(p, 0, sizeof(*p));
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return 0;
		tok = s;
		while (*s != '\0' && *s != ' ')
			s++;
		n = s - tok;
		eq = memchr(tok, '=', n);
		klen = eq != NULL ? (size_t)(eq - tok) : n;
		val = eq != NULL ? eq + 1 : NULL;
		vlen = eq != NULL ? n - klen - 1 : 0;

		if (cmd_keyword(tok, klen, "SIZE")) {
			if (p->has_size)
				goto repeat;
			if (val == NULL || vlen == 0) {
				*err = cmd_err_size;
				return -1;
			}
			v = 0;
			for (i = 0; i < vlen; i++) {
				if (val[i] < '0' || val[i] > '9') {
					*err = cmd_err_size;
					return -1;
				}
				if (v > (UINT64_MAX - (uint64_t)(val[i] - '0')) / 10) {
					*err = cmd_err_size_big;
					return -1;
				}
				v = v * 10 + (uint64_t)(val[i] - '0');
			}
			p->has_size = true;
			p->size = v;
		} else if (cmd_keyword(tok, klen, "BODY")) {
			if (seen_body)
				goto repeat;
			seen_body = true;
			if (val != NULL && cmd_keyword(val, vlen, "7BIT"))
				p->body = BODY_7BIT;
			else if (val != NULL && cmd_keyword(val, vlen, "8BITMIME"))
				p->body = BODY_8BITMIME;
			else {
				*err = cmd_err_body;
				return -1;
			}
		} else if (cmd_keyword(tok, klen, "SMTPUTF8")) {
			if (p->smtputf8)
				goto repeat;
			if (val != NULL) {
				*err = cmd_err_utf8;
				return -1;
			}
			p->smtputf8 = true;
		} else if (cmd_keyword(tok, klen, "AUTH")) {
			/*
			 * RFC 4954 5: Postfix sends "AUTH=<>" whenever it
			 * has authenticated, so refusing the parameter would
			 * refuse its mail. Its value is not trusted (it is
			 * never relayed), which 4954 allows.
			 */
			if (seen_auth)
				goto repeat;
			seen_auth = true;
			if (val == NULL || !cmd_xtext(val, vlen)) {
				*err = cmd_err_auth;
				return -1;
			}
		} else {
			*err = cmd_err_param;
			return -1;
		}
	}

repeat:
	*err = cmd_err_repeat;
	return -1;
}

/* Refuse any RCPT parameter: none is advertised (no DSN extension). */
int
cmd_rcpt_params(const char *params, const char **err)
{
	while (*params == ' ')
		params++;
	if (*params == '\0')
		return 0;
	*err = cmd_err_rcpt_param;
	return -1;
}

/* Domain of a mailbox from cmd_path(): a quoted local part may hold '@'s,
 * the domain never does, so the last '@' separates them. */
const char *
cmd_domain(const char *mailbox)
{
	const char *at = strrchr(mailbox, '@');

	return at != NULL ? at + 1 : mailbox + strlen(mailbox);
}

/* The address of an address-literal domain, as cmd_literal() reads it. */
int
cmd_literal_addr(const char *domain, char *out, size_t size)
{
	const char *end = domain + strlen(domain), *p;
	size_t n;

	if (domain[0] != '[' || cmd_literal(domain, end) != end)
		return -1;
	p = domain + 1;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	n = (size_t)(end - 1 - p);
	if (out != NULL) {
		if (n >= size)
			return -1;
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return 0;
}

/* Split a command line into verb and arguments; see cmd.h. */
int
cmd_parse(const char *line, size_t len, struct cmd *cmd)
{
	const char *p;
	size_t n, i;

	if (len == 0 || strlen(line) != len)
		return -1;
	for (p = line; *p != '\0' && *p != ' '; p++)
		;
	n = p - line;
	cmd->verb = CMD_UNKNOWN;
	for (i = 0; i < sizeof(cmd_verbs) / sizeof(cmd_verbs[0]); i++) {
		if (cmd_keyword(line, n, cmd_verbs[i].name)) {
			cmd->verb = cmd_verbs[i].verb;
			break;
		}
	}
	while (*p == ' ')
		p++;
	cmd->args = p;
	return 0;
}
