/*
 * dlv.c — the defer-or-bounce decision, in one place.
 *
 * dlv_decide(), dlv_exhausted(), dlv_reply(), dlv_local(), dlv_rank(),
 * dlv_detour(), dlv_waits_for_destination()
 *
 * A reply without an enhanced status gets the RFC 3463 generic one for its
 * class (X.0.0), so every log line and DSN carries a dsn=.
 */
#include <stdio.h>
#include <string.h>

#include "relayd/dlv.h"
#include "relayd/dns.h"
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

/* Is a reply-level outcome D throttling: a 421, too many connections, a
 * rate limit. */
static bool
dlv_throttling(const struct dlv *d)
{
	struct classification cl;

	if (d->code == 421)
		return true;
	if (d->code < 400 || d->kind == DLV_OK)
		return false;
	classify(d->code, d->status, d->text, &cl);
	return cl.kind == CLASS_RATE_LIMIT;
}

/* THE decision: what EV means for the recipients, the connection and the
 * destination. */
void
dlv_decide(const struct dlv_event *ev, struct dlv_verdict *v)
{
	char why[REPLY_TEXT_MAX];
	const char *host = ev->host ? ev->host : "?";

	memset(v, 0, sizeof(*v));
	switch (ev->what) {
	case DLV_W_REPLY:
		/* 2xx sent, 4xx deferred, 5xx bounced; a reputation or
		 * blocklist block re-routed to the fallback and held. */
		dlv_reply(&v->d, ev->reply, ev->relay, ev->tls);
		v->hold = dlv_detour(&v->d, ev->can_detour);
		v->throttle = dlv_throttling(&v->d);
		break;
	case DLV_W_SESSION:
		/* A 421 at any stage is temporary, whatever follows; a block
		 * in the greeting or EHLO holds the whole destination (every
		 * host would say the same); anything else: the next host. */
		dlv_reply(&v->d, ev->reply, ev->relay, ev->tls);
		if (ev->reply->code == 421 || ev->reply->code < 400)
			v->d.kind = DLV_TEMPFAIL;
		v->hold = dlv_detour(&v->d, ev->can_detour);
		v->next_host = !v->hold;
		v->throttle = !v->hold && !ev->stale && v->d.kind == DLV_TEMPFAIL &&
			      dlv_throttling(&v->d);
		break;
	case DLV_W_SESSION_LOCAL:
		/* TLS or AUTH trouble, a protocol error: never a bounce. */
		dlv_local(&v->d, DLV_TEMPFAIL, ev->status ? ev->status : "4.0.0", ev->relay,
			  ev->reason ? ev->reason : "session failed");
		snprintf(v->d.tls, sizeof(v->d.tls), "%s", ev->tls ? ev->tls : "none");
		v->next_host = true;
		break;
	case DLV_W_CONNECT:
		/* No connection: relay=none, the reason names the host. */
		snprintf(why, sizeof(why), "connect to %s: %s", ev->relay ? ev->relay : host,
			 ev->reason ? ev->reason : "failed");
		dlv_local(&v->d, DLV_TEMPFAIL, "4.4.1", NULL, why);
		v->next_host = true;
		break;
	case DLV_W_LOST:
		dlv_local(&v->d, DLV_TEMPFAIL, "4.4.2", ev->relay,
			  ev->reason ? ev->reason : "lost connection");
		v->next_host = true;
		break;
	case DLV_W_TLS:
		dlv_local(&v->d, DLV_TEMPFAIL, "4.7.5", ev->relay,
			  ev->reason ? ev->reason : "TLS failed");
		v->next_host = true;
		break;
	case DLV_W_ADDR:
		if (ev->implicit_mx && ev->dns != DNS_TEMPFAIL) {
			/* No MX and no address: nowhere to deliver, ever. */
			snprintf(why, sizeof(why),
				 "Host or domain name not found. Name service error for name=%s "
				 "type=A/AAAA: %s",
				 host, dns_strstatus((enum dns_status)ev->dns));
			dlv_local(&v->d, DLV_PERMFAIL, "5.1.2", NULL, why);
		} else {
			snprintf(why, sizeof(why), "cannot find the address of %s: %s", host,
				 dns_strstatus((enum dns_status)ev->dns));
			dlv_local(&v->d, DLV_TEMPFAIL, ev->dns == DNS_TEMPFAIL ? "4.4.3" : "4.4.4",
				  NULL, why);
		}
		v->next_host = true;
		break;
	case DLV_W_MX:
		if (ev->dns == DNS_TEMPFAIL) {
			snprintf(why, sizeof(why),
				 "Host or domain name lookup failed for %s type=MX: temporary DNS "
				 "failure (will retry)",
				 host);
			dlv_local(&v->d, DLV_TEMPFAIL, "4.4.3", NULL, why);
		} else {
			snprintf(why, sizeof(why),
				 "Host or domain name not found. Name service error for name=%s "
				 "type=MX: Host not found",
				 host);
			dlv_local(&v->d, DLV_PERMFAIL, "5.1.2", NULL, why);
		}
		break;
	case DLV_W_NULL_MX:
		snprintf(why, sizeof(why), "domain %s does not accept mail (null MX, RFC 7505)",
			 host);
		dlv_local(&v->d, DLV_PERMFAIL, "5.1.10", NULL, why);
		break;
	case DLV_W_NO_HOST:
		dlv_local(&v->d, DLV_TEMPFAIL, "4.4.1", NULL, "no relay host could be tried");
		break;
	case DLV_W_CONFIG:
		/* A configuration problem is never the sender's: defer. */
		dlv_local(&v->d, DLV_TEMPFAIL, ev->status ? ev->status : "4.3.5", NULL,
			  ev->reason ? ev->reason : "configuration error");
		break;
	case DLV_W_NO_ROUTE:
		dlv_local(&v->d, DLV_TEMPFAIL, "4.3.5", NULL,
			  "no route for the recipient's domain in the configuration");
		break;
	case DLV_W_EXPIRED:
		snprintf(why, sizeof(why), "delivery time expired; last reply: %.980s",
			 ev->reason ? ev->reason : "none");
		dlv_local(&v->d, DLV_PERMFAIL, "4.4.7", NULL, why);
		break;
	case DLV_W_SUSPENDED:
		/* Deferred without a try: not an attempt (released when the
		 * destination works again, like any recipient that waits). */
		snprintf(why, sizeof(why), "delivery temporarily suspended: %.980s",
			 ev->reason ? ev->reason : "the destination is unreachable");
		dlv_local(&v->d, DLV_TEMPFAIL, ev->status && ev->status[0] ? ev->status : "4.4.1",
			  NULL, why);
		v->d.no_attempt = true;
		break;
	case DLV_W_WARMUP:
		/* Mail over the day's warm-up rate goes to the overflow at once:
		 * not an attempt, not a deferral. */
		snprintf(why, sizeof(why),
			 "warm-up: %.200s, over the day's rate: to transport %.64s",
			 ev->reason ? ev->reason : "", ev->to ? ev->to : "");
		dlv_local(&v->d, DLV_REROUTE, "4.7.0", NULL, why);
		snprintf(v->d.reroute, sizeof(v->d.reroute), "%s", ev->to ? ev->to : "");
		v->d.no_attempt = true;
		break;
	}
	v->waits = v->d.kind == DLV_TEMPFAIL &&
		   dlv_waits_for_destination(v->d.code, v->d.status, v->d.text);
	v->d.waits = v->waits;
}

/* The outcome of a job whose every host failed. */
void
dlv_exhausted(const struct dlv *best, struct dlv_verdict *v)
{
	if (!best) {
		struct dlv_event ev = {.what = DLV_W_NO_HOST};
		dlv_decide(&ev, v);
	} else {
		memset(v, 0, sizeof(*v));
		v->d = *best;
		v->throttle = dlv_throttling(best);
		v->waits = best->kind == DLV_TEMPFAIL &&
			   dlv_waits_for_destination(best->code, best->status, best->text);
		v->d.waits = v->waits;
	}
	v->down = v->d.kind == DLV_TEMPFAIL && v->d.code == 0;
}
