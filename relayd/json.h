/*
 * json.h — JSON string literals for relayctl's machine-readable output.
 *
 * json_string()   append a string as a quoted, escaped JSON literal
 *
 * The output is always valid JSON in valid UTF-8 whatever the input bytes:
 * well-formed UTF-8 is kept as it is, '"', '\\' and control characters are
 * escaped, and a byte that is not part of a well-formed UTF-8 sequence is
 * taken as Latin-1 and written as \u00XX (lossy only for that byte's
 * interpretation, never for the rest of the string).
 */
#ifndef RELAYD_JSON_H
#define RELAYD_JSON_H

struct evbuffer;

/* Append S (NULL: the literal null) to OUT as a JSON string; 0 or -1. */
int json_string(struct evbuffer *out, const char *s);

#endif
