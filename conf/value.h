/*
 * value.h — parsers for the typed values of relayd.conf.
 *
 * value_duration()  "30s", "5m", "2h", "5d" or bare seconds -> seconds
 * value_size()      "512K", "50M", "1G" (powers of 1024) or bare bytes
 * value_cidr()      "10.0.0.0/8", "::1/128", or a bare address (full prefix)
 * value_cidr_match() does an address fall in a network
 * value_ip()        is this string an IPv4 or IPv6 literal
 * value_domain()    is this string a syntactically valid host/domain name
 * value_hostport()  "host", "host:port", "[ip]", "[ip]:port", "ip", "[v6]:port",
 *                   "[host]", "[host]:port"
 * value_rate()      "N/s", "N/m", "N/h", "N/d"
 * value_rate_format() a rate back as "N/s", "N/m", "N/h" or "N/d"
 * value_rate_less() is one rate slower than another
 * value_date()      "YYYY-MM-DD" -> days since 1970-01-01, and back
 * value_tls_version() "TLSv1.2" / "TLSv1.3"
 *
 * All are pure: no allocation except value_hostport()'s host, no I/O.
 * Each returns 0 on success and -1 on a malformed value (outputs untouched).
 */
#ifndef CONF_VALUE_H
#define CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"

int value_duration(const char *s, unsigned *seconds);
int value_size(const char *s, uint64_t *bytes);
int value_cidr(const char *s, struct conf_cidr *out);
bool value_cidr_match(const struct conf_cidr *net, const struct sockaddr *sa);
bool value_ip(const char *s);
/* Dot-separated labels of letters, digits and '-', no trailing dot, and a
 * last label that is not all digits (so "10.0.0.256" is not a name). */
bool value_domain(const char *s);
/* *host is malloc'd (brackets removed); *port is 0 when absent; *literal is
 * true for IP addresses, bracketed or bare ("[host]" is a name: false). */
int value_hostport(const char *s, char **host, int *port, bool *literal);
int value_rate(const char *s, struct conf_rate *out);
/* R as written in relayd.conf ("10/m"; "unlimited" when n is 0). */
void value_rate_format(const struct conf_rate *r, char *buf, size_t len);
/* A allows fewer messages a second than B (n == 0: unlimited). */
bool value_rate_less(const struct conf_rate *a, const struct conf_rate *b);
/* A calendar date, proleptic Gregorian, years 1970-9999: *days since
 * 1970-01-01 (1970-01-01 is 0). */
int value_date(const char *s, long *days);
/* DAYS since 1970-01-01 as "YYYY-MM-DD". */
void value_date_format(long days, char *buf, size_t len);
/* The days since 1970-01-01 of Y-M-D (M 1-12, D 1-31, not checked). */
long value_days_from_civil(int y, unsigned m, unsigned d);
int value_tls_version(const char *s, int *version);

#endif
