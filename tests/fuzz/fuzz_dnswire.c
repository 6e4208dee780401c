/*
 * fuzz_dnswire.c — DNS on the wire (relayd/dnswire.c): a TLSA query built
 * for a name, and arbitrary bytes parsed as the answer to it.
 *
 * Input: a length byte and that many bytes, the name (any byte; the C
 * string may end early at a NUL), then the answer, copied to end right
 * before an unreadable page (fuzz_guard()).
 *
 * Invariants checked, the query: it is refused exactly for the names
 * dnswire.h refuses (empty, an empty label, a label over 63 bytes, over
 * 253 characters without its trailing dot); otherwise it is 12 + the
 * name's wire length + 4 + 11 bytes: the header with RD and AD, one
 * question and one additional record, the name's labels spelling it,
 * TLSA IN, an OPT record of size 1232 with DO; and with QR set it reads
 * back as an answer for the name: NOERROR, AD, EDNS, DO, no records.
 *
 * The answer: dnswire_parse_tlsa() returns 0 or -1 and never reads past
 * the bytes (the page after them faults); -1 has a reason and 0 none; on
 * 0, the id, AD and TC bits and the low 4 bits of the RCODE are the
 * header's, the RCODE is at most 4095, TC means no records and no chain,
 * records come only with NOERROR, at most DNSWIRE_TLSA_MAX of them, each
 * inside the message right after its usage, selector and matching type;
 * at most DNSWIRE_CHAIN_MAX CNAMEs, with a target (NUL-terminated, at
 * most 253 characters) exactly when there was one; DO only with EDNS.
 * The same bytes parse the same with the name in upper case; an answer
 * read whole (not TC) is malformed with one byte more.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd/dnswire.h"
#include "tests/fuzz/fuzz.h"

/* Does dnswire.h refuse NAME? */
static bool
bad_name(const char *name)
{
	size_t n = strlen(name), start = 0;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return true;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && name[i] != '.')
			continue;
		if (i == start || i - start > 63)
			return true;
		start = i + 1;
	}
	return false;
}

static void
check_query(const char *name)
{
	unsigned char q[DNSWIRE_QUERY_MAX];
	struct dnswire_answer a;

	int n = dnswire_query(0xabcd, name, DNSWIRE_TYPE_TLSA, q, sizeof(q));
	bool bad = bad_name(name);
	FUZZ_CHECK((n == -1) == bad, "query of \"%s\": %d", name, n);
	if (n == -1)
		return;
	size_t len = strlen(name), wire = 0;
	if (name[len - 1] == '.')
		len--;
	wire = len + 2;
	FUZZ_CHECK((size_t)n == 12 + wire + 4 + 11, "query of %zu bytes for a name of %zu",
		   (size_t)n, len);
	static const unsigned char hdr[] = {0xab, 0xcd, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1};
	FUZZ_CHECK(memcmp(q, hdr, sizeof(hdr)) == 0, "query header");
	/* The labels spell the name, dots for lengths. */
	size_t i = 12, k = 0;
	while (q[i] != 0) {
		FUZZ_CHECK(q[i] <= 63 && i + q[i] < 12 + wire, "label at %zu", i);
		if (k > 0)
			FUZZ_CHECK(name[k++] == '.', "no dot at %zu", k - 1);
		FUZZ_CHECK(memcmp(q + i + 1, name + k, q[i]) == 0, "label at %zu", i);
		k += q[i];
		i += 1 + q[i];
	}
	FUZZ_CHECK(k == len && i + 1 == 12 + wire, "name of %zu bytes spelt in %zu", len, k);
	static const unsigned char tail[] = {0,	   52, 0, 1,	0, 0, 41, 0x04,
					     0xd0, 0,  0, 0x80, 0, 0, 0};
	FUZZ_CHECK(memcmp(q + 12 + wire, tail, sizeof(tail)) == 0, "query question or OPT");

	q[2] |= 0x80;
	const unsigned char *g = (const unsigned char *)fuzz_guard(q, (size_t)n);
	int rc = dnswire_parse_tlsa(g, (size_t)n, name, &a);
	FUZZ_CHECK(rc == 0, "own query as answer: %s", a.why);
	FUZZ_CHECK(a.id == 0xabcd && a.rcode == 0 && a.ad && !a.tc && a.edns && a.dobit &&
			   a.ntlsa == 0 && a.ncname == 0,
		   "own query as answer");
}

static void
check_answer(const unsigned char *msg, size_t len, const struct dnswire_answer *a, int rc)
{
	FUZZ_CHECK(rc == 0 || rc == -1, "returned %d", rc);
	if (rc == -1) {
		FUZZ_CHECK(a->why != NULL, "-1 without a reason");
		return;
	}
	FUZZ_CHECK(a->why == NULL, "0 with a reason: %s", a->why);
	FUZZ_CHECK(len >= 12, "0 for %zu bytes", len);
	FUZZ_CHECK(a->id == (msg[0] << 8 | msg[1]), "id %#x", a->id);
	FUZZ_CHECK(a->ad == ((msg[3] & 0x20) != 0), "AD %d", a->ad);
	FUZZ_CHECK(a->tc == ((msg[2] & 0x02) != 0), "TC %d", a->tc);
	FUZZ_CHECK((msg[2] & 0xf8) == 0x80, "0 for flags %#x", msg[2]);
	FUZZ_CHECK(a->rcode >= 0 && a->rcode <= 4095 && (a->rcode & 15) == (msg[3] & 15),
		   "rcode %d", a->rcode);
	FUZZ_CHECK(!a->dobit || a->edns, "DO without EDNS");
	if (a->tc)
		FUZZ_CHECK(a->ntlsa == 0 && a->ncname == 0 && !a->edns, "TC with records");
	if (a->ntlsa > 0)
		FUZZ_CHECK(a->rcode == 0, "records with rcode %d", a->rcode);
	FUZZ_CHECK(a->ntlsa <= DNSWIRE_TLSA_MAX, "%zu TLSA", a->ntlsa);
	for (size_t i = 0; i < a->ntlsa; i++) {
		const struct dnswire_tlsa *t = &a->tlsa[i];
		FUZZ_CHECK(t->data >= msg + 12 + 3 && t->data <= msg + len &&
				   t->len <= (size_t)(msg + len - t->data),
			   "TLSA %zu at %td, %zu bytes, in %zu", i, t->data - msg, t->len, len);
		FUZZ_CHECK(t->data[-3] == t->usage && t->data[-2] == t->selector &&
				   t->data[-1] == t->mtype,
			   "TLSA %zu fields", i);
		(void)dnswire_tlsa_usable(t);
	}
	FUZZ_CHECK(a->ncname <= DNSWIRE_CHAIN_MAX, "%zu CNAMEs", a->ncname);
	const char *nul = memchr(a->cname_target, '\0', sizeof(a->cname_target));
	FUZZ_CHECK(nul != NULL && nul - a->cname_target <= 253, "CNAME target not terminated");
	FUZZ_CHECK((a->ncname == 0) == (a->cname_target[0] == '\0'), "%zu CNAMEs, target \"%s\"",
		   a->ncname, a->cname_target);
	if (a->ncname > 0)
		FUZZ_CHECK(a->rcode == 0 || a->rcode == 3, "a chain with rcode %d", a->rcode);
	FUZZ_CHECK(dnswire_rcode_name(a->rcode) != NULL, "no rcode name");
}

static bool
same(const struct dnswire_answer *a, const struct dnswire_answer *b)
{
	if (a->why != NULL || b->why != NULL)
		return a->why != NULL && b->why != NULL && strcmp(a->why, b->why) == 0;
	if (a->id != b->id || a->rcode != b->rcode || a->ad != b->ad || a->tc != b->tc ||
	    a->edns != b->edns || a->dobit != b->dobit || a->ttl != b->ttl ||
	    a->ncname != b->ncname || strcmp(a->cname_target, b->cname_target) != 0 ||
	    a->ntlsa != b->ntlsa)
		return false;
	for (size_t i = 0; i < a->ntlsa; i++)
		if (a->tlsa[i].usage != b->tlsa[i].usage || a->tlsa[i].data != b->tlsa[i].data ||
		    a->tlsa[i].len != b->tlsa[i].len)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	static struct dnswire_answer a, b;

	char *name = fuzz_str(&in, false, false);
	check_query(name);

	const unsigned char *msg = (const unsigned char *)fuzz_guard(in.p, in.len);
	int rc = dnswire_parse_tlsa(msg, in.len, name, &a);
	check_answer(msg, in.len, &a, rc);

	/* Case does not matter, in the name asked. */
	for (char *p = name; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	int rc2 = dnswire_parse_tlsa(msg, in.len, name, &b);
	FUZZ_CHECK(rc2 == rc && same(&a, &b), "another result with \"%s\": %d, %d", name, rc, rc2);

	/* One byte more is too many for an answer read whole. */
	if (rc == 0 && !a.tc && in.len < 65535) {
		unsigned char *more = malloc(in.len + 1);
		if (more == NULL)
			abort();
		memcpy(more, in.p, in.len);
		more[in.len] = 0;
		const unsigned char *g = (const unsigned char *)fuzz_guard(more, in.len + 1);
		rc2 = dnswire_parse_tlsa(g, in.len + 1, name, &b);
		FUZZ_CHECK(rc2 == -1, "a byte more: %d", rc2);
		free(more);
	}
	free(name);
	return 0;
}
