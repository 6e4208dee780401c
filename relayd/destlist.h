/*
 * destlist.h — what `relayctl destinations [--json]` prints.
 *
 * destlist_write()  every destination relayd knows, one block each (text)
 *                   or one JSON array, sorted by transport and destination
 *
 * Per destination: transport, destination and its kind (relay, domain,
 * site with its MX host names),
 * the states in force (throttled, down, detour: until when and why), the
 * warm-up's day, connections open of the current limit, recipients
 * waiting, the last hour's sent/deferred/bounced/rerouted recipients, and
 * the last reply with its class (smtp/classify.h).
 */
#ifndef RELAYD_DESTLIST_H
#define RELAYD_DESTLIST_H

#include <stdbool.h>

struct evbuffer;

void destlist_write(struct evbuffer *out, bool json);

#endif
