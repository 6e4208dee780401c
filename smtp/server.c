/*
 * server.c — the inbound SMTP protocol state machine.
 *
 * server_new(), server_free(), server_start(), server_input(),
 * server_data_done(), server_paused(), server_timeout(), server_shutdown(),
 * server_strstate()
 *
 * Verbs live in a table of {verb, check, proceed} (as OpenSMTPD's
 * smtp_session.c): check() says whether the verb is allowed in the current
 * state and answers the 503 itself; proceed() does the work. Every reply is
 * written here; the owner only provides bytes and storage.
 *
 * Invariants: a command line is at most CMD_LINE_MAX bytes with its CRLF
 * (longer ones are discarded up to their LF and get 500 5.5.2, never
 * buffered); in SRV_DATA every byte goes through the data scanner, which is
 * the only code that can end DATA; in SRV_COMMIT and SRV_CLOSED nothing is
 * consumed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/base64.h"
#include "smtp/server.h"

static void reply(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct server *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	s->h->write(s->arg, buf, (size_t)n);
}

/* The state's name, for traces. */
const char *
server_strstate(enum server_state st)
{
	static const char *names[] = {"INIT", "HELO", "MAIL",	   "RCPT",	"DATA",	 "COMMIT",
				      "TLS",  "AUTH", "AUTHCHECK", "RCPTCHECK", "CLOSED"};
	return st <= SRV_CLOSED ? names[st] : "?";
}

static void
txn_reset(struct server *s)
{
	for (size_t i = 0; i < s->txn.nrcpt; i++)
		free(s->txn.rcpt[i]);
	free(s->txn.rcpt);
	s->txn.rcpt = NULL;
	s->txn.nrcpt = 0;
	s->txn.sender[0] = '\0';
	s->txn.size = 0;
	memset(&s->txn.params, 0, sizeof(s->txn.params));
}

static void
close_session(struct server *s)
{
	s->state = SRV_CLOSED;
	s->h->close(s->arg);
}

/* A failed command; too many of them and the client is cut off. */
static void
error_reply(struct server *s, const char *text)
{
	reply(s, "%s", text);
	if (++s->errors >= SERVER_MAX_ERRORS) {
		reply(s, "421 4.7.0 %s Error: too many errors", s->p.hostname);
		close_session(s);
	}
}

/* Tell the owner about a refusal this file decided; the reply is sent by
 * the caller. */
static void
rejected(struct server *s, const char *stage, const char *sender, const char *rcpt,
	 const char *reason, const char *text)
{
	struct server_reject r = {stage, sender, rcpt, text, reason};

	if (s->h->reject)
		s->h->reject(s->arg, &s->txn, &r);
}

/* A new session's protocol state. */
struct server *
server_new(const struct server_params *p, const struct server_hooks *h, void *arg)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->p = *p;
	s->h = h;
	s->arg = arg;
	s->state = SRV_INIT;
	s->tls = p->tls;
	return s;
}

/* Release S (the owner has stopped calling into it). */
void
server_free(struct server *s)
{
	if (!s)
		return;
	txn_reset(s);
	free(s);
}

/* The greeting. */
void
server_start(struct server *s)
{
	reply(s, "220 %s ESMTP relayd", s->p.hostname);
}

/* ---- verbs ---------------------------------------------------------- */

static bool
need_helo(struct server *s)
{
	if (s->state == SRV_INIT) {
		error_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return false;
	}
	return true;
}

static bool
check_any(struct server *s)
{
	return true;
}

static bool
check_mail(struct server *s)
{
	if (!need_helo(s))
		return false;
	if (s->state != SRV_HELO) {
		error_reply(s, "503 5.5.1 Error: nested MAIL command");
		return false;
	}
	return true;
}

static bool
check_rcpt(struct server *s)
{
	if (s->state != SRV_MAIL && s->state != SRV_RCPT) {
		error_reply(s, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	return true;
}

static bool
check_data(struct server *s)
{
	if (s->state == SRV_MAIL) {
		error_reply(s, "503 5.5.1 Error: need RCPT command");
		return false;
	}
	if (s->state != SRV_RCPT) {
		error_reply(s, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	return true;
}

static void
do_helo(struct server *s, const char *args, bool ehlo)
{
	if (!*args) {
		error_reply(s, ehlo ? "501 5.5.4 Syntax: EHLO hostname"
				    : "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	txn_reset(s);
	snprintf(s->txn.helo, sizeof(s->txn.helo), "%s", args);
	s->txn.esmtp = ehlo;
	s->state = SRV_HELO;
	if (!ehlo) {
		reply(s, "250 %s", s->p.hostname);
		return;
	}
	bool starttls = s->p.starttls && !s->tls;
	bool auth = s->p.auth && s->tls && !s->authenticated;
	reply(s,
	      "250-%s\r\n"
	      "250-PIPELINING\r\n"
	      "250-SIZE %llu\r\n"
	      "250-8BITMIME\r\n"
	      "250-ENHANCEDSTATUSCODES\r\n"
	      "%s%s"
	      "250 SMTPUTF8",
	      s->p.hostname, (unsigned long long)s->p.max_size, starttls ? "250-STARTTLS\r\n" : "",
	      auth ? "250-AUTH PLAIN LOGIN\r\n" : "");
}

static void
proceed_helo(struct server *s, const char *args)
{
	do_helo(s, args, false);
}

static void
proceed_ehlo(struct server *s, const char *args)
{
	do_helo(s, args, true);
}

static void
proceed_mail(struct server *s, const char *args)
{
	const char *params, *err;
	struct cmd_mail_params mp;

	if (s->p.require_tls && !s->tls) {
		static const char text[] = "530 5.7.0 Must issue a STARTTLS command first";
		char sender[CMD_LINE_MAX];
		/* Refused before it is parsed; the log still names the sender. */
		bool known =
			cmd_path(args, "FROM", true, sender, sizeof(sender), &params, &err) == 0;
		rejected(s, "MAIL", known ? sender : NULL, NULL, "tls_required", text);
		error_reply(s, text);
		return;
	}
	if (cmd_path(args, "FROM", true, s->txn.sender, sizeof(s->txn.sender), &params, &err) ==
		    -1 ||
	    cmd_mail_params(params, &mp, &err) == -1) {
		s->txn.sender[0] = '\0';
		error_reply(s, err);
		return;
	}
	if (mp.has_size && mp.size > s->p.max_size) {
		static const char text[] = "552 5.3.4 Message size exceeds fixed limit";
		rejected(s, "MAIL", s->txn.sender, NULL, "message_too_large", text);
		s->txn.sender[0] = '\0';
		error_reply(s, text);
		return;
	}
	s->txn.params = mp;
	s->state = SRV_MAIL;
	reply(s, "250 2.1.0 Ok");
}

const char SERVER_PENDING[] = "pending";

static void rcpt_add(struct server *s, const char *rcpt);

static void
proceed_rcpt(struct server *s, const char *args)
{
	char rcpt[CMD_LINE_MAX];
	const char *params, *err;

	if (cmd_path(args, "TO", false, rcpt, sizeof(rcpt), &params, &err) == -1 ||
	    cmd_rcpt_params(params, &err) == -1) {
		error_reply(s, err);
		return;
	}
	if (strchr(rcpt, '@') == NULL) {
		/* "<Postmaster>" (RFC 5321 4.5.1), the only path without a
		 * domain cmd_path() lets through. */
		if (!s->p.postmaster) {
			static const char text[] = "550 5.1.1 <postmaster>: Recipient address "
						   "rejected: no postmaster address is configured";
			rejected(s, "RCPT", s->txn.sender, rcpt, "no_postmaster", text);
			error_reply(s, text);
			return;
		}
		snprintf(rcpt, sizeof(rcpt), "%s", s->p.postmaster);
	}
	if (s->txn.nrcpt >= s->p.max_rcpt) {
		static const char text[] = "452 4.5.3 Error: too many recipients";
		rejected(s, "RCPT", s->txn.sender, rcpt, "too_many_recipients", text);
		reply(s, "%s", text);
		return;
	}
	const char *refuse = s->h->rcpt(s->arg, &s->txn, rcpt);
	if (refuse == SERVER_PENDING) {
		snprintf(s->pending_rcpt, sizeof(s->pending_rcpt), "%s", rcpt);
		s->auth_return = s->state;
		s->state = SRV_RCPTCHECK;
		return;
	}
	if (refuse) {
		error_reply(s, refuse);
		return;
	}
	rcpt_add(s, rcpt);
}

/* The verdict on a recipient the owner had to look up. */
void
server_rcpt_done(struct server *s, const char *refuse)
{
	if (s->state != SRV_RCPTCHECK)
		return;
	s->state = s->auth_return;
	if (refuse) {
		error_reply(s, refuse);
		return;
	}
	rcpt_add(s, s->pending_rcpt);
}

static void
rcpt_add(struct server *s, const char *rcpt)
{
	char **nr = realloc(s->txn.rcpt, (s->txn.nrcpt + 1) * sizeof(*nr));
	char *copy = strdup(rcpt);
	if (!nr || !copy) {
		if (nr)
			s->txn.rcpt = nr;
		free(copy);
		reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->txn.rcpt = nr;
	s->txn.rcpt[s->txn.nrcpt++] = copy;
	s->state = SRV_RCPT;
	reply(s, "250 2.1.5 Ok");
}

static void
data_out(void *arg, const char *buf, size_t len)
{
	struct server *s = arg;

	if (!s->data_ok)
		return;
	if (s->ds.size > s->p.max_size) {
		/* Too big: stop storing; keep reading up to the end. */
		s->data_ok = false;
		return;
	}
	s->h->data_write(s->arg, buf, len);
}

static void
proceed_data(struct server *s, const char *args)
{
	if (*args) {
		error_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	const char *refuse = s->h->data_start(s->arg, &s->txn);
	if (refuse) {
		reply(s, "%s", refuse);
		return;
	}
	data_init(&s->ds, s->p.normalize, data_out, s);
	s->data_ok = true;
	s->state = SRV_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
proceed_rset(struct server *s, const char *args)
{
	txn_reset(s);
	if (s->state != SRV_INIT)
		s->state = SRV_HELO;
	reply(s, "250 2.0.0 Ok");
}

static void
proceed_noop(struct server *s, const char *args)
{
	reply(s, "250 2.0.0 Ok");
}

static void
proceed_help(struct server *s, const char *args)
{
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
}

static void
proceed_vrfy(struct server *s, const char *args)
{
	if (!*args) {
		error_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
proceed_quit(struct server *s, const char *args)
{
	reply(s, "221 2.0.0 Bye");
	close_session(s);
}

static bool
check_no_txn(struct server *s)
{
	if (!need_helo(s))
		return false;
	if (s->state != SRV_HELO) {
		error_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return false;
	}
	return true;
}

static bool
check_starttls(struct server *s)
{
	/* Not offered: 502 whatever the state (proceed_starttls says it). */
	return !s->p.starttls || check_no_txn(s);
}

static void
proceed_starttls(struct server *s, const char *args)
{
	if (!s->p.starttls) {
		error_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->tls) {
		error_reply(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (*args) {
		error_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	s->state = SRV_TLS;
	s->h->starttls(s->arg);
}

/* The STARTTLS handshake finished: on success everything learnt before
 * is forgotten (RFC 3207 4.2) and the client must EHLO again. */
void
server_tls_done(struct server *s, bool ok)
{
	if (s->state != SRV_TLS)
		return;
	if (!ok) {
		close_session(s);
		return;
	}
	txn_reset(s);
	s->txn.helo[0] = '\0';
	s->tls = true;
	s->state = SRV_INIT;
}

static void
auth_abort(struct server *s, const char *text)
{
	s->state = s->auth_return;
	s->auth_step = AUTH_NONE;
	error_reply(s, text);
}

static void
auth_check(struct server *s, const char *user, const char *pass)
{
	s->state = SRV_AUTHCHECK;
	snprintf(s->user, sizeof(s->user), "%s", user);
	const char *refuse = s->h->auth(s->arg, user, pass);
	if (refuse) {
		s->user[0] = '\0';
		auth_abort(s, refuse);
	}
}

/* AUTH PLAIN's response: authzid NUL authcid NUL password (RFC 4616). */
static void
auth_plain(struct server *s, const char *b64)
{
	char buf[768];
	long n = base64_decode(b64, buf, sizeof(buf) - 1);
	if (n < 0) {
		auth_abort(s, "501 5.5.2 Error: cannot decode the AUTH response");
		return;
	}
	buf[n] = '\0';
	char *user = memchr(buf, '\0', (size_t)n);
	char *pass = user ? memchr(user + 1, '\0', (size_t)(buf + n - (user + 1))) : NULL;
	if (!user || !pass || !user[1]) {
		explicit_bzero(buf, sizeof(buf));
		auth_abort(s, "501 5.5.2 Error: bad AUTH PLAIN response");
		return;
	}
	auth_check(s, user + 1, pass + 1);
	explicit_bzero(buf, sizeof(buf));
}

static void
auth_response(struct server *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		auth_abort(s, "501 5.7.0 Error: authentication aborted");
		return;
	}
	switch (s->auth_step) {
	case AUTH_PLAIN:
		auth_plain(s, line);
		break;
	case AUTH_LOGIN_USER: {
		long n = base64_decode(line, s->user, sizeof(s->user) - 1);
		if (n <= 0 || memchr(s->user, '\0', (size_t)n)) {
			auth_abort(s, "501 5.5.2 Error: cannot decode the AUTH response");
			return;
		}
		s->user[n] = '\0';
		s->auth_step = AUTH_LOGIN_PASS;
		reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		break;
	}
	case AUTH_LOGIN_PASS: {
		char pass[512], user[256];
		long n = base64_decode(line, pass, sizeof(pass) - 1);
		if (n < 0) {
			auth_abort(s, "501 5.5.2 Error: cannot decode the AUTH response");
			return;
		}
		pass[n] = '\0';
		snprintf(user, sizeof(user), "%s", s->user);
		auth_check(s, user, pass);
		explicit_bzero(pass, sizeof(pass));
		break;
	}
	case AUTH_NONE:
		break;
	}
}

static void
proceed_auth(struct server *s, const char *args)
{
	if (!s->p.auth) {
		error_reply(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (!s->tls) {
		error_reply(s, "538 5.7.11 Encryption required for requested authentication "
			       "mechanism");
		return;
	}
	if (s->authenticated) {
		error_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	/* Before 334: a client refused here costs nothing more. */
	const char *refuse = s->h->auth_begin(s->arg);
	if (refuse) {
		error_reply(s, refuse);
		return;
	}
	char mech[32];
	size_t n = strcspn(args, " ");
	if (n == 0 || n >= sizeof(mech)) {
		error_reply(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, args, n);
	mech[n] = '\0';
	const char *initial = args[n] ? args + n + 1 : NULL;
	s->auth_return = s->state;
	if (strcasecmp(mech, "PLAIN") == 0) {
		s->auth_step = AUTH_PLAIN;
		if (initial && strcmp(initial, "=") != 0) {
			auth_plain(s, initial);
			return;
		}
		s->state = SRV_AUTH;
		reply(s, "334 ");
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		s->state = SRV_AUTH;
		s->auth_step = AUTH_LOGIN_USER;
		if (initial) {
			auth_response(s, initial);
			return;
		}
		reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
	} else {
		error_reply(s, "504 5.5.4 Error: unrecognized authentication type");
	}
}

/* The verdict on the credentials given to AUTH. */
void
server_auth_done(struct server *s, bool ok)
{
	if (s->state != SRV_AUTHCHECK)
		return;
	s->state = s->auth_return;
	s->auth_step = AUTH_NONE;
	if (ok) {
		s->authenticated = true;
		reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	s->user[0] = '\0';
	error_reply(s, "535 5.7.8 Error: authentication failed");
}

static void
proceed_unimpl(struct server *s, const char *args)
{
	error_reply(s, "502 5.5.1 Error: command not implemented");
}

static void
proceed_unknown(struct server *s, const char *args)
{
	error_reply(s, "500 5.5.1 Error: command not recognized");
}

static const struct {
	enum cmd_verb verb;
	bool (*check)(struct server *);
	void (*proceed)(struct server *, const char *);
} commands[] = {
	{CMD_HELO, check_any, proceed_helo},	   {CMD_EHLO, check_any, proceed_ehlo},
	{CMD_MAIL, check_mail, proceed_mail},	   {CMD_RCPT, check_rcpt, proceed_rcpt},
	{CMD_DATA, check_data, proceed_data},	   {CMD_RSET, check_any, proceed_rset},
	{CMD_NOOP, check_any, proceed_noop},	   {CMD_HELP, check_any, proceed_help},
	{CMD_VRFY, check_any, proceed_vrfy},	   {CMD_QUIT, check_any, proceed_quit},
	{CMD_EXPN, check_any, proceed_unimpl},	   {CMD_STARTTLS, check_starttls, proceed_starttls},
	{CMD_AUTH, check_no_txn, proceed_auth},	   {CMD_BDAT, check_any, proceed_unimpl},
	{CMD_UNKNOWN, check_any, proceed_unknown},
};

static void
command(struct server *s, const char *line, size_t len)
{
	struct cmd cmd;

	if (cmd_parse(line, len, &cmd) == -1) {
		error_reply(s, "500 5.5.2 Error: bad syntax");
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].verb != cmd.verb)
			continue;
		if (commands[i].check(s))
			commands[i].proceed(s, cmd.args);
		return;
	}
	proceed_unknown(s, cmd.args);
}

/* A message refused at its end: tell the owner (the log names the last
 * recipient, as Postfix's), drop it, reply. */
static void
data_refuse(struct server *s, const char *reason, const char *text)
{
	rejected(s, "END-OF-MESSAGE", s->txn.sender,
		 s->txn.nrcpt ? s->txn.rcpt[s->txn.nrcpt - 1] : NULL, reason, text);
	s->h->data_end(s->arg, &s->txn, false);
	txn_reset(s);
	s->state = SRV_HELO;
	error_reply(s, text);
}

static void
data_finish(struct server *s)
{
	s->txn.size = s->ds.size;
	if (s->ds.nul) {
		/* Refused in both bare_newline modes: no rewriting of a NUL is
		 * safe for every downstream, and no real mail holds one. */
		data_refuse(s, "nul",
			    "550 5.6.0 Error: message contains NUL characters (not allowed in "
			    "mail, RFC 5321 2.3.8)");
		return;
	}
	if (s->ds.bare && !s->p.normalize) {
		data_refuse(s, "bare_newline",
			    "550 5.5.2 Error: message contains bare CR or LF characters (lines "
			    "must end with CRLF)");
		return;
	}
	/* The last piece may have pushed it over without another out(). */
	if (!s->data_ok || s->ds.size > s->p.max_size) {
		data_refuse(s, "message_too_large", "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->state = SRV_COMMIT;
	s->h->data_end(s->arg, &s->txn, true);
}

/* The storage verdict for the message whose DATA ended: REPLY is sent
 * ("250 2.0.0 Ok: queued as QID" or a 4xx) and the session goes on. */
void
server_data_done(struct server *s, const char *text)
{
	if (s->state != SRV_COMMIT)
		return;
	txn_reset(s);
	s->state = SRV_HELO;
	reply(s, "%s", text);
}

/* True while no input may be consumed. */
bool
server_paused(const struct server *s)
{
	return s->state == SRV_COMMIT || s->state == SRV_TLS || s->state == SRV_AUTHCHECK ||
	       s->state == SRV_RCPTCHECK || s->state == SRV_CLOSED;
}

/* Feed LEN bytes; returns how many were consumed (fewer when paused). */
size_t
server_input(struct server *s, const char *buf, size_t len)
{
	size_t used = 0;

	while (used < len && !server_paused(s)) {
		if (s->state == SRV_DATA) {
			used += data_scan(&s->ds, buf + used, len - used);
			if (s->ds.done)
				data_finish(s);
			continue;
		}
		const char *p = buf + used;
		const char *lf = memchr(p, '\n', len - used);
		size_t seg = lf ? (size_t)(lf - p) + 1 : len - used;
		if (!s->overflow && s->linelen + seg <= CMD_LINE_MAX) {
			memcpy(s->line + s->linelen, p, seg);
			s->linelen += seg;
		} else {
			s->overflow = true;
		}
		used += seg;
		if (!lf)
			break;
		if (s->overflow) {
			s->overflow = false;
			s->linelen = 0;
			s->lines++;
			error_reply(s, "500 5.5.2 Error: line too long");
			continue;
		}
		/* Strip LF and one CR; a bare LF line end is tolerated for
		 * commands, as every MTA does. */
		size_t n = s->linelen - 1;
		if (n > 0 && s->line[n - 1] == '\r')
			n--;
		s->line[n] = '\0';
		s->linelen = 0;
		s->lines++;
		if (s->state == SRV_AUTH)
			auth_response(s, s->line);
		else
			command(s, s->line, n);
		explicit_bzero(s->line, n);
	}
	return used;
}

/* The client said nothing for too long. */
void
server_timeout(struct server *s)
{
	if (s->state == SRV_CLOSED)
		return;
	if (s->state == SRV_DATA)
		s->h->data_end(s->arg, &s->txn, false);
	reply(s, "421 4.4.2 %s Error: timeout exceeded", s->p.hostname);
	close_session(s);
}

/* relayd is stopping. */
void
server_shutdown(struct server *s)
{
	if (s->state == SRV_CLOSED || s->state == SRV_COMMIT || s->state == SRV_AUTHCHECK ||
	    s->state == SRV_RCPTCHECK)
		return;
	if (s->state == SRV_DATA)
		s->h->data_end(s->arg, &s->txn, false);
	reply(s, "421 4.3.2 %s Service shutting down", s->p.hostname);
	close_session(s);
}
