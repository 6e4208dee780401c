/*
 * test_tlsrpt.c — TLS-RPT counts (relayd/tlsrpt.c): result and type
 * names, counting and aggregation, the bounds, relayctl's text and JSON,
 * the RFC 8460 report (modelled on the example of its section 4.8), the
 * file name (5.3), and the state file: round trips of awkward strings and
 * malformed files, each refused with its reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/tlsrpt.h"

/* What tlsrpt_write() wrote. */
struct out {
	char *s;
	size_t len;
};

static void
collect(void *arg, const char *s, size_t len)
{
	struct out *o = arg;

	o->s = realloc(o->s, o->len + len + 1);
	assert_non_null(o->s);
	memcpy(o->s + o->len, s, len);
	o->len += len;
	o->s[o->len] = '\0';
}

/* T as tlsrpt_write() writes it; the caller frees. */
static char *
written(const struct tlsrpt *t, bool json)
{
	struct out o = {0};

	tlsrpt_write(t, json, collect, &o);
	if (o.s == NULL)
		o.s = strdup("");
	assert_non_null(o.s);
	assert_int_equal(strlen(o.s), o.len);
	return o.s;
}

/*
 * A JSON checker (RFC 8259 grammar, no raw control bytes in strings):
 * enough to tell that every output parses.
 */

static bool json_value(const char **p, int depth);

static void
json_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static bool
json_str(const char **p)
{
	if (**p != '"')
		return false;
	for ((*p)++; **p != '"'; (*p)++) {
		unsigned char c = (unsigned char)**p;

		if (c < 0x20)
			return false; /* includes the NUL at the end */
		if (c != '\\')
			continue;
		(*p)++;
		if (**p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", (*p)[i]) || (*p)[i] == '\0')
					return false;
			*p += 4;
		} else if (!strchr("\"\\/bfnrt", **p) || **p == '\0')
			return false;
	}
	(*p)++;
	return true;
}

static bool
json_list(const char **p, char close, bool members, int depth)
{
	(*p)++;
	json_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		json_ws(p);
		if (members) {
			if (!json_str(p))
				return false;
			json_ws(p);
			if (**p != ':')
				return false;
			(*p)++;
		}
		if (!json_value(p, depth + 1))
			return false;
		json_ws(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (**p != ',')
			return false;
		(*p)++;
	}
}

static bool
json_value(const char **p, int depth)
{
	if (depth > 32)
		return false;
	json_ws(p);
	switch (**p) {
	case '{':
		return json_list(p, '}', true, depth);
	case '[':
		return json_list(p, ']', false, depth);
	case '"':
		return json_str(p);
	default:
		break;
	}
	for (const char *const *w = (const char *const[]){"true", "false", "null", NULL}; *w; w++)
		if (strncmp(*p, *w, strlen(*w)) == 0) {
			*p += strlen(*w);
			return true;
		}
	if (**p == '-')
		(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	while (**p >= '0' && **p <= '9')
		(*p)++;
	return true;
}

/* Fails unless S is exactly one JSON value (and white space). */
static void
assert_json(const char *s)
{
	const char *p = s;

	if (!json_value(&p, 0))
		fail_msg("not JSON at offset %zu: %s", (size_t)(p - s), s);
	json_ws(&p);
	if (*p != '\0')
		fail_msg("trailing bytes at offset %zu: %s", (size_t)(p - s), s);
}

static void
test_json_checker(void **state)
{
	static const struct {
		const char *in;
		bool ok;
	} c[] = {
		{"[]", true},
		{"{\"a\":[1,-2,\"x\\n\\u00ff\"],\"b\":null}\n", true},
		{"[1,]", false},
		{"{\"a\" 1}", false},
		{"\"raw\nnewline\"", false},
		{"\"bad \\x escape\"", false},
		{"[1] 2", false},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *p = c[i].in;
		bool ok = json_value(&p, 0);

		json_ws(&p);
		ok = ok && *p == '\0';
		if (ok != c[i].ok)
			fail_msg("%s: got %d, want %d", c[i].in, ok, c[i].ok);
	}
}

static void
test_names(void **state)
{
	static const struct {
		enum tlsrpt_result r;
		const char *name;
	} c[] = {
		{TLSRPT_STARTTLS_NOT_SUPPORTED, "starttls-not-supported"},
		{TLSRPT_CERTIFICATE_HOST_MISMATCH, "certificate-host-mismatch"},
		{TLSRPT_CERTIFICATE_EXPIRED, "certificate-expired"},
		{TLSRPT_CERTIFICATE_NOT_TRUSTED, "certificate-not-trusted"},
		{TLSRPT_VALIDATION_FAILURE, "validation-failure"},
		{TLSRPT_TLSA_INVALID, "tlsa-invalid"},
		{TLSRPT_DNSSEC_INVALID, "dnssec-invalid"},
		{TLSRPT_DANE_REQUIRED, "dane-required"},
		{TLSRPT_STS_POLICY_FETCH_ERROR, "sts-policy-fetch-error"},
		{TLSRPT_STS_POLICY_INVALID, "sts-policy-invalid"},
		{TLSRPT_STS_WEBPKI_INVALID, "sts-webpki-invalid"},
	};
	enum tlsrpt_result r;
	enum tlsrpt_type t;

	assert_int_equal(sizeof(c) / sizeof(c[0]), TLSRPT_NRESULT);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *got = tlsrpt_result_name(c[i].r);

		if (strcmp(got, c[i].name) != 0)
			fail_msg("result %d: got %s, want %s", (int)c[i].r, got, c[i].name);
		assert_int_equal(tlsrpt_result_parse(c[i].name, &r), 0);
		assert_int_equal(r, c[i].r);
	}
	assert_string_equal(tlsrpt_result_name(TLSRPT_NRESULT), "unknown");
	assert_int_equal(tlsrpt_result_parse("Certificate-Expired", &r), -1);
	assert_int_equal(tlsrpt_result_parse("", &r), -1);

	assert_string_equal(tlsrpt_type_name(TLSRPT_STS), "sts");
	assert_string_equal(tlsrpt_type_name(TLSRPT_TLSA), "tlsa");
	assert_string_equal(tlsrpt_type_name((enum tlsrpt_type)2), "unknown");
	assert_int_equal(tlsrpt_type_parse("tlsa", &t), 0);
	assert_int_equal(t, TLSRPT_TLSA);
	assert_int_equal(tlsrpt_type_parse("sts", &t), 0);
	assert_int_equal(t, TLSRPT_STS);
	assert_int_equal(tlsrpt_type_parse("no-policy-found", &t), -1);
}

/* Fails unless (DOMAIN, TYPE) has these counts. */
static void
want_counts(const struct tlsrpt *t, const char *domain, enum tlsrpt_type type, uint64_t ok,
	    uint64_t failed, size_t ntuples)
{
	uint64_t got_ok, got_failed;
	size_t got_n;

	if (tlsrpt_counts(t, domain, type, &got_ok, &got_failed, &got_n) == -1)
		fail_msg("%s (%s): no counts", domain, tlsrpt_type_name(type));
	if (got_ok != ok || got_failed != failed || got_n != ntuples)
		fail_msg("%s (%s): got %llu/%llu/%zu, want %llu/%llu/%zu", domain,
			 tlsrpt_type_name(type), (unsigned long long)got_ok,
			 (unsigned long long)got_failed, got_n, (unsigned long long)ok,
			 (unsigned long long)failed, ntuples);
}

static void
test_counting(void **state)
{
	struct tlsrpt *t = tlsrpt_new(1000);
	const enum tlsrpt_result ex = TLSRPT_CERTIFICATE_EXPIRED;
	const char *s = "192.0.2.1", *r = "198.51.100.1";

	assert_non_null(t);
	assert_int_equal(tlsrpt_start(t), 1000);
	assert_int_equal(tlsrpt_ndomains(t), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tlsrpt_success(t, "example.com", TLSRPT_STS), 0);
	/* one domain whatever its case and final dot */
	assert_int_equal(tlsrpt_success(t, "Example.COM.", TLSRPT_STS), 0);
	want_counts(t, "example.com", TLSRPT_STS, 4, 0, 0);
	want_counts(t, "EXAMPLE.com", TLSRPT_STS, 4, 0, 0);

	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, s, "mx1.example.com", r),
			 0);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, s, "mx1.example.com", r),
			 0);
	/* the MX host compares without case */
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, s, "MX1.Example.com", r),
			 0);
	want_counts(t, "example.com", TLSRPT_STS, 4, 3, 1);
	/* each other member makes a new tuple */
	assert_int_equal(
		tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, "192.0.2.2", "mx1.example.com", r),
		0);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, s, "mx2.example.com", r),
			 0);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, ex, s, "mx1.example.com",
					"198.51.100.2"),
			 0);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS,
					TLSRPT_CERTIFICATE_NOT_TRUSTED, s, "mx1.example.com", r),
			 0);
	want_counts(t, "example.com", TLSRPT_STS, 4, 7, 5);
	/* NULL and "" are both "not known" */
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, TLSRPT_STS_POLICY_FETCH_ERROR,
					NULL, NULL, NULL),
			 0);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_STS, TLSRPT_STS_POLICY_FETCH_ERROR,
					"", "", ""),
			 0);
	want_counts(t, "example.com", TLSRPT_STS, 4, 9, 6);

	/* the other type counts apart */
	assert_int_equal(tlsrpt_counts(t, "example.com", TLSRPT_TLSA, NULL, NULL, NULL), -1);
	assert_int_equal(tlsrpt_failure(t, "example.com", TLSRPT_TLSA, TLSRPT_DNSSEC_INVALID, NULL,
					"mx1.example.com", NULL),
			 0);
	want_counts(t, "example.com", TLSRPT_TLSA, 0, 1, 1);
	want_counts(t, "example.com", TLSRPT_STS, 4, 9, 6);

	assert_int_equal(tlsrpt_success(t, "b.example", TLSRPT_TLSA), 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_ndomains(t), 3);
	assert_string_equal(tlsrpt_domain(t, 0), "a.example");
	assert_string_equal(tlsrpt_domain(t, 1), "b.example");
	assert_string_equal(tlsrpt_domain(t, 2), "example.com");
	assert_null(tlsrpt_domain(t, 3));
	assert_int_equal(tlsrpt_counts(t, "c.example", TLSRPT_STS, NULL, NULL, NULL), -1);
	assert_int_equal(tlsrpt_dropped(t), 0);
	tlsrpt_free(t);
	tlsrpt_free(NULL);
}

static void
test_invalid(void **state)
{
	char longname[TLSRPT_NAME_MAX + 2], longdomain[256];
	struct tlsrpt *t = tlsrpt_new(0);
	const char *one = "x";

	assert_non_null(t);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longdomain, 'a', 254);
	longdomain[254] = '\0';

	static const char *const bad_domains[] = {"", ".", NULL};
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]); i++) {
		errno = 0;
		assert_int_equal(tlsrpt_success(t, bad_domains[i], TLSRPT_STS), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(tlsrpt_success(t, longdomain, TLSRPT_STS), -1);
	longdomain[253] = '\0'; /* 253 is fine */
	assert_int_equal(tlsrpt_success(t, longdomain, TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_success(t, "a.example", (enum tlsrpt_type)2), -1);
	assert_int_equal(
		tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_NRESULT, NULL, NULL, NULL), -1);
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_DANE_REQUIRED, NULL,
					longname, NULL),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tlsrpt_policy(t, "a.example", TLSRPT_STS, NULL, 1, NULL, 0), -1);
	assert_int_equal(
		tlsrpt_policy(t, "a.example", TLSRPT_STS, &one, 1, (const char *const[]){""}, 1),
		-1);
	assert_int_equal(
		tlsrpt_policy(t, "a.example", TLSRPT_STS, &one, TLSRPT_STRINGS_MAX + 1, NULL, 0),
		-1);
	/* nothing refused made a domain */
	assert_int_equal(tlsrpt_ndomains(t), 1);
	assert_int_equal(tlsrpt_dropped(t), 0);
	tlsrpt_free(t);
}

static void
test_bound_domains(void **state)
{
	struct tlsrpt *t = tlsrpt_new(0), *u;
	char name[64], err[200];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(t);
	for (int i = 0; i < TLSRPT_DOMAINS_MAX; i++) {
		snprintf(name, sizeof(name), "d%05d.example", TLSRPT_DOMAINS_MAX - i);
		assert_int_equal(tlsrpt_success(t, name, i % 2 ? TLSRPT_STS : TLSRPT_TLSA), 0);
	}
	assert_int_equal(tlsrpt_ndomains(t), TLSRPT_DOMAINS_MAX);
	errno = 0;
	assert_int_equal(tlsrpt_success(t, "one-too-many.example", TLSRPT_STS), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(tlsrpt_failure(t, "one-too-many.example", TLSRPT_STS, TLSRPT_DANE_REQUIRED,
					NULL, NULL, NULL),
			 -1);
	assert_int_equal(tlsrpt_dropped(t), 2);
	/* a policy is refused too, but is not a session */
	assert_int_equal(tlsrpt_policy(t, "one-too-many.example", TLSRPT_STS, NULL, 0, NULL, 0),
			 -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(tlsrpt_dropped(t), 2);
	/* known domains still count, under a new type too */
	assert_int_equal(tlsrpt_success(t, "d00001.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_success(t, "d00001.example", TLSRPT_TLSA), 0);
	assert_int_equal(tlsrpt_ndomains(t), TLSRPT_DOMAINS_MAX);
	assert_string_equal(tlsrpt_domain(t, 0), "d00001.example");

	/* and all of it survives a round trip */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(tlsrpt_save(t, f), 0);
	fclose(f);
	f = fmemopen(buf, len, "r");
	assert_non_null(f);
	u = tlsrpt_load(f, err, sizeof(err));
	if (u == NULL)
		fail_msg("load: %s", err);
	fclose(f);
	assert_int_equal(tlsrpt_ndomains(u), TLSRPT_DOMAINS_MAX);
	assert_int_equal(tlsrpt_dropped(u), 2);
	want_counts(u, "d00001.example", TLSRPT_TLSA, 1, 0, 0);
	assert_int_equal(tlsrpt_success(u, "one-too-many.example", TLSRPT_STS), -1);
	tlsrpt_free(u);
	free(buf);
	tlsrpt_free(t);
}

static void
test_bound_tuples(void **state)
{
	struct tlsrpt *t = tlsrpt_new(0);
	char mx[64];

	assert_non_null(t);
	for (int i = 0; i < TLSRPT_FAILURES_MAX; i++) {
		snprintf(mx, sizeof(mx), "mx%d.example", i);
		assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS,
						TLSRPT_CERTIFICATE_EXPIRED, NULL, mx, NULL),
				 0);
	}
	want_counts(t, "a.example", TLSRPT_STS, 0, TLSRPT_FAILURES_MAX, TLSRPT_FAILURES_MAX);
	/* one more tuple: counted in the summary only */
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_CERTIFICATE_EXPIRED,
					NULL, "mx-new.example", NULL),
			 0);
	want_counts(t, "a.example", TLSRPT_STS, 0, TLSRPT_FAILURES_MAX + 1, TLSRPT_FAILURES_MAX);
	/* a known tuple still counts as one */
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_CERTIFICATE_EXPIRED,
					NULL, "mx7.example", NULL),
			 0);
	want_counts(t, "a.example", TLSRPT_STS, 0, TLSRPT_FAILURES_MAX + 2, TLSRPT_FAILURES_MAX);
	/* the bound is per (domain, type) */
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_TLSA, TLSRPT_TLSA_INVALID, NULL,
					"mx-new.example", NULL),
			 0);
	want_counts(t, "a.example", TLSRPT_TLSA, 0, 1, 1);
	tlsrpt_free(t);
}

/* The counts tlsrpt_write() is tested with. */
static struct tlsrpt *
write_fixture(void)
{
	static const char *const sts[] = {"version: STSv1", "mode: enforce", "mx: mx.a.example",
					  "max_age: 86400"};
	static const char *const mx[] = {"mx.a.example"};
	struct tlsrpt *t = tlsrpt_new(0);

	assert_non_null(t);
	assert_int_equal(tlsrpt_policy(t, "a.example", TLSRPT_STS, sts, 4, mx, 1), 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_STARTTLS_NOT_SUPPORTED,
					"203.0.113.9", "mx.a.example", "192.0.2.1"),
			 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_TLSA), 0);
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_TLSA, TLSRPT_DNSSEC_INVALID, NULL,
					NULL, NULL),
			 0);
	/* a policy without sessions is not shown */
	assert_int_equal(tlsrpt_policy(t, "b.example", TLSRPT_STS, sts, 4, mx, 1), 0);
	/* sorted by domain: inserted last, shown first */
	assert_int_equal(tlsrpt_failure(t, "0.example", TLSRPT_STS, TLSRPT_STS_WEBPKI_INVALID, NULL,
					"mx.0.example", NULL),
			 0);
	return t;
}

static void
test_write(void **state)
{
	static const char want_text[] = "0.example (sts): 0 successful, 1 failed\n"
					"  sts-webpki-invalid mx.0.example: 1\n"
					"a.example (sts): 2 successful, 1 failed\n"
					"  starttls-not-supported mx.a.example[192.0.2.1]: 1\n"
					"a.example (tlsa): 1 successful, 1 failed\n"
					"  dnssec-invalid -: 1\n";
	static const char want_json[] =
		"[{\"domain\":\"0.example\",\"policy_type\":\"sts\",\"successful\":0,\"failed\":1,"
		"\"failures\":[{\"result_type\":\"sts-webpki-invalid\","
		"\"receiving_mx_hostname\":\"mx.0.example\",\"receiving_ip\":null,"
		"\"sending_mta_ip\":null,\"count\":1}]},"
		"{\"domain\":\"a.example\",\"policy_type\":\"sts\",\"successful\":2,\"failed\":1,"
		"\"failures\":[{\"result_type\":\"starttls-not-supported\","
		"\"receiving_mx_hostname\":\"mx.a.example\",\"receiving_ip\":\"192.0.2.1\","
		"\"sending_mta_ip\":\"203.0.113.9\",\"count\":1}]},"
		"{\"domain\":\"a.example\",\"policy_type\":\"tlsa\",\"successful\":1,\"failed\":1,"
		"\"failures\":[{\"result_type\":\"dnssec-invalid\",\"receiving_mx_hostname\":null,"
		"\"receiving_ip\":null,\"sending_mta_ip\":null,\"count\":1}]}]\n";
	struct tlsrpt *t = write_fixture(), *empty = tlsrpt_new(0);
	char *s;

	s = written(t, false);
	assert_string_equal(s, want_text);
	free(s);
	s = written(t, true);
	assert_json(s);
	assert_string_equal(s, want_json);
	free(s);

	assert_non_null(empty);
	s = written(empty, false);
	assert_string_equal(s, "");
	free(s);
	s = written(empty, true);
	assert_string_equal(s, "[]\n");
	assert_json(s);
	free(s);
	tlsrpt_free(empty);
	tlsrpt_free(t);
}

/* Names that need escaping come out as valid JSON and harmless text. */
static void
test_write_escaping(void **state)
{
	struct tlsrpt *t = tlsrpt_new(0);
	char *s;

	assert_non_null(t);
	assert_int_equal(tlsrpt_failure(t, "Q\"\\\n\x01\xc3\xa4.example", TLSRPT_STS,
					TLSRPT_VALIDATION_FAILURE, "\t", "mx\xff.example",
					"1\r\n2"),
			 0);
	s = written(t, true);
	assert_json(s);
	assert_non_null(strstr(s, "\"domain\":\"q\\\"\\\\\\n\\u0001\xc3\xa4.example\""));
	assert_non_null(strstr(s, "\"receiving_mx_hostname\":\"mx\\u00ff.example\""));
	assert_non_null(strstr(s, "\"receiving_ip\":\"1\\r\\n2\""));
	assert_non_null(strstr(s, "\"sending_mta_ip\":\"\\t\""));
	free(s);
	s = written(t, false);
	assert_string_equal(s, "q\"\\??\xc3\xa4.example (sts): 0 successful, 1 failed\n"
			       "  validation-failure mx\xff.example[1??2]: 1\n");
	free(s);
	tlsrpt_free(t);
}

/* The example of RFC 8460 4.8, without its additional-information and
 * failure-reason-code (relayd does not send them), failures in result
 * order. */
static void
test_report_rfc8460(void **state)
{
	static const char *const strings[] = {"version: STSv1", "mode: testing",
					      "mx: *.mail.company-y.example", "max_age: 86400"};
	static const char *const mx[] = {"*.mail.company-y.example"};
	static const char want[] = "{"
				   "\"organization-name\":\"Company-X\","
				   "\"date-range\":{"
				   "\"start-datetime\":\"2016-04-01T00:00:00Z\","
				   "\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
				   "\"contact-info\":\"sts-reporting@company-x.example\","
				   "\"report-id\":\"5065427c-23d3-47ca-b6e0-946ea0e8c4be\","
				   "\"policies\":[{"
				   "\"policy\":{"
				   "\"policy-type\":\"sts\","
				   "\"policy-string\":[\"version: STSv1\",\"mode: testing\","
				   "\"mx: *.mail.company-y.example\",\"max_age: 86400\"],"
				   "\"policy-domain\":\"company-y.example\","
				   "\"mx-host\":[\"*.mail.company-y.example\"]},"
				   "\"summary\":{"
				   "\"total-successful-session-count\":5326,"
				   "\"total-failure-session-count\":303},"
				   "\"failure-details\":[{"
				   "\"result-type\":\"starttls-not-supported\","
				   "\"sending-mta-ip\":\"2001:db8:abcd:0013::1\","
				   "\"receiving-mx-hostname\":\"mx2.mail.company-y.example\","
				   "\"receiving-ip\":\"203.0.113.56\","
				   "\"failed-session-count\":200},{"
				   "\"result-type\":\"certificate-expired\","
				   "\"sending-mta-ip\":\"2001:db8:abcd:0012::1\","
				   "\"receiving-mx-hostname\":\"mx1.mail.company-y.example\","
				   "\"failed-session-count\":100},{"
				   "\"result-type\":\"validation-failure\","
				   "\"sending-mta-ip\":\"198.51.100.62\","
				   "\"receiving-mx-hostname\":\"mx-backup.mail.company-y.example\","
				   "\"receiving-ip\":\"203.0.113.58\","
				   "\"failed-session-count\":3}]}]}";
	struct tlsrpt *t = tlsrpt_new(1459468800); /* 2016-04-01T00:00:00Z */
	const char *d = "company-y.example";
	char *out;
	size_t len;

	assert_non_null(t);
	assert_int_equal(tlsrpt_policy(t, d, TLSRPT_STS, strings, 4, mx, 1), 0);
	for (int i = 0; i < 5326; i++)
		assert_int_equal(tlsrpt_success(t, d, TLSRPT_STS), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(tlsrpt_failure(t, d, TLSRPT_STS, TLSRPT_CERTIFICATE_EXPIRED,
						"2001:db8:abcd:0012::1",
						"mx1.mail.company-y.example", NULL),
				 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(tlsrpt_failure(t, d, TLSRPT_STS, TLSRPT_STARTTLS_NOT_SUPPORTED,
						"2001:db8:abcd:0013::1",
						"mx2.mail.company-y.example", "203.0.113.56"),
				 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tlsrpt_failure(t, d, TLSRPT_STS, TLSRPT_VALIDATION_FAILURE,
						"198.51.100.62", "mx-backup.mail.company-y.example",
						"203.0.113.58"),
				 0);
	assert_int_equal(tlsrpt_report_json(t, "Company-Y.Example", "Company-X",
					    "sts-reporting@company-x.example",
					    "5065427c-23d3-47ca-b6e0-946ea0e8c4be", 1459555199,
					    &out, &len),
			 0);
	assert_json(out);
	assert_int_equal(len, strlen(out));
	if (strcmp(out, want) != 0) {
		size_t i = 0;

		while (out[i] && out[i] == want[i])
			i++;
		fail_msg("report differs at offset %zu:\n got %s\nwant %s", i, out + i, want + i);
	}
	free(out);
	tlsrpt_free(t);
}

static void
test_report_edges(void **state)
{
	static const char *const tlsa[] = {"3 1 1 ABCDEF0123", "3 1 1 0123ABCDEF"};
	static const char *const ignored[] = {"not.for.tlsa"};
	static const char want[] =
		"{\"organization-name\":\"Org \\\"X\\\"\","
		"\"date-range\":{\"start-datetime\":\"1970-01-01T00:00:00Z\","
		"\"end-datetime\":\"1970-01-02T00:00:00Z\"},"
		"\"report-id\":\"id\","
		"\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[],"
		"\"policy-domain\":\"x.example\"},"
		"\"summary\":{\"total-successful-session-count\":1,"
		"\"total-failure-session-count\":0},\"failure-details\":[]},"
		"{\"policy\":{\"policy-type\":\"tlsa\","
		"\"policy-string\":[\"3 1 1 ABCDEF0123\",\"3 1 1 0123ABCDEF\"],"
		"\"policy-domain\":\"x.example\"},"
		"\"summary\":{\"total-successful-session-count\":0,"
		"\"total-failure-session-count\":1},\"failure-details\":[{"
		"\"result-type\":\"tlsa-invalid\",\"failed-session-count\":1}]}]}";
	struct tlsrpt *t = tlsrpt_new(0);
	char *out = (char *)"x";
	size_t len = 1;

	assert_non_null(t);
	/* an sts policy never set: no strings, no mx-host; tlsa: never mx-host */
	assert_int_equal(tlsrpt_success(t, "x.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_policy(t, "x.example", TLSRPT_TLSA, tlsa, 2, ignored, 1), 0);
	assert_int_equal(
		tlsrpt_failure(t, "x.example", TLSRPT_TLSA, TLSRPT_TLSA_INVALID, NULL, NULL, NULL),
		0);
	assert_int_equal(tlsrpt_policy(t, "policy-only.example", TLSRPT_STS, tlsa, 1, NULL, 0), 0);
	assert_int_equal(
		tlsrpt_report_json(t, "x.example", "Org \"X\"", NULL, "id", 86400, &out, &len), 0);
	assert_json(out);
	assert_string_equal(out, want);
	free(out);

	/* setting the same policy again changes nothing; another replaces it */
	assert_int_equal(tlsrpt_policy(t, "x.example", TLSRPT_TLSA, tlsa, 2, NULL, 0), 0);
	assert_int_equal(tlsrpt_policy(t, "x.example", TLSRPT_TLSA, tlsa + 1, 1, NULL, 0), 0);
	assert_int_equal(tlsrpt_report_json(t, "x.example", "o", NULL, "id", 86400, &out, &len), 0);
	assert_non_null(strstr(out, "\"policy-string\":[\"3 1 1 0123ABCDEF\"]"));
	free(out);

	errno = 0;
	assert_int_equal(
		tlsrpt_report_json(t, "policy-only.example", "o", NULL, "id", 1, &out, &len), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(out);
	assert_int_equal(tlsrpt_report_json(t, "none.example", "o", NULL, "id", 1, &out, &len), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(tlsrpt_report_json(t, "x.example", NULL, NULL, "id", 1, &out, &len), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tlsrpt_report_json(t, "x.example", "o", NULL, NULL, 1, &out, &len), -1);
	assert_int_equal(errno, EINVAL);
	tlsrpt_free(t);
}

static void
test_filename(void **state)
{
	static const struct {
		const char *submitter, *domain;
		long long begin, end;
		size_t len;
		const char *want; /* NULL: -1 */
		int err;
	} c[] = {
		{"mail.sender.example", "recipient.example", 1470013207, 1470186007, 100,
		 "mail.sender.example!recipient.example!1470013207!1470186007.json.gz", 0},
		{"a", "b", 0, 86400, 100, "a!b!0!86400.json.gz", 0},
		{"a", "b", 0, 86400, sizeof("a!b!0!86400.json.gz"), "a!b!0!86400.json.gz", 0},
		{"a", "b", 0, 86400, sizeof("a!b!0!86400.json.gz") - 1, NULL, ERANGE},
		{"a!x", "b", 0, 1, 100, NULL, EINVAL},
		{"a", "../b", 0, 1, 100, NULL, EINVAL},
		{"", "b", 0, 1, 100, NULL, EINVAL},
		{"a", "b\n", 0, 1, 100, NULL, EINVAL},
		{NULL, "b", 0, 1, 100, NULL, EINVAL},
		{"a", "b", -1, 1, 100, NULL, EINVAL},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char buf[100];
		int rc;

		errno = 0;
		rc = tlsrpt_filename(c[i].submitter, c[i].domain, (time_t)c[i].begin,
				     (time_t)c[i].end, buf, c[i].len);
		if (c[i].want == NULL) {
			if (rc != -1 || errno != c[i].err)
				fail_msg("case %zu: got %d (errno %d), want -1 (errno %d)", i, rc,
					 errno, c[i].err);
		} else if (rc != 0 || strcmp(buf, c[i].want) != 0)
			fail_msg("case %zu: got %d %s, want %s", i, rc, rc ? "" : buf, c[i].want);
	}
}

/* T saved; the caller frees. */
static char *
saved(const struct tlsrpt *t, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(f);
	assert_int_equal(tlsrpt_save(t, f), 0);
	assert_int_equal(fclose(f), 0);
	if (len)
		*len = n;
	return buf;
}

/* Counts loaded from the LEN bytes at S, or NULL with the reason in ERR. */
static struct tlsrpt *
loaded(const char *s, size_t len, char *err, size_t errlen)
{
	struct tlsrpt *t;
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, len, f), len);
	rewind(f);
	t = tlsrpt_load(f, err, errlen);
	fclose(f);
	return t;
}

static void
test_roundtrip(void **state)
{
	static const char *const strings[] = {
		"version: STSv1",	"",  " two  spaces ",	"100% \"quoted\"\\",
		"tab\there\r\nnewline", "-", "\xc3\xa4\xff\x7f"};
	static const char *const mx[] = {"*.mx.example", "-", "%2D"};
	static const char *const weird[] = {
		"we ird\"dom%ain\n.ex\xc3\xa4mple", "-", "%", "a b", "\x01\x1f\x7f\x80\xff", "x\\y",
	};
	struct tlsrpt *t = tlsrpt_new(1733270400), *u;
	size_t len, len2, n = sizeof(weird) / sizeof(weird[0]);
	char err[200], *a, *b;

	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		const char *w = weird[i];

		assert_int_equal(tlsrpt_policy(t, w, TLSRPT_STS, strings, 7, mx, 3), 0);
		assert_int_equal(tlsrpt_success(t, w, TLSRPT_STS), 0);
		assert_int_equal(
			tlsrpt_failure(t, w, TLSRPT_STS, TLSRPT_STS_POLICY_INVALID, w, w, w), 0);
		assert_int_equal(tlsrpt_failure(t, w, TLSRPT_STS, TLSRPT_STS_POLICY_INVALID, w,
						NULL, weird[(i + 1) % n]),
				 0);
		assert_int_equal(tlsrpt_failure(t, w, TLSRPT_TLSA, TLSRPT_DANE_REQUIRED, NULL,
						weird[(i + 2) % n], NULL),
				 0);
	}
	/* a policy set with nothing in it, and counts of 0 */
	assert_int_equal(tlsrpt_policy(t, "empty.example", TLSRPT_TLSA, NULL, 0, NULL, 0), 0);
	assert_int_equal(tlsrpt_policy(t, "zero.example", TLSRPT_STS, strings, 1, NULL, 0), 0);

	a = saved(t, &len);
	u = loaded(a, len, err, sizeof(err));
	if (u == NULL)
		fail_msg("load: %s\n%s", err, a);
	b = saved(u, &len2);
	if (len != len2 || memcmp(a, b, len) != 0)
		fail_msg("saved again differs:\n%s\n---\n%s", a, b);
	free(b);
	assert_int_equal(tlsrpt_start(u), 1733270400);
	assert_int_equal(tlsrpt_ndomains(u), n + 2);

	/* what it shows is the same */
	for (int json = 0; json < 2; json++) {
		char *x = written(t, json), *y = written(u, json);

		assert_string_equal(x, y);
		if (json)
			assert_json(x);
		free(x);
		free(y);
	}
	for (size_t i = 0; i < n; i++) {
		char *x, *y;
		size_t lx, ly;

		assert_int_equal(
			tlsrpt_report_json(t, weird[i], "o", "c", "id", 1733356800, &x, &lx), 0);
		assert_int_equal(
			tlsrpt_report_json(u, weird[i], "o", "c", "id", 1733356800, &y, &ly), 0);
		assert_json(x);
		assert_string_equal(x, y);
		assert_non_null(strstr(x, "\"start-datetime\":\"2024-12-04T00:00:00Z\""));
		free(x);
		free(y);
	}
	/* the policy flag survives: setting the same policy changes nothing */
	assert_int_equal(tlsrpt_policy(u, "empty.example", TLSRPT_TLSA, NULL, 0, NULL, 0), 0);
	b = saved(u, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(a, b, len);
	free(b);

	/* the file has no raw byte a line reader could trip on */
	for (size_t i = 0; i < len; i++)
		if (a[i] != '\n' && ((unsigned char)a[i] < 0x20 || (unsigned char)a[i] > 0x7E))
			fail_msg("raw byte 0x%02x at offset %zu", (unsigned char)a[i], i);
	free(a);
	tlsrpt_free(u);
	tlsrpt_free(t);
}

/* A small file, exactly. */
static void
test_saved_format(void **state)
{
	struct tlsrpt *t = tlsrpt_new(86400);
	char *s;

	assert_non_null(t);
	assert_int_equal(tlsrpt_policy(t, "a.example", TLSRPT_STS,
				       (const char *const[]){"mode: testing", ""}, 2,
				       (const char *const[]){"*.a.example"}, 1),
			 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_STS), 0);
	assert_int_equal(tlsrpt_failure(t, "a.example", TLSRPT_STS, TLSRPT_CERTIFICATE_EXPIRED,
					"192.0.2.1", "-", "a b"),
			 0);
	assert_int_equal(tlsrpt_success(t, "a.example", TLSRPT_TLSA), 0);
	s = saved(t, NULL);
	assert_string_equal(s, "tlsrpt-state 1\n"
			       "start 86400\n"
			       "dropped 0\n"
			       "domain a.example sts 1 1\n"
			       "policy\n"
			       "string mode:%20testing\n"
			       "string \n"
			       "mx *.a.example\n"
			       "failure certificate-expired 192.0.2.1 %2D a%20b 1\n"
			       "domain a.example tlsa 1 0\n"
			       "end\n");
	free(s);
	tlsrpt_free(t);
}

#define H "tlsrpt-state 1\nstart 0\ndropped 0\n"

static void
test_load_bad(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;	  /* 0: strlen(in) */
		const char *want; /* in the reason */
	} c[] = {
		{"empty", "", 0, "empty file"},
		{"not ours", "garbage\n", 0, "line 1: not a TLS-RPT state file"},
		{"version", "tlsrpt-state 2\nstart 0\ndropped 0\nend\n", 0,
		 "line 1: unknown version \"2\""},
		{"CRLF", "tlsrpt-state 1\r\nstart 0\r\n", 0, "line 1: unknown version"},
		{"no start", "tlsrpt-state 1\nbegin 0\n", 0, "line 2: no start line"},
		{"bad start", "tlsrpt-state 1\nstart 12x\n", 0, "line 2: bad start \"12x\""},
		{"start range", "tlsrpt-state 1\nstart 99999999999999999999\n", 0,
		 "line 2: bad start"},
		{"no dropped", "tlsrpt-state 1\nstart 0\nend\n", 0, "line 3: no dropped line"},
		{"bad dropped", "tlsrpt-state 1\nstart 0\ndropped -1\n", 0, "line 3: bad count"},
		{"no end", H, 0, "no end line"},
		{"no end, domains", H "domain a sts 1 0\n", 0, "no end line"},
		{"no newline", H "end", 0, "line 4: no newline at the end"},
		{"after end", H "end\nend\n", 0, "line 5: data after the end line"},
		{"blank after end", H "end\n\n", 0, "line 5: data after the end line"},
		{"NUL", "tlsrpt-state 1\nstart 0\0\n", sizeof("tlsrpt-state 1\nstart 0\0\n") - 1,
		 "line 2: NUL byte"},
		{"unknown", H "domainx a sts 0 0\nend\n", 0, "line 4: unknown line \"domainx\""},
		{"blank", H "\nend\n", 0, "line 4: unknown line \"\""},
		{"few fields", H "domain a sts 0\nend\n", 0,
		 "line 4: domain: wrong number of fields"},
		{"two spaces", H "domain a  sts 0 0\nend\n", 0, "domain: wrong number of fields"},
		{"trailing space", H "domain a sts 0 0 \nend\n", 0, "wrong number of fields"},
		{"many fields", H "failure dane-required - - - 1 2 3\nend\n", 0,
		 "wrong number of fields"},
		{"type", H "domain a dane 0 0\nend\n", 0, "line 4: bad policy type \"dane\""},
		{"count", H "domain a sts x 0\nend\n", 0, "line 4: bad count \"x\""},
		{"signed count", H "domain a sts +1 0\nend\n", 0, "bad count \"+1\""},
		{"empty count", H "domain a sts 1 \nend\n", 0, "bad count \"\""},
		{"count range", H "domain a sts 18446744073709551616 0\nend\n", 0,
		 "count out of range"},
		{"absent domain", H "domain - sts 0 0\nend\n", 0, "domain missing"},
		{"empty domain", H "domain  sts 0 0\nend\n", 0, "bad domain"},
		{"dot domain", H "domain . sts 0 0\nend\n", 0, "bad domain"},
		{"short escape", H "domain a%2 sts 0 0\nend\n", 0, "bad domain \"a%2\""},
		{"bad hex", H "domain a%zz sts 0 0\nend\n", 0, "bad domain"},
		{"%00", H "domain a%00b sts 0 0\nend\n", 0, "bad domain"},
		{"raw 8bit", H "domain \xc3\xa4 sts 0 0\nend\n", 0, "bad domain \"??\""},
		{"raw tab", H "domain a\tb sts 0 0\nend\n", 0, "bad domain \"a?b\""},
		{"raw CR", H "domain a sts 0 0\r\nend\n", 0, "bad count"},
		{"duplicate", H "domain a sts 0 0\ndomain A sts 0 0\nend\n", 0,
		 "line 5: duplicate domain \"a\" (sts)"},
		{"policy first", H "policy\nend\n", 0, "line 4: policy before any domain line"},
		{"failure first", H "failure dane-required - - - 1\nend\n", 0,
		 "failure before any domain line"},
		{"string early", H "domain a sts 0 0\nstring x\nend\n", 0,
		 "line 5: string before the policy line"},
		{"two policies", H "domain a sts 0 0\npolicy\npolicy\nend\n", 0,
		 "line 6: duplicate policy line"},
		{"tlsa mx", H "domain a tlsa 0 0\npolicy\nmx x\nend\n", 0, "mx in a tlsa policy"},
		{"empty mx", H "domain a sts 0 0\npolicy\nmx \nend\n", 0, "bad mx pattern"},
		{"result", H "domain a sts 0 1\nfailure nope - - - 1\nend\n", 0,
		 "line 5: bad result type \"nope\""},
		{"count 0", H "domain a sts 0 1\nfailure dane-required - - - 0\nend\n", 0,
		 "failure count 0"},
		{"exceeds",
		 H "domain a sts 0 2\nfailure dane-required - - - 2\n"
		   "failure tlsa-invalid - - - 1\nend\n",
		 0, "line 6: failure counts exceed the failed count"},
		{"dup failure",
		 H "domain a sts 0 9\nfailure dane-required a B c 1\n"
		   "failure dane-required a b c 1\nend\n",
		 0, "line 6: duplicate failure"},
		{"empty name", H "domain a sts 0 1\nfailure dane-required  - - 1\nend\n", 0,
		 "bad failure name"},
		{"bad ip", H "domain a sts 0 1\nfailure dane-required - - 1%g 1\nend\n", 0,
		 "bad receiving IP"},
	};
	char err[200];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t len = c[i].len ? c[i].len : strlen(c[i].in);
		struct tlsrpt *t;

		err[0] = '\0';
		t = loaded(c[i].in, len, err, sizeof(err));
		if (t != NULL) {
			tlsrpt_free(t);
			fail_msg("%s: loaded, want \"%s\"", c[i].name, c[i].want);
		}
		if (strstr(err, c[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", c[i].name, err, c[i].want);
	}
	/* no room for the reason is fine */
	assert_null(loaded("x\n", 2, NULL, 0));
	/* a good file for contrast */
	struct tlsrpt *t = loaded(H "end\n", sizeof(H "end\n") - 1, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsrpt_ndomains(t), 0);
	tlsrpt_free(t);
	t = loaded("tlsrpt-state 1\nstart -5\ndropped 18446744073709551615\nend\n",
		   strlen("tlsrpt-state 1\nstart -5\ndropped 18446744073709551615\nend\n"), err,
		   sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsrpt_start(t), -5);
	assert_true(tlsrpt_dropped(t) == UINT64_MAX);
	tlsrpt_free(t);
}

/* Files over a bound: built line by line. */
static void
test_load_bounds(void **state)
{
	char err[200], *buf;
	size_t len;
	FILE *f;
	struct tlsrpt *t;

	/* a line over 64 KiB */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	fputs(H "domain a sts 0 0\npolicy\nstring ", f);
	for (int i = 0; i < 70000; i++)
		fputc('x', f);
	fputs("\nend\n", f);
	fclose(f);
	assert_null(loaded(buf, len, err, sizeof(err)));
	assert_string_equal(err, "line 6: line too long");
	free(buf);

	/* a policy string over TLSRPT_STRING_MAX */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	fputs(H "domain a sts 0 0\npolicy\nstring ", f);
	for (int i = 0; i <= TLSRPT_STRING_MAX; i++)
		fputc('x', f);
	fputs("\nend\n", f);
	fclose(f);
	assert_null(loaded(buf, len, err, sizeof(err)));
	assert_string_equal(err, "line 6: policy string too long");
	free(buf);

	/* one failure tuple too many */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	fputs(H "domain a sts 0 1000\n", f);
	for (int i = 0; i <= TLSRPT_FAILURES_MAX; i++)
		fprintf(f, "failure dane-required - mx%d - 1\n", i);
	fputs("end\n", f);
	fclose(f);
	assert_null(loaded(buf, len, err, sizeof(err)));
	assert_string_equal(err, "line 105: too many failures");
	free(buf);

	/* one domain too many */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	fputs(H, f);
	for (int i = 0; i <= TLSRPT_DOMAINS_MAX; i++)
		fprintf(f, "domain d%d sts 1 0\n", i);
	fputs("end\n", f);
	fclose(f);
	assert_null(loaded(buf, len, err, sizeof(err)));
	assert_string_equal(err, "line 10004: too many domains");
	free(buf);

	/* one policy string too many */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	fputs(H "domain a sts 0 0\npolicy\n", f);
	for (int i = 0; i <= TLSRPT_STRINGS_MAX; i++)
		fputs("string x\n", f);
	fputs("end\n", f);
	fclose(f);
	t = loaded(buf, len, err, sizeof(err));
	assert_null(t);
	assert_string_equal(err, "line 262: too many policy strings");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),   cmocka_unit_test(test_names),
		cmocka_unit_test(test_counting),       cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_bound_domains),  cmocka_unit_test(test_bound_tuples),
		cmocka_unit_test(test_write),	       cmocka_unit_test(test_write_escaping),
		cmocka_unit_test(test_report_rfc8460), cmocka_unit_test(test_report_edges),
		cmocka_unit_test(test_filename),       cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_saved_format),   cmocka_unit_test(test_load_bad),
		cmocka_unit_test(test_load_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
