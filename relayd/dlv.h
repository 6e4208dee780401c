/*
 * dlv.h — what a delivery attempt means for a recipient.
 *
 * dlv_decide()   THE decision: what happened (a reply, a lost connection,
 *                a DNS answer, expiry, ...) in; defer, bounce, re-route or
 *                sent, and what it means for the connection and the
 *                destination (next host, back-off, hold, down) out
 * dlv_reply()    outcome of a remote reply: 2xx ok, 4xx tempfail, 5xx permfail
 * dlv_local()    outcome decided locally (network error, TLS, no route, ...)
 * dlv_rank()     how informative an outcome is, to keep the best when hosts
 *                fail one after another
 * dlv_detour()   turn a reputation or blocklist block into DLV_REROUTE when
 *                the transport has a fallback (and this is not already it)
 * dlv_waits_for_destination()  was a deferral about the destination (no
 *                connection, 421, throttling) rather than the recipient
 *
 * This is the ONE place that decides defer versus bounce (as Postfix's
 * smtp_trouble.c): callers report what happened, dlv_decide() says what it
 * means; dlv_reply() and dlv_local() are its building blocks.
 */
#ifndef RELAYD_DLV_H
#define RELAYD_DLV_H

#include <stdbool.h>

#include "smtp/reply.h"

enum dlv_kind {
	DLV_OK,
	DLV_TEMPFAIL,
	DLV_PERMFAIL,
	DLV_REROUTE, /* a reputation/blocklist block: try the fallback transport (or, over a
		       * warm-up rate, the overflow transport in REROUTE) */
};

struct dlv {
	enum dlv_kind kind;
	int code;		   /* remote reply code, 0 when local */
	char status[16];	   /* enhanced status "4.4.1" */
	char text[REPLY_TEXT_MAX]; /* remote reply verbatim, or the local reason */
	char relay[400];	   /* "HOST[IP]:PORT", or "none": no connection was made */
	char tls[32];		   /* "none", "TLSv1.3" */
	int cmd;		   /* enum reply_cmd: what the reply answered */
	bool no_attempt;	   /* nothing was tried (the destination is known to be
				      down): not an attempt, not counted in attempts= */
	bool waits;		   /* (set by dlv_decide(), dlv_exhausted()) a deferral that
				      waited for the destination: released on recovery */
	char reroute[64];	   /* DLV_REROUTE: the transport it goes to ("": the
				      fallback); TEXT then names it already */
};

/* Outcome of a complete reply R from RELAY. */
void dlv_reply(struct dlv *d, const struct reply *r, const char *relay, const char *tls);

/* A local outcome: KIND with STATUS ("4.4.1") and a reason in words. */
void dlv_local(struct dlv *d, enum dlv_kind kind, const char *status, const char *relay,
	       const char *reason);

/* When D is a 4xx or 5xx reply the classifier calls a blocklist or
 * IP-reputation block and CAN_DETOUR (the transport has a fallback and the
 * recipient has not been re-routed yet), make it DLV_REROUTE; true if so. */
bool dlv_detour(struct dlv *d, bool can_detour);

/* Higher is more informative: a permanent failure (5xx reply, domain not
 * found) > a 4xx reply > a local temporary reason. */
int dlv_rank(const struct dlv *d);

/* A deferral with reply CODE (0: a local reason), STATUS and TEXT waited for
 * the destination, not the recipient: no connection or session could be
 * had (a local reason), a 421, or throttling (too many connections, a rate
 * limit). Only such recipients are released at once when the destination
 * delivers again; a greylisted recipient or a full mailbox keeps its own
 * retry time. */
bool dlv_waits_for_destination(int code, const char *status, const char *text);

/* What happened. */
enum dlv_what {
	DLV_W_REPLY,	     /* a recipient's final reply (to MAIL, RCPT, DATA, end of data) */
	DLV_W_SESSION,	     /* a remote reply ended the session (greeting, EHLO, RSET, a 421) */
	DLV_W_SESSION_LOCAL, /* the client ended it for a reason of its own (TLS required, AUTH,
				a protocol error): STATUS and REASON */
	DLV_W_CONNECT,	     /* connect() to RELAY failed: REASON */
	DLV_W_LOST,	     /* the connection was lost or a deadline passed: REASON */
	DLV_W_TLS,	     /* TLS could not start or its handshake failed: REASON */
	DLV_W_ADDR,	     /* the address lookup of HOST failed: DNS */
	DLV_W_MX,	     /* the MX lookup of HOST (the domain) failed: DNS */
	DLV_W_NULL_MX,	     /* HOST (the domain) publishes a null MX (RFC 7505) */
	DLV_W_NO_HOST,	     /* no host could be tried at all */
	DLV_W_CONFIG,	     /* relayd's own configuration stops it: STATUS, REASON */
	DLV_W_NO_ROUTE,	     /* no route for the domain (the configuration changed) */
	DLV_W_EXPIRED,	     /* max_lifetime is over: REASON is the last reply or "none" */
	DLV_W_SUSPENDED,     /* the destination is known to be down (no host answered a
				moment ago: STATUS and REASON): not tried */
	DLV_W_WARMUP,	     /* over the warm-up's rate of the day (REASON: "day 2 of 5,
				20/m"): to the overflow transport TO at once, not tried */
};

struct dlv_event {
	enum dlv_what what;
	const struct reply *reply; /* REPLY, SESSION */
	const char *relay;	   /* "HOST[IP]:PORT", or NULL when none was reached */
	const char *tls;	   /* "TLSv1.3", or NULL */
	const char *host;	   /* ADDR, MX, NULL_MX */
	const char *status;	   /* SESSION_LOCAL, CONFIG */
	const char *reason;	   /* words, for the local events that take them */
	const char *to;		   /* WARMUP: the overflow transport */
	int dns;		   /* ADDR, MX: enum dns_status */
	bool implicit_mx;	   /* ADDR: HOST is the domain itself (it has no MX) */
	bool can_detour;	   /* a fallback exists and the job is not on it already */
	bool stale;		   /* a reused connection died before any reply: no fault */
};

struct dlv_verdict {
	struct dlv d;	/* for every recipient concerned */
	bool next_host; /* the session is over: try the next address or host */
	bool throttle;	/* back the destination off (421, too many connections, a rate) */
	bool hold;	/* a reputation block: hold the destination on its fallback */
	bool waits;	/* a deferral that waited for the destination (released on recovery) */
	bool down;	/* (dlv_exhausted() only) nothing answered: the destination is down */
};

/* THE decision for event EV. */
void dlv_decide(const struct dlv_event *ev, struct dlv_verdict *v);

/* Every host of a job failed, BEST the most informative outcome seen (NULL:
 * none could be tried): the job's outcome, whether it throttles or waits
 * for the destination, and whether the destination is down (nothing
 * answered at all: further jobs are deferred at once for a while instead of
 * each timing out). */
void dlv_exhausted(const struct dlv *best, struct dlv_verdict *v);

#endif
