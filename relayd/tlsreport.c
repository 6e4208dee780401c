/*
 * tlsreport.c — TLS-RPT counts on the loop, saved in the spool
 * (tlsreport.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <zlib.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/queue.h"
#include "relayd/stats.h"
#include "smtp/base64.h"
#include "smtp/cmd.h"
#include "smtp/data.h"
#include "relayd/mtasts.h"
#include "relayd/relayd.h"
#include "relayd/sts.h"
#include "relayd/tlsreport.h"
#include "relayd/worker.h"
#include "tls/tls.h"

static struct event_base *r_base;
static struct tlsrpt *r_cur;
static char *r_path; /* <spool>/tlsrpt.state */
static unsigned r_interval;
static struct event *r_timer;
static bool r_dirty, r_saving;

/* The reports of an interval that ended, being sent: a domain at a time
 * (its _smtp._tls TXT record, then a message queued to its addresses). */
static struct {
	struct tlsrpt *t;
	time_t end;
	size_t next;
	struct dns_query *dq;
	char domain[256];
} r_send;

static void send_next(void);

/* ---- saving ------------------------------------------------------------- */

struct save_job {
	char *path;
	char *text;
	size_t len;
	int err;
};

/* PATH, whole and durable: a temporary file, fsync, rename. */
static int
write_file(const char *path, const char *text, size_t len)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return errno;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return e;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		int e = errno;
		unlink(tmp);
		return e;
	}
	if (rename(tmp, path) == -1) {
		int e = errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

static void
save_work(void *arg)
{
	struct save_job *j = arg;
	j->err = write_file(j->path, j->text, j->len);
}

static void
save_done(void *arg)
{
	struct save_job *j = arg;
	if (j->err)
		log_warn("TLS-RPT: cannot save the counts to %s: %s", j->path, strerror(j->err));
	free(j->path);
	free(j->text);
	free(j);
	r_saving = false;
}

/* The counts as their state file says them; NULL when memory runs out. */
static char *
counts_text(size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	if (!f)
		return NULL;
	int rc = tlsrpt_save(r_cur, f);
	if (fclose(f) != 0 || rc == -1) {
		free(text);
		return NULL;
	}
	return text;
}

/* Save the counts: on a worker thread, or (NOW) here and at once. */
static void
save(bool now)
{
	if (!r_cur || !r_path || (r_saving && !now))
		return;
	size_t len = 0;
	char *text = counts_text(&len);
	if (!text) {
		log_warn("TLS-RPT: cannot save the counts: out of memory");
		return;
	}
	r_dirty = false;
	if (now) {
		int e = write_file(r_path, text, len);
		if (e)
			log_warn("TLS-RPT: cannot save the counts to %s: %s", r_path, strerror(e));
		free(text);
		return;
	}
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(r_path)))
		fatal("out of memory");
	j->text = text;
	j->len = len;
	r_saving = true;
	worker_submit_bg(save_work, save_done, j);
}

/* ---- intervals ---------------------------------------------------------- */

static time_t
interval_start(time_t now)
{
	return r_interval ? now - now % (time_t)r_interval : now;
}

/* ---- sending the reports ------------------------------------------------ */

/* IN (LEN bytes) gzip'd (RFC 1952) into *OUT; -1 when zlib fails. */
static int
gzip(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	size_t cap = deflateBound(&z, (uLong)len) + 64;
	unsigned char *buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static void
report_write(void *arg, const char *buf, size_t len)
{
	queue_write(arg, buf, len);
}

struct report_done {
	char domain[256];
	char to[600];
};

static void
report_committed(void *arg, struct qmsg *m, int err)
{
	struct report_done *rd = arg;
	if (err) {
		log_err("TLS-RPT: the report for %s was not queued: %s", rd->domain, strerror(err));
	} else {
		log_info("TLS-RPT: report for %s queued as %s to %s", rd->domain, m->id, rd->to);
		log_qmgr(LOG_INFO, "%s: from=<%s@%s>, size=%llu, nrcpt=1, client=local (queued)",
			 m->id, TLSREPORT_SENDER, relayd_conf->hostname,
			 (unsigned long long)m->size);
		stats_count(STAT_RECEIVED, NULL, 1);
	}
	free(rd);
}

/* Queue the report of DOMAIN to the addresses TO (N of them). */
static void
report_queue(const char *domain, char *const *to, size_t n)
{
	const struct conf *c = relayd_conf;
	time_t begin = tlsrpt_start(r_send.t), end = r_send.end;
	char id[400], fname[600], sender[300];
	snprintf(id, sizeof(id), "%lld.%s@%s", (long long)begin, domain, c->hostname);
	snprintf(sender, sizeof(sender), "%s@%s", TLSREPORT_SENDER, c->hostname);
	char *json = NULL;
	size_t jlen = 0;
	if (tlsrpt_report_json(r_send.t, domain, c->tls_report->organization,
			       c->tls_report->contact, id, end, &json, &jlen) == -1 ||
	    tlsrpt_filename(c->hostname, domain, begin, end, fname, sizeof(fname)) == -1) {
		log_warn("TLS-RPT: cannot make the report for %s", domain);
		free(json);
		return;
	}
	unsigned char *gz = NULL;
	size_t gzlen = 0;
	if (gzip(json, jlen, &gz, &gzlen) == -1) {
		log_warn("TLS-RPT: cannot compress the report for %s", domain);
		free(json);
		return;
	}
	free(json);
	size_t b64cap = (gzlen + 2) / 3 * 4 + 1;
	char *b64 = malloc(b64cap);
	if (!b64 || base64_encode(gz, gzlen, b64, b64cap) < 0)
		fatal("out of memory");
	free(gz);

	/* The message (RFC 8460 5.3). */
	struct evbuffer *msg = evbuffer_new();
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	char boundary[64];
	snprintf(boundary, sizeof(boundary), "tlsrpt-%lld-%u", (long long)now,
		 (unsigned)arc4random());
	evbuffer_add_printf(msg, "From: SMTP TLS reporting <%s>\r\nTo: ", sender);
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(msg, "%s<%s>", i ? ", " : "", to[i]);
	evbuffer_add_printf(msg,
			    "\r\nDate: %s\r\n"
			    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
			    "Message-ID: <%s>\r\n"
			    "TLS-Report-Domain: %s\r\n"
			    "TLS-Report-Submitter: %s\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
			    "\tboundary=\"%s\"\r\n"
			    "\r\n"
			    "--%s\r\n"
			    "Content-Type: text/plain; charset=us-ascii\r\n"
			    "\r\n"
			    "This is an aggregate TLS report (RFC 8460) from %s for %s.\r\n"
			    "\r\n"
			    "--%s\r\n"
			    "Content-Type: application/tlsrpt+gzip\r\n"
			    "Content-Transfer-Encoding: base64\r\n"
			    "Content-Disposition: attachment;\r\n"
			    "\tfilename=\"%s\"\r\n"
			    "\r\n",
			    date, domain, c->hostname, id, id, domain, c->hostname, boundary,
			    boundary, c->hostname, domain, boundary, fname);
	for (size_t o = 0, l = strlen(b64); o < l; o += 76) {
		evbuffer_add(msg, b64 + o, l - o < 76 ? l - o : 76);
		evbuffer_add(msg, "\r\n", 2);
	}
	evbuffer_add_printf(msg, "--%s--\r\n", boundary);
	free(b64);

	struct qenv env = {
		.sender = sender,
		.rcpt = (const char *const *)to,
		.nrcpt = n,
		.client = "local",
		.body = BODY_7BIT,
	};
	struct qmsg *m = queue_create(&env);
	size_t len = evbuffer_get_length(msg);
	const char *text = (const char *)evbuffer_pullup(msg, -1);
	data_stuff(text, len, report_write, m);
	evbuffer_free(msg);
	struct report_done *rd = calloc(1, sizeof(*rd));
	if (!rd)
		fatal("out of memory");
	snprintf(rd->domain, sizeof(rd->domain), "%s", domain);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rd->to);
		snprintf(rd->to + l, sizeof(rd->to) - l, "%s%s", i ? ", " : "", to[i]);
	}
	queue_commit(m, (uint64_t)m->body_len, report_committed, rd);
}

/* The _smtp._tls record of the domain being reported: its mailto: rua
 * addresses get the report. */
static void
send_txt(void *arg, const struct dns_rrset *rs)
{
	char *to[10];
	size_t n = 0, found = 0;

	r_send.dq = NULL;
	for (size_t i = 0; rs->st == DNS_OK && i < rs->n; i++) {
		const char *t = rs->rr[i];
		if (strncmp(t, "v=TLSRPTv1", 10) != 0 || (t[10] && t[10] != ';' && t[10] != ' '))
			continue;
		found++;
		if (found > 1)
			break;
		char *copy = strdup(t), *save = NULL;
		if (!copy)
			fatal("out of memory");
		for (char *f = strtok_r(copy, ";", &save); f; f = strtok_r(NULL, ";", &save)) {
			while (*f == ' ' || *f == '\t')
				f++;
			if (strncmp(f, "rua=", 4) != 0)
				continue;
			char *save2 = NULL;
			for (char *u = strtok_r(f + 4, ",", &save2); u && n < 10;
			     u = strtok_r(NULL, ",", &save2)) {
				while (*u == ' ' || *u == '\t')
					u++;
				size_t l = strcspn(u, " \t?");
				if (strncasecmp(u, "mailto:", 7) != 0 || l <= 7) {
					log_info("TLS-RPT: %s: rua %.*s is not a mailto: URI; only "
						 "mail is sent",
						 r_send.domain, (int)l, u);
					continue;
				}
				char addr[300];
				snprintf(addr, sizeof(addr), "%.*s", (int)(l - 7), u + 7);
				if (!strchr(addr, '@') || cmd_domain(addr)[0] == '\0')
					continue;
				if (!(to[n++] = strdup(addr)))
					fatal("out of memory");
			}
		}
		free(copy);
	}
	if (found == 1 && n > 0)
		report_queue(r_send.domain, to, n);
	else
		log_info("TLS-RPT: %s: %s: no report sent", r_send.domain,
			 rs->st == DNS_TEMPFAIL ? "the TLSRPT record could not be looked up"
			 : found > 1		? "more than one TLSRPT record"
						: "no TLSRPT record with a mailto: rua");
	for (size_t i = 0; i < n; i++)
		free(to[i]);
	send_next();
}

/* The next domain of the interval being sent, or the end. */
static void
send_next(void)
{
	if (!r_send.t)
		return;
	if (r_send.next >= tlsrpt_ndomains(r_send.t) || !relayd_conf->tls_report) {
		tlsrpt_free(r_send.t);
		r_send.t = NULL;
		return;
	}
	snprintf(r_send.domain, sizeof(r_send.domain), "%s",
		 tlsrpt_domain(r_send.t, r_send.next++));
	char name[300];
	snprintf(name, sizeof(name), "_smtp._tls.%s", r_send.domain);
	r_send.dq = dns_lookup(name, DNS_RR_TXT, send_txt, NULL);
}

/* The interval of the counts is over: send its reports, start again. */
static void
roll(time_t now)
{
	if (r_cur && tlsrpt_ndomains(r_cur) > 0) {
		if (r_send.t) {
			log_warn("TLS-RPT: the reports of the interval from %lld are still being "
				 "sent; those of the interval from %lld are dropped",
				 (long long)tlsrpt_start(r_send.t), (long long)tlsrpt_start(r_cur));
			tlsrpt_free(r_cur);
		} else {
			log_info("TLS-RPT: the interval from %lld ended: reports for %zu domain%s",
				 (long long)tlsrpt_start(r_cur), tlsrpt_ndomains(r_cur),
				 tlsrpt_ndomains(r_cur) == 1 ? "" : "s");
			r_send.t = r_cur;
			r_send.end = tlsrpt_start(r_cur) + (time_t)r_interval;
			r_send.next = 0;
			r_cur = NULL;
			send_next();
		}
	} else {
		tlsrpt_free(r_cur);
	}
	r_cur = tlsrpt_new(interval_start(now));
	if (!r_cur)
		fatal("out of memory");
	r_dirty = true;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	if (r_cur && now >= tlsrpt_start(r_cur) + (time_t)r_interval)
		roll(now);
	if (r_dirty)
		save(false);
}

/* ---- the API ------------------------------------------------------------ */

static void
start(const struct conf *c)
{
	r_interval = c->tls_report->interval;
	free(r_path);
	if (asprintf(&r_path, "%s/tlsrpt.state", c->spool) == -1)
		fatal("out of memory");
	if (!r_cur) {
		FILE *f = fopen(r_path, "re");
		if (f) {
			char err[300];
			r_cur = tlsrpt_load(f, err, sizeof(err));
			fclose(f);
			if (!r_cur)
				log_warn("TLS-RPT: %s is not usable (%s): the counts start again",
					 r_path, err);
		} else if (errno != ENOENT) {
			log_warn("TLS-RPT: cannot read %s: %s", r_path, strerror(errno));
		}
		if (!r_cur)
			roll(time(NULL));
	}
	if (!r_timer && !(r_timer = event_new(r_base, -1, EV_PERSIST, on_timer, NULL)))
		fatal("out of memory");
	struct timeval tv = {TLSREPORT_SAVE_SECONDS, 0};
	evtimer_add(r_timer, &tv);
	on_timer(-1, 0, NULL); /* an interval that ended while relayd was down */
}

void
tlsreport_init(struct event_base *base, const struct conf *c)
{
	r_base = base;
	if (c->tls_report)
		start(c);
}

void
tlsreport_reload(const struct conf *c)
{
	if (!r_base)
		return;
	if (c->tls_report) {
		start(c);
		return;
	}
	/* The section is gone: counting stops; the file stays. */
	if (r_cur && r_dirty)
		save(true);
	tlsrpt_free(r_cur);
	r_cur = NULL;
	if (r_timer)
		evtimer_del(r_timer);
}

void
tlsreport_shutdown(void)
{
	dns_cancel(r_send.dq);
	r_send.dq = NULL;
	tlsrpt_free(r_send.t);
	r_send.t = NULL;
	if (r_cur && r_dirty)
		save(true);
	tlsrpt_free(r_cur);
	r_cur = NULL;
	if (r_timer)
		event_free(r_timer);
	r_timer = NULL;
	free(r_path);
	r_path = NULL;
	r_base = NULL;
}

bool
tlsreport_on(void)
{
	return r_cur != NULL;
}

void
tlsreport_sts(const struct sts_policy *p)
{
	if (!r_cur || !p)
		return;
	char lines[4][64];
	const char *s[4 + TLSRPT_STRINGS_MAX];
	size_t n = 0;
	snprintf(lines[0], sizeof(lines[0]), "version: STSv1");
	snprintf(lines[1], sizeof(lines[1]), "mode: %s", mtasts_strmode(p->p.mode));
	snprintf(lines[2], sizeof(lines[2]), "max_age: %lu", p->p.max_age);
	s[n++] = lines[0];
	s[n++] = lines[1];
	/* the mx lines as the policy has them */
	char *mxl[TLSRPT_STRINGS_MAX] = {0};
	size_t nmx = 0;
	for (size_t i = 0; i < p->p.nmx && n + 1 < sizeof(s) / sizeof(s[0]) - 1; i++) {
		if (asprintf(&mxl[nmx], "mx: %s", p->p.mx[i]) == -1)
			fatal("out of memory");
		s[n++] = mxl[nmx++];
	}
	s[n++] = lines[2];
	tlsrpt_policy(r_cur, p->domain, TLSRPT_STS, s, n, (const char *const *)p->p.mx,
		      p->p.nmx < TLSRPT_STRINGS_MAX ? p->p.nmx : TLSRPT_STRINGS_MAX);
	for (size_t i = 0; i < nmx; i++)
		free(mxl[i]);
}

void
tlsreport_tlsa(const char *domain, const struct tls_tlsa *t, size_t n)
{
	if (!r_cur)
		return;
	char *rec[32] = {0};
	size_t k = 0;
	for (size_t i = 0; i < n && k < 32; i++) {
		char *s = malloc(16 + 2 * t[i].len + 1);
		if (!s)
			fatal("out of memory");
		int o = sprintf(s, "%u %u %u ", t[i].usage, t[i].selector, t[i].mtype);
		for (size_t b = 0; b < t[i].len; b++)
			o += sprintf(s + o, "%02X", t[i].data[b]);
		rec[k++] = s;
	}
	tlsrpt_policy(r_cur, domain, TLSRPT_TLSA, (const char *const *)rec, k, NULL, 0);
	for (size_t i = 0; i < k; i++)
		free(rec[i]);
}

void
tlsreport_success(const char *domain, enum tlsrpt_type type)
{
	if (r_cur && tlsrpt_success(r_cur, domain, type) == 0)
		r_dirty = true;
}

void
tlsreport_failure(const char *domain, enum tlsrpt_type type, enum tlsrpt_result r,
		  const char *mx_host, const char *receiving_ip)
{
	if (r_cur && tlsrpt_failure(r_cur, domain, type, r, NULL, mx_host, receiving_ip) == 0)
		r_dirty = true;
}

enum tlsrpt_result
tlsreport_classify(const char *why)
{
	if (strstr(why, "not offered") || strstr(why, "refused STARTTLS"))
		return TLSRPT_STARTTLS_NOT_SUPPORTED;
	if (strstr(why, "hostname mismatch") || strstr(why, "IP address mismatch"))
		return TLSRPT_CERTIFICATE_HOST_MISMATCH;
	if (strstr(why, "expired"))
		return TLSRPT_CERTIFICATE_EXPIRED;
	if (strstr(why, "self-signed") || strstr(why, "unable to get") ||
	    strstr(why, "self signed") || strstr(why, "untrusted"))
		return TLSRPT_CERTIFICATE_NOT_TRUSTED;
	return TLSRPT_VALIDATION_FAILURE;
}

static void
write_out(void *arg, const char *s, size_t len)
{
	evbuffer_add(arg, s, len);
}

void
tlsreport_write(struct evbuffer *out, bool json)
{
	if (r_cur)
		tlsrpt_write(r_cur, json, write_out, out);
	else if (json)
		evbuffer_add(out, "[]\n", 3);
}
