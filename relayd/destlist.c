/*
 * destlist.c — `relayctl destinations [--json]`: every destination relayd
 * knows, with its state, limits, waiting count, last hour and last reply.
 *
 * destlist_write()
 *
 * Reads what dest.c and mta.c keep about each destination and what the
 * queue lists as waiting for it (waitq); changes nothing. Sorted by
 * transport, then destination, so the output is stable. One destination
 * costs a few hundred bytes of output; the whole list is written in one
 * turn of the loop (destinations are bounded by an hour of distinct
 * domains, not by the queue).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "conf/value.h"
#include "relayd/dest.h"
#include "relayd/destlist.h"
#include "relayd/job.h"
#include "relayd/json.h"
#include "relayd/waitq.h"
#include "relayd/warmup.h"
#include "smtp/classify.h"

/* A state in force: "throttled", "down", "detour". */
struct dl_state {
	const char *state;
	time_t until;
	const char *reason;
	const char *to; /* detour: the fallback */
};

struct dl_row {
	struct dest *d;
	const struct conf_transport *t; /* NULL: a reload removed it */
};

static int
row_cmp(const void *a, const void *b)
{
	const struct dl_row *x = a, *y = b;
	int c = strcmp(x->d->tname, y->d->tname);
	return c ? c : strcasecmp(x->d->key, y->d->key);
}

static void
collect(void *arg, struct dest *d)
{
	struct {
		struct dl_row *v;
		size_t n, cap;
	} *rows = arg;
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct dl_row *v = realloc(rows->v, cap * sizeof(*v));
		if (!v)
			return; /* listed up to here */
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = (struct dl_row){.d = d};
}

/* D's states in force at NOW / MONO, at most 3. */
static size_t
states_of(const struct dest *d, const struct conf_transport *t, time_t now, double mono,
	  struct dl_state st[3])
{
	size_t n = 0;
	if (d->paused_until > mono)
		st[n++] = (struct dl_state){"throttled",
					    now + (time_t)(d->paused_until - mono + 0.999),
					    d->backoff_why, NULL};
	if (d->down_until > now)
		st[n++] = (struct dl_state){"down", d->down_until, d->down_why.text, NULL};
	if (d->detour_until > now)
		st[n++] = (struct dl_state){"detour", d->detour_until, d->detour_why,
					    t && t->fallback ? t->fallback->name : "(none)"};
	return n;
}

/* Recipients in jobs waiting for a connection or a token, and messages
 * the queue lists as waiting for the destination. */
static size_t
waiting_of(const struct dest *d)
{
	size_t n = waitq_count(d->tname, d->key[0] ? d->key : NULL);
	for (const struct job *j = d->head; j; j = j->next)
		n += j->nrcpt;
	return n;
}

static const char *
class_of(const struct dest *d)
{
	struct classification cl;
	if (!d->last_reply)
		return NULL;
	if (d->last_code)
		classify(d->last_code, d->last_status, d->last_reply, &cl);
	else
		classify_local(d->last_status, d->last_reply, &cl);
	return classify_name(cl.kind);
}

static void
put_time(struct evbuffer *out, time_t t)
{
	char when[64];
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	evbuffer_add_printf(out, "%s", when);
}

static void
write_text(struct evbuffer *out, const struct dl_row *r, time_t now, double mono)
{
	const struct dest *d = r->d;
	const struct conf_transport *t = r->t;
	struct dl_state st[3];
	size_t n = states_of(d, t, now, mono, st);
	unsigned hour[DEST_NOUTCOMES];

	evbuffer_add_printf(out, "transport: %s%s\n", d->tname, t ? "" : " (removed by a reload)");
	if (d->site)
		evbuffer_add_printf(out, "destination: site %s\n", d->key);
	else if (d->key[0])
		evbuffer_add_printf(out, "destination: %s (domain)\n", d->key);
	else
		evbuffer_add_printf(out, "destination: relay\n");
	if (n == 0)
		evbuffer_add_printf(out, "state: ok\n");
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "state: %s", st[i].state);
		if (st[i].to)
			evbuffer_add_printf(out, " to %s", st[i].to);
		evbuffer_add(out, " until ", 7);
		put_time(out, st[i].until);
		evbuffer_add_printf(out, " (%s)\n", st[i].reason ? st[i].reason : "no reason kept");
	}
	if (t && t->nwarmup) {
		struct warmup_now w;
		char day[64];
		warmup_at(t, warmup_today(now), &w);
		warmup_describe(t, &w, day, sizeof(day));
		evbuffer_add_printf(out, "warmup: %s\n", day);
	}
	evbuffer_add_printf(out, "connections: %u of %u\n", d->nconn, d->cur_max);
	evbuffer_add_printf(out, "waiting: %zu\n", waiting_of(d));
	dest_last_hour(d, now, hour);
	evbuffer_add_printf(out, "last hour: %u sent, %u deferred, %u bounced, %u rerouted\n",
			    hour[DEST_SENT], hour[DEST_DEFERRED], hour[DEST_BOUNCED],
			    hour[DEST_REROUTED]);
	if (d->last_reply)
		evbuffer_add_printf(out, "last reply: %s (class %s)\n", d->last_reply, class_of(d));
	else
		evbuffer_add_printf(out, "last reply: none\n");
}

static void
write_json(struct evbuffer *out, const struct dl_row *r, time_t now, double mono)
{
	const struct dest *d = r->d;
	const struct conf_transport *t = r->t;
	struct dl_state st[3];
	size_t n = states_of(d, t, now, mono, st);
	unsigned hour[DEST_NOUTCOMES];

	evbuffer_add(out, "{\"transport\":", 13);
	json_string(out, d->tname);
	evbuffer_add(out, ",\"destination\":", 15);
	json_string(out, d->key[0] ? d->key : "relay");
	evbuffer_add_printf(out, ",\"kind\":\"%s\",\"mx\":",
			    d->site	? "site"
			    : d->key[0] ? "domain"
					: "relay");
	if (d->site) { /* its MX host names: the key, split */
		evbuffer_add(out, "[", 1);
		char host[256];
		for (const char *p = d->key, *e; *p; p = *e ? e + 1 : e) {
			e = strchr(p, ',');
			if (!e)
				e = p + strlen(p);
			snprintf(host, sizeof(host), "%.*s", (int)(e - p), p);
			evbuffer_add(out, p == d->key ? "" : ",", p == d->key ? 0 : 1);
			json_string(out, host);
		}
		evbuffer_add(out, "]", 1);
	} else {
		evbuffer_add(out, "null", 4);
	}
	evbuffer_add(out, ",\"states\":[", 11);
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out,
				    "%s{\"state\":\"%s\",\"until\":%lld,\"reason\":", i ? "," : "",
				    st[i].state, (long long)st[i].until);
		json_string(out, st[i].reason);
		if (st[i].to) {
			evbuffer_add(out, ",\"to\":", 6);
			json_string(out, st[i].to);
		}
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add(out, "],\"warmup\":", 11);
	struct warmup_now w = {.phase = WARMUP_NONE};
	if (t)
		warmup_at(t, warmup_today(now), &w);
	if (w.phase == WARMUP_DAY) {
		char rate[32];
		value_rate_format(&w.rate, rate, sizeof(rate));
		evbuffer_add_printf(out, "{\"day\":%u,\"rate\":\"%s\"}", w.day, rate);
	} else {
		evbuffer_add(out, "null", 4);
	}
	dest_last_hour(d, now, hour);
	evbuffer_add_printf(out,
			    ",\"connections\":%u,\"max_connections\":%u,\"waiting\":%zu,"
			    "\"last_hour\":{\"sent\":%u,\"deferred\":%u,\"bounced\":%u,"
			    "\"rerouted\":%u},\"last_reply\":",
			    d->nconn, d->cur_max, waiting_of(d), hour[DEST_SENT],
			    hour[DEST_DEFERRED], hour[DEST_BOUNCED], hour[DEST_REROUTED]);
	json_string(out, d->last_reply);
	evbuffer_add(out, ",\"class\":", 9);
	json_string(out, class_of(d));
	evbuffer_add(out, "}", 1);
}

void
destlist_write(struct evbuffer *out, bool json)
{
	/* dest.c's pauses are in monotonic seconds, its other times in time_t. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double mono = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	time_t now = time(NULL);
	struct {
		struct dl_row *v;
		size_t n, cap;
	} rows = {0};
	dest_foreach(collect, &rows);
	for (size_t i = 0; i < rows.n; i++)
		rows.v[i].t = dest_transport(rows.v[i].d);
	if (rows.n)
		qsort(rows.v, rows.n, sizeof(rows.v[0]), row_cmp);
	if (json)
		evbuffer_add(out, "[", 1);
	for (size_t i = 0; i < rows.n; i++) {
		if (json) {
			evbuffer_add(out, i ? ",\n" : "\n", i ? 2 : 1);
			write_json(out, &rows.v[i], now, mono);
		} else {
			if (i)
				evbuffer_add(out, "\n", 1);
			write_text(out, &rows.v[i], now, mono);
		}
	}
	if (json)
		evbuffer_add(out, rows.n ? "\n]\n" : "]\n", rows.n ? 3 : 2);
	else if (!rows.n)
		evbuffer_add_printf(out,
				    "no destinations: nothing sent or waiting in the last hour\n");
	free(rows.v);
}
