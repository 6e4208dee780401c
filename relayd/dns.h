/*
 * dns.h — asynchronous name resolution on the event loop (c-ares).
 *
 * dns_init()       a resolver using dns_servers or /etc/resolv.conf
 * dns_shutdown()   cancel everything
 * dns_addrs()      A and AAAA of a host name (and /etc/hosts)
 * dns_mx()         MX records of a domain, by preference
 * dns_mx_cached()  the same from the cache only, without waiting
 * dns_lookup()     the records of one type of a name (A, AAAA, TXT, PTR,
 *                  MX), as text, uncached: for the self-checks (DNSBL,
 *                  reverse DNS, SPF)
 * dns_tlsa()       TLSA records of _PORT._tcp.HOST (DANE), with the AD bit of
 *                  the answer: built and read by dnswire.c, uncached
 * dns_cancel()     forget a query (its callback will not run)
 *
 * Nothing here blocks: c-ares sockets are watched by libevent and its
 * timeouts run on a libevent timer. Answers are cached for their TTL
 * (at least 5 s, at most an hour; "not found" for a minute; failures never).
 */
#ifndef RELAYD_DNS_H
#define RELAYD_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct conf;

enum dns_status {
	DNS_OK,
	DNS_NOTFOUND, /* NXDOMAIN */
	DNS_NODATA,   /* the name exists, without such records */
	DNS_TEMPFAIL, /* SERVFAIL, timeout, refused: try later */
};

struct dns_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct dns_mx {
	char host[256]; /* "" for a null MX (RFC 7505: "0 .") */
	unsigned pref;
};

struct dns_query;

/* ADDRS (N of them) is only valid during the call. */
typedef void (*dns_addrs_cb)(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n);

/* MX (N of them) sorted by preference, equal preferences shuffled; only
 * valid during the call. DNS_NODATA: the domain has no MX records. */
typedef void (*dns_mx_cb)(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n);

enum dns_rr { DNS_RR_A, DNS_RR_AAAA, DNS_RR_TXT, DNS_RR_PTR, DNS_RR_MX };

/* A record set as text: A and AAAA as addresses ("127.0.0.2", "::1"), TXT
 * with its character-strings joined, PTR and MX as names without the final
 * dot (MX without its preference). Valid only during the callback. */
struct dns_rrset {
	enum dns_status st;
	size_t n;
	const char *const *rr;
};
typedef void (*dns_rr_cb)(void *arg, const struct dns_rrset *rs);

/* A TLSA record (RFC 6698) usable for SMTP (RFC 7672 3.1). */
struct dns_tlsa {
	unsigned char usage, selector, mtype;
	const unsigned char *data;
	size_t len;
};

/* A TLSA answer: ST (DNS_OK: records; DNS_NODATA: none; DNS_NOTFOUND:
 * NXDOMAIN; DNS_TEMPFAIL: SERVFAIL, timeout, a malformed or truncated
 * answer, WHY saying which), SECURE the AD bit (the resolver validated
 * it), the N usable records of TOTAL. Valid only during the callback. */
struct dns_tlsa_answer {
	enum dns_status st;
	bool secure;
	size_t n, total;
	const struct dns_tlsa *tlsa;
	const char *why;
};
typedef void (*dns_tlsa_cb)(void *arg, const struct dns_tlsa_answer *a);

int dns_init(struct event_base *base, const struct conf *c, char **cause);
void dns_shutdown(void);
struct dns_query *dns_addrs(const char *host, int port, dns_addrs_cb cb, void *arg);
struct dns_query *dns_mx(const char *domain, dns_mx_cb cb, void *arg);
/* The cached MX answer for DOMAIN, if there is one: 1 (with *ST, MX, *N
 * filled; MX has room for 32), or 0 when a lookup is needed. */
int dns_mx_cached(const char *domain, enum dns_status *st, struct dns_mx *mx, size_t *n);
/* NAME's records of TYPE; never from the cache (checks want fresh answers). */
struct dns_query *dns_lookup(const char *name, enum dns_rr type, dns_rr_cb cb, void *arg);
/* HOST's TLSA records for PORT: the query "_PORT._tcp.HOST TLSA" asks for
 * the AD bit (and DO), so a validating resolver says whether the answer
 * is secure. Never cached. */
struct dns_query *dns_tlsa(const char *host, int port, dns_tlsa_cb cb, void *arg);
/* The same for the name NAME as it is (the DNSSEC probe). */
struct dns_query *dns_tlsa_name(const char *name, dns_tlsa_cb cb, void *arg);
void dns_cancel(struct dns_query *q);
const char *dns_strstatus(enum dns_status st);

#endif
