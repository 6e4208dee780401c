/*
 * route.h — which transport a recipient uses.
 *
 * route_lookup()     the route for a domain (exact, longest suffix, longest
 *                    mx: pattern, then "*"), or NULL: no route
 * route_needs_mx()   would an mx: route be consulted for this domain
 *
 * Pure functions over a struct conf; matching is case-insensitive.
 */
#ifndef RELAYD_ROUTE_H
#define RELAYD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

/*
 * The most specific route for DOMAIN: an exact domain route, then the
 * longest ".suffix" route DOMAIN ends with (DOMAIN itself never matches
 * ".DOMAIN"), then the longest "mx:" route one of MXHOSTS (NMX names, may be
 * 0) ends with (never for an address literal), then "*". NULL when nothing
 * matches.
 */
const struct conf_route *route_lookup(const struct conf *c, const char *domain,
				      const char *const *mxhosts, size_t nmx);

/* True when no exact or suffix route matches DOMAIN and the configuration
 * has mx: routes, so the caller should look up DOMAIN's MX hosts first;
 * never for an address literal ("[192.0.2.7]"), which has none. */
bool route_needs_mx(const struct conf *c, const char *domain);

#endif
