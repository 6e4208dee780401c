/*
 * metrics.h — Prometheus text metrics over HTTP (metrics_listen).
 *
 * metrics_init()          serve GET /metrics on "IP:PORT" with evhttp
 * metrics_shutdown()      close the listener
 * metrics_render()        the exposition text (also for tests)
 * metrics_set_detours()   hook giving relayd_detours_active
 * metrics_set_started()   the start time relayd_start_time_seconds shows
 *
 * Every value is read when a scrape arrives: counters from stats.c, the
 * queue from queue.c, sessions from session.c and mta.c. Nothing is kept.
 */
#ifndef RELAYD_METRICS_H
#define RELAYD_METRICS_H

#include <stddef.h>
#include <time.h>

struct event_base;
struct evbuffer;

/* Listen on LISTEN ("IP:PORT", "[IPv6]:PORT"); 0, or -1 and *CAUSE (static). */
int metrics_init(struct event_base *base, const char *listen, char **cause);

void metrics_shutdown(void);

/* Append the whole exposition (text format 0.0.4) to OUT; 0 or -1. */
int metrics_render(struct evbuffer *out);

/* FN returns the number of destinations currently detoured to their
 * fallback; NULL (the default) reports 0. */
void metrics_set_detours(size_t (*fn)(void));

/* relayd started at WHEN (Unix time); 0 (the default) until told. */
void metrics_set_started(time_t when);

/* Append S to OUT as a label value: backslash, double quote and newline
 * escaped (the text format's rules). */
void metrics_label(struct evbuffer *out, const char *s);

#endif
