/*
 * bounce.c — delivery status notifications of a queued message (bounce.h).
 *
 * bounce_text(), bounce_headers(), bounce_classify()
 *
 * Invariants: pure (no I/O, no globals; the time and the configuration are
 * passed in); the reply shown is the recipient's last one, an "smtp;"
 * diagnostic when a remote server gave it (also for an expired recipient),
 * else relayd's own reason; a recipient that was never tried says so. Every
 * recipient gets the classifier's text for the sender (never its operator
 * advice, which is for the log and relayctl).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "relayd/bounce.h"
#include "relayd/queue.h"
#include "smtp/classify.h"
#include "smtp/data.h"
#include "smtp/dsn.h"
#include "smtp/reply.h"

/*
 * What R's last failure means, for its sender: a remote reply through
 * classify(), relayd's own reason through classify_local() (by its words,
 * then its status). An expired recipient's status is 4.4.7, not its last
 * reply's: the classifier takes the reply's own from the reply line then.
 */
void
bounce_classify(const struct qrcpt *r, struct classification *cl)
{
	const char *text = r->last_reply ? r->last_reply : "";
	char status[MSG_STATUS_MAX];

	msg_status(r, status);
	if (r->code >= 400)
		classify(r->code, r->state == RCPT_EXPIRED ? "" : status, text, cl);
	else
		classify_local(status, text, cl);
}

/* The DSN about recipients IDX of M. */
char *
bounce_text(const struct qmsg *m, const size_t *idx, size_t n, bool delay, const char *headers,
	    size_t hlen, const struct conf *c, time_t now, unsigned long unique, size_t *len)
{
	struct dsn_rcpt *dr = calloc(n ? n : 1, sizeof(*dr));
	char(*hosts)[256] = calloc(n ? n : 1, sizeof(*hosts));
	char(*ips)[64] = calloc(n ? n : 1, sizeof(*ips));
	char(*statuses)[MSG_STATUS_MAX] = calloc(n ? n : 1, sizeof(*statuses));
	char *text = NULL;

	if (!dr || !hosts || !ips || !statuses)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct qrcpt *r = &m->rcpt[idx[i]];
		struct classification cl;
		bounce_classify(r, &cl);
		dr[i].addr = r->addr;
		dr[i].delayed = delay;
		msg_status(r, statuses[i]);
		dr[i].status = statuses[i][0] ? statuses[i] : (delay ? "4.0.0" : "5.0.0");
		if (r->relay) {
			/* "HOST[IP]:PORT" */
			const char *lb = strchr(r->relay, '['), *rb = strrchr(r->relay, ']');
			if (lb && rb && rb > lb) {
				snprintf(hosts[i], sizeof(hosts[i]), "%.*s", (int)(lb - r->relay),
					 r->relay);
				snprintf(ips[i], sizeof(ips[i]), "%.*s", (int)(rb - lb - 1),
					 lb + 1);
				dr[i].remote_host = hosts[i];
				dr[i].remote_ip = ips[i];
			}
		}
		dr[i].reply = r->last_reply ? r->last_reply : "no attempt was made";
		/* The remote's reply is an "smtp;" diagnostic (RFC 3464 2.3.6),
		 * also as the last reply of an expired recipient (Status 4.4.7
		 * then says why it failed); a local reason is "X-Relayd;". */
		dr[i].reply_is_smtp = r->code >= 200;
		dr[i].in_reply_to = reply_cmd_phrase(r->cmd);
		dr[i].last_attempt = now;
		dr[i].label = cl.label;
		dr[i].explain = cl.sender;
	}
	struct dsn_msg dm = {
		.hostname = c->hostname,
		.qid = m->id,
		.arrival = m->arrival,
		.sender = m->sender,
		.headers = headers,
		.headers_len = hlen,
		.rcpt = dr,
		.nrcpt = n,
		.delay = delay,
		.retry_until = delay ? m->arrival + (time_t)c->queue.max_lifetime : 0,
		.now = now,
		.unique = unique,
	};
	text = dsn_build(&dm, len);
out:
	free(dr);
	free(hosts);
	free(ips);
	free(statuses);
	return text;
}

struct hbuf {
	char *p;
	size_t len;
};

static void
collect(void *arg, const char *buf, size_t len)
{
	struct hbuf *h = arg;
	memcpy(h->p + h->len, buf, len);
	h->len += len;
}

/* The original header section, unstuffed. */
char *
bounce_headers(const char *raw, size_t n, size_t *len)
{
	/* Up to the blank line; without one (all headers, or a cut), up to
	 * the last complete line. */
	size_t end = 0;
	const char *blank = memmem(raw, n, "\r\n\r\n", 4);
	if (blank) {
		end = (size_t)(blank - raw) + 2;
	} else {
		for (size_t i = n; i >= 2; i--)
			if (raw[i - 2] == '\r' && raw[i - 1] == '\n') {
				end = i;
				break;
			}
	}
	/* Unstuffing only removes bytes: END + 1 is room enough. */
	struct hbuf h = {malloc(end + 1), 0};
	if (!h.p)
		return NULL;
	data_unstuff(raw, end, collect, &h);
	h.p[h.len] = '\0';
	*len = h.len;
	return h.p;
}
