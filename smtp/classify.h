/*
 * classify.h — what a remote reply most likely means.
 *
 * classify()        map (code, enhanced status, text) to a category, a short
 *                   label and a plain explanation with what to do
 * classify_name()   the category's stable name (for JSON, metrics)
 *
 * One table-driven place (the delivery outcome still follows the code:
 * see relayd/dlv.c). Pure: no allocation, no I/O; the strings returned are
 * static.
 */
#ifndef SMTP_CLASSIFY_H
#define SMTP_CLASSIFY_H

#include <stdbool.h>

enum class_kind {
	CLASS_NONE,	    /* nothing recognised (or a success) */
	CLASS_BLOCKLIST,    /* the sending IP is on a DNS blocklist */
	CLASS_REPUTATION,   /* the receiver's own IP reputation block */
	CLASS_UNKNOWN_USER, /* 5.1.1 and friends */
	CLASS_MAILBOX_FULL, /* 4.2.2 / 5.2.2 */
	CLASS_TOO_LARGE,    /* 5.3.4 / 552 */
	CLASS_TLS_REQUIRED, /* 530 / 5.7.x "must issue STARTTLS" */
	CLASS_AUTH_REQUIRED,
	CLASS_RATE_LIMIT, /* 421, too many connections or recipients, 4.7.x */
	CLASS_GREYLIST,
	CLASS_DOMAIN_NOT_FOUND,
	CLASS_POLICY, /* SPF / DKIM / DMARC, 5.7.23-5.7.27, HELO name */
	CLASS_SPAM,   /* content judged as spam */
	CLASS_RELAY_DENIED,
	CLASS_NO_RDNS,	    /* the sending IP has no (forward-confirmed) PTR */
	CLASS_HOST_UNKNOWN, /* the recipient's host is not in DNS */
};

/* The last kind: new kinds go after it, and it moves to them (the values
 * above are stable; code indexes tables by them). */
#define CLASS_LAST CLASS_HOST_UNKNOWN

struct classification {
	enum class_kind kind;
	/* "blocklist: Spamhaus PBL", "reputation: Gmail", "unknown user",
	 * ...; NULL for CLASS_NONE. Shown in relayctl queue, JSON "class",
	 * and DSNs. */
	const char *label;
	/* What it most likely means and what to do, one or two sentences. */
	const char *explain;
	/* A block of the sending host's IP or reputation: eligible for the
	 * transport's fallback (the reputation detour). */
	bool reroute;
};

/* Classify a reply. CODE is 200..599 (0 for a local failure), STATUS is
 * "5.7.1" or "" and TEXT the reply text (multi-line joined). */
void classify(int code, const char *status, const char *text, struct classification *out);

/* "blocklist", "reputation", "unknown_user", ...; "none" for CLASS_NONE. */
const char *classify_name(enum class_kind k);

#endif
