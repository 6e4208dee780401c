/*
 * conf.h — relayd's configuration as a plain, immutable struct.
 *
 * conf_load()   parse and validate a file with libconfuse; NULL + errors
 * conf_free()   release a struct conf
 * conf_transport_find(), conf_policy_find()  look up by name
 * conf_where()  the file and line a key or section was written at
 *
 * Invariants: a struct conf returned by conf_load() is complete and valid:
 * every reference (route -> transport, transport -> tls_policy, fallback)
 * is resolved to a pointer, every default is filled in, every string is
 * owned by the struct. Nothing else ever modifies it; a reload builds a new
 * one and swaps the global pointer (relayd.c).
 */
#ifndef CONF_CONF_H
#define CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define CONF_DEFAULT_FILE "/etc/relayd/relayd.conf"
#define CONF_DEFAULT_SPOOL "/var/spool/relayd"

/* A network in CIDR form: family AF_INET or AF_INET6, address bytes, prefix. */
struct conf_cidr {
	int family;
	uint8_t addr[16];
	int prefix;
};

enum conf_listen_tls { LISTEN_TLS_NONE, LISTEN_TLS_STARTTLS, LISTEN_TLS_SMTPS };
enum conf_bare_newline { BARE_NEWLINE_REJECT, BARE_NEWLINE_NORMALIZE };

/* TLS protocol floor: the OpenSSL constants (TLS1_2_VERSION = 0x0303). */
#define CONF_TLSV12 0x0303
#define CONF_TLSV13 0x0304

struct conf_listen {
	char *name;
	int line;      /* line of the section, for messages */
	char *address; /* IPv4 or IPv6 literal */
	int port;
	enum conf_listen_tls tls;
	char *tls_cert, *tls_key; /* NULL when tls == none */
	int tls_min_version;	  /* CONF_TLSV12 or CONF_TLSV13 */
	char *ciphers;		  /* TLS 1.2 cipher list; NULL: tls/'s default */
	bool require_tls;
	struct conf_cidr *allow;
	size_t nallow;
	char *auth_users; /* NULL: no AUTH */
	uint64_t max_message_size;
	unsigned max_recipients;
	unsigned max_clients;
	enum conf_bare_newline bare_newline;
	/* Seconds: idle, and for a whole command line; DATA gets four times as
	 * long in all. */
	unsigned timeout;
	/* Failed AUTH per client address (IPv6: per /64) within
	 * auth_fail_window seconds; past it AUTH gets 454 4.7.0 for that long.
	 * 0: no limit. */
	unsigned auth_fail_limit;
	unsigned auth_fail_window;
};

/* DANE (RFC 7672): TLSA records of the host, trusted only from a DNSSEC-
 * validated answer; without usable ones DANE acts as may, DANE_ONLY skips
 * the host. */
enum conf_tls_level {
	TLS_LEVEL_NONE,
	TLS_LEVEL_MAY,
	TLS_LEVEL_ENCRYPT,
	TLS_LEVEL_VERIFY,
	TLS_LEVEL_DANE,
	TLS_LEVEL_DANE_ONLY,
};

/* The built-in policies, one per level, named as the level: the first
 * CONF_TLS_BUILTINS of struct conf's tls_policy. */
#define CONF_TLS_BUILTINS 6

/* A name under a top-level domain that does not exist: its NXDOMAIN comes
 * from the signed root zone, so a validating resolver sets AD. */
#define CONF_DNSSEC_PROBE "_25._tcp.relayd-dnssec-probe"

struct conf_tls_policy {
	char *name;
	int line; /* 0 for the four built-ins */
	enum conf_tls_level level;
	int min_version; /* CONF_TLSV12 or CONF_TLSV13 */
	char *ca_file;	 /* NULL: system bundle */
	char **match;	 /* NULL/0: the host name connected to */
	size_t nmatch;
	char *ciphers; /* NULL: tls/'s default for the level */
};

/* One smarthost of a transport's relay list. */
struct conf_relay {
	char *host;   /* host name or IP literal (without brackets) */
	int port;     /* 0: the transport's port */
	bool literal; /* an IP address ("[ip]" or bare): never resolved; a
		       * name, bracketed or not, is resolved by A/AAAA only */
};

/* Rate limit: n messages per interval seconds; n == 0 means unlimited. */
struct conf_rate {
	unsigned n;
	unsigned interval;
};

struct conf_transport {
	char *name;
	int line;
	struct conf_relay *relay; /* empty: MX delivery */
	size_t nrelay;
	bool by_mx; /* destination_by = "mx": MX delivery's destination is the site */
	int port;   /* default 25 */
	bool smtps;
	const struct conf_tls_policy *tls; /* never NULL; default "may" */
	char *auth_user, *auth_password_file;
	char *source_address; /* NULL: any */
	char *public_address; /* MX delivery's address as the world sees it; NULL: unset */
	bool mta_sts;	      /* honour the recipient domain's MTA-STS policy (MX delivery) */
	char *helo;	      /* never NULL; default: global hostname */
	unsigned max_connections;
	unsigned max_messages_per_connection;
	struct conf_rate rate;
	/* Warm-up: day k (1-based, from warmup_start) limits the rate to
	 * warmup[k-1] as well; after the last day, rate alone. */
	struct conf_rate *warmup; /* NULL: no warm-up */
	size_t nwarmup;
	long warmup_start; /* day 1: a local date, days since 1970-01-01 */
	const struct conf_transport *warmup_overflow;		 /* NULL: over the rate waits */
	unsigned connect_timeout, command_timeout, data_timeout; /* seconds */
	const struct conf_transport *fallback;			 /* NULL: none */
	unsigned fallback_hold;					 /* seconds */
};

enum conf_route_kind {
	ROUTE_EXACT,  /* "example.com" */
	ROUTE_SUFFIX, /* ".example.com": subdomains only */
	ROUTE_MX,     /* "mx:.google.com": MX host names ending so */
	ROUTE_ANY     /* "*" */
};

struct conf_route {
	char *pattern; /* as written */
	int line;
	enum conf_route_kind kind;
	char *domain; /* lower-cased; ".suffix" keeps its dot; NULL for "*" */
	const struct conf_transport *transport;
};

struct conf_queue {
	unsigned *retry; /* seconds; at least one entry */
	size_t nretry;
	unsigned max_lifetime;	/* seconds */
	unsigned delay_warning; /* seconds; 0: none */
};

/* Where a key or a section was written (see conf_where()). */
struct conf_key {
	const char *kind; /* "listen", "transport", ...; NULL: a global key */
	char *name;	  /* the section's title as written; NULL for queue */
	const char *key;  /* NULL: the section itself */
	const char *file; /* one of struct conf's files */
	int line;
};

struct conf {
	char *file;   /* as given */
	char **files; /* every file read: FILE, then the included ones */
	size_t nfiles;
	struct conf_key *keys; /* every key and section written */
	size_t nkeys;
	char *hostname;
	char *spool;
	char *control_socket;
	char *user;	    /* NULL: unset */
	char *postmaster;   /* where RCPT TO:<postmaster> goes; never NULL */
	char **dns_servers; /* "IP" or "IP:PORT"; NULL/0: /etc/resolv.conf */
	size_t ndns_servers;
	char *metrics_listen; /* NULL: unset */
	char **dnsbl;	      /* DNS blocklist zones the sending addresses are checked in */
	size_t ndnsbl;
	unsigned check_interval; /* seconds between self-checks; 0: only on demand */
	/* A name whose TLSA lookup a validating resolver answers with the AD
	 * bit; "" : no probe. At start and reload, when a transport uses DANE,
	 * relayd warns if dns_servers do not validate. */
	char *dnssec_probe;
	/* CAs for MTA-STS policy fetches and MX certificates under an
	 * enforced policy; NULL: the system bundle. */
	char *tls_ca_file;
	/* TLS-RPT (RFC 8460): the tls_report section, or NULL. */
	struct conf_tls_report {
		char *organization, *contact;
		unsigned interval; /* seconds of a reporting interval */
	} * tls_report;
	/* A fleet (contract-v2 section 5): the cluster section, or NULL. */
	struct conf_cluster {
		char *redis; /* "host:port" as written */
		char *host;  /* its host (no brackets) */
		int port;    /* its port (6379 when none is written) */
		char *node;  /* this instance's name; default: hostname */
	} * cluster;
	char **check_senders; /* sender domains whose SPF is checked; NULL/0: skipped */
	size_t ncheck_senders;

	struct conf_listen *listen;
	size_t nlisten;
	struct conf_tls_policy *tls_policy; /* built-ins first, then declared */
	size_t ntls_policy;
	struct conf_transport *transport;
	size_t ntransport;
	struct conf_route *route;
	size_t nroute;
	struct conf_queue queue;
};

/*
 * Parse and validate FILE. On success returns the configuration. On failure
 * returns NULL and, for each error, calls err(arg, "FILE:LINE: message")
 * (FILE as given; the message has no trailing newline), or err(arg,
 * "FILE: message") for what has no line: a file that cannot be read, a
 * file without a listen section.
 */
struct conf *conf_load(const char *file, void (*err)(void *arg, const char *msg), void *arg);

/* Release everything conf_load() returned. NULL is fine. */
void conf_free(struct conf *c);

/* The transport named NAME, or NULL. */
const struct conf_transport *conf_transport_find(const struct conf *c, const char *name);

/* The tls_policy named NAME (built-ins included), or NULL. */
const struct conf_tls_policy *conf_policy_find(const struct conf *c, const char *name);

/*
 * Where KEY of section KIND "NAME" was written (KIND NULL: a global key;
 * NAME NULL: the queue section; KEY NULL: the section itself): *FILE and
 * *LINE. A key that was not written (its default applies) is placed at its
 * section; a global one at the configuration file with *LINE 0, for a
 * message "FILE: ...". *FILE belongs to C.
 */
void conf_where(const struct conf *c, const char *kind, const char *name, const char *key,
		const char **file, int *line);

#endif
