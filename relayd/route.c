/*
 * route.c — which transport a recipient uses.
 *
 * route_lookup()     the most specific route for a domain, or NULL
 * route_needs_mx()   would an mx: route be consulted for this domain
 *
 * Precedence (the contract's "route" section): an exact domain, then the
 * longest ".suffix" the domain ends with, then the longest "mx:" pattern one
 * of the domain's MX host names matches, then "*". Matching ignores case and
 * one trailing dot on the domain and the MX host names ("gmail.com." is the
 * same domain as "gmail.com"). An address literal ("[192.0.2.7]") has no MX
 * hosts and is never looked up: no mx: route applies to it, so it takes "*"
 * (no domain route can name it).
 *
 * Invariants: pure functions over an immutable struct conf; conf_load() has
 * lower-cased every route's domain and rejected duplicates, so two routes
 * of one kind never match with the same length and the first one found is
 * the only one.
 */
#include <string.h>
#include <strings.h>

#include "relayd/route.h"
#include "smtp/cmd.h"

/* Length of NAME without one trailing dot. */
static size_t
route_namelen(const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	return len;
}

/* Does NAME (LEN bytes) end with SUFFIX, ignoring case. */
static bool
route_endswith(const char *name, size_t len, const char *suffix, size_t slen)
{
	return len >= slen && strncasecmp(name + len - slen, suffix, slen) == 0;
}

/* The exact route for DOMAIN, else its longest suffix route, else NULL. */
static const struct conf_route *
route_match_domain(const struct conf *c, const char *domain)
{
	const struct conf_route *best = NULL;
	size_t i, len = route_namelen(domain), bestlen = 0;

	for (i = 0; i < c->nroute; i++) {
		const struct conf_route *r = &c->route[i];

		if (r->kind == ROUTE_EXACT && strlen(r->domain) == len &&
		    strncasecmp(domain, r->domain, len) == 0)
			return r;
	}
	for (i = 0; i < c->nroute; i++) {
		const struct conf_route *r = &c->route[i];
		size_t rlen;

		if (r->kind != ROUTE_SUFFIX)
			continue;
		rlen = strlen(r->domain);
		/* Strictly longer: ".example.com" never matches "example.com". */
		if (len > rlen && route_endswith(domain, len, r->domain, rlen) && rlen > bestlen) {
			best = r;
			bestlen = rlen;
		}
	}
	return best;
}

/*
 * Does the MX host HOST match the mx: pattern PAT. ".google.com" matches the
 * hosts below google.com; "google.com" matches google.com itself too.
 */
static bool
route_mx_match(const char *pat, const char *host)
{
	size_t len = route_namelen(host), plen = strlen(pat);

	if (pat[0] == '.')
		return len > plen && route_endswith(host, len, pat, plen);
	if (len == plen)
		return strncasecmp(host, pat, len) == 0;
	return len > plen && host[len - plen - 1] == '.' && route_endswith(host, len, pat, plen);
}

/* The most specific route for DOMAIN given its MX host names, or NULL. */
const struct conf_route *
route_lookup(const struct conf *c, const char *domain, const char *const *mxhosts, size_t nmx)
{
	const struct conf_route *r, *best = NULL, *any = NULL;
	size_t i, j, rlen, bestlen = 0;

	if (c == NULL || domain == NULL)
		return NULL;
	if ((r = route_match_domain(c, domain)) != NULL)
		return r;
	/* An address literal has no MX hosts: mx: routes never apply. */
	if (cmd_literal_addr(domain, NULL, 0) == 0)
		nmx = 0;

	for (i = 0; i < c->nroute; i++) {
		r = &c->route[i];
		if (r->kind == ROUTE_ANY && any == NULL)
			any = r;
		if (r->kind != ROUTE_MX)
			continue;
		/* "mx:google.com" and "mx:.google.com" weigh the same. */
		rlen = strlen(r->domain) - (r->domain[0] == '.');

		if (rlen <= bestlen)
			continue;
		for (j = 0; j < nmx; j++) {
			if (mxhosts[j] != NULL && route_mx_match(r->domain, mxhosts[j])) {
				best = r;
				bestlen = rlen;
				break;
			}
		}
	}
	return best != NULL ? best : any;
}

/* Should the caller look up DOMAIN's MX hosts before route_lookup(). */
bool
route_needs_mx(const struct conf *c, const char *domain)
{
	size_t i;

	if (c == NULL || domain == NULL || route_match_domain(c, domain) != NULL ||
	    cmd_literal_addr(domain, NULL, 0) == 0)
		return false;
	for (i = 0; i < c->nroute; i++)
		if (c->route[i].kind == ROUTE_MX)
			return true;
	return false;
}
