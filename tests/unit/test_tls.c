/*
 * test_tls.c — unit tests for tls/tls.c: real handshakes between
 * tls_bev_server() and tls_bev_client() over a socketpair.
 *
 * A throw-away PKI is made with the openssl CLI in a mkdtemp() directory
 * when the group starts: a CA, an intermediate, a server certificate for
 * mx.test.example (also *.wild.example and 127.0.0.1), a self-signed one,
 * one from another CA, an expired one, an RSA one (for the static-RSA and
 * ECDHE-RSA suites). Each row of the handshake table names
 * the server's certificate and versions, the client's policy and host, and
 * what both ends must see; mismatches print "got X, want Y" and the run
 * goes on to the next row. The cipher table does the same for the TLS 1.2
 * suites each end offers: the defaults, listener and policy lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* Only to check that tls/ leaves no error queued for libevent to misfile. */
#include <openssl/err.h>

#include "conf/conf.h"
#include "tls/tls.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define V11 0x0302 /* TLSv1.1: only through the test hook */
#define V12 CONF_TLSV12
#define V13 CONF_TLSV13

static char dir[200];

/* DIR/NAME in a static ring of buffers; NULL stays NULL. */
static const char *
path(const char *name)
{
	static char bufs[8][280];
	static int next;
	char *p;

	if (name == NULL)
		return NULL;
	p = bufs[next++ % 8];
	snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
	return p;
}

/* The throw-away PKI; any failure stops the group. */
static const char pki[] =
	"set -e\n"
	"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' >ca.ext\n"
	"printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:mx.test.example,"
	"DNS:*.wild.example,IP:127.0.0.1\\n' >srv.ext\n"
	/* CA, and another CA nobody trusts */
	"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj '/CN=relayd Test CA'\n"
	"openssl req -x509 $ec -keyout oca.key -out oca.pem -days 30 -subj '/CN=Other CA'\n"
	/* server certificate, and one of the other CA */
	"openssl req -new $ec -keyout srv.key -out srv.csr -subj '/CN=mx.test.example'\n"
	"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
	"-extfile srv.ext -out srv.pem\n"
	"openssl x509 -req -in srv.csr -CA oca.pem -CAkey oca.key -CAcreateserial -days 30 "
	"-extfile srv.ext -out other.pem\n"
	/* intermediate CA and a leaf under it; ichain.pem is leaf + intermediate */
	"openssl req -new $ec -keyout int.key -out int.csr -subj '/CN=relayd Test Intermediate'\n"
	"openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
	"-extfile ca.ext -out int.pem\n"
	"openssl x509 -req -in srv.csr -CA int.pem -CAkey int.key -CAcreateserial -days 30 "
	"-extfile srv.ext -out ileaf.pem\n"
	"cat ileaf.pem int.pem >ichain.pem\n"
	/* RSA, for the suites an EC key cannot do */
	"openssl req -new -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr "
	"-subj '/CN=mx.test.example'\n"
	"openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
	"-extfile srv.ext -out rsa.pem\n"
	/* self-signed */
	"openssl req -x509 $ec -keyout self.key -out self.pem -days 30 -subj '/CN=mx.test.example' "
	"-addext 'subjectAltName=DNS:mx.test.example'\n"
	/* expired: only `openssl ca` takes a start date in OpenSSL 3.0 */
	"mkdir db && : >db/index.txt && echo 01 >db/serial\n"
	"printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=db/index.txt\\nserial=db/serial\\n"
	"new_certs_dir=db\\ndefault_md=sha256\\npolicy=p\\nunique_subject=no\\n"
	"copy_extensions=copy\\n[p]\\ncommonName=supplied\\n' >ca.cnf\n"
	"openssl req -new $ec -keyout exp.key -out exp.csr -subj '/CN=mx.test.example' "
	"-addext 'subjectAltName=DNS:mx.test.example'\n"
	"openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in exp.csr -out exp.pem "
	"-startdate 20200101000000Z -enddate 20200102000000Z\n"
	/* odds and ends for the context errors */
	"openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out key2.key\n"
	"openssl pkey -in srv.key -aes128 -passout pass:secret -out enc.key\n"
	"echo 'not a certificate' >garbage.pem\n";

static int
setup_pki(void **state)
{
	char *cmd;
	FILE *f;
	int rc;

	snprintf(dir, sizeof(dir), "%s/relayd-tls-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (asprintf(&cmd, "cd %s && sh -s >openssl.log 2>&1", dir) < 0)
		return -1;
	f = popen(cmd, "w");
	free(cmd);
	if (f == NULL)
		return -1;
	fputs(pki, f);
	rc = pclose(f);
	if (rc != 0) {
		fprintf(stderr, "openssl failed; see %s/openssl.log\n", dir);
		return -1;
	}
	return tls_init();
}

static int
teardown_pki(void **state)
{
	char *cmd;

	if (getenv("KEEP_PKI") == NULL && asprintf(&cmd, "rm -rf %s", dir) > 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
		free(cmd);
	}
	return 0;
}

/* One end of a connection under test. */
struct side {
	struct bufferevent *bev;
	bool client;
	int state; /* 0 handshaking, 1 connected, -1 failed */
	short what;
	char err[256];
	struct tls_info info;
	char line[64]; /* "ping" at the server, "pong" at the client */
	struct run *run;
};

struct run {
	struct event_base *base;
	struct side c, s;
	struct event *grace;
};

static void
run_grace(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Over when both ends are settled: failed, or ping and pong went through. */
static void
run_check(struct run *r)
{
	bool c = r->c.state == -1 || r->c.line[0] != '\0';
	bool s = r->s.state == -1 || r->s.line[0] != '\0';

	if (c && s)
		event_base_loopbreak(r->base);
	else if ((r->c.state == -1 || r->s.state == -1) && r->grace == NULL) {
		/* One end gave up; give the other a moment to hear of it. */
		struct timeval tv = {0, 200000};

		r->grace = evtimer_new(r->base, run_grace, r->base);
		evtimer_add(r->grace, &tv);
	}
}

static void
side_read(struct bufferevent *bev, void *arg)
{
	struct side *sd = arg;
	char *l = evbuffer_readln(bufferevent_get_input(bev), NULL, EVBUFFER_EOL_CRLF);

	if (l == NULL)
		return;
	snprintf(sd->line, sizeof(sd->line), "%s", l);
	free(l);
	if (!sd->client)
		bufferevent_write(bev, "pong\r\n", 6);
	run_check(sd->run);
}

static void
side_event(struct bufferevent *bev, short what, void *arg)
{
	struct side *sd = arg;

	if (what & BEV_EVENT_CONNECTED) {
		sd->state = 1;
		tls_bev_info(bev, &sd->info);
		if (sd->client)
			bufferevent_write(bev, "ping\r\n", 6);
	} else {
		if (sd->state == 0)
			tls_bev_error(bev, sd->err, sizeof(sd->err));
		sd->state = -1;
		sd->what = what;
	}
	run_check(sd->run);
}

/* Start TLS on both ends of a socketpair; plain bufferevents in PLAIN. */
static void
run_start(struct run *r, struct tls_ctx *sctx, struct tls_ctx *cctx,
	  const struct conf_tls_policy *p, const char *host, struct bufferevent *plain[2])
{
	struct side *sides[2] = {&r->c, &r->s};
	int i;

	for (i = 0; i < 2; i++) {
		sides[i]->run = r;
		sides[i]->client = i == 0;
		if (i == 0)
			sides[i]->bev = tls_bev_client(r->base, plain[i], cctx, p, host);
		else
			sides[i]->bev = tls_bev_server(r->base, plain[i], sctx);
		assert_non_null(sides[i]->bev);
		bufferevent_setcb(sides[i]->bev, side_read, NULL, side_event, sides[i]);
		bufferevent_enable(sides[i]->bev, EV_READ | EV_WRITE);
	}
}

/* Run the loop until both ends settle (at most 3 s). */
static void
run_loop(struct run *r)
{
	struct timeval tv = {3, 0};

	event_base_loopexit(r->base, &tv);
	event_base_dispatch(r->base);
}

static void
run_free(struct run *r)
{
	if (r->grace)
		event_free(r->grace);
	if (r->c.bev)
		bufferevent_free(r->c.bev);
	if (r->s.bev)
		bufferevent_free(r->s.bev);
	event_base_free(r->base);
}

/* A connected pair of plain bufferevents. */
static void
plain_pair(struct event_base *base, struct bufferevent *plain[2], evutil_socket_t fds[2])
{
	int i;

	assert_int_equal(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (i = 0; i < 2; i++) {
		evutil_make_socket_nonblocking(fds[i]);
		plain[i] = bufferevent_socket_new(base, fds[i], BEV_OPT_CLOSE_ON_FREE);
		assert_non_null(plain[i]);
	}
}

/* clang-format off */
static const struct hcase {
	const char *name;
	/* server */
	const char *cert, *key;
	int smin, smax; /* smin 0: TLSv1.2; below 1.2 or smax: through the hook */
	/* client */
	enum conf_tls_level level;
	const char *ca;
	const char *match[3];
	int cmin, cmax; /* cmin 0: TLSv1.2; cmax: through the hook */
	const char *ciphers;
	const char *host;
	/* want */
	bool ok;
	const char *proto;  /* NULL: any */
	const char *cipher; /* NULL: any, but not empty */
	bool verified;
	const char *verify; /* substring of info.verify at the client */
	const char *cerr;   /* substring of the client's error line */
	const char *serr;   /* substring of the server's error line; NULL: any */
} hcases[] = {
	{ "verify: right CA, right name", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { NULL }, 0, 0, NULL, "mx.test.example", true, "TLSv1.3", NULL, true, "verified", NULL,
	  NULL },
	{ "verify: name with a trailing dot", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { NULL }, 0, 0, NULL, "mx.test.example.", true, NULL, NULL, true, "verified",
	  NULL, NULL },
	{ "verify: wrong name", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem", { NULL }, 0,
	  0, NULL, "other.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: hostname mismatch (certificate for mx.test.example, "
	  "*.wild.example, 127.0.0.1; want other.example)", NULL },
	{ "verify: match .test.example", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { ".test.example" }, 0, 0, NULL, "relay.elsewhere.example", true, NULL, NULL, true,
	  "verified", NULL, NULL },
	{ "verify: match .example, two labels down", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { ".example" }, 0, 0, NULL, "relay.elsewhere.example", true, NULL, NULL, true,
	  "verified", NULL, NULL },
	{ "verify: .mx.test.example is not mx.test.example", "srv.pem", "srv.key", 0, 0,
	  TLS_LEVEL_VERIFY, "ca.pem", { ".mx.test.example" }, 0, 0, NULL, "mx.test.example", false,
	  NULL, NULL, false, NULL, "certificate verify failed: hostname mismatch", NULL },
	{ "verify: match other.example", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { "other.example" }, 0, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: hostname mismatch", NULL },
	{ "verify: second name of the match list", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { "other.example", "MX.Test.Example" }, 0, 0, NULL, "relay.example", true, NULL,
	  NULL, true, "verified", NULL, NULL },
	{ "verify: wildcard certificate", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { NULL }, 0, 0, NULL, "a.wild.example", true, NULL, NULL, true, "verified", NULL, NULL },
	{ "verify: wildcard covers one label", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { NULL }, 0, 0, NULL, "a.b.wild.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: hostname mismatch", NULL },
	{ "verify: IP literal in subjectAltName", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { NULL }, 0, 0, NULL, "127.0.0.1", true, NULL, NULL, true, "verified", NULL,
	  NULL },
	{ "verify: other IP literal", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { NULL }, 0, 0, NULL, "127.0.0.2", false, NULL, NULL, false, NULL,
	  "certificate verify failed: IP address mismatch", NULL },
	{ "verify: self-signed", "self.pem", "self.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem", { NULL },
	  0, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: self-signed certificate (\"mx.test.example\")",
	  "peer sent TLS alert: " },
	{ "verify: another CA", "other.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem", { NULL },
	  0, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: unable to get local issuer certificate (issuer "
	  "\"Other CA\")", NULL },
	{ "verify: expired", "exp.pem", "exp.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem", { NULL }, 0, 0,
	  NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: certificate has expired (\"mx.test.example\", not after "
	  "2020-01-02)", NULL },
	{ "verify: chain file with the intermediate", "ichain.pem", "srv.key", 0, 0,
	  TLS_LEVEL_VERIFY, "ca.pem", { NULL }, 0, 0, NULL, "mx.test.example", true, NULL, NULL,
	  true, "verified", NULL, NULL },
	{ "verify: intermediate missing", "ileaf.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { NULL }, 0, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: unable to get local issuer certificate (issuer \"relayd "
	  "Test Intermediate\")", NULL },
	{ "verify: system bundle knows no test CA", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  NULL, { NULL }, 0, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "certificate verify failed: unable to get local issuer certificate", NULL },

	{ "encrypt: self-signed", "self.pem", "self.key", 0, 0, TLS_LEVEL_ENCRYPT, "ca.pem",
	  { NULL }, 0, 0, NULL, "mx.test.example", true, "TLSv1.3", NULL, false,
	  "not verified: self-signed certificate", NULL, NULL },
	{ "encrypt: expired", "exp.pem", "exp.key", 0, 0, TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, 0,
	  0, NULL, "mx.test.example", true, NULL, NULL, false,
	  "not verified: certificate has expired", NULL, NULL },
	{ "encrypt: good certificate", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_ENCRYPT, "ca.pem",
	  { NULL }, 0, 0, NULL, "mx.test.example", true, NULL, NULL, true, "verified", NULL, NULL },
	{ "may: wrong name", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_MAY, "ca.pem", { NULL }, 0, 0,
	  NULL, "other.example", true, NULL, NULL, false, "not verified: hostname mismatch", NULL,
	  NULL },
	{ "may: match list", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_MAY, "ca.pem",
	  { ".test.example" }, 0, 0, NULL, "other.example", true, NULL, NULL, true, "verified",
	  NULL, NULL },

	{ "server min TLSv1.3, policy TLSv1.2", "srv.pem", "srv.key", V13, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { NULL }, V12, 0, NULL, "mx.test.example", true, "TLSv1.3", NULL, true,
	  "verified", NULL, NULL },
	{ "client capped at TLSv1.2", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem",
	  { NULL }, 0, V12, NULL, "mx.test.example", true, "TLSv1.2",
	  "ECDHE-ECDSA-AES128-GCM-SHA256", true, "verified", NULL, NULL },
	{ "policy TLSv1.3, server capped at TLSv1.2", "srv.pem", "srv.key", 0, V12,
	  TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, V13, 0, NULL, "mx.test.example", false, NULL, NULL,
	  false, NULL,
	  "peer offered only versions older than TLSv1.3 (policy requires TLSv1.3 or later)",
	  "no TLS protocol version in common with the peer (listener allows TLSv1.2 to "
	  "TLSv1.2)" },
	/* DEFAULT: suites TLSv1.1 can use, so it fails on the version (see ciphers). */
	{ "server offers only TLSv1.1 to a TLSv1.2 client", "srv.pem", "srv.key", V11, V11,
	  TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, V12, V12, "DEFAULT", "mx.test.example", false, NULL,
	  NULL, false, NULL, "peer offered only TLSv1.1 (policy requires TLSv1.2 or later)",
	  "no TLS protocol version in common with the peer (listener allows TLSv1.1 to "
	  "TLSv1.1)" },
	{ "server knows only TLSv1.1", "srv.pem", "srv.key", V11, V11, TLS_LEVEL_ENCRYPT, "ca.pem",
	  { NULL }, V12, 0, NULL, "mx.test.example", false, NULL, NULL, false, NULL,
	  "peer offered only versions older than TLSv1.2 (policy requires TLSv1.2 or later)",
	  NULL },
	{ "client offers only TLSv1.2 to a TLSv1.3 listener", "srv.pem", "srv.key", V13, 0,
	  TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, V12, V12, NULL, "mx.test.example", false, NULL,
	  NULL, false, NULL,
	  "no TLS protocol version in common with the peer (policy allows TLSv1.2 to TLSv1.2)",
	  "peer offered only TLSv1.2 (listener requires TLSv1.3 or later)" },
	{ "TLS 1.2 cipher list", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY, "ca.pem", { NULL },
	  0, V12, "ECDHE-ECDSA-AES128-GCM-SHA256", "mx.test.example", true, "TLSv1.2",
	  "ECDHE-ECDSA-AES128-GCM-SHA256", true, "verified", NULL, NULL },
	{ "cipher list leaves TLS 1.3 alone", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_VERIFY,
	  "ca.pem", { NULL }, 0, 0, "ECDHE-ECDSA-AES128-GCM-SHA256", "mx.test.example", true,
	  "TLSv1.3", NULL, true, "verified", NULL, NULL },
	{ "no shared cipher", "srv.pem", "srv.key", 0, 0, TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, 0,
	  V12, "ECDHE-RSA-AES128-GCM-SHA256", "mx.test.example", false, NULL, NULL, false, NULL,
	  "peer sent TLS alert: handshake failure (usually no cipher or TLS version in common)",
	  "no cipher in common with the peer" },
	{ "strict client, server offers only TLSv1.1", "srv.pem", "srv.key", V11, V11,
	  TLS_LEVEL_ENCRYPT, "ca.pem", { NULL }, V12, V12, NULL, "mx.test.example", false, NULL,
	  NULL, false, NULL, "peer sent TLS alert: handshake failure",
	  "no cipher in common with the peer" },
};
/* clang-format on */

/* Whether WANT (NULL: anything) is in GOT. */
static bool
has(const char *got, const char *want)
{
	return want == NULL || strstr(got, want) != NULL;
}

static void
test_handshakes(void **state)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < NELEM(hcases); i++) {
		const struct hcase *t = &hcases[i];
		struct conf_tls_policy p = {0};
		struct bufferevent *plain[2];
		struct tls_ctx *sctx, *cctx;
		evutil_socket_t fds[2];
		struct run r = {0};
		char *cause = NULL;
		size_t n;
		bool bad = false;

		sctx = tls_server_new(path(t->cert), path(t->key), t->smin == V13 ? V13 : V12, NULL,
				      &cause);
		if (sctx == NULL)
			fail_msg("%s: tls_server_new: %s", t->name, cause);
		if ((t->smin == V11 || t->smax) &&
		    tls_ctx_set_versions(sctx, t->smin ? t->smin : V12, t->smax) != 0)
			fail_msg("%s: tls_ctx_set_versions (server) failed", t->name);
		p.name = "test";
		p.level = t->level;
		p.min_version = t->cmin ? t->cmin : V12;
		p.ca_file = (char *)path(t->ca);
		for (n = 0; n < NELEM(t->match) && t->match[n]; n++)
			;
		p.match = (char **)t->match;
		p.nmatch = n;
		p.ciphers = (char *)t->ciphers;
		cctx = tls_client_new(&p, &cause);
		if (cctx == NULL)
			fail_msg("%s: tls_client_new: %s", t->name, cause);
		if (t->cmax && tls_ctx_set_versions(cctx, p.min_version, t->cmax) != 0)
			fail_msg("%s: tls_ctx_set_versions (client) failed", t->name);

		r.base = event_base_new();
		plain_pair(r.base, plain, fds);
		run_start(&r, sctx, cctx, &p, t->host, plain);
		run_loop(&r);

		if (t->ok) {
			if (r.c.state != 1 || strcmp(r.c.line, "pong") != 0) {
				print_error("%s: got client state %d, error \"%s\", line \"%s\"; "
					    "want a session\n",
					    t->name, r.c.state, r.c.err, r.c.line);
				bad = true;
			}
			if (r.s.state != 1 || strcmp(r.s.line, "ping") != 0) {
				print_error("%s: got server state %d, error \"%s\"; want a "
					    "session\n",
					    t->name, r.s.state, r.s.err);
				bad = true;
			}
			if (t->proto && strcmp(r.c.info.protocol, t->proto) != 0) {
				print_error("%s: got protocol \"%s\", want \"%s\"\n", t->name,
					    r.c.info.protocol, t->proto);
				bad = true;
			}
			if (strcmp(r.s.info.protocol, r.c.info.protocol) != 0) {
				print_error("%s: got server protocol \"%s\", want \"%s\"\n",
					    t->name, r.s.info.protocol, r.c.info.protocol);
				bad = true;
			}
			if (r.c.info.cipher[0] == '\0' ||
			    (t->cipher && strcmp(r.c.info.cipher, t->cipher) != 0)) {
				print_error("%s: got cipher \"%s\", want \"%s\"\n", t->name,
					    r.c.info.cipher, t->cipher ? t->cipher : "any");
				bad = true;
			}
			if (r.c.info.verified != t->verified || !has(r.c.info.verify, t->verify)) {
				print_error("%s: got verified %d \"%s\", want %d \"%s\"\n", t->name,
					    r.c.info.verified, r.c.info.verify, t->verified,
					    t->verify);
				bad = true;
			}
			if (strcmp(r.c.info.peer_cn, "mx.test.example") != 0) {
				print_error("%s: got peer CN \"%s\", want \"mx.test.example\"\n",
					    t->name, r.c.info.peer_cn);
				bad = true;
			}
			if (r.s.info.verified) {
				print_error("%s: got a verified client, want none\n", t->name);
				bad = true;
			}
		} else {
			if (r.c.state != -1 || !(r.c.what & BEV_EVENT_ERROR) ||
			    !has(r.c.err, t->cerr)) {
				print_error("%s: got client state %d, events %#x, error \"%s\"; "
					    "want BEV_EVENT_ERROR and \"%s\"\n",
					    t->name, r.c.state, r.c.what, r.c.err, t->cerr);
				bad = true;
			}
			if (r.s.line[0] != '\0') {
				print_error("%s: got \"%s\" at the server, want nothing\n", t->name,
					    r.s.line);
				bad = true;
			}
			if (t->serr && (r.s.state != -1 || !has(r.s.err, t->serr))) {
				print_error("%s: got server state %d, error \"%s\"; want a failure "
					    "\"%s\"\n",
					    t->name, r.s.state, r.s.err, t->serr);
				bad = true;
			}
		}
		if (getenv("TLS_TEST_VERBOSE"))
			fprintf(stderr, "%-50s client: %s%s | server: %s\n", t->name,
				r.c.state == 1 ? r.c.info.verify : "", r.c.err, r.s.err);
		failed += bad;
		run_free(&r);
		tls_ctx_free(sctx);
		tls_ctx_free(cctx);
	}
	if (failed)
		fail_msg("%d of %zu handshake rows failed", failed, NELEM(hcases));
}

#define STRICT_FAIL                                                                                \
	"peer sent TLS alert: handshake failure (usually no cipher or TLS version in common)"

/* clang-format off */
static const struct xcase {
	const char *name;
	/* server: rsa.pem (ca.pem's, for mx.test.example) unless ec */
	bool ec;
	const char *sciphers; /* NULL: the listener default */
	int smax;	      /* 0, or V12 through the hook */
	/* client */
	enum conf_tls_level level;
	const char *cciphers; /* NULL: the policy default for the level */
	int cmax;	      /* 0, or V12 through the hook */
	/* want */
	bool ok;
	const char *proto, *cipher; /* at both ends */
	const char *cerr, *serr;    /* substrings of the error lines */
} xcases[] = {
	/* The listener's default: ECDHE and AEAD, its own order first. */
	{ "listener default, RSA key: ECDHE-RSA AES128-GCM first", false, NULL, 0,
	  TLS_LEVEL_ENCRYPT, "ALL", V12, true, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", NULL,
	  NULL },
	{ "listener default, EC key: ECDHE-ECDSA AES128-GCM first", true, NULL, 0,
	  TLS_LEVEL_ENCRYPT, "ALL", V12, true, "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", NULL,
	  NULL },
	{ "listener prefers its own order", false, NULL, 0, TLS_LEVEL_ENCRYPT,
	  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256", V12, true, "TLSv1.2",
	  "ECDHE-RSA-AES128-GCM-SHA256", NULL, NULL },
	{ "listener gives ChaCha20 to a client that puts it first", false, NULL, 0,
	  TLS_LEVEL_ENCRYPT, "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256", V12, true,
	  "TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305", NULL, NULL },
	{ "listener default refuses static RSA", false, NULL, 0, TLS_LEVEL_ENCRYPT,
	  "AES128-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384", V12, false, NULL, NULL, STRICT_FAIL,
	  "no cipher in common with the peer" },
	{ "listener default refuses ECDHE with CBC", false, NULL, 0, TLS_LEVEL_ENCRYPT,
	  "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256", V12, false,
	  NULL, NULL, STRICT_FAIL, "no cipher in common with the peer" },
	{ "listener default refuses DHE", false, NULL, 0, TLS_LEVEL_ENCRYPT,
	  "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305", V12, false, NULL, NULL,
	  STRICT_FAIL, "no cipher in common with the peer" },
	{ "listener default: TLS 1.3 as OpenSSL has it", false, NULL, 0, TLS_LEVEL_ENCRYPT, NULL,
	  0, true, "TLSv1.3", NULL, NULL, NULL },
	/* A listener's own list. */
	{ "listener ciphers with DHE: DH parameters are there", false,
	  "DHE-RSA-AES128-GCM-SHA256", 0, TLS_LEVEL_ENCRYPT, "DHE-RSA-AES128-GCM-SHA256", V12,
	  true, "TLSv1.2", "DHE-RSA-AES128-GCM-SHA256", NULL, NULL },
	{ "listener ciphers let an old client in", false, "AES128-SHA", 0, TLS_LEVEL_ENCRYPT,
	  "AES128-SHA", V12, true, "TLSv1.2", "AES128-SHA", NULL, NULL },
	{ "listener ciphers leave TLS 1.3 alone", false, "AES128-SHA", 0, TLS_LEVEL_ENCRYPT, NULL,
	  0, true, "TLSv1.3", NULL, NULL, NULL },
	/* A server that offers only AES128-SHA, to each policy level. */
	{ "encrypt refuses an AES128-SHA server", false, "AES128-SHA", V12, TLS_LEVEL_ENCRYPT,
	  NULL, 0, false, NULL, NULL, STRICT_FAIL, "no cipher in common with the peer" },
	{ "verify refuses an AES128-SHA server", false, "AES128-SHA", V12, TLS_LEVEL_VERIFY, NULL,
	  0, false, NULL, NULL, STRICT_FAIL, "no cipher in common with the peer" },
	{ "may takes an AES128-SHA server rather than plaintext", false, "AES128-SHA", V12,
	  TLS_LEVEL_MAY, NULL, 0, true, "TLSv1.2", "AES128-SHA", NULL, NULL },
	{ "encrypt with ciphers = AES128-SHA", false, "AES128-SHA", V12, TLS_LEVEL_ENCRYPT,
	  "AES128-SHA", 0, true, "TLSv1.2", "AES128-SHA", NULL, NULL },
	{ "verify with ciphers = AES128-SHA", false, "AES128-SHA", V12, TLS_LEVEL_VERIFY,
	  "AES128-SHA", 0, true, "TLSv1.2", "AES128-SHA", NULL, NULL },
	{ "encrypt: a TLS 1.2 server with an AEAD suite", false, "ECDHE-RSA-AES256-GCM-SHA384",
	  V12, TLS_LEVEL_ENCRYPT, NULL, 0, true, "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", NULL,
	  NULL },
};
/* clang-format on */

static void
test_ciphers(void **state)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < NELEM(xcases); i++) {
		const struct xcase *t = &xcases[i];
		struct conf_tls_policy p = {.name = "test", .min_version = V12};
		struct bufferevent *plain[2];
		struct tls_ctx *sctx, *cctx;
		evutil_socket_t fds[2];
		struct run r = {0};
		char *cause = NULL;
		bool bad = false;

		sctx = tls_server_new(path(t->ec ? "srv.pem" : "rsa.pem"),
				      path(t->ec ? "srv.key" : "rsa.key"), V12, t->sciphers,
				      &cause);
		if (sctx == NULL)
			fail_msg("%s: tls_server_new: %s", t->name, cause);
		if (t->smax && tls_ctx_set_versions(sctx, V12, t->smax) != 0)
			fail_msg("%s: tls_ctx_set_versions (server) failed", t->name);
		p.level = t->level;
		p.ca_file = (char *)path("ca.pem");
		p.ciphers = (char *)t->cciphers;
		cctx = tls_client_new(&p, &cause);
		if (cctx == NULL)
			fail_msg("%s: tls_client_new: %s", t->name, cause);
		if (t->cmax && tls_ctx_set_versions(cctx, V12, t->cmax) != 0)
			fail_msg("%s: tls_ctx_set_versions (client) failed", t->name);

		r.base = event_base_new();
		plain_pair(r.base, plain, fds);
		run_start(&r, sctx, cctx, &p, "mx.test.example", plain);
		run_loop(&r);

		if (t->ok) {
			if (r.c.state != 1 || strcmp(r.c.line, "pong") != 0 || r.s.state != 1) {
				print_error("%s: got client state %d \"%s\", server state %d "
					    "\"%s\"; want a session\n",
					    t->name, r.c.state, r.c.err, r.s.state, r.s.err);
				bad = true;
			} else if ((t->proto && strcmp(r.c.info.protocol, t->proto) != 0) ||
				   (t->cipher && strcmp(r.c.info.cipher, t->cipher) != 0) ||
				   strcmp(r.s.info.cipher, r.c.info.cipher) != 0) {
				print_error("%s: got %s %s (server %s), want %s %s\n", t->name,
					    r.c.info.protocol, r.c.info.cipher, r.s.info.cipher,
					    t->proto ? t->proto : "any",
					    t->cipher ? t->cipher : "any");
				bad = true;
			}
		} else if (r.c.state != -1 || !has(r.c.err, t->cerr) || r.s.state != -1 ||
			   !has(r.s.err, t->serr)) {
			print_error("%s: got client state %d \"%s\", server state %d \"%s\"; want "
				    "failures \"%s\" and \"%s\"\n",
				    t->name, r.c.state, r.c.err, r.s.state, r.s.err, t->cerr,
				    t->serr);
			bad = true;
		}
		if (getenv("TLS_TEST_VERBOSE"))
			fprintf(stderr, "%-55s %s %s%s | %s\n", t->name, r.c.info.protocol,
				r.c.info.cipher, r.c.err, r.s.err);
		failed += bad;
		run_free(&r);
		tls_ctx_free(sctx);
		tls_ctx_free(cctx);
	}
	if (failed)
		fail_msg("%d of %zu cipher rows failed", failed, NELEM(xcases));
}

/* clang-format off */
static const struct ccase {
	const char *name;
	bool server;
	const char *cert, *key; /* server */
	int min;
	const char *ca, *ciphers; /* client; ciphers for the server too */
	const char *want;	  /* the cause, with %D for the directory */
} ccases[] = {
	{ "missing certificate", true, "missing.pem", "srv.key", V12, NULL, NULL,
	  "cannot load certificate %D/missing.pem: No such file or directory" },
	{ "missing key", true, "srv.pem", "missing.key", V12, NULL, NULL,
	  "cannot load key %D/missing.key: No such file or directory" },
	{ "certificate not PEM", true, "garbage.pem", "srv.key", V12, NULL, NULL,
	  "cannot load certificate %D/garbage.pem: no PEM certificate in it" },
	{ "key not PEM", true, "srv.pem", "garbage.pem", V12, NULL, NULL,
	  "cannot load key %D/garbage.pem: no PEM private key in it" },
	{ "key of another certificate", true, "srv.pem", "key2.key", V12, NULL, NULL,
	  "certificate and key do not match (%D/srv.pem, %D/key2.key)" },
	{ "key of the wrong end of the chain", true, "ichain.pem", "int.key", V12, NULL, NULL,
	  "certificate and key do not match" },
	{ "encrypted key", true, "srv.pem", "enc.key", V12, NULL, NULL,
	  "cannot load key %D/enc.key: the key is encrypted; relayd needs it unencrypted" },
	{ "certificate as key", true, "srv.pem", "srv.pem", V12, NULL, NULL,
	  "cannot load key %D/srv.pem: no PEM private key in it" },
	{ "TLSv1.1 floor", true, "srv.pem", "srv.key", V11, NULL, NULL,
	  "bad TLS version 0x302: use TLSv1.2 or TLSv1.3" },
	{ "good server", true, "ichain.pem", "srv.key", V13, NULL, NULL, NULL },
	{ "listener: bad cipher list", true, "srv.pem", "srv.key", V12, NULL, "NO-SUCH-CIPHER",
	  "bad cipher list \"NO-SUCH-CIPHER\": OpenSSL knows no cipher in it" },
	{ "listener: TLS 1.3 names in the TLS 1.2 list", true, "srv.pem", "srv.key", V12, NULL,
	  "TLS_AES_128_GCM_SHA256", "bad cipher list \"TLS_AES_128_GCM_SHA256\"" },
	{ "listener: own cipher list", true, "srv.pem", "srv.key", V12, NULL,
	  "ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384", NULL },
	{ "bad cipher list", false, NULL, NULL, V12, "ca.pem", "NO-SUCH-CIPHER:ALSO-NOT",
	  "bad cipher list \"NO-SUCH-CIPHER:ALSO-NOT\": OpenSSL knows no cipher in it" },
	{ "missing CA file", false, NULL, NULL, V12, "missing.pem", NULL,
	  "cannot load CA file %D/missing.pem: No such file or directory" },
	{ "CA file not PEM", false, NULL, NULL, V12, "garbage.pem", NULL,
	  "cannot load CA file %D/garbage.pem: no certificate or crl found" },
	{ "good client", false, NULL, NULL, V13, "ca.pem", "HIGH:!aNULL", NULL },
	{ "client, system bundle", false, NULL, NULL, V12, NULL, NULL, NULL },
};
/* clang-format on */

/* WANT with each %D replaced by the PKI directory. */
static const char *
expand(const char *want)
{
	static char buf[512];
	size_t o = 0;

	for (; *want && o < sizeof(buf) - 64; want++) {
		if (want[0] == '%' && want[1] == 'D') {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", dir);
			want++;
		} else
			buf[o++] = *want;
	}
	buf[o] = '\0';
	return buf;
}

static void
test_ctx_errors(void **state)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < NELEM(ccases); i++) {
		const struct ccase *t = &ccases[i];
		struct conf_tls_policy p = {.name = "test", .level = TLS_LEVEL_VERIFY};
		struct tls_ctx *ctx;
		char *cause = NULL;
		const char *want = t->want ? expand(t->want) : NULL;

		if (t->server)
			ctx = tls_server_new(path(t->cert), path(t->key), t->min, t->ciphers,
					     &cause);
		else {
			p.min_version = t->min;
			p.ca_file = (char *)path(t->ca);
			p.ciphers = (char *)t->ciphers;
			ctx = tls_client_new(&p, &cause);
		}
		if (want == NULL && ctx == NULL) {
			print_error("%s: got \"%s\", want a context\n", t->name, cause);
			failed++;
		} else if (want != NULL &&
			   (ctx != NULL || cause == NULL || strncmp(cause, want, strlen(want)))) {
			print_error("%s: got \"%s\", want \"%s\"\n", t->name,
				    ctx ? "a context" : cause, want);
			failed++;
		}
		if (getenv("TLS_TEST_VERBOSE"))
			fprintf(stderr, "%-40s %s\n", t->name, ctx ? "ok" : cause);
		tls_ctx_free(ctx);
		if (ERR_peek_error() != 0) {
			print_error("%s: got an OpenSSL error left queued, want none\n", t->name);
			failed++;
		}
	}
	if (failed)
		fail_msg("%d of %zu context rows failed", failed, NELEM(ccases));
}

/* What a scripted plain peer does; see plain_read(). */
enum script { SCRIPT_BANNER, SCRIPT_HANGUP, SCRIPT_STARTTLS };

struct plain {
	enum script script;
	struct run *run;
	struct tls_ctx *sctx, *cctx;
	const struct conf_tls_policy *p;
	struct bufferevent *bev[2]; /* client, server: plain until wrapped */
	int step;
};

/* The plain server's side of each script. */
static void
plain_server_read(struct bufferevent *bev, void *arg)
{
	struct plain *pl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *l;

	if (pl->script == SCRIPT_HANGUP) {
		/* The ClientHello arrived: hang up without a word. */
		evbuffer_drain(in, evbuffer_get_length(in));
		shutdown(bufferevent_getfd(bev), SHUT_RDWR);
		return;
	}
	if (pl->script != SCRIPT_STARTTLS ||
	    (l = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) == NULL)
		return;
	assert_string_equal(l, "STARTTLS");
	free(l);
	/* The reply goes out in plaintext ahead of the handshake. */
	bufferevent_write(bev, "220 2.0.0 go ahead\r\n", 20);
	pl->run->s.bev = tls_bev_server(pl->run->base, bev, pl->sctx);
	assert_non_null(pl->run->s.bev);
	pl->bev[1] = NULL;
	bufferevent_setcb(pl->run->s.bev, side_read, NULL, side_event, &pl->run->s);
	bufferevent_enable(pl->run->s.bev, EV_READ | EV_WRITE);
}

/* The plain client of the STARTTLS script. */
static void
plain_client_read(struct bufferevent *bev, void *arg)
{
	struct plain *pl = arg;
	char *l;

	while ((l = evbuffer_readln(bufferevent_get_input(bev), NULL, EVBUFFER_EOL_CRLF))) {
		if (pl->step++ == 0) {
			assert_string_equal(l, "220 mx.test.example ESMTP");
			bufferevent_write(bev, "STARTTLS\r\n", 10);
		} else {
			assert_string_equal(l, "220 2.0.0 go ahead");
			free(l);
			pl->run->c.bev = tls_bev_client(pl->run->base, bev, pl->cctx, pl->p,
							"mx.test.example");
			assert_non_null(pl->run->c.bev);
			pl->bev[0] = NULL;
			bufferevent_setcb(pl->run->c.bev, side_read, NULL, side_event, &pl->run->c);
			bufferevent_enable(pl->run->c.bev, EV_READ | EV_WRITE);
			return;
		}
		free(l);
	}
}

static void
plain_event(struct bufferevent *bev, short what, void *arg)
{
}

/* Run SCRIPT between a TLS client (or a plain one, for STARTTLS) and a plain server. */
static void
run_script(enum script script, struct run *r, struct tls_ctx *sctx, struct tls_ctx *cctx,
	   const struct conf_tls_policy *p)
{
	struct plain pl = {script, r, sctx, cctx, p, {NULL, NULL}, 0};
	evutil_socket_t fds[2];

	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	r->c.run = r->s.run = r;
	r->c.client = true;
	plain_pair(r->base, pl.bev, fds);
	bufferevent_setcb(pl.bev[1], plain_server_read, NULL, plain_event, &pl);
	bufferevent_enable(pl.bev[1], EV_READ | EV_WRITE);
	if (script != SCRIPT_HANGUP)
		bufferevent_write(pl.bev[1], "220 mx.test.example ESMTP\r\n", 27);
	if (script == SCRIPT_STARTTLS) {
		bufferevent_setcb(pl.bev[0], plain_client_read, NULL, plain_event, &pl);
		bufferevent_enable(pl.bev[0], EV_READ | EV_WRITE);
	} else {
		/* The server stays plain and never settles: the client decides. */
		r->s.state = -1;
		r->c.bev = tls_bev_client(r->base, pl.bev[0], cctx, p, "mx.test.example");
		assert_non_null(r->c.bev);
		pl.bev[0] = NULL;
		bufferevent_setcb(r->c.bev, side_read, NULL, side_event, &r->c);
		bufferevent_enable(r->c.bev, EV_READ | EV_WRITE);
	}
	run_loop(r);
	if (pl.bev[0])
		bufferevent_free(pl.bev[0]);
	if (pl.bev[1])
		bufferevent_free(pl.bev[1]);
}

static void
test_scripts(void **state)
{
	struct conf_tls_policy p = {.name = "test", .level = TLS_LEVEL_VERIFY, .min_version = V12};
	struct tls_ctx *sctx, *cctx;
	struct tls_info info;
	char *cause = NULL, again[256];
	struct run r = {0};

	p.ca_file = (char *)path("ca.pem");
	sctx = tls_server_new(path("srv.pem"), path("srv.key"), V12, NULL, &cause);
	assert_non_null(sctx);
	cctx = tls_client_new(&p, &cause);
	assert_non_null(cctx);

	/* An SMTP greeting where a ServerHello should be (SMTPS to a plain port). */
	run_script(SCRIPT_BANNER, &r, sctx, cctx, &p);
	if (r.c.state != -1 || !(r.c.what & BEV_EVENT_ERROR) ||
	    strcmp(r.c.err, "peer does not speak TLS (wrong version number)") != 0)
		fail_msg("banner: got state %d, events %#x, \"%s\"; want BEV_EVENT_ERROR and "
			 "\"peer does not speak TLS (wrong version number)\"",
			 r.c.state, r.c.what, r.c.err);
	/* The line is kept: asking twice gives the same answer. */
	tls_bev_error(r.c.bev, again, sizeof(again));
	if (strcmp(again, r.c.err) != 0)
		fail_msg("banner, second call: got \"%s\", want \"%s\"", again, r.c.err);
	run_free(&r);

	/* The peer hangs up on the ClientHello. */
	run_script(SCRIPT_HANGUP, &r, sctx, cctx, &p);
	if (r.c.state != -1 || !(r.c.what & BEV_EVENT_ERROR) ||
	    strcmp(r.c.err, "connection closed during the TLS handshake") != 0)
		fail_msg("hangup: got state %d, events %#x, \"%s\"; want BEV_EVENT_ERROR and "
			 "\"connection closed during the TLS handshake\"",
			 r.c.state, r.c.what, r.c.err);
	run_free(&r);

	/* STARTTLS: plaintext first, then TLS over the same bufferevents. */
	run_script(SCRIPT_STARTTLS, &r, sctx, cctx, &p);
	if (r.c.state != 1 || strcmp(r.c.line, "pong") != 0 || !r.c.info.verified)
		fail_msg("starttls: got state %d, line \"%s\", verify \"%s\", error \"%s\"; "
			 "want a verified session",
			 r.c.state, r.c.line, r.c.info.verify, r.c.err);
	if (strcmp(r.s.line, "ping") != 0)
		fail_msg("starttls: got \"%s\" at the server, want \"ping\"", r.s.line);
	/* The server goes away without close_notify: an EOF, not an error. */
	shutdown(bufferevent_getfd(bufferevent_get_underlying(r.s.bev)), SHUT_RDWR);
	run_loop(&r);
	if (r.c.state != -1 || !(r.c.what & BEV_EVENT_EOF) || (r.c.what & BEV_EVENT_ERROR))
		fail_msg("starttls, dirty close: got state %d, events %#x; want BEV_EVENT_EOF",
			 r.c.state, r.c.what);
	run_free(&r);

	/* A plain bufferevent is no TLS session. */
	{
		struct event_base *base = event_base_new();
		struct bufferevent *plain[2];
		evutil_socket_t fds[2];

		plain_pair(base, plain, fds);
		tls_bev_info(plain[0], &info);
		if (strcmp(info.protocol, "none") != 0 || info.verified)
			fail_msg("plain: got protocol \"%s\", verified %d; want \"none\", 0",
				 info.protocol, info.verified);
		tls_bev_error(plain[0], again, sizeof(again));
		if (strcmp(again, "not a TLS connection") != 0)
			fail_msg("plain: got \"%s\", want \"not a TLS connection\"", again);
		bufferevent_free(plain[0]);
		bufferevent_free(plain[1]);
		event_base_free(base);
	}
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshakes),
		cmocka_unit_test(test_ciphers),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_scripts),
	};

	return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
