/*
 * test_msg.c — a message in memory: one allocation with its recipients'
 * addresses, references, finished only when no recipient is pending,
 * statuses that always fit, queue ids strictly increasing and read back
 * as the number they write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/intern.h"
#include "relayd/msg.h"

static void
test_new(void **state)
{
	const char *rcpt[] = {"a@example.org", "bb@example.net", ""};
	struct qmsg *m = msg_new(rcpt, 3);
	assert_int_equal(m->nrcpt, 3);
	assert_int_equal(m->refs, 1);
	assert_int_equal(m->state, Q_QUEUED);
	assert_int_equal(m->sched.idx, SCHED_NONE);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(m->rcpt[i].addr, rcpt[i]);
		assert_ptr_not_equal(m->rcpt[i].addr, rcpt[i]); /* copied ... */
		/* ... into the message's own allocation, after the recipients */
		assert_true(m->rcpt[i].addr >= (const char *)&m->rcpt[3]);
		assert_int_equal(m->rcpt[i].state, RCPT_PENDING);
	}
	/* Interned strings are dropped with it. */
	m->sender = intern("s@example.org");
	m->rcpt[1].last_reply = intern("450 4.2.0 later");
	assert_int_equal(intern_count(), 2);
	m->refs++;
	msg_unref(m);
	assert_int_equal(intern_count(), 2); /* one reference left */
	msg_unref(m);
	assert_int_equal(intern_count(), 0);
}

static void
test_finished(void **state)
{
	const char *rcpt[] = {"a@example.org", "b@example.org"};
	struct qmsg *m = msg_new(rcpt, 2);
	assert_false(msg_finished(m));
	m->rcpt[0].state = RCPT_SENT;
	assert_false(msg_finished(m));
	m->rcpt[1].state = RCPT_EXPIRED;
	assert_true(msg_finished(m));
	m->rcpt[1].state = RCPT_PENDING;
	assert_false(msg_finished(m));
	m->rcpt[1].state = RCPT_BOUNCED;
	assert_true(msg_finished(m));
	msg_unref(m);
}

static void
test_status(void **state)
{
	struct qrcpt r;
	char buf[MSG_STATUS_MAX];
	memset(&r, 0, sizeof(r));
	assert_string_equal(msg_status(&r, buf), ""); /* none yet */
	memset(&r, 'x', sizeof(r));		      /* whatever the bits were */
	msg_set_status(&r, "4.7.1");
	assert_string_equal(msg_status(&r, buf), "4.7.1");
	msg_set_status(&r, "5.123.456");
	assert_string_equal(msg_status(&r, buf), "5.123.456");
	/* Leading zeros are kept: the text is given back as it came. */
	msg_set_status(&r, "4.07.001");
	assert_string_equal(msg_status(&r, buf), "4.07.001");
	msg_set_status(&r, "2.0.00");
	assert_string_equal(msg_status(&r, buf), "2.0.00");
	msg_set_status(&r, "5.999.999");
	assert_string_equal(msg_status(&r, buf), "5.999.999");
	/* Anything but a status leaves none. */
	const char *bad[] = {"",       "5",	  "5.",	      "5.1",	  "5.1.",
			     "5..1",   "5.1.1 ",  "5.1234.5", "5.1.1234", "x.1.1",
			     "55.1.1", "5.1.1.1", "5,1.1",    "5.a.1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_set_status(&r, "4.4.7");
		msg_set_status(&r, bad[i]);
		assert_string_equal(msg_status(&r, buf), "");
	}
	/* Every status of 1, 1-3 and 1-3 digits goes in and out unchanged. */
	char in[MSG_STATUS_MAX];
	for (int c = 0; c <= 9; c++)
		for (int sl = 1; sl <= 3; sl++)
			for (int sv = 0; sv < 1000; sv += (sv < 20 ? 1 : 37)) {
				if (sl < 3 && sv >= (sl == 1 ? 10 : 100))
					break;
				for (int dl = 1; dl <= 3; dl++)
					for (int dv = 0; dv < (dl == 1	 ? 10
							       : dl == 2 ? 100
									 : 1000);
					     dv += 7) {
						snprintf(in, sizeof(in), "%d.%0*d.%0*d", c, sl, sv,
							 dl, dv);
						msg_set_status(&r, in);
						assert_string_equal(msg_status(&r, buf), in);
					}
			}
}

static void
test_ids(void **state)
{
	char a[QID_MAX], b[QID_MAX];
	msg_newid(a);
	assert_int_equal(strlen(a), FMT_QID_LEN);
	uint64_t prev = msg_id_key(a);
	assert_true(prev != 0);
	/* Strictly increasing, also many within one microsecond. */
	for (int i = 0; i < 10000; i++) {
		msg_newid(b);
		uint64_t k = msg_id_key(b);
		assert_true(k > prev);
		assert_true(strcmp(b, a) > 0); /* names sort as the numbers */
		prev = k;
		memcpy(a, b, sizeof(a));
	}
	assert_true(msg_id_key("0000000000000001") == 1);
	assert_true(msg_id_key("FFFFFFFFFFFFFFFF") == UINT64_MAX);
	assert_true(msg_id_key("0123456789ABCDEF") == 0x0123456789ABCDEFull);
	/* Not an id: 0. */
	assert_true(msg_id_key("") == 0);
	assert_true(msg_id_key("0123456789abcdef") == 0);  /* lower case */
	assert_true(msg_id_key("0123456789ABCDE") == 0);   /* short */
	assert_true(msg_id_key("0123456789ABCDEF0") == 0); /* long */
	assert_true(msg_id_key("0123456789ABCDEG") == 0);
	assert_true(msg_id_key("0123456789ABCDEF.tmp") == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_finished),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
