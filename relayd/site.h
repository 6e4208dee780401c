/*
 * site.h — the key of a recipient domain's destination for MX delivery:
 * the domain, or with destination_by = "mx" its site, the set of MX host
 * names its MX records name (sorted, lower case, joined by ",").
 *
 * site_of_mx()      the site of an MX answer (pure, unit-tested)
 * site_key()        the destination key of transport T for DOMAIN: "" for a
 *                   transport with relays, the domain, or its site when T
 *                   keys by site and DOMAIN's MX answer is cached
 * site_needs_mx()   T keys by site and DOMAIN's MX answer is not cached:
 *                   look it up before choosing the destination
 *
 * Everything that maps (transport, domain) to a destination goes through
 * site_key(): mta.c (destinations, detours, resume, route) and the queue
 * (the grouping of recipients into one transaction, what waits for which
 * destination), so all of them agree while the MX answer is cached (its
 * TTL, dns.c); a domain whose MX set changes follows it at its next lookup.
 */
#ifndef RELAYD_SITE_H
#define RELAYD_SITE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "relayd/dns.h"

#define SITE_KEY_MAX 1024

/* The site of DOMAIN's MX answer (ST, MX[0..N-1]) in BUF: its host names
 * sorted, lower case, without duplicates, joined by "," (as many as fit).
 * False, with DOMAIN (lower case) in BUF, when the answer names no host:
 * no MX (the domain is its own host), a null MX, a failure. */
bool site_of_mx(const char *domain, enum dns_status st, const struct dns_mx *mx, size_t n,
		char *buf, size_t len);

/* The destination key of T for DOMAIN, in BUF (or a constant); *SITE (may
 * be NULL) true when it is a site. */
const char *site_key(const struct conf_transport *t, const char *domain, char *buf, size_t len,
		     bool *site);

bool site_needs_mx(const struct conf_transport *t, const char *domain);

#endif
