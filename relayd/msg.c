/*
 * msg.c — a queued message in memory (msg.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "relayd/intern.h"
#include "relayd/log.h"
#include "relayd/msg.h"
#include "smtp/reply.h"

_Static_assert(sizeof(struct qrcpt) == 56, "a recipient is 56 bytes");
_Static_assert(sizeof(struct qmsg) <= 96, "a message is at most 96 bytes");
_Static_assert(RCMD_LAST < 16, "a reply command fits struct qrcpt's cmd");
_Static_assert(QID_MAX > FMT_QID_LEN, "a queue id must fit in struct qmsg");

struct qmsg *
msg_new(const char *const *addr, size_t n)
{
	size_t len = sizeof(struct qmsg) + n * sizeof(struct qrcpt), at;
	for (size_t i = 0; i < n; i++)
		len += strlen(addr[i]) + 1;
	struct qmsg *m = calloc(1, len);
	if (!m)
		fatal("out of memory");
	m->refs = 1;
	m->nrcpt = (uint32_t)n;
	at = sizeof(struct qmsg) + n * sizeof(struct qrcpt);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(addr[i]) + 1;
		memcpy((char *)m + at, addr[i], l);
		m->rcpt[i].addr = (char *)m + at;
		at += l;
	}
	m->state = Q_QUEUED;
	m->sched.idx = SCHED_NONE;
	return m;
}

void
msg_free(struct qmsg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		intern_drop(r->last_reply);
		intern_drop(r->transport);
		intern_drop(r->relay);
		intern_drop(r->detour);
	}
	intern_drop(m->sender);
	free(m);
}

void
msg_unref(struct qmsg *m)
{
	if (--m->refs == 0)
		msg_free(m);
}

bool
msg_finished(const struct qmsg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			return false;
	return true;
}

/* One part of an enhanced status: 1-3 digits at *P, packed (msg.h);
 * -1 when there are none or more. */
static int
status_part(const char **p)
{
	unsigned v = 0, n = 0;
	while (**p >= '0' && **p <= '9' && n < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0 || n > 3)
		return -1;
	return (int)(n == 1 ? v : n == 2 ? 10 + v : 110 + v);
}

void
msg_set_status(struct qrcpt *r, const char *status)
{
	const char *p = status;
	int sub = -1, det = -1;

	r->st_class = 0;
	if (p[0] < '0' || p[0] > '9' || p[1] != '.')
		return;
	p += 2;
	if ((sub = status_part(&p)) == -1 || *p++ != '.' || (det = status_part(&p)) == -1 || *p)
		return;
	r->st_class = (unsigned)(status[0] - '0') + 1;
	r->st_subject = (unsigned)sub;
	r->st_detail = (unsigned)det;
}

/* A packed part into BUF; past what it wrote. */
static char *
status_put(char *buf, unsigned v)
{
	int n = v < 10	  ? sprintf(buf, "%u", v)
		: v < 110 ? sprintf(buf, "%02u", v - 10)
			  : sprintf(buf, "%03u", (v - 110) % 1000);
	return buf + n;
}

const char *
msg_status(const struct qrcpt *r, char *buf)
{
	char *p = buf;
	if (r->st_class == 0) {
		buf[0] = '\0';
		return buf;
	}
	*p++ = (char)('0' + (r->st_class - 1) % 10);
	*p++ = '.';
	p = status_put(p, r->st_subject);
	*p++ = '.';
	status_put(p, r->st_detail);
	return buf;
}

/* Strictly increasing within a run (never below the last one given); a
 * restart starts from the clock. The rename into queue/ refuses to
 * replace a file, so even a clock set back cannot lose a message. */
void
msg_newid(char *id)
{
	static uint64_t last;
	static unsigned seq;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	uint64_t v = (us << 12) | (seq++ & 0xFFFu);
	if (v <= last)
		v = last + 1;
	last = v;
	snprintf(id, QID_MAX, "%016" PRIX64, v);
}

uint64_t
msg_id_key(const char *id)
{
	uint64_t v = 0;
	size_t i;
	for (i = 0; i < FMT_QID_LEN && id[i]; i++) {
		char c = id[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	return i == FMT_QID_LEN && !id[i] ? v : 0;
}
