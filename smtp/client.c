/*
 * client.c — the outbound SMTP protocol state machine.
 *
 * client_new(), client_free(), client_input(), client_txn(),
 * client_quit(), client_strstate()
 *
 * One client_enter_state() performs each state's entry action and traces
 * the transition; one client_response() switches on the state for each
 * complete reply (as OpenSMTPD's mta_session.c).
 *
 * Invariants: every transaction ends in exactly one txn_done() or one
 * fail(); a 421 at any point is a failure of the session (the next host is
 * tried by the owner); after fail() nothing else is written. A recipient's
 * final reply is a 2xx only when DATA was answered 354, the whole body was
 * flushed (client_flushed()) and then a 2xx came: every other path gives it
 * a failure reply or fails the session. Replies are matched to commands one
 * to one: each written command (and the body) is owed exactly one reply,
 * and a reply that nothing on the wire asked for is a protocol error.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/base64.h"
#include "smtp/client.h"
#include "smtp/cmd.h"

static const char *state_names[] = {
	"GREETING", "EHLO", "HELO", "STARTTLS", "TLS",	"AUTH", "READY",
	"RSET",	    "TXN",  "BODY", "DOT",	"QUIT", "DEAD",
};

/* The state's name, for traces. */
const char *
client_strstate(enum client_state st)
{
	return st <= CL_DEAD ? state_names[st] : "?";
}

static void sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void after_ehlo(struct client *c);
static void auth_response(struct client *c, const struct reply *r);

static void
sendf(struct client *c, const char *fmt, ...)
{
	char buf[1100];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	c->queued++; /* one reply is owed for each command */
	c->h->write(c->arg, buf, (size_t)n);
}

/* Every state change goes through here: the trace, then the state's entry
 * action (a command, or a hook). */
static void
client_enter_state(struct client *c, enum client_state next)
{
	enum client_state old = c->state;

	c->state = next;
	if (old != next && c->h->trace)
		c->h->trace(c->arg, old, next);
	switch (next) {
	case CL_EHLO:
		memset(&c->ext, 0, sizeof(c->ext));
		sendf(c, "EHLO %s\r\n", c->helo);
		break;
	case CL_HELO:
		sendf(c, "HELO %s\r\n", c->helo);
		break;
	case CL_RSET:
		c->need_rset = false;
		c->dirty = false;
		sendf(c, "RSET\r\n");
		break;
	case CL_QUIT:
		sendf(c, "QUIT\r\n");
		break;
	case CL_READY:
		c->h->ready(c->arg);
		break;
	case CL_STARTTLS:
		sendf(c, "STARTTLS\r\n");
		break;
	case CL_TLS:
		c->h->starttls(c->arg); /* the owner's handshake */
		break;
	case CL_BODY:
		c->queued++; /* the end of data is owed a reply */
		c->h->body(c->arg);
		break;
	case CL_DOT:
		/* A 354 with no recipient accepted: end the empty message. */
		sendf(c, ".\r\n");
		break;
	case CL_DEAD:
		explicit_bzero(c->pass, sizeof(c->pass));
		break;
	default: /* GREETING, AUTH (after_ehlo() sends), TXN (client_txn()) */
		break;
	}
}

static void
fail(struct client *c, const struct reply *r)
{
	client_enter_state(c, CL_DEAD);
	c->h->fail(c->arg, r);
}

static void
local_reply(struct reply *r, int code, const char *status, const char *text)
{
	reply_reset(r);
	r->code = code;
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->text, sizeof(r->text), "%s", text);
	if (code)
		snprintf(r->line, sizeof(r->line), "%d %s %s", code, status, text);
	else
		snprintf(r->line, sizeof(r->line), "%s", text);
	r->complete = true;
	r->nlines = 1;
}

/* A failure that must only ever defer: TLS or AUTH trouble. WHY, then
 * the remote reply R if there is one. */
static void
fail_temp(struct client *c, const char *status, const char *why, const struct reply *r)
{
	struct reply lr;
	char text[REPLY_TEXT_MAX];
	snprintf(text, sizeof(text), "%.200s%.800s", why, r ? r->line : "");
	local_reply(&lr, 0, status, text);
	c->fail_temp = true;
	fail(c, &lr);
}

/* The server broke the protocol: the session is over, and nothing in the
 * transaction counts (4.5.0, a local reason with the reply R). */
static void
protocol_error(struct client *c, const char *why, const struct reply *r)
{
	char text[300];
	snprintf(text, sizeof(text), "protocol error: %s: ", why);
	fail_temp(c, "4.5.0", text, r);
}

/* A new connection's protocol state; the greeting is awaited. */
struct client *
client_new(const char *helo, const struct client_hooks *h, void *arg)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->helo, sizeof(c->helo), "%s", helo);
	c->h = h;
	c->arg = arg;
	c->state = CL_GREETING;
	c->wire = 1; /* the greeting */
	reply_reset(&c->r);
	return c;
}

/* TLS policy and AUTH credentials for this connection. */
void
client_configure(struct client *c, const struct client_opts *o)
{
	c->opts = *o;
	c->tls = o->tls_active;
	snprintf(c->user, sizeof(c->user), "%s", o->user ? o->user : "");
	snprintf(c->pass, sizeof(c->pass), "%s", o->pass ? o->pass : "");
	c->opts.user = c->opts.user ? c->user : NULL;
	c->opts.pass = NULL;
}

/* Release C. */
void
client_free(struct client *c)
{
	if (!c)
		return;
	explicit_bzero(c->pass, sizeof(c->pass));
	free(c->replies);
	free(c);
}

static void
ehlo_line(struct client *c, const char *line, size_t len)
{
	char kw[64];
	size_t i = 0;

	if (len < 4)
		return;
	line += 4;
	len -= 4;
	while (i < len && i < sizeof(kw) - 1 && line[i] != ' ' && line[i] != '=') {
		kw[i] = (char)toupper((unsigned char)line[i]);
		i++;
	}
	kw[i] = '\0';
	const char *rest = i < len ? line + i + 1 : "";
	size_t restlen = i < len ? len - i - 1 : 0;
	if (strcmp(kw, "PIPELINING") == 0) {
		c->ext.pipelining = true;
	} else if (strcmp(kw, "SIZE") == 0) {
		/* The line is not NUL-terminated: digits within its length. */
		uint64_t v = 0;
		for (size_t k = 0; k < restlen && rest[k] >= '0' && rest[k] <= '9'; k++)
			v = v > UINT64_MAX / 10 ? UINT64_MAX : v * 10 + (uint64_t)(rest[k] - '0');
		c->ext.size = true;
		c->ext.maxsize = v;
	} else if (strcmp(kw, "8BITMIME") == 0) {
		c->ext.eightbit = true;
	} else if (strcmp(kw, "SMTPUTF8") == 0) {
		c->ext.smtputf8 = true;
	} else if (strcmp(kw, "STARTTLS") == 0) {
		c->ext.starttls = true;
	} else if (strcmp(kw, "ENHANCEDSTATUSCODES") == 0) {
		c->ext.enhanced = true;
	} else if (strcmp(kw, "AUTH") == 0) {
		char mech[512];
		size_t n = restlen < sizeof(mech) - 1 ? restlen : sizeof(mech) - 1;
		memcpy(mech, rest, n);
		mech[n] = '\0';
		for (char *tok = strtok(mech, " "); tok; tok = strtok(NULL, " ")) {
			if (strcasecmp(tok, "PLAIN") == 0)
				c->ext.auth_plain = true;
			else if (strcasecmp(tok, "LOGIN") == 0)
				c->ext.auth_login = true;
		}
	}
}

/* EHLO (or HELO) is done: STARTTLS, then AUTH, then ready. The TLS
 * requirement is enforced here and only here. */
static void
after_ehlo(struct client *c)
{
	if (!c->tls && c->opts.tls != CLIENT_TLS_NONE) {
		if (c->ext.starttls) {
			client_enter_state(c, CL_STARTTLS);
			return;
		}
		if (c->opts.tls == CLIENT_TLS_REQUIRE) {
			fail_temp(c, "4.7.4",
				  "TLS is required, but was not offered by the remote host", NULL);
			return;
		}
	}
	if (c->opts.user) {
		if (!c->tls) {
			fail_temp(c, "4.7.4",
				  "the remote host offered no TLS: the password is never sent in "
				  "plaintext",
				  NULL);
			return;
		}
		if (c->ext.auth_plain || c->ext.auth_login) {
			char buf[600], b64[820];
			client_enter_state(c, CL_AUTH);
			if (c->ext.auth_plain) {
				/* RFC 4616: authzid NUL authcid NUL passwd */
				size_t ul = strlen(c->user), pl = strlen(c->pass);
				buf[0] = '\0';
				memcpy(buf + 1, c->user, ul);
				buf[ul + 1] = '\0';
				memcpy(buf + ul + 2, c->pass, pl);
				base64_encode(buf, ul + pl + 2, b64, sizeof(b64));
				c->auth_step = 0;
				sendf(c, "AUTH PLAIN %s\r\n", b64);
			} else {
				c->auth_step = 1;
				sendf(c, "AUTH LOGIN\r\n");
			}
			explicit_bzero(buf, sizeof(buf));
			explicit_bzero(b64, sizeof(b64));
			return;
		}
	}
	client_enter_state(c, CL_READY);
}

static void
auth_response(struct client *c, const struct reply *r)
{
	char b64[820];

	if (r->code == 235) {
		explicit_bzero(c->pass, sizeof(c->pass));
		client_enter_state(c, CL_READY);
		return;
	}
	if (r->code == 334 && c->auth_step == 1) {
		base64_encode(c->user, strlen(c->user), b64, sizeof(b64));
		c->auth_step = 2;
		sendf(c, "%s\r\n", b64);
		return;
	}
	if (r->code == 334 && c->auth_step == 2) {
		base64_encode(c->pass, strlen(c->pass), b64, sizeof(b64));
		explicit_bzero(c->pass, sizeof(c->pass));
		c->auth_step = 3;
		sendf(c, "%s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		return;
	}
	/* 535 and the rest: a configuration problem, never a bounce. */
	fail_temp(c, "4.7.8", "authentication failed: ", r);
}

/* The STARTTLS handshake succeeded: the server's extensions may differ
 * under TLS, so ask again (RFC 3207 4.2). */
void
client_tls_done(struct client *c)
{
	if (c->state != CL_TLS)
		return;
	c->tls = true;
	client_enter_state(c, CL_EHLO);
}

static void
txn_end(struct client *c)
{
	struct reply *replies = c->replies;
	c->replies = NULL;
	/* Still CL_TXN-like during the hook: only client_quit() is allowed. */
	client_enter_state(c, CL_TXN);
	c->h->txn_done(c->arg, replies);
	free(replies);
	if (c->state != CL_TXN)
		return; /* the owner quit */
	if (c->spent) {
		/* The server answered before the body was out: what is left
		 * of it would be read as commands. Nothing more is said. */
		client_enter_state(c, CL_DEAD);
		return;
	}
	client_enter_state(c, c->need_rset ? CL_RSET : CL_READY);
}

/* Send the next command of a non-pipelined transaction. */
static void
txn_next(struct client *c)
{
	size_t n = c->msg.nrcpt;

	if (c->sent == 0) {
		char params[128] = "";
		size_t o = 0;
		if (c->ext.size && c->msg.size)
			o += (size_t)snprintf(params + o, sizeof(params) - o, " SIZE=%llu",
					      (unsigned long long)c->msg.size);
		if (c->ext.eightbit && c->msg.body == BODY_8BITMIME)
			o += (size_t)snprintf(params + o, sizeof(params) - o, " BODY=8BITMIME");
		if (c->msg.smtputf8)
			snprintf(params + o, sizeof(params) - o, " SMTPUTF8");
		sendf(c, "MAIL FROM:<%s>%s\r\n", c->msg.sender, params);
	} else if (c->sent <= n) {
		sendf(c, "RCPT TO:<%s>\r\n", c->msg.rcpt[c->sent - 1]);
	} else {
		sendf(c, "DATA\r\n");
	}
	c->sent++;
}

/* Start transaction M; only in CL_READY. */
int
client_txn(struct client *c, const struct client_msg *m)
{
	if (c->state != CL_READY || m->nrcpt == 0)
		return -1;
	c->msg = *m;
	free(c->replies);
	c->replies = calloc(m->nrcpt, sizeof(*c->replies));
	if (!c->replies)
		return -1;
	c->sent = c->acked = c->accepted = 0;
	c->mail_failed = false;
	c->rset_wait = false;
	if (m->smtputf8 && !c->ext.smtputf8) {
		/* RFC 6531 3.4: never downgrade; this host cannot take it. */
		for (size_t i = 0; i < m->nrcpt; i++)
			local_reply(&c->replies[i], 550, "5.6.7",
				    "SMTPUTF8 is required but was not offered by the remote host");
		txn_end(c);
		return 0;
	}
	if (c->ext.maxsize && m->size > c->ext.maxsize) {
		for (size_t i = 0; i < m->nrcpt; i++)
			local_reply(&c->replies[i], 552, "5.3.4",
				    "message is larger than the remote host's SIZE limit");
		txn_end(c);
		return 0;
	}
	client_enter_state(c, CL_TXN);
	if (c->dirty) {
		/* A reused connection: RSET first, so the server's state is
		 * known; with PIPELINING it rides in the same write. */
		c->rset_wait = true;
		sendf(c, "RSET\r\n");
		if (!c->ext.pipelining)
			return 0;
	}
	c->dirty = true;
	if (c->ext.pipelining) {
		/* [RSET,] MAIL, RCPT..., DATA in one go (RFC 2920 3.1): the
		 * owner turns consecutive writes into one segment. */
		while (c->sent <= m->nrcpt + 1)
			txn_next(c);
	} else {
		txn_next(c);
	}
	return 0;
}

/* Say goodbye; the owner closes after the reply or a short wait. */
void
client_quit(struct client *c)
{
	if (c->state == CL_DEAD || c->state == CL_QUIT)
		return;
	client_enter_state(c, CL_QUIT);
}

/* A reply to the command numbered c->acked of the transaction. */
static void
txn_response(struct client *c, const struct reply *r)
{
	size_t n = c->msg.nrcpt;

	if (c->rset_wait) {
		c->rset_wait = false;
		if (r->code / 100 != 2) {
			fail(c, r); /* the connection is no good: a new one will do */
			return;
		}
		if (!c->ext.pipelining) {
			c->dirty = true;
			txn_next(c);
		}
		return;
	}
	size_t idx = c->acked++;

	if (r->code == 421) {
		fail(c, r);
		return;
	}
	if (r->code / 100 == 3 && idx <= n) {
		/* Only DATA may be answered with 3xx. */
		protocol_error(
			c, idx == 0 ? "MAIL FROM answered with 3xx" : "RCPT TO answered with 3xx",
			r);
		return;
	}
	if (idx == 0) {
		if (r->code / 100 != 2) {
			c->mail_failed = true;
			for (size_t i = 0; i < n; i++)
				c->replies[i] = *r;
		}
	} else if (idx <= n) {
		if (!c->mail_failed) {
			if (r->code / 100 == 2)
				c->accepted++;
			else
				c->replies[idx - 1] = *r;
		}
	} else {
		/* DATA */
		if (r->code == 354) {
			if (c->accepted == 0 || c->mail_failed) {
				/* A server that says 354 with no recipient: end
				 * the empty message and discard its verdict. */
				client_enter_state(c, CL_DOT);
				return;
			}
			client_enter_state(c, CL_BODY);
			return;
		}
		if (r->code / 100 == 2 || r->code / 100 == 3) {
			/* A server that says 250 to DATA has not received a
			 * message: it never counts as delivery. */
			protocol_error(c, "DATA answered without 354, no message was sent", r);
			return;
		}
		if (!c->mail_failed)
			for (size_t i = 0; i < n; i++)
				if (c->replies[i].code == 0)
					c->replies[i] = *r;
		c->need_rset = true;
		txn_end(c);
		return;
	}
	if (c->ext.pipelining)
		return; /* everything was sent; wait for the rest */
	if (c->mail_failed || (idx == n && c->accepted == 0)) {
		/* Stop early: nothing can be delivered in this transaction. */
		c->need_rset = true;
		txn_end(c);
		return;
	}
	txn_next(c);
}

static void
client_response(struct client *c, const struct reply *r)
{
	switch (c->state) {
	case CL_GREETING:
		if (r->code / 100 != 2) {
			fail(c, r);
			return;
		}
		client_enter_state(c, CL_EHLO);
		break;
	case CL_EHLO:
		if (r->code / 100 == 2) {
			after_ehlo(c);
		} else if (r->code == 421) {
			fail(c, r);
		} else {
			client_enter_state(c, CL_HELO);
		}
		break;
	case CL_HELO:
		if (r->code / 100 != 2) {
			fail(c, r);
			return;
		}
		after_ehlo(c);
		break;
	case CL_STARTTLS:
		if (r->code == 220) {
			client_enter_state(c, CL_TLS);
			return;
		}
		if (c->opts.tls == CLIENT_TLS_REQUIRE) {
			fail_temp(c, "4.7.4",
				  "TLS is required, but the remote host refused STARTTLS: ", r);
			return;
		}
		c->ext.starttls = false;
		after_ehlo(c);
		break;
	case CL_TLS:
		break;
	case CL_AUTH:
		auth_response(c, r);
		break;
	case CL_RSET:
		if (r->code / 100 != 2) {
			fail(c, r);
			return;
		}
		client_enter_state(c, CL_READY);
		break;
	case CL_TXN:
		txn_response(c, r);
		break;
	case CL_BODY:
		if (r->code == 421) {
			fail(c, r);
			return;
		}
		if (r->code / 100 == 3) {
			protocol_error(c, "end of data answered with 3xx", r);
			return;
		}
		for (size_t i = 0; i < c->msg.nrcpt; i++)
			if (c->replies[i].code == 0)
				c->replies[i] = *r;
		txn_end(c);
		break;
	case CL_DOT:
		c->need_rset = true;
		txn_end(c);
		break;
	case CL_QUIT:
		client_enter_state(c, CL_DEAD);
		break;
	case CL_READY:
		/* Unsolicited: a 421 means the server is going (and the
		 * owed-reply check let nothing else through). */
		fail(c, r);
		break;
	case CL_DEAD:
		break;
	}
}

/* Is a reply owed now? A complete reply R that nothing on the wire asked
 * for is accepted only when it cannot make anything count as sent: a 421
 * (the server is leaving) or an early 4xx/5xx verdict on a body still
 * being written. Anything else fails the session; false then. */
static bool
reply_owed(struct client *c, const struct reply *r)
{
	if (c->wire > 0) {
		c->wire--;
		return true;
	}
	if (r->code == 421 || (c->state == CL_BODY && r->code >= 400)) {
		if (c->queued > 0)
			c->queued--;
		if (c->state == CL_BODY)
			c->spent = true; /* the body may still be on its way */
		return true;
	}
	protocol_error(
		c,
		c->state == CL_BODY
			? "reply to the end of data before the message was sent"
			: "reply before the command it answers was sent (pipelining violation)",
		r);
	return false;
}

/* What the reply read now answers, by the state (and, in a transaction,
 * by the replies counted so far). */
static enum reply_cmd
answered(const struct client *c)
{
	switch (c->state) {
	case CL_GREETING:
		return RCMD_GREETING;
	case CL_EHLO:
		return RCMD_EHLO;
	case CL_HELO:
		return RCMD_HELO;
	case CL_STARTTLS:
		return RCMD_STARTTLS;
	case CL_AUTH:
		return RCMD_AUTH;
	case CL_RSET:
		return RCMD_RSET;
	case CL_TXN:
		if (c->rset_wait)
			return RCMD_RSET;
		return c->acked == 0 ? RCMD_MAIL : c->acked <= c->msg.nrcpt ? RCMD_RCPT : RCMD_DATA;
	case CL_BODY:
	case CL_DOT:
		return RCMD_EOD;
	case CL_QUIT:
		return RCMD_QUIT;
	default:
		return RCMD_NONE;
	}
}

/* Replies the server owes. */
unsigned
client_due(const struct client *c)
{
	return c->state == CL_DEAD ? 0 : c->queued + c->wire;
}

/* What was written is on the wire: replies to it may come. */
void
client_flushed(struct client *c)
{
	c->wire += c->queued;
	c->queued = 0;
}

/* One line from the server. */
int
client_input(struct client *c, const char *line, size_t len)
{
	if (c->state == CL_DEAD)
		return 0;
	if (c->r.nlines >= CLIENT_REPLY_LINES || c->rbytes + len + 2 > CLIENT_REPLY_BYTES) {
		struct reply big;
		char why[120];
		snprintf(why, sizeof(why),
			 "a reply from the remote server of more than %u lines or %u bytes",
			 CLIENT_REPLY_LINES, CLIENT_REPLY_BYTES);
		local_reply(&big, 0, "4.5.0", why);
		c->fail_temp = true;
		fail(c, &big);
		return -1;
	}
	c->rbytes += len + 2;
	if (c->state == CL_EHLO)
		ehlo_line(c, line, len);
	int rv = reply_feed(&c->r, line, len);
	if (rv == -1) {
		struct reply bad;
		local_reply(&bad, 451, "4.5.0", "malformed reply from the remote server");
		char shown[80];
		size_t n = len < 60 ? len : 60;
		for (size_t i = 0; i < n; i++)
			shown[i] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
		shown[n] = '\0';
		snprintf(bad.line, sizeof(bad.line),
			 "451 4.5.0 malformed reply from the remote server: \"%s\"", shown);
		fail(c, &bad);
		return -1;
	}
	if (rv == 0)
		return 0;
	struct reply r = c->r;
	reply_reset(&c->r);
	c->rbytes = 0;
	c->nreplies++;
	r.cmd = answered(c);
	if (!reply_owed(c, &r))
		return 0;
	client_response(c, &r);
	return 0;
}
