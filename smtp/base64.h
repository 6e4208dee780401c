/*
 * base64.h — RFC 4648 base64 for SMTP AUTH (RFC 4954).
 *
 * base64_encode()  LEN bytes to text (NUL-terminated)
 * base64_decode()  text to bytes; strict: bad characters or padding fail
 *
 * Pure, bounded: the caller gives the output size.
 */
#ifndef SMTP_BASE64_H
#define SMTP_BASE64_H

#include <stddef.h>

/* Encode; returns the text length, or -1 when OUTLEN is too small. */
long base64_encode(const void *in, size_t len, char *out, size_t outlen);

/* Decode; returns the byte count, or -1 on bad input or a short OUT. */
long base64_decode(const char *in, void *out, size_t outlen);

#endif
