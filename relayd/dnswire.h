/*
 * dnswire.h — DNS messages on the wire (RFC 1035) for DANE's TLSA lookups
 * (RFC 7672): the query relayd hands to ares_send() and the parse of the
 * raw answer, since Debian 12's c-ares (1.18) knows neither the TLSA type
 * nor the AD bit.
 *
 * dnswire_query()       a query: RD and AD set (RFC 6840 5.7), one
 *                       question of class IN, an EDNS0 OPT record (RFC
 *                       6891) with a 1232-byte UDP size and the DO bit
 * dnswire_parse_tlsa()  the answer to a TLSA query taken apart: header
 *                       bits, RCODE, the CNAME chain followed, the TLSA
 *                       records of the name it ends at
 * dnswire_tlsa_usable() may a TLSA record authenticate an SMTP server
 *                       (RFC 7672 3.1, RFC 7671)
 * dnswire_rcode_name()  "NOERROR", "SERVFAIL", "NXDOMAIN", ...
 *
 * Nothing here does I/O or keeps state: a query is written into the
 * caller's buffer, an answer read from the caller's bytes. The parser
 * never reads outside msg[0..len): every length, count and compression
 * pointer is checked before it is followed. A compression pointer must
 * point into the message after its header and before every position the
 * name was read from so far (RFC 1035 4.1.4: "a prior occurrence"), so a
 * name ends after at most len jumps. A name longer than 255 bytes, the
 * extended label types (01 and 10, RFC 6891 5), bytes after the last
 * record and records that do not fit are malformed.
 *
 * Names given as text are any bytes but NUL, '.' separating labels, one
 * trailing dot allowed; "\." and "\DDD" escapes are not supported (no host
 * name needs them), so a backslash is a byte like any other. An empty name
 * or label, a label over 63 bytes or a name over 255 bytes on the wire
 * (253 characters) is refused. Names are compared as DNS does: ASCII
 * letters without regard to case (RFC 4343), other bytes exactly.
 *
 * What an answer means is the caller's to decide (DANE: RFC 7672 2.2):
 * trust TLSA records only when ->ad is set and the resolver is one the
 * host trusts to validate (a local one); TC set means retry over TCP; an
 * RCODE other than NOERROR or NXDOMAIN is a failure to look up. The AD bit
 * is reported as the header has it, never inferred from RRSIGs, which are
 * ignored like every type but CNAME, TLSA and OPT.
 */
#ifndef RELAYD_DNSWIRE_H
#define RELAYD_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSWIRE_TYPE_A 1
#define DNSWIRE_TYPE_NS 2
#define DNSWIRE_TYPE_CNAME 5
#define DNSWIRE_TYPE_SOA 6
#define DNSWIRE_TYPE_PTR 12
#define DNSWIRE_TYPE_MX 15
#define DNSWIRE_TYPE_TXT 16
#define DNSWIRE_TYPE_AAAA 28
#define DNSWIRE_TYPE_DNAME 39
#define DNSWIRE_TYPE_OPT 41
#define DNSWIRE_TYPE_DS 43
#define DNSWIRE_TYPE_RRSIG 46
#define DNSWIRE_TYPE_NSEC 47
#define DNSWIRE_TYPE_DNSKEY 48
#define DNSWIRE_TYPE_NSEC3 50
#define DNSWIRE_TYPE_TLSA 52

#define DNSWIRE_CLASS_IN 1

#define DNSWIRE_RCODE_NOERROR 0
#define DNSWIRE_RCODE_FORMERR 1
#define DNSWIRE_RCODE_SERVFAIL 2
#define DNSWIRE_RCODE_NXDOMAIN 3
#define DNSWIRE_RCODE_NOTIMP 4
#define DNSWIRE_RCODE_REFUSED 5
#define DNSWIRE_RCODE_BADVERS 16 /* only with an OPT record's upper bits */

#define DNSWIRE_HEADER 12     /* bytes of a message header */
#define DNSWIRE_NAME_WIRE 255 /* most bytes of a name on the wire */
#define DNSWIRE_NAME_TEXT 256 /* a name as text (253 at most) and its NUL */
#define DNSWIRE_UDP_SIZE 1232 /* EDNS0 buffer size asked for (DNS flag day 2020) */
#define DNSWIRE_QUERY_MAX 282 /* longest query: 12 + 255 + 4 + 11 */
#define DNSWIRE_TLSA_MAX 32   /* TLSA records of one answer */
#define DNSWIRE_CHAIN_MAX 8   /* CNAMEs followed in one answer */
#define DNSWIRE_SHA256_LEN 32
#define DNSWIRE_SHA512_LEN 64

/* TLSA fields (RFC 6698 2.1, RFC 7218 names). */
#define DNSWIRE_TLSA_PKIX_TA 0
#define DNSWIRE_TLSA_PKIX_EE 1
#define DNSWIRE_TLSA_DANE_TA 2
#define DNSWIRE_TLSA_DANE_EE 3
#define DNSWIRE_TLSA_CERT 0 /* selector: the whole certificate */
#define DNSWIRE_TLSA_SPKI 1 /* selector: its SubjectPublicKeyInfo */
#define DNSWIRE_TLSA_FULL 0 /* matching type: the bytes themselves */
#define DNSWIRE_TLSA_SHA256 1
#define DNSWIRE_TLSA_SHA512 2

/* One TLSA record. DATA points into the message parsed (never copied): it
 * is valid as long as those bytes are, so copy it out of a c-ares
 * callback. Fields are as received, unusable values included. */
struct dnswire_tlsa {
	uint8_t usage, selector, mtype;
	const unsigned char *data; /* the certificate association data */
	size_t len;		   /* its length, maybe 0 */
};

struct dnswire_answer {
	uint16_t id;  /* as received: c-ares chose and matched it */
	int rcode;    /* RCODE with an OPT record's upper 8 bits: 0..4095 */
	bool ad;      /* Authentic Data: the resolver validated the answer */
	bool tc;      /* truncated: nothing past the question was read */
	bool edns;    /* the answer had an OPT record ... */
	bool dobit;   /* ... with the DO bit */
	uint32_t ttl; /* least TTL of the CNAMEs followed and TLSA, 0 if none */
	/* The CNAMEs followed from the qname, and the name they end at as
	 * text ("" when none). */
	size_t ncname;
	char cname_target[DNSWIRE_NAME_TEXT];
	/* The TLSA records of that name (or of the qname). */
	size_t ntlsa;
	struct dnswire_tlsa tlsa[DNSWIRE_TLSA_MAX];
	const char *why; /* after -1: what is wrong, a constant string */
};

/* A query for NAME's QTYPE records (class IN) with ID into BUF (LEN bytes,
 * DNSWIRE_QUERY_MAX is always enough): its length, or -1 for a bad name or
 * a buffer too small. */
int dnswire_query(uint16_t id, const char *name, uint16_t qtype, unsigned char *buf, size_t len);

/*
 * The answer MSG (LEN bytes) to a TLSA query for QNAME, into OUT: 0, or -1
 * when it is malformed or not an answer to that question (OUT->why says
 * why; the rest of OUT is then meaningless).
 *
 * It must be a response (QR) to a standard query (opcode 0) whose one
 * question is QNAME (without regard to case), TLSA, IN; only a failure
 * (RCODE other than NOERROR and NXDOMAIN) may come without the question,
 * as servers that do not understand EDNS answer FORMERR. When TC is set
 * nothing more is read: OUT has the header bits and no records. Otherwise
 * every record of every section is checked, the answer section's CNAMEs
 * of class IN followed from QNAME (at most DNSWIRE_CHAIN_MAX, a loop or a
 * longer chain, two CNAMEs of one name are malformed; DNAMEs are left to
 * the CNAMEs synthesised from them), and with NOERROR the TLSA records of
 * class IN owned by the name the chain ends at collected, in the order
 * received (more than DNSWIRE_TLSA_MAX, or one shorter than its 3 fixed
 * bytes, is malformed). With NOERROR and no TLSA record the name has
 * none (NODATA); with NXDOMAIN the chain's last name does not exist.
 * Any other RCODE gives neither chain nor records.
 *
 * A chain's last name is given as text in ->cname_target; one that has
 * '.' or NUL inside a label cannot be, which is malformed.
 */
int dnswire_parse_tlsa(const unsigned char *msg, size_t len, const char *qname,
		       struct dnswire_answer *out);

/*
 * May T authenticate an SMTP server (RFC 7672 3.1)? Usage DANE-TA(2) or
 * DANE-EE(3) (PKIX-TA and PKIX-EE are unusable for SMTP), selector Cert(0)
 * or SPKI(1), matching type Full(0) with some data, SHA2-256(1) with 32
 * bytes or SHA2-512(2) with 64 (RFC 7671 5: a digest of the wrong length
 * can match nothing).
 */
bool dnswire_tlsa_usable(const struct dnswire_tlsa *t);

/* RCODE's mnemonic (RFC 6895 2.3), "UNKNOWN" when unassigned. */
const char *dnswire_rcode_name(int rcode);

#endif
