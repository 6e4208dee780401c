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

#include "conf/conf.h"
#include "relayd/log.h"
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

/* The interval of the counts is over: start again. */
static void
roll(time_t now)
{
	if (r_cur && tlsrpt_ndomains(r_cur) > 0)
		log_info("TLS-RPT: the interval from %lld ended with the counts of %zu domain%s "
			 "(sending reports is not implemented yet: they are dropped)",
			 (long long)tlsrpt_start(r_cur), tlsrpt_ndomains(r_cur),
			 tlsrpt_ndomains(r_cur) == 1 ? "" : "s");
	tlsrpt_free(r_cur);
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
