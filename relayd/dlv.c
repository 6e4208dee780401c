/*
 * dlv.c — the defer-or-bounce decision, in one place.
 *
 * dlv_reply(), dlv_local(), dlv_rank()
 *
 * A reply without an enhanced status gets the RFC 3463 generic one for its
 * class (X.0.0), so every log line and DSN carries a dsn=.
 */
#include <stdio.h>
#include <string.h>

#include "relayd/dlv.h"
#include "smtp/classify.h"

/* Outcome of a complete reply R from RELAY over TLS (or "none"). */
void
dlv_reply(struct dlv *d, const struct reply *r, const char *relay, const char *tls)
{
	int cls = r->code / 100;

	memset(d, 0, sizeof(*d));
	d->code = r->code;
	d->cmd = r->cmd;
	d->kind = cls == 2 ? DLV_OK : cls == 5 ? DLV_PERMFAIL : DLV_TEMPFAIL;
	if (r->status[0] && r->status[0] - '0' == cls)
		snprintf(d->status, sizeof(d->status), "%s", r->status);
	else
		snprintf(d->status, sizeof(d->status), "%d.0.0", cls == 3 ? 4 : cls);
	snprintf(d->text, sizeof(d->text), "%s", r->line);
	snprintf(d->relay, sizeof(d->relay), "%s", relay ? relay : "none");
	snprintf(d->tls, sizeof(d->tls), "%s", tls ? tls : "none");
}

/* A locally decided outcome with its reason. */
void
dlv_local(struct dlv *d, enum dlv_kind kind, const char *status, const char *relay,
	  const char *reason)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	snprintf(d->status, sizeof(d->status), "%s", status);
	snprintf(d->text, sizeof(d->text), "%s", reason);
	snprintf(d->relay, sizeof(d->relay), "%s", relay ? relay : "none");
	snprintf(d->tls, sizeof(d->tls), "none");
}

/* How informative an outcome is, for keeping the best one across hosts. */
int
dlv_rank(const struct dlv *d)
{
	if (d->kind == DLV_REROUTE)
		return 4;
	if (d->kind == DLV_PERMFAIL)
		return 3;
	if (d->code >= 400)
		return 2;
	return 1;
}

/* Did this deferral wait for the destination rather than the recipient. */
bool
dlv_waits_for_destination(int code, const char *status, const char *text)
{
	struct classification cl;

	if (code == 0 || code == 421)
		return true;
	if (code < 400 || code >= 500)
		return false;
	classify(code, status, text, &cl);
	return cl.kind == CLASS_RATE_LIMIT;
}

/* A reputation or blocklist block goes to the fallback instead of bouncing
 * or waiting: another IP is the only thing that helps. */
bool
dlv_detour(struct dlv *d, bool can_detour)
{
	struct classification cl;

	if (!can_detour || d->code < 400 || d->kind == DLV_OK)
		return false;
	classify(d->code, d->status, d->text, &cl);
	if (!cl.reroute)
		return false;
	d->kind = DLV_REROUTE;
	return true;
}
