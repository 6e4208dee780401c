/*
 * shape.h — the queue's shape, as Postfix's qshape draws it (relayctl
 * queue --summary).
 *
 * shape_new()     an empty table, ages counted at NOW
 * shape_add()     one pending recipient: its domain and its message's arrival
 * shape_render()  the table as text
 * shape_free()    release it
 *
 * One row per recipient domain (compared without case, shown in lower
 * case), most recipients first (then by name), under a TOTAL row; columns
 * T (all) and the recipients whose message has waited at most 5, 10, 20,
 * 40, 80, 160, 320, 640, 1280 minutes, and longer (1280+). Columns are as
 * wide as their widest value and right-aligned, the domains too.
 *
 * Pure: no clock (NOW is given), no I/O; lookups by hash.
 */
#ifndef RELAYD_SHAPE_H
#define RELAYD_SHAPE_H

#include <time.h>

struct evbuffer;
struct shape;

#define SHAPE_BUCKETS 10 /* 5 .. 1280 minutes, and 1280+ */

struct shape *shape_new(time_t now);

/* Count one recipient in DOMAIN ("" shows as "(none)") of a message that
 * arrived at ARRIVAL. */
void shape_add(struct shape *s, const char *domain, time_t arrival);

/* Append the table to OUT: a header line, TOTAL, then each domain. */
void shape_render(const struct shape *s, struct evbuffer *out);

void shape_free(struct shape *s);

#endif
