/*
 * cmd.h — inbound SMTP command lines.
 *
 * cmd_parse()        split a command line into verb and arguments
 * cmd_path()         parse "FROM:<path> params" / "TO:<path> params"
 * cmd_mail_params()  parse MAIL's ESMTP parameters (SIZE, BODY, SMTPUTF8)
 * cmd_rcpt_params()  parse RCPT's ESMTP parameters (none are supported)
 * cmd_domain()       the domain part of a parsed mailbox
 * cmd_literal_addr() the address of an address-literal domain
 *
 * Pure functions: no allocation, no I/O. Errors are returned as a complete
 * SMTP reply line (code, enhanced status, text, no CRLF) in static storage.
 */
#ifndef SMTP_CMD_H
#define SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define CMD_LINE_MAX 512

enum cmd_verb {
	CMD_UNKNOWN,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_BDAT,
};

struct cmd {
	enum cmd_verb verb;
	const char *args; /* points into the line: after the verb and one or
			     more spaces; "" when there are none */
};

/*
 * Parse LINE (NUL-terminated, CRLF already removed) into CMD. The verb is
 * case-insensitive; unknown verbs give CMD_UNKNOWN. Returns 0, or -1 when
 * the line is not a command at all (empty, or NUL bytes: LEN != strlen).
 */
int cmd_parse(const char *line, size_t len, struct cmd *cmd);

/*
 * Parse the argument of MAIL or RCPT: KEYWORD ("FROM" or "TO", matched
 * case-insensitively) and a colon, optional spaces, then a path in angle
 * brackets. A source route ("<@a,@b:user@d>") is accepted and stripped (RFC
 * 5321 4.1.1.3 / C). The mailbox is copied into OUT (OUTLEN bytes incl. NUL)
 * as "local@domain", "" for "<>" (only allowed when ALLOW_NULL). Quoted local
 * parts are kept with their quotes. UTF-8 is accepted in the local part and
 * domain (RFC 6531). *PARAMS is set to the rest of the line after the path
 * and spaces. Returns 0 or -1 with *ERR set to a reply such as
 * "501 5.1.7 Bad sender address syntax".
 */
int cmd_path(const char *args, const char *keyword, bool allow_null, char *out, size_t outlen,
	     const char **params, const char **err);

struct cmd_mail_params {
	bool has_size;
	uint64_t size;
	enum { BODY_NONE, BODY_7BIT, BODY_8BITMIME } body;
	bool smtputf8;
};

/* Parse "SIZE=n BODY=8BITMIME SMTPUTF8" (keywords case-insensitive); an
 * "AUTH=xtext" (RFC 4954, sent by Postfix) is checked and ignored. An
 * unknown or repeated keyword or a bad value: -1 and *ERR = "555 5.5.4 ...". */
int cmd_mail_params(const char *params, struct cmd_mail_params *p, const char **err);

/* RCPT takes no parameters here: anything but "" gives -1 and a 555 reply. */
int cmd_rcpt_params(const char *params, const char **err);

/* The domain part of a mailbox ("" for none); points into MAILBOX. */
const char *cmd_domain(const char *mailbox);

/*
 * When DOMAIN is an address literal ("[192.0.2.7]", "[IPv6:2001:db8::7]",
 * the prefix in any case), its address without brackets or prefix
 * ("192.0.2.7", "2001:db8::7") in OUT (SIZE bytes; OUT may be NULL to only
 * ask) and 0; -1 for anything else, a domain name included.
 */
int cmd_literal_addr(const char *domain, char *out, size_t size);

#endif
