/*
 * mtasts.h — RFC 8461 MTA-STS, the parsing half: the _mta-sts TXT record,
 * the policy file, and MX host matching. The caller looks the record up,
 * fetches the policy over HTTPS and keeps the cache.
 *
 * mtasts_txt_parse()      one TXT record (3.1): its id, or invalid
 * mtasts_txt_select()     the one STS record among a name's TXT records
 * mtasts_policy_parse()   a policy body (3.2) into a struct mtasts_policy
 * mtasts_policy_free()    free what a parsed policy holds
 * mtasts_mx_match()       does an "mx" pattern match an MX host (4.1)
 * mtasts_policy_allows()  does any of a policy's patterns match a host
 * mtasts_strmode()        "enforce", "testing", "none"
 *
 * Nothing here does I/O, reads the clock or keeps state between calls;
 * inputs are length-delimited bytes (a NUL byte in them is invalid), so a
 * fetched body is parsed as it came. The caller bounds the size of a
 * policy (64 KiB, 3.3); each of its lines is bounded here.
 *
 * Invariants of a parsed policy: mode is one of the three; max_age is at
 * most MTASTS_MAX_AGE; nmx > 0 unless mode is MTASTS_NONE; every mx is a
 * NUL-terminated, lower-case domain name (LDH labels of 1..63, 253 at
 * most, no final dot), possibly "*." and such a name, so only printable
 * ASCII. A TXT id is 1..MTASTS_ID_MAX letters and digits.
 *
 * Choices where RFC 8461 leaves room:
 * - TXT: a record is an STS record when it begins with "v=STSv1" followed
 *   by ';', a space or tab, or its end (3.1 says "v=STSv1;", its grammar
 *   allows space before ';' — erratum 6285); "v=STSv10" is not one.
 *   Spaces and tabs after the last field are accepted; anything else
 *   follows the grammar: "id" and "v" case-sensitive, ";;" invalid, an
 *   "id" field whose value is not 1*32(ALPHA/DIGIT) makes the record
 *   invalid. Of repeated ids the first counts (3.2), the others are
 *   checked as extension fields only.
 * - Policy: fields may come in any order (the grammar does not order
 *   them); keys are case-sensitive ("Mode" is an unknown field, so the
 *   policy has no mode); a line is "key:" then optional spaces or tabs
 *   then the value, trailing spaces and tabs are trimmed, blank lines are
 *   skipped. Of a repeated field other than mx the first counts and the
 *   others are ignored like unknown fields (3.2); an unknown field's
 *   value is not checked beyond "no control characters". Any line that
 *   is not "key: value" (no ':', a space before it, a key that is not
 *   1*32 of ALPHA/DIGIT/"_-." starting with ALPHA/DIGIT), a NUL byte or
 *   another control character (a CR only before an LF), or a line over
 *   MTASTS_LINE_MAX bytes makes the policy invalid.
 * - max_age: 1 to 10 digits (the grammar's 1*10DIGIT, leading zeros
 *   allowed); a value over 31557600 (3.2's maximum) is clamped to it,
 *   more than 10 digits is invalid.
 * - mx: an ASCII LDH domain name, optionally "*." then one, optionally
 *   with a final dot (dropped). A U-label could never match an MX host
 *   from DNS, so it is invalid, as is any other wildcard ("mx*.example",
 *   "a.*.example", "*"). mx fields are allowed, and checked, in mode
 *   none. At most MTASTS_MX_MAX of them.
 * - Matching: ASCII case-insensitive, one final dot on either side
 *   ignored; "*." matches exactly one non-empty leftmost label; a host
 *   containing '*' or an empty label never matches.
 */
#ifndef RELAYD_MTASTS_H
#define RELAYD_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

#define MTASTS_ID_MAX 32	  /* letters and digits of a TXT id (3.1) */
#define MTASTS_MAX_AGE 31557600UL /* a year of seconds: the largest max_age (3.2) */
#define MTASTS_LINE_MAX 1024	  /* bytes of a policy line, without its CRLF or LF */
#define MTASTS_MX_MAX 1000	  /* mx fields of a policy */

enum mtasts_mode {
	MTASTS_NONE, /* zero: a zeroed policy enforces nothing */
	MTASTS_TESTING,
	MTASTS_ENFORCE,
};

struct mtasts_policy {
	enum mtasts_mode mode;
	unsigned long max_age; /* seconds, at most MTASTS_MAX_AGE */
	char **mx;	       /* nmx patterns, lower case, no final dot */
	size_t nmx;
};

/* 0 when the LEN bytes at TXT are a valid STS record, its id then copied
 * to ID (IDLEN bytes: MTASTS_ID_MAX + 1 always fit); -1 when they are not
 * an STS record, are an invalid one, or the id does not fit (ID is then
 * "" when IDLEN > 0). */
int mtasts_txt_parse(const char *txt, size_t len, char *id, size_t idlen);

/* Of N TXT records (TXT[i], LENS[i] bytes), those that begin with
 * "v=STSv1" count: 1 when exactly one does and it is valid (its id in ID
 * as mtasts_txt_parse() puts it), -1 when exactly one does and it is
 * invalid, 0 when none or several do (3.1: no policy either way). */
int mtasts_txt_select(const char *const *txt, const size_t *lens, size_t n, char *id, size_t idlen);

/* 0 when the LEN bytes at BODY are a valid policy, filled into *P (which
 * is overwritten: free a previous one first); -1 when not, *P then
 * zeroed and the reason in ERR (ERRLEN bytes, may be 0): "no mode",
 * "line 3: bad max_age \"abc\"", "out of memory"... */
int mtasts_policy_parse(const char *body, size_t len, struct mtasts_policy *p, char *err,
			size_t errlen);

/* Frees what P holds and zeroes it; a zeroed policy or NULL is fine. */
void mtasts_policy_free(struct mtasts_policy *p);

/* Does the mx PATTERN ("mx1.example.com", "*.example.com") match HOST,
 * an MX host name (4.1)? */
bool mtasts_mx_match(const char *pattern, const char *host);

/* Does any of P's mx patterns match HOST? Whatever P's mode: whether a
 * mismatch matters is the caller's to decide. */
bool mtasts_policy_allows(const struct mtasts_policy *p, const char *host);

/* "none", "testing" or "enforce". */
const char *mtasts_strmode(enum mtasts_mode m);

#endif
