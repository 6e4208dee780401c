/*
 * test_dest.c — destinations by (transport name, key): lookups without
 * case, one per key, what survives a reload, when an idle one is freed;
 * and dlv_waits_for_destination(), the rule for what is released when a
 * destination delivers again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "relayd/dest.h"
#include "relayd/dlv.h"
#include "relayd/relayd.h"

static void
ignore(void *arg, const char *msg)
{
	fail_msg("configuration error: %s", msg);
}

/* A configuration from TEXT (transports only). */
static struct conf *
load(const char *text)
{
	char path[] = "/tmp/relayd-test-dest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *c = conf_load(path, ignore, NULL);
	unlink(path);
	assert_non_null(c);
	return c;
}

static const char conf_a[] = "hostname = \"relay.test\"\nlisten \"l\" { port = 2525 }\n"
			     "transport \"mx\" { max_connections = 8 }\n"
			     "transport \"smart\" { relay = { \"[127.0.0.1]:2526\" }\n"
			     "\trate = \"6/m\" }\n"
			     "route \"*\" { transport = \"mx\" }\n";
static const char conf_b[] = "hostname = \"relay.test\"\nlisten \"l\" { port = 2525 }\n"
			     "transport \"mx\" { max_connections = 2 }\n"
			     "route \"*\" { transport = \"mx\" }\n";

static void
test_lookup(void **state)
{
	struct conf *c = load(conf_a);
	relayd_conf = c;
	assert_null(dest_find("mx", "example.com"));
	struct dest *d = dest_get("mx", "Example.COM");
	assert_non_null(d);
	assert_string_equal(d->key, "example.com");
	assert_ptr_equal(dest_get("mx", "example.com"), d);
	assert_ptr_equal(dest_find("mx", "EXAMPLE.com"), d);
	assert_null(dest_find("smart", "example.com"));
	assert_null(dest_find("mx", "example.org"));
	struct dest *r = dest_get("smart", NULL);
	assert_ptr_equal(dest_find("smart", ""), r);
	assert_string_equal(dest_name(r), "(relay)");
	assert_string_equal(dest_name(d), "example.com");
	assert_int_equal(dest_count(), 2);
	assert_ptr_equal(dest_transport(d), conf_transport_find(c, "mx"));
	assert_int_equal(d->cur_max, 8);

	/* Many keys: the table grows, every one is found again. */
	char key[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "d%d.example", i);
		dest_get("mx", key);
	}
	assert_int_equal(dest_count(), 5002);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "D%d.EXAMPLE", i);
		struct dest *x = dest_find("mx", key);
		assert_non_null(x);
		assert_true(dest_maybe_free(x, 1000, 1000.0));
	}
	assert_int_equal(dest_count(), 2);
	assert_ptr_equal(dest_find("mx", "example.com"), d);
	dest_free_all();
	relayd_conf = NULL;
	conf_free(c);
}

static void
test_reload_keeps_state(void **state)
{
	struct conf *a = load(conf_a), *b = load(conf_b);
	relayd_conf = a;
	struct dest *d = dest_get("mx", "gmail.com");
	d->detour_until = 5000;
	d->backoff = 1;
	d->cur_max = 4;
	struct dest *r = dest_get("smart", "");

	/* A reload: the same destination, its hold and back-off kept, the
	 * new transport, a lower max_connections applies at once. */
	relayd_conf = b;
	assert_ptr_equal(dest_find("mx", "gmail.com"), d);
	assert_ptr_equal(dest_transport(d), conf_transport_find(b, "mx"));
	assert_int_equal(d->detour_until, 5000);
	assert_int_equal(d->backoff, 1);
	assert_int_equal(d->cur_max, 2);
	/* A transport the reload removed. */
	assert_null(dest_transport(r));
	/* Back: the higher limit does not undo a back-off. */
	relayd_conf = a;
	assert_int_equal(dest_transport(d)->max_connections, 8);
	assert_int_equal(d->cur_max, 2);
	/* Without a back-off, each reload's limit. */
	d->backoff = 0;
	relayd_conf = b;
	assert_non_null(dest_transport(d));
	assert_int_equal(d->cur_max, 2);
	relayd_conf = a;
	assert_non_null(dest_transport(d));
	assert_int_equal(d->cur_max, 8);
	dest_free_all();
	relayd_conf = NULL;
	conf_free(a);
	conf_free(b);
}

static void
test_free_when_idle(void **state)
{
	struct conf *c = load(conf_a);
	relayd_conf = c;
	time_t now = 10000;
	double mono = 500.0;
	static const struct {
		const char *name;
		time_t detour, down;
		unsigned backoff;
		double paused;
		bool busy;
		double keep; /* seconds, 0: freed */
	} rows[] = {
		{"nothing learnt", 0, 0, 0, 0, false, 0},
		{"hold expired", 9000, 0, 0, 0, false, 0},
		{"hold in force", 10060, 0, 0, 0, false, 60},
		{"down in force", 0, 10005, 0, 0, false, 5},
		{"paused", 0, 0, 0, 530.0, false, 30},
		{"back-off level remembered", 0, 0, 2, 400.0, false, 500},
		{"back-off level forgotten", 0, 0, 2, -200.0, false, 0},
		{"busy", 0, 0, 0, 0, true, -1},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dest *d = dest_get("mx", "x.example");
		d->detour_until = rows[i].detour;
		d->down_until = rows[i].down;
		d->backoff = rows[i].backoff;
		d->paused_until = rows[i].paused;
		d->nconn = rows[i].busy ? 1 : 0;
		double keep = dest_keep_for(d, now, mono);
		if (rows[i].keep >= 0 && (keep < rows[i].keep - 0.01 || keep > rows[i].keep + 0.01))
			fail_msg("%s: got keep %.2f, want %.2f", rows[i].name, keep, rows[i].keep);
		bool freed = dest_maybe_free(d, now, mono);
		if (freed != (rows[i].keep == 0))
			fail_msg("%s: got freed %d, want %d", rows[i].name, freed,
				 rows[i].keep == 0);
		if (!freed) {
			d->nconn = 0;
			d->detour_until = d->down_until = 0;
			d->backoff = 0;
			d->paused_until = 0;
			assert_true(dest_maybe_free(d, now, mono));
		}
		assert_null(dest_find("mx", "x.example"));
	}

	/* A rate bucket not yet full keeps the destination (6/m: 10 s each). */
	struct dest *r = dest_get("smart", "");
	r->tokens = 0;
	r->tok_last = mono - 4;
	double keep = dest_keep_for(r, now, mono);
	assert_true(keep > 5.9 && keep < 6.1);
	assert_false(dest_maybe_free(r, now, mono));
	assert_true(dest_maybe_free(r, now, mono + 6.1));
	dest_free_all();
	relayd_conf = NULL;
	conf_free(c);
}

/* The last hour in 5-minute slots; the last reply kept; a destination used
 * within DEST_FORGET is kept that long after. */
static void
test_last_hour(void **state)
{
	struct dest *d = dest_get("mx", "h.example");
	unsigned h[DEST_NOUTCOMES];
	time_t t0 = 1796274000; /* a slot boundary (divisible by 300) */

	dest_tally(d, DLV_OK, 250, "2.0.0", "250 2.0.0 ok", t0);
	dest_tally(d, DLV_OK, 250, "2.0.0", "250 2.0.0 ok", t0 + 10);
	dest_tally(d, DLV_TEMPFAIL, 450, "4.2.0", "450 4.2.0 greylisted", t0 + 400);
	dest_tally(d, DLV_PERMFAIL, 550, "5.1.1", "550 5.1.1 no such user", t0 + 1800);
	dest_tally(d, DLV_REROUTE, 550, "5.7.1", "550 5.7.1 blocked using zen", t0 + 3000);
	dest_last_hour(d, t0 + 3000, h);
	assert_int_equal(h[DEST_SENT], 2);
	assert_int_equal(h[DEST_DEFERRED], 1);
	assert_int_equal(h[DEST_BOUNCED], 1);
	assert_int_equal(h[DEST_REROUTED], 1);
	assert_string_equal(d->last_reply, "550 5.7.1 blocked using zen");
	assert_int_equal(d->last_code, 550);
	assert_string_equal(d->last_status, "5.7.1");
	/* An hour after the first slot, the first slot is out; 12 slots on,
	 * all of them; a slot reused later starts from zero. */
	dest_last_hour(d, t0 + 3600, h);
	assert_int_equal(h[DEST_SENT], 0);
	assert_int_equal(h[DEST_DEFERRED], 1);
	dest_last_hour(d, t0 + 3000 + 3600, h);
	assert_int_equal(h[DEST_SENT] + h[DEST_DEFERRED] + h[DEST_BOUNCED] + h[DEST_REROUTED], 0);
	dest_tally(d, DLV_OK, 250, "2.0.0", "250 ok", t0 + 3600 + 5);
	dest_last_hour(d, t0 + 3600 + 5, h);
	assert_int_equal(h[DEST_SENT], 1); /* not 3: the slot was t0's */
	assert_int_equal(h[DEST_DEFERRED], 1);

	/* Idle, nothing in force, used 10 minutes ago: kept 50 more. */
	double keep = dest_keep_for(d, t0 + 3600 + 5 + 600, 0);
	assert_true(keep > 2999.9 && keep < 3000.1);
	assert_false(dest_maybe_free(d, t0 + 3600 + 5 + 600, 0));
	assert_true(dest_maybe_free(d, t0 + 3600 + 5 + 3600, 0));
	dest_free_all();
}

static void
test_waits_for_destination(void **state)
{
	static const struct {
		int code;
		const char *status, *text;
		bool want;
	} rows[] = {
		{0, "4.4.1", "connect to mx[192.0.2.1]:25: Connection refused", true},
		{0, "4.4.2", "conversation with mx timed out while sending RCPT TO", true},
		{0, "4.5.0", "protocol error: DATA answered without 354", true},
		{421, "4.7.0", "Too many connections, try later", true},
		{451, "4.7.1", "Too many connections from your IP", true},
		{450, "4.2.1",
		 "The user you are trying to contact is receiving mail at a rate that "
		 "prevents additional messages from being delivered",
		 true},
		{450, "4.2.0",
		 "<u@x>: Recipient address rejected: Greylisted, see "
		 "http://postgrey.schweikert.ch/help/x.html",
		 false},
		{452, "4.2.2", "Mailbox full", false},
		{451, "4.3.0", "Temporary lookup failure", false},
		{550, "5.1.1", "User unknown", false},
		{250, "2.0.0", "Ok", false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = dlv_waits_for_destination(rows[i].code, rows[i].status, rows[i].text);
		if (got != rows[i].want)
			fail_msg("%d %s %s: got %d, want %d", rows[i].code, rows[i].status,
				 rows[i].text, got, rows[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),	       cmocka_unit_test(test_reload_keeps_state),
		cmocka_unit_test(test_free_when_idle), cmocka_unit_test(test_waits_for_destination),
		cmocka_unit_test(test_last_hour),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
