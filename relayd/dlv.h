/*
 * dlv.h — what a delivery attempt means for a recipient.
 *
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
 * smtp_trouble.c): everything else asks it.
 */
#ifndef RELAYD_DLV_H
#define RELAYD_DLV_H

#include <stdbool.h>

#include "smtp/reply.h"

enum dlv_kind {
	DLV_OK,
	DLV_TEMPFAIL,
	DLV_PERMFAIL,
	DLV_REROUTE, /* a reputation/blocklist block: try the fallback transport */
};

struct dlv {
	enum dlv_kind kind;
	int code;		   /* remote reply code, 0 when local */
	char status[16];	   /* enhanced status "4.4.1" */
	char text[REPLY_TEXT_MAX]; /* remote reply verbatim, or the local reason */
	char relay[400];	   /* "HOST[IP]:PORT", or "none" */
	char tls[32];		   /* "none", "TLSv1.3" */
	int cmd;		   /* enum reply_cmd: what the reply answered */
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

#endif
