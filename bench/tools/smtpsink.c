/*
 * smtpsink.c — a benchmark SMTP sink that speaks STARTTLS (Postfix's smtp-sink does not).
 *
 * main()   smtpsink [-c] [-u USER] [-r CMD|ADDR,...] [--cert FILE --key FILE]
 *                   [-T 1.2|1.3] [--no-tickets] HOST:PORT BACKLOG
 *
 * Accepts every message at once and throws the body away, on one libevent
 * loop. Replies: 220 greeting; EHLO with PIPELINING, 8BITMIME, SIZE,
 * ENHANCEDSTATUSCODES and, given a certificate, STARTTLS; MAIL, RCPT, RSET,
 * NOOP 250; DATA 354; "." 250; QUIT 221. Pipelined commands are answered in
 * one write per read. -r takes smtp-sink's list of commands to answer with
 * a 450 (MAIL, RCPT, DATA, "." ...); an entry with an '@' is a recipient
 * address whose RCPT alone gets the 450.
 *
 * -c prints smtp-sink's running counters, "sess=N quit=N tls=N resumed=N
 * mesg=N\r", each as one write(2) (stdout may be a file opened O_APPEND that
 * bench.py truncates between runs): at most 10 ms after a change, and at
 * exit (SIGTERM, SIGINT). tls= and resumed= stand before mesg= so that the
 * "mesg=(\d+)\r" bench.py looks for still matches. sess counts sessions
 * that ended, tls STARTTLS handshakes that completed, resumed those that
 * resumed a session (a ticket, or an ID from the server's cache).
 *
 * STARTTLS swaps the plain bufferevent for bufferevent_openssl_socket_new()
 * on the same socket (the 220 is written out first; unread plaintext after
 * STARTTLS closes the connection), which saves the filter's copy through a
 * memory BIO. The end of DATA is found by a scanner that keeps its state
 * between reads, so CRLF.CRLF split across segments is seen; a lone LF ends
 * a line too (like smtp-sink).
 *
 * Invariants: a connection is freed only from the top of its own libevent
 * callback; every connection is on the list, so exit frees them all.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define SINK_LINE_MAX 4096    /* a longer command line closes the connection */
#define SINK_IDLE_SECONDS 300 /* without a byte from the client */
#define SINK_FLUSH_USEC 10000 /* counters are printed at most this long after a change */
#define SINK_REJECT_MAX 32

enum sink_state {
	SINK_CMD,     /* reading command lines */
	SINK_DATA,    /* discarding the body up to CRLF.CRLF */
	SINK_TLS,     /* the server side of the handshake */
	SINK_CLOSING, /* the last reply is being written; then free */
};

/* The end-of-data scanner: where the bytes seen so far leave us. */
enum sink_dot {
	DOT_MID,   /* inside a line */
	DOT_BOL,   /* at the start of a line */
	DOT_DOT,   /* a '.' at the start of a line */
	DOT_DOTCR, /* ".\r" at the start of a line */
};

struct sink_conn {
	struct bufferevent *bev;
	evutil_socket_t fd;
	enum sink_state state;
	enum sink_dot dot;
	bool mail; /* MAIL accepted */
	bool tls;  /* after the handshake */
	int nrcpt; /* RCPTs accepted */
	TAILQ_ENTRY(sink_conn) entry;
};

TAILQ_HEAD(sink_conns, sink_conn);

/* The commands -r answers with 450, and the recipients. */
enum {
	REJ_MAIL = 1 << 0,
	REJ_RCPT = 1 << 1,
	REJ_DATA = 1 << 2,
	REJ_DOT = 1 << 3,
	REJ_EHLO = 1 << 4,
	REJ_HELO = 1 << 5,
	REJ_RSET = 1 << 6,
	REJ_NOOP = 1 << 7,
	REJ_CONNECT = 1 << 8,
	REJ_STARTTLS = 1 << 9,
};

struct sink {
	struct event_base *base;
	struct evconnlistener *lis;
	struct event *flush_ev, *sigterm, *sigint;
	SSL_CTX *ssl;
	struct sink_conns conns;
	unsigned reject; /* REJ_* */
	char *reject_rcpt[SINK_REJECT_MAX];
	int nreject_rcpt;
	bool counters, dirty, flush_armed;
	unsigned long sess, quit, mesg, ntls, resumed;
};

static struct sink sink;

static void sink_read(struct bufferevent *, void *);
static void sink_write(struct bufferevent *, void *);
static void sink_event(struct bufferevent *, short, void *);

static void
usage(void)
{
	fprintf(stderr,
		"usage: smtpsink [-c] [-u USER] [-r CMD|ADDR,...] [--cert FILE --key FILE]\n"
		"                [-T 1.2|1.3] [--no-tickets] HOST:PORT BACKLOG\n");
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtpsink: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The first OpenSSL error as text, for fatal(). */
static const char *
sink_ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* Print the counters line now, as one write. */
static void
sink_print(void)
{
	char line[160];
	int n;

	if (!sink.counters)
		return;
	n = snprintf(line, sizeof(line), "sess=%lu quit=%lu tls=%lu resumed=%lu mesg=%lu\r",
		     sink.sess, sink.quit, sink.ntls, sink.resumed, sink.mesg);
	if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
		/* a full disk or a closed pipe: the counters are best effort */
	}
	sink.dirty = false;
}

static void
sink_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	sink.flush_armed = false;
	if (sink.dirty)
		sink_print();
}

/* A counter changed: print it soon, in one line with the others that change meanwhile. */
static void
sink_changed(void)
{
	struct timeval tv = {0, SINK_FLUSH_USEC};

	sink.dirty = true;
	if (sink.counters && !sink.flush_armed) {
		sink.flush_armed = true;
		evtimer_add(sink.flush_ev, &tv);
	}
}

static void
sink_free(struct sink_conn *sc)
{
	TAILQ_REMOVE(&sink.conns, sc, entry);
	if (sc->bev != NULL)
		bufferevent_free(sc->bev); /* and the socket, once its events are gone */
	free(sc);
	sink.sess++;
	sink_changed();
}

/*
 * Replies are gathered here while one read is handled (pipelined commands
 * get one write), then sink_flush() sends them: in plaintext with nothing
 * queued, straight to the socket, which spares the bufferevent's EPOLLOUT
 * round trip; what the socket does not take is queued behind.
 */
static struct {
	char buf[8192];
	size_t len;
} pend;

static void
sink_flush(struct sink_conn *sc)
{
	struct evbuffer *out = bufferevent_get_output(sc->bev);
	const char *p = pend.buf;
	size_t len = pend.len;
	ssize_t n;

	pend.len = 0;
	if (len == 0)
		return;
	if (!sc->tls && evbuffer_get_length(out) == 0 &&
	    (n = send(sc->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)) > 0) {
		p += n;
		len -= (size_t)n;
	}
	if (len > 0)
		evbuffer_add(out, p, len);
}

static void
sink_reply(struct sink_conn *sc, const char *text)
{
	size_t len = strlen(text);

	if (pend.len + len > sizeof(pend.buf))
		sink_flush(sc);
	memcpy(pend.buf + pend.len, text, len);
	pend.len += len;
}

/* Reply, then close once the reply is out (at once when there is nothing
 * to write: SC may be gone on return). */
static void
sink_close_after(struct sink_conn *sc, const char *text)
{
	sink_reply(sc, text);
	sink_flush(sc);
	if (evbuffer_get_length(bufferevent_get_output(sc->bev)) == 0) {
		sink_free(sc);
		return;
	}
	sc->state = SINK_CLOSING;
	bufferevent_disable(sc->bev, EV_READ);
}

/* Whether -r lists RCPT's address ARGS ("TO:<a@b> ..."). */
static bool
sink_rcpt_blocked(const char *args)
{
	const char *lt = strchr(args, '<'), *gt;
	size_t len;
	int i;

	if (sink.nreject_rcpt == 0 || lt == NULL || (gt = strchr(lt, '>')) == NULL)
		return false;
	len = (size_t)(gt - lt - 1);
	for (i = 0; i < sink.nreject_rcpt; i++)
		if (strlen(sink.reject_rcpt[i]) == len &&
		    strncasecmp(sink.reject_rcpt[i], lt + 1, len) == 0)
			return true;
	return false;
}

/* The EHLO reply, with STARTTLS while it may be used. */
static void
sink_ehlo(struct sink_conn *sc)
{
	sink_reply(sc, "250-smtpsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n");
	if (sink.ssl != NULL && !sc->tls)
		sink_reply(sc, "250-STARTTLS\r\n");
	sink_reply(sc, "250 ENHANCEDSTATUSCODES\r\n");
}

/*
 * Write out the 220 to STARTTLS and everything before it, then hand the
 * socket to OpenSSL. Returns -1 when that cannot be done (the caller
 * closes); SC is gone when a new bufferevent cannot be made.
 */
static int
sink_starttls(struct sink_conn *sc)
{
	struct timeval idle = {SINK_IDLE_SECONDS, 0};
	struct evbuffer *out = bufferevent_get_output(sc->bev);
	unsigned char *p;
	size_t len;
	SSL *ssl;

	if (evbuffer_get_length(bufferevent_get_input(sc->bev)) != 0)
		return -1; /* plaintext pipelined after STARTTLS (RFC 3207 5) */
	sink_reply(sc, "220 2.0.0 Ready to start TLS\r\n");
	sink_flush(sc);
	/* what is still queued, by hand: the bufferevent keeps the start of its
	 * output frozen (a fresh socket's buffer takes these few hundred bytes) */
	len = evbuffer_get_length(out);
	if (len > 0 && ((p = evbuffer_pullup(out, -1)) == NULL ||
			send(sc->fd, p, len, MSG_NOSIGNAL) != (ssize_t)len))
		return -1;
	if ((ssl = SSL_new(sink.ssl)) == NULL)
		return -1;
	bufferevent_setfd(sc->bev, -1); /* so that freeing it keeps the socket open */
	bufferevent_free(sc->bev);
	sc->bev = bufferevent_openssl_socket_new(sink.base, sc->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						 BEV_OPT_CLOSE_ON_FREE);
	if (sc->bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(sc->fd);
		sink_free(sc);
		return 0;
	}
	sc->tls = true;
	sc->state = SINK_TLS;
	bufferevent_setcb(sc->bev, sink_read, sink_write, sink_event, sc);
	bufferevent_set_timeouts(sc->bev, &idle, &idle);
	bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
	return 0;
}

/* One command line (LEN bytes, line end removed). Returns -1 when SC was replaced or closed. */
static int
sink_command(struct sink_conn *sc, char *line, size_t len)
{
	char *args;

	args = line;
	while (*args != '\0' && *args != ' ')
		args++;
	if (*args == ' ')
		*args++ = '\0';
	if (strcasecmp(line, "MAIL") == 0) {
		if (sink.reject & REJ_MAIL)
			sink_reply(sc, "450 4.3.0 Error: command failed\r\n");
		else {
			sc->mail = true;
			sc->nrcpt = 0;
			sink_reply(sc, "250 2.1.0 Ok\r\n");
		}
	} else if (strcasecmp(line, "RCPT") == 0) {
		if (!sc->mail)
			sink_reply(sc, "503 5.5.1 Error: need MAIL command\r\n");
		else if ((sink.reject & REJ_RCPT) || sink_rcpt_blocked(args))
			sink_reply(sc, "450 4.2.0 Error: busy, try again later\r\n");
		else {
			sc->nrcpt++;
			sink_reply(sc, "250 2.1.5 Ok\r\n");
		}
	} else if (strcasecmp(line, "DATA") == 0) {
		if (sc->nrcpt == 0)
			sink_reply(sc, "503 5.5.1 Error: need RCPT command\r\n");
		else if (sink.reject & REJ_DATA)
			sink_reply(sc, "450 4.3.0 Error: command failed\r\n");
		else {
			sink_reply(sc, "354 End data with <CR><LF>.<CR><LF>\r\n");
			sc->state = SINK_DATA;
			sc->dot = DOT_BOL;
		}
	} else if (strcasecmp(line, "EHLO") == 0) {
		if (sink.reject & REJ_EHLO)
			sink_reply(sc, "450 4.3.0 Error: command failed\r\n");
		else
			sink_ehlo(sc);
	} else if (strcasecmp(line, "HELO") == 0) {
		if (sink.reject & REJ_HELO)
			sink_reply(sc, "450 4.3.0 Error: command failed\r\n");
		else
			sink_reply(sc, "250 smtpsink\r\n");
	} else if (strcasecmp(line, "RSET") == 0) {
		sc->mail = false;
		sc->nrcpt = 0;
		sink_reply(sc, (sink.reject & REJ_RSET) ? "450 4.3.0 Error: command failed\r\n"
							: "250 2.0.0 Ok\r\n");
	} else if (strcasecmp(line, "NOOP") == 0) {
		sink_reply(sc, (sink.reject & REJ_NOOP) ? "450 4.3.0 Error: command failed\r\n"
							: "250 2.0.0 Ok\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		sink.quit++;
		sink_changed();
		sink_close_after(sc, "221 2.0.0 Bye\r\n");
		return -1;
	} else if (strcasecmp(line, "STARTTLS") == 0) {
		if (sink.ssl == NULL)
			sink_reply(sc, "502 5.5.1 Error: command not implemented\r\n");
		else if (sc->tls)
			sink_reply(sc, "503 5.5.1 Error: TLS already active\r\n");
		else if (sink.reject & REJ_STARTTLS)
			sink_reply(sc, "454 4.7.0 TLS not available\r\n");
		else {
			if (sink_starttls(sc) == -1)
				sink_close_after(sc, "");
			return -1;
		}
	} else
		sink_reply(sc, "500 5.5.2 Error: command not recognized\r\n");
	(void)len;
	return 0;
}

/*
 * Discard body bytes from IN up to the end of DATA. Returns how many bytes
 * were consumed, and sets *done when the final "." line was among them.
 */
static size_t
sink_scan(struct sink_conn *sc, const char *in, size_t len, bool *done)
{
	const char *p = in, *end = in + len, *nl;

	while (p < end) {
		switch (sc->dot) {
		case DOT_MID:
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				return len;
			p = nl + 1;
			sc->dot = DOT_BOL;
			break;
		case DOT_BOL:
			sc->dot = *p == '.' ? DOT_DOT : *p == '\n' ? DOT_BOL : DOT_MID;
			p++;
			break;
		case DOT_DOT:
		case DOT_DOTCR:
			if (*p == '\n') {
				*done = true;
				return (size_t)(p + 1 - in);
			}
			sc->dot = (*p == '\r' && sc->dot == DOT_DOT) ? DOT_DOTCR : DOT_MID;
			p++;
			break;
		}
	}
	return len;
}

/* Consume body bytes in the input buffer; true when the message ended. */
static bool
sink_data(struct sink_conn *sc, struct evbuffer *in)
{
	struct evbuffer_iovec v[8];
	bool done = false;
	size_t used;
	int i, n;

	while (!done && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		used = 0;
		for (i = 0; i < n && i < 8 && !done; i++)
			used += sink_scan(sc, v[i].iov_base, v[i].iov_len, &done);
		evbuffer_drain(in, used);
	}
	return done;
}

static void
sink_read(struct bufferevent *bev, void *arg)
{
	struct sink_conn *sc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[SINK_LINE_MAX + 2];
	size_t eol_len, len;

	while (sc->state == SINK_CMD || sc->state == SINK_DATA) {
		if (sc->state == SINK_DATA) {
			if (!sink_data(sc, in))
				break;
			sc->state = SINK_CMD;
			sc->mail = false;
			sc->nrcpt = 0;
			if (sink.reject & REJ_DOT)
				sink_reply(sc, "450 4.3.0 Error: command failed\r\n");
			else {
				sink.mesg++;
				sink_changed();
				sink_reply(sc, "250 2.0.0 Ok: queued\r\n");
			}
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > SINK_LINE_MAX) {
				sink_close_after(sc, "500 5.5.0 Error: line too long\r\n");
				return;
			}
			break;
		}
		len = (size_t)eol.pos;
		if (len > SINK_LINE_MAX) {
			sink_close_after(sc, "500 5.5.0 Error: line too long\r\n");
			return;
		}
		evbuffer_remove(in, line, len + eol_len);
		line[len] = '\0';
		if (sink_command(sc, line, len) == -1)
			return; /* closed, closing or in TLS: nothing staged */
	}
	sink_flush(sc);
}

static void
sink_write(struct bufferevent *bev, void *arg)
{
	struct sink_conn *sc = arg;

	if (sc->state != SINK_CLOSING)
		return;
	if (sc->tls) /* the 221 is out: a close_notify after it */
		SSL_shutdown(bufferevent_openssl_get_ssl(bev));
	sink_free(sc);
}

static void
sink_event(struct bufferevent *bev, short what, void *arg)
{
	struct sink_conn *sc = arg;
	SSL *ssl;

	if (what & BEV_EVENT_CONNECTED) {
		ssl = bufferevent_openssl_get_ssl(bev);
		sink.ntls++;
		if (ssl != NULL && SSL_session_reused(ssl))
			sink.resumed++;
		sink_changed();
		sc->state = SINK_CMD;
		sc->mail = false;
		sc->nrcpt = 0;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		while (sc->tls && bufferevent_get_openssl_error(bev) != 0)
			; /* a client's bad handshake is its own business */
		sink_free(sc);
	}
}

static void
sink_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen,
	    void *arg)
{
	struct timeval idle = {SINK_IDLE_SECONDS, 0};
	struct sink_conn *sc;
	int one = 1;

	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	sc->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((sc->bev = bufferevent_socket_new(sink.base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		evutil_closesocket(fd);
		free(sc);
		return;
	}
	TAILQ_INSERT_TAIL(&sink.conns, sc, entry);
	bufferevent_setcb(sc->bev, sink_read, sink_write, sink_event, sc);
	bufferevent_set_timeouts(sc->bev, &idle, &idle);
	bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
	if (sink.reject & REJ_CONNECT)
		sink_close_after(sc, "421 4.3.0 Error: command failed\r\n");
	else {
		sink_reply(sc, "220 smtpsink ESMTP\r\n");
		sink_flush(sc);
	}
}

static void
sink_accept_error(struct evconnlistener *lis, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: say so once in a while and keep going */
	fprintf(stderr, "smtpsink: accept: %s\n", evutil_socket_error_to_string(e));
}

static void
sink_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(sink.base);
}

/* -r's list: commands, or recipient addresses (those with an '@'). */
static void
sink_parse_reject(char *list)
{
	static const struct {
		const char *name;
		unsigned bit;
	} cmds[] = {
		{"MAIL", REJ_MAIL},	  {"RCPT", REJ_RCPT},
		{"DATA", REJ_DATA},	  {".", REJ_DOT},
		{"EHLO", REJ_EHLO},	  {"HELO", REJ_HELO},
		{"RSET", REJ_RSET},	  {"NOOP", REJ_NOOP},
		{"CONNECT", REJ_CONNECT}, {"STARTTLS", REJ_STARTTLS},
	};
	char *tok, *save = NULL;
	size_t i;

	for (tok = strtok_r(list, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (strchr(tok, '@') != NULL) {
			if (sink.nreject_rcpt == SINK_REJECT_MAX)
				fatal("-r: more than %d addresses", SINK_REJECT_MAX);
			sink.reject_rcpt[sink.nreject_rcpt++] = tok;
			continue;
		}
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcasecmp(tok, cmds[i].name) == 0)
				break;
		if (i == sizeof(cmds) / sizeof(cmds[0]))
			fatal("-r: unknown command \"%s\" (MAIL, RCPT, DATA, ., EHLO, HELO, "
			      "RSET, NOOP, CONNECT, STARTTLS, or an address)",
			      tok);
		sink.reject |= cmds[i].bit;
	}
}

static int
sink_version(const char *v)
{
	if (strcmp(v, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(v, "1.3") == 0)
		return TLS1_3_VERSION;
	fatal("-T %s: 1.2 or 1.3", v);
}

static SSL_CTX *
sink_ssl_ctx(const char *cert, const char *key, int version, bool tickets)
{
	static const unsigned char sid_ctx[] = "smtpsink";
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatal("SSL_CTX_new: %s", sink_ssl_error());
	SSL_CTX_set_min_proto_version(ctx, version ? version : TLS1_2_VERSION);
	if (version)
		SSL_CTX_set_max_proto_version(ctx, version);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		fatal("%s: %s", cert, sink_ssl_error());
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		fatal("%s: %s", key, sink_ssl_error());
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatal("%s does not match %s: %s", key, cert, sink_ssl_error());
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (!tickets) {
		/* no resumption at all: no tickets, and no cache for IDs either */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

/* Drop root for USER, as smtp-sink -u does; ignored when not root. */
static void
sink_drop(const char *user)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatal("-u %s: no such user", user);
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		fatal("-u %s: %s", user, strerror(errno));
}

static void
sink_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* HOST:PORT, [HOST]:PORT or PORT; the address to bind. */
static struct addrinfo *
sink_resolve(char *hostport)
{
	struct addrinfo hints, *res;
	char *host = NULL, *port = hostport, *colon;
	int err;

	if ((colon = strrchr(hostport, ':')) != NULL) {
		*colon = '\0';
		host = hostport;
		port = colon + 1;
		if (*host == '[' && host[strlen(host) - 1] == ']') {
			host[strlen(host) - 1] = '\0';
			host++;
		}
		if (*host == '\0')
			host = NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0)
		fatal("%s:%s: %s", host ? host : "*", port, gai_strerror(err));
	return res;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cert", required_argument, NULL, 'K'},
		{"key", required_argument, NULL, 'k'},
		{"no-tickets", no_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	const char *cert = NULL, *key = NULL, *user = NULL;
	struct sink_conn *sc;
	struct addrinfo *ai;
	bool tickets = true;
	int ch, version = 0, backlog;
	char *end;

	TAILQ_INIT(&sink.conns);
	while ((ch = getopt_long(argc, argv, "cr:T:u:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			sink.counters = true;
			break;
		case 'r':
			sink_parse_reject(optarg);
			break;
		case 'T':
			version = sink_version(optarg);
			break;
		case 'u':
			user = optarg;
			break;
		case 'K':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'N':
			tickets = false;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	backlog = (int)strtol(argv[optind + 1], &end, 10);
	if (*end != '\0' || backlog <= 0)
		fatal("backlog \"%s\": a positive number", argv[optind + 1]);
	if ((cert == NULL) != (key == NULL))
		fatal("--cert and --key go together");
	signal(SIGPIPE, SIG_IGN);
	sink_nofile();
	if (cert != NULL)
		sink.ssl = sink_ssl_ctx(cert, key, version, tickets);
	if ((sink.base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	ai = sink_resolve(argv[optind]);
	sink.lis = evconnlistener_new_bind(sink.base, sink_accept, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						   LEV_OPT_CLOSE_ON_EXEC,
					   backlog, ai->ai_addr, (int)ai->ai_addrlen);
	if (sink.lis == NULL)
		fatal("%s: %s", argv[optind], strerror(errno));
	freeaddrinfo(ai);
	evconnlistener_set_error_cb(sink.lis, sink_accept_error);
	sink_drop(user);
	sink.flush_ev = evtimer_new(sink.base, sink_flush_cb, NULL);
	sink.sigterm = evsignal_new(sink.base, SIGTERM, sink_signal, NULL);
	sink.sigint = evsignal_new(sink.base, SIGINT, sink_signal, NULL);
	evsignal_add(sink.sigterm, NULL);
	evsignal_add(sink.sigint, NULL);

	event_base_dispatch(sink.base);

	while ((sc = TAILQ_FIRST(&sink.conns)) != NULL)
		sink_free(sc);
	sink_print();
	evconnlistener_free(sink.lis);
	event_free(sink.flush_ev);
	event_free(sink.sigterm);
	event_free(sink.sigint);
	event_base_free(sink.base);
	SSL_CTX_free(sink.ssl);
	return 0;
}
