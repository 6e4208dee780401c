/*
 * test_conf.c — unit tests for conf/conf.c: loading relayd.conf.
 *
 * Each test writes a configuration to a temporary file (mkstemp under /tmp)
 * and loads it. Error cases are a table {name, text, want}: want lists every
 * expected error as "LINE: message" (the "FILE:" in front is checked
 * separately; "%F" in a message stands for the file's name). A failure
 * prints "got X, want Y". An error about the whole file has no line:
 * "FILE: message", so its want starts with a blank (" no listen ...").
 * Also covered: the example configuration, every default, every key set,
 * values written bare or quoted, comments everywhere (libconfuse 3.3
 * miscounts lines after them), include(), where each key was written
 * (conf_where()), and print_conf(): what it prints loads into the same
 * configuration and prints the same again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "conf/print.h"
#include "conf/value.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXERR 32

/* The errors conf_load() reported. */
struct errs {
	char *msg[MAXERR];
	size_t n;
};

static void
collect(void *arg, const char *msg)
{
	struct errs *e = arg;

	if (e->n < MAXERR)
		e->msg[e->n] = strdup(msg);
	e->n++;
}

static void
errs_free(struct errs *e)
{
	size_t i;

	for (i = 0; i < e->n && i < MAXERR; i++)
		free(e->msg[i]);
	e->n = 0;
}

/* Write TEXT to a new file under DIR (NULL: /tmp); returns its name. */
static char *
write_temp_in(const char *dir, const char *text)
{
	char *path;
	FILE *fp;
	int fd;

	assert_true(asprintf(&path, "%s/relayd-test-XXXXXX", dir ? dir : "/tmp") > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0 || text[0] == '\0', 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static char *
write_temp(const char *text)
{
	return write_temp_in(NULL, text);
}

/* Write TEXT to DIR/NAME. */
static char *
write_named(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *fp;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	return path;
}

/* Load TEXT from a temporary file; its name goes to *PATH if wanted. */
static struct conf *
load_text(const char *text, struct errs *e, char **path)
{
	char *p = write_temp(text);
	struct conf *c = conf_load(p, collect, e);

	if (path != NULL)
		*path = p;
	else {
		unlink(p);
		free(p);
	}
	return c;
}

/* WANT with every "%F" replaced by FILE. */
static char *
expand(const char *want, const char *file)
{
	size_t n = 0, flen = strlen(file);
	const char *p;
	char *out, *o;

	for (p = want; *p; p++)
		n += (p[0] == '%' && p[1] == 'F') ? flen : 1;
	o = out = malloc(n + 1);
	assert_non_null(out);
	for (p = want; *p; p++) {
		if (p[0] == '%' && p[1] == 'F') {
			memcpy(o, file, flen);
			o += flen;
			p++;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Check that E holds exactly WANT ("LINE: message", NULL-terminated), each
 * reported as "FILE:LINE: message". */
static void
check_errors(const char *name, const char *file, const struct errs *e, const char *const *want)
{
	size_t i, nwant = 0, flen = strlen(file);

	while (want[nwant] != NULL)
		nwant++;
	for (i = 0; i < e->n && i < MAXERR; i++) {
		char *w;

		if (strncmp(e->msg[i], file, flen) != 0 || e->msg[i][flen] != ':')
			fail_msg("%s: error %zu got \"%s\", want it to start with \"%s:\"", name,
				 i + 1, e->msg[i], file);
		if (i >= nwant)
			fail_msg("%s: got an extra error \"%s\"", name, e->msg[i]);
		w = expand(want[i], file);
		if (strcmp(e->msg[i] + flen + 1, w) != 0)
			fail_msg("%s: error %zu\n  got  \"%s\"\n  want \"%s\"", name, i + 1,
				 e->msg[i] + flen + 1, w);
		free(w);
	}
	if (e->n != nwant)
		fail_msg("%s: got %zu errors, want %zu", name, e->n, nwant);
}

struct err_case {
	const char *name;
	const char *text;
	const char *want[8];
};

#define L "listen \"l\" {}\n" /* line 1 of most cases: the one listener needed */

static const struct err_case err_cases[] = {
	/* keys and sections libconfuse does not know */
	{"unknown key at top level",
	 L "frobnicate = 1\n",
	 {"2: unknown key or section \"frobnicate\"; see the configuration keys in the "
	  "documentation"}},
	{"misspelt key in a section",
	 "listen \"l\" {\n\tadress = \"::1\"\n}\n",
	 {"2: unknown key \"adress\" in listen \"l\"; did you mean \"address\"?"}},
	{"section key at top level",
	 L "port = 25\n",
	 {"2: unknown key \"port\" here; it belongs inside a listen or transport section"}},
	{"unknown section",
	 L "mailer \"x\" {\n}\n",
	 {"2: unknown key or section \"mailer\"; see the configuration keys in the "
	  "documentation"}},
	{"key of another section",
	 L "route \"*\" {\n\ttransport = \"t\"\n\tport = 25\n}\n",
	 {"4: unknown key \"port\" in route \"*\"; see the keys of route in the "
	  "documentation"}},

	/* syntax */
	{"missing closing brace before a section",
	 "listen \"l\" {\n\tport = 25\ntransport \"t\" {\n}\n",
	 {"3: unknown key \"transport\" in listen \"l\"; is the \"}\" that closes listen "
	  "\"l\" missing?"}},
	{"section never closed",
	 L "transport \"t\" {\n\tport = 25\n",
	 {"2: this \"{\" is never closed; add the \"}\" that ends its section"}},
	{"missing equal sign",
	 "listen \"l\" {\n\tport 25\n}\n",
	 {"2: missing \"=\" after \"port\"; write port = VALUE"}},
	{"closing brace too many", L "}\n", {"2: unexpected \"}\": it closes nothing"}},
	{"unquoted star",
	 L "route * {\n\ttransport = \"t\"\n}\n",
	 {"2: route needs a quoted pattern; write route \"example.com\" { transport = "
	  "\"NAME\" } (and \"*\" in quotes)"}},
	{"section without a name",
	 "listen {\n}\n",
	 {"1: listen needs a quoted name; write listen \"NAME\" { ... }"}},
	{"queue with a name",
	 L "queue \"q\" {\n}\n",
	 {"2: missing \"{\" after queue; write queue { ... }"}},
	{"transport without its brace",
	 L "transport \"gmail\"\n\trelay = { \"smtp.example.net\" }\n}\n",
	 {"3: missing \"{\" after transport \"gmail\"; write transport \"gmail\" { ... }"}},
	{"listen without its brace, same line",
	 "listen \"smtp\" port = 25\n",
	 {"1: missing \"{\" after listen \"smtp\"; write listen \"smtp\" { ... }"}},
	{"route without its brace, after a comment naming another",
	 L "transport \"t\" {}\n# route \"x\" {\nroute \"*\" transport = t\n",
	 {"4: missing \"{\" after route \"*\"; write route \"*\" { ... }"}},
	{"tls_policy without its brace, name on the next line",
	 L "tls_policy\n\t\"strict\"\n\tlevel = verify\n",
	 {"4: missing \"{\" after tls_policy \"strict\"; write tls_policy \"strict\" { ... }"}},
	{"append to a scalar",
	 L "spool += \"/x\"\n",
	 {"2: \"+=\" works on lists only; write spool = VALUE"}},
	{"unterminated list",
	 L "dns_servers = { \"127.0.0.1\",\n",
	 {"3: unexpected end of file; a value, a \"}\" or a closing quote is missing"}},

	/* values */
	{"bad durations",
	 L "transport \"t\" {\n\tconnect_timeout = \"5x\"\n\tdata_timeout = 0\n"
	   "\tfallback_hold = 1.5h\n}\n",
	 {"3: connect_timeout = \"5x\" is not a duration; write e.g. \"30s\", \"5m\", \"2h\", "
	  "\"5d\" or a number of seconds",
	  "4: data_timeout = \"0\" is too short; it must be at least 1s",
	  "5: fallback_hold = \"1.5h\" is not a duration; write e.g. \"30s\", \"5m\", \"2h\", "
	  "\"5d\" or a number of seconds"}},
	{"bad size",
	 "listen \"l\" {\n\tmax_message_size = \"50MB\"\n}\n",
	 {"2: max_message_size = \"50MB\" is not a size; write e.g. \"512K\", \"50M\", "
	  "\"1G\" or a number of bytes"}},
	{"zero size",
	 "listen \"l\" {\n\tmax_message_size = 0\n}\n",
	 {"2: max_message_size = \"0\" is not a size; write e.g. \"512K\", \"50M\", "
	  "\"1G\" or a number of bytes"}},
	{"bad networks",
	 "listen \"l\" {\n\tallow = { \"127.0.0.0/8\",\n\t\t\"10.0.0.0/33\",\n\t\t\"lan\" }\n}\n",
	 {"3: allow entry \"10.0.0.0/33\" is not a network; write e.g. \"10.0.0.0/8\", "
	  "\"2001:db8::/32\" or an address",
	  "4: allow entry \"lan\" is not a network; write e.g. \"10.0.0.0/8\", "
	  "\"2001:db8::/32\" or an address"}},
	{"listen address not an IP",
	 "listen \"l\" {\n\taddress = \"localhost\"\n}\n",
	 {"2: address = \"localhost\" is not an IP address; listen takes an IPv4 or IPv6 "
	  "literal such as \"127.0.0.1\" or \"::1\""}},
	{"bad ports",
	 "listen \"l\" {\n\tport = 0\n}\ntransport \"t\" {\n\tport = 65536\n}\n"
	 "transport \"u\" {\n\tport = \"smtp\"\n}\n",
	 {"2: port = \"0\" is not a port; use a number from 1 to 65535",
	  "5: port = \"65536\" is not a port; use a number from 1 to 65535",
	  "8: port = \"smtp\" is not a port; use a number from 1 to 65535"}},
	{"bad rate",
	 L "transport \"t\" {\n\trate = \"0/m\"\n}\n",
	 {"3: rate = \"0/m\" is not a rate; write \"N/s\", \"N/m\", \"N/h\" or \"N/d\" with N "
	  "at least 1, e.g. \"100/m\""}},
	{"bad TLS versions",
	 "listen \"l\" {\n\ttls_min_version = \"TLSv1.1\"\n}\n"
	 "tls_policy \"p\" {\n\tlevel = \"may\"\n\tmin_version = \"1.3\"\n}\n",
	 {"2: tls_min_version = \"TLSv1.1\" is not a TLS version; write \"TLSv1.2\" or "
	  "\"TLSv1.3\"",
	  "6: min_version = \"1.3\" is not a TLS version; write \"TLSv1.2\" or \"TLSv1.3\""}},
	{"bad level",
	 L "tls_policy \"p\" {\n\tlevel = \"strict\"\n}\n",
	 {"3: level = \"strict\" is not valid; use \"none\", \"may\", \"encrypt\", "
	  "\"verify\", \"dane\" or \"dane-only\""}},
	{"bad listen tls and bare_newline",
	 "listen \"l\" {\n\ttls = \"on\"\n\tbare_newline = \"fix\"\n}\n",
	 {"2: tls = \"on\" is not valid; use \"none\", \"starttls\" or \"smtps\"",
	  "3: bare_newline = \"fix\" is not valid; use \"reject\" or \"normalize\""}},
	{"bad booleans",
	 "listen \"l\" {\n\trequire_tls = maybe\n}\ntransport \"t\" {\n\tsmtps = 2\n}\n",
	 {"2: require_tls = \"maybe\" is not a boolean; write true or false",
	  "5: smtps = \"2\" is not a boolean; write true or false"}},
	{"bad counts",
	 "listen \"l\" {\n\tmax_recipients = 0\n\tmax_clients = lots\n}\n"
	 "transport \"t\" {\n\tmax_connections = -1\n}\n",
	 {"2: max_recipients = \"0\" is not a whole number of 1 or more",
	  "3: max_clients = \"lots\" is not a whole number of 1 or more",
	  "6: max_connections = \"-1\" is not a whole number of 1 or more"}},
	{"bad auth failure limit and window",
	 "listen \"l\" {\n\tauth_fail_limit = -1\n\tauth_fail_window = 0\n}\n"
	 "listen \"m\" {\n\tport = 2526\n\tauth_fail_limit = \"5x\"\n"
	 "\tauth_fail_window = \"10 m\"\n}\n",
	 {"2: auth_fail_limit = \"-1\" is not a whole number; write 0 for no limit",
	  "3: auth_fail_window = \"0\" is too short; it must be at least 1s",
	  "7: auth_fail_limit = \"5x\" is not a whole number; write 0 for no limit",
	  "8: auth_fail_window = \"10 m\" is not a duration; write e.g. \"30s\", \"5m\", "
	  "\"2h\", \"5d\" or a number of seconds"}},
	{"empty string",
	 L "spool = \"\"\n",
	 {"2: spool is empty; give it a value or remove the line"}},
	{"bad postmaster",
	 L "postmaster = \"ops\"\n",
	 {"2: postmaster = \"ops\" is not a mail address; write one like "
	  "\"postmaster@example.com\""}},
	{"postmaster with a bad domain",
	 L "postmaster = \"ops@bad domain\"\n",
	 {"2: postmaster = \"ops@bad domain\" is not a mail address; write one like "
	  "\"postmaster@example.com\""}},
	{"bad host names",
	 L "hostname = \"relay example\"\ntransport \"t\" {\n\thelo = \"-x\"\n}\n",
	 {"2: hostname = \"relay example\" is not a host name; write the fully qualified "
	  "name, e.g. \"relay.example.com\"",
	  "4: helo = \"-x\" is not a host name; write e.g. \"relay.example.com\" or "
	  "\"[192.0.2.1]\""}},
	{"ports out of range in dns_servers and metrics_listen",
	 L "dns_servers = { \"127.0.0.1:0\", \"[::1]:65536\" }\n"
	   "metrics_listen = \"127.0.0.1:99999\"\n",
	 {"2: dns_servers entry \"127.0.0.1:0\": port 0 is out of range; use a port from 1 "
	  "to 65535",
	  "2: dns_servers entry \"[::1]:65536\": port 65536 is out of range; use a port from "
	  "1 to 65535",
	  "3: metrics_listen = \"127.0.0.1:99999\": port 99999 is out of range; use a port "
	  "from 1 to 65535"}},
	{"host names in brackets are no DNS server or metrics address",
	 L "dns_servers = { \"[dns.example.net]:53\" }\n"
	   "metrics_listen = \"[metrics.example.net]:9100\"\n",
	 {"2: dns_servers entry \"[dns.example.net]:53\" is not an address; write \"IP\", "
	  "\"IP:PORT\" or \"[IPv6]:PORT\"",
	  "3: metrics_listen = \"[metrics.example.net]:9100\" is not an address and port; "
	  "write \"IP:PORT\", e.g. \"127.0.0.1:9100\" or \"[::1]:9100\""}},
	{"bad dns_servers and metrics_listen",
	 L "dns_servers = { \"127.0.0.1:53\", \"dns.google\" }\nmetrics_listen = \"127.0.0.1\"\n",
	 {"2: dns_servers entry \"dns.google\" is not an address; write \"IP\", \"IP:PORT\" "
	  "or \"[IPv6]:PORT\"",
	  "3: metrics_listen = \"127.0.0.1\" is not an address and port; write \"IP:PORT\", "
	  "e.g. \"127.0.0.1:9100\" or \"[::1]:9100\""}},
	{"bad source_address",
	 L "transport \"t\" {\n\tsource_address = \"eth0\"\n}\n",
	 {"3: source_address = \"eth0\" is not an IP address of this host"}},
	{"bad match",
	 L "tls_policy \"p\" {\n\tlevel = verify\n\tmatch = { \"*.example.com\" }\n}\n",
	 {"4: match entry \"*.example.com\" is not a host name or a \".suffix\"; write e.g. "
	  "\"mx.example.com\" or \".example.com\""}},
	{"control socket too long",
	 L "spool = \"/var/spool/relayd/a/very/long/path/that/goes/on/and/on/and/on/and/on/and/"
	   "on/and/on/and/on/until/it/is/too/long\"\n",
	 {"2: control socket path \"/var/spool/relayd/a/very/long/path/that/goes/on/and/on/"
	  "and/on/and/on/and/on/and/on/and/on/until/it/is/too/long/control.sock\" is longer "
	  "than a unix socket allows (107 bytes); set a shorter control_socket"}},

	/* relays */
	{"malformed relays",
	 L "transport \"t\" {\n\trelay = { \"[smtp.gmail.com]:587\",\n\t\t\"a b\",\n"
	   "\t\t\"mx.example.com:0\", \"[192.0.2.1]:25\" }\n}\n",
	 {"4: relay \"a b\" is not a smarthost; write \"host\", \"host:port\", \"[ip]:port\" or "
	  "\"[host]:port\"",
	  "5: relay \"mx.example.com:0\": port 0 is out of range; use a port from 1 to "
	  "65535"}},
	{"relay ports out of range",
	 L "transport \"t\" {\n\trelay = { \"[127.0.0.1]:99999\",\n"
	   "\t\t\"[smtp.example.net]:65536\", \"[::1]:0\",\n"
	   "\t\t\"smtp.example.net:123456789012345678901234567890\" }\n}\n",
	 {"3: relay \"[127.0.0.1]:99999\": port 99999 is out of range; use a port from 1 to "
	  "65535",
	  "4: relay \"[smtp.example.net]:65536\": port 65536 is out of range; use a port "
	  "from 1 to 65535",
	  "4: relay \"[::1]:0\": port 0 is out of range; use a port from 1 to 65535",
	  "5: relay \"smtp.example.net:123456789012345678901234567890\": port "
	  "123456789012345678901234567890 is out of range; use a port from 1 to 65535"}},
	{"relays that are not smarthosts",
	 L "transport \"t\" {\n\trelay = { \"[smtp example.net]:25\", \"[]:25\",\n"
	   "\t\t\"[127.0.0.1]:smtp\", \"[127.0.0.1\", \"mx:25:26\" }\n}\n",
	 {"3: relay \"[smtp example.net]:25\" is not a smarthost; write \"host\", "
	  "\"host:port\", \"[ip]:port\" or \"[host]:port\"",
	  "3: relay \"[]:25\" is not a smarthost; write \"host\", \"host:port\", "
	  "\"[ip]:port\" or \"[host]:port\"",
	  "4: relay \"[127.0.0.1]:smtp\" is not a smarthost; write \"host\", \"host:port\", "
	  "\"[ip]:port\" or \"[host]:port\"",
	  "4: relay \"[127.0.0.1\" is not a smarthost; write \"host\", \"host:port\", "
	  "\"[ip]:port\" or \"[host]:port\"",
	  "4: relay \"mx:25:26\" is not a smarthost; write \"host\", \"host:port\", "
	  "\"[ip]:port\" or \"[host]:port\""}},

	/* references */
	{"route to an undeclared transport",
	 L "transport \"gmail\" {\n}\nroute \"gmail.com\" {\n\ttransport = \"gmial\"\n}\n",
	 {"5: transport \"gmial\" is not declared (route \"gmail.com\")"}},
	{"undeclared tls policy",
	 L "transport \"t\" {\n\ttls = \"strict\"\n}\n",
	 {"3: tls_policy \"strict\" is not declared (transport \"t\"); declare it or use "
	  "\"none\", \"may\", \"encrypt\", \"verify\", \"dane\" or \"dane-only\""}},
	{"undeclared fallback",
	 L "transport \"t\" {\n\tfallback = \"backup\"\n}\n",
	 {"3: fallback transport \"backup\" is not declared (transport \"t\")"}},
	{"warmup without warmup_start",
	 L "transport \"t\" {\n\twarmup = { \"5/m\" }\n}\n",
	 {"3: transport \"t\": warmup needs warmup_start, the local date of its day 1, e.g. "
	  "warmup_start = \"2026-12-01\""}},
	{"warmup_start without warmup",
	 L "transport \"t\" {\n\twarmup_start = \"2026-12-01\"\n}\n",
	 {"3: transport \"t\": warmup_start needs warmup, the list of rates by day, e.g. "
	  "warmup = {\"5/m\", \"20/m\", \"100/m\"}"}},
	{"warmup_overflow without warmup",
	 L "transport \"t\" {\n\twarmup_overflow = \"t\"\n}\n",
	 {"3: transport \"t\": warmup_overflow needs warmup, the list of rates by day, e.g. "
	  "warmup = {\"5/m\", \"20/m\", \"100/m\"}",
	  "3: transport \"t\": warmup_overflow cannot be the transport itself; name another "
	  "transport"}},
	{"bad warm-up values",
	 L "transport \"t\" {\n\twarmup = { \"5/m\", \"fast\", \"0/s\" }\n"
	   "\twarmup_start = \"2026-02-29\"\n\twarmup_overflow = \"nowhere\"\n}\n",
	 {"3: warmup entry \"fast\" is not a rate; write \"N/s\", \"N/m\", \"N/h\" or "
	  "\"N/d\" with N at least 1, e.g. \"5/m\"",
	  "3: warmup entry \"0/s\" is not a rate; write \"N/s\", \"N/m\", \"N/h\" or "
	  "\"N/d\" with N at least 1, e.g. \"5/m\"",
	  "4: warmup_start = \"2026-02-29\" is not a date; write \"YYYY-MM-DD\", e.g. "
	  "\"2026-12-01\"",
	  "5: warmup_overflow transport \"nowhere\" is not declared (transport \"t\")"}},
	{"destination_by unknown",
	 L "transport \"t\" {\n\tdestination_by = \"host\"\n}\n",
	 {"3: destination_by = \"host\" is neither \"domain\" nor \"mx\""}},
	{"destination_by with relays",
	 L "transport \"t\" {\n\trelay = { \"[127.0.0.1]\" }\n\tdestination_by = \"mx\"\n}\n",
	 {"4: transport \"t\": destination_by applies to MX delivery only; remove it, or the "
	  "relay list"}},
	{"fallback to itself",
	 L "transport \"t\" {\n\tfallback = \"t\"\n}\n",
	 {"3: transport \"t\" cannot fall back to itself; name another transport"}},
	{"route without transport",
	 L "route \"*\" {\n}\n",
	 {"2: route \"*\" has no transport; add transport = \"NAME\""}},
	{"policy without level",
	 L "tls_policy \"p\" {\n\tca_file = \"/x\"\n}\n",
	 {"2: tls_policy \"p\" has no level; add level = \"none\", \"may\", \"encrypt\", "
	  "\"verify\", \"dane\" or \"dane-only\""}},

	/* duplicates */
	{"duplicate listen",
	 "listen \"l\" {\n}\nlisten \"l\" {\n\tport = 2526\n}\n",
	 {"3: listen \"l\" is declared twice (first at %F:1); remove or rename one"}},
	{"duplicate transport",
	 L "transport \"t\" {}\ntransport \"t\" {}\n",
	 {"3: transport \"t\" is declared twice (first at %F:2); remove or rename one"}},
	{"duplicate tls_policy",
	 L "tls_policy \"p\" { level = may }\ntls_policy \"p\" { level = none }\n",
	 {"3: tls_policy \"p\" is declared twice (first at %F:2); remove or rename one"}},
	{"duplicate route, other case",
	 L "transport \"t\" {}\nroute \"Example.com\" { transport = t }\n"
	   "route \"example.COM\" { transport = t }\n",
	 {"4: route \"example.COM\" is declared twice (first at %F:3); remove or rename "
	  "one"}},
	{"tls_policy with a built-in's name",
	 L "tls_policy \"verify\" {\n\tlevel = may\n}\n",
	 {"2: tls_policy \"verify\" duplicates the built-in policy of that name; choose "
	  "another name (none, may, encrypt, verify, dane and dane-only are built in)"}},
	{"duplicate queue",
	 L "queue {\n}\nqueue {\n}\n",
	 {"4: queue is declared twice (first at %F:2); merge the two"}},
	{"errors inside both duplicates",
	 "listen \"l\" {\n\tport = x\n}\nlisten \"l\" {\n\tport = y\n}\n",
	 {"2: port = \"x\" is not a port; use a number from 1 to 65535",
	  "4: listen \"l\" is declared twice (first at %F:1); remove or rename one",
	  "5: port = \"y\" is not a port; use a number from 1 to 65535"}},
	{"two listeners on one socket",
	 "listen \"a\" {\n\taddress = \"::1\"\n}\nlisten \"b\" {\n\taddress = \"0::1\"\n}\n",
	 {"4: listen \"b\" uses 0::1 port 2525 like listen \"a\" (line 1); change its "
	  "address or port"}},

	/* TLS */
	{"starttls without certificate",
	 "listen \"l\" {\n\ttls = \"starttls\"\n}\n",
	 {"2: listen \"l\": tls = \"starttls\" needs tls_cert and tls_key (PEM files)"}},
	{"smtps without key",
	 "listen \"l\" {\n\ttls = \"smtps\"\n\ttls_cert = \"/etc/relayd/cert.pem\"\n}\n",
	 {"2: listen \"l\": tls = \"smtps\" needs tls_key too"}},
	{"smtps with tls none",
	 L "transport \"t\" {\n\tsmtps = true\n\ttls = \"none\"\n}\n",
	 {"3: transport \"t\": smtps = true contradicts tls = \"none\" (level none); use tls "
	  "= \"encrypt\" or \"verify\", or drop smtps"}},
	{"smtps with a declared level none policy",
	 L "tls_policy \"plain\" { level = none }\ntransport \"t\" {\n\tsmtps = yes\n"
	   "\ttls = plain\n}\n",
	 {"4: transport \"t\": smtps = true contradicts tls = \"plain\" (level none); use tls "
	  "= \"encrypt\" or \"verify\", or drop smtps"}},
	{"auth_user without password file",
	 L "transport \"t\" {\n\tauth_user = \"me\"\n}\n",
	 {"3: transport \"t\": auth_user needs auth_password_file, the file that holds the "
	  "password"}},
	{"password file without auth_user",
	 L "transport \"t\" {\n\tauth_password_file = \"/etc/pw\"\n}\n",
	 {"3: transport \"t\": auth_password_file needs auth_user, the name to log in as"}},

	/* routes */
	{"bad route patterns",
	 L "transport \"t\" {}\nroute \"*.example.com\" { transport = t }\n"
	   "route \"\" { transport = t }\nroute \"mx:\" { transport = t }\n"
	   "route \"example.com.\" { transport = t }\nroute \"..com\" { transport = t }\n",
	 {"3: route \"*.example.com\" is not a valid pattern; write \".example.com\" for the "
	  "subdomains of example.com",
	  "4: route \"\" is not a valid pattern; use \"example.com\", \".example.com\" (its "
	  "subdomains), \"mx:.example.com\" (domains whose MX hosts end so) or \"*\"",
	  "5: route \"mx:\" is not a valid pattern; use \"example.com\", \".example.com\" "
	  "(its subdomains), \"mx:.example.com\" (domains whose MX hosts end so) or \"*\"",
	  "6: route \"example.com.\" is not a valid pattern; use \"example.com\", "
	  "\".example.com\" (its subdomains), \"mx:.example.com\" (domains whose MX hosts "
	  "end so) or \"*\"",
	  "7: route \"..com\" is not a valid pattern; use \"example.com\", \".example.com\" "
	  "(its subdomains), \"mx:.example.com\" (domains whose MX hosts end so) or "
	  "\"*\""}},

	/* queue */
	{"empty retry",
	 L "queue {\n\tretry = {}\n}\n",
	 {"2: queue: retry is empty; give at least one wait, e.g. retry = {\"5m\", "
	  "\"1h\"}"}},
	{"bad retry entries",
	 L "queue {\n\tretry = { \"1m\", \"0\",\n\t\t\"soon\" }\n}\n",
	 {"3: retry entry \"0\" is too short; it must be at least 1s",
	  "4: retry entry \"soon\" is not a duration; write e.g. \"30s\", \"5m\", \"2h\" or "
	  "\"5d\""}},
	{"bad queue durations",
	 L "queue {\n\tmax_lifetime = 0\n\tdelay_warning = -1\n}\n",
	 {"3: max_lifetime = \"0\" is too short; it must be at least 1s",
	  "4: delay_warning = \"-1\" is not a duration; write e.g. \"30s\", \"5m\", \"2h\", "
	  "\"5d\" or a number of seconds"}},

	/* cluster */
	{"cluster without redis",
	 L "cluster {\n\tnode = \"a\"\n}\n",
	 {"2: cluster: redis is required (the Redis server the fleet shares, e.g. redis = "
	  "\"127.0.0.1:6379\")"}},
	{"cluster redis not host:port",
	 L "cluster {\n\tredis = \"127.0.0.1:99999\"\n}\n",
	 {"3: cluster: redis = \"127.0.0.1:99999\" is not host:port; write e.g. "
	  "\"127.0.0.1:6379\" or \"[::1]:6379\""}},
	{"cluster bad bracket and node",
	 L "cluster {\n\tredis = \"[::1\"\n\tnode = \"a b\"\n}\n",
	 {"3: cluster: redis = \"[::1\" is not host:port; write e.g. \"127.0.0.1:6379\" or "
	  "\"[::1]:6379\"",
	  "4: cluster: node = \"a b\" is not a node name: letters, digits, '.', '-' and '_', at "
	  "most 64"}},
	{"cluster redis by name",
	 L "cluster {\n\tredis = \"redis.example:6379\"\n}\n",
	 {"3: cluster: redis = \"redis.example:6379\": write the server's IP address, not a name "
	  "(e.g. \"10.0.0.5:6379\")"}},

	/* the whole file */
	{"empty file",
	 "",
	 {" no listen section: relayd would accept no mail; add one, e.g. listen "
	  "\"local\" { port = 2525 }"}},
	{"comments only",
	 "# nothing\n// here\n/* at\n all */\n",
	 {" no listen section: relayd would accept no mail; add one, e.g. listen "
	  "\"local\" { port = 2525 }"}},
};

static void
test_errors(void **state)
{
	size_t i;

	for (i = 0; i < NELEM(err_cases); i++) {
		struct errs e = {.n = 0};
		char *path;
		struct conf *c = load_text(err_cases[i].text, &e, &path);

		if (c != NULL)
			fail_msg("%s: got a configuration, want NULL", err_cases[i].name);
		check_errors(err_cases[i].name, path, &e, err_cases[i].want);
		errs_free(&e);
		unlink(path);
		free(path);
	}
}

/* The cluster section: host and port apart, the default port and node. */
static void
test_cluster_section(void **state)
{
	static const struct {
		const char *text, *host, *node;
		int port;
	} cases[] = {
		{L "hostname = \"relay-a.example\"\ncluster {\n\tredis = \"10.0.0.5:7000\"\n}\n",
		 "10.0.0.5", "relay-a.example", 7000},
		{L "cluster {\n\tredis = \"10.0.0.5\"\n\tnode = \"b_2\"\n}\n", "10.0.0.5", "b_2",
		 6379},
		{L "cluster {\n\tredis = \"[2001:db8::5]:6380\"\n\tnode = \"c\"\n}\n",
		 "2001:db8::5", "c", 6380},
		{L "cluster {\n\tredis = \"::1\"\n\tnode = \"d\"\n}\n", "::1", "d", 6379},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct errs e = {.n = 0};
		char *path;
		struct conf *c = load_text(cases[i].text, &e, &path);
		if (!c)
			fail_msg("case %zu: %s", i, e.n ? e.msg[0] : "no configuration");
		assert_non_null(c->cluster);
		assert_string_equal(c->cluster->host, cases[i].host);
		assert_string_equal(c->cluster->node, cases[i].node);
		assert_int_equal(c->cluster->port, cases[i].port);
		conf_free(c);
		errs_free(&e);
		unlink(path);
		free(path);
	}
	struct errs e = {.n = 0};
	char *path;
	struct conf *c = load_text(L, &e, &path);
	assert_non_null(c);
	assert_null(c->cluster);
	conf_free(c);
	errs_free(&e);
	unlink(path);
	free(path);
}

/* Comments of every kind, anywhere, must not move the line numbers. */
static void
test_comment_lines(void **state)
{
	static const char text[] = "# a comment\n"				    /* 1 */
				   "// another\n"				    /* 2 */
				   "/* a block\n"				    /* 3 */
				   "   over lines */\n"				    /* 4 */
				   "listen \"l\" { # trailing\n"		    /* 5 */
				   "\tallow = { \"127.0.0.0/8\", # inside a list\n" /* 6 */
				   "\t\t\"bogus\" } // after\n"			    /* 7 */
				   "\t/* block */ port = 0 /* more */\n"	    /* 8 */
				   "}\n"					    /* 9 */
				   "#\n#\n#\n"					    /* 10-12 */
				   "transport \"t\" {\n"			    /* 13 */
				   "\thelo = \"x#y\"\n"	      /* 14: '#' in quotes */
				   "\trelay = { \"a//b\" }\n" /* 15: '//' in quotes */
				   "}\n";		      /* 16 */
	static const char *const want[] = {
		"7: allow entry \"bogus\" is not a network; write e.g. \"10.0.0.0/8\", "
		"\"2001:db8::/32\" or an address",
		"8: port = \"0\" is not a port; use a number from 1 to 65535",
		"14: helo = \"x#y\" is not a host name; write e.g. \"relay.example.com\" or "
		"\"[192.0.2.1]\"",
		"15: relay \"a//b\" is not a smarthost; write \"host\", \"host:port\", "
		"\"[ip]:port\" "
		"or \"[host]:port\"",
		NULL,
	};
	struct errs e = {.n = 0};
	char *path;

	assert_null(load_text(text, &e, &path));
	check_errors("comments", path, &e, want);
	errs_free(&e);
	unlink(path);
	free(path);
}

/* Every error is reported, in file order, not just the first. */
static void
test_many_errors(void **state)
{
	static const char text[] = "# relayd.conf with one mistake of each kind\n"   /* 1 */
				   "hostname = \"relay.example.com\"\n"		     /* 2 */
				   "listen \"local\" {\n"			     /* 3 */
				   "\tport = 99999\n"				     /* 4 */
				   "\ttls = \"starttls\"\n"			     /* 5 */
				   "}\n"					     /* 6 */
				   "transport \"gmail\" {\n"			     /* 7 */
				   "\trelay = { \"[smtp.gmail.com]:99999\" }\n"	     /* 8 */
				   "\ttls = \"strict\"\n"			     /* 9 */
				   "\tconnect_timeout = \"5x\"\n"		     /* 10 */
				   "}\n"					     /* 11 */
				   "route \"gmail.com\" { transport = \"gmial\" }\n" /* 12 */
				   "route \"*\" { transport = \"gmail\" }\n"	     /* 13 */
				   "queue {\n"					     /* 14 */
				   "\tmax_lifetime = \"forever\"\n"		     /* 15 */
				   "}\n";					     /* 16 */
	static const char *const want[] = {
		"4: port = \"99999\" is not a port; use a number from 1 to 65535",
		"5: listen \"local\": tls = \"starttls\" needs tls_cert and tls_key (PEM files)",
		"8: relay \"[smtp.gmail.com]:99999\": port 99999 is out of range; use a port "
		"from 1 to 65535",
		"9: tls_policy \"strict\" is not declared (transport \"gmail\"); declare it or "
		"use \"none\", \"may\", \"encrypt\", \"verify\", \"dane\" or \"dane-only\"",
		"10: connect_timeout = \"5x\" is not a duration; write e.g. \"30s\", \"5m\", "
		"\"2h\", \"5d\" or a number of seconds",
		"12: transport \"gmial\" is not declared (route \"gmail.com\")",
		"15: max_lifetime = \"forever\" is not a duration; write e.g. \"30s\", \"5m\", "
		"\"2h\", \"5d\" or a number of seconds",
		NULL,
	};
	struct errs e = {.n = 0};
	char *path;

	assert_null(load_text(text, &e, &path));
	check_errors("many errors", path, &e, want);
	errs_free(&e);
	unlink(path);
	free(path);
}

/*
 * A syntax error stops libconfuse: values before it are still checked,
 * the syntax error comes in its place, and nothing is said about what
 * could be declared after it (no "not declared", no "missing").
 */
static void
test_syntax_error_stops(void **state)
{
	static const char text[] = "listen \"l\" {\n"			     /* 1 */
				   "\tport = 0\n"			     /* 2 */
				   "}\n"				     /* 3 */
				   "route \"*\" { transport = \"later\" }\n" /* 4 */
				   "transport \"t\" {\n"		     /* 5 */
				   "\tport 25\n"			     /* 6 */
				   "}\n"				     /* 7 */
				   "transport \"later\" { port = 0 }\n";     /* 8 */
	static const char *const want[] = {
		"2: port = \"0\" is not a port; use a number from 1 to 65535",
		"6: missing \"=\" after \"port\"; write port = VALUE",
		NULL,
	};
	struct errs e = {.n = 0};
	char *path;

	assert_null(load_text(text, &e, &path));
	check_errors("syntax error", path, &e, want);
	errs_free(&e);
	unlink(path);
	free(path);
}

static void
test_missing_file(void **state)
{
	struct errs e = {.n = 0};

	assert_null(conf_load("/nonexistent/relayd.conf", collect, &e));
	assert_int_equal(e.n, 1);
	/* No line to name: "FILE: message", never "FILE:0:". */
	assert_string_equal(e.msg[0],
			    "/nonexistent/relayd.conf: cannot open: No such file or directory");
	errs_free(&e);
	assert_null(conf_load("/", collect, &e));
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msg[0], "/: cannot open: Is a directory");
	errs_free(&e);
	/* No callback: still NULL, nothing printed, nothing leaked. */
	assert_null(conf_load("/nonexistent/relayd.conf", NULL, NULL));
}

/* The file is named in errors exactly as given, relative or not. */
static void
test_file_as_given(void **state)
{
	struct errs e = {.n = 0};
	char *path = write_temp(L "usr = relayd\n"), *rel, *dir = strdup(path), *cwd;

	*strrchr(dir, '/') = '\0';
	rel = strrchr(path, '/') + 1;
	cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(dir), 0);
	assert_null(conf_load(rel, collect, &e));
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(strncmp(e.msg[0], rel, strlen(rel)), 0);
	assert_string_equal(e.msg[0] + strlen(rel), ":2: unknown key or section \"usr\"; "
						    "did you mean \"user\"?");
	errs_free(&e);
	unlink(path);
	free(path);
	free(dir);
	free(cwd);
}

/* With only a listener, everything else is the contract's default. */
static void
test_defaults(void **state)
{
	struct errs e = {.n = 0};
	struct conf *c = load_text("listen \"l\" {}\ntransport \"t\" {}\n", &e, NULL);
	const struct conf_listen *l;
	const struct conf_transport *t;
	const struct conf_queue *q;
	static const unsigned retry[] = {60, 300, 900, 1800, 3600, 7200, 14400};
	static const char *const builtin[] = {"none",	"may",	"encrypt",
					      "verify", "dane", "dane-only"};
	struct conf_cidr net;
	char host[256];
	size_t i;

	assert_int_equal(e.n, 0);
	assert_non_null(c);

	memset(host, 0, sizeof(host));
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->hostname, host);
	char pm[300];
	snprintf(pm, sizeof(pm), "postmaster@%s", host);
	assert_string_equal(c->postmaster, pm);
	assert_string_equal(c->spool, "/var/spool/relayd");
	assert_string_equal(c->control_socket, "/var/spool/relayd/control.sock");
	assert_null(c->user);
	assert_null(c->dns_servers);
	assert_int_equal(c->ndns_servers, 0);
	assert_null(c->metrics_listen);

	assert_int_equal(c->nlisten, 1);
	l = &c->listen[0];
	assert_string_equal(l->name, "l");
	assert_int_equal(l->line, 1);
	assert_string_equal(l->address, "127.0.0.1");
	assert_int_equal(l->port, 2525);
	assert_int_equal(l->tls, LISTEN_TLS_NONE);
	assert_null(l->tls_cert);
	assert_null(l->tls_key);
	assert_int_equal(l->tls_min_version, CONF_TLSV12);
	assert_null(l->ciphers);
	assert_false(l->require_tls);
	assert_int_equal(l->nallow, 2);
	assert_int_equal(value_cidr("127.0.0.0/8", &net), 0);
	assert_memory_equal(&l->allow[0], &net, sizeof(net));
	assert_int_equal(value_cidr("::1/128", &net), 0);
	assert_memory_equal(&l->allow[1], &net, sizeof(net));
	assert_null(l->auth_users);
	assert_int_equal(l->max_message_size, 50 * 1024 * 1024);
	assert_int_equal(l->max_recipients, 1000);
	assert_int_equal(l->max_clients, 1000);
	assert_int_equal(l->bare_newline, BARE_NEWLINE_REJECT);
	assert_int_equal(l->timeout, 300);
	assert_int_equal(l->auth_fail_limit, 5);
	assert_int_equal(l->auth_fail_window, 600);

	assert_int_equal(c->ntls_policy, CONF_TLS_BUILTINS);
	for (i = 0; i < CONF_TLS_BUILTINS; i++) {
		const struct conf_tls_policy *p = &c->tls_policy[i];

		assert_string_equal(p->name, builtin[i]);
		assert_ptr_equal(conf_policy_find(c, builtin[i]), p);
		assert_int_equal(p->line, 0);
		assert_int_equal(p->level, (int)i);
		assert_int_equal(p->min_version, CONF_TLSV12);
		assert_null(p->ca_file);
		assert_null(p->match);
		assert_int_equal(p->nmatch, 0);
		assert_null(p->ciphers);
	}
	assert_int_equal(c->tls_policy[3].level, TLS_LEVEL_VERIFY);

	assert_int_equal(c->ntransport, 1);
	t = conf_transport_find(c, "t");
	assert_ptr_equal(t, &c->transport[0]);
	assert_int_equal(t->line, 2);
	assert_null(t->relay);
	assert_int_equal(t->nrelay, 0);
	assert_int_equal(t->port, 25);
	assert_false(t->smtps);
	assert_ptr_equal(t->tls, conf_policy_find(c, "may"));
	assert_null(t->auth_user);
	assert_null(t->auth_password_file);
	assert_null(t->source_address);
	assert_string_equal(t->helo, c->hostname);
	assert_int_equal(t->max_connections, 10);
	assert_int_equal(t->max_messages_per_connection, 100);
	assert_int_equal(t->rate.n, 0);
	assert_int_equal(t->connect_timeout, 30);
	assert_int_equal(t->command_timeout, 300);
	assert_int_equal(t->data_timeout, 600);
	assert_null(t->fallback);
	assert_int_equal(t->fallback_hold, 4 * 3600);

	assert_int_equal(c->nroute, 0);
	q = &c->queue;
	assert_int_equal(q->nretry, NELEM(retry));
	assert_memory_equal(q->retry, retry, sizeof(retry));
	assert_int_equal(q->max_lifetime, 5 * 86400);
	assert_int_equal(q->delay_warning, 4 * 3600);

	assert_null(conf_transport_find(c, "nope"));
	assert_null(conf_transport_find(c, NULL));
	assert_null(conf_policy_find(c, "nope"));
	assert_null(conf_transport_find(NULL, "t"));
	conf_free(c);
	conf_free(NULL);
}

/* An empty queue section keeps the default retry list too. */
static void
test_queue_section_defaults(void **state)
{
	struct errs e = {.n = 0};
	struct conf *c = load_text(L "queue {\n\tdelay_warning = \"0\"\n}\n", &e, NULL);

	assert_int_equal(e.n, 0);
	assert_non_null(c);
	assert_int_equal(c->queue.nretry, 7);
	assert_int_equal(c->queue.retry[6], 14400);
	assert_int_equal(c->queue.max_lifetime, 5 * 86400);
	assert_int_equal(c->queue.delay_warning, 0);
	conf_free(c);
}

/* Every key set to something other than its default; bare and quoted. */
static const char every_key_text[] =
	"hostname = Relay.Example.COM\n"
	"spool = \"/tmp/relayd-spool\"\n"
	"control_socket = \"/tmp/relayd.sock\"\n"
	"user = relayd\n"
	"dns_servers = { \"127.0.0.1\", \"127.0.0.1:5353\", \"[::1]:53\", \"::1\" }\n"
	"metrics_listen = \"[::1]:9100\"\n"
	"listen \"in\" {\n"
	"\taddress = \"::\"\n"
	"\tport = \"2526\"\n"
	"\ttls = starttls\n"
	"\ttls_cert = \"/etc/c.pem\"\n"
	"\ttls_key = \"/etc/k.pem\"\n"
	"\ttls_min_version = \"TLSv1.3\"\n"
	"\tciphers = \"ECDHE+AESGCM:AES128-SHA\"\n"
	"\trequire_tls = true\n"
	"\tallow = { \"10.0.0.0/8\" }\n"
	"\tallow += { \"2001:db8::/32\" }\n"
	"\tauth_users = \"/etc/relayd/users\"\n"
	"\tmax_message_size = 1048576\n"
	"\tmax_recipients = \"50\"\n"
	"\tmax_clients = 20\n"
	"\tbare_newline = \"normalize\"\n"
	"\tauth_fail_limit = 0\n"
	"\tauth_fail_window = \"1h\"\n"
	"}\n"
	"listen \"tls\" {\n"
	"\tport = 465\n"
	"\ttls = \"smtps\"\n"
	"\ttls_cert = \"/etc/c.pem\"\n"
	"\ttls_key = \"/etc/k.pem\"\n"
	"\tallow = {}\n"
	"\tmax_message_size = \"512K\"\n"
	"}\n"
	"tls_policy \"google\" {\n"
	"\tlevel = \"verify\"\n"
	"\tmin_version = \"TLSv1.3\"\n"
	"\tca_file = \"/etc/ca.pem\"\n"
	"\tmatch = { \".google.com\", \"smtp.gmail.com\" }\n"
	"\tciphers = \"HIGH:!aNULL\"\n"
	"}\n"
	"transport \"gmail\" {\n"
	"\trelay = { \"smtp.example.net:587\", \"[192.0.2.1]\", \"[2001:db8::1]:2525\",\n"
	"\t\t\"mx.example.org\", \"192.0.2.2\", \"[smtp.example.org]:465\" }\n"
	"\tport = 2525\n"
	"\tsmtps = true\n"
	"\ttls = \"google\"\n"
	"\tauth_user = \"me\"\n"
	"\tauth_password_file = \"/etc/relayd/pw\"\n"
	"\tsource_address = \"192.0.2.10\"\n"
	"\thelo = \"[192.0.2.10]\"\n"
	"\tmax_connections = 3\n"
	"\tmax_messages_per_connection = 1\n"
	"\trate = \"100/m\"\n"
	"\twarmup = { \"5/m\", \"1/s\", \"200/d\" }\n"
	"\twarmup_start = \"2026-12-01\"\n"
	"\twarmup_overflow = \"direct\"\n"
	"\tconnect_timeout = 10\n"
	"\tcommand_timeout = \"2m\"\n"
	"\tdata_timeout = \"1h\"\n"
	"\tfallback = \"direct\"\n"
	"\tfallback_hold = 0\n"
	"}\n"
	"transport \"direct\" {\n"
	"\ttls = verify\n"
	"\tdestination_by = mx\n"
	"}\n"
	"route \"Gmail.COM\" { transport = \"gmail\" }\n"
	"route \".Example.com\" { transport = \"direct\" }\n"
	"route \"MX:.Google.com\" { transport = \"gmail\" }\n"
	"route \"mx:outlook.com\" { transport = \"direct\" }\n"
	"route \"*\" { transport = \"direct\" }\n"
	"queue {\n"
	"\tretry = { 60, \"2m\", \"1h\" }\n"
	"\tmax_lifetime = 3600\n"
	"\tdelay_warning = \"30m\"\n"
	"}\n";

static void
test_every_key(void **state)
{
	const char *text = every_key_text;
	static const struct {
		const char *pattern, *domain, *transport;
		enum conf_route_kind kind;
	} routes[] = {
		{"Gmail.COM", "gmail.com", "gmail", ROUTE_EXACT},
		{".Example.com", ".example.com", "direct", ROUTE_SUFFIX},
		{"MX:.Google.com", ".google.com", "gmail", ROUTE_MX},
		{"mx:outlook.com", "outlook.com", "direct", ROUTE_MX},
		{"*", NULL, "direct", ROUTE_ANY},
	};
	static const struct {
		const char *host;
		int port;
		bool literal;
	} relays[] = {
		{"smtp.example.net", 587, false}, {"192.0.2.1", 0, true},
		{"2001:db8::1", 2525, true},	  {"mx.example.org", 0, false},
		{"192.0.2.2", 0, true},		  {"smtp.example.org", 465, false},
	};
	static const char *const dns[] = {"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"};
	struct errs e = {.n = 0};
	struct conf *c = load_text(text, &e, NULL);
	const struct conf_listen *l;
	const struct conf_tls_policy *p;
	const struct conf_transport *t;
	struct conf_cidr net;
	size_t i;

	for (i = 0; i < e.n; i++)
		print_error("unexpected error: %s\n", e.msg[i]);
	assert_int_equal(e.n, 0);
	assert_non_null(c);

	assert_string_equal(c->hostname, "Relay.Example.COM");
	assert_string_equal(c->spool, "/tmp/relayd-spool");
	assert_string_equal(c->control_socket, "/tmp/relayd.sock");
	assert_string_equal(c->user, "relayd");
	assert_int_equal(c->ndns_servers, NELEM(dns));
	for (i = 0; i < NELEM(dns); i++)
		assert_string_equal(c->dns_servers[i], dns[i]);
	assert_string_equal(c->metrics_listen, "[::1]:9100");

	assert_int_equal(c->nlisten, 2);
	l = &c->listen[0];
	assert_string_equal(l->address, "::");
	assert_int_equal(l->port, 2526);
	assert_int_equal(l->tls, LISTEN_TLS_STARTTLS);
	assert_string_equal(l->tls_cert, "/etc/c.pem");
	assert_string_equal(l->tls_key, "/etc/k.pem");
	assert_int_equal(l->tls_min_version, CONF_TLSV13);
	assert_string_equal(l->ciphers, "ECDHE+AESGCM:AES128-SHA");
	assert_true(l->require_tls);
	assert_int_equal(l->nallow, 2);
	assert_int_equal(value_cidr("2001:db8::/32", &net), 0);
	assert_memory_equal(&l->allow[1], &net, sizeof(net));
	assert_string_equal(l->auth_users, "/etc/relayd/users");
	assert_int_equal(l->max_message_size, 1048576);
	assert_int_equal(l->max_recipients, 50);
	assert_int_equal(l->max_clients, 20);
	assert_int_equal(l->bare_newline, BARE_NEWLINE_NORMALIZE);
	assert_int_equal(l->auth_fail_limit, 0);
	assert_int_equal(l->auth_fail_window, 3600);
	l = &c->listen[1];
	assert_int_equal(l->auth_fail_limit, 5);
	assert_int_equal(l->auth_fail_window, 600);
	assert_int_equal(l->tls, LISTEN_TLS_SMTPS);
	assert_int_equal(l->nallow, 0); /* "allow = {}": AUTH only, not the default */
	assert_int_equal(l->max_message_size, 512 * 1024);

	assert_int_equal(c->ntls_policy, CONF_TLS_BUILTINS + 1);
	p = conf_policy_find(c, "google");
	assert_ptr_equal(p, &c->tls_policy[CONF_TLS_BUILTINS]);
	assert_int_equal(p->line, 34);
	assert_int_equal(p->level, TLS_LEVEL_VERIFY);
	assert_int_equal(p->min_version, CONF_TLSV13);
	assert_string_equal(p->ca_file, "/etc/ca.pem");
	assert_int_equal(p->nmatch, 2);
	assert_string_equal(p->match[0], ".google.com");
	assert_string_equal(p->match[1], "smtp.gmail.com");
	assert_string_equal(p->ciphers, "HIGH:!aNULL");

	t = conf_transport_find(c, "gmail");
	assert_non_null(t);
	assert_int_equal(t->nrelay, NELEM(relays));
	for (i = 0; i < NELEM(relays); i++) {
		if (strcmp(t->relay[i].host, relays[i].host) != 0 ||
		    t->relay[i].port != relays[i].port || t->relay[i].literal != relays[i].literal)
			fail_msg("relay %zu: got %s %d %d, want %s %d %d", i, t->relay[i].host,
				 t->relay[i].port, t->relay[i].literal, relays[i].host,
				 relays[i].port, relays[i].literal);
	}
	assert_int_equal(t->port, 2525);
	assert_true(t->smtps);
	assert_ptr_equal(t->tls, p);
	assert_string_equal(t->auth_user, "me");
	assert_string_equal(t->auth_password_file, "/etc/relayd/pw");
	assert_string_equal(t->source_address, "192.0.2.10");
	assert_string_equal(t->helo, "[192.0.2.10]");
	assert_int_equal(t->max_connections, 3);
	assert_int_equal(t->max_messages_per_connection, 1);
	assert_int_equal(t->rate.n, 100);
	assert_int_equal(t->rate.interval, 60);
	assert_int_equal(t->nwarmup, 3);
	assert_int_equal(t->warmup[0].n, 5);
	assert_int_equal(t->warmup[0].interval, 60);
	assert_int_equal(t->warmup[1].n, 1);
	assert_int_equal(t->warmup[1].interval, 1);
	assert_int_equal(t->warmup[2].n, 200);
	assert_int_equal(t->warmup[2].interval, 86400);
	assert_int_equal(t->warmup_start, 20788); /* 2026-12-01 */
	assert_ptr_equal(t->warmup_overflow, conf_transport_find(c, "direct"));
	assert_int_equal(t->connect_timeout, 10);
	assert_int_equal(t->command_timeout, 120);
	assert_int_equal(t->data_timeout, 3600);
	assert_ptr_equal(t->fallback, conf_transport_find(c, "direct"));
	assert_int_equal(t->fallback_hold, 0);
	assert_ptr_equal(conf_transport_find(c, "direct")->tls, conf_policy_find(c, "verify"));
	assert_string_equal(conf_transport_find(c, "direct")->helo, "Relay.Example.COM");
	assert_true(conf_transport_find(c, "direct")->by_mx);
	assert_false(t->by_mx);

	assert_int_equal(c->nroute, NELEM(routes));
	for (i = 0; i < NELEM(routes); i++) {
		const struct conf_route *r = &c->route[i];

		assert_string_equal(r->pattern, routes[i].pattern);
		if (r->kind != routes[i].kind)
			fail_msg("route %s: got kind %d, want %d", r->pattern, r->kind,
				 routes[i].kind);
		if (routes[i].domain == NULL)
			assert_null(r->domain);
		else
			assert_string_equal(r->domain, routes[i].domain);
		assert_string_equal(r->transport->name, routes[i].transport);
		assert_int_equal(r->line, 67 + (int)i);
	}

	assert_int_equal(c->queue.nretry, 3);
	assert_int_equal(c->queue.retry[0], 60);
	assert_int_equal(c->queue.retry[1], 120);
	assert_int_equal(c->queue.retry[2], 3600);
	assert_int_equal(c->queue.max_lifetime, 3600);
	assert_int_equal(c->queue.delay_warning, 1800);
	conf_free(c);
}

/*
 * Where the example is: under $RELAYD_SRCDIR, else conf/ seen from the
 * working directory, from the test binary (build/tests/ or
 * build/san/tests/), or from this source file.
 */
static char *
example_path(void)
{
	static const char *const ups[] = {".", "..", "../..", "../../.."};
	const char *src = getenv("RELAYD_SRCDIR"), *bases[3];
	char exe[PATH_MAX], file[PATH_MAX], *p;
	ssize_t n;
	size_t b, i;

	if (src != NULL) {
		assert_true(asprintf(&p, "%s/conf/relayd.conf.example", src) > 0);
		return p;
	}
	bases[0] = ".";
	bases[1] = NULL;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		bases[1] = exe;
	}
	snprintf(file, sizeof(file), "%s", __FILE__);
	if (strrchr(file, '/') != NULL)
		*strrchr(file, '/') = '\0';
	else
		snprintf(file, sizeof(file), ".");
	bases[2] = file;
	for (b = 0; b < NELEM(bases); b++) {
		for (i = 0; bases[b] != NULL && i < NELEM(ups); i++) {
			assert_true(asprintf(&p, "%s/%s/conf/relayd.conf.example", bases[b],
					     ups[i]) > 0);
			if (access(p, R_OK) == 0)
				return p;
			free(p);
		}
	}
	fail_msg("conf/relayd.conf.example not found; run from the source tree or set "
		 "RELAYD_SRCDIR");
	return NULL;
}

/* The example that `make run` uses loads and says what it promises. */
static void
test_example(void **state)
{
	struct errs e = {.n = 0};
	char *path = example_path();
	struct conf *c = conf_load(path, collect, &e);
	const struct conf_transport *gmail, *direct;
	const struct conf_route *r;
	size_t i;

	for (i = 0; i < e.n; i++)
		print_error("example: %s\n", e.msg[i]);
	assert_int_equal(e.n, 0);
	assert_non_null(c);
	assert_string_equal(c->spool, "./var/spool");
	assert_string_equal(c->control_socket, "./var/spool/control.sock");

	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].name, "local");
	assert_string_equal(c->listen[0].address, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 2525);

	gmail = conf_transport_find(c, "gmail");
	direct = conf_transport_find(c, "direct");
	assert_non_null(gmail);
	assert_non_null(direct);
	assert_int_equal(gmail->nrelay, 1);
	assert_string_equal(gmail->relay[0].host, "127.0.0.1");
	assert_int_equal(gmail->relay[0].port, 10025);
	assert_true(gmail->relay[0].literal);
	assert_int_equal(direct->nrelay, 0);

	assert_int_equal(c->nroute, 3);
	r = &c->route[0];
	assert_string_equal(r->pattern, "gmail.com");
	assert_ptr_equal(r->transport, gmail);
	assert_string_equal(c->route[1].pattern, "googlemail.com");
	assert_ptr_equal(c->route[1].transport, gmail);
	assert_string_equal(c->route[2].pattern, "*");
	assert_ptr_equal(c->route[2].transport, direct);
	assert_int_equal(c->queue.nretry, 7);
	assert_int_equal(c->queue.max_lifetime, 5 * 86400);
	assert_int_equal(c->queue.delay_warning, 4 * 3600);
	conf_free(c);
	free(path);
}

/* Every key of the contract appears in the example, set or commented out. */
static void
test_example_documents_every_key(void **state)
{
	static const char *const keys[] = {
		"hostname",
		"spool",
		"control_socket",
		"user",
		"postmaster",
		"dns_servers",
		"metrics_listen",
		"address",
		"port",
		"tls",
		"tls_cert",
		"tls_key",
		"tls_min_version",
		"require_tls",
		"allow",
		"auth_users",
		"max_message_size",
		"max_recipients",
		"max_clients",
		"bare_newline",
		"timeout",
		"auth_fail_limit",
		"auth_fail_window",
		"level",
		"min_version",
		"ca_file",
		"match",
		"ciphers",
		"relay",
		"destination_by",
		"smtps",
		"auth_user",
		"auth_password_file",
		"source_address",
		"helo",
		"max_connections",
		"max_messages_per_connection",
		"rate",
		"warmup",
		"warmup_start",
		"warmup_overflow",
		"connect_timeout",
		"command_timeout",
		"data_timeout",
		"fallback",
		"fallback_hold",
		"transport",
		"retry",
		"max_lifetime",
		"delay_warning",
	};
	static const char *const sections[] = {
		"listen \"", "tls_policy \"", "transport \"", "route \"", "queue {", "include(",
	};
	char *path = example_path(), *text, want[64];
	FILE *fp = fopen(path, "r");
	size_t i, n;

	assert_non_null(fp);
	text = calloc(1, 65536);
	assert_non_null(text);
	n = fread(text, 1, 65535, fp);
	assert_true(n > 0);
	fclose(fp);
	for (i = 0; i < NELEM(keys); i++) {
		snprintf(want, sizeof(want), "%s = ", keys[i]);
		if (strstr(text, want) == NULL)
			fail_msg("example: got no \"%s\", want every key shown", want);
	}
	for (i = 0; i < NELEM(sections); i++)
		if (strstr(text, sections[i]) == NULL)
			fail_msg("example: got no \"%s\", want every section shown", sections[i]);
	free(text);
	free(path);
}

/* include() by absolute path; errors name the included file and its line. */
static void
test_include(void **state)
{
	struct errs e = {.n = 0};
	char *sub = write_temp("# transports\ntransport \"direct\" {\n\tport = 2525\n}\n");
	char *text, *main;
	struct conf *c;

	assert_true(asprintf(&text,
			     "listen \"l\" {}\ninclude(\"%s\")\n"
			     "route \"*\" { transport = \"direct\" }\n",
			     sub) > 0);
	main = write_temp(text);
	c = conf_load(main, collect, &e);
	assert_int_equal(e.n, 0);
	assert_non_null(c);
	assert_int_equal(c->ntransport, 1);
	assert_int_equal(c->transport[0].port, 2525);
	assert_int_equal(c->transport[0].line, 2);
	assert_ptr_equal(c->route[0].transport, &c->transport[0]);
	assert_int_equal(c->route[0].line, 3);
	conf_free(c);
	unlink(main);
	free(main);
	free(text);
	unlink(sub);
	free(sub);
}

/* Errors in and around an included file, in file order, with the right
 * file names; and a relative include is taken from the including file's
 * directory. */
static void
test_include_errors(void **state)
{
	char dir[] = "/tmp/relayd-test-dir-XXXXXX";
	struct errs e = {.n = 0};
	char *main, *sub, *want[4], *cwd;
	size_t i;

	assert_non_null(mkdtemp(dir));
	sub = write_named(dir, "sub.conf", "\n\ntransport \"t\" {\n\tport = 0\n}\n");
	main = write_named(dir, "main.conf",
			   "listen \"l\" { port = 0 }\n"	 /* 1 */
			   "include(\"sub.conf\")\n"		 /* 2 */
			   "route \"*\" { transport = \"t\" }\n" /* 3 */
			   "transport \"u\" { port = 0 }\n");	 /* 4 */
	assert_null(conf_load(main, collect, &e));
	assert_true(asprintf(&want[0],
			     "%s:1: port = \"0\" is not a port; use a number from "
			     "1 to 65535",
			     main) > 0);
	assert_true(asprintf(&want[1],
			     "%s:4: port = \"0\" is not a port; use a number from "
			     "1 to 65535",
			     sub) > 0);
	assert_true(asprintf(&want[2],
			     "%s:4: port = \"0\" is not a port; use a number from "
			     "1 to 65535",
			     main) > 0);
	assert_int_equal(e.n, 3);
	for (i = 0; i < 3; i++) {
		if (strcmp(e.msg[i], want[i]) != 0)
			fail_msg("include error %zu: got \"%s\", want \"%s\"", i + 1, e.msg[i],
				 want[i]);
		free(want[i]);
	}
	errs_free(&e);

	/* Loaded from its own directory, it is named as given: "main.conf". */
	cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(dir), 0);
	assert_null(conf_load("main.conf", collect, &e));
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.msg[1], "sub.conf:4: port = \"0\" is not a port; use a number "
				      "from 1 to 65535");
	errs_free(&e);

	/* A syntax error inside stops everything, and is reported there. */
	unlink(sub);
	free(sub);
	sub = write_named(dir, "sub.conf", "transport \"t\" {\n\tbogus = 1\n}\n");
	assert_null(conf_load(main, collect, &e));
	assert_int_equal(e.n, 2);
	assert_true(asprintf(&want[0],
			     "%s:2: unknown key \"bogus\" in transport \"t\"; see "
			     "the keys of transport in the documentation",
			     sub) > 0);
	assert_string_equal(e.msg[1], want[0]);
	free(want[0]);
	errs_free(&e);

	unlink(sub);
	free(sub);
	unlink(main);
	free(main);
	assert_int_equal(rmdir(dir), 0);
}

/* A missing include is reported where it is named, the rest is still
 * checked, and what it might have declared is not called missing. */
static void
test_include_missing(void **state)
{
	static const char *const want[] = {
		"2: cannot include \"/nonexistent/sub.conf\": No such file or directory",
		"4: port = \"0\" is not a port; use a number from 1 to 65535",
		NULL,
	};
	static const char *const loop_want[] = {
		"1: include(\"%F\") nests includes more than 8 deep; does a file include "
		"itself?",
		NULL,
	};
	struct errs e = {.n = 0};
	char *path, *text;

	assert_null(load_text("listen \"l\" {}\n"
			      "include(\"/nonexistent/sub.conf\")\n"
			      "route \"*\" { transport = \"declared-there\" }\n"
			      "transport \"t\" { port = 0 }\n",
			      &e, &path));
	check_errors("missing include", path, &e, want);
	errs_free(&e);
	unlink(path);
	free(path);

	/* A file that includes itself. */
	path = write_temp("");
	assert_true(asprintf(&text, "include(\"%s\")\n", path) > 0);
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs(text, fp);
		fclose(fp);
	}
	assert_null(conf_load(path, collect, &e));
	check_errors("include loop", path, &e, loop_want);
	errs_free(&e);
	unlink(path);
	free(path);
	free(text);
}

/* Loading again after a failure works: libconfuse's lexer is global. */
static void
test_load_again(void **state)
{
	struct errs e = {.n = 0};
	char *path = example_path();
	struct conf *c;
	int i;

	for (i = 0; i < 3; i++) {
		assert_null(load_text(L "transport \"t\" {\n\tport 25\n", &e, NULL));
		assert_int_equal(e.n, 1);
		errs_free(&e);
		c = conf_load(path, collect, &e);
		assert_non_null(c);
		conf_free(c);
	}
	free(path);
}

/* Where each key and section was written, for the checks of relayd -n. */
static void
test_where(void **state)
{
	char dir[] = "/tmp/relayd-test-dir-XXXXXX";
	struct errs e = {.n = 0};
	char *main, *sub;
	struct conf *c;
	static const struct {
		const char *kind, *name, *key;
		bool in_sub;
		int line;
	} t[] = {
		{NULL, NULL, "user", false, 2},			   /* written */
		{NULL, NULL, "spool", false, 0},		   /* global default: no line */
		{"listen", "main", NULL, false, 3},		   /* the section */
		{"listen", "main", "tls_key", false, 6},	   /* a key */
		{"listen", "main", "auth_users", false, 3},	   /* default: the section */
		{"transport", "t", "auth_password_file", true, 4}, /* in the include */
		{"transport", "t", NULL, true, 2},
		{"tls_policy", "p", "ca_file", false, 11},
		{"route", "*", "transport", false, 13},
		{"queue", NULL, "max_lifetime", false, 15},
		{"listen", "nosuch", "port", false, 0}, /* unknown section: the file */
	};
	size_t i;

	assert_non_null(mkdtemp(dir));
	sub = write_named(dir, "sub.conf",
			  "\ntransport \"t\" {\n\tauth_user = \"u\"\n"
			  "\tauth_password_file = \"/pw\"\n}\n");
	main = write_named(dir, "main.conf",
			   "hostname = \"relay.test\"\n"	    /* 1 */
			   "user = \"relayd\"\n"		    /* 2 */
			   "listen \"main\" {\n"		    /* 3 */
			   "\ttls = \"starttls\"\n"		    /* 4 */
			   "\ttls_cert = \"/c.pem\"\n"		    /* 5 */
			   "\ttls_key = \"/k.pem\"\n"		    /* 6 */
			   "}\n"				    /* 7 */
			   "include(\"sub.conf\")\n"		    /* 8 */
			   "tls_policy \"p\" {\n\tlevel = verify\n" /* 9, 10 */
			   "\tca_file = \"/ca.pem\"\n}\n"	    /* 11, 12 */
			   "route \"*\" { transport = \"t\" }\n"    /* 13 */
			   "queue {\n"				    /* 14 */
			   "\tmax_lifetime = \"1d\"\n}\n");	    /* 15, 16 */
	c = conf_load(main, collect, &e);
	for (i = 0; i < e.n; i++)
		print_error("unexpected error: %s\n", e.msg[i]);
	assert_non_null(c);
	for (i = 0; i < NELEM(t); i++) {
		const char *file, *want = t[i].in_sub ? sub : main;
		int line;

		conf_where(c, t[i].kind, t[i].name, t[i].key, &file, &line);
		if (line != t[i].line || strcmp(file, want) != 0)
			fail_msg("%s \"%s\" %s: got %s:%d, want %s:%d", t[i].kind ? t[i].kind : "-",
				 t[i].name ? t[i].name : "-", t[i].key ? t[i].key : "-", file, line,
				 want, t[i].line);
	}
	conf_free(c);
	unlink(sub);
	unlink(main);
	free(sub);
	free(main);
	assert_int_equal(rmdir(dir), 0);
}

/* print_conf() of C into a malloc'd string. */
static char *
print_text(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(print_conf(fp, c), 0);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* Load TEXT, print it, load what was printed (no error), print again:
 * the same text. Returns the second configuration. */
static struct conf *
round_trip(const char *name, const char *text)
{
	struct errs e = {.n = 0};
	struct conf *c = load_text(text, &e, NULL), *again;
	char *first, *second, *path;
	size_t i;

	for (i = 0; i < e.n && i < MAXERR; i++)
		print_error("%s: %s\n", name, e.msg[i]);
	if (c == NULL)
		fail_msg("%s: got no configuration, want one", name);
	first = print_text(c);
	conf_free(c);
	again = load_text(first, &e, &path);
	for (i = 0; i < e.n && i < MAXERR; i++)
		print_error("%s: printed text: %s\n", name, e.msg[i]);
	if (again == NULL)
		fail_msg("%s: the printed configuration does not load:\n%s", name, first);
	second = print_text(again);
	if (strcmp(first, second) != 0)
		fail_msg("%s: printed twice\n  got  \"%s\"\n  want \"%s\"", name, second, first);
	unlink(path);
	free(path);
	free(first);
	free(second);
	return again;
}

/* relayd -n -v: what print_conf() writes is the same configuration. */
static void
test_print_round_trip(void **state)
{
	static const struct {
		const char *name, *text;
	} t[] = {
		{"defaults", L "transport \"t\" {}\n"},
		{"every key", every_key_text},
		{"units",
		 "listen \"l\" {\n\tmax_message_size = 1025\n\ttimeout = 3601\n"
		 "\tauth_fail_window = \"2d\"\n}\n"
		 "listen \"m\" {\n\tport = 2526\n\tmax_message_size = \"2G\"\n"
		 "\tallow = { \"10.1.2.3\", \"2001:db8::/48\" }\n}\n"
		 "transport \"t\" {\n\trate = \"5/s\"\n\tconnect_timeout = 90\n}\n"
		 "transport \"u\" {\n\trate = \"1/d\"\n\tfallback = t\n}\n"
		 "transport \"v\" {\n\trate = \"7/h\"\n\trelay = { \"[::1]\", \"::1\" }\n}\n"
		 "queue {\n\tretry = { 1, 61, \"1d\" }\n\tdelay_warning = 0\n}\n"},
	};
	char *path = example_path(), *example;
	FILE *fp = fopen(path, "r");
	size_t i, n;

	for (i = 0; i < NELEM(t); i++)
		conf_free(round_trip(t[i].name, t[i].text));

	assert_non_null(fp);
	example = calloc(1, 65536);
	assert_non_null(example);
	n = fread(example, 1, 65535, fp);
	assert_true(n > 0);
	fclose(fp);
	conf_free(round_trip("example", example));
	free(example);
	free(path);
}

/* Strings come back byte for byte: quotes, backslashes, "$" and "${VAR}"
 * (libconfuse expands those), comment marks, control bytes, UTF-8. */
static void
test_print_strings(void **state)
{
	static const struct {
		const char *name, *text, *want;
	} t[] = {
		{"quote and backslash", L "spool = \"/tmp/a\\\"b\\\\c\"\n", "/tmp/a\"b\\c"},
		{"dollar", L "spool = '/tmp/${HOME}$x'\n", "/tmp/${HOME}$x"},
		{"comment marks", L "spool = \"/tmp/#a//b/*c*/\"\n", "/tmp/#a//b/*c*/"},
		{"control bytes then digits", L "spool = \"/tmp/\\x017\\t9\\n\\x7f\"\n",
		 "/tmp/\0017\t9\n\x7f"},
		{"UTF-8", L "spool = \"/tmp/d\xc3\xa9j\xc3\xa0\"\n", "/tmp/d\xc3\xa9j\xc3\xa0"},
		{"single quotes", L "spool = \"/tmp/it's\"\n", "/tmp/it's"},
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		struct conf *c = round_trip(t[i].name, t[i].text);

		if (strcmp(c->spool, t[i].want) != 0)
			fail_msg("%s: spool got \"%s\", want \"%s\"", t[i].name, c->spool,
				 t[i].want);
		conf_free(c);
	}
}

/* The printed text sets every key (defaults included) or names it in a
 * comment when it has no value. */
static void
test_print_every_key(void **state)
{
	static const char *const keys[] = {
		"hostname",
		"spool",
		"control_socket",
		"user",
		"postmaster",
		"dns_servers",
		"metrics_listen",
		"address",
		"port",
		"tls",
		"tls_cert",
		"tls_key",
		"tls_min_version",
		"ciphers",
		"require_tls",
		"allow",
		"auth_users",
		"max_message_size",
		"max_recipients",
		"max_clients",
		"bare_newline",
		"timeout",
		"auth_fail_limit",
		"auth_fail_window",
		"level",
		"min_version",
		"ca_file",
		"match",
		"relay",
		"destination_by",
		"smtps",
		"auth_user",
		"auth_password_file",
		"source_address",
		"helo",
		"max_connections",
		"max_messages_per_connection",
		"rate",
		"warmup",
		"warmup_start",
		"warmup_overflow",
		"connect_timeout",
		"command_timeout",
		"data_timeout",
		"fallback",
		"fallback_hold",
		"transport",
		"retry",
		"max_lifetime",
		"delay_warning",
	};
	struct errs e = {.n = 0};
	struct conf *c = load_text(L "tls_policy \"p\" { level = may }\ntransport \"t\" {}\n"
				     "route \"*\" { transport = t }\n",
				   &e, NULL);
	char *text, set[64], unset[64];
	size_t i;

	assert_non_null(c);
	text = print_text(c);
	for (i = 0; i < NELEM(keys); i++) {
		snprintf(set, sizeof(set), "%s = ", keys[i]);
		snprintf(unset, sizeof(unset), "# %s: not set", keys[i]);
		if (strstr(text, set) == NULL && strstr(text, unset) == NULL)
			fail_msg("got no \"%s\" in the printed configuration:\n%s", keys[i], text);
	}
	free(text);
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cluster_section),
		cmocka_unit_test(test_comment_lines),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_syntax_error_stops),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_file_as_given),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_queue_section_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_example_documents_every_key),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_errors),
		cmocka_unit_test(test_include_missing),
		cmocka_unit_test(test_load_again),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_print_strings),
		cmocka_unit_test(test_print_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
