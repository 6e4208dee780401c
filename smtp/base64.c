/*
 * base64.c — base64 encoding and strict decoding (RFC 4648, section 4).
 *
 * base64_encode(), base64_decode()
 *
 * Decoding rejects characters outside the alphabet, misplaced padding and
 * lengths that are not a multiple of four: an AUTH response is one clean
 * token (RFC 4954 4).
 */
#include <stdint.h>
#include <string.h>

#include "smtp/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode LEN bytes of IN into OUT. */
long
base64_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = in;
	size_t need = (len + 2) / 3 * 4 + 1, o = 0;

	if (outlen < need)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

static int
value(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Decode the base64 text IN into OUT. */
long
base64_decode(const char *in, void *out, size_t outlen)
{
	size_t len = strlen(in), o = 0;
	unsigned char *q = out;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int a = value(in[i]), b = value(in[i + 1]);
		int pad = (in[i + 2] == '=') + (in[i + 3] == '=');
		if (a < 0 || b < 0 || (pad && i + 4 != len) ||
		    (in[i + 2] == '=' && in[i + 3] != '='))
			return -1;
		int c = pad >= 2 ? 0 : value(in[i + 2]), d = pad >= 1 ? 0 : value(in[i + 3]);
		if (c < 0 || d < 0)
			return -1;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		size_t n = 3 - (size_t)pad;
		if (o + n > outlen)
			return -1;
		q[o++] = (unsigned char)(v >> 16);
		if (n > 1)
			q[o++] = (unsigned char)(v >> 8);
		if (n > 2)
			q[o++] = (unsigned char)v;
	}
	return (long)o;
}
