/*
 * anvil.c — failed AUTH counted per client address, in a bounded hash table.
 *
 * anvil_new(), anvil_free(), anvil_configure(), anvil_refused(),
 * anvil_begin(), anvil_end(), anvil_count(), anvil_blocked_count(),
 * anvil_key_str()
 *
 * The rules. A client address is an IPv4 address, or for IPv6 its /64: one
 * host usually holds a whole /64, and counting single IPv6 addresses would
 * give it 2^64 budgets. An IPv4-mapped IPv6 address counts as the IPv4
 * address. An address's window opens at its first failure; `limit` failures
 * before the window closes refuse AUTH from it for `window` seconds from the
 * failure that reached the limit; then it starts again from nothing. A
 * success changes no count, not even its own address's: a client holding
 * one good account could otherwise wipe its failures between guesses at
 * others. A password check in flight counts against the limit until its
 * verdict, so clients in parallel cannot get more than `limit` checks
 * between them either.
 *
 * The cap. At most `max` addresses are tracked. Entries are kept in order of
 * last use, and expired ones are dropped from the old end whenever the table
 * is used, so no timer is needed. When a new address finds the table full of
 * live entries, the one used longest ago is forgotten (its failures and any
 * refusal). Making room that way takes failed AUTH from `max` other
 * addresses, each of them a password guess of its own: far more guesses
 * than the forgotten address gets back. So a spray of source addresses costs
 * memory up to the cap and no more, and gains no more guesses than its
 * addresses have anyway. Without memory for a new entry, the address is not
 * tracked (fail open; the per-session delay still applies).
 *
 * The hash is FNV-1a over the key with a secret seed, and chains are
 * bounded by `max` whatever an attacker picks as addresses.
 *
 * Used from the event-loop thread only (a check's verdict comes back there).
 *
 * Invariants: every entry is in exactly one hash chain and in the use list,
 * newest first; n <= max; until == 0 or the address is refused until then.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relayd/anvil.h"

struct anvil_key {
	uint8_t fam; /* 4 or 6 */
	uint8_t b[8];
};

struct anvil_entry {
	struct anvil_key key;
	unsigned fails;	  /* failures in the current window */
	unsigned pending; /* checks in flight */
	time_t first;	  /* the window's first failure */
	time_t until;	  /* refused until then; 0: not refused */
	struct anvil_entry *hnext;
	struct anvil_entry *newer, *older;
};

struct anvil {
	unsigned limit, window;
	size_t max, n, nbuckets;
	uint64_t seed;
	struct anvil_entry **buckets; /* allocated with the first entry */
	struct anvil_entry *newest, *oldest;
};

/* The key SA is counted under; false when SA is not an IP address. */
static bool
anvil_key(const struct sockaddr *sa, struct anvil_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		k->fam = 4;
		memcpy(k->b, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			k->fam = 4;
			memcpy(k->b, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			k->fam = 6;
			memcpy(k->b, in6->sin6_addr.s6_addr, 8); /* the /64 */
		}
		return true;
	}
	return false;
}

static size_t
anvil_hash(const struct anvil *a, const struct anvil_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 0xcbf29ce484222325ULL ^ a->seed;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 32;
	return (size_t)h & (a->nbuckets - 1);
}

/* Take E out of the use list. */
static void
anvil_unlink(struct anvil *a, struct anvil_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		a->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		a->oldest = e->newer;
	e->newer = e->older = NULL;
}

/* E was just used: to the new end of the list. */
static void
anvil_touch(struct anvil *a, struct anvil_entry *e)
{
	if (a->newest == e)
		return;
	if (e->newer || e->older || a->oldest == e)
		anvil_unlink(a, e);
	e->older = a->newest;
	if (a->newest)
		a->newest->newer = e;
	else
		a->oldest = e;
	a->newest = e;
}

static void
anvil_remove(struct anvil *a, struct anvil_entry *e)
{
	struct anvil_entry **pp = &a->buckets[anvil_hash(a, &e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	anvil_unlink(a, e);
	free(e);
	a->n--;
}

/* Bring E up to NOW: a refusal or a window that has passed is over. */
static void
anvil_age(const struct anvil *a, struct anvil_entry *e, time_t now)
{
	if (e->until != 0 && now >= e->until) {
		e->until = 0;
		e->fails = 0;
	}
	if (e->until == 0 && e->fails > 0 && now - e->first >= (time_t)a->window)
		e->fails = 0;
}

/* Nothing left to remember about E. */
static bool
anvil_idle(const struct anvil_entry *e)
{
	return e->fails == 0 && e->pending == 0 && e->until == 0;
}

/* Drop expired entries from the old end of the use list. */
static void
anvil_sweep(struct anvil *a, time_t now)
{
	struct anvil_entry *e;

	while ((e = a->oldest) != NULL) {
		anvil_age(a, e, now);
		if (!anvil_idle(e))
			break;
		anvil_remove(a, e);
	}
}

/* SA's entry brought up to NOW and marked used; with CREATE, a new one
 * when there is none (the oldest entry goes when the table is full). NULL:
 * none, SA is not an IP address, or no memory. */
static struct anvil_entry *
anvil_find(struct anvil *a, const struct sockaddr *sa, time_t now, bool create)
{
	struct anvil_key k;
	struct anvil_entry *e;

	if (!anvil_key(sa, &k))
		return NULL;
	if (!a->buckets) {
		if (!create || !(a->buckets = calloc(a->nbuckets, sizeof(*a->buckets))))
			return NULL;
	}
	anvil_sweep(a, now);
	for (e = a->buckets[anvil_hash(a, &k)]; e; e = e->hnext)
		if (memcmp(&e->key, &k, sizeof(k)) == 0)
			break;
	if (e) {
		anvil_age(a, e, now);
		anvil_touch(a, e);
		return e;
	}
	if (!create)
		return NULL;
	if (a->n >= a->max)
		anvil_remove(a, a->oldest);
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->key = k;
	size_t h = anvil_hash(a, &k);
	e->hnext = a->buckets[h];
	a->buckets[h] = e;
	a->n++;
	anvil_touch(a, e);
	return e;
}

/* An empty table for at most MAX addresses. */
struct anvil *
anvil_new(size_t max, uint64_t seed)
{
	struct anvil *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->max = max ? max : 1;
	a->seed = seed;
	a->nbuckets = 16;
	while (a->nbuckets < a->max / 4)
		a->nbuckets *= 2;
	a->window = 1;
	return a;
}

/* Release A and everything it tracks. */
void
anvil_free(struct anvil *a)
{
	if (!a)
		return;
	for (struct anvil_entry *e = a->newest, *next; e; e = next) {
		next = e->older;
		free(e);
	}
	free(a->buckets);
	free(a);
}

/* The limit and window from now on (a reload keeps every entry). */
void
anvil_configure(struct anvil *a, unsigned limit, unsigned window)
{
	a->limit = limit;
	a->window = window ? window : 1;
}

/* Is AUTH from SA refused now. */
bool
anvil_refused(struct anvil *a, const struct sockaddr *sa, time_t now)
{
	if (a->limit == 0)
		return false;
	const struct anvil_entry *e = anvil_find(a, sa, now, false);
	/* fails >= limit without a refusal: the limit was lowered by a reload. */
	return e && (e->until != 0 || e->fails >= a->limit);
}

/* May a password from SA be checked now; if so, it is in flight. */
bool
anvil_begin(struct anvil *a, const struct sockaddr *sa, time_t now)
{
	if (a->limit == 0)
		return true;
	struct anvil_entry *e = anvil_find(a, sa, now, true);
	if (!e)
		return true;
	if (e->until != 0 || e->fails + e->pending >= a->limit)
		return false;
	e->pending++;
	return true;
}

/* The verdict on a check anvil_begin() let through. */
enum anvil_verdict
anvil_end(struct anvil *a, const struct sockaddr *sa, bool ok, time_t now)
{
	enum anvil_verdict v = ANVIL_COUNTED;
	bool count = !ok && a->limit > 0;
	struct anvil_entry *e = anvil_find(a, sa, now, count);

	if (!e)
		return v;
	/* Forgotten at the cap (or begun with counting off): nothing in flight. */
	if (e->pending > 0)
		e->pending--;
	if (count) {
		if (e->fails == 0)
			e->first = now;
		e->fails++;
		if (e->fails >= a->limit && e->until == 0) {
			e->until = now + (time_t)a->window;
			v = ANVIL_LIMIT;
		}
	}
	if (anvil_idle(e))
		anvil_remove(a, e);
	return v;
}

/* Entries in the table (expired ones included until swept). */
size_t
anvil_count(const struct anvil *a)
{
	return a->n;
}

/* Addresses refused at NOW. */
size_t
anvil_blocked_count(const struct anvil *a, time_t now)
{
	size_t n = 0;

	if (a->limit == 0)
		return 0;
	for (const struct anvil_entry *e = a->newest; e; e = e->older)
		if (e->until > now)
			n++;
	return n;
}

/* SA as counted: "192.0.2.7", or "2001:db8:1:2::/64". */
void
anvil_key_str(const struct sockaddr *sa, char *buf, size_t size)
{
	struct anvil_key k;
	char ip[INET6_ADDRSTRLEN];
	uint8_t a6[16] = {0};

	if (!anvil_key(sa, &k)) {
		snprintf(buf, size, "unknown");
		return;
	}
	if (k.fam == 4) {
		inet_ntop(AF_INET, k.b, ip, sizeof(ip));
		snprintf(buf, size, "%s", ip);
		return;
	}
	memcpy(a6, k.b, 8);
	inet_ntop(AF_INET6, a6, ip, sizeof(ip));
	snprintf(buf, size, "%s/64", ip);
}
