/*
 * classify.h — what a remote reply, or relayd's own reason, most likely means.
 *
 * classify()        map (code, enhanced status, text) to a category, a short
 *                   label, and two explanations: one for the sender (DSNs),
 *                   one for the operator (the log, relayctl)
 * classify_local()  the same for relayd's own reason for a failure (no remote
 *                   reply: a connection, DNS, TLS or configuration failure)
 * classify_row()    one row of the reply table or of the local one (for the
 *                   tests that check every text)
 * classify_name()   the category's stable name (for JSON, metrics)
 *
 * One table-driven place (the delivery outcome still follows the code:
 * see relayd/dlv.c). Pure: no allocation, no I/O; the strings returned are
 * static.
 */
#ifndef SMTP_CLASSIFY_H
#define SMTP_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

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
	/* relayd's own reasons (classify_local() only) */
	CLASS_NULL_MX,	  /* the domain publishes a null MX (RFC 7505) */
	CLASS_CONNECTION, /* no connection, a lost one, a DNS failure, a protocol error */
	CLASS_TLS_FAILED, /* the TLS policy was not met: not offered, handshake, certificate */
	CLASS_LOCAL,	  /* relayd's configuration or spool */
};

/* The last kind: new kinds go after it, and it moves to them (the values
 * above are stable; code indexes tables by them). */
#define CLASS_LAST CLASS_LOCAL

struct classification {
	enum class_kind kind;
	/* "blocklist: Spamhaus PBL", "reputation: Gmail", "unknown user",
	 * ...; NULL for CLASS_NONE. Shown in the log, relayctl queue, JSON
	 * "label", and DSNs. */
	const char *label;
	/* For the sender, who is not a mail administrator (the DSN): what
	 * happened in plain words, whether it is about the message, the
	 * recipient or the sending mail system, and what the sender can do;
	 * never advice about relayd's configuration. Set for every code
	 * 400..599 and every local reason, a generic text by the status when
	 * nothing is recognised; NULL only when there is nothing to explain
	 * (a code outside 400..599). */
	const char *sender;
	/* For the operator (the log, relayctl queue and JSON "advice"): what it
	 * most likely means and what to do, in relayd's terms; NULL for
	 * CLASS_NONE. */
	const char *admin;
	/* A block of the sending host's IP or reputation: eligible for the
	 * transport's fallback (the reputation detour). */
	bool reroute;
};

/* Classify a reply. CODE is 200..599 (0 for a local failure: always
 * CLASS_NONE here, see classify_local()), STATUS is "5.7.1" or "" and TEXT
 * the reply text (multi-line joined). */
void classify(int code, const char *status, const char *text, struct classification *out);

/* Classify relayd's own reason for a failure: TEXT as relayd/dlv.c words it,
 * STATUS its enhanced status ("4.4.1"; "4.4.7" for an expired recipient,
 * whose TEXT is its last reason). Never CLASS_BLOCKLIST/REPUTATION or
 * reroute; sender is never NULL. */
void classify_local(const char *status, const char *text, struct classification *out);

/* Row I of the reply table (LOCAL: of relayd's own reasons) as a
 * classification, texts and all (a row of kind CLASS_NONE has none); false
 * past the last row. */
bool classify_row(size_t i, bool local, struct classification *out);

/* "blocklist", "reputation", "unknown_user", ...; "none" for CLASS_NONE. */
const char *classify_name(enum class_kind k);

#endif
