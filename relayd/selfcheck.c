/*
 * selfcheck.c — relayd checks its own deliverability (selfcheck.h).
 *
 * A run: for each transport of the running configuration, tasks that each
 * fill result slots reserved when the task starts (so the results keep the
 * configuration's order whatever order the answers come in): a DNSBL
 * lookup per address and zone, a reverse-then-forward lookup per address,
 * an SPF evaluation (spf.c, fed by dns_lookup()) per address and sender
 * domain, and for smarthosts a probe per relay address (connect, greeting,
 * EHLO, STARTTLS, AUTH, QUIT through the protocol machine of smtp/client.c).
 * When the last task ends, the run's results replace the last ones and each
 * change is logged. A run in progress when a reload comes finishes; another
 * follows with the new configuration (old configurations are never freed:
 * relayd.c). Timers: the next run check_interval after a run ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/json.h"
#include "relayd/log.h"
#include "relayd/metrics.h"
#include "relayd/relayd.h"
#include "relayd/selfcheck.h"
#include "relayd/spf.h"
#include "smtp/client.h"
#include "tls/tls.h"

#define SC_PTR_NAMES 10	    /* PTR names whose addresses are looked up */
#define SC_LINE_MAX 4096    /* a reply line from a probed relay */
#define SC_GREETING_MAX 200 /* bytes of a greeting kept for the detail */

enum sc_status { SC_OK, SC_PROBLEM, SC_UNKNOWN, SC_SKIPPED };

static const char *const sc_words[] = {"ok", "problem", "unknown", "skipped"};

struct sc_result {
	char *transport, *check, *subject, *detail, *advice;
	char *address, *zone; /* dnsbl results: for relayd_dnsbl_listed */
	enum sc_status st;
	bool listed;
	bool hidden; /* a step that went well and has its own results (a relay's name) */
	time_t at;
};

struct sc_set {
	struct sc_result *r;
	size_t n, cap;
};

struct selfcheck_wait {
	void (*cb)(void *arg);
	void *arg;
	struct selfcheck_wait *next;
};

/* What every task of a run shares. */
struct task {
	size_t slot; /* first result slot */
	const struct conf_transport *t;
	struct dns_query *dq;
	struct task *next, *prev;
	void (*cancel)(struct task *k);
};

static struct event_base *s_base;
static struct event *s_timer;
static struct sc_set s_last, s_run; /* the last complete run, the one going on */
static bool s_running, s_again;
static struct task *s_tasks;
static struct selfcheck_wait *s_waiting; /* called when the run ends */
static const struct conf *s_conf;	 /* the configuration of the run */

static void run_start(void);

/* ---- results ---------------------------------------------------------- */

static char *
dup_or_die(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		fatal("out of memory");
	return d;
}

static void
result_clear(struct sc_result *r)
{
	free(r->transport);
	free(r->check);
	free(r->subject);
	free(r->detail);
	free(r->advice);
	free(r->address);
	free(r->zone);
	memset(r, 0, sizeof(*r));
}

static void
set_free(struct sc_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		result_clear(&s->r[i]);
	free(s->r);
	memset(s, 0, sizeof(*s));
}

/* N more slots of the run for TRANSPORT's CHECK about SUBJECT; the index of
 * the first. Each starts as unknown "not checked yet" (what a task that
 * never answers leaves). */
static size_t
slots(const char *transport, const char *check, const char *subject, size_t n)
{
	if (s_run.n + n > s_run.cap) {
		size_t cap = s_run.cap ? s_run.cap * 2 : 32;
		while (cap < s_run.n + n)
			cap *= 2;
		struct sc_result *r = realloc(s_run.r, cap * sizeof(*r));
		if (!r)
			fatal("out of memory");
		s_run.r = r;
		s_run.cap = cap;
	}
	size_t first = s_run.n;
	for (size_t i = 0; i < n; i++) {
		struct sc_result *r = &s_run.r[s_run.n++];
		memset(r, 0, sizeof(*r));
		r->transport = dup_or_die(transport);
		r->check = dup_or_die(check);
		r->subject = dup_or_die(subject);
		r->st = SC_UNKNOWN;
		r->detail = dup_or_die("not checked: the check did not finish");
		r->at = time(NULL);
	}
	return first;
}

static size_t
slot(const char *transport, const char *check, const char *subject)
{
	return slots(transport, check, subject, 1);
}

static void set_result(size_t i, enum sc_status st, const char *advice, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Slot I's outcome: ST, the detail (printf), ADVICE (NULL: none). */
static void
set_result(size_t i, enum sc_status st, const char *advice, const char *fmt, ...)
{
	struct sc_result *r = &s_run.r[i];
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(r->detail);
	free(r->advice);
	r->detail = dup_or_die(buf);
	r->advice = advice ? dup_or_die(advice) : NULL;
	r->st = st;
	r->at = time(NULL);
}

/* ---- tasks ------------------------------------------------------------ */

static void run_end(void);

static struct task *
task_new(size_t size, size_t first, const struct conf_transport *t)
{
	struct task *k = calloc(1, size);
	if (!k)
		fatal("out of memory");
	k->slot = first;
	k->t = t;
	k->next = s_tasks;
	if (s_tasks)
		s_tasks->prev = k;
	s_tasks = k;
	return k;
}

/* K is done: unlink and free it; the run ends with the last task. */
static void
task_done(struct task *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		s_tasks = k->next;
	if (k->next)
		k->next->prev = k->prev;
	free(k);
	if (!s_tasks && s_running)
		run_end();
}

/* ---- addresses -------------------------------------------------------- */

/* The DNS name of ADDR (text) under ZONE: "d.c.b.a.ZONE", or the 32
 * nibbles of an IPv6 address reversed; -1 for something not an address. */
static int
reverse_name(const char *addr, const char *zone, char *buf, size_t len)
{
	unsigned char b[16];
	size_t o = 0;

	if (inet_pton(AF_INET, addr, b) == 1) {
		snprintf(buf, len, "%u.%u.%u.%u.%s", b[3], b[2], b[1], b[0], zone);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, b) != 1)
		return -1;
	for (int i = 15; i >= 0 && o + 4 < len; i--)
		o += (size_t)snprintf(buf + o, len - o, "%x.%x.", b[i] & 0xf, b[i] >> 4);
	snprintf(buf + o, len - o, "%s", zone);
	return 0;
}

/* Is the address text A private, loopback, link-local or otherwise not
 * one the Internet can see (RFC 1918, 6598, 4193, ...). */
static bool
private_address(const char *a)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, a, b) == 1)
		return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
		       (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
		       (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] == 0;
	if (inet_pton(AF_INET6, a, b) != 1)
		return true;
	static const unsigned char loop[16] = {[15] = 1};
	return memcmp(b, loop, 16) == 0 || (b[0] & 0xfe) == 0xfc ||
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

/* The local address the kernel picks toward the Internet for FAMILY, into
 * BUF; -1 (errno) when there is no route. No packet is sent: a UDP
 * connect() only chooses the route. */
static int
kernel_address(int family, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(53);
		inet_pton(AF_INET, "198.41.0.4", &sin->sin_addr); /* a.root-servers.net */
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(53);
		inet_pton(AF_INET6, "2001:503:ba3e::2:30", &sin6->sin6_addr);
		sl = sizeof(*sin6);
	}
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	int rc = connect(fd, (struct sockaddr *)&ss, sl) == 0 &&
				 getsockname(fd, (struct sockaddr *)&me, &ml) == 0 &&
				 getnameinfo((struct sockaddr *)&me, ml, buf, (socklen_t)len, NULL,
					     0, NI_NUMERICHOST) == 0
			 ? 0
			 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* ---- dnsbl ------------------------------------------------------------ */

struct dnsbl_task {
	struct task k;
	char addr[INET6_ADDRSTRLEN];
	char zone[256];
};

struct dnsbl_code {
	const char *zone; /* NULL: any zone */
	const char *answer;
	enum sc_status st;
	const char *meaning, *advice;
};

/* What an answer means; the first row that matches the zone and the
 * answer. Spamhaus: https://docs.spamhaus.com/datasets/docs/source/40-real-world-usage/PublicMirrors/MTAs/020-Postfix.html
 * return codes; its 127.255.255.x answers are errors, never listings. */
static const struct dnsbl_code dnsbl_codes[] = {
	{"zen.spamhaus.org", "127.0.0.2", SC_PROBLEM,
	 "Spamhaus SBL: the address is a known spam source or spam operation",
	 "look the address up at https://check.spamhaus.org/ and follow its removal steps; "
	 "until then send through a smarthost"},
	{"zen.spamhaus.org", "127.0.0.3", SC_PROBLEM,
	 "Spamhaus SBL CSS: the address sent low-reputation mail (snowshoe spam)",
	 "find what sent the mail, stop it, then ask for removal at https://check.spamhaus.org/"},
	{"zen.spamhaus.org", "127.0.0.4", SC_PROBLEM,
	 "Spamhaus XBL: a compromised host (malware, an open proxy) sends from this address",
	 "clean the infected host behind this address, then ask for removal at "
	 "https://check.spamhaus.org/"},
	{"zen.spamhaus.org", "127.0.0.5", SC_PROBLEM,
	 "Spamhaus XBL: a compromised host sends from this address",
	 "clean the infected host behind this address, then ask for removal at "
	 "https://check.spamhaus.org/"},
	{"zen.spamhaus.org", "127.0.0.6", SC_PROBLEM,
	 "Spamhaus XBL: a compromised host sends from this address",
	 "clean the infected host behind this address, then ask for removal at "
	 "https://check.spamhaus.org/"},
	{"zen.spamhaus.org", "127.0.0.7", SC_PROBLEM,
	 "Spamhaus XBL: a compromised host sends from this address",
	 "clean the infected host behind this address, then ask for removal at "
	 "https://check.spamhaus.org/"},
	{"zen.spamhaus.org", "127.0.0.9", SC_PROBLEM,
	 "Spamhaus DROP: the address is in a hijacked or criminal network",
	 "mail from this network is refused widely: send from another provider's address"},
	{"zen.spamhaus.org", "127.0.0.10", SC_PROBLEM,
	 "Spamhaus PBL (listed by the ISP): an address that should not send mail directly",
	 "send through a smarthost or ask your provider to remove it from the PBL"},
	{"zen.spamhaus.org", "127.0.0.11", SC_PROBLEM,
	 "Spamhaus PBL: an address that should not send mail directly",
	 "send through a smarthost or ask your provider to remove it from the PBL"},
	{NULL, "127.255.255.252", SC_UNKNOWN,
	 "the blocklist says the query was malformed (a typing error in the zone name)",
	 "check the zone's name in dnsbl"},
	{NULL, "127.255.255.254", SC_UNKNOWN,
	 "Spamhaus refuses queries that come through a public or open resolver",
	 "point dns_servers at your own resolver"},
	{NULL, "127.255.255.255", SC_UNKNOWN,
	 "the blocklist refuses queries from your resolver: too many of them",
	 "use your own resolver (dns_servers) or a key of the list's paid service"},
	{"psbl.surriel.com", "127.0.0.2", SC_PROBLEM, "PSBL: the address sent mail to spam traps",
	 "find what sent the mail, then remove the address at https://psbl.org/"},
	{"b.barracudacentral.org", "127.0.0.2", SC_PROBLEM,
	 "Barracuda Reputation Block List: the address has a poor sending reputation",
	 "ask for removal at https://www.barracudacentral.org/rbl/removal-request once the "
	 "cause is fixed"},
	{"bl.spamcop.net", "127.0.0.2", SC_PROBLEM,
	 "SpamCop: mail from the address was reported as spam",
	 "a SpamCop listing expires 24 hours after the last report: find what sent the mail"},
};

static void
dnsbl_answer(void *arg, const struct dns_rrset *rs)
{
	struct dnsbl_task *d = arg;
	struct sc_result *r = &s_run.r[d->k.slot];
	size_t i = d->k.slot;

	d->k.dq = NULL;
	r->address = dup_or_die(d->addr);
	r->zone = dup_or_die(d->zone);
	if (rs->st == DNS_NOTFOUND || rs->st == DNS_NODATA) {
		set_result(i, SC_OK, NULL, "not listed in %s", d->zone);
	} else if (rs->st == DNS_TEMPFAIL || rs->n == 0) {
		set_result(i, SC_UNKNOWN,
			   "check that dns_servers answer; relayd checks again at the next run",
			   "no answer from DNS for %s: %s", d->zone, dns_strstatus(rs->st));
	} else {
		const char *a = rs->rr[0];
		const struct dnsbl_code *c = NULL;
		for (size_t k = 0; k < sizeof(dnsbl_codes) / sizeof(dnsbl_codes[0]) && !c; k++)
			if ((!dnsbl_codes[k].zone ||
			     strcasecmp(dnsbl_codes[k].zone, d->zone) == 0) &&
			    strcmp(dnsbl_codes[k].answer, a) == 0)
				c = &dnsbl_codes[k];
		if (c && c->st == SC_UNKNOWN) {
			set_result(i, SC_UNKNOWN, c->advice, "%s answers %s: %s", d->zone, a,
				   c->meaning);
		} else if (c) {
			r->listed = true;
			set_result(i, SC_PROBLEM, c->advice, "listed in %s (%s): %s", d->zone, a,
				   c->meaning);
		} else if (strncmp(a, "127.", 4) == 0) {
			r->listed = true;
			set_result(i, SC_PROBLEM,
				   "look the address up on the list's web site and ask for removal "
				   "once the cause is fixed",
				   "listed in %s (%s)", d->zone, a);
		} else {
			set_result(i, SC_UNKNOWN,
				   "the zone may be gone or answer every query: remove it from "
				   "dnsbl",
				   "%s answers %s, which is not a listing code", d->zone, a);
		}
	}
	task_done(&d->k);
}

static void
task_cancel_dns(struct task *k)
{
	dns_cancel(k->dq);
	k->dq = NULL;
}

/* ADDR of transport T in every dnsbl zone. */
static void
dnsbl_start(const struct conf_transport *t, const char *addr)
{
	for (size_t z = 0; z < s_conf->ndnsbl; z++) {
		char subject[512], name[512];
		snprintf(subject, sizeof(subject), "%s in %s", addr, s_conf->dnsbl[z]);
		size_t i = slot(t->name, "dnsbl", subject);
		struct dnsbl_task *d = (struct dnsbl_task *)task_new(sizeof(*d), i, t);
		d->k.cancel = task_cancel_dns;
		snprintf(d->addr, sizeof(d->addr), "%s", addr);
		snprintf(d->zone, sizeof(d->zone), "%s", s_conf->dnsbl[z]);
		if (reverse_name(addr, d->zone, name, sizeof(name)) == -1) {
			set_result(i, SC_UNKNOWN, NULL, "%s is not an address", addr);
			task_done(&d->k);
			continue;
		}
		d->k.dq = dns_lookup(name, DNS_RR_A, dnsbl_answer, d);
	}
}

/* ---- forward-confirmed reverse DNS ------------------------------------ */

struct fcrdns_task {
	struct task k;
	char addr[INET6_ADDRSTRLEN];
	int family;
	char names[SC_PTR_NAMES][256];
	size_t nnames, next; /* names; the one being looked up */
	char elsewhere[300]; /* "NAME resolves to X" of the first name that did not match */
	bool tempfail;
};

static void fcrdns_forward(struct fcrdns_task *f);

/* Do the address texts A and B name the same address. */
static bool
same_address(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
	return fa == fb && inet_pton(fa, a, x) == 1 && inet_pton(fb, b, y) == 1 &&
	       memcmp(x, y, fa == AF_INET ? 4 : 16) == 0;
}

static void
fcrdns_forward_answer(void *arg, const struct dns_rrset *rs)
{
	struct fcrdns_task *f = arg;
	const char *name = f->names[f->next];
	size_t i = f->k.slot;

	f->k.dq = NULL;
	for (size_t k = 0; rs->st == DNS_OK && k < rs->n; k++)
		if (same_address(rs->rr[k], f->addr)) {
			set_result(i, SC_OK, NULL, "%s resolves back to %s", name, f->addr);
			task_done(&f->k);
			return;
		}
	if (rs->st == DNS_TEMPFAIL)
		f->tempfail = true;
	else if (!f->elsewhere[0])
		snprintf(f->elsewhere, sizeof(f->elsewhere), "%s %s", name,
			 rs->st == DNS_OK ? "resolves to other addresses (" : "does not resolve");
	if (rs->st == DNS_OK && f->elsewhere[0] && !strchr(f->elsewhere, ')')) {
		size_t l = strlen(f->elsewhere);
		snprintf(f->elsewhere + l, sizeof(f->elsewhere) - l, "%s)", rs->rr[0]);
	}
	f->next++;
	fcrdns_forward(f);
}

static void
fcrdns_forward(struct fcrdns_task *f)
{
	size_t i = f->k.slot;
	if (f->next < f->nnames) {
		f->k.dq =
			dns_lookup(f->names[f->next], f->family == AF_INET ? DNS_RR_A : DNS_RR_AAAA,
				   fcrdns_forward_answer, f);
		return;
	}
	if (f->tempfail && !f->elsewhere[0])
		set_result(i, SC_UNKNOWN, "relayd checks again at the next run",
			   "the PTR name %s could not be looked up: temporary DNS failure",
			   f->names[0]);
	else
		set_result(
			i, SC_PROBLEM,
			"ask whoever runs the address (your provider) for a PTR record whose name "
			"resolves back to it; many receivers refuse mail without one",
			"%s has no forward-confirmed reverse DNS: %s", f->addr, f->elsewhere);
	task_done(&f->k);
}

static void
fcrdns_ptr_answer(void *arg, const struct dns_rrset *rs)
{
	struct fcrdns_task *f = arg;
	size_t i = f->k.slot;

	f->k.dq = NULL;
	if (rs->st == DNS_TEMPFAIL) {
		set_result(i, SC_UNKNOWN, "relayd checks again at the next run",
			   "no answer from DNS for the PTR of %s: %s", f->addr,
			   dns_strstatus(rs->st));
		task_done(&f->k);
		return;
	}
	if (rs->st != DNS_OK || rs->n == 0) {
		set_result(i, SC_PROBLEM,
			   "ask whoever runs the address (your provider) for a PTR record naming "
			   "this host, e.g. your hostname; many receivers refuse mail without one",
			   "%s has no PTR record", f->addr);
		task_done(&f->k);
		return;
	}
	for (size_t k = 0; k < rs->n && f->nnames < SC_PTR_NAMES; k++)
		snprintf(f->names[f->nnames++], sizeof(f->names[0]), "%s", rs->rr[k]);
	fcrdns_forward(f);
}

static void
fcrdns_start(const struct conf_transport *t, const char *addr)
{
	char name[256];
	size_t i = slot(t->name, "fcrdns", addr);
	struct fcrdns_task *f = (struct fcrdns_task *)task_new(sizeof(*f), i, t);
	f->k.cancel = task_cancel_dns;
	snprintf(f->addr, sizeof(f->addr), "%s", addr);
	f->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	reverse_name(addr, f->family == AF_INET ? "in-addr.arpa" : "ip6.arpa", name, sizeof(name));
	f->k.dq = dns_lookup(name, DNS_RR_PTR, fcrdns_ptr_answer, f);
}

/* ---- SPF -------------------------------------------------------------- */

struct spf_task {
	struct task k;
	struct spf *spf;
	char addr[INET6_ADDRSTRLEN];
	char domain[256];
	const char *what;     /* "the sending address", "the relay's address" */
	enum spf_rrtype type; /* of the query in flight */
};

static void spf_go(struct spf_task *s);

static void
spf_task_cancel(struct task *k)
{
	struct spf_task *s = (struct spf_task *)k;
	dns_cancel(k->dq);
	k->dq = NULL;
	spf_free(s->spf);
	s->spf = NULL;
}

static void
spf_dns_answer(void *arg, const struct dns_rrset *rs)
{
	struct spf_task *s = arg;
	struct spf_answer a;
	struct in_addr v4[64];
	struct in6_addr v6[64];
	size_t n = 0;

	s->k.dq = NULL;
	memset(&a, 0, sizeof(a));
	a.status = rs->st == DNS_OK	    ? SPF_DNS_OK
		   : rs->st == DNS_NOTFOUND ? SPF_DNS_NXDOMAIN
		   : rs->st == DNS_NODATA   ? SPF_DNS_NODATA
					    : SPF_DNS_TEMPFAIL;
	if (s->type == SPF_RR_A || s->type == SPF_RR_AAAA) {
		/* Back to binary: dns_lookup() gives addresses as text. */
		for (size_t k = 0; k < rs->n && n < 64; k++)
			if (s->type == SPF_RR_A ? inet_pton(AF_INET, rs->rr[k], &v4[n]) == 1
						: inet_pton(AF_INET6, rs->rr[k], &v6[n]) == 1)
				n++;
		a.n = n;
		a.a = v4;
		a.aaaa = v6;
	} else {
		a.n = rs->n;
		a.txt = rs->rr;
		a.names = rs->rr;
	}
	spf_answer(s->spf, &a);
	spf_go(s);
}

static void
spf_go(struct spf_task *s)
{
	static const enum dns_rr types[] = {
		[SPF_RR_TXT] = DNS_RR_TXT, [SPF_RR_A] = DNS_RR_A,     [SPF_RR_AAAA] = DNS_RR_AAAA,
		[SPF_RR_MX] = DNS_RR_MX,   [SPF_RR_PTR] = DNS_RR_PTR,
	};
	enum spf_rrtype type;
	const char *name;

	if (spf_step(s->spf, &type, &name) == 1) {
		s->type = type;
		s->k.dq = dns_lookup(name, types[type], spf_dns_answer, s);
		return;
	}
	enum spf_result r = spf_result(s->spf);
	const char *mech = spf_mechanism(s->spf);
	size_t i = s->k.slot;
	char advice[1200];
	switch (r) {
	case SPF_PASS:
		set_result(i, SC_OK, NULL, "pass (%s)", mech);
		break;
	case SPF_PERMERROR:
		snprintf(advice, sizeof(advice),
			 "fix %s's SPF record: receivers treat a broken record as a failure",
			 s->domain);
		set_result(i, SC_PROBLEM, advice, "permerror (%s)", mech);
		break;
	case SPF_TEMPERROR:
		set_result(i, SC_UNKNOWN, "relayd checks again at the next run", "temperror (%s)",
			   mech);
		break;
	default:
		snprintf(advice, sizeof(advice),
			 "add %s to %s's SPF record (ip%c:%s, or the include: its provider "
			 "documents); receivers may refuse or junk mail from %s otherwise",
			 s->what, s->domain, strchr(s->addr, ':') ? '6' : '4', s->addr, s->domain);
		set_result(i, SC_PROBLEM, advice, "%s (%s)", spf_strresult(r), mech);
		break;
	}
	spf_free(s->spf);
	s->spf = NULL;
	task_done(&s->k);
}

/* ADDR against the SPF of every check_senders domain; WHAT names it in
 * the advice. */
static void
spf_start(const struct conf_transport *t, const char *addr, const char *what)
{
	if (s_conf->ncheck_senders == 0)
		return;
	for (size_t d = 0; d < s_conf->ncheck_senders; d++) {
		char subject[512];
		unsigned char bin[16];
		int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
		snprintf(subject, sizeof(subject), "%s for %s", addr, s_conf->check_senders[d]);
		size_t i = slot(t->name, "spf", subject);
		struct spf_task *s = (struct spf_task *)task_new(sizeof(*s), i, t);
		s->k.cancel = spf_task_cancel;
		s->what = what;
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		snprintf(s->domain, sizeof(s->domain), "%s", s_conf->check_senders[d]);
		if (inet_pton(family, addr, bin) != 1 ||
		    (s->spf = spf_new(family, bin, s->domain, NULL, s_conf->hostname)) == NULL) {
			set_result(i, SC_UNKNOWN, NULL, "cannot evaluate SPF for %s", addr);
			task_done(&s->k);
			continue;
		}
		spf_go(s);
	}
}

/* One line saying the SPF check is skipped (no check_senders). */
static void
spf_skipped(const struct conf_transport *t)
{
	if (s_conf->ncheck_senders == 0)
		set_result(slot(t->name, "spf", "check_senders"), SC_SKIPPED, NULL,
			   "no check_senders set: set it to the domains of your senders' addresses "
			   "to check their SPF");
}

/* ---- probes of smarthosts --------------------------------------------- */

enum { P_CONNECT, P_TLS, P_AUTH }; /* result slots of a probe, from k.slot */

struct probe {
	struct task k;
	struct dns_addr addr;
	char relay[400]; /* "HOST[IP]:PORT" */
	char host[256];
	int port;
	char greeting[SC_GREETING_MAX];
	char pass[256];
	struct bufferevent *bev;
	struct client *cl;
	struct event *deadline;
	enum client_state phase; /* the last state before DEAD */
	bool connected, tls_on, handshake, authed, done, auth;
	char tls_proto[16], verify[128];
};

static void probe_read(struct bufferevent *bev, void *arg);
static void probe_write(struct bufferevent *bev, void *arg);
static void probe_event(struct bufferevent *bev, short what, void *arg);
static const struct client_hooks probe_hooks;

static void
probe_free(struct probe *p)
{
	if (p->cl)
		client_free(p->cl);
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->deadline)
		event_free(p->deadline);
	explicit_bzero(p->pass, sizeof(p->pass));
	p->cl = NULL;
	p->bev = NULL;
	p->deadline = NULL;
}

static void
probe_cancel(struct task *k)
{
	probe_free((struct probe *)k);
}

static void
probe_reap(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	probe_free(p);
	task_done(&p->k);
}

/* The probe is over: freed from the loop, never inside a callback of the
 * client or the bufferevent that is still running. */
static void
probe_end(struct probe *p)
{
	if (p->done)
		return;
	p->done = true;
	if (p->bev)
		bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	if (!p->deadline) {
		probe_reap(-1, 0, p);
		return;
	}
	event_del(p->deadline);
	event_assign(p->deadline, s_base, -1, 0, probe_reap, p);
	event_active(p->deadline, EV_TIMEOUT, 1);
}

static void
probe_arm(struct probe *p, unsigned seconds)
{
	struct timeval tv = {(time_t)seconds, 0};
	evtimer_add(p->deadline, &tv);
}

/* What AUTH and TLS are left at when an earlier step failed. */
static void
probe_not_reached(struct probe *p, const char *why)
{
	const struct conf_transport *t = p->k.t;
	if (s_run.r[p->k.slot + P_TLS].st == SC_UNKNOWN && !p->tls_on &&
	    (t->tls->level != TLS_LEVEL_NONE || t->smtps))
		set_result(p->k.slot + P_TLS, SC_UNKNOWN, NULL, "not reached: %s", why);
	if (p->auth && s_run.r[p->k.slot + P_AUTH].st == SC_UNKNOWN)
		set_result(p->k.slot + P_AUTH, SC_UNKNOWN, NULL, "not reached: %s", why);
}

static void
probe_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	const struct conf_transport *t = p->k.t;
	char why[300];

	if (!p->connected) {
		snprintf(why, sizeof(why), "connection timed out after %us", t->connect_timeout);
		char advice[400];
		snprintf(advice, sizeof(advice),
			 "a firewall may be dropping port %d: check outbound rules toward %s",
			 p->port, p->host);
		set_result(p->k.slot + P_CONNECT, SC_PROBLEM, advice, "%s", why);
	} else {
		snprintf(why, sizeof(why), "no answer within %us while %s", t->command_timeout,
			 p->handshake ? "in the TLS handshake" : client_strstate(p->phase));
		size_t s = p->handshake || p->phase == CL_STARTTLS ? P_TLS
			   : p->phase == CL_AUTH		   ? P_AUTH
								   : P_CONNECT;
		set_result(p->k.slot + s, SC_PROBLEM,
			   "the relay accepts connections but does not answer: ask its operator",
			   "%s", why);
		if (s == P_CONNECT && p->greeting[0] == '\0')
			snprintf(why, sizeof(why), "no greeting");
	}
	probe_not_reached(p, why);
	probe_end(p);
}

static void
probe_tls_start(struct probe *p)
{
	const struct conf_transport *t = p->k.t;
	char *cause = NULL;
	static struct tls_ctx *ctxs[64];
	static const struct conf_tls_policy *pols[64];
	struct tls_ctx *ctx = NULL;
	size_t i;

	/* One context per policy, made once (policies live as long as relayd). */
	for (i = 0; i < 64 && pols[i]; i++)
		if (pols[i] == t->tls)
			ctx = ctxs[i];
	if (!ctx && tls_init() == 0 && (ctx = tls_client_new(t->tls, &cause)) != NULL && i < 64) {
		pols[i] = t->tls;
		ctxs[i] = ctx;
	}
	struct bufferevent *tb = ctx ? tls_bev_client(s_base, p->bev, ctx, t->tls, p->host) : NULL;
	if (!tb) {
		set_result(p->k.slot + P_TLS, SC_PROBLEM, "check the transport's tls_policy",
			   "cannot start TLS: %s", cause ? cause : "out of memory");
		probe_not_reached(p, "no TLS");
		probe_end(p);
		return;
	}
	p->bev = tb;
	p->handshake = true;
	bufferevent_setcb(tb, probe_read, probe_write, probe_event, p);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
	probe_arm(p, t->command_timeout);
}

static void
probe_client_new(struct probe *p)
{
	const struct conf_transport *t = p->k.t;
	enum conf_tls_level lvl = t->tls->level;
	struct client_opts o = {
		.tls = lvl == TLS_LEVEL_NONE  ? CLIENT_TLS_NONE
		       : lvl == TLS_LEVEL_MAY ? CLIENT_TLS_MAY
					      : CLIENT_TLS_REQUIRE,
		.tls_active = t->smtps,
		.user = p->auth ? t->auth_user : NULL,
		.pass = p->pass,
	};
	p->cl = client_new(t->helo, &probe_hooks, p);
	if (!p->cl)
		fatal("out of memory");
	client_configure(p->cl, &o);
	probe_arm(p, t->command_timeout);
}

static void
probe_tls_up(struct probe *p)
{
	struct tls_info info;
	const struct conf_transport *t = p->k.t;

	p->handshake = false;
	p->tls_on = true;
	tls_bev_info(p->bev, &info);
	snprintf(p->tls_proto, sizeof(p->tls_proto), "%s", info.protocol);
	if (t->tls->level == TLS_LEVEL_VERIFY)
		set_result(p->k.slot + P_TLS, SC_OK, NULL, "%s%s, certificate %s (tls_policy %s)",
			   t->smtps ? "SMTPS, " : "STARTTLS, ", info.protocol, info.verify,
			   t->tls->name);
	else
		set_result(p->k.slot + P_TLS, SC_OK, NULL,
			   "%s%s, certificate not checked (tls_policy %s: %s)",
			   t->smtps ? "SMTPS, " : "STARTTLS, ", info.protocol, t->tls->name,
			   info.verify);
	if (!p->cl) {
		probe_client_new(p); /* SMTPS: the greeting comes now */
		return;
	}
	client_tls_done(p->cl);
	probe_arm(p, t->command_timeout);
}

static void
hook_write(void *arg, const char *buf, size_t len)
{
	struct probe *p = arg;
	if (p->bev)
		bufferevent_write(p->bev, buf, len);
}

static void
hook_body(void *arg)
{
}

/* Greeting, EHLO, STARTTLS and AUTH went through: everything is known. */
static void
hook_ready(void *arg)
{
	struct probe *p = arg;
	const struct conf_transport *t = p->k.t;

	if (p->done)
		return;
	if (!p->tls_on) {
		if (t->tls->level == TLS_LEVEL_NONE)
			set_result(p->k.slot + P_TLS, SC_SKIPPED, NULL, "not used: tls_policy %s",
				   t->tls->name);
		else
			set_result(
				p->k.slot + P_TLS, SC_PROBLEM,
				"mail goes to this relay in plaintext: ask its operator to offer "
				"STARTTLS, or use its SMTPS port with smtps = true",
				"STARTTLS not offered");
	}
	if (p->auth && !p->authed)
		set_result(p->k.slot + P_AUTH, SC_PROBLEM,
			   "the relay offers neither AUTH PLAIN nor AUTH LOGIN: ask its operator "
			   "how to authenticate",
			   "AUTH not offered after %s", p->tls_on ? "STARTTLS" : "EHLO");
	client_quit(p->cl);
}

static void
hook_txn_done(void *arg, const struct reply *replies)
{
}

static void
hook_fail(void *arg, const struct reply *r)
{
	struct probe *p = arg;
	const struct conf_transport *t = p->k.t;
	const char *line = r->line[0] ? r->line : r->text;

	if (p->done)
		return;
	switch (p->phase) {
	case CL_GREETING:
		set_result(p->k.slot + P_CONNECT, SC_PROBLEM,
			   "the relay refuses this host: ask its operator (is this address allowed "
			   "to relay?)",
			   "greeting refused: %s", line);
		break;
	case CL_STARTTLS:
	case CL_TLS:
		set_result(p->k.slot + P_TLS, SC_PROBLEM,
			   "mail to this relay waits until TLS works: ask its operator, or relax "
			   "the transport's tls_policy",
			   "%s", line);
		break;
	case CL_AUTH:
		if (strncmp(line, "authentication failed: ", 23) == 0)
			line += 23; /* the reply itself says it */
		set_result(p->k.slot + P_AUTH, SC_PROBLEM,
			   "check auth_user and the password in auth_password_file",
			   "login as %s refused: %s", t->auth_user, line);
		break;
	default:
		if (strstr(line, "not offered"))
			set_result(p->k.slot + P_TLS, SC_PROBLEM,
				   "the transport's tls_policy requires TLS: ask the relay's "
				   "operator to offer STARTTLS, or use its SMTPS port with smtps = "
				   "true",
				   "STARTTLS not offered, and tls_policy %s requires TLS",
				   t->tls->name);
		else if (strstr(line, "TLS is required") || strstr(line, "refused STARTTLS"))
			set_result(p->k.slot + P_TLS, SC_PROBLEM,
				   "the transport's tls_policy requires TLS: ask the relay's "
				   "operator to offer STARTTLS",
				   "%s", line);
		else if (strstr(line, "password is never sent"))
			set_result(p->k.slot + P_AUTH, SC_PROBLEM,
				   "relayd sends the password only over TLS: the relay must offer "
				   "STARTTLS",
				   "%s", line);
		else
			set_result(p->k.slot + P_CONNECT, SC_PROBLEM,
				   "ask the relay's operator why it refuses this host", "%s %s",
				   p->phase == CL_HELO ? "HELO refused:" : "EHLO refused:", line);
		break;
	}
	probe_not_reached(p, "an earlier step failed");
	probe_end(p);
}

static void
hook_starttls(void *arg)
{
	struct probe *p = arg;
	p->handshake = true; /* started by probe_read() once the 220 is read */
}

static void
hook_trace(void *arg, enum client_state from, enum client_state to)
{
	struct probe *p = arg;
	if (to != CL_DEAD)
		p->phase = to;
	if (from == CL_AUTH && to != CL_DEAD)
		p->authed = true;
	if (from == CL_AUTH && to != CL_DEAD)
		set_result(p->k.slot + P_AUTH, SC_OK, NULL, "login as %s accepted",
			   p->k.t->auth_user);
	if (to == CL_DEAD && from == CL_QUIT)
		p->phase = CL_QUIT;
}

static const struct client_hooks probe_hooks = {
	.write = hook_write,
	.body = hook_body,
	.ready = hook_ready,
	.txn_done = hook_txn_done,
	.fail = hook_fail,
	.starttls = hook_starttls,
	.trace = hook_trace,
};

static void
probe_read(struct bufferevent *bev, void *arg)
{
	struct probe *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!p->done && p->cl) {
		size_t len;
		struct evbuffer_ptr e = evbuffer_search_eol(in, NULL, &len, EVBUFFER_EOL_LF);
		if (e.pos == -1) {
			if (evbuffer_get_length(in) > SC_LINE_MAX) {
				set_result(p->k.slot + P_CONNECT, SC_PROBLEM, NULL,
					   "a reply line longer than %d bytes", SC_LINE_MAX);
				probe_not_reached(p, "a broken reply");
				probe_end(p);
			}
			return;
		}
		char line[SC_LINE_MAX + 2];
		if ((size_t)e.pos > SC_LINE_MAX) {
			set_result(p->k.slot + P_CONNECT, SC_PROBLEM, NULL,
				   "a reply line longer than %d bytes", SC_LINE_MAX);
			probe_not_reached(p, "a broken reply");
			probe_end(p);
			return;
		}
		evbuffer_remove(in, line, (size_t)e.pos + len);
		size_t n = (size_t)e.pos;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		enum client_state before = p->cl->state;
		if (before == CL_GREETING && !p->greeting[0])
			snprintf(p->greeting, sizeof(p->greeting), "%.*s",
				 (int)sizeof(p->greeting) - 1, line);
		client_input(p->cl, line, n);
		if (p->done)
			return;
		if (before == CL_GREETING && p->cl->state != CL_GREETING && p->cl->state != CL_DEAD)
			set_result(p->k.slot + P_CONNECT, SC_OK, NULL, "connected, greeting %.120s",
				   p->greeting);
		if (p->cl->state == CL_DEAD) {
			probe_end(p); /* QUIT answered */
			return;
		}
		if (p->cl->state == CL_TLS && p->handshake) {
			evbuffer_drain(in, evbuffer_get_length(in));
			probe_tls_start(p);
			return;
		}
	}
}

static void
probe_write(struct bufferevent *bev, void *arg)
{
	struct probe *p = arg;
	if (p->cl && !p->done && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_flushed(p->cl);
}

static void
probe_event(struct bufferevent *bev, short what, void *arg)
{
	struct probe *p = arg;
	const struct conf_transport *t = p->k.t;
	char why[400];

	if (what & BEV_EVENT_CONNECTED) {
		if (p->handshake) {
			probe_tls_up(p);
			return;
		}
		p->connected = true;
		if (t->smtps)
			probe_tls_start(p);
		else
			probe_client_new(p);
		return;
	}
	if (!p->connected) {
		int err = EVUTIL_SOCKET_ERROR();
		char advice[300];
		snprintf(advice, sizeof(advice),
			 err == ECONNREFUSED ? "nothing listens on %s port %d: check relay and port"
					     : "check the route and firewall toward %s port %d",
			 p->host, p->port);
		set_result(p->k.slot + P_CONNECT, SC_PROBLEM, advice, "cannot connect: %s",
			   evutil_socket_error_to_string(err));
		probe_not_reached(p, "no connection");
		probe_end(p);
		return;
	}
	if (p->handshake) {
		tls_bev_error(bev, why, sizeof(why));
		set_result(p->k.slot + P_TLS, SC_PROBLEM,
			   t->tls->level == TLS_LEVEL_MAY
				   ? "with tls_policy may relayd then sends in plaintext; ask the "
				     "relay's operator to fix TLS"
				   : "mail to this relay waits until TLS works: check ca_file and "
				     "match of the tls_policy, or ask the relay's operator",
			   "TLS handshake failed: %s", why);
		probe_not_reached(p, "TLS failed");
		probe_end(p);
		return;
	}
	if (p->phase == CL_QUIT) {
		probe_end(p); /* closed after QUIT: fine */
		return;
	}
	snprintf(why, sizeof(why), "the relay closed the connection while %s",
		 client_strstate(p->phase));
	size_t s = p->phase == CL_AUTH ? P_AUTH : P_CONNECT;
	if (s == P_CONNECT && s_run.r[p->k.slot + P_CONNECT].st == SC_OK)
		s = p->tls_on || p->phase == CL_STARTTLS ? P_TLS : P_CONNECT;
	set_result(p->k.slot + s, SC_PROBLEM, "ask the relay's operator", "%s", why);
	probe_not_reached(p, why);
	probe_end(p);
}

static int
probe_password(struct probe *p)
{
	const struct conf_transport *t = p->k.t;
	FILE *f = t->auth_password_file ? fopen(t->auth_password_file, "re") : NULL;
	if (f && fgets(p->pass, sizeof(p->pass), f)) {
		p->pass[strcspn(p->pass, "\r\n")] = '\0';
		fclose(f);
		return 0;
	}
	set_result(p->k.slot + P_AUTH, SC_PROBLEM, "make the file readable by relayd's user",
		   "cannot read auth_password_file %s: %s",
		   t->auth_password_file ? t->auth_password_file : "(unset)",
		   f ? "it is empty" : strerror(errno));
	if (f)
		fclose(f);
	return -1;
}

/* Probe T's relay HOST at address A (port set). */
static void
probe_start(const struct conf_transport *t, const char *host, const struct dns_addr *a)
{
	char ip[INET6_ADDRSTRLEN], serv[16], relay[400];

	if (getnameinfo((const struct sockaddr *)&a->ss, a->len, ip, sizeof(ip), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(ip, sizeof(ip), "?");
		snprintf(serv, sizeof(serv), "%d", t->port);
	}
	/* Postfix's way of naming the peer: HOST[IP]:PORT. */
	snprintf(relay, sizeof(relay), "%s[%s]:%s", host, ip, serv);
	size_t first = slot(t->name, "connect", relay);
	slot(t->name, "tls", relay);
	if (t->auth_user)
		slot(t->name, "auth", relay);
	struct probe *p = (struct probe *)task_new(sizeof(*p), first, t);
	p->k.cancel = probe_cancel;
	p->addr = *a;
	p->auth = t->auth_user != NULL;
	p->phase = CL_GREETING;
	snprintf(p->relay, sizeof(p->relay), "%s", relay);
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->port = atoi(serv);
	if (t->tls->level == TLS_LEVEL_NONE && !t->smtps)
		set_result(first + P_TLS, SC_SKIPPED, NULL, "not used: tls_policy %s",
			   t->tls->name);
	if (p->auth && probe_password(p) == -1) {
		set_result(first + P_CONNECT, SC_SKIPPED, NULL, "not tried without the password");
		if (s_run.r[first + P_TLS].st == SC_UNKNOWN)
			set_result(first + P_TLS, SC_SKIPPED, NULL,
				   "not tried without the password");
		probe_end(p);
		return;
	}
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd != -1 && t->source_address) {
		struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = a->ss.ss_family},
				*res = NULL;
		if (getaddrinfo(t->source_address, NULL, &hints, &res) == 0 && res) {
			if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
				log_warn("check: %s: cannot bind to source_address %s: %s", t->name,
					 t->source_address, strerror(errno));
			freeaddrinfo(res);
		}
	}
	p->deadline = evtimer_new(s_base, probe_timeout, p);
	p->bev = fd == -1 ? NULL : bufferevent_socket_new(s_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!p->deadline || !p->bev) {
		if (fd != -1 && !p->bev)
			close(fd);
		set_result(first + P_CONNECT, SC_UNKNOWN, NULL, "cannot make a socket: %s",
			   strerror(errno));
		probe_not_reached(p, "no socket");
		probe_end(p);
		return;
	}
	bufferevent_setcb(p->bev, probe_read, probe_write, probe_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	probe_arm(p, t->connect_timeout);
	if (bufferevent_socket_connect(p->bev, (const struct sockaddr *)&a->ss, (int)a->len) ==
	    -1) {
		set_result(first + P_CONNECT, SC_PROBLEM, NULL, "cannot connect: %s",
			   strerror(errno));
		probe_not_reached(p, "no connection");
		probe_end(p);
	}
}

/* ---- smarthost transports --------------------------------------------- */

struct relay_task {
	struct task k;
	char host[256];
};

static void
relay_addrs(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n)
{
	struct relay_task *rt = arg;
	const struct conf_transport *t = rt->k.t;

	rt->k.dq = NULL;
	if (st != DNS_OK || n == 0) {
		set_result(rt->k.slot, st == DNS_TEMPFAIL ? SC_UNKNOWN : SC_PROBLEM,
			   st == DNS_TEMPFAIL ? "relayd checks again at the next run"
					      : "check the relay's name in the transport",
			   "cannot resolve %s: %s", rt->host, dns_strstatus(st));
	} else {
		set_result(rt->k.slot, SC_OK, NULL, "%zu address%s", n, n == 1 ? "" : "es");
		s_run.r[rt->k.slot].hidden = true; /* each address has its own results */
		for (size_t i = 0; i < n; i++) {
			char ip[INET6_ADDRSTRLEN];
			probe_start(t, rt->host, &addrs[i]);
			if (getnameinfo((const struct sockaddr *)&addrs[i].ss, addrs[i].len, ip,
					sizeof(ip), NULL, 0, NI_NUMERICHOST) == 0) {
				dnsbl_start(t, ip);
				spf_start(t, ip, "the relay's address");
			}
		}
	}
	task_done(&rt->k);
}

static void
relay_start(const struct conf_transport *t, const struct conf_relay *r)
{
	int port = r->port ? r->port : t->port;
	size_t i = slot(t->name, "connect", r->host);
	struct relay_task *rt = (struct relay_task *)task_new(sizeof(*rt), i, t);
	rt->k.cancel = task_cancel_dns;
	snprintf(rt->host, sizeof(rt->host), "%s", r->host);
	rt->k.dq = dns_addrs(r->host, port, relay_addrs, rt);
}

/* ---- MX delivery transports ------------------------------------------- */

static void
mx_start(const struct conf_transport *t)
{
	char addr[INET6_ADDRSTRLEN];
	const char *from;
	size_t i = slot(t->name, "address", "sending");

	if (t->public_address) {
		snprintf(addr, sizeof(addr), "%s", t->public_address);
		from = "public_address";
	} else if (t->source_address) {
		snprintf(addr, sizeof(addr), "%s", t->source_address);
		from = "source_address";
	} else if (kernel_address(AF_INET, addr, sizeof(addr)) == 0 ||
		   kernel_address(AF_INET6, addr, sizeof(addr)) == 0) {
		from = "the kernel's choice toward the Internet";
	} else {
		set_result(i, SC_UNKNOWN,
			   "set public_address to the address the world sees this transport's mail "
			   "come from",
			   "no route to the Internet: %s", strerror(errno));
		spf_skipped(t);
		return;
	}
	if (private_address(addr)) {
		set_result(i, SC_UNKNOWN,
			   "set public_address to the address the world sees this transport's mail "
			   "come from (NAT, a cloud's elastic IP): the blocklist, reverse DNS and "
			   "SPF checks need it",
			   "%s (%s) is a private address", addr, from);
		spf_skipped(t);
		return;
	}
	set_result(i, SC_OK, NULL, "%s (%s)", addr, from);
	dnsbl_start(t, addr);
	fcrdns_start(t, addr);
	spf_start(t, addr, "the sending address");
	spf_skipped(t);
}

/* ---- runs ------------------------------------------------------------- */

static bool
bad(enum sc_status st)
{
	return st == SC_PROBLEM || st == SC_UNKNOWN;
}

/* The previous result with R's transport, check and subject, or NULL. */
static const struct sc_result *
previous(const struct sc_result *r)
{
	for (size_t i = 0; i < s_last.n; i++) {
		const struct sc_result *p = &s_last.r[i];
		if (strcmp(p->transport, r->transport) == 0 && strcmp(p->check, r->check) == 0 &&
		    strcmp(p->subject, r->subject) == 0)
			return p;
	}
	return NULL;
}

static void
arm_timer(void)
{
	const struct conf *c = relayd_conf;
	if (!s_timer)
		return;
	evtimer_del(s_timer);
	if (c->check_interval) {
		struct timeval tv = {(time_t)c->check_interval, 0};
		evtimer_add(s_timer, &tv);
	}
}

static void
run_end(void)
{
	/* Log every change once: bad, or ok again. */
	for (size_t i = 0; i < s_run.n; i++) {
		const struct sc_result *r = &s_run.r[i], *p = previous(r);
		if (bad(r->st) && (!p || p->st != r->st || strcmp(p->detail, r->detail) != 0))
			log_warn("check: %s: %s %s: %s", r->transport, r->check, r->subject,
				 r->detail);
		else if (r->st == SC_OK && p && bad(p->st))
			log_info("check: %s: %s %s: %s", r->transport, r->check, r->subject,
				 r->detail);
	}
	set_free(&s_last);
	s_last = s_run;
	memset(&s_run, 0, sizeof(s_run));
	s_running = false;
	size_t nbad = 0;
	for (size_t i = 0; i < s_last.n; i++)
		nbad += bad(s_last.r[i].st);
	log_debug("check: %zu results, %zu problem or unknown", s_last.n, nbad);
	if (s_again) {
		s_again = false;
		run_start();
		return;
	}
	struct selfcheck_wait *w = s_waiting;
	s_waiting = NULL;
	while (w) {
		struct selfcheck_wait *next = w->next;
		w->cb(w->arg);
		free(w);
		w = next;
	}
	arm_timer();
}

static void
run_start(void)
{
	const struct conf *c = relayd_conf;

	s_running = true;
	s_conf = c;
	/* A placeholder task keeps the run open until every task is started
	 * (a task may end at once). */
	struct task *hold = task_new(sizeof(*hold), 0, NULL);
	for (size_t i = 0; i < c->ntransport; i++) {
		const struct conf_transport *t = &c->transport[i];
		if (t->nrelay == 0) {
			mx_start(t);
			continue;
		}
		for (size_t r = 0; r < t->nrelay; r++)
			relay_start(t, &t->relay[r]);
		spf_skipped(t);
	}
	task_done(hold);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	if (!s_running)
		run_start();
}

void
selfcheck_init(struct event_base *base)
{
	s_base = base;
	s_timer = evtimer_new(base, on_timer, NULL);
	if (!s_timer)
		fatal("out of memory");
	/* The first run once the loop runs (DNS and listeners are up); with
	 * check_interval "0" none but on demand. */
	if (relayd_conf->check_interval) {
		struct timeval tv = {0, 0};
		evtimer_add(s_timer, &tv);
	}
}

void
selfcheck_reload(void)
{
	if (!s_base)
		return;
	/* With check_interval "0" only results there are (from a run on
	 * demand) are refreshed, so that they always match the configuration. */
	if (s_running)
		s_again = true;
	else if (relayd_conf->check_interval || s_last.n)
		run_start();
	else
		arm_timer();
}

void
selfcheck_shutdown(void)
{
	while (s_tasks) {
		struct task *k = s_tasks;
		s_tasks = k->next;
		if (k->cancel)
			k->cancel(k);
		free(k);
	}
	s_running = false;
	while (s_waiting) {
		struct selfcheck_wait *w = s_waiting;
		s_waiting = w->next;
		free(w);
	}
	set_free(&s_run);
	set_free(&s_last);
	if (s_timer)
		event_free(s_timer);
	s_timer = NULL;
	s_base = NULL;
}

struct selfcheck_wait *
selfcheck_now(void (*cb)(void *arg), void *arg)
{
	struct selfcheck_wait *w = calloc(1, sizeof(*w));
	if (!w)
		fatal("out of memory");
	w->cb = cb;
	w->arg = arg;
	w->next = s_waiting;
	s_waiting = w;
	/* Started from the loop, never from here: a run may end at once, and
	 * the caller must hold W before CB can run. */
	if (!s_running)
		event_active(s_timer, EV_TIMEOUT, 1);
	return w;
}

void
selfcheck_cancel(struct selfcheck_wait *w)
{
	for (struct selfcheck_wait **pp = &s_waiting; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			free(w);
			return;
		}
}

/* ---- output ----------------------------------------------------------- */

int
selfcheck_write(struct evbuffer *out, const char *transport, bool json, bool *isbad)
{
	const struct conf *c = relayd_conf;
	bool first = true;

	*isbad = false;
	if (transport && !conf_transport_find(c, transport))
		return -1;
	if (json)
		evbuffer_add(out, "[", 1);
	for (size_t i = 0; i < s_last.n; i++) {
		const struct sc_result *r = &s_last.r[i];
		if (r->hidden || (transport && strcmp(r->transport, transport) != 0))
			continue;
		/* A transport a reload removed is no longer shown. */
		if (!conf_transport_find(c, r->transport))
			continue;
		if (bad(r->st))
			*isbad = true;
		if (!json) {
			evbuffer_add_printf(out, "%-8s %s  %s  %s: %s\n", sc_words[r->st],
					    r->transport, r->check, r->subject, r->detail);
			if (bad(r->st) && r->advice)
				evbuffer_add_printf(out, "         %s\n", r->advice);
			continue;
		}
		char at[32];
		struct tm tm;
		gmtime_r(&r->at, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		evbuffer_add_printf(out, "%s\n{\"transport\": ", first ? "" : ",");
		json_string(out, r->transport);
		evbuffer_add(out, ", \"check\": ", 11);
		json_string(out, r->check);
		evbuffer_add(out, ", \"subject\": ", 13);
		json_string(out, r->subject);
		evbuffer_add_printf(out, ", \"status\": \"%s\", \"detail\": ", sc_words[r->st]);
		json_string(out, r->detail);
		evbuffer_add(out, ", \"advice\": ", 12);
		if (r->advice)
			json_string(out, r->advice);
		else
			evbuffer_add(out, "null", 4);
		evbuffer_add_printf(out, ", \"checked_at\": \"%s\"}", at);
		first = false;
	}
	if (json)
		evbuffer_add(out, first ? "]\n" : "\n]\n", first ? 2 : 3);
	else if (s_last.n == 0)
		evbuffer_add_printf(out, "no results yet: the first check %s\n",
				    s_running ? "is running"
					      : "has not run (relayctl check --now)");
	/* Nothing checked is not all clear. */
	if (s_last.n == 0)
		*isbad = true;
	return 0;
}

void
selfcheck_metrics(struct evbuffer *out)
{
	const struct conf *c = relayd_conf;

	evbuffer_add_printf(out, "# HELP relayd_check_status Result of a self-check: 0 ok, 1 "
				 "problem, 2 unknown (relayctl check).\n"
				 "# TYPE relayd_check_status gauge\n");
	for (size_t i = 0; i < s_last.n; i++) {
		const struct sc_result *r = &s_last.r[i];
		if (r->hidden || r->st == SC_SKIPPED || !conf_transport_find(c, r->transport))
			continue;
		evbuffer_add(out, "relayd_check_status{transport=\"", 31);
		metrics_label(out, r->transport);
		evbuffer_add(out, "\",check=\"", 9);
		metrics_label(out, r->check);
		evbuffer_add(out, "\",subject=\"", 11);
		metrics_label(out, r->subject);
		evbuffer_add_printf(out, "\"} %d\n", (int)r->st);
	}
	evbuffer_add_printf(out, "# HELP relayd_dnsbl_listed Whether a sending address is listed "
				 "in a DNS blocklist (1) or not (0).\n"
				 "# TYPE relayd_dnsbl_listed gauge\n");
	for (size_t i = 0; i < s_last.n; i++) {
		const struct sc_result *r = &s_last.r[i];
		if (!r->zone || r->st == SC_UNKNOWN || !conf_transport_find(c, r->transport))
			continue;
		evbuffer_add(out, "relayd_dnsbl_listed{transport=\"", 31);
		metrics_label(out, r->transport);
		evbuffer_add(out, "\",address=\"", 11);
		metrics_label(out, r->address);
		evbuffer_add(out, "\",zone=\"", 8);
		metrics_label(out, r->zone);
		evbuffer_add_printf(out, "\"} %d\n", r->listed ? 1 : 0);
	}
}
