/*
 * print.c — a struct conf written back as relayd.conf text (relayd -n -v).
 *
 * print_conf()  every key, defaults included, in the configuration file's
 *               own syntax: the global keys, then the listen, tls_policy,
 *               transport and route sections in file order, then queue
 *
 * Invariants: the text loads (conf_load()) into the same configuration and
 * prints again as the same text (tests/unit/test_conf.c and the fuzz
 * harness check both). A key without a value (user, tls_cert, ... when
 * unset) is written as a comment, so every key appears. Strings are
 * double-quoted with libconfuse's escapes: \" and \\, \$ (libconfuse would
 * expand "${VAR}"), control bytes as \xHH. Durations and sizes are written
 * in the largest unit that divides them ("5m", "50M"), as the documentation
 * writes them. include() is flattened: the text is one file. Nothing but
 * FP is touched.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf/print.h"
#include "conf/value.h"

#define IND "\t" /* keys inside a section */

static const char *const print_listen_tls[] = {"none", "starttls", "smtps"};
static const char *const print_bare_newline[] = {"reject", "normalize"};
static const char *const print_level[] = {"none", "may", "encrypt", "verify", "dane", "dane-only"};

/* S as a double-quoted libconfuse string. */
static void
print_str(FILE *fp, const char *s)
{
	const unsigned char *p;

	putc('"', fp);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\' || *p == '$')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			/* Two hex digits: libconfuse's octal refuses a digit after it. */
			fprintf(fp, "\\x%02x", *p);
		else
			putc(*p, fp);
	}
	putc('"', fp);
}

/* KEY = "S", or the comment "# KEY: not set (UNSET)" when S is NULL. */
static void
print_key(FILE *fp, const char *ind, const char *key, const char *s, const char *unset)
{
	if (s == NULL) {
		fprintf(fp, "%s# %s: not set (%s)\n", ind, key, unset ? unset : "no default");
		return;
	}
	fprintf(fp, "%s%s = ", ind, key);
	print_str(fp, s);
	putc('\n', fp);
}

/* KEY = {"V0", "V1", ...}, or the comment when there are none and UNSET
 * is given (else an empty list). */
static void
print_list(FILE *fp, const char *ind, const char *key, char *const *v, size_t n, const char *unset)
{
	size_t i;

	if (n == 0 && unset != NULL) {
		fprintf(fp, "%s# %s: not set (%s)\n", ind, key, unset);
		return;
	}
	fprintf(fp, "%s%s = {", ind, key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", fp);
		print_str(fp, v[i]);
	}
	fputs("}\n", fp);
}

/* SECONDS as "5d", "4h", "5m", "30s" (the largest unit that divides it), or "0". */
static void
print_duration(char *buf, size_t len, unsigned seconds)
{
	static const struct {
		unsigned seconds;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
	size_t i;

	if (seconds == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (seconds % units[i].seconds == 0) {
			snprintf(buf, len, "%u%c", seconds / units[i].seconds, units[i].unit);
			return;
		}
	snprintf(buf, len, "%us", seconds);
}

/* KEY = "DURATION". */
static void
print_key_duration(FILE *fp, const char *ind, const char *key, unsigned seconds)
{
	char buf[32];

	print_duration(buf, sizeof(buf), seconds);
	print_key(fp, ind, key, buf, NULL);
}

/* KEY = "SIZE": "1G", "50M", "512K" (powers of 1024) or bytes. */
static void
print_key_size(FILE *fp, const char *ind, const char *key, uint64_t bytes)
{
	static const struct {
		uint64_t bytes;
		char unit;
	} units[] = {{1ULL << 30, 'G'}, {1ULL << 20, 'M'}, {1ULL << 10, 'K'}};
	char buf[32];
	size_t i;

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
	for (i = 0; bytes > 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (bytes % units[i].bytes == 0) {
			snprintf(buf, sizeof(buf), "%llu%c",
				 (unsigned long long)(bytes / units[i].bytes), units[i].unit);
			break;
		}
	print_key(fp, ind, key, buf, NULL);
}

/* KEY = N (a bare number). */
static void
print_key_number(FILE *fp, const char *ind, const char *key, unsigned long n)
{
	fprintf(fp, "%s%s = %lu\n", ind, key, n);
}

/* KEY = true|false. */
static void
print_key_bool(FILE *fp, const char *ind, const char *key, bool b)
{
	fprintf(fp, "%s%s = %s\n", ind, key, b ? "true" : "false");
}

/* KEY = "TLSv1.2" or "TLSv1.3". */
static void
print_key_tls_version(FILE *fp, const char *ind, const char *key, int version)
{
	print_key(fp, ind, key, version == CONF_TLSV13 ? "TLSv1.3" : "TLSv1.2", NULL);
}

/* A network as "ADDRESS/PREFIX". */
static void
print_cidr(char *buf, size_t len, const struct conf_cidr *n)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(n->family, n->addr, addr, sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, "%s/%d", addr, n->prefix);
}

/* A relay as "host", "host:port", "[ip]" or "[ip]:port". */
static void
print_relay(char *buf, size_t len, const struct conf_relay *r)
{
	const char *open = r->literal ? "[" : "", *close = r->literal ? "]" : "";

	if (r->port != 0)
		snprintf(buf, len, "%s%s%s:%d", open, r->host, close, r->port);
	else
		snprintf(buf, len, "%s%s%s", open, r->host, close);
}

static void
print_global(FILE *fp, const struct conf *c)
{
	print_key(fp, "", "hostname", c->hostname, NULL);
	print_key(fp, "", "spool", c->spool, NULL);
	print_key(fp, "", "control_socket", c->control_socket, NULL);
	print_key(fp, "", "user", c->user, "relayd runs as the user that starts it");
	print_key(fp, "", "postmaster", c->postmaster, NULL);
	print_list(fp, "", "dns_servers", c->dns_servers, c->ndns_servers,
		   "the servers of /etc/resolv.conf");
	print_key(fp, "", "metrics_listen", c->metrics_listen, "no metrics listener");
	print_list(fp, "", "dnsbl", c->dnsbl, c->ndnsbl, "no blocklist is checked");
	if (c->check_interval == 0)
		print_key(fp, "", "check_interval", "0", "only with relayctl check --now");
	else
		print_key_duration(fp, "", "check_interval", c->check_interval);
	print_list(fp, "", "check_senders", c->check_senders, c->ncheck_senders,
		   "the SPF check is skipped");
	print_key(fp, "", "dnssec_probe", c->dnssec_probe, NULL);
	print_key(fp, "", "tls_ca_file", c->tls_ca_file, "the system CA bundle");
}

static void
print_listen(FILE *fp, const struct conf_listen *l)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	fputs("\nlisten ", fp);
	print_str(fp, l->name);
	fputs(" {\n", fp);
	print_key(fp, IND, "address", l->address, NULL);
	print_key_number(fp, IND, "port", (unsigned long)l->port);
	print_key(fp, IND, "tls", print_listen_tls[l->tls], NULL);
	print_key(fp, IND, "tls_cert", l->tls_cert, "tls is none");
	print_key(fp, IND, "tls_key", l->tls_key, "tls is none");
	print_key_tls_version(fp, IND, "tls_min_version", l->tls_min_version);
	print_key(fp, IND, "ciphers", l->ciphers, "relayd's default TLS 1.2 list");
	print_key_bool(fp, IND, "require_tls", l->require_tls);
	fprintf(fp, IND "allow = {");
	for (i = 0; i < l->nallow; i++) {
		print_cidr(buf, sizeof(buf), &l->allow[i]);
		if (i > 0)
			fputs(", ", fp);
		print_str(fp, buf);
	}
	fputs("}\n", fp);
	print_key(fp, IND, "auth_users", l->auth_users, "no AUTH");
	print_key_size(fp, IND, "max_message_size", l->max_message_size);
	print_key_number(fp, IND, "max_recipients", l->max_recipients);
	print_key_number(fp, IND, "max_clients", l->max_clients);
	print_key(fp, IND, "bare_newline", print_bare_newline[l->bare_newline], NULL);
	print_key_duration(fp, IND, "timeout", l->timeout);
	print_key_number(fp, IND, "auth_fail_limit", l->auth_fail_limit);
	print_key_duration(fp, IND, "auth_fail_window", l->auth_fail_window);
	fputs("}\n", fp);
}

static void
print_policy(FILE *fp, const struct conf_tls_policy *p)
{
	fputs("\ntls_policy ", fp);
	print_str(fp, p->name);
	fputs(" {\n", fp);
	print_key(fp, IND, "level", print_level[p->level], NULL);
	print_key_tls_version(fp, IND, "min_version", p->min_version);
	print_key(fp, IND, "ca_file", p->ca_file, "the system CA bundle");
	print_list(fp, IND, "match", p->match, p->nmatch, "the host name connected to");
	print_key(fp, IND, "ciphers", p->ciphers, "relayd's default for the level");
	fputs("}\n", fp);
}

static void
print_transport(FILE *fp, const struct conf_transport *t)
{
	char buf[300];
	size_t i;

	fputs("\ntransport ", fp);
	print_str(fp, t->name);
	fputs(" {\n", fp);
	fprintf(fp, IND "relay = {");
	for (i = 0; i < t->nrelay; i++) {
		print_relay(buf, sizeof(buf), &t->relay[i]);
		if (i > 0)
			fputs(", ", fp);
		print_str(fp, buf);
	}
	fputs(t->nrelay == 0 ? "} # empty: MX delivery\n" : "}\n", fp);
	print_key(fp, IND, "destination_by",
		  t->nrelay  ? NULL
		  : t->by_mx ? "mx"
			     : "domain",
		  "MX delivery only");
	print_key_number(fp, IND, "port", (unsigned long)t->port);
	print_key_bool(fp, IND, "smtps", t->smtps);
	print_key(fp, IND, "tls", t->tls->name, NULL);
	print_key(fp, IND, "auth_user", t->auth_user, "no AUTH");
	print_key(fp, IND, "auth_password_file", t->auth_password_file, "no AUTH");
	print_key(fp, IND, "source_address", t->source_address, "any");
	print_key(fp, IND, "public_address", t->public_address,
		  t->nrelay ? "MX delivery only" : "source_address, else the kernel's choice");
	print_key_bool(fp, IND, "mta_sts", t->mta_sts);
	print_key(fp, IND, "helo", t->helo, NULL);
	print_key_number(fp, IND, "max_connections", t->max_connections);
	print_key_number(fp, IND, "max_messages_per_connection", t->max_messages_per_connection);
	if (t->rate.n == 0) {
		print_key(fp, IND, "rate", NULL, "unlimited");
	} else {
		value_rate_format(&t->rate, buf, sizeof(buf));
		print_key(fp, IND, "rate", buf, NULL);
	}
	if (t->nwarmup == 0) {
		print_key(fp, IND, "warmup", NULL, "no warm-up");
		print_key(fp, IND, "warmup_start", NULL, "no warm-up");
		print_key(fp, IND, "warmup_overflow", NULL, "no warm-up");
	} else {
		fputs(IND "warmup = {", fp);
		for (i = 0; i < t->nwarmup; i++) {
			value_rate_format(&t->warmup[i], buf, sizeof(buf));
			if (i > 0)
				fputs(", ", fp);
			print_str(fp, buf);
		}
		fputs("}\n", fp);
		value_date_format(t->warmup_start, buf, sizeof(buf));
		print_key(fp, IND, "warmup_start", buf, NULL);
		print_key(fp, IND, "warmup_overflow",
			  t->warmup_overflow ? t->warmup_overflow->name : NULL,
			  "mail over the day's rate waits");
	}
	print_key_duration(fp, IND, "connect_timeout", t->connect_timeout);
	print_key_duration(fp, IND, "command_timeout", t->command_timeout);
	print_key_duration(fp, IND, "data_timeout", t->data_timeout);
	print_key(fp, IND, "fallback", t->fallback ? t->fallback->name : NULL, "none");
	print_key_duration(fp, IND, "fallback_hold", t->fallback_hold);
	fputs("}\n", fp);
}

static void
print_queue(FILE *fp, const struct conf_queue *q)
{
	char buf[32];
	size_t i;

	fputs("\nqueue {\n" IND "retry = {", fp);
	for (i = 0; i < q->nretry; i++) {
		print_duration(buf, sizeof(buf), q->retry[i]);
		if (i > 0)
			fputs(", ", fp);
		print_str(fp, buf);
	}
	fputs("}\n", fp);
	print_key_duration(fp, IND, "max_lifetime", q->max_lifetime);
	print_key_duration(fp, IND, "delay_warning", q->delay_warning);
	fputs("}\n", fp);
}

/* Write C as relayd.conf text; see print.h. */
int
print_conf(FILE *fp, const struct conf *c)
{
	size_t i;

	fputs("# relayd's effective configuration: every key, defaults included\n", fp);
	print_global(fp, c);
	for (i = 0; i < c->nlisten; i++)
		print_listen(fp, &c->listen[i]);
	/* The built-in policies come first and cannot be declared. */
	for (i = CONF_TLS_BUILTINS; i < c->ntls_policy; i++)
		print_policy(fp, &c->tls_policy[i]);
	for (i = 0; i < c->ntransport; i++)
		print_transport(fp, &c->transport[i]);
	if (c->nroute > 0)
		putc('\n', fp);
	for (i = 0; i < c->nroute; i++) {
		fputs("route ", fp);
		print_str(fp, c->route[i].pattern);
		fputs(" { transport = ", fp);
		print_str(fp, c->route[i].transport->name);
		fputs(" }\n", fp);
	}
	print_queue(fp, &c->queue);
	if (c->tls_report) {
		fputs("\ntls_report {\n", fp);
		print_key(fp, IND, "organization", c->tls_report->organization, NULL);
		print_key(fp, IND, "contact", c->tls_report->contact, NULL);
		print_key_duration(fp, IND, "interval", c->tls_report->interval);
		fputs("}\n", fp);
	}
	if (c->cluster) {
		fputs("\ncluster {\n", fp);
		print_key(fp, IND, "redis", c->cluster->redis, NULL);
		print_key(fp, IND, "node", c->cluster->node, NULL);
		fputs("}\n", fp);
	}
	return ferror(fp) ? -1 : 0;
}
