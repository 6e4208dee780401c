/*
 * server.h — the inbound SMTP protocol state machine, without I/O.
 *
 * server_new(), server_free()  a session's protocol state
 * server_start()               send the greeting
 * server_input()               feed bytes from the client
 * server_data_done()           the storage verdict for a finished DATA
 * server_tls_done()            the STARTTLS handshake finished
 * server_auth_done()           the verdict on AUTH credentials
 * server_rcpt_done()           the verdict on a recipient that needed a lookup
 * server_paused()              waiting for the storage verdict or closed
 * server_timeout()             the client was idle too long: 421 and close
 * server_shutdown()            relayd is stopping: 421 and close
 *
 * The owner (relayd/session.c) moves bytes and answers hooks; this file
 * decides every reply, and tells the reject hook about each refusal it
 * decides of a MAIL, a RCPT or a message (the owner records the refusals
 * its own rcpt hook answers). Replies go out through hooks->write in order, so
 * pipelined commands (RFC 2920) get their replies in order; while paused
 * the owner keeps unread input and feeds it again after the verdict.
 */
#ifndef SMTP_SERVER_H
#define SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/cmd.h"
#include "smtp/data.h"

#define SERVER_MAX_ERRORS 20

/* Returned by the rcpt hook when the verdict needs a lookup. */
extern const char SERVER_PENDING[];

struct server_params {
	const char *hostname;
	uint64_t max_size;	/* SIZE; larger messages get 552 5.3.4 */
	unsigned max_rcpt;	/* beyond: 452 4.5.3 */
	bool normalize;		/* bare_newline = normalize */
	bool starttls;		/* offer STARTTLS (until TLS is on) */
	bool tls;		/* the session starts in TLS (SMTPS) */
	bool require_tls;	/* MAIL before TLS: 530 5.7.0 */
	bool auth;		/* offer AUTH PLAIN LOGIN once TLS is on */
	const char *postmaster; /* RCPT TO:<postmaster> becomes this; NULL: 550 */
};

/* The transaction as the hooks see it. */
struct server_txn {
	char helo[256];
	bool esmtp; /* the client said EHLO, not HELO */
	char sender[CMD_LINE_MAX];
	char **rcpt;
	size_t nrcpt;
	struct cmd_mail_params params;
	uint64_t size; /* content size once DATA ended */
};

/* A refusal, as the reject hook is told about it. */
struct server_reject {
	const char *stage;  /* "MAIL", "RCPT" or "END-OF-MESSAGE" (Postfix's words) */
	const char *sender; /* the MAIL FROM address ("" for <>), NULL when unknown */
	const char *rcpt;   /* the recipient it is about, or NULL */
	const char *reply;  /* the reply sent, without CRLF */
	const char *reason; /* a short stable word: tls_required, message_too_large, ... */
};

struct server_hooks {
	/* Bytes for the client. */
	void (*write)(void *arg, const char *buf, size_t len);
	/* Close the connection once written bytes are flushed. */
	void (*close)(void *arg);
	/* May RCPT be accepted? NULL, or the complete reply to refuse it, or
	 * SERVER_PENDING: the owner answers later with server_rcpt_done(). */
	const char *(*rcpt)(void *arg, const struct server_txn *t, const char *rcpt);
	/* DATA begins: prepare storage. NULL, or the reply to refuse it. */
	const char *(*data_start)(void *arg, const struct server_txn *t);
	/* Stored-form body bytes. */
	void (*data_write)(void *arg, const char *buf, size_t len);
	/* DATA ended. OK false: discard the message, nothing more to do. OK
	 * true: store it and call server_data_done() with the verdict. */
	void (*data_end)(void *arg, const struct server_txn *t, bool ok);
	/* "220 Ready to start TLS" was written: discard unread input (it was
	 * sent in the clear before the handshake), start TLS, then call
	 * server_tls_done(). */
	void (*starttls)(void *arg);
	/* Check USER's PASSWORD: NULL, and server_auth_done() comes later; or
	 * the complete reply refusing it unchecked. */
	const char *(*auth)(void *arg, const char *user, const char *password);
	/* AUTH was given (TLS on, not yet authenticated): NULL to go on, or
	 * the complete reply refusing it before anything else is read (the
	 * client's address is over its failure limit). */
	const char *(*auth_begin)(void *arg);
	/* This file refused a MAIL, a RCPT or a message (for the log and the
	 * counters). May be NULL. */
	void (*reject)(void *arg, const struct server_txn *t, const struct server_reject *r);
};

enum server_state {
	SRV_INIT,      /* greeting sent, no HELO yet */
	SRV_HELO,      /* HELO/EHLO done, no transaction */
	SRV_MAIL,      /* MAIL accepted */
	SRV_RCPT,      /* at least one RCPT accepted */
	SRV_DATA,      /* receiving the body */
	SRV_COMMIT,    /* waiting for server_data_done() */
	SRV_TLS,       /* waiting for server_tls_done() */
	SRV_AUTH,      /* reading an AUTH response line (334 sent) */
	SRV_AUTHCHECK, /* waiting for server_auth_done() */
	SRV_RCPTCHECK, /* waiting for server_rcpt_done() */
	SRV_CLOSED,    /* QUIT or 421: nothing more is read */
};

enum server_auth_step { AUTH_NONE, AUTH_PLAIN, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

struct server {
	enum server_state state;
	struct server_params p;
	const struct server_hooks *h;
	void *arg;
	struct server_txn txn;
	struct data_scan ds;
	bool data_ok; /* still storing this DATA (not too big, no error) */
	bool tls;     /* TLS is on */
	bool authenticated;
	char user[256]; /* authenticated user, or "" */
	enum server_auth_step auth_step;
	enum server_state auth_return; /* state to go back to after AUTH */
	char pending_rcpt[CMD_LINE_MAX];
	unsigned long lines; /* complete lines read in command mode */
	unsigned errors;
	size_t linelen;
	bool overflow;
	char line[CMD_LINE_MAX + 1];
};

struct server *server_new(const struct server_params *p, const struct server_hooks *h, void *arg);
void server_free(struct server *s);
void server_start(struct server *s);
size_t server_input(struct server *s, const char *buf, size_t len);
void server_data_done(struct server *s, const char *reply);
void server_tls_done(struct server *s, bool ok);
void server_auth_done(struct server *s, bool ok);
void server_rcpt_done(struct server *s, const char *refuse);
bool server_paused(const struct server *s);
void server_timeout(struct server *s);
void server_shutdown(struct server *s);
const char *server_strstate(enum server_state st);

#endif
