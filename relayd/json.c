/*
 * json.c — JSON string literals (RFC 8259) for relayctl queue --json.
 *
 * json_string()   append a quoted, escaped string
 *
 * Runs of bytes that need no escape are appended in one piece. A byte
 * outside a well-formed UTF-8 sequence (Unicode table 3-7: no overlongs,
 * no surrogates, nothing above U+10FFFF) is written as \u00XX so the
 * output stays valid UTF-8 and every reader can parse it.
 */
#include <stddef.h>
#include <stdio.h>

#include <event2/buffer.h>

#include "relayd/json.h"

/* Length of the well-formed UTF-8 sequence of 2..4 bytes at P, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0; /* overlong */
	else if (c == 0xED)
		hi = 0x9F; /* surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong */
	else if (c == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* Append S to OUT as a JSON string literal, or null for NULL. */
int
json_string(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	char esc[8];

	if (!s)
		return evbuffer_add(out, "null", 4);
	if (evbuffer_add(out, "\"", 1) == -1)
		return -1;
	run = p;
	while (*p) {
		const char *e = NULL;
		size_t n;

		if (*p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
			p += n;
			continue;
		}
		switch (*p) {
		case '"':
			e = "\\\"";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\b':
			e = "\\b";
			break;
		case '\f':
			e = "\\f";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		default:
			/* Other controls, DEL, and bytes outside UTF-8. */
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			e = esc;
			break;
		}
		if (evbuffer_add(out, run, (size_t)(p - run)) == -1 ||
		    evbuffer_add_printf(out, "%s", e) == -1)
			return -1;
		run = ++p;
	}
	if (evbuffer_add(out, run, (size_t)(p - run)) == -1 || evbuffer_add(out, "\"", 1) == -1)
		return -1;
	return 0;
}
