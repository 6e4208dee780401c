/*
 * stats.c — process-wide counters, total and per transport.
 *
 * stats_count(), stats_get(), stats_name(), stats_transport_foreach(),
 * stats_reject(), stats_reject_foreach(), stats_delivery_reject(),
 * stats_delivery_reject_foreach()
 *
 * Touched only from the event-loop thread. Transports are few, and so are
 * the (code, reason) pairs of refusals: short lists are enough.
 */
#include <stdlib.h>
#include <string.h>

#include "relayd/stats.h"

struct tstats {
	char *name;
	uint64_t v[STAT_MAX];
	uint64_t cls[STATS_CLASS_MAX]; /* remote 4xx/5xx by classification */
	struct tstats *next;
};

struct rstats {
	int code;
	const char *reason; /* a string constant of the caller's */
	uint64_t n;
	struct rstats *next;
};

static uint64_t totals[STAT_MAX];
static struct tstats *per_transport;
static struct rstats *rejects;

static const char *names[STAT_MAX] = {
	"received",    "sent",	       "deferred",   "bounced",	       "expired",
	"rerouted",    "rejected",     "tls_in",     "tls_out",	       "auth_ok",
	"auth_failed", "auth_blocked", "auth_limit", "tls_in_resumed", "tls_out_resumed",
};

/* TRANSPORT's counters, made at first use; NULL when memory runs out. */
static struct tstats *
tstats_get(const char *transport)
{
	struct tstats *t;
	for (t = per_transport; t; t = t->next)
		if (strcmp(t->name, transport) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->name = strdup(transport))) {
		free(t);
		return NULL;
	}
	t->next = per_transport;
	per_transport = t;
	return t;
}

/* Add N to ID, in total and for TRANSPORT. */
void
stats_count(enum stat_id id, const char *transport, uint64_t n)
{
	totals[id] += n;
	struct tstats *t = transport ? tstats_get(transport) : NULL;
	if (t)
		t->v[id] += n;
}

/* A recipient refused (4xx or 5xx) by a remote server of TRANSPORT, the
 * reply classified as KIND (smtp/classify.h). */
void
stats_delivery_reject(const char *transport, int kind)
{
	struct tstats *t = tstats_get(transport);
	if (t && kind >= 0 && kind < STATS_CLASS_MAX)
		t->cls[kind]++;
}

/* Every (transport, classification) with refusals so far. */
void
stats_delivery_reject_foreach(void (*cb)(void *, const char *, int, uint64_t), void *arg)
{
	for (struct tstats *t = per_transport; t; t = t->next)
		for (int i = 0; i < STATS_CLASS_MAX; i++)
			if (t->cls[i])
				cb(arg, t->name, i, t->cls[i]);
}

/* The total of ID. */
uint64_t
stats_get(enum stat_id id)
{
	return totals[id];
}

/* The name relayctl stats prints for ID. */
const char *
stats_name(enum stat_id id)
{
	return id < STAT_MAX ? names[id] : "?";
}

/* Every per-transport counter. */
void
stats_transport_foreach(void (*cb)(void *, const char *, enum stat_id, uint64_t), void *arg)
{
	for (struct tstats *t = per_transport; t; t = t->next)
		for (int i = 0; i < STAT_MAX; i++)
			cb(arg, t->name, (enum stat_id)i, t->v[i]);
}

/* Count one refusal with reply CODE for REASON. */
void
stats_reject(int code, const char *reason)
{
	struct rstats *r;

	totals[STAT_REJECTED]++;
	for (r = rejects; r; r = r->next)
		if (r->code == code && strcmp(r->reason, reason) == 0)
			break;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return;
		r->code = code;
		r->reason = reason;
		r->next = rejects;
		rejects = r;
	}
	r->n++;
}

/* Every (code, reason) pair refused so far. */
void
stats_reject_foreach(void (*cb)(void *, int, const char *, uint64_t), void *arg)
{
	for (struct rstats *r = rejects; r; r = r->next)
		cb(arg, r->code, r->reason, r->n);
}
