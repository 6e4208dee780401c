/*
 * test_log.c — log lines as each destination gets them: the syslog
 * datagram (priority with facility mail, identifier, pid), the journal's
 * sd-daemon(3) prefix without a timestamp, the stderr line; control
 * characters, truncation; which stderr is the journal's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "relayd/log.h"

static int
setup_utc(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void
test_format(void **state)
{
	/* 2024-03-05 07:08:09.456 UTC */
	const struct timeval tv = {1709622489, 456789};
	static const struct {
		const char *name;
		enum log_dest dest;
		int pri;
		const char *ident, *text, *want;
	} cases[] = {
		{"syslog info", LOG_DEST_SYSLOG, LOG_INFO, "relayd/smtp",
		 "ABC: to=<a@b.example>, status=sent (250 ok)",
		 "<22>Mar  5 07:08:09 relayd/smtp[4242]: ABC: to=<a@b.example>, status=sent (250 "
		 "ok)"},
		{"syslog warning", LOG_DEST_SYSLOG, LOG_WARNING, "relayd", "spool open",
		 "<20>Mar  5 07:08:09 relayd[4242]: warning: spool open"},
		{"syslog error", LOG_DEST_SYSLOG, LOG_ERR, "relayd/qmgr", "X: cannot queue message",
		 "<19>Mar  5 07:08:09 relayd/qmgr[4242]: error: X: cannot queue message"},
		{"syslog fatal", LOG_DEST_SYSLOG, LOG_CRIT, "relayd", "cannot listen",
		 "<18>Mar  5 07:08:09 relayd[4242]: fatal: cannot listen"},
		{"syslog debug", LOG_DEST_SYSLOG, LOG_DEBUG, "relayd/smtpd", "connect from x",
		 "<23>Mar  5 07:08:09 relayd/smtpd[4242]: debug: connect from x"},
		{"journal info", LOG_DEST_JOURNAL, LOG_INFO, "relayd/smtpd",
		 "NOQUEUE: reject: RCPT from unknown[127.0.0.9]: 554 5.7.1 <u@d.example>",
		 "<6>relayd/smtpd: NOQUEUE: reject: RCPT from unknown[127.0.0.9]: 554 5.7.1 "
		 "<u@d.example>\n"},
		{"journal warning", LOG_DEST_JOURNAL, LOG_WARNING, "relayd", "w",
		 "<4>relayd: warning: w\n"},
		{"journal error", LOG_DEST_JOURNAL, LOG_ERR, "relayd", "e",
		 "<3>relayd: error: e\n"},
		{"journal fatal", LOG_DEST_JOURNAL, LOG_CRIT, "relayd", "f",
		 "<2>relayd: fatal: f\n"},
		{"journal debug", LOG_DEST_JOURNAL, LOG_DEBUG, "relayd/smtp", "d",
		 "<7>relayd/smtp: debug: d\n"},
		{"journal plain", LOG_DEST_JOURNAL, LOG_ERR, NULL, "relayd.conf:3: no such key",
		 "<3>relayd.conf:3: no such key\n"},
		{"stderr info", LOG_DEST_STDERR, LOG_INFO, "relayd/qmgr", "Q: from=<>",
		 "2024-03-05T07:08:09.456 relayd/qmgr[4242]: Q: from=<>\n"},
		{"stderr warning", LOG_DEST_STDERR, LOG_WARNING, "relayd", "w",
		 "2024-03-05T07:08:09.456 relayd[4242]: warning: w\n"},
		{"stderr plain", LOG_DEST_STDERR, LOG_ERR, NULL, "relayd.conf:3: no such key",
		 "relayd.conf:3: no such key\n"},
		{"control characters", LOG_DEST_JOURNAL, LOG_INFO, "relayd/smtpd",
		 "helo=<a\rb\nc\td\x7f\x1b[0m> caf\xc3\xa9",
		 "<6>relayd/smtpd: helo=<a?b?c?d??[0m> caf\xc3\xa9\n"},
		{"control characters, syslog", LOG_DEST_SYSLOG, LOG_INFO, "relayd", "a\nb",
		 "<22>Mar  5 07:08:09 relayd[4242]: a?b"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512];
		size_t n = log_format(buf, sizeof(buf), cases[i].dest, cases[i].pri, cases[i].ident,
				      4242, &tv, cases[i].text);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, buf, cases[i].want);
		if (n != strlen(cases[i].want))
			fail_msg("%s: got length %zu, want %zu", cases[i].name, n,
				 strlen(cases[i].want));
	}
}

static void
test_two_digit_day(void **state)
{
	/* 2024-11-25 23:59:59 UTC: no padding needed. */
	const struct timeval tv = {1732579199, 0};
	char buf[128];
	log_format(buf, sizeof(buf), LOG_DEST_SYSLOG, LOG_INFO, "relayd", 7, &tv, "x");
	assert_string_equal(buf, "<22>Nov 25 23:59:59 relayd[7]: x");
}

static void
test_truncation(void **state)
{
	const struct timeval tv = {1709622489, 0};
	char text[200], buf[40];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';

	/* Cut to the buffer, the newline kept. */
	size_t n = log_format(buf, sizeof(buf), LOG_DEST_JOURNAL, LOG_INFO, "relayd", 1, &tv, text);
	assert_int_equal(n, sizeof(buf) - 1);
	assert_int_equal(strlen(buf), n);
	assert_int_equal(buf[n - 1], '\n');
	assert_memory_equal(buf, "<6>relayd: xxx", 14);

	n = log_format(buf, sizeof(buf), LOG_DEST_SYSLOG, LOG_INFO, "relayd", 1, &tv, text);
	assert_true(n < sizeof(buf));
	assert_int_equal(strlen(buf), n);

	/* A header longer than the buffer: still one terminated line. */
	char ident[100];
	memset(ident, 'i', sizeof(ident) - 1);
	ident[sizeof(ident) - 1] = '\0';
	n = log_format(buf, sizeof(buf), LOG_DEST_STDERR, LOG_INFO, ident, 1, &tv, "t");
	assert_int_equal(n, sizeof(buf) - 1);
	assert_int_equal(buf[n - 1], '\n');
}

static void
test_journal_fd(void **state)
{
	int p[2];
	struct stat st;
	char v[64];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fstat(p[1], &st), 0);
	static const struct {
		const char *name;
		int kind; /* 0 unset, 1 this pipe, 2 another inode, 3 garbage */
		bool want;
	} cases[] = {
		{"unset", 0, false},
		{"this pipe", 1, true},
		{"another stream", 2, false},
		{"garbage", 3, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsetenv("JOURNAL_STREAM");
		if (cases[i].kind == 1)
			snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino);
		else if (cases[i].kind == 2)
			snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino + 1);
		else
			snprintf(v, sizeof(v), "journal");
		if (cases[i].kind)
			setenv("JOURNAL_STREAM", v, 1);
		bool got = log_journal_fd(p[1]);
		if (got != cases[i].want)
			fail_msg("%s (%s): got %d, want %d", cases[i].name, v, got, cases[i].want);
	}
	unsetenv("JOURNAL_STREAM");
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_two_digit_day),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_journal_fd),
	};
	return cmocka_run_group_tests(tests, setup_utc, NULL);
}
