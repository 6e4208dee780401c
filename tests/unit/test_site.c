/*
 * test_site.c — the site of an MX answer: sorted, lower case, no
 * duplicates; no site without a host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relayd/site.h"

static void
test_site_of_mx(void **state)
{
	char buf[SITE_KEY_MAX];
	struct dns_mx google[] = {{"ASPMX.L.Google.com.", 1},
				  {"alt2.aspmx.l.google.com", 10},
				  {"alt1.aspmx.l.google.com", 5},
				  {"alt1.aspmx.l.google.com", 5}};
	assert_true(site_of_mx("Example.ORG", DNS_OK, google, 4, buf, sizeof(buf)));
	assert_string_equal(buf, "alt1.aspmx.l.google.com,alt2.aspmx.l.google.com,"
				 "aspmx.l.google.com");
	/* The order of the answer does not matter: the same site. */
	struct dns_mx shuffled[] = {{"alt2.aspmx.l.google.com", 10},
				    {"aspmx.l.google.com", 1},
				    {"alt1.aspmx.l.google.com", 5}};
	char other[SITE_KEY_MAX];
	assert_true(site_of_mx("other.example", DNS_OK, shuffled, 3, other, sizeof(other)));
	assert_string_equal(buf, other);

	struct dns_mx one[] = {{"contoso-com.mail.protection.outlook.com", 0}};
	assert_true(site_of_mx("contoso.com", DNS_OK, one, 1, buf, sizeof(buf)));
	assert_string_equal(buf, "contoso-com.mail.protection.outlook.com");

	/* No host named: the domain itself, lower case. */
	struct dns_mx null_mx[] = {{"", 0}};
	assert_false(site_of_mx("NoMail.Example", DNS_OK, null_mx, 1, buf, sizeof(buf)));
	assert_string_equal(buf, "nomail.example");
	assert_false(site_of_mx("a.example", DNS_NODATA, NULL, 0, buf, sizeof(buf)));
	assert_string_equal(buf, "a.example");
	assert_false(site_of_mx("a.example", DNS_TEMPFAIL, google, 4, buf, sizeof(buf)));
	assert_string_equal(buf, "a.example");

	/* As many hosts as fit, whole ones only. */
	char small[45];
	assert_true(site_of_mx("x.example", DNS_OK, google, 4, small, sizeof(small)));
	assert_string_equal(small, "alt1.aspmx.l.google.com");
	char tight[48]; /* room for two names and the comma exactly */
	assert_true(site_of_mx("x.example", DNS_OK, google, 4, tight, sizeof(tight)));
	assert_string_equal(tight, "alt1.aspmx.l.google.com,alt2.aspmx.l.google.com");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_site_of_mx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
