/*
 * value.c — parsers for the typed values of relayd.conf.
 *
 * value_duration()    "30s", "5m", "2h", "5d" or bare seconds -> seconds
 * value_size()        "512K", "50M", "1G" (powers of 1024) or bare bytes
 * value_cidr()        "10.0.0.0/8", "::1/128", or a bare address (full prefix)
 * value_cidr_match()  does an address (AF_INET/AF_INET6) fall in a network
 * value_ip()          is this string an IPv4 or IPv6 literal
 * value_domain()      is this string a syntactically valid host/domain name
 * value_hostport()    "host", "host:port", "[ip]", "[ip]:port", "ip", "[v6]:port",
 *                     and Postfix's "[host]", "[host]:port"
 * value_rate()        "N/s", "N/m", "N/h", "N/d" with N >= 1
 * value_tls_version() "TLSv1.2" / "TLSv1.3"
 *
 * Invariants: every parser accepts the whole string or nothing: no leading
 * or trailing blanks, no sign, no overflow; on -1 the outputs are untouched.
 * Nothing here allocates except value_hostport()'s *host, nothing does I/O,
 * so the fuzz harness can call them on any bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/value.h"

/*
 * Parse the leading decimal digits of S into *n (at most MAX). Returns the
 * number of digits, or 0 when there are none or the value exceeds MAX.
 * strtoul() is avoided on purpose: it accepts blanks, signs and "0x".
 */
static size_t
value_digits(const char *s, uint64_t max, uint64_t *n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (max - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (i > 0)
		*n = v;
	return i;
}

/* Seconds in one unit of a duration, or 0 for an unknown unit. */
static unsigned
value_time_unit(char c)
{
	switch (c) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	default:
		return 0;
	}
}

/* Parse "30s", "5m", "2h", "5d" or bare seconds. */
int
value_duration(const char *s, unsigned *seconds)
{
	uint64_t n;
	size_t len;
	unsigned unit = 1;

	if (s == NULL || (len = value_digits(s, UINT_MAX, &n)) == 0)
		return -1;
	if (s[len] != '\0') {
		if (s[len + 1] != '\0' || (unit = value_time_unit(s[len])) == 0)
			return -1;
	}
	if (n > UINT_MAX / unit)
		return -1;
	*seconds = (unsigned)(n * unit);
	return 0;
}

/* Parse "512K", "50M", "1G" (powers of 1024) or bare bytes. */
int
value_size(const char *s, uint64_t *bytes)
{
	uint64_t n, unit = 1;
	size_t len;

	if (s == NULL || (len = value_digits(s, UINT64_MAX, &n)) == 0)
		return -1;
	if (s[len] != '\0') {
		if (s[len + 1] != '\0')
			return -1;
		switch (toupper((unsigned char)s[len])) {
		case 'K':
			unit = 1024;
			break;
		case 'M':
			unit = 1024 * 1024;
			break;
		case 'G':
			unit = 1024 * 1024 * 1024;
			break;
		default:
			return -1;
		}
	}
	if (n > UINT64_MAX / unit)
		return -1;
	*bytes = n * unit;
	return 0;
}

/* Parse "a.b.c.d/n", "v6/n" or a bare address (prefix 32 or 128). */
int
value_cidr(const char *s, struct conf_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	struct conf_cidr c;
	uint64_t prefix;
	size_t len;
	int i, max;

	if (s == NULL)
		return -1;
	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';

	memset(&c, 0, sizeof(c));
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else
		return -1;

	c.prefix = max;
	if (slash != NULL) {
		size_t n = value_digits(slash + 1, (uint64_t)max, &prefix);

		if (n == 0 || slash[1 + n] != '\0')
			return -1;
		c.prefix = (int)prefix;
	}

	/* Keep only the network part, so equal networks compare equal. */
	for (i = 0; i < max / 8; i++) {
		int keep = c.prefix - i * 8;

		if (keep <= 0)
			c.addr[i] = 0;
		else if (keep < 8)
			c.addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
	*out = c;
	return 0;
}

/* Do the first PREFIX bits of A and B agree. */
static bool
value_prefix_equal(const uint8_t *a, const uint8_t *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/*
 * Is SA in NET. An IPv4-mapped IPv6 client (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) is compared as the IPv4 address it is,
 * and an IPv4 client against an IPv6 network as its mapped form.
 */
bool
value_cidr_match(const struct conf_cidr *net, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint8_t addr[16];
	int family;

	if (net == NULL || sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		family = AF_INET;
		memcpy(addr, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		family = AF_INET6;
		memcpy(addr, &sin6->sin6_addr, 16);
	} else
		return false;

	if (net->family == AF_INET && family == AF_INET6) {
		if (memcmp(addr, mapped, sizeof(mapped)) != 0)
			return false;
		memmove(addr, addr + 12, 4);
		family = AF_INET;
	} else if (net->family == AF_INET6 && family == AF_INET) {
		memmove(addr + 12, addr, 4);
		memcpy(addr, mapped, sizeof(mapped));
		family = AF_INET6;
	}
	if (family != net->family)
		return false;
	return value_prefix_equal(addr, net->addr, net->prefix);
}

/* Is S an IPv4 (dotted quad) or IPv6 literal, without brackets. */
bool
value_ip(const char *s)
{
	uint8_t buf[16];

	if (s == NULL)
		return false;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * Is S a host name: dot-separated labels of letters, digits and hyphens, each
 * 1-63 long, not starting or ending with a hyphen, 253 at most in all, and a
 * last label that is not all digits (so a mistyped address such as
 * "10.0.0.256" is not taken for a name).
 */
static bool
value_hostname(const char *s, size_t len)
{
	size_t i, label = 0;
	bool alldigits = true;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			if (i < len) {
				label = 0;
				alldigits = true;
			}
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (!isdigit(c))
			alldigits = false;
		label++;
	}
	return !alldigits;
}

/* Is S a host or domain name (see value_hostname()). */
bool
value_domain(const char *s)
{
	return s != NULL && value_hostname(s, strlen(s));
}

/* Parse a port "1".."65535" (decimal digits only). */
static int
value_port(const char *s, int *port)
{
	uint64_t n;
	size_t len = value_digits(s, 65535, &n);

	if (len == 0 || s[len] != '\0' || n == 0)
		return -1;
	*port = (int)n;
	return 0;
}

/*
 * Parse "host", "host:port", "[ip]", "[ip]:port", a bare IPv4 or IPv6
 * address (an IPv6 one takes no port: its colons would be ambiguous), or
 * "[v6]:port". Postfix's "[host]" and "[host]:port" are taken too: there
 * the brackets switch the MX lookup off, and relayd never looks a relay
 * name up by MX anyway, so "[host]" is the same as "host" (not literal).
 */
int
value_hostport(const char *s, char **host, int *port, bool *literal)
{
	char buf[256];
	const char *end, *colon;
	int p = 0;
	bool lit;

	if (s == NULL || *s == '\0')
		return -1;

	if (s[0] == '[') {
		size_t len;

		if ((end = strchr(s, ']')) == NULL)
			return -1;
		len = (size_t)(end - s - 1);
		if (len == 0 || len >= sizeof(buf))
			return -1;
		memcpy(buf, s + 1, len);
		buf[len] = '\0';
		lit = value_ip(buf);
		if (!lit && !value_hostname(buf, len))
			return -1;
		if (end[1] == ':') {
			if (value_port(end + 2, &p) == -1)
				return -1;
		} else if (end[1] != '\0')
			return -1;
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
		/* Two colons or more: a bare IPv6 address, no port. */
		if (strlen(s) >= sizeof(buf) || !value_ip(s))
			return -1;
		strcpy(buf, s);
		lit = true;
	} else {
		size_t len = colon ? (size_t)(colon - s) : strlen(s);

		if (len == 0 || len >= sizeof(buf))
			return -1;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (colon != NULL && value_port(colon + 1, &p) == -1)
			return -1;
		lit = value_ip(buf);
		if (!lit && !value_hostname(buf, len))
			return -1;
	}

	if ((*host = strdup(buf)) == NULL)
		return -1;
	*port = p;
	*literal = lit;
	return 0;
}

/* Parse "N/s", "N/m", "N/h" or "N/d" with N >= 1. */
int
value_rate(const char *s, struct conf_rate *out)
{
	uint64_t n;
	size_t len;
	unsigned unit;

	if (s == NULL || (len = value_digits(s, UINT_MAX, &n)) == 0 || n == 0)
		return -1;
	if (s[len] != '/' || s[len + 1] == '\0' || s[len + 2] != '\0')
		return -1;
	if ((unit = value_time_unit(s[len + 1])) == 0)
		return -1;
	out->n = (unsigned)n;
	out->interval = unit;
	return 0;
}

void
value_rate_format(const struct conf_rate *r, char *buf, size_t len)
{
	if (r->n == 0) {
		snprintf(buf, len, "unlimited");
		return;
	}
	char unit = r->interval == 86400  ? 'd'
		    : r->interval == 3600 ? 'h'
		    : r->interval == 60	  ? 'm'
					  : 's';
	if (r->interval == 1 || r->interval == 60 || r->interval == 3600 || r->interval == 86400)
		snprintf(buf, len, "%u/%c", r->n, unit);
	else
		snprintf(buf, len, "%u per %us", r->n, r->interval);
}

bool
value_rate_less(const struct conf_rate *a, const struct conf_rate *b)
{
	if (a->n == 0)
		return false;
	if (b->n == 0)
		return true;
	/* a.n / a.interval < b.n / b.interval */
	return (uint64_t)a->n * b->interval < (uint64_t)b->n * a->interval;
}

/* Howard Hinnant's days_from_civil. */
long
value_days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

/* Howard Hinnant's civil_from_days. */
void
value_date_format(long days, char *buf, size_t len)
{
	long z = days + 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	snprintf(buf, len, "%04ld-%02u-%02u", y + (m <= 2), m, d);
}

/* Parse "YYYY-MM-DD", a real date (2026-02-29 is not one). */
int
value_date(const char *s, long *days)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t y, m, d;

	if (s == NULL || value_digits(s, 9999, &y) != 4 || s[4] != '-' ||
	    value_digits(s + 5, 12, &m) != 2 || s[7] != '-' || value_digits(s + 8, 31, &d) != 2 ||
	    s[10] != '\0')
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	*days = value_days_from_civil((int)y, (unsigned)m, (unsigned)d);
	return 0;
}

/* Parse "TLSv1.2" or "TLSv1.3" (any case) into the OpenSSL constant. */
int
value_tls_version(const char *s, int *version)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "TLSv1.2") == 0)
		*version = CONF_TLSV12;
	else if (strcasecmp(s, "TLSv1.3") == 0)
		*version = CONF_TLSV13;
	else
		return -1;
	return 0;
}
