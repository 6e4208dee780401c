/*
 * tlsreport.h — TLS-RPT (RFC 8460) bookkeeping on the loop: the counts of
 * the current interval (tlsrpt.h), kept across restarts in
 * <spool>/tlsrpt.state.
 *
 * tlsreport_init()      with a tls_report section: load the counts
 * tlsreport_reload()    a new configuration (the section added or gone)
 * tlsreport_shutdown()  save the counts (at once), drop them
 * tlsreport_on()        is there a tls_report section
 * tlsreport_sts()       the MTA-STS policy of a domain, as reports show it
 * tlsreport_tlsa()      the TLSA records of a domain, as reports show them
 * tlsreport_success()   one TLS session under a domain's policy went well
 * tlsreport_failure()   one failed, with an RFC 8460 result type
 * tlsreport_write()     relayctl tls-report [--json]
 *
 * The counts are saved (on a worker thread) at most every
 * TLSREPORT_SAVE_SECONDS while they change, and at shutdown. An interval
 * starts at a multiple of tls_report's interval (UTC) and ends at the
 * next: the counts then start again, and for each domain counted whose
 * _smtp._tls TXT record (v=TLSRPTv1; rua=mailto:...) names addresses, a
 * report (RFC 8460 JSON, gzip'd, in a multipart/report message from
 * TLSREPORT_SENDER@hostname) is queued to them like any other message.
 * Sessions that carry reports are not counted. https: rua URIs are not
 * supported (logged). An interval that ends while relayd is down is sent
 * at start; one that ends while the previous one is still being sent is
 * dropped (logged).
 */
#ifndef RELAYD_TLSREPORT_H
#define RELAYD_TLSREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "relayd/tlsrpt.h"

#define TLSREPORT_SAVE_SECONDS 10
#define TLSREPORT_SENDER "noreply-smtp-tls-reporting" /* @hostname, as RFC 8460's example */

struct event_base;
struct evbuffer;
struct conf;
struct sts_policy;
struct tls_tlsa;

void tlsreport_init(struct event_base *base, const struct conf *c);
void tlsreport_reload(const struct conf *c);
void tlsreport_shutdown(void);
bool tlsreport_on(void);
void tlsreport_sts(const struct sts_policy *p);
void tlsreport_tlsa(const char *domain, const struct tls_tlsa *t, size_t n);
void tlsreport_success(const char *domain, enum tlsrpt_type type);
void tlsreport_failure(const char *domain, enum tlsrpt_type type, enum tlsrpt_result r,
		       const char *mx_host, const char *receiving_ip);
/* The result type of a certificate problem in relayd's words (tls.h's
 * verify text: "hostname mismatch", "certificate has expired", ...). */
enum tlsrpt_result tlsreport_classify(const char *why);
void tlsreport_write(struct evbuffer *out, bool json);

#endif
