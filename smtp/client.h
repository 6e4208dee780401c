/*
 * client.h — the outbound SMTP protocol state machine, without I/O.
 *
 * client_new(), client_free()  a connection's protocol state
 * client_input()               one line from the server (CRLF removed)
 * client_txn()                 start a transaction (when ready)
 * client_quit()                say QUIT
 * client_configure()           TLS policy and AUTH credentials
 * client_tls_done()            STARTTLS handshake finished
 * client_flushed()             what was written is on the wire now
 * client_strstate()            the state's name
 *
 * The owner (relayd/mta.c) connects and moves bytes; this file decides
 * every command. With PIPELINING offered, MAIL, every RCPT and DATA go out
 * in one write (RFC 2920) and replies are matched in order, one to one.
 *
 * Strictness (nothing is reported sent that was not): only 354 to DATA
 * starts the body, any other 2xx/3xx there is a protocol error; a 2xx to
 * the end of data counts only when the whole body is on the wire
 * (client_flushed() after body()); a reply for which no command is on the
 * wire (a server that answers ahead, or twice) is a protocol error. A
 * protocol error fails the session with a local 4.5.0 reason (fail_temp):
 * it never bounces and never counts as delivery. A reply is at most
 * CLIENT_REPLY_LINES lines and CLIENT_REPLY_BYTES bytes.
 */
#ifndef SMTP_CLIENT_H
#define SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/reply.h"

#define CLIENT_REPLY_LINES 100u		 /* lines of one (multi-line) reply */
#define CLIENT_REPLY_BYTES (64u * 1024u) /* bytes of one reply, line ends included */

enum client_state {
	CL_GREETING, /* waiting for 220 */
	CL_EHLO,
	CL_HELO,
	CL_STARTTLS, /* STARTTLS sent */
	CL_TLS,	     /* handshake in progress (the owner's) */
	CL_AUTH,     /* AUTH PLAIN / LOGIN exchange */
	CL_READY,    /* idle: the owner may start a transaction or quit */
	CL_RSET,
	CL_TXN,	 /* MAIL, RCPT, DATA replies */
	CL_BODY, /* body being sent / final reply awaited */
	CL_DOT,	 /* empty body sent after an unexpected 354 */
	CL_QUIT,
	CL_DEAD, /* failed or quit: nothing more */
};

/* Extensions the server offered. */
struct client_ext {
	bool pipelining, size, eightbit, smtputf8, starttls, enhanced;
	bool auth_plain, auth_login;
	uint64_t maxsize; /* 0: not given */
};

/* One transaction. */
struct client_msg {
	const char *sender;
	const char *const *rcpt;
	size_t nrcpt;
	uint64_t size;
	int body; /* BODY_* of cmd.h */
	bool smtputf8;
};

enum client_tls {
	CLIENT_TLS_NONE,    /* never STARTTLS */
	CLIENT_TLS_MAY,	    /* STARTTLS when offered */
	CLIENT_TLS_REQUIRE, /* STARTTLS or fail: no mail in plaintext */
};

struct client_opts {
	enum client_tls tls;
	bool tls_active;  /* already in TLS (SMTPS) */
	const char *user; /* AUTH after TLS; NULL: none */
	const char *pass;
};

struct client_hooks {
	void (*write)(void *arg, const char *buf, size_t len);
	/* 354 came: write the stored body, with its final ".\r\n". */
	void (*body)(void *arg);
	/* Greeting and EHLO done, or a transaction finished: client_txn() or
	 * client_quit() may be called (also from inside this hook). */
	void (*ready)(void *arg);
	/* The transaction ended: REPLIES[i] is recipient i's final reply (its
	 * failed RCPT, a failed MAIL or DATA, or the reply to the body). */
	void (*txn_done)(void *arg, const struct reply *replies);
	/* The session failed and is dead: bad greeting or HELO, a 421, a
	 * malformed reply, TLS or AUTH trouble. R says why (code 0: a local
	 * reason in R->line); no txn_done follows for the current transaction.
	 * c->fail_temp says the failure must never bounce (TLS, AUTH). */
	void (*fail)(void *arg, const struct reply *r);
	/* 220 to STARTTLS: start the handshake, then client_tls_done(). */
	void (*starttls)(void *arg);
	/* Every state change, FROM -> TO, for traces; may be NULL. */
	void (*trace)(void *arg, enum client_state from, enum client_state to);
};

struct client {
	enum client_state state;
	const struct client_hooks *h;
	void *arg;
	char helo[256];
	struct client_opts opts;
	char user[256], pass[256];
	bool tls;	/* TLS is on */
	bool fail_temp; /* the failure reported must not bounce */
	int auth_step;
	struct client_ext ext;
	struct reply r;
	/* transaction */
	struct client_msg msg;
	struct reply *replies; /* nrcpt */
	size_t sent, acked;    /* commands of the txn: 0 MAIL, 1..n RCPT, n+1 DATA */
	size_t accepted;
	bool mail_failed;
	bool need_rset;
	bool dirty;	/* a transaction ran since the last RSET or EHLO */
	bool rset_wait; /* this transaction began with RSET; its reply is due */
	/* Replies due: commands (the body's end of data counts as one)
	 * written but not yet flushed, and those on the wire. */
	unsigned queued, wire;
	unsigned long nreplies; /* complete replies read (for the owner's deadline) */
	size_t rbytes;		/* bytes of the reply being read */
	bool spent;		/* answered before the body was out: close after this txn */
};

struct client *client_new(const char *helo, const struct client_hooks *h, void *arg);
/* TLS policy and credentials; before the greeting arrives. */
void client_configure(struct client *c, const struct client_opts *o);
/* The STARTTLS handshake succeeded: EHLO again. */
void client_tls_done(struct client *c);
void client_free(struct client *c);
/* Returns -1 when the line was malformed (the session is then dead and
 * fail() has been called). */
int client_input(struct client *c, const char *line, size_t len);
int client_txn(struct client *c, const struct client_msg *m);
void client_quit(struct client *c);
/* Everything written so far (commands, the body) has left the owner's
 * buffers: replies to it may come now. */
void client_flushed(struct client *c);
/* Replies the server owes: 0 when the client waits for nothing. */
unsigned client_due(const struct client *c);
const char *client_strstate(enum client_state st);

#endif
