/*
 * dest.c — destinations by (transport name, key), in a hash (dest.h).
 *
 * dest_get(), dest_find(), dest_transport(), dest_idle(), dest_maybe_free(),
 * dest_foreach(), dest_count(), dest_name(), dest_free_all(), dest_tally(),
 * dest_last_hour(), dest_set_why()
 *
 * Invariants: a key is stored lower case; one destination per (name, key);
 * d->t is the transport of d->conf, refreshed whenever the global
 * configuration pointer changed (a reload), so nothing keeps a transport of
 * an old configuration for new work. A destination is freed only when idle
 * and when forgetting it loses nothing: no hold, pause or down time in
 * force, no back-off level within DEST_BACKOFF_MEMORY of its pause, a full
 * rate bucket, and no use within DEST_FORGET (RELAYD_DEST_FORGET seconds in
 * tests).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "relayd/dest.h"
#include "relayd/intern.h"
#include "relayd/log.h"
#include "relayd/relayd.h"
#include "relayd/warmup.h"

static struct dest **d_tab;
static size_t d_size; /* buckets, a power of two */
static size_t d_count;

/* FNV-1a of NAME, a NUL, and KEY without case. */
static unsigned
dest_hash(const char *name, const char *key)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0) * 16777619u;
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 16777619u;
	return h;
}

static void
dest_grow(void)
{
	size_t n = d_size ? d_size * 2 : 64;
	struct dest **t = calloc(n, sizeof(*t));
	if (!t)
		fatal("out of memory");
	for (size_t i = 0; i < d_size; i++) {
		struct dest *d, *next;
		for (d = d_tab[i]; d; d = next) {
			next = d->hnext;
			d->hnext = t[d->hash & (n - 1)];
			t[d->hash & (n - 1)] = d;
		}
	}
	free(d_tab);
	d_tab = t;
	d_size = n;
}

/* The destination (TNAME, KEY), or NULL. */
struct dest *
dest_find(const char *tname, const char *key)
{
	if (!key)
		key = "";
	if (d_size == 0)
		return NULL;
	unsigned h = dest_hash(tname, key);
	for (struct dest *d = d_tab[h & (d_size - 1)]; d; d = d->hnext)
		if (d->hash == h && strcmp(d->tname, tname) == 0 && strcasecmp(d->key, key) == 0)
			return d;
	return NULL;
}

/* The destination (TNAME, KEY), made when there is none. */
struct dest *
dest_get(const char *tname, const char *key)
{
	struct dest *d = dest_find(tname, key);
	if (d)
		return d;
	if (!key)
		key = "";
	if (d_count >= d_size)
		dest_grow();
	d = calloc(1, sizeof(*d));
	if (!d || !(d->tname = strdup(tname)) || !(d->key = strdup(key)))
		fatal("out of memory");
	for (char *p = d->key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	d->hash = dest_hash(tname, key);
	d->tokens = 1;
	/* Recipients may wait for it from before it was made (a restart, or
	 * it was forgotten while idle): its first delivery releases them. The
	 * queue's release costs a lookup when none wait (waitq.h). */
	d->deferred_some = true;
	const struct conf_transport *t = dest_transport(d);
	d->cur_max = t ? t->max_connections : 1;
	d->hnext = d_tab[d->hash & (d_size - 1)];
	d_tab[d->hash & (d_size - 1)] = d;
	d_count++;
	return d;
}

/* D's transport now; NULL when the configuration has none of its name. */
const struct conf_transport *
dest_transport(struct dest *d)
{
	const struct conf *c = relayd_conf;
	if (d->conf == c)
		return d->t;
	d->conf = c;
	d->t = c ? conf_transport_find(c, d->tname) : NULL;
	if (d->t) {
		/* A reload: the new limit, but a back-off keeps its lower one. */
		unsigned max = d->t->max_connections;
		d->cur_max = d->backoff == 0 || d->cur_max > max ? max : d->cur_max;
	}
	return d->t;
}

/* No jobs and no connections. */
bool
dest_idle(const struct dest *d)
{
	return !d->head && d->nconn == 0 && !d->idle;
}

static void
dest_free(struct dest *d)
{
	struct dest **pp = &d_tab[d->hash & (d_size - 1)];
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	d_count--;
	if (d->timer)
		event_free(d->timer);
	intern_drop(d->detour_why);
	intern_drop(d->backoff_why);
	intern_drop(d->last_reply);
	free(d->tname);
	free(d->key);
	free(d);
}

/* How long what was learnt about D stays in force after NOW / MONO: 0 when
 * nothing does. A back-off level is remembered for DEST_BACKOFF_MEMORY
 * after its pause, so that a destination that throttles again soon pauses
 * longer. */
double
dest_keep_for(struct dest *d, time_t now, double mono)
{
	double keep = 0;
	if (d->detour_until > now)
		keep = (double)(d->detour_until - now);
	if (d->down_until > now && (double)(d->down_until - now) > keep)
		keep = (double)(d->down_until - now);
	if (d->paused_until > mono && d->paused_until - mono > keep)
		keep = d->paused_until - mono;
	if (d->backoff > 0 && d->paused_until + DEST_BACKOFF_MEMORY - mono > keep)
		keep = d->paused_until + DEST_BACKOFF_MEMORY - mono;
	const struct conf_transport *t = dest_transport(d);
	struct conf_rate r = t ? t->rate : (struct conf_rate){0, 0};
	if (t && t->nwarmup) {
		struct warmup_now w;
		bool limited;
		warmup_at(t, warmup_today(now), &w);
		r = warmup_rate(t, &w, &limited);
	}
	if (r.n > 0) {
		/* A bucket not yet full again would let a new destination
		 * send at once what the rate (or the day's warm-up) says must
		 * wait. */
		double per = (double)r.interval / r.n;
		double empty = 1 - (d->tokens + (mono - d->tok_last) / per);
		if (empty > 0 && empty * per > keep)
			keep = empty * per;
	}
	static double forget = -1;
	if (forget < 0) {
		const char *e = getenv("RELAYD_DEST_FORGET");
		forget = e ? strtod(e, NULL) : DEST_FORGET;
		if (!(forget >= 0))
			forget = DEST_FORGET;
	}
	if (d->last_used && (double)(d->last_used - now) + forget > keep)
		keep = (double)(d->last_used - now) + forget;
	return keep;
}

/* Forget D when idle and nothing learnt is in force; true if freed. */
bool
dest_maybe_free(struct dest *d, time_t now, double mono)
{
	if (!dest_idle(d) || dest_keep_for(d, now, mono) > 0)
		return false;
	dest_free(d);
	return true;
}

/* Call CB for every destination. */
void
dest_foreach(void (*cb)(void *arg, struct dest *d), void *arg)
{
	for (size_t i = 0; i < d_size; i++)
		for (struct dest *d = d_tab[i]; d; d = d->hnext)
			cb(arg, d);
}

/* Destinations known now. */
size_t
dest_count(void)
{
	return d_count;
}

/* The name in log lines. */
const char *
dest_name(const struct dest *d)
{
	return d->key[0] ? d->key : "(relay)";
}

/* Free every destination. */
void
dest_free_all(void)
{
	for (size_t i = 0; i < d_size; i++) {
		struct dest *d, *next;
		for (d = d_tab[i]; d; d = next) {
			next = d->hnext;
			if (d->timer)
				event_free(d->timer);
			free(d->tname);
			free(d->key);
			free(d);
		}
	}
	free(d_tab);
	d_tab = NULL;
	d_size = d_count = 0;
}

void
dest_tally(struct dest *d, int kind, int code, const char *status, const char *text, time_t now)
{
	static const enum dest_outcome of[] = {
		[DLV_OK] = DEST_SENT,
		[DLV_TEMPFAIL] = DEST_DEFERRED,
		[DLV_PERMFAIL] = DEST_BOUNCED,
		[DLV_REROUTE] = DEST_REROUTED,
	};
	uint32_t at = (uint32_t)(now / DEST_SLOT_SECONDS);
	size_t i = at % DEST_SLOTS;
	if (d->slot_at[i] != at) {
		d->slot_at[i] = at;
		memset(d->counts[i], 0, sizeof(d->counts[i]));
	}
	if (kind >= 0 && (size_t)kind < sizeof(of) / sizeof(of[0]))
		d->counts[i][of[kind]]++;
	dest_set_why(&d->last_reply, text);
	d->last_code = code;
	snprintf(d->last_status, sizeof(d->last_status), "%s", status ? status : "");
	d->last_used = now;
}

void
dest_last_hour(const struct dest *d, time_t now, unsigned out[DEST_NOUTCOMES])
{
	uint32_t at = (uint32_t)(now / DEST_SLOT_SECONDS);
	memset(out, 0, DEST_NOUTCOMES * sizeof(out[0]));
	for (size_t i = 0; i < DEST_SLOTS; i++) {
		/* The current slot and the 11 before it. */
		if (d->slot_at[i] > at || at - d->slot_at[i] >= DEST_SLOTS)
			continue;
		for (size_t k = 0; k < DEST_NOUTCOMES; k++)
			out[k] += d->counts[i][k];
	}
}

void
dest_set_why(const char **slot, const char *text)
{
	const char *old = *slot;
	*slot = text ? intern(text) : NULL;
	intern_drop(old);
}
