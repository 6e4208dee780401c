/*
 * utf8.c — one strict UTF-8 sequence check for everything in smtp/.
 *
 * utf8_seq()
 *
 * Only the second byte of a sequence has a narrowed range (RFC 3629
 * table 3-7); that is what excludes overlong forms and surrogates.
 */
#include "smtp/utf8.h"

/* The length of the sequence at S, or 0 when it is not well formed. */
size_t
utf8_seq(const unsigned char *s, size_t avail, unsigned long *cp)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (avail == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	unsigned long v = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if (i > 1 && (s[i] < 0x80 || s[i] > 0xbf))
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (cp)
		*cp = v;
	return n;
}
