/*
 * dnswire.c — DNS queries and TLSA answers on the wire (dnswire.h).
 *
 * dnswire_query(), dnswire_parse_tlsa(), dnswire_tlsa_usable(),
 * dnswire_rcode_name()
 *
 * Names are handled in their uncompressed wire form (length-prefixed
 * labels, ending with the root's 0), which is what is compared: text is
 * made only of the name a CNAME chain ends at. An answer is read in
 * passes over the same bytes, none of which writes anything the next one
 * trusts without checking: the header and question; every record of
 * every section (bounds, names, the rdata of the records we use); then
 * the answer section again for each CNAME of the chain, since records
 * may come in any order; and once more for the TLSA records.
 */
#include <string.h>

#include "relayd/dnswire.h"

#define F_QR 0x8000
#define F_OPCODE 0x7800
#define F_TC 0x0200
#define F_RD 0x0100
#define F_AD 0x0020
#define F_RCODE 0x000f
#define EDNS_DO 0x8000 /* in the low 16 bits of the OPT record's TTL */
#define RR_FIXED 10    /* type, class, TTL, rdlength */

/* A resource record as read: its owner uncompressed, where its rdata is. */
struct rr {
	unsigned char owner[DNSWIRE_NAME_WIRE];
	size_t ownerlen;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata, rdlen;
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = v >> 8 & 0xff;
	p[1] = v & 0xff;
}

/* ASCII only: DNS ignores the case of letters and of nothing else. */
static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Are two wire names the same name? (A length byte is below 64, so it is
 * never taken for a letter.) */
static bool
name_eq(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* NAME as text into WIRE: its length, or -1 when it is no DNS name. */
static int
name_wire(const char *name, unsigned char wire[DNSWIRE_NAME_WIRE])
{
	size_t n = 0;
	const char *p = name, *dot;

	if (name == NULL || *name == '\0')
		return -1;
	while (*p != '\0') {
		dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || n + 1 + l + 1 > DNSWIRE_NAME_WIRE)
			return -1;
		wire[n++] = (unsigned char)l;
		memcpy(wire + n, p, l);
		n += l;
		p += l + (dot != NULL);
	}
	wire[n++] = 0;
	return (int)n;
}

/* WIRE (checked already) as text into TEXT: -1 when a label holds a byte
 * text cannot show ('.', NUL). The root is ".". */
static int
name_text(const unsigned char *wire, char text[DNSWIRE_NAME_TEXT])
{
	size_t n = 0, i = 0;

	if (wire[0] == 0) {
		strcpy(text, ".");
		return 0;
	}
	while (wire[i] != 0) {
		size_t l = wire[i++];
		if (memchr(wire + i, '.', l) != NULL || memchr(wire + i, '\0', l) != NULL)
			return -1;
		if (n > 0)
			text[n++] = '.';
		memcpy(text + n, wire + i, l);
		n += l;
		i += l;
	}
	text[n] = '\0';
	return 0;
}

static int
fail(struct dnswire_answer *out, const char *why)
{
	out->why = why;
	return -1;
}

/*
 * The name at OFF of MSG, uncompressed into WIRE (*WLEN bytes); *END is
 * where what follows it begins. Each compression pointer must go below
 * every place read so far, so the jumps end.
 */
static int
name_read(const unsigned char *msg, size_t len, size_t off, unsigned char *wire, size_t *wlen,
	  size_t *end, struct dnswire_answer *out)
{
	size_t pos = off, low = off, n = 0;
	bool jumped = false;

	for (;;) {
		if (pos >= len)
			return fail(out, "a name runs past the end");
		unsigned c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			if (len - pos < 2)
				return fail(out, "a compression pointer runs past the end");
			size_t to = (c & 0x3f) << 8 | msg[pos + 1];
			if (!jumped)
				*end = pos + 2;
			jumped = true;
			if (to < DNSWIRE_HEADER)
				return fail(out, "a compression pointer into the header");
			if (to >= low)
				return fail(out, "a compression pointer forward or in a loop");
			low = pos = to;
			continue;
		}
		if (c & 0xc0)
			return fail(out, "an extended label type");
		if (c >= len - pos)
			return fail(out, "a label runs past the end");
		if (n + 1 + c > DNSWIRE_NAME_WIRE)
			return fail(out, "a name longer than 255 bytes");
		memcpy(wire + n, msg + pos, 1 + c);
		n += 1 + c;
		pos += 1 + c;
		if (c == 0)
			break;
	}
	if (!jumped)
		*end = pos;
	*wlen = n;
	return 0;
}

/* The record at *OFF into RR, *OFF moved past it. */
static int
rr_read(const unsigned char *msg, size_t len, size_t *off, struct rr *rr,
	struct dnswire_answer *out)
{
	size_t p;

	if (name_read(msg, len, *off, rr->owner, &rr->ownerlen, &p, out) == -1)
		return -1;
	if (len - p < RR_FIXED)
		return fail(out, "a record runs past the end");
	rr->type = get16(msg + p);
	rr->class = get16(msg + p + 2);
	rr->ttl = get32(msg + p + 4);
	rr->rdlen = get16(msg + p + 8);
	rr->rdata = p + RR_FIXED;
	if (rr->rdlen > len - rr->rdata)
		return fail(out, "a record's data runs past the end");
	*off = rr->rdata + rr->rdlen;
	return 0;
}

/* A CNAME's target into WIRE: one name filling its rdata exactly. */
static int
cname_read(const unsigned char *msg, size_t len, const struct rr *rr, unsigned char *wire,
	   size_t *wlen, struct dnswire_answer *out)
{
	size_t end;

	/* The rdata's own end bounds the name, so it cannot run into the
	 * next record. */
	if (name_read(msg, rr->rdata + rr->rdlen, rr->rdata, wire, wlen, &end, out) == -1)
		return -1;
	if (end != rr->rdata + rr->rdlen)
		return fail(out, "a CNAME with bytes after its name");
	return 0;
}

/* RFC 2181 8: a TTL with its top bit set is 0. */
static uint32_t
ttl_min(uint32_t a, uint32_t b)
{
	if (b & 0x80000000u)
		b = 0;
	return b < a ? b : a;
}

/* Every record of every section checked; the OPT record's bits kept. */
static int
records_check(const unsigned char *msg, size_t len, size_t off, const unsigned counts[3],
	      struct dnswire_answer *out)
{
	struct rr rr;
	unsigned char target[DNSWIRE_NAME_WIRE];
	size_t tlen;

	for (int sect = 0; sect < 3; sect++) {
		for (unsigned i = 0; i < counts[sect]; i++) {
			if (rr_read(msg, len, &off, &rr, out) == -1)
				return -1;
			if (rr.type == DNSWIRE_TYPE_OPT) {
				if (sect != 2)
					return fail(out, "an OPT record outside the additional "
							 "section");
				if (out->edns)
					return fail(out, "two OPT records");
				if (rr.ownerlen != 1)
					return fail(out, "an OPT record not owned by the root");
				out->edns = true;
				out->dobit = (rr.ttl & EDNS_DO) != 0;
				out->rcode |= (int)(rr.ttl >> 24) << 4;
				continue;
			}
			if (sect != 0 || rr.class != DNSWIRE_CLASS_IN)
				continue;
			if (rr.type == DNSWIRE_TYPE_CNAME &&
			    cname_read(msg, len, &rr, target, &tlen, out) == -1)
				return -1;
			if (rr.type == DNSWIRE_TYPE_TLSA && rr.rdlen < 3)
				return fail(out, "a TLSA record shorter than 3 bytes");
		}
	}
	if (off != len)
		return fail(out, "bytes after the last record");
	return 0;
}

/*
 * The CNAME of NAME (*NLEN bytes) in the answer section at OFF (AN
 * records, all checked): 1 with NAME replaced by its target, 0 when it
 * has none, -1 when it has two.
 */
static int
cname_find(const unsigned char *msg, size_t len, size_t off, unsigned an, unsigned char *name,
	   size_t *nlen, uint32_t *ttl, struct dnswire_answer *out)
{
	struct rr rr;
	unsigned char target[DNSWIRE_NAME_WIRE];
	size_t tlen = 0;
	int found = 0;

	for (unsigned i = 0; i < an; i++) {
		if (rr_read(msg, len, &off, &rr, out) == -1)
			return -1;
		if (rr.type != DNSWIRE_TYPE_CNAME || rr.class != DNSWIRE_CLASS_IN ||
		    !name_eq(rr.owner, rr.ownerlen, name, *nlen))
			continue;
		if (found)
			return fail(out, "two CNAME records for one name");
		if (cname_read(msg, len, &rr, target, &tlen, out) == -1)
			return -1;
		*ttl = ttl_min(*ttl, rr.ttl);
		found = 1;
	}
	if (found) {
		memcpy(name, target, tlen);
		*nlen = tlen;
	}
	return found;
}

/* The TLSA records of NAME in the answer section at OFF into OUT. */
static int
tlsa_collect(const unsigned char *msg, size_t len, size_t off, unsigned an,
	     const unsigned char *name, size_t nlen, uint32_t *ttl, struct dnswire_answer *out)
{
	struct rr rr;

	for (unsigned i = 0; i < an; i++) {
		if (rr_read(msg, len, &off, &rr, out) == -1)
			return -1;
		if (rr.type != DNSWIRE_TYPE_TLSA || rr.class != DNSWIRE_CLASS_IN ||
		    !name_eq(rr.owner, rr.ownerlen, name, nlen))
			continue;
		if (out->ntlsa == DNSWIRE_TLSA_MAX)
			return fail(out, "too many TLSA records");
		struct dnswire_tlsa *t = &out->tlsa[out->ntlsa++];
		t->usage = msg[rr.rdata];
		t->selector = msg[rr.rdata + 1];
		t->mtype = msg[rr.rdata + 2];
		t->data = msg + rr.rdata + 3;
		t->len = rr.rdlen - 3;
		*ttl = ttl_min(*ttl, rr.ttl);
	}
	return 0;
}

int
dnswire_query(uint16_t id, const char *name, uint16_t qtype, unsigned char *buf, size_t len)
{
	unsigned char wire[DNSWIRE_NAME_WIRE];
	int n = name_wire(name, wire);

	if (n == -1 || len < DNSWIRE_HEADER + (size_t)n + 4 + 11)
		return -1;
	unsigned char *p = buf;
	put16(p, id);
	put16(p + 2, F_RD | F_AD);
	put16(p + 4, 1); /* QDCOUNT */
	put16(p + 6, 0);
	put16(p + 8, 0);
	put16(p + 10, 1); /* ARCOUNT: the OPT record */
	p += DNSWIRE_HEADER;
	memcpy(p, wire, n);
	p += n;
	put16(p, qtype);
	put16(p + 2, DNSWIRE_CLASS_IN);
	p += 4;
	/* OPT: root owner, the UDP size as class, TTL: extended RCODE 0,
	 * version 0, DO; no options. */
	*p++ = 0;
	put16(p, DNSWIRE_TYPE_OPT);
	put16(p + 2, DNSWIRE_UDP_SIZE);
	put16(p + 4, 0);
	put16(p + 6, EDNS_DO);
	put16(p + 8, 0);
	p += RR_FIXED;
	return (int)(p - buf);
}

int
dnswire_parse_tlsa(const unsigned char *msg, size_t len, const char *qname,
		   struct dnswire_answer *out)
{
	unsigned char want[DNSWIRE_NAME_WIRE], name[DNSWIRE_NAME_WIRE];
	unsigned char seen[DNSWIRE_CHAIN_MAX + 1][DNSWIRE_NAME_WIRE];
	size_t seenlen[DNSWIRE_CHAIN_MAX + 1], nlen, off, end;
	int wantlen;

	memset(out, 0, sizeof(*out));
	if ((wantlen = name_wire(qname, want)) == -1)
		return fail(out, "the name asked is no DNS name");
	if (len < DNSWIRE_HEADER)
		return fail(out, "shorter than a header");
	unsigned flags = get16(msg + 2);
	unsigned counts[3] = {get16(msg + 6), get16(msg + 8), get16(msg + 10)};
	unsigned qd = get16(msg + 4);
	out->id = get16(msg);
	out->rcode = flags & F_RCODE;
	out->ad = (flags & F_AD) != 0;
	out->tc = (flags & F_TC) != 0;
	if (!(flags & F_QR))
		return fail(out, "not a response");
	if (flags & F_OPCODE)
		return fail(out, "not a standard query's response");

	off = DNSWIRE_HEADER;
	if (qd == 0 && out->rcode != DNSWIRE_RCODE_NOERROR &&
	    out->rcode != DNSWIRE_RCODE_NXDOMAIN) {
		/* A failure without the question (FORMERR from a server
		 * that does not know EDNS): nothing to match. */
	} else if (qd != 1) {
		return fail(out, "not one question");
	} else {
		if (name_read(msg, len, off, name, &nlen, &end, out) == -1)
			return -1;
		if (len - end < 4)
			return fail(out, "the question runs past the end");
		if (!name_eq(name, nlen, want, (size_t)wantlen))
			return fail(out, "an answer for another name");
		if (get16(msg + end) != DNSWIRE_TYPE_TLSA)
			return fail(out, "an answer for another type");
		if (get16(msg + end + 2) != DNSWIRE_CLASS_IN)
			return fail(out, "an answer for another class");
		off = end + 4;
	}
	if (out->tc)
		return 0;

	if (records_check(msg, len, off, counts, out) == -1)
		return -1;
	if (out->rcode != DNSWIRE_RCODE_NOERROR && out->rcode != DNSWIRE_RCODE_NXDOMAIN)
		return 0;

	/* Follow the chain; each name is checked against those before it. */
	uint32_t ttl = UINT32_MAX;
	memcpy(name, want, (size_t)wantlen);
	nlen = (size_t)wantlen;
	for (;;) {
		memcpy(seen[out->ncname], name, nlen);
		seenlen[out->ncname] = nlen;
		int r = cname_find(msg, len, off, counts[0], name, &nlen, &ttl, out);
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		for (size_t i = 0; i <= out->ncname; i++)
			if (name_eq(seen[i], seenlen[i], name, nlen))
				return fail(out, "a CNAME loop");
		if (out->ncname == DNSWIRE_CHAIN_MAX)
			return fail(out, "a CNAME chain too long");
		out->ncname++;
	}
	if (out->ncname > 0 && name_text(name, out->cname_target) == -1)
		return fail(out, "a CNAME target with '.' or NUL inside a label");

	if (out->rcode == DNSWIRE_RCODE_NOERROR &&
	    tlsa_collect(msg, len, off, counts[0], name, nlen, &ttl, out) == -1)
		return -1;
	out->ttl = ttl == UINT32_MAX ? 0 : ttl;
	return 0;
}

bool
dnswire_tlsa_usable(const struct dnswire_tlsa *t)
{
	if (t->usage != DNSWIRE_TLSA_DANE_TA && t->usage != DNSWIRE_TLSA_DANE_EE)
		return false;
	if (t->selector != DNSWIRE_TLSA_CERT && t->selector != DNSWIRE_TLSA_SPKI)
		return false;
	switch (t->mtype) {
	case DNSWIRE_TLSA_FULL:
		return t->len > 0;
	case DNSWIRE_TLSA_SHA256:
		return t->len == DNSWIRE_SHA256_LEN;
	case DNSWIRE_TLSA_SHA512:
		return t->len == DNSWIRE_SHA512_LEN;
	default:
		return false;
	}
}

const char *
dnswire_rcode_name(int rcode)
{
	static const char *const names[] = {
		"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",  "DSOTYPENI",
		"UNKNOWN",  "UNKNOWN", "UNKNOWN",  "UNKNOWN",  "BADVERS",  "BADKEY",
		"BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE",
	};

	if (rcode < 0 || (size_t)rcode >= sizeof(names) / sizeof(names[0]))
		return "UNKNOWN";
	return names[rcode];
}
