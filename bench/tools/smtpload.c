/*
 * smtpload.c — a benchmark SMTP client that speaks STARTTLS (Postfix's smtp-source does not).
 *
 * main()   smtpload [-dqRS] [-m MSGS] [-s CONC] [-l SIZE] [-r N] [-f FROM] [-t TO]
 *                   [-M N] [-T 1.2|1.3] [-C CAFILE] [-E HELONAME] HOST:PORT
 *
 * CONC sessions on one libevent loop send MSGS messages in all. A session
 * holds one message from the moment it takes it (before connecting, or
 * before MAIL on a reused connection) until the 250 after its final dot,
 * or until an error abandons it: then the message is counted as an error,
 * the connection is closed, and the session takes the next message on a
 * new connection. So a run makes at most MSGS attempts and always ends.
 * No pipelining: each command waits for its (possibly multi-line) reply,
 * parsed by smtp/reply.c. Without -d a connection carries one message;
 * -d keeps it for as many as there are; -M N caps that at N.
 *
 * The message is built once (-l SIZE bytes of headers and body, lines of
 * at most 78 characters, then ".") and each DATA adds it to the output by
 * reference. STARTTLS swaps the plain bufferevent for
 * bufferevent_openssl_socket_new() on the same socket. -R keeps the last
 * session OpenSSL hands over (a TLS 1.3 ticket, a TLS 1.2 ticket or ID) and
 * offers it on every new handshake.
 *
 * Output: one line on stdout at the end, "msgs=N errors=N seconds=S
 * rate=R connections=N handshakes=N resumed=N" (msgs: messages that got
 * 250). The first error always goes to stderr, later ones too unless -q
 * (at most LOAD_ERRORS_SHOWN). Exit 0 when all MSGS messages got 250,
 * 1 otherwise, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "smtp/reply.h"

#define LOAD_TIMEOUT 60	     /* seconds without progress in one session */
#define LOAD_QUIT_LINGER 1   /* seconds to wait for the server's close after 221 */
#define LOAD_ERRORS_SHOWN 20 /* error lines on stderr without -q */
#define LOAD_ADDR_MAX 256

enum load_state {
	LS_IDLE,     /* no connection */
	LS_CONNECT,  /* TCP connect */
	LS_GREETING, /* waiting for 220 */
	LS_EHLO,
	LS_STARTTLS,
	LS_TLS,	  /* the handshake */
	LS_EHLO2, /* EHLO again, inside TLS */
	LS_MAIL,
	LS_RCPT,
	LS_DATA,
	LS_BODY, /* the message and its dot are out: waiting for 250 */
	LS_QUIT,
	LS_CLOSE, /* 221 read: waiting for the server to close */
	LS_LAST = LS_CLOSE
};

/* What each state waits for, in the error messages. */
static const char *const load_states[] = {
	"idle",		  "connecting",		  "waiting for the greeting", "after EHLO",
	"after STARTTLS", "in the TLS handshake", "after EHLO (TLS)",	      "after MAIL FROM",
	"after RCPT TO",  "after DATA",		  "after end of data",	      "after QUIT",
	"after 221",
};
_Static_assert(sizeof(load_states) / sizeof(load_states[0]) == LS_LAST + 1, "load_states");

/* The reply each state waits for (0: none; any reply to QUIT will do). */
static const int load_expect[] = {
	[LS_GREETING] = 220, [LS_EHLO] = 250, [LS_STARTTLS] = 220, [LS_EHLO2] = 250,
	[LS_MAIL] = 250,     [LS_RCPT] = 250, [LS_DATA] = 354,	   [LS_BODY] = 250,
	[LS_QUIT] = 221,     [LS_LAST] = 0,
};

struct load_sess {
	struct bufferevent *bev;
	evutil_socket_t fd;
	enum load_state state;
	unsigned gen;	 /* changes whenever the connection goes */
	bool msg;	 /* holds a message */
	bool tls;	 /* inside TLS */
	bool offers_tls; /* the EHLO reply listed STARTTLS */
	int rcpts;	 /* RCPTs sent for this message */
	int sent;	 /* messages sent on this connection */
	struct reply reply;
};

struct load {
	/* options */
	long msgs, conc, size, nrcpt, per_conn;
	bool starttls, resume, quiet;
	const char *from, *to, *helo, *host;
	/* set-up */
	struct event_base *base;
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool host_is_ip;
	SSL_CTX *ssl;
	SSL_SESSION *last; /* -R: offered on the next handshake */
	char *body;
	size_t body_len;
	struct load_sess *sess;
	/* counters */
	long taken, ok, errors, connections, handshakes, resumed, active;
	long shown;
	char first_error[600];
};

static struct load ld;

static void load_read(struct bufferevent *, void *);
static void load_event(struct bufferevent *, short, void *);
static void load_next(struct load_sess *);
static void load_restart(evutil_socket_t, short, void *);

static void
usage(void)
{
	fprintf(stderr,
		"usage: smtpload [-dqRS] [-m MSGS] [-s CONC] [-l SIZE] [-r N] [-f FROM] [-t TO]\n"
		"                [-M N] [-T 1.2|1.3] [-C CAFILE] [-E HELONAME] HOST:PORT\n");
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtpload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Write LEN bytes of TEXT (which outlives the connection when BY_REF).
 * In plaintext with nothing queued, straight to the socket: a command
 * follows its reply, so the socket buffer is empty and takes it whole, and
 * the bufferevent would add and remove EPOLLOUT and wait a loop turn for
 * each command. What the socket does not take is queued behind.
 */
static void
load_write(struct load_sess *s, const char *text, size_t len, bool by_ref)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	ssize_t n;

	if (!s->tls && evbuffer_get_length(out) == 0) {
		n = send(s->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			text += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return;
	}
	if (by_ref)
		evbuffer_add_reference(out, text, len, NULL, NULL);
	else
		evbuffer_add(out, text, len);
}

static void
load_send(struct load_sess *s, const char *text, size_t len)
{
	load_write(s, text, len, false);
}

/*
 * Drop the connection (the message, if any, is the caller's business). The
 * bufferevent closes the socket: libevent applies the removal of its events
 * later, so a socket closed here could be a new connection's by then.
 */
static void
load_disconnect(struct load_sess *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	else if (s->fd != -1)
		evutil_closesocket(s->fd);
	s->bev = NULL;
	s->fd = -1;
	s->tls = false;
	s->gen++;
	s->state = LS_IDLE;
}

/* The session failed: count its message as an error, say why, go on with the next one. */
static void __attribute__((format(printf, 2, 3)))
load_fail(struct load_sess *s, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s->msg) {
		ld.errors++;
		s->msg = false;
	}
	if (ld.first_error[0] == '\0')
		snprintf(ld.first_error, sizeof(ld.first_error), "%s", why);
	if (ld.shown == 0 || (!ld.quiet && ld.shown < LOAD_ERRORS_SHOWN))
		fprintf(stderr, "smtpload: %s\n", why);
	ld.shown++;
	load_disconnect(s);
	/* from the loop, not here: a socket() that keeps failing must not recurse */
	if (event_base_once(ld.base, -1, EV_TIMEOUT, load_restart, s, NULL) == -1)
		fatal("event_base_once failed");
}

static void
load_restart(evutil_socket_t fd, short what, void *arg)
{
	load_next(arg);
}

/* Take a message if one is left. */
static bool
load_take(struct load_sess *s)
{
	if (ld.taken >= ld.msgs)
		return false;
	ld.taken++;
	s->msg = true;
	return true;
}

static void
load_enter_state(struct load_sess *s, enum load_state next)
{
	char buf[LOAD_ADDR_MAX + 32];
	int n;

	s->state = next;
	reply_reset(&s->reply);
	switch (next) {
	case LS_EHLO:
	case LS_EHLO2:
		s->offers_tls = false;
		n = snprintf(buf, sizeof(buf), "EHLO %s\r\n", ld.helo);
		load_send(s, buf, (size_t)n);
		break;
	case LS_STARTTLS:
		load_send(s, "STARTTLS\r\n", 10);
		break;
	case LS_MAIL:
		s->rcpts = 0;
		n = snprintf(buf, sizeof(buf), "MAIL FROM:<%s>\r\n", ld.from);
		load_send(s, buf, (size_t)n);
		break;
	case LS_RCPT:
		/* like smtp-source: with more than one, a number before each address */
		if (ld.nrcpt == 1)
			n = snprintf(buf, sizeof(buf), "RCPT TO:<%s>\r\n", ld.to);
		else
			n = snprintf(buf, sizeof(buf), "RCPT TO:<%d%s>\r\n", s->rcpts + 1, ld.to);
		s->rcpts++;
		load_send(s, buf, (size_t)n);
		break;
	case LS_DATA:
		load_send(s, "DATA\r\n", 6);
		break;
	case LS_BODY:
		load_write(s, ld.body, ld.body_len, true);
		break;
	case LS_QUIT:
		load_send(s, "QUIT\r\n", 6);
		break;
	case LS_CLOSE: {
		struct timeval linger = {LOAD_QUIT_LINGER, 0};

		/* a close_notify: OpenSSL marks a session that ends without one
		 * not resumable, and -R would offer it in vain */
		if (s->tls)
			SSL_shutdown(bufferevent_openssl_get_ssl(s->bev));
		bufferevent_set_timeouts(s->bev, &linger, NULL);
		break;
	}
	default:
		break;
	}
}

/* A new connection for the session's message. */
static void
load_connect(struct load_sess *s)
{
	struct timeval tmo = {LOAD_TIMEOUT, 0};
	int one = 1;

	s->sent = 0;
	s->state = LS_CONNECT;
	s->fd = socket(ld.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		load_fail(s, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((s->bev = bufferevent_socket_new(ld.base, s->fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		load_fail(s, "bufferevent_socket_new failed");
		return;
	}
	bufferevent_setcb(s->bev, load_read, NULL, load_event, s);
	bufferevent_set_timeouts(s->bev, &tmo, &tmo);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ld.ss, (int)ld.sslen) == -1) {
		load_fail(s, "connect to %s: %s", ld.host,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* Done with a connection or a message: take the next message, or stop. */
static void
load_next(struct load_sess *s)
{
	if (s->state == LS_IDLE) {
		if (load_take(s))
			load_connect(s);
		else if (--ld.active == 0)
			event_base_loopexit(ld.base, NULL);
		return;
	}
	/* after EHLO (holding the message taken to connect), or after a message */
	if (s->msg || (s->sent < ld.per_conn && load_take(s)))
		load_enter_state(s, LS_MAIL);
	else
		load_enter_state(s, LS_QUIT);
}

/* The handshake: a new SSL on the socket, offering the last session under -R. */
static void
load_starttls(struct load_sess *s)
{
	struct timeval tmo = {LOAD_TIMEOUT, 0};
	SSL_SESSION *copy;
	SSL *ssl;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) != 0) {
		load_fail(s, "plaintext after the 220 to STARTTLS");
		return;
	}
	if ((ssl = SSL_new(ld.ssl)) == NULL) {
		load_fail(s, "SSL_new: %s", ERR_reason_error_string(ERR_get_error()));
		return;
	}
	if (!ld.host_is_ip)
		SSL_set_tlsext_host_name(ssl, ld.host);
	if (SSL_CTX_get_verify_mode(ld.ssl) & SSL_VERIFY_PEER) {
		if (ld.host_is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ld.host);
		else
			SSL_set1_host(ssl, ld.host);
	}
	/* a copy: OpenSSL marks the session a connection used not resumable when
	 * a TLS 1.3 ticket replaces it or the connection fails, and others may
	 * be about to offer ld.last */
	if (ld.resume && ld.last != NULL && SSL_SESSION_is_resumable(ld.last) &&
	    (copy = SSL_SESSION_dup(ld.last)) != NULL) {
		SSL_set_session(ssl, copy);
		SSL_SESSION_free(copy);
	}
	bufferevent_setfd(s->bev, -1); /* so that freeing it keeps the socket open */
	bufferevent_free(s->bev);
	s->bev = bufferevent_openssl_socket_new(ld.base, s->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		load_fail(s, "bufferevent_openssl_socket_new failed");
		return;
	}
	s->tls = true;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, load_read, NULL, load_event, s);
	bufferevent_set_timeouts(s->bev, &tmo, &tmo);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	load_enter_state(s, LS_TLS);
}

/* A complete reply in the current state. */
static void
load_response(struct load_sess *s)
{
	int code = s->reply.code;

	if (load_expect[s->state] == 0) {
		load_fail(s, "unexpected reply %s: %s", load_states[s->state], s->reply.line);
		return;
	}
	if (code != load_expect[s->state] && !(s->state == LS_RCPT && code == 251) &&
	    s->state != LS_QUIT) {
		load_fail(s, "%s: %s", load_states[s->state], s->reply.line);
		return;
	}
	switch (s->state) {
	case LS_GREETING:
		load_enter_state(s, LS_EHLO);
		break;
	case LS_EHLO:
		if (!ld.starttls)
			load_next(s);
		else if (!s->offers_tls)
			load_fail(s, "STARTTLS not offered: %s", s->reply.line);
		else
			load_enter_state(s, LS_STARTTLS);
		break;
	case LS_STARTTLS:
		load_starttls(s);
		break;
	case LS_EHLO2:
		load_next(s);
		break;
	case LS_MAIL:
		load_enter_state(s, LS_RCPT);
		break;
	case LS_RCPT:
		load_enter_state(s, s->rcpts < ld.nrcpt ? LS_RCPT : LS_DATA);
		break;
	case LS_DATA:
		load_enter_state(s, LS_BODY);
		break;
	case LS_BODY:
		ld.ok++;
		s->msg = false;
		s->sent++;
		load_next(s);
		break;
	case LS_QUIT:
		load_enter_state(s, LS_CLOSE);
		break;
	default:
		break;
	}
}

static void
load_read(struct bufferevent *bev, void *arg)
{
	struct load_sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[REPLY_LINE_MAX + 2];
	size_t eol_len, len;
	unsigned gen = s->gen;
	int r;

	while (s->gen == gen && s->bev == bev) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX)
				load_fail(s, "%s: a reply line longer than %d bytes",
					  load_states[s->state], REPLY_LINE_MAX);
			return;
		}
		len = (size_t)eol.pos;
		if (len > REPLY_LINE_MAX) {
			load_fail(s, "%s: a reply line longer than %d bytes", load_states[s->state],
				  REPLY_LINE_MAX);
			return;
		}
		evbuffer_remove(in, line, len + eol_len);
		line[len] = '\0';
		if (s->state == LS_CLOSE)
			continue; /* after 221: whatever it is, the connection is done */
		if (s->state == LS_CONNECT) {
			/* the 220 can be read before the connect is reported */
			ld.connections++;
			load_enter_state(s, LS_GREETING);
		}
		if (s->state == LS_TLS) {
			load_fail(s, "unexpected text %s: %.200s", load_states[s->state], line);
			return;
		}
		if ((s->state == LS_EHLO || s->state == LS_EHLO2) && len >= 12 &&
		    strncasecmp(line + 4, "STARTTLS", 8) == 0 && (len == 12 || line[12] == ' '))
			s->offers_tls = true;
		if ((r = reply_feed(&s->reply, line, len)) == -1) {
			load_fail(s, "%s: malformed reply line: %.200s", load_states[s->state],
				  line);
			return;
		}
		if (r == 1)
			load_response(s);
	}
}

/* The reason a TLS handshake failed, from OpenSSL's queue and the verify result. */
static void
load_tls_error(struct load_sess *s, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	unsigned long e, first = 0;
	long vr;

	while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
		if (first == 0)
			first = e;
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(buf, len, "certificate verification failed: %s",
			 X509_verify_cert_error_string(vr));
	else if (first != 0)
		ERR_error_string_n(first, buf, len);
	else
		snprintf(buf, len, "%s",
			 errno ? strerror(errno) : "connection closed by the server");
}

static void
load_event(struct bufferevent *bev, short what, void *arg)
{
	struct load_sess *s = arg;
	char why[300];
	SSL *ssl;
	int e;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == LS_TLS) {
			ld.handshakes++;
			ssl = bufferevent_openssl_get_ssl(bev);
			if (SSL_session_reused(ssl))
				ld.resumed++;
			load_enter_state(s, LS_EHLO2);
		} else if (s->state == LS_CONNECT) {
			ld.connections++;
			load_enter_state(s, LS_GREETING);
		}
		return;
	}
	if (s->state == LS_CLOSE) {
		/* the server closed after 221 (or lingered: close anyway) */
		load_disconnect(s);
		load_next(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		return load_fail(s, "timeout %s", load_states[s->state]);
	if (s->state == LS_TLS && (what & BEV_EVENT_ERROR)) {
		load_tls_error(s, why, sizeof(why));
		return load_fail(s, "TLS handshake: %s", why);
	}
	if (s->state == LS_CONNECT)
		return load_fail(s, "connect to %s: %s", ld.host,
				 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (what & BEV_EVENT_EOF)
		return load_fail(s, "connection closed by the server %s", load_states[s->state]);
	if (s->tls) {
		load_tls_error(s, why, sizeof(why));
		return load_fail(s, "TLS error %s: %s", load_states[s->state], why);
	}
	e = EVUTIL_SOCKET_ERROR();
	if (e == EPIPE || e == ECONNRESET)
		load_fail(s, "connection closed by the server %s (%s)", load_states[s->state],
			  evutil_socket_error_to_string(e));
	else
		load_fail(s, "%s: %s", load_states[s->state], evutil_socket_error_to_string(e));
}

/* -R: keep the newest session the server hands over. */
static int
load_new_session(SSL *ssl, SSL_SESSION *sess)
{
	if (ld.last != NULL)
		SSL_SESSION_free(ld.last);
	ld.last = sess;
	return 1; /* the reference is ours */
}

static void
load_ssl_ctx(int version, const char *cafile)
{
	if ((ld.ssl = SSL_CTX_new(TLS_client_method())) == NULL)
		fatal("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ld.ssl, version ? version : TLS1_2_VERSION);
	if (version)
		SSL_CTX_set_max_proto_version(ld.ssl, version);
	if (cafile != NULL) {
		if (SSL_CTX_load_verify_locations(ld.ssl, cafile, NULL) != 1)
			fatal("-C %s: %s", cafile, ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_set_verify(ld.ssl, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ld.ssl, SSL_VERIFY_NONE, NULL);
	if (ld.resume) {
		SSL_CTX_set_session_cache_mode(ld.ssl, SSL_SESS_CACHE_CLIENT |
							       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ld.ssl, load_new_session);
	} else
		SSL_CTX_set_session_cache_mode(ld.ssl, SSL_SESS_CACHE_OFF);
}

/*
 * The message: headers, a blank line, then lines of 78 characters (the
 * last ones shorter) until SIZE bytes, then ".". SIZE below the headers'
 * length gives the headers and an empty body.
 */
static void
load_build_body(void)
{
	static const char alphabet[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char hdr[3 * LOAD_ADDR_MAX + 256], date[64];
	size_t hlen, left, n, i, line = 0, cap;
	time_t now = time(NULL);
	struct tm tm;
	char *p;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	hlen = (size_t)snprintf(hdr, sizeof(hdr),
				"From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nSubject: smtpload test "
				"message\r\nMessage-ID: <%ld.smtpload@%s>\r\n\r\n",
				ld.from, ld.to, date, (long)getpid(), ld.helo);
	cap = ((size_t)ld.size > hlen ? (size_t)ld.size : hlen) + 3 + 2;
	if ((ld.body = malloc(cap)) == NULL)
		fatal("out of memory");
	memcpy(ld.body, hdr, hlen);
	p = ld.body + hlen;
	left = (size_t)ld.size > hlen ? (size_t)ld.size - hlen : 0;
	while (left > 0) {
		/* 80 bytes a line; never leave 1 byte, which cannot be a line */
		n = left >= 80 ? 80 : left;
		if (left - n == 1)
			n--;
		if (n < 2)
			n = 2; /* SIZE one past the headers: one byte more */
		for (i = 0; i + 2 < n; i++)
			*p++ = alphabet[(line + i) % (sizeof(alphabet) - 1)];
		*p++ = '\r';
		*p++ = '\n';
		left -= n < left ? n : left;
		line++;
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	ld.body_len = (size_t)(p - ld.body);
}

/* HOST:PORT or [HOST]:PORT, resolved once. */
static void
load_resolve(char *hostport)
{
	struct addrinfo hints, *res;
	char *host = hostport, *port, *colon;
	unsigned char tmp[sizeof(struct in6_addr)];
	int err;

	if ((colon = strrchr(hostport, ':')) == NULL)
		fatal("%s: HOST:PORT expected", hostport);
	*colon = '\0';
	port = colon + 1;
	if (*host == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		host++;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0)
		fatal("%s:%s: %s", host, port, gai_strerror(err));
	memcpy(&ld.ss, res->ai_addr, res->ai_addrlen);
	ld.sslen = res->ai_addrlen;
	freeaddrinfo(res);
	ld.host = host;
	ld.host_is_ip = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static long
load_number(const char *opt, const char *arg, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || v < min)
		fatal("-%s %s: a number, at least %ld", opt, arg, min);
	return v;
}

static const char *
load_addr(const char *opt, const char *arg)
{
	if (strlen(arg) >= LOAD_ADDR_MAX || strpbrk(arg, "<>\r\n") != NULL)
		fatal("-%s %s: an address without <>, under %d bytes", opt, arg, LOAD_ADDR_MAX);
	return arg;
}

/* Room for CONC sockets and a few more. */
static void
load_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)ld.conc + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		fprintf(stderr, "smtpload: only %lu file descriptors for %ld sessions\n",
			(unsigned long)rl.rlim_cur, ld.conc);
}

int
main(int argc, char **argv)
{
	const char *cafile = NULL;
	bool reuse = false;
	int ch, version = 0;
	double t0, secs;
	long i, n;

	ld.msgs = ld.conc = ld.nrcpt = 1;
	ld.size = 0;
	ld.per_conn = 0;
	ld.from = "foo@localhost"; /* smtp-source's defaults */
	ld.to = "foo@localhost";
	ld.helo = "localhost";
	while ((ch = getopt(argc, argv, "C:dE:f:l:M:m:qRr:Ss:T:t:")) != -1) {
		switch (ch) {
		case 'C':
			cafile = optarg;
			break;
		case 'd':
			reuse = true;
			break;
		case 'E':
			ld.helo = load_addr("E", optarg);
			break;
		case 'f':
			ld.from = load_addr("f", optarg);
			break;
		case 'l':
			ld.size = load_number("l", optarg, 0);
			break;
		case 'M':
			ld.per_conn = load_number("M", optarg, 1);
			break;
		case 'm':
			ld.msgs = load_number("m", optarg, 1);
			break;
		case 'q':
			ld.quiet = true;
			break;
		case 'R':
			ld.resume = true;
			break;
		case 'r':
			ld.nrcpt = load_number("r", optarg, 1);
			break;
		case 'S':
			ld.starttls = true;
			break;
		case 's':
			ld.conc = load_number("s", optarg, 1);
			break;
		case 'T':
			if (strcmp(optarg, "1.2") == 0)
				version = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				version = TLS1_3_VERSION;
			else
				fatal("-T %s: 1.2 or 1.3", optarg);
			break;
		case 't':
			ld.to = load_addr("t", optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (ld.per_conn == 0)
		ld.per_conn = reuse ? ld.msgs : 1;
	if (ld.size > 1L << 30)
		fatal("-l %ld: at most 1 GiB", ld.size);
	load_resolve(argv[optind]);
	signal(SIGPIPE, SIG_IGN);
	load_nofile();
	load_build_body();
	if (ld.starttls)
		load_ssl_ctx(version, cafile);
	if ((ld.base = event_base_new()) == NULL)
		fatal("event_base_new failed");

	n = ld.conc < ld.msgs ? ld.conc : ld.msgs;
	if ((ld.sess = calloc((size_t)n, sizeof(*ld.sess))) == NULL)
		fatal("out of memory");
	t0 = load_now();
	ld.active = n;
	for (i = 0; i < n; i++) {
		ld.sess[i].fd = -1;
		load_next(&ld.sess[i]);
	}
	if (ld.active > 0)
		event_base_dispatch(ld.base);
	secs = load_now() - t0;

	printf("msgs=%ld errors=%ld seconds=%.3f rate=%.1f connections=%ld handshakes=%ld "
	       "resumed=%ld\n",
	       ld.ok, ld.errors, secs, secs > 0 ? (double)ld.ok / secs : 0.0, ld.connections,
	       ld.handshakes, ld.resumed);
	fflush(stdout);
	for (i = 0; i < n; i++)
		if (ld.sess[i].state != LS_IDLE)
			load_disconnect(&ld.sess[i]);
	free(ld.sess);
	free(ld.body);
	if (ld.last != NULL)
		SSL_SESSION_free(ld.last);
	SSL_CTX_free(ld.ssl);
	event_base_free(ld.base);
	return ld.ok == ld.msgs && ld.errors == 0 ? 0 : 1;
}
