/*
 * test_dlv.c — dlv_decide(), the one place that turns what happened into
 * sent / deferred / bounced / re-routed and what it means for the
 * connection and the destination; and dlv_exhausted().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/dlv.h"
#include "relayd/dns.h"

/* A complete reply from LINE ("550 5.1.1 text"). */
static struct reply
mkreply(const char *line)
{
	struct reply r;
	reply_reset(&r);
	assert_int_equal(reply_feed(&r, line, strlen(line)), 1);
	return r;
}

#define R(line) .reply_line = line
enum { N = 0, NH = 1, TH = 2, HO = 4, WA = 8 }; /* next_host, throttle, hold, waits */

static const struct {
	const char *name;
	enum dlv_what what;
	const char *reply_line;
	const char *status, *reason, *host;
	int dns;
	bool implicit_mx, can_detour, stale;
	/* want */
	enum dlv_kind kind;
	const char *want_status;
	const char *want_text; /* a substring of d.text */
	int flags;
} rows[] = {
	/* recipients' final replies */
	{"250 to end of data", DLV_W_REPLY, R("250 2.0.0 ok"), .kind = DLV_OK,
	 .want_status = "2.0.0", .want_text = "250 2.0.0 ok"},
	{"550 unknown user", DLV_W_REPLY, R("550 5.1.1 no such user"), .kind = DLV_PERMFAIL,
	 .want_status = "5.1.1", .want_text = "no such user"},
	{"450 greylisted: deferred, its own", DLV_W_REPLY, R("450 4.2.0 Greylisted, see postgrey"),
	 .kind = DLV_TEMPFAIL, .want_status = "4.2.0"},
	{"451 without status", DLV_W_REPLY, R("451 try later"), .kind = DLV_TEMPFAIL,
	 .want_status = "4.0.0"},
	{"421 in a reply: throttles, waits", DLV_W_REPLY, R("421 4.7.0 too many connections"),
	 .kind = DLV_TEMPFAIL, .want_status = "4.7.0", .flags = TH | WA},
	{"rate limit: throttles, waits", DLV_W_REPLY,
	 R("451 4.7.1 Too many connections from your IP, slow down"), .kind = DLV_TEMPFAIL,
	 .flags = TH | WA},
	{"Spamhaus with a fallback: re-routed and held", DLV_W_REPLY,
	 R("550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org"),
	 .can_detour = true, .kind = DLV_REROUTE, .want_status = "5.7.1", .flags = HO},
	{"Spamhaus without a fallback: bounced", DLV_W_REPLY,
	 R("550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org"),
	 .kind = DLV_PERMFAIL, .want_status = "5.7.1"},
	{"unknown user with a fallback: not a detour", DLV_W_REPLY, R("550 5.1.1 no such user"),
	 .can_detour = true, .kind = DLV_PERMFAIL},

	/* remote replies that end the session */
	{"554 greeting: next host, a bounce if all say so", DLV_W_SESSION,
	 R("554 5.7.1 no service"), .kind = DLV_PERMFAIL, .want_status = "5.7.1", .flags = NH},
	{"421 greeting: temporary, throttles", DLV_W_SESSION, R("421 4.3.2 shutting down"),
	 .kind = DLV_TEMPFAIL, .flags = NH | TH | WA},
	{"421 with a 5.x.x status is still temporary", DLV_W_SESSION,
	 R("421 4.7.0 Try again later, closing connection"), .kind = DLV_TEMPFAIL,
	 .flags = NH | TH | WA},
	{"421 on a stale reused connection: no back-off", DLV_W_SESSION, R("421 4.4.2 timeout"),
	 .stale = true, .kind = DLV_TEMPFAIL, .flags = NH | WA},
	{"Gmail 421 reputation at the greeting: held, not the next host", DLV_W_SESSION,
	 R("421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from "
	   "your IP address"),
	 .can_detour = true, .kind = DLV_REROUTE, .flags = HO},
	{"malformed reply (451 made by the client)", DLV_W_SESSION,
	 R("451 4.5.0 malformed reply from the remote server"), .kind = DLV_TEMPFAIL,
	 .want_status = "4.5.0", .flags = NH},

	/* local reasons */
	{"TLS required, not offered", DLV_W_SESSION_LOCAL, .status = "4.7.4",
	 .reason = "TLS is required, but was not offered by the remote host", .kind = DLV_TEMPFAIL,
	 .want_status = "4.7.4", .want_text = "TLS is required", .flags = NH | WA},
	{"protocol error", DLV_W_SESSION_LOCAL, .status = "4.5.0",
	 .reason = "protocol error: DATA answered without 354", .kind = DLV_TEMPFAIL,
	 .want_status = "4.5.0", .flags = NH | WA},
	{"connect refused", DLV_W_CONNECT, .reason = "Connection refused", .kind = DLV_TEMPFAIL,
	 .want_status = "4.4.1", .want_text = "connect to mx[192.0.2.1]:25: Connection refused",
	 .flags = NH | WA},
	{"lost", DLV_W_LOST, .reason = "lost connection with mx while sending RCPT TO",
	 .kind = DLV_TEMPFAIL, .want_status = "4.4.2", .flags = NH | WA},
	{"TLS handshake", DLV_W_TLS, .reason = "TLS handshake with mx failed: bad certificate",
	 .kind = DLV_TEMPFAIL, .want_status = "4.7.5", .flags = NH | WA},
	{"no address, temporary", DLV_W_ADDR, .host = "mx.example", .dns = DNS_TEMPFAIL,
	 .kind = DLV_TEMPFAIL, .want_status = "4.4.3", .want_text = "mx.example", .flags = NH | WA},
	{"MX host without address", DLV_W_ADDR, .host = "mx.example", .dns = DNS_NOTFOUND,
	 .kind = DLV_TEMPFAIL, .want_status = "4.4.4", .flags = NH | WA},
	{"implicit MX, the domain has no address: bounce", DLV_W_ADDR, .host = "nomx.example",
	 .dns = DNS_NOTFOUND, .implicit_mx = true, .kind = DLV_PERMFAIL, .want_status = "5.1.2",
	 .want_text = "type=A/AAAA", .flags = NH},
	{"implicit MX, temporary", DLV_W_ADDR, .host = "nomx.example", .dns = DNS_TEMPFAIL,
	 .implicit_mx = true, .kind = DLV_TEMPFAIL, .want_status = "4.4.3", .flags = NH | WA},
	{"MX NXDOMAIN: bounce", DLV_W_MX, .host = "nx.example", .dns = DNS_NOTFOUND,
	 .kind = DLV_PERMFAIL, .want_status = "5.1.2", .want_text = "name=nx.example type=MX"},
	{"MX temporary", DLV_W_MX, .host = "x.example", .dns = DNS_TEMPFAIL, .kind = DLV_TEMPFAIL,
	 .want_status = "4.4.3", .flags = WA},
	{"null MX", DLV_W_NULL_MX, .host = "null.example", .kind = DLV_PERMFAIL,
	 .want_status = "5.1.10", .want_text = "null MX"},
	{"no host", DLV_W_NO_HOST, .kind = DLV_TEMPFAIL, .want_status = "4.4.1", .flags = WA},
	{"password file: never a bounce", DLV_W_CONFIG, .status = "4.7.8",
	 .reason = "cannot read auth_password_file /x: No such file or directory",
	 .kind = DLV_TEMPFAIL, .want_status = "4.7.8", .flags = WA},
	{"no route", DLV_W_NO_ROUTE, .kind = DLV_TEMPFAIL, .want_status = "4.3.5", .flags = WA},
	{"expired: failed, 4.4.7", DLV_W_EXPIRED, .reason = "451 4.3.0 try again later",
	 .kind = DLV_PERMFAIL, .want_status = "4.4.7",
	 .want_text = "delivery time expired; last reply: 451 4.3.0 try again later"},
	{"expired without a reply", DLV_W_EXPIRED, .kind = DLV_PERMFAIL, .want_status = "4.4.7",
	 .want_text = "last reply: none"},
};

static void
test_decide(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct reply r;
		struct dlv_event ev = {
			.what = rows[i].what,
			.relay = "mx[192.0.2.1]:25",
			.tls = "TLSv1.3",
			.host = rows[i].host,
			.status = rows[i].status,
			.reason = rows[i].reason,
			.dns = rows[i].dns,
			.implicit_mx = rows[i].implicit_mx,
			.can_detour = rows[i].can_detour,
			.stale = rows[i].stale,
		};
		if (rows[i].reply_line) {
			r = mkreply(rows[i].reply_line);
			ev.reply = &r;
		}
		struct dlv_verdict v;
		dlv_decide(&ev, &v);
		int flags = (v.next_host ? NH : 0) | (v.throttle ? TH : 0) | (v.hold ? HO : 0) |
			    (v.waits ? WA : 0);
		if (v.d.kind != rows[i].kind)
			fail_msg("%s: got kind %d, want %d", rows[i].name, v.d.kind, rows[i].kind);
		if (flags != rows[i].flags)
			fail_msg("%s: got flags %#x, want %#x (next_host 1, throttle 2, hold 4, "
				 "waits 8)",
				 rows[i].name, flags, rows[i].flags);
		if (rows[i].want_status && strcmp(v.d.status, rows[i].want_status) != 0)
			fail_msg("%s: got status %s, want %s", rows[i].name, v.d.status,
				 rows[i].want_status);
		if (rows[i].want_text && !strstr(v.d.text, rows[i].want_text))
			fail_msg("%s: got text \"%s\", want it to hold \"%s\"", rows[i].name,
				 v.d.text, rows[i].want_text);
		/* A reply-level outcome keeps the code; local ones have none. */
		if (rows[i].reply_line && v.d.code != ev.reply->code)
			fail_msg("%s: got code %d, want %d", rows[i].name, v.d.code,
				 ev.reply->code);
		if (!rows[i].reply_line && v.d.code != 0)
			fail_msg("%s: got code %d for a local reason", rows[i].name, v.d.code);
		/* Never a bounce but from a 5xx reply or a permanent DNS fact. */
		if (v.d.kind == DLV_PERMFAIL && v.d.status[0] != '5' &&
		    rows[i].what != DLV_W_EXPIRED)
			fail_msg("%s: a bounce with status %s", rows[i].name, v.d.status);
	}
}

static void
test_exhausted(void **state)
{
	struct dlv_verdict v;

	/* No host could be tried: deferred, down. */
	dlv_exhausted(NULL, &v);
	assert_int_equal(v.d.kind, DLV_TEMPFAIL);
	assert_string_equal(v.d.status, "4.4.1");
	assert_true(v.down);

	/* Every host refused the connection: down, waits for it. */
	struct dlv_event ev = {
		.what = DLV_W_CONNECT, .relay = "a[192.0.2.1]:25", .reason = "Connection refused"};
	struct dlv_verdict c;
	dlv_decide(&ev, &c);
	dlv_exhausted(&c.d, &v);
	assert_true(v.down && v.waits && !v.throttle);

	/* The best seen was a 421: not down (a server answered), throttles. */
	struct reply r = mkreply("421 4.7.0 too many connections");
	ev = (struct dlv_event){.what = DLV_W_SESSION, .reply = &r, .relay = "a[192.0.2.1]:25"};
	dlv_decide(&ev, &c);
	dlv_exhausted(&c.d, &v);
	assert_false(v.down);
	assert_true(v.throttle && v.waits);

	/* A bounce from the greeting of the last host: not down. */
	r = mkreply("554 5.7.1 go away");
	ev.reply = &r;
	dlv_decide(&ev, &c);
	dlv_exhausted(&c.d, &v);
	assert_int_equal(v.d.kind, DLV_PERMFAIL);
	assert_false(v.down || v.waits);
}

/* relay=none when no connection was made; an attempt counts unless the
 * destination was known to be down and nothing was tried. */
static void
test_no_connection(void **state)
{
	static const struct {
		const char *name;
		enum dlv_what what;
		const char *reply_line;
		const char *want_relay;
		bool no_attempt;
	} cases[] = {
		{"a reply", DLV_W_REPLY, "450 4.2.0 later", "mx[192.0.2.1]:25", false},
		{"a 421 greeting", DLV_W_SESSION, "421 4.3.2 busy", "mx[192.0.2.1]:25", false},
		{"TLS trouble on a connection", DLV_W_TLS, NULL, "mx[192.0.2.1]:25", false},
		{"lost connection", DLV_W_LOST, NULL, "mx[192.0.2.1]:25", false},
		{"connection refused", DLV_W_CONNECT, NULL, "none", false},
		{"no address", DLV_W_ADDR, NULL, "none", false},
		{"no MX", DLV_W_MX, NULL, "none", false},
		{"the destination is down", DLV_W_SUSPENDED, NULL, "none", true},
		{"over the warm-up's rate", DLV_W_WARMUP, NULL, "none", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		struct dlv_event ev = {.what = cases[i].what,
				       .relay = "mx[192.0.2.1]:25",
				       .tls = "TLSv1.3",
				       .host = "mx.example",
				       .status = "4.4.1",
				       .dns = DNS_TEMPFAIL,
				       .reason = "connect to mx[192.0.2.1]:25: Connection refused"};
		if (cases[i].reply_line) {
			r = mkreply(cases[i].reply_line);
			ev.reply = &r;
		}
		struct dlv_verdict v;
		dlv_decide(&ev, &v);
		if (strcmp(v.d.relay, cases[i].want_relay) != 0)
			fail_msg("%s: got relay %s, want %s", cases[i].name, v.d.relay,
				 cases[i].want_relay);
		if (v.d.no_attempt != cases[i].no_attempt)
			fail_msg("%s: got no_attempt %d, want %d", cases[i].name, v.d.no_attempt,
				 cases[i].no_attempt);
	}

	/* Suspended: deferred with the reason the destination is down for,
	 * waiting for it (released when it works again). */
	struct dlv_event ev = {.what = DLV_W_SUSPENDED,
			       .status = "4.4.1",
			       .reason = "connect to mx[192.0.2.1]:25: Connection refused"};
	struct dlv_verdict v;
	dlv_decide(&ev, &v);
	assert_int_equal(v.d.kind, DLV_TEMPFAIL);
	assert_string_equal(v.d.status, "4.4.1");
	assert_string_equal(v.d.text, "delivery temporarily suspended: connect to "
				      "mx[192.0.2.1]:25: Connection refused");
	assert_true(v.waits && !v.next_host && !v.throttle && !v.hold);
	assert_int_equal(v.d.code, 0);

	/* Over the day's warm-up rate: to the overflow at once, named in the
	 * verdict; not an attempt, nothing waits, the destination is fine. */
	struct dlv_event w = {.what = DLV_W_WARMUP, .reason = "day 3 of 7, 20/m", .to = "spare"};
	dlv_decide(&w, &v);
	assert_int_equal(v.d.kind, DLV_REROUTE);
	assert_string_equal(v.d.reroute, "spare");
	assert_string_equal(v.d.text, "warm-up: day 3 of 7, 20/m, over the day's rate: "
				      "to transport spare");
	assert_string_equal(v.d.relay, "none");
	assert_true(v.d.no_attempt);
	assert_false(v.waits || v.next_host || v.throttle || v.hold || v.down);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_exhausted),
		cmocka_unit_test(test_no_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
