/*
 * operator_words.h — the words a DSN's text for the sender never uses
 * (test_classify.c checks every sender's text of the classifier with it,
 * test_bounce.c every explanation in a whole DSN).
 *
 * operator_word()   the first such word in a text, or NULL
 */
#ifndef TESTS_UNIT_OPERATOR_WORDS_H
#define TESTS_UNIT_OPERATOR_WORDS_H

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/*
 * Words of an operator, never of a DSN's text for the sender: relayd's
 * configuration and commands, and mail-server jargon a sender cannot act on.
 * Case-insensitively, as a whole word where it starts or ends with a letter or
 * digit; a phrase (with a space, '_' or a digit) anywhere.
 */
static const char *const operator_words[] = {
	"smarthost",
	"fallback",
	"transport",
	"relay",
	"relayd",
	"relayctl",
	"route",
	"detour",
	"PTR",
	"MX",
	"DNS",
	"IP",
	"TLS",
	"STARTTLS",
	"EHLO",
	"HELO",
	"hostname",
	"helo",
	"configuration",
	"config",
	"configure",
	"max_connections",
	"auth_user",
	"auth_password_file",
	"password",
	"tls policy",
	"policy of",
	"ca_file",
	"certificate",
	"rate on",
	"4xx",
	"5xx",
	"://",
	"www.",
	"postmaster tools",
	"SNDS",
	"dig",
	"spool",
	"reload",
	"flush",
	"delist",
	"NXDOMAIN",
	"SERVFAIL",
	"RFC",
	"SMTP",
	"MTU",
	"source_address",
	"data_timeout",
	"command_timeout",
	"smtps",
	"A record",
	"AAAA",
};

/* The first operator word in S, or NULL. */
static inline const char *
operator_word(const char *s)
{
	for (size_t i = 0; i < sizeof(operator_words) / sizeof(operator_words[0]); i++) {
		const char *w = operator_words[i];
		size_t n = strlen(w);
		bool phrase = strcspn(w, " _0123456789") != n;

		for (const char *p = s; (p = strcasestr(p, w)) != NULL; p++) {
			bool start = p == s || !isalnum((unsigned char)w[0]) ||
				     !isalnum((unsigned char)p[-1]);
			bool end =
				!isalnum((unsigned char)w[n - 1]) || !isalnum((unsigned char)p[n]);
			if (phrase || (start && end))
				return w;
		}
	}
	return NULL;
}

#endif
