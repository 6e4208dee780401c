/*
 * sts.h — MTA-STS (RFC 8461): a recipient domain's policy, from DNS,
 * HTTPS and the cache in the spool.
 *
 * sts_init()        the loop and the cache (<spool>/mta-sts), loaded
 * sts_shutdown()    cancel lookups and fetches, drop the policies
 * sts_get()         the policy of a domain, asynchronously
 * sts_fresh()       the answer of a lookup that just ended, at once
 * sts_cancel()      forget a sts_get() caller
 * sts_ref(), sts_unref()  a policy's references
 * sts_tls_policy()  the TLS an enforced policy demands (verify against
 *                   tls_ca_file, TLSv1.2 or later, the MX host's name),
 *                   or its "may" twin for a testing policy
 *
 * sts_get() looks up the TXT record _mta-sts.DOMAIN at every call (a
 * resolver caches it; sts_fresh() answers again for STS_FRESH seconds). A record "v=STSv1; id=ID" whose id is not the one
 * of the policy held makes relayd fetch
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt: mta-sts.DOMAIN resolved
 * through dns_servers, port 443, the certificate verified against
 * tls_ca_file and that name, no redirects (only a 200 counts), at most
 * STS_BODY_MAX bytes within STS_FETCH_TIMEOUT. A policy fetched is used at once and saved
 * in the cache (sts_cache.h) on a worker thread. Whenever no new policy can
 * be had (no TXT record, a lookup or fetch that fails, a policy that does
 * not parse), the policy held applies until its max_age runs out (RFC 8461
 * 5.1); without one, the domain has none. One lookup and fetch per domain
 * at a time: callers that come meanwhile wait for it.
 */
#ifndef RELAYD_STS_H
#define RELAYD_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "relayd/mtasts.h"

#define STS_BODY_MAX (64 * 1024) /* bytes of a policy file */
#define STS_FETCH_TIMEOUT 30	 /* seconds for the whole HTTPS fetch */

struct event_base;
struct conf;
struct conf_tls_policy;

struct sts_policy {
	unsigned refs;
	char domain[256];
	char id[MTASTS_ID_MAX + 1];
	time_t fetched, expires;
	struct mtasts_policy p;
};

struct sts_query;

/* P: the policy in force (a reference the callee owns: sts_unref() it),
 * or NULL: none; WHY says why there is none, or why a newer one could not
 * be had ("" when nothing went wrong). Called from the loop, never from
 * inside sts_get(). */
typedef void (*sts_cb)(void *arg, struct sts_policy *p, const char *why);

void sts_init(struct event_base *base, const struct conf *c);
void sts_shutdown(void);
struct sts_query *sts_get(const char *domain, sts_cb cb, void *arg);
/* The answer a sts_get() of DOMAIN ended with less than STS_FRESH seconds
 * ago, at once: true and *P (a reference, or NULL: none); false when a
 * lookup is needed. Lets a connection of a site take a job of another
 * domain without waiting for DNS again. */
bool sts_fresh(const char *domain, struct sts_policy **p);
void sts_cancel(struct sts_query *q);
struct sts_policy *sts_ref(struct sts_policy *p);
void sts_unref(struct sts_policy *p);
/* ENFORCE: verify, as an enforced policy demands; else level may with the
 * same CAs, so that a testing policy's log can say whether it would
 * have verified. */
const struct conf_tls_policy *sts_tls_policy(bool enforce);

#endif
