/*
 * site.c — destinations by domain or by site (site.h).
 *
 * site_of_mx(), site_key(), site_needs_mx()
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/site.h"
#include "smtp/cmd.h"

static int
host_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
lower_copy(char *buf, size_t len, const char *s)
{
	size_t i;
	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[i] = '\0';
}

bool
site_of_mx(const char *domain, enum dns_status st, const struct dns_mx *mx, size_t n, char *buf,
	   size_t len)
{
	char hosts[32][256];
	const char *sorted[32];
	size_t k = 0;

	for (size_t i = 0; st == DNS_OK && i < n && k < 32; i++) {
		if (!mx[i].host[0])
			continue; /* a null MX names no host */
		lower_copy(hosts[k], sizeof(hosts[k]), mx[i].host);
		size_t l = strlen(hosts[k]);
		if (l > 0 && hosts[k][l - 1] == '.')
			hosts[k][l - 1] = '\0';
		sorted[k] = hosts[k];
		k++;
	}
	if (k == 0) {
		lower_copy(buf, len, domain);
		return false;
	}
	qsort(sorted, k, sizeof(sorted[0]), host_cmp);
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		size_t l = strlen(sorted[i]);
		if (used + (used ? 1 : 0) + l + 1 > len)
			break; /* as many as fit: the first ones tell the site */
		if (used)
			buf[used++] = ',';
		memcpy(buf + used, sorted[i], l + 1);
		used += l;
	}
	return true;
}

static bool
by_site(const struct conf_transport *t, const char *domain)
{
	char lit[64];
	return t->nrelay == 0 && t->by_mx && domain && domain[0] &&
	       cmd_literal_addr(domain, lit, sizeof(lit)) != 0;
}

const char *
site_key(const struct conf_transport *t, const char *domain, char *buf, size_t len, bool *site)
{
	if (site)
		*site = false;
	if (t->nrelay > 0 || !domain)
		return "";
	enum dns_status st;
	struct dns_mx mx[32];
	size_t n;
	if (!by_site(t, domain) || !dns_mx_cached(domain, &st, mx, &n))
		return domain;
	bool s = site_of_mx(domain, st, mx, n, buf, len);
	if (site)
		*site = s;
	return s ? buf : domain;
}

bool
site_needs_mx(const struct conf_transport *t, const char *domain)
{
	enum dns_status st;
	struct dns_mx mx[32];
	size_t n;
	return by_site(t, domain) && !dns_mx_cached(domain, &st, mx, &n);
}
