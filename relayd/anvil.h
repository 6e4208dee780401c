/*
 * anvil.h — failed AUTH per client address: who is over the limit now.
 *
 * anvil_new(), anvil_free()  a table for one listener
 * anvil_configure()          the limit and window (at start and on reload)
 * anvil_refused()            is AUTH from this address refused now
 * anvil_begin()              a password check is about to start: go or refuse
 * anvil_end()                its verdict; says when the limit was reached
 * anvil_count(), anvil_blocked_count()  tracked and refused addresses
 * anvil_key_str()            the address as counted ("192.0.2.7", "2001:db8::/64")
 *
 * Named after Postfix's anvil(8). Pure logic: no I/O, no clock; NOW is
 * passed in (monotonic seconds), so windows are unit-tested without
 * sleeping. See anvil.c for the rules.
 */
#ifndef RELAYD_ANVIL_H
#define RELAYD_ANVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sockaddr;
struct anvil;

/* Addresses tracked per listener at most; see anvil.c for the cap. */
#define ANVIL_MAX_ENTRIES 16384

/* What anvil_end() saw. */
enum anvil_verdict {
	ANVIL_COUNTED, /* nothing to report */
	ANVIL_LIMIT,   /* this failure reached the limit: the address is refused now */
};

/* A table of at most MAX addresses; SEED keys its hash. NULL: no memory. */
struct anvil *anvil_new(size_t max, uint64_t seed);
void anvil_free(struct anvil *a);

/* LIMIT failures within WINDOW seconds refuse AUTH for WINDOW seconds;
 * LIMIT 0 turns counting off. Counts and refusals already made stay. */
void anvil_configure(struct anvil *a, unsigned limit, unsigned window);

/* True when AUTH from SA must get 454 without going further. */
bool anvil_refused(struct anvil *a, const struct sockaddr *sa, time_t now);

/* A password from SA is about to be checked: true to go on (the check is
 * counted as in flight until anvil_end()), false to refuse it unchecked
 * (SA is refused, or enough checks are in flight to reach the limit). */
bool anvil_begin(struct anvil *a, const struct sockaddr *sa, time_t now);

/* The check that anvil_begin() let through ended; OK false: a failure. */
enum anvil_verdict anvil_end(struct anvil *a, const struct sockaddr *sa, bool ok, time_t now);

/* Addresses tracked now (failures, refusals or checks in flight). */
size_t anvil_count(const struct anvil *a);

/* Addresses refused at NOW. */
size_t anvil_blocked_count(const struct anvil *a, time_t now);

/* SA as it is counted, for log lines: an IPv4 address (IPv4-mapped IPv6
 * too), or an IPv6 /64 as "2001:db8:1:2::/64". */
void anvil_key_str(const struct sockaddr *sa, char *buf, size_t size);

#endif
