/*
 * tlsrpt.h — RFC 8460 SMTP TLS Reporting, the counting half: the TLS
 * sessions of one reporting interval per recipient domain and policy
 * type, and the texts made from them. The caller decides when an
 * interval ends, gzips and sends the reports, and keeps the state file.
 *
 * tlsrpt_result_name()  "starttls-not-supported", ... (4.3)
 * tlsrpt_result_parse() the result of such a name
 * tlsrpt_type_name()    "sts", "tlsa" (4.4 policy-type)
 * tlsrpt_type_parse()   the type of such a name
 * tlsrpt_new()          the empty counts of an interval starting at START
 * tlsrpt_free()         free them
 * tlsrpt_start()        when the interval started
 * tlsrpt_policy()       the policy of a domain as the report shows it
 * tlsrpt_success()      count one successful TLS session
 * tlsrpt_failure()      count one failed TLS session, with its details
 * tlsrpt_ndomains()     how many domains are known
 * tlsrpt_domain()       the i-th of them, in sorted order
 * tlsrpt_counts()       a domain's sessions under one policy type
 * tlsrpt_dropped()      sessions not counted: too many domains
 * tlsrpt_write()        relayctl tls-report: text or JSON
 * tlsrpt_report_json()  the RFC 8460 report (4) of one domain
 * tlsrpt_filename()     its file name (5.3)
 * tlsrpt_save()         the counts as a text file
 * tlsrpt_load()         counts from such a file
 *
 * Nothing here does network I/O, reads the clock or keeps globals; files
 * are read and written only through the FILE * the caller gives.
 *
 * Keys: a domain is kept in ASCII lower case without one final dot, so
 * "Example.COM." and "example.com" are one domain; it is 1..253 bytes
 * after that. Every (domain, policy type) pair has its own policy and
 * counts. A failure is aggregated with the earlier ones of the same
 * (result, sending IP, MX host, receiving IP), each of those compared
 * exactly (the MX host ASCII case-insensitively); NULL and "" both mean
 * "not known". Those strings are 1..TLSRPT_NAME_MAX bytes; anything
 * longer is refused.
 *
 * Bounds, so a flood of recipient domains or MX hosts cannot grow
 * memory without limit:
 * - at most TLSRPT_DOMAINS_MAX domains. A session to a new domain beyond
 *   that is not counted: -1 with errno ENOSPC, and tlsrpt_dropped() grows;
 * - at most TLSRPT_FAILURES_MAX failure tuples per (domain, type). A
 *   failure that would need another one is still counted in the summary
 *   ("failed", total-failure-session-count) but not itemized, so the
 *   failed count may exceed the sum of the tuples' counts;
 * - a policy has at most TLSRPT_STRINGS_MAX strings of at most
 *   TLSRPT_STRING_MAX bytes and as many mx patterns of at most
 *   TLSRPT_NAME_MAX bytes; a bigger one is refused (EINVAL).
 *
 * Output: a (domain, type) pair without any session in the interval
 * (only its policy was set) is left out of tlsrpt_write() and
 * tlsrpt_report_json(). Failure tuples are listed in the order of the
 * result enum, then MX host, receiving IP, sending IP (absent first).
 * JSON strings are escaped as relayd/json.h does (well-formed UTF-8 kept,
 * '"', '\\' and control characters escaped, any other byte as \u00XX), so
 * any input gives valid JSON.
 *
 * The state file (tlsrpt_save(), tlsrpt_load()) is lines of fields
 * separated by one space:
 *
 *	tlsrpt-state 1
 *	start UNIX-SECONDS
 *	dropped N
 *	domain DOMAIN sts|tlsa SUCCESSFUL FAILED     one per (domain, type)
 *	policy                                       its policy was set; then
 *	string STRING                                each policy string, and
 *	mx PATTERN                                   each mx pattern (sts)
 *	failure RESULT SENDING-IP MX-HOST RECEIVING-IP COUNT
 *	end
 *
 * A string field is percent-encoded: every byte but printable ASCII other
 * than '%' is written %XX (upper-case hex), so spaces, newlines and
 * non-ASCII bytes round-trip; "-" stands for an absent value and the
 * string "-" is written %2D; a policy string may be empty (an empty
 * field). Loading is strict: an unknown version, keyword or result name,
 * a wrong number of fields, a number that is not decimal digits or
 * overflows, a raw byte that should have been encoded, %00, a duplicate
 * (domain, type) or tuple, tuples whose counts exceed the failed count, a
 * bound exceeded, a line over 64 KiB or without its newline, a missing
 * "end" or anything after it: all refuse the whole file with a reason.
 */
#ifndef RELAYD_TLSRPT_H
#define RELAYD_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define TLSRPT_DOMAINS_MAX 10000 /* distinct domains of one interval */
#define TLSRPT_FAILURES_MAX 100	 /* failure tuples of one (domain, type) */
#define TLSRPT_STRINGS_MAX 256	 /* policy strings, and mx patterns, of a policy */
#define TLSRPT_STRING_MAX 16384	 /* bytes of a policy string ("3 0 0 <a certificate>") */
#define TLSRPT_NAME_MAX 255	 /* bytes of a domain, host, IP or mx pattern */

/* The policy types of RFC 8460 4.4 that relayd applies. */
enum tlsrpt_type { TLSRPT_STS, TLSRPT_TLSA };
#define TLSRPT_NTYPES 2

/* The result types of RFC 8460 4.3: negotiation (4.3.1), DANE (4.3.2),
 * MTA-STS (4.3.3). */
enum tlsrpt_result {
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_CERTIFICATE_EXPIRED,
	TLSRPT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_STS_POLICY_FETCH_ERROR,
	TLSRPT_STS_POLICY_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
	TLSRPT_NRESULT
};

struct tlsrpt;

/* R as RFC 8460 4.3 spells it ("starttls-not-supported"); "unknown" for a
 * value out of range. */
const char *tlsrpt_result_name(enum tlsrpt_result r);

/* 0 with *R the result NAME spells (exactly, lower case), or -1. */
int tlsrpt_result_parse(const char *name, enum tlsrpt_result *r);

/* "sts" or "tlsa"; "unknown" for a value out of range. */
const char *tlsrpt_type_name(enum tlsrpt_type t);

/* 0 with *T the type NAME spells ("sts", "tlsa"), or -1. */
int tlsrpt_type_parse(const char *name, enum tlsrpt_type *t);

/* Empty counts of an interval that starts at START; NULL: out of memory. */
struct tlsrpt *tlsrpt_new(time_t start);

/* Frees T (NULL is fine). */
void tlsrpt_free(struct tlsrpt *t);

/* When T's interval started. */
time_t tlsrpt_start(const struct tlsrpt *t);

/* The policy of DOMAIN under TYPE as the report shows it (4.4 "policy"):
 * the policy strings (STS: the policy file's lines; TLSA: each record as
 * presentation text "3 1 1 ABCD...") and for STS the mx patterns (for
 * TLSA, MX and NMX are ignored). Replaces what was set and copies
 * everything; when nothing changed nothing is copied, so calling it
 * before every session is cheap. NULL arrays with a count of 0 are fine.
 * 0, or -1 with errno EINVAL (a bad argument or bound), ENOSPC (a new
 * domain beyond TLSRPT_DOMAINS_MAX) or ENOMEM, T then unchanged. */
int tlsrpt_policy(struct tlsrpt *t, const char *domain, enum tlsrpt_type type,
		  const char *const *strings, size_t nstrings, const char *const *mx, size_t nmx);

/* One successful TLS session to an MX host of DOMAIN under its policy of
 * TYPE. 0, or -1 with errno EINVAL, ENOSPC (not counted: see
 * tlsrpt_dropped()) or ENOMEM. */
int tlsrpt_success(struct tlsrpt *t, const char *domain, enum tlsrpt_type type);

/* One failed TLS session to an MX host of DOMAIN under its policy of
 * TYPE, failing with R; the sending IP, the MX host's name and its IP
 * may each be NULL (not known). Counted in the summary and in the tuple
 * of (R, SENDING_IP, MX_HOST, RECEIVING_IP), a new one if there is room.
 * 0, or -1 as tlsrpt_success(). */
int tlsrpt_failure(struct tlsrpt *t, const char *domain, enum tlsrpt_type type,
		   enum tlsrpt_result r, const char *sending_ip, const char *mx_host,
		   const char *receiving_ip);

/* How many domains T knows (with counts or only a policy). */
size_t tlsrpt_ndomains(const struct tlsrpt *t);

/* The I-th domain of T in byte order, I < tlsrpt_ndomains(); NULL past the
 * end. Valid until T changes. */
const char *tlsrpt_domain(const struct tlsrpt *t, size_t i);

/* 0 with DOMAIN's sessions under TYPE in *SUCCESSFUL and *FAILED (either
 * may be NULL) and the number of its failure tuples in *NTUPLES (may be
 * NULL); -1 when T knows no such (domain, type). */
int tlsrpt_counts(const struct tlsrpt *t, const char *domain, enum tlsrpt_type type,
		  uint64_t *successful, uint64_t *failed, size_t *ntuples);

/* Sessions not counted because their domain would have been one too
 * many. */
uint64_t tlsrpt_dropped(const struct tlsrpt *t);

/* relayctl tls-report, through OUT(ARG, bytes, length) in pieces, sorted
 * by domain then type. Text: for each (domain, type) with sessions
 *	DOMAIN (sts): N successful, M failed
 *	  RESULT-TYPE MX-HOST[RECEIVING-IP]: COUNT
 * with one indented line per failure tuple ("-" for an unknown MX host,
 * no brackets for an unknown IP; the sending IP is not shown). JSON: one
 * array and a newline,
 *	[{"domain":D,"policy_type":"sts","successful":N,"failed":M,
 *	  "failures":[{"result_type":R,"receiving_mx_hostname":H,
 *	  "receiving_ip":IP,"sending_mta_ip":IP,"count":C}]}]
 * unknown values as null. Nothing is allocated. */
void tlsrpt_write(const struct tlsrpt *t, bool json,
		  void (*out)(void *arg, const char *s, size_t len), void *arg);

/* The RFC 8460 report (4.1-4.5) of DOMAIN, all its policy types with
 * sessions, for the interval from tlsrpt_start() to END, as compact JSON:
 * organization-name ORGANIZATION, date-range {start-datetime,
 * end-datetime} in RFC 3339 UTC ("2016-04-01T00:00:00Z"), contact-info
 * CONTACT (left out when NULL), report-id REPORT_ID, policies[] each
 * {policy {policy-type, policy-string[], policy-domain, mx-host[] (sts
 * with mx patterns only)}, summary {total-successful-session-count,
 * total-failure-session-count}, failure-details[] each {result-type,
 * sending-mta-ip, receiving-mx-hostname, receiving-ip,
 * failed-session-count}, unknown values left out}. 0 with a malloc'd,
 * NUL-terminated text in *OUT and its length in *LEN; -1 with errno
 * ENOENT (DOMAIN has no sessions), EINVAL (NULL ORGANIZATION or
 * REPORT_ID, a time gmtime cannot take) or ENOMEM. */
int tlsrpt_report_json(const struct tlsrpt *t, const char *domain, const char *organization,
		       const char *contact, const char *report_id, time_t end, char **out,
		       size_t *len);

/* The report's file name (5.3) in BUF (LEN bytes):
 * "SUBMITTER!DOMAIN!BEGIN!END.json.gz", BEGIN and END in UNIX seconds.
 * 0, or -1: EINVAL (an empty name or one with '!', '/' or a control
 * character, a negative time), ERANGE (BUF too small). */
int tlsrpt_filename(const char *submitter, const char *domain, time_t begin, time_t end, char *buf,
		    size_t len);

/* Writes T to F in the format above; 0, or -1 when a write fails (errno
 * from stdio). The caller flushes, fsyncs and renames. */
int tlsrpt_save(const struct tlsrpt *t, FILE *f);

/* Counts read from F (to its end) in the format above, or NULL with the
 * reason in ERR (ERRLEN bytes, may be 0): "line 4: bad count \"x1\"",
 * "no end line", "out of memory"... */
struct tlsrpt *tlsrpt_load(FILE *f, char *err, size_t errlen);

#endif
