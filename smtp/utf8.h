/*
 * utf8.h — well-formed UTF-8 (RFC 3629), for the parsers and the DSN.
 *
 * utf8_seq()  length of the multi-byte sequence at a position, or 0
 *
 * Pure. No overlong forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef SMTP_UTF8_H
#define SMTP_UTF8_H

#include <stddef.h>

/* Length (2..4) of the well-formed multi-byte sequence at S, of which
 * AVAIL bytes are readable, or 0; *CP (may be NULL) gets its code point. */
size_t utf8_seq(const unsigned char *s, size_t avail, unsigned long *cp);

#endif
