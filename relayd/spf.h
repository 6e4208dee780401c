/*
 * spf.h — RFC 7208 SPF, check_host() as a pure state machine: it asks its
 * caller for each DNS answer instead of resolving.
 *
 * spf_new()          an evaluation of DOMAIN's SPF for an address
 * spf_set_receiver() the r and t macros of explanations ("unknown", 0)
 * spf_step()         advance: 1 with the next query to make, 0 when done
 * spf_answer()       the answer to the query spf_step() asked
 * spf_result()       the result once done: pass, fail, softfail, ...
 * spf_strresult()    "none", "neutral", "pass", "fail", "softfail",
 *                    "temperror", "permerror"
 * spf_mechanism()    the term that decided, as written, or why there was
 *                    no record or an error
 * spf_explanation()  the exp= text of a fail, expanded, or NULL
 * spf_expand()       a macro-string expanded in an evaluation's context
 * spf_free()         free an evaluation
 *
 * The caller drives it, one query in flight at a time:
 *
 *	while (spf_step(s, &type, &name)) {
 *		... look NAME's TYPE records up (asynchronously), then ...
 *		spf_answer(s, &answer);
 *	}
 *	spf_result(s), spf_mechanism(s), spf_explanation(s)
 *
 * Nothing here does I/O, reads the clock or keeps globals: the state
 * (the include/redirect stack, the counters, the MX host or PTR name
 * being looked up) lives in struct spf, so an evaluation resumes where
 * it stopped whenever the answer arrives. spf_step() asks the same
 * query again until it is answered; an answer with nothing asked is
 * ignored. A caller that gives up on a query (RFC 7208 4.6.4 asks for a
 * time limit of at least 20 s over the whole evaluation) answers it
 * SPF_DNS_TEMPFAIL: temperror.
 *
 * Limits (RFC 7208 4.6.4): at most 10 terms that query DNS (include, a,
 * mx, ptr, exists, redirect; the 11th is a permerror), at most 2 void
 * lookups (NXDOMAIN or no records) among the queries of a, mx and exists
 * (the 3rd is a permerror; MX host addresses, PTR lookups and exp= are
 * not counted, and an include or redirect without a record is a
 * permerror anyway), more than 10 MX records is a permerror, only the
 * first 10 PTR names are validated. An include nests at most 10 deep,
 * so the stack is bounded.
 *
 * Choices where RFC 7208 leaves room: a target name that cannot be a
 * DNS name after expansion (an empty label, a label over 63 characters;
 * names over 253 characters lose labels from the left first, 7.3) is not
 * queried: a, mx, ptr and exists do not match, include and redirect are
 * a permerror, exp= is ignored. A ptr mechanism and %{p} validate the
 * same first 10 PTR names once per evaluation; a DNS failure there
 * leaves a name unvalidated (5.5), never a temperror; %{p} is "unknown"
 * without a validated name. An IPv4-mapped IPv6 address is evaluated as
 * IPv4 (5). A NULL helo expands %{h} to "unknown".
 */
#ifndef RELAYD_SPF_H
#define RELAYD_SPF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_rrtype { SPF_RR_TXT, SPF_RR_A, SPF_RR_AAAA, SPF_RR_MX, SPF_RR_PTR };

enum spf_dns {
	SPF_DNS_OK,
	SPF_DNS_NXDOMAIN, /* the name does not exist */
	SPF_DNS_NODATA,	  /* it exists without such records (so is OK with n == 0) */
	SPF_DNS_TEMPFAIL, /* SERVFAIL, timeout, refused, or the caller gave up */
};

/* What the caller got for the query asked; only read during spf_answer().
 * Only the array of the type asked is read; NULL reads as no records. */
struct spf_answer {
	enum spf_dns status;
	size_t n;		     /* records */
	const char *const *txt;	     /* TXT: each record's strings concatenated */
	const size_t *txtlen;	     /* TXT: their lengths, or NULL: strlen() (a
					 record with a NUL byte is not clean SPF) */
	const char *const *names;    /* MX: exchanges (any order, "" or "." for a
					 null MX); PTR: names; a final dot or not */
	const struct in_addr *a;     /* A */
	const struct in6_addr *aaaa; /* AAAA */
};

struct spf;

/* An evaluation of DOMAIN's SPF for IP (FAMILY AF_INET: a struct in_addr,
 * AF_INET6: a struct in6_addr), as check_host(ip, domain, sender): SENDER
 * is "local@domain" (no local part: postmaster), NULL for
 * postmaster@DOMAIN; HELO may be NULL. All are copied. A DOMAIN that is
 * not a multi-label domain name gives none without a query (4.3). NULL on
 * a bad FAMILY or IP, or when memory runs out. */
struct spf *spf_new(int family, const void *ip, const char *domain, const char *sender,
		    const char *helo);

/* The r macro (RECEIVER: this host's name; NULL: "unknown") and the t
 * macro (NOW, seconds since the epoch) of explanations. */
void spf_set_receiver(struct spf *s, const char *receiver, time_t now);

/* 1 when the evaluation needs an answer: *TYPE and *NAME (valid until the
 * next call on S) say which; 0 when it is done. */
int spf_step(struct spf *s, enum spf_rrtype *type, const char **name);

/* A's records answer the query spf_step() asked (copied as needed). */
void spf_answer(struct spf *s, const struct spf_answer *a);

/* SPF_NONE until done. */
enum spf_result spf_result(const struct spf *s);
const char *spf_strresult(enum spf_result r);

/* The term that decided as written ("ip4:192.0.2.0/24", "-all",
 * "include:_spf.example.com" for a pass from it, a term of the record a
 * redirect led to), "default" when none matched, or the reason of none
 * and errors: "no SPF record", "not a valid domain", "two SPF records",
 * "syntax error near \"moo\"", "too many DNS lookups", "too many void
 * lookups", "too many MX records (mx:example.com)", "DNS failure: TXT
 * example.com"; a reason from a record an include or redirect led to
 * starts with that term ("include:example.net: no SPF record"). "" until
 * done. */
const char *spf_mechanism(const struct spf *s);

/* The explanation of a fail, from the deciding record's exp= (6.2), or
 * NULL: no exp=, or its lookup or text failed (they are ignored). */
const char *spf_explanation(const struct spf *s);

/* STR expanded into BUF (LEN bytes, truncated) as S expands it in its
 * current <domain>: EXP for an explanation (c, r, t allowed, spaces kept),
 * else a domain-spec (7.3). -1 on a macro syntax error. %{p} is
 * "unknown" until the evaluation has validated PTR names. */
int spf_expand(const struct spf *s, const char *str, bool exp, char *buf, size_t len);

/* Frees S (NULL is fine) and the strings it gave. */
void spf_free(struct spf *s);

#endif
