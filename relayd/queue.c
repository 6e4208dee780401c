/*
 * queue.c — the durable queue and the dispatch of due recipients.
 *
 * queue_init(), queue_shutdown()         spool set-up, recovery, stop
 * queue_create(), queue_write(),
 * queue_commit(), queue_abort()          receiving a message
 * queue_body()                           reading its body for delivery
 * queue_result(), queue_job_done()       what delivery reports back
 * queue_count(), queue_flush(), queue_delete(), queue_delete_all(),
 * queue_hold(), queue_hold_all(), queue_body_open(), queue_next(),
 * queue_find(), queue_foreach()          for relayctl
 *
 * A message file is written to tmp/ (from memory, or spilled there while
 * DATA is still arriving once it is large), then on a worker thread:
 * fsync, rename into queue/ (never replacing), fsync queue/. That is the
 * durability point; only the completion of that job lets the session say
 * 250. Recipient states go to state/QID with write + rename, so a reader
 * sees the old or the new state, never a torn one.
 *
 * What these files hold (envelope header, record head, state file, .done
 * lines) is written and read by relayd/spool_fmt.c only.
 *
 * Every committed message sits on one list and, while it has recipients
 * waiting for a time and is not on hold, in the scheduler's heap keyed by
 * the earliest of those times. Dispatch groups due recipients by
 * destination and hands each group to mta.c as one job.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "relayd/bounce.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/intern.h"
#include "relayd/qindex.h"
#include "relayd/waitq.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "relayd/spool_fmt.h"
#include "relayd/stats.h"
#include "relayd/worker.h"
#include "smtp/classify.h"
#include "smtp/cmd.h"
#include "smtp/data.h"

/* Spill a message being received to disk beyond this many bytes. */
#define QUEUE_SPILL (256 * 1024)
#define QUEUE_RUN_BUDGET_US 5000 /* retries dispatched per turn of the loop, in time */

/*
 * Retries never starve new mail (queue_run()). While new mail flows (a new
 * message dispatched in the last PACE_BUSY seconds) and retries mostly fail
 * (the destinations of a backlog still refuse), retries are paced: one per
 * PACE_SHARE new messages, at least PACE_MIN a second (a message whose
 * DATA began counts as new mail flowing). Otherwise they run
 * as fast as the loop lets them (QUEUE_RUN_BUDGET_US per turn), so a
 * backlog is tried quickly when the relay has nothing else to do and a
 * destination that works again is drained at full speed. At most
 * RETRY_INFLIGHT_MAX retried messages are with mta.c at once, so pacing
 * takes hold within a moment of new mail arriving (and a flush of a
 * million messages does not queue a million jobs).
 */
#define PACE_BUSY 2.0
#define PACE_SHARE 8.0
#define PACE_MIN 100.0
#define RETRY_INFLIGHT_MAX 1024

static unsigned q_retry_inflight; /* retried messages with jobs at mta.c */
static double q_fresh_rate;	  /* new messages dispatched a second, smoothed */
static unsigned q_fresh_count;	  /* ... in the second starting at q_fresh_sec */
static double q_fresh_sec, q_fresh_last;
static double q_retry_ok, q_retry_fail; /* retry outcomes, decaying (half in 2 s) */
static double q_outcome_at;
static double q_pace_tokens, q_pace_at; /* the pace's bucket (capacity 1 s) */
static double q_pace_next;		/* monotonic time of the next paced retry */

enum qstate { Q_BUILDING, Q_COMMITTING, Q_QUEUED, Q_DONE };

static struct event_base *q_base;
static struct event *q_timer;
/* Due times: messages never tried yet (new mail) and retries, apart, so a
 * backlog made due at once (a flush, a recovery) never delays new mail. */
static struct sched q_sched, q_fresh;
static struct qindex q_byid; /* committed messages by id (qindex.h) */
static int q_dirfd = -1, q_tmpfd = -1, q_statefd = -1;
static bool q_stopping;
static unsigned q_idseq;

static void queue_schedule(struct qmsg *m);
static void commit_done(void *arg);
static void msg_finish(struct qmsg *m);
static void load_state(struct qmsg *m);
static void queue_rearm(void);
static void pace_outcome(bool ok);
static double mono_now(void);
static void msg_unref(struct qmsg *m);

static struct qmsg *
msg_of(struct sched_entry *e)
{
	return (struct qmsg *)((char *)e - offsetof(struct qmsg, sched));
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		fatal("out of memory");
	return p;
}

/* What only receiving and committing a message need. */
struct qrecv {
	int fd; /* tmp file while being written and spilled */
	int error;
	struct evbuffer *buf;
	size_t size_at;	      /* offset of the size digits in the header */
	char tmpname[32];     /* its file in tmp/ while being written */
	struct qmsg *ds_next; /* awaiting the journal or the directory fsync */
	void (*commit_cb)(void *, struct qmsg *, int);
	void *commit_arg;
};

_Static_assert(sizeof(struct qrcpt) == 64, "a recipient is 64 bytes");
_Static_assert(RCMD_LAST < 16, "a reply command fits struct qrcpt's cmd");
_Static_assert(sizeof(struct qmsg) <= 104, "a message is at most 104 bytes");

static void
rx_free(struct qmsg *m)
{
	struct qrecv *rx = m->rx;
	if (!rx)
		return;
	if (rx->buf)
		evbuffer_free(rx->buf);
	if (rx->fd != -1)
		close(rx->fd);
	free(rx);
	m->rx = NULL;
}

static void
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
	intern_drop(m->client);
	if (m->state == Q_BUILDING || m->state == Q_COMMITTING)
		rx_free(m);
	free(m);
}

static void
msg_unref(struct qmsg *m)
{
	if (--m->refs == 0)
		msg_free(m);
}

/* A message with the recipients ADDR[0..N-1], its addresses copied into
 * the same allocation; RX: with the receiving part (struct qrecv). */
static struct qmsg *
msg_new(const char *const *addr, size_t n, bool rx)
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
	if (rx) {
		m->state = Q_BUILDING;
		if (!(m->rx = calloc(1, sizeof(*m->rx))))
			fatal("out of memory");
		m->rx->fd = -1;
	} else {
		m->state = Q_QUEUED;
		m->sched.idx = SCHED_NONE;
	}
	return m;
}

/* An enhanced status into a recipient (a valid one always fits). */
static void
set_status(struct qrcpt *r, const char *status)
{
	size_t n = strnlen(status, sizeof(r->status) - 1);
	memcpy(r->status, status, n);
	r->status[n] = '\0';
}

/* A queue id as the number it writes (16 upper-case hex digits), or 0. */
static uint64_t
id_key(const char *id)
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

/* The committed message QID, or NULL: a binary search, never a walk. */
static struct qmsg *
msg_find(const char *qid)
{
	uint64_t k = id_key(qid);
	return k ? qindex_find(&q_byid, k) : NULL;
}

/* Add committed M to the index by id. */
static void
list_add(struct qmsg *m)
{
	if (qindex_add(&q_byid, id_key(m->id), m) == -1)
		fatal("out of memory");
}

static void
list_del(struct qmsg *m)
{
	qindex_del(&q_byid, id_key(m->id));
}

/* The oldest committed message, the one after M by id: walks that
 * survive a removal of M between steps. */
static struct qmsg *
msg_first(void)
{
	return qindex_first(&q_byid);
}

static struct qmsg *
msg_next(const struct qmsg *m)
{
	return qindex_after(&q_byid, id_key(m->id));
}

/* ---- what waits for a destination (waitq.h) ----------------------------- */

static void wait_note(struct qmsg *m, struct qrcpt *r, bool listed, bool waits);

/* A message read back at start, in the index: list its recipients that
 * waited for their destination when relayd stopped. */
static void
wait_recovered(struct qmsg *m)
{
	/* The classifier costs microseconds a reply; a backlog's recipients
	 * mostly share theirs (interned: the same pointer). */
	static const char *last_reply;
	static unsigned last_code;
	static char last_status[sizeof(m->rcpt[0].status)];
	static bool last_waits;
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || !r->transport)
			continue;
		if (!r->last_reply || r->last_reply != last_reply || r->code != last_code ||
		    strcmp(r->status, last_status) != 0) {
			last_waits = dlv_waits_for_destination((int)r->code, r->status,
							       r->last_reply ? r->last_reply : "");
			last_reply = r->last_reply;
			last_code = r->code;
			memcpy(last_status, r->status, sizeof(last_status));
		}
		wait_note(m, r, false, last_waits);
	}
}

/* Does message ID still have a recipient listed as waiting? */
static bool
wait_alive(uint64_t id, void *unused)
{
	const struct qmsg *m = qindex_find(&q_byid, id);
	for (size_t i = 0; m && i < m->nrcpt; i++)
		if (m->rcpt[i].waiting && m->rcpt[i].state == RCPT_PENDING)
			return true;
	return false;
}

/* After an attempt for R of M (or its state read from the state file):
 * list it under its destination when WAITS, that is when the reply or
 * reason said the destination failed rather than the recipient
 * (dlv_waits_for_destination(), which dlv_decide() ran). LISTED: it is
 * listed under that destination already. */
static void
wait_note(struct qmsg *m, struct qrcpt *r, bool listed, bool waits)
{
	const char *transport = r->transport;
	if (r->state != RCPT_PENDING || !transport || !waits) {
		r->waiting = 0;
		return;
	}
	if (listed)
		return;
	/* The destination's key as mta.c makes it: the recipient domain for
	 * MX delivery, none for a transport with relays. */
	const struct conf_transport *t = conf_transport_find(relayd_conf, transport);
	const char *domain = t && t->nrelay == 0 ? cmd_domain(r->addr) : NULL;
	waitq_add(transport, domain, id_key(m->id), wait_alive, NULL);
	r->waiting = 1;
}

/* A fresh queue id: microseconds since the epoch and a counter, in hex;
 * checked against the spool so a restart cannot reuse one. */
static void
queue_newid(char *id)
{
	struct timeval tv;

	/* Strictly increasing within a run (never below the last one given);
	 * a restart starts from the clock. The rename into queue/ refuses to
	 * replace a file, so even a clock set back cannot lose a message. */
	static uint64_t last;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	uint64_t v = (us << 12) | (q_idseq++ & 0xFFFu);
	if (v <= last)
		v = last + 1;
	last = v;
	snprintf(id, QID_MAX, "%016" PRIX64, v);
}

/* ---- receiving ------------------------------------------------------ */

_Static_assert(RCPT_EXPIRED == FMT_STATE_MAX, "every recipient state must be storable");
_Static_assert(QID_MAX > FMT_QID_LEN, "a queue id must fit in struct qmsg");

/* Start a message with ENV; its header goes first in the buffer. A header
 * that cannot be written (an address with a control byte, which smtp/
 * never accepts) fails the message: its commit answers 451. */
struct qmsg *
queue_create(const struct qenv *env)
{
	struct qmsg *m = msg_new(env->rcpt, env->nrcpt, true);
	struct qrecv *rx = m->rx;
	struct fmt_buf hdr = {0};
	const char *why;

	queue_newid(m->id);
	q_fresh_last = mono_now(); /* new mail flows: retries are paced */
	m->sender = intern(env->sender ? env->sender : "");
	m->client = intern(env->client ? env->client : "");
	m->arrival = time(NULL);
	m->body = (unsigned)env->body & 3u;
	m->smtputf8 = env->smtputf8;
	for (size_t i = 0; i < env->nrcpt; i++)
		m->rcpt[i].next_attempt = m->arrival;
	rx->buf = evbuffer_new();
	if (!rx->buf)
		fatal("out of memory");
	struct fmt_env fe = {
		.arrival = (int64_t)m->arrival,
		.client = m->client,
		.body = m->body,
		.smtputf8 = m->smtputf8,
		.sender = m->sender,
		.rcpt = env->rcpt,
		.nrcpt = env->nrcpt,
	};
	if (strlen(m->id) < sizeof(fe.id)) /* else left empty: refused */
		memcpy(fe.id, m->id, strlen(m->id) + 1);
	/* The size digits are written at size_at once the size is known. */
	if (spool_fmt_env_encode(&hdr, &fe, &rx->size_at, &why) == -1) {
		if (why == spool_fmt_nomem)
			fatal("out of memory");
		log_qmgr(LOG_ERR, "%s: cannot queue message: %s", m->id, why);
		rx->error = EINVAL;
	} else if (evbuffer_add(rx->buf, hdr.p, hdr.len) == -1) {
		fatal("out of memory");
	}
	spool_fmt_buf_free(&hdr);
	m->body_off = (uint32_t)evbuffer_get_length(rx->buf);
	return m;
}

/* ---- the pool of spent files ------------------------------------------ */

#define POOL_MAX 1024		   /* files kept */
#define POOL_FILE_MAX (256 * 1024) /* larger ones are not kept */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned pool_free[POOL_MAX];
static size_t pool_n;
static unsigned pool_seq;

static bool
pool_take(unsigned *slot)
{
	pthread_mutex_lock(&pool_lock);
	bool ok = pool_n > 0;
	if (ok)
		*slot = pool_free[--pool_n];
	pthread_mutex_unlock(&pool_lock);
	return ok;
}

static void
pool_give(unsigned slot)
{
	pthread_mutex_lock(&pool_lock);
	pool_free[pool_n++] = slot;
	pthread_mutex_unlock(&pool_lock);
}

/* A slot name for a file to be kept, or false when the pool is full. */
static bool
pool_reserve(unsigned *slot)
{
	pthread_mutex_lock(&pool_lock);
	bool ok = pool_n + 1 < POOL_MAX;
	if (ok)
		*slot = pool_seq++;
	pthread_mutex_unlock(&pool_lock);
	return ok;
}

/* Open the file a new message is written to: a spent one from the pool
 * (overwritten, then cut to size at commit), else a new one. */
static int
tmp_open(struct qmsg *m)
{
	unsigned slot;
	while (pool_take(&slot)) {
		snprintf(m->rx->tmpname, sizeof(m->rx->tmpname), "pool.%u", slot);
		int fd = openat(q_tmpfd, m->rx->tmpname, O_WRONLY | O_CLOEXEC);
		if (fd != -1)
			return fd;
	}
	snprintf(m->rx->tmpname, sizeof(m->rx->tmpname), "%s", m->id);
	return openat(q_tmpfd, m->rx->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* The tmp file of a message that was not committed. */
static void
tmp_drop(struct qmsg *m)
{
	unsigned slot;
	if (sscanf(m->rx->tmpname, "pool.%u", &slot) == 1)
		pool_give(slot);
	else if (m->rx->tmpname[0])
		unlinkat(q_tmpfd, m->rx->tmpname, 0);
	m->rx->tmpname[0] = '\0';
}

static int
spill(struct qmsg *m)
{
	struct qrecv *rx = m->rx;
	if (rx->fd == -1) {
		rx->fd = tmp_open(m);
		if (rx->fd == -1)
			return -1;
	}
	while (evbuffer_get_length(rx->buf) > 0)
		if (evbuffer_write(rx->buf, rx->fd) == -1 && errno != EINTR)
			return -1;
	return 0;
}

/* Append stored-form body bytes; -1 once writing failed (disk full). */
int
queue_write(struct qmsg *m, const void *buf, size_t len)
{
	struct qrecv *rx = m->rx;
	if (rx->error)
		return -1;
	if (evbuffer_add(rx->buf, buf, len) == -1) {
		rx->error = ENOMEM;
		return -1;
	}
	m->body_len += (off_t)len;
	/* Large messages go to the tmp file as they arrive, so memory stays
	 * bounded; the page-cache write is cheap, the fsync comes later. */
	if (evbuffer_get_length(rx->buf) >= QUEUE_SPILL && spill(m) == -1) {
		rx->error = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

static void
queue_write_cb(void *arg, const char *buf, size_t len)
{
	queue_write(arg, buf, len);
}

/* ---- the journal ------------------------------------------------------ */

/*
 * A message received in memory (the common case: up to QUEUE_SPILL bytes)
 * is made durable as a record appended to the active segment log/N.log by
 * one journal thread, which takes every commit waiting, appends them all
 * and makes them durable with one fdatasync: creating, fsyncing, renaming
 * and deleting a file per message costs most of the time otherwise
 * (bench/README.md). A record is "@QID LEN\n" and LEN bytes: the same
 * envelope header and stored body a queue/ file holds.
 *
 * A finished message's id is appended to log/N.done (no sync: losing it
 * costs a duplicate). A segment whose messages are all finished is
 * deleted; the active one when the next batch comes. Segment structs and
 * their live counts are shared by the loop and the journal thread under
 * j_lock.
 */
#define SEG_MAX (4 * 1024 * 1024) /* start a new segment beyond this */

struct segment {
	unsigned id;
	unsigned live; /* messages whose data is here and not finished */
	bool retire;   /* active, nothing live: replace at the next batch */
	int donefd;    /* loop thread: N.done, opened when first needed */
	struct segment *next;
};

static int q_logfd = -1;
static pthread_t j_thread;
static pthread_mutex_t j_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t j_cond = PTHREAD_COND_INITIALIZER;
static struct qmsg *j_head, *j_tail; /* waiting to be appended */
static bool j_stop, j_running;
static struct segment *j_segs;	 /* every segment (j_lock) */
static struct segment *j_active; /* appended to (j_lock) */
static unsigned j_seq;		 /* last segment id used */
static int j_fd = -1;		 /* journal thread: the active segment */
static off_t j_size;

static void
seg_name(char *buf, size_t len, unsigned id, const char *ext)
{
	snprintf(buf, len, "%08X.%s", id, ext);
}

/* Unlink a segment's files (any thread). */
static void
seg_unlink(unsigned id)
{
	char name[32];
	seg_name(name, sizeof(name), id, "log");
	unlinkat(q_logfd, name, 0);
	seg_name(name, sizeof(name), id, "done");
	unlinkat(q_logfd, name, 0);
}

/* Loop thread: a segment is gone from the list; close and free it. */
static void
seg_dead(void *arg)
{
	struct segment *g = arg;
	if (g->donefd != -1)
		close(g->donefd);
	free(g);
}

static void
seg_unlink_work(void *arg)
{
	seg_unlink(((struct segment *)arg)->id);
}

/* Under j_lock: take G out of the list. */
static void
seg_detach(struct segment *g)
{
	for (struct segment **pp = &j_segs; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
}

/* Journal thread: a new active segment; -1 with errno. */
static int
seg_start(void)
{
	char name[32];
	struct segment *g = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	g->donefd = -1;
	g->id = ++j_seq;
	seg_name(name, sizeof(name), g->id, "log");
	int fd = openat(q_logfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	/* The new name must be durable before anything in it counts. */
	if (fd == -1 || fsync(q_logfd) == -1) {
		int err = errno;
		if (fd != -1) {
			close(fd);
			unlinkat(q_logfd, name, 0);
		}
		free(g);
		errno = err;
		return -1;
	}
	if (j_fd != -1)
		close(j_fd);
	j_fd = fd;
	j_size = 0;
	pthread_mutex_lock(&j_lock);
	g->next = j_segs;
	j_segs = g;
	j_active = g;
	pthread_mutex_unlock(&j_lock);
	return 0;
}

/* Journal thread: append BATCH (FIFO), fdatasync once, post completions. */
static void
journal_batch(struct qmsg *batch)
{
	int err = 0;
	unsigned n = 0;

	/* An active segment with nothing live left is replaced first: so a
	 * full disk gets its space back before the next append. */
	pthread_mutex_lock(&j_lock);
	struct segment *dead = NULL;
	if (j_active && j_active->retire && j_active->live == 0) {
		dead = j_active;
		seg_detach(dead);
		j_active = NULL;
	}
	pthread_mutex_unlock(&j_lock);
	if (dead) {
		close(j_fd);
		j_fd = -1;
		seg_unlink(dead->id);
		worker_post(seg_dead, dead);
	}
	if ((j_fd == -1 || j_size >= SEG_MAX) && seg_start() == -1)
		err = errno ? errno : EIO;
	off_t start = j_size;
	struct segment *g = j_active;
	for (struct qmsg *m = batch; m && !err; m = m->rx->ds_next) {
		size_t len = evbuffer_get_length(m->rx->buf);
		char *content = (char *)evbuffer_pullup(m->rx->buf, -1);
		char hdr[FMT_REC_HEAD_MAX];
		size_t hl = spool_fmt_rec_encode(hdr, m->id, len);
		if (hl == 0) {
			/* Never: an id relayd made, a message kept in memory. */
			err = EFBIG;
			break;
		}
		spool_fmt_env_size(content + m->rx->size_at, m->size);
		struct iovec iov[2] = {{hdr, hl}, {content, len}};
		size_t total = hl + len, done = 0;
		while (done < total) {
			ssize_t w = writev(j_fd, iov, 2);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				err = errno;
				break;
			}
			done += (size_t)w;
			/* Advance the iovecs past what was written. */
			for (int i = 0; i < 2 && w > 0; i++) {
				size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
				iov[i].iov_base = (char *)iov[i].iov_base + k;
				iov[i].iov_len -= k;
				w -= (ssize_t)k;
			}
		}
		if (err)
			break;
		m->seg = g;
		m->rec_off = (uint32_t)(j_size + (off_t)hl);
		j_size += (off_t)total;
		n++;
	}
	/* ---- From here on the batch is safe. ---- */
	if (!err && fdatasync(j_fd) == -1)
		err = errno ? errno : EIO;
	if (err) {
		if (j_fd != -1 && ftruncate(j_fd, start) == 0)
			j_size = start;
		for (struct qmsg *m = batch; m; m = m->rx->ds_next) {
			m->rx->error = err;
			m->seg = NULL;
		}
	} else {
		pthread_mutex_lock(&j_lock);
		g->live += n;
		g->retire = false;
		pthread_mutex_unlock(&j_lock);
	}
	while (batch) {
		struct qmsg *next = batch->rx->ds_next;
		worker_post(commit_done, batch);
		batch = next;
	}
}

static void *
journal_main(void *unused)
{
	pthread_mutex_lock(&j_lock);
	for (;;) {
		while (!j_head && !j_stop)
			pthread_cond_wait(&j_cond, &j_lock);
		if (!j_head)
			break;
		struct qmsg *batch = j_head;
		j_head = j_tail = NULL;
		pthread_mutex_unlock(&j_lock);
		journal_batch(batch);
		pthread_mutex_lock(&j_lock);
	}
	pthread_mutex_unlock(&j_lock);
	if (j_fd != -1)
		close(j_fd);
	j_fd = -1;
	return NULL;
}

/* Loop thread: hand M to the journal thread. */
static void
journal_submit(struct qmsg *m)
{
	m->rx->ds_next = NULL;
	pthread_mutex_lock(&j_lock);
	if (j_tail)
		j_tail->rx->ds_next = m;
	else
		j_head = m;
	j_tail = m;
	pthread_cond_signal(&j_cond);
	pthread_mutex_unlock(&j_lock);
}

/* Loop thread: M's record is no longer needed. */
static void
journal_finish(struct qmsg *m)
{
	struct segment *g = m->seg;
	char line[FMT_QID_LEN + 2];

	if (g->donefd == -1) {
		char name[32];
		seg_name(name, sizeof(name), g->id, "done");
		g->donefd = openat(q_logfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	size_t n = spool_fmt_done_encode(line, m->id);
	if (g->donefd != -1 && n > 0) {
		ssize_t w = write(g->donefd, line, n);
		(void)w; /* lost: the message is delivered again, never lost */
	}
	m->seg = NULL;
	pthread_mutex_lock(&j_lock);
	bool gone = false;
	if (--g->live == 0) {
		if (g == j_active) {
			g->retire = true;
		} else {
			seg_detach(g);
			gone = true;
		}
	}
	pthread_mutex_unlock(&j_lock);
	if (gone)
		worker_submit_bg(seg_unlink_work, seg_dead, g);
}

static pthread_mutex_t ds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qmsg *ds_head; /* renamed into queue/, awaiting its fsync */
static bool ds_running;
static unsigned q_committing; /* loop thread: commits not yet answered */

/* Worker thread: write, fsync, rename into queue/; then the directory
 * fsync is shared (group commit): the first worker to get here fsyncs
 * queue/ for every message renamed before it started, again and again
 * while more arrive; the others leave their message to it. A message's
 * completion is posted only once a directory fsync that began after its
 * rename has returned. */
static void
commit_work(void *arg)
{
	struct qmsg *m = arg;
	struct qrecv *rx = m->rx;
	char sizebuf[FMT_SIZE_DIGITS];

	if (rx->error) {
		/* Writing failed while DATA arrived (disk full). */
		errno = rx->error;
		goto fail;
	}
	if (spill(m) == -1)
		goto fail;
	spool_fmt_env_size(sizebuf, m->size);
	if (pwrite(rx->fd, sizebuf, sizeof(sizebuf), (off_t)rx->size_at) !=
	    (ssize_t)sizeof(sizebuf))
		goto fail;
	/* A file from the pool may be longer than this message. */
	if (ftruncate(rx->fd, (off_t)m->body_off + m->body_len) == -1)
		goto fail;
	if (fsync(rx->fd) == -1)
		goto fail;
	close(rx->fd);
	rx->fd = -1;
	if (renameat2(q_tmpfd, rx->tmpname, q_dirfd, m->id, RENAME_NOREPLACE) == -1)
		goto fail;
	rx->tmpname[0] = '\0';
	rx->error = 0;

	pthread_mutex_lock(&ds_lock);
	rx->ds_next = ds_head;
	ds_head = m;
	if (ds_running) {
		pthread_mutex_unlock(&ds_lock);
		return;
	}
	ds_running = true;
	for (;;) {
		struct qmsg *batch = ds_head;
		ds_head = NULL;
		if (!batch) {
			ds_running = false;
			break;
		}
		pthread_mutex_unlock(&ds_lock);
		/* ---- From here on these messages are safe. ---- */
		int rc = fsync(q_dirfd), err = errno;
		while (batch) {
			struct qmsg *next = batch->rx->ds_next;
			if (rc == -1) {
				/* Not known to be durable: refuse, and take it
				 * back so it is not delivered behind a 451. */
				batch->rx->error = err ? err : EIO;
				unlinkat(q_dirfd, batch->id, 0);
			}
			worker_post(commit_done, batch);
			batch = next;
		}
		pthread_mutex_lock(&ds_lock);
	}
	pthread_mutex_unlock(&ds_lock);
	return;
fail:
	rx->error = errno ? errno : EIO;
	if (rx->fd != -1) {
		close(rx->fd);
		rx->fd = -1;
	}
	tmp_drop(m);
	worker_post(commit_done, m);
}

static void
commit_done(void *arg)
{
	struct qmsg *m = arg;
	struct qrecv *rx = m->rx;
	void (*cb)(void *, struct qmsg *, int) = rx->commit_cb;
	void *cb_arg = rx->commit_arg;

	q_committing--;
	if (rx->error) {
		int err = rx->error;
		log_qmgr(LOG_ERR, "%s: cannot queue message: %s", m->id, strerror(err));
		cb(cb_arg, m, err);
		msg_unref(m);
		return;
	}
	/* Committed: the receiving part goes, the schedule takes its place. */
	rx_free(m);
	m->sched.idx = SCHED_NONE;
	m->state = Q_QUEUED;
	list_add(m);
	cb(cb_arg, m, 0);
	queue_schedule(m);
}

/* Make M durable, then CB(ARG, M, 0) — or CB(ARG, M, errno) and M is gone.
 * SIZE is the message size to record. */
void
queue_commit(struct qmsg *m, uint64_t size, void (*cb)(void *, struct qmsg *, int), void *arg)
{
	m->size = size;
	m->rx->commit_cb = cb;
	m->rx->commit_arg = arg;
	m->state = Q_COMMITTING;
	/* Even a known failure is reported from a completion, so the caller
	 * is never called back from inside this function. */
	q_committing++;
	if (m->rx->fd == -1 && !m->rx->error && j_running)
		journal_submit(m);
	else
		worker_submit(commit_work, NULL, m);
}

/* Drop a message that was never committed. */
void
queue_abort(struct qmsg *m)
{
	if (m->rx->fd != -1) {
		close(m->rx->fd);
		m->rx->fd = -1;
	}
	tmp_drop(m);
	msg_unref(m);
}

/* ---- delivery ------------------------------------------------------- */

/* An fd of the message file and where its stored body lies. */
/* An fd of the file holding M and where M's content starts in it. */
static int
msg_open(const struct qmsg *m, off_t *base)
{
	if (m->seg) {
		char name[32];
		seg_name(name, sizeof(name), m->seg->id, "log");
		*base = m->rec_off;
		return openat(q_logfd, name, O_RDONLY | O_CLOEXEC);
	}
	*base = 0;
	return openat(q_dirfd, m->id, O_RDONLY | O_CLOEXEC);
}

int
queue_body(const struct qmsg *m, off_t *off, off_t *len)
{
	off_t base;
	int fd = msg_open(m, &base);
	if (fd == -1)
		return -1;
	*off = base + m->body_off;
	*len = m->body_len;
	return fd;
}

static const char *
state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_PENDING:
		return "deferred";
	case RCPT_SENT:
		return "sent";
	case RCPT_BOUNCED:
		return "bounced";
	case RCPT_EXPIRED:
		return "expired";
	}
	return "?";
}

static void
log_outcome(struct qmsg *m, struct qrcpt *r, const char *transport, const struct dlv *d,
	    const char *status)
{
	time_t now = time(NULL);
	struct classification cl;
	classify(d->code, d->status, d->text, &cl);
	/* Postfix's fields in Postfix's order, relayd's own after the reason:
	 * pflogsumm's pattern allows nothing else between to= and status=. */
	log_smtp(LOG_INFO,
		 "%s: to=<%s>, relay=%s, delay=%lld, dsn=%s, status=%s (%s%s%s%s), transport=%s, "
		 "attempts=%u, tls=%s",
		 m->id, r->addr, d->relay, (long long)(now - m->arrival), d->status, status,
		 d->text, cl.label ? " [" : "", cl.label ? cl.label : "", cl.label ? "]" : "",
		 transport, r->attempts, d->tls);
}

/* After a recipient's final failure (bounced, expired): what the operator
 * can do about it, on a line of its own. The DSN tells the sender in plain
 * words; this is the advice in relayd's terms (transports, DNS, TLS). */
static void
log_advice(const struct qmsg *m, const struct qrcpt *r)
{
	struct classification cl;

	bounce_classify(r, &cl);
	if (cl.admin)
		log_smtp(LOG_INFO, "%s: advice for <%s> [%s]: %s", m->id, r->addr, cl.label,
			 cl.admin);
}

/* Record the outcome D of recipient IDX's attempt over TRANSPORT. */
void
queue_result(struct qmsg *m, size_t idx, const char *transport, const struct dlv *d)
{
	struct qrcpt *r = &m->rcpt[idx];
	const struct conf *c = relayd_conf;
	time_t now = time(NULL);

	r->inflight = false;
	/* Deferred unseen (the destination is known to be down): no attempt. */
	if (!d->no_attempt)
		r->attempts++;
	/* Listed as waiting for this transport's destination already? */
	bool listed = r->waiting && r->transport && strcmp(r->transport, transport) == 0;
	intern_drop(r->transport);
	r->transport = intern(transport);
	intern_drop(r->relay);
	r->relay = strcmp(d->relay, "none") == 0 ? NULL : intern(d->relay);
	r->code = (unsigned)d->code & 1023u;
	r->cmd = (unsigned)d->cmd & 15u;
	set_status(r, d->status);
	if (d->kind != DLV_OK) {
		intern_drop(r->last_reply);
		r->last_reply = intern(d->text);
	}
	const struct conf_transport *t = conf_transport_find(c, transport);
	struct dlv rd;
	if (d->kind == DLV_REROUTE && !(t && t->fallback)) {
		/* The fallback went away in a reload: wait and try again. */
		rd = *d;
		rd.kind = DLV_TEMPFAIL;
		d = &rd;
	}
	if (d->kind != DLV_TEMPFAIL)
		m->state_sync = true; /* something final: see state_save() */
	switch (d->kind) {
	case DLV_OK:
		r->state = RCPT_SENT;
		break;
	case DLV_REROUTE: {
		/* Once, and at once: the fallback gets it on the next run. */
		intern_drop(r->detour);
		r->detour = intern(t->fallback->name);
		r->state = RCPT_PENDING;
		r->next_attempt = now;
		r->waiting = 0;
		rd = *d;
		int n = snprintf(rd.text, sizeof(rd.text), "to transport %.64s: ", r->detour);
		if (n > 0 && (size_t)n < sizeof(rd.text))
			memcpy(rd.text + n, d->text,
			       strnlen(d->text, sizeof(rd.text) - (size_t)n - 1) + 1);
		rd.text[sizeof(rd.text) - 1] = '\0';
		stats_count(STAT_REROUTED, transport, 1);
		log_outcome(m, r, transport, &rd, "rerouted");
		return;
	}
	case DLV_PERMFAIL:
		r->state = RCPT_BOUNCED;
		r->notify = true;
		break;
	case DLV_TEMPFAIL:
		r->state = RCPT_PENDING;
		/* Not tried (no_attempt): the interval of its last attempt again,
		 * not a longer one; released anyway once the destination works. */
		r->next_attempt = sched_retry_at(&c->queue, r->attempts ? r->attempts : 1, now);
		/* Never wait past the lifetime: the expiry happens on time. */
		if (r->next_attempt > m->arrival + (time_t)c->queue.max_lifetime)
			r->next_attempt = m->arrival + (time_t)c->queue.max_lifetime;
		break;
	}
	wait_note(m, r, listed, d->waits);
	if (r->attempts > 1 && d->kind != DLV_REROUTE)
		pace_outcome(r->state != RCPT_PENDING); /* a retry: did it go? */
	stats_count(r->state == RCPT_SENT      ? STAT_SENT
		    : r->state == RCPT_BOUNCED ? STAT_BOUNCED
					       : STAT_DEFERRED,
		    transport, 1);
	log_outcome(m, r, transport, d, state_name(r->state));
	if (r->state == RCPT_BOUNCED)
		log_advice(m, r);
}

static bool
msg_finished(const struct qmsg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			return false;
	return true;
}

/* Worker: remove a finished message's files. The message file goes first:
 * a crash in between leaves an orphan state file, removed at start. */
static void
remove_work(void *arg)
{
	struct qmsg *m = arg;
	unsigned slot;
	char name[32];

	if (m->rec_off) {
		/* A journal record: only the state file is a file of its own. */
		unlinkat(q_statefd, m->id, 0);
		return;
	}
	/* Keep small files for reuse: renaming costs less than the inode
	 * allocation a new file needs (bench/README.md). */
	if (!m->pinned && m->body_off + m->body_len <= POOL_FILE_MAX && pool_reserve(&slot)) {
		snprintf(name, sizeof(name), "pool.%u", slot);
		if (renameat(q_dirfd, m->id, q_tmpfd, name) == 0)
			pool_give(slot);
		else
			unlinkat(q_dirfd, m->id, 0);
	} else {
		unlinkat(q_dirfd, m->id, 0);
	}
	if (m->has_state)
		unlinkat(q_statefd, m->id, 0);
}

static void
remove_done(void *arg)
{
	msg_unref(arg);
}

static void
msg_finish(struct qmsg *m)
{
	m->state = Q_DONE;
	sched_cancel(m->fresh ? &q_fresh : &q_sched, &m->sched);
	list_del(m);
	if (m->seg) {
		journal_finish(m);
		if (m->has_state) {
			worker_submit_bg(remove_work, remove_done, m);
			return;
		}
		msg_unref(m);
		return;
	}
	worker_submit_bg(remove_work, remove_done, m);
}

struct state_job {
	struct qmsg *m;
	struct fmt_buf buf;
	bool sync;   /* fsync: it records something final */
	bool exists; /* state/QID is there to overwrite */
	int error;
};

/* Worker: a deferral alone (no fsync wanted) overwrites the existing file
 * in place: no new inode, no rename (at 100,000 deferred messages those
 * took most of the state writes' time). A crash in the middle can leave
 * a mix of the two versions, which load_state() reads line by line: a line
 * it cannot read is ignored (that recipient starts over), a whole file it
 * cannot read means every recipient pending; a duplicate at worst. */
static bool
state_overwrite(struct state_job *j)
{
	int fd = openat(q_statefd, j->m->id, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	bool ok = pwrite(fd, j->buf.p, j->buf.len, 0) == (ssize_t)j->buf.len &&
		  ftruncate(fd, (off_t)j->buf.len) == 0;
	close(fd);
	return ok;
}

static void
state_work(void *arg)
{
	struct state_job *j = arg;
	char tmp[QID_MAX + 8];
	if (!j->sync && j->exists && state_overwrite(j))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->m->id);
	int fd = openat(q_statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		j->error = errno;
		return;
	}
	for (size_t done = 0; done < j->buf.len;) {
		ssize_t w = write(fd, j->buf.p + done, j->buf.len - done);
		if (w == -1 && errno != EINTR) {
			j->error = errno;
			break;
		}
		if (w > 0)
			done += (size_t)w;
	}
	if (!j->error && j->sync && fsync(fd) == -1)
		j->error = errno;
	close(fd);
	if (!j->error && renameat(q_statefd, tmp, q_statefd, j->m->id) == -1)
		j->error = errno;
	if (j->error)
		unlinkat(q_statefd, tmp, 0);
}

static void state_save(struct qmsg *m);

static void
state_done(void *arg)
{
	struct state_job *j = arg;
	struct qmsg *m = j->m;

	if (j->error)
		log_qmgr(LOG_WARNING, "%s: cannot save recipient state: %s", m->id,
			 strerror(j->error));
	spool_fmt_buf_free(&j->buf);
	free(j);
	m->state_writing = false;
	if (m->state_dirty && m->state == Q_QUEUED)
		state_save(m);
	msg_unref(m);
}

/* Write the recipients' states; one write at a time per message, the last
 * state wins. The file is fsync'd only when it records something final
 * (a recipient sent, bounced or expired, a detour, the delay warning sent,
 * a hold): a deferral alone (attempts, next attempt, last reply) is written
 * without, as Postfix's qmgr does. A crash may then lose the last deferral,
 * which costs an earlier retry, never a message: load_state() ignores a
 * state file it cannot read (every recipient pending). At 100,000 deferred
 * messages that is 100,000 fsyncs per retry cycle less. */
static void
state_save(struct qmsg *m)
{
	if (m->state_writing) {
		m->state_dirty = true;
		return;
	}
	m->state_dirty = false;
	struct state_job *j = calloc(1, sizeof(*j));
	if (!j)
		fatal("out of memory");
	j->m = m;
	j->sync = m->state_sync;
	j->exists = m->has_state;
	m->state_sync = false;
	const char *why;
	struct fmt_rcpt fr;
	if (spool_fmt_state_begin(&j->buf, m->warned, m->held, &why) == -1)
		fatal("out of memory");
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];
		fr.idx = i;
		fr.state = (int)r->state;
		fr.attempts = r->attempts;
		fr.next = (int64_t)r->next_attempt;
		fr.code = r->code;
		fr.cmd = r->cmd;
		snprintf(fr.status, sizeof(fr.status), "%s", r->status);
		snprintf(fr.transport, sizeof(fr.transport), "%s",
			 r->transport ? r->transport : "");
		snprintf(fr.relay, sizeof(fr.relay), "%s", r->relay ? r->relay : "");
		snprintf(fr.detour, sizeof(fr.detour), "%s", r->detour ? r->detour : "");
		snprintf(fr.reply, sizeof(fr.reply), "%s", r->last_reply ? r->last_reply : "");
		/* Left out, it restarts from its first attempt after a restart. */
		if (spool_fmt_state_rcpt(&j->buf, &fr, &why) == -1) {
			if (why == spool_fmt_nomem)
				fatal("out of memory");
			log_qmgr(LOG_WARNING, "%s: recipient %zu left out of the state file: %s",
				 m->id, i, why);
		}
	}
	m->state_writing = true;
	m->has_state = true;
	m->refs++;
	worker_submit_bg(state_work, state_done, j);
}

/* ---- notifications (DSN) ---------------------------------------------- */

/* The original header section, unstuffed, for the DSN's third part. */
static char *
read_headers(const struct qmsg *m, size_t *len)
{
	enum { MAX = 64 * 1024 };
	*len = 0;
	off_t base;
	int fd = msg_open(m, &base);
	if (fd == -1)
		return NULL;
	char *raw = malloc(MAX);
	size_t want = (off_t)MAX < m->body_len ? (size_t)MAX : (size_t)m->body_len;
	ssize_t n = raw ? pread(fd, raw, want, base + m->body_off) : -1;
	close(fd);
	char *out = n > 0 ? bounce_headers(raw, (size_t)n, len) : NULL;
	free(raw);
	return out;
}

struct dsn_done {
	char qid[QID_MAX];
	bool delay;
};

static void
dsn_committed(void *arg, struct qmsg *m, int err)
{
	struct dsn_done *dd = arg;
	const char *what = dd->delay ? "delay" : "non-delivery";
	if (err)
		log_qmgr(LOG_ERR, "%s: sender %s notification not queued: %s", dd->qid, what,
			 strerror(err));
	else
		log_qmgr(LOG_INFO, "%s: sender %s notification: %s", dd->qid, what, m->id);
	if (!err) {
		log_qmgr(LOG_INFO, "%s: from=<>, size=%llu, nrcpt=1, client=local (queued)", m->id,
			 (unsigned long long)m->size);
		stats_count(STAT_RECEIVED, NULL, 1);
	}
	free(dd);
}

/* Queue a DSN to M's sender about recipients IDX[0..N-1] (a delay warning
 * when DELAY). Mail from <> is never bounced: that is what stops loops. */
static void
notify(struct qmsg *m, const size_t *idx, size_t n, bool delay)
{
	const struct conf *c = relayd_conf;
	static unsigned long unique;

	if (n == 0)
		return;
	if (m->sender[0] == '\0') {
		log_qmgr(LOG_INFO, "%s: no %s notification: the sender is <>", m->id,
			 delay ? "delay" : "non-delivery");
		return;
	}
	size_t hlen = 0, len = 0;
	char *headers = read_headers(m, &hlen);
	char *text = bounce_text(m, idx, n, delay, headers, hlen, c, time(NULL), ++unique, &len);
	free(headers);
	if (!text) {
		log_qmgr(LOG_ERR, "%s: cannot build the %s notification", m->id,
			 delay ? "delay" : "non-delivery");
		return;
	}
	const char *to[1] = {m->sender};
	struct qenv env = {
		.sender = "",
		.rcpt = to,
		.nrcpt = 1,
		.client = "local",
		.body = BODY_8BITMIME,
		.smtputf8 = m->smtputf8,
	};
	struct qmsg *dsn = queue_create(&env);
	data_stuff(text, len, queue_write_cb, dsn);
	free(text);
	struct dsn_done *dd = calloc(1, sizeof(*dd));
	if (!dd)
		fatal("out of memory");
	snprintf(dd->qid, sizeof(dd->qid), "%s", m->id);
	dd->delay = delay;
	queue_commit(dsn, (uint64_t)dsn->body_len, dsn_committed, dd);
}

/* A DSN for every recipient that failed since the last one. */
static void
notify_failures(struct qmsg *m)
{
	size_t *idx = calloc(m->nrcpt, sizeof(*idx)), n = 0;
	if (!idx)
		fatal("out of memory");
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].notify) {
			m->rcpt[i].notify = false;
			idx[n++] = i;
		}
	notify(m, idx, n, false);
	free(idx);
}

/* The one delay warning, for the recipients still waiting. */
static void
notify_delay(struct qmsg *m)
{
	size_t *idx = calloc(m->nrcpt, sizeof(*idx)), n = 0;
	if (!idx)
		fatal("out of memory");
	m->warned = true;
	m->state_sync = true;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			idx[n++] = i;
	notify(m, idx, n, true);
	free(idx);
}

/* A delivery job over M finished. */
void
queue_job_done(struct qmsg *m)
{
	m->jobs--;
	if (m->jobs == 0 && m->retrying) {
		m->retrying = 0;
		q_retry_inflight--;
		if (q_retry_inflight == RETRY_INFLIGHT_MAX - 1)
			queue_rearm(); /* room again */
	}
	if (m->jobs == 0 && m->state == Q_QUEUED) {
		notify_failures(m);
		if (!msg_finished(m) &&
		    sched_warn_due(&relayd_conf->queue, m->arrival, m->warned, time(NULL)))
			notify_delay(m);
		if (msg_finished(m)) {
			msg_finish(m);
		} else {
			state_save(m);
			queue_schedule(m);
		}
	}
	msg_unref(m);
}

/* Put M in the heap at its earliest waiting recipient's time. */
static void
queue_schedule(struct qmsg *m)
{
	time_t when = 0;
	bool any = false;

	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || r->inflight)
			continue;
		if (!any || r->next_attempt < when)
			when = r->next_attempt;
		any = true;
	}
	sched_cancel(m->fresh ? &q_fresh : &q_sched, &m->sched);
	if (!any || m->held)
		return; /* a held message waits for relayctl release */
	/* Wake up for the delay warning even between attempts. */
	const struct conf_queue *qc = &relayd_conf->queue;
	if (qc->delay_warning > 0 && !m->warned) {
		time_t warn_at = m->arrival + (time_t)qc->delay_warning;
		if (warn_at < when)
			when = warn_at;
	}
	/* New mail (no recipient tried yet) goes before every retry. */
	m->fresh = true;
	for (size_t i = 0; i < m->nrcpt && m->fresh; i++)
		if (m->rcpt[i].attempts > 0)
			m->fresh = false;
	if (sched_set(m->fresh ? &q_fresh : &q_sched, &m->sched, when) == -1)
		fatal("out of memory");
	queue_rearm();
}

static void
expire(struct qmsg *m, size_t i)
{
	struct qrcpt *r = &m->rcpt[i];
	struct dlv_event ev = {.what = DLV_W_EXPIRED, .reason = r->last_reply};
	struct dlv_verdict v;

	dlv_decide(&ev, &v);
	r->state = RCPT_EXPIRED;
	m->state_sync = true;
	r->notify = true;
	snprintf(r->status, sizeof(r->status), "4.4.7");
	stats_count(STAT_EXPIRED, r->transport, 1);
	log_outcome(m, r, r->transport ? r->transport : "none", &v.d, "expired");
	log_advice(m, r);
}

/* A lookup of a domain's MX hosts that recipients wait for, to know
 * whether an mx: route applies. It counts as a job of the message. */
struct mxwait {
	struct qmsg *m;
	char domain[256];
	size_t *idx;
	size_t n;
	struct mxwait *next;
};

static void
mx_ready(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct mxwait *w = arg;
	struct qmsg *m = w->m;
	time_t now = time(NULL);

	for (size_t i = 0; i < w->n; i++) {
		struct qrcpt *r = &m->rcpt[w->idx[i]];
		if (st == DNS_TEMPFAIL) {
			/* Which route applies depends on the MX hosts. */
			struct dlv_event ev = {.what = DLV_W_MX, .host = w->domain, .dns = st};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			queue_result(m, w->idx[i], "none", &v.d);
		} else {
			/* The answer is cached now: route on the next run. */
			r->inflight = false;
			r->next_attempt = now;
		}
	}
	free(w->idx);
	free(w);
	queue_job_done(m);
}

/* The route of R's domain; NULL with *WAIT set when the domain's MX hosts
 * must be looked up first. */
static const struct conf_route *
route_of(const struct conf *c, const char *domain, bool *wait)
{
	*wait = false;
	if (!route_needs_mx(c, domain))
		return route_lookup(c, domain, NULL, 0);
	enum dns_status st;
	struct dns_mx mx[32];
	size_t n;
	if (!dns_mx_cached(domain, &st, mx, &n)) {
		*wait = true;
		return NULL;
	}
	const char *hosts[32];
	size_t k = 0;
	for (size_t i = 0; st == DNS_OK && i < n && k < 32; i++)
		hosts[k++] = mx[i].host;
	return route_lookup(c, domain, hosts, k);
}

/* Hand M's due recipients to mta.c, one job per destination. */
static int
job_body(void *owner, off_t *off, off_t *len)
{
	return queue_body(owner, off, len);
}

static void
job_result(void *owner, size_t idx, const char *transport, const struct dlv *d)
{
	queue_result(owner, idx, transport, d);
}

static void
job_done(void *owner)
{
	queue_job_done(owner);
}

/* How mta.c reports on the jobs of a message (job.h). */
static const struct job_ops queue_job_ops = {
	.body = job_body,
	.result = job_result,
	.done = job_done,
};

static void
dispatch(struct qmsg *m, time_t now, bool retry)
{
	const struct conf *c = relayd_conf;
	struct job *jobs = NULL;
	struct mxwait *waits = NULL;
	bool changed = false;

	if (m->held)
		return; /* never in the heap; queue_hold() releases it */

	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || r->inflight || r->next_attempt > now)
			continue;
		if (r->attempts > 0 && sched_expired(&c->queue, m->arrival, now)) {
			expire(m, i);
			changed = true;
			continue;
		}
		const char *domain = cmd_domain(r->addr);
		bool wait;
		const struct conf_route *rt = route_of(c, domain, &wait);
		if (wait) {
			struct mxwait *w;
			for (w = waits; w; w = w->next)
				if (strcasecmp(w->domain, domain) == 0)
					break;
			if (!w) {
				if (!(w = calloc(1, sizeof(*w))) ||
				    !(w->idx = calloc(m->nrcpt, sizeof(*w->idx))))
					fatal("out of memory");
				w->m = m;
				snprintf(w->domain, sizeof(w->domain), "%s", domain);
				w->next = waits;
				waits = w;
			}
			w->idx[w->n++] = i;
			r->inflight = true;
			continue;
		}
		if (!rt) {
			struct dlv_event ev = {.what = DLV_W_NO_ROUTE};
			struct dlv_verdict v;
			dlv_decide(&ev, &v);
			r->inflight = true;
			queue_result(m, i, "none", &v.d);
			changed = true;
			continue;
		}
		const struct conf_transport *t = rt->transport;
		bool detoured = false;
		if (r->detour) {
			/* Re-routed after a reputation block: stays there. */
			const struct conf_transport *ft = conf_transport_find(c, r->detour);
			if (ft) {
				t = ft;
				detoured = true;
			}
		} else if (t->fallback && mta_detour_active(t, domain, NULL)) {
			/* The destination is on hold: straight to the fallback. */
			t = t->fallback;
			detoured = true;
		}
		bool mx = t->nrelay == 0;
		struct job *j;
		for (j = jobs; j; j = j->next)
			if (j->transport == t && j->detoured == detoured &&
			    (!mx || strcasecmp(j->domain, domain) == 0))
				break;
		if (!j) {
			j = job_new(m->nrcpt, mx ? domain : NULL);
			j->ops = &queue_job_ops;
			j->owner = m;
			j->sender = m->sender;
			j->size = m->size;
			j->body = m->body;
			j->smtputf8 = m->smtputf8;
			j->transport = t;
			j->detoured = detoured;
			j->next = jobs;
			jobs = j;
		}
		job_add(j, r->addr, i);
		r->inflight = true;
	}
	if (retry && !m->retrying && (jobs || waits)) {
		m->retrying = 1;
		q_retry_inflight++;
	}
	while (waits) {
		struct mxwait *w = waits;
		waits = w->next;
		m->jobs++;
		m->refs++;
		dns_mx(w->domain, mx_ready, w);
	}
	while (jobs) {
		struct job *j = jobs;
		jobs = j->next;
		j->next = NULL;
		m->jobs++;
		m->refs++;
		mta_submit(j);
	}
	if (m->jobs == 0 && m->state == Q_QUEUED) {
		notify_failures(m);
		if (!msg_finished(m) && sched_warn_due(&c->queue, m->arrival, m->warned, now)) {
			notify_delay(m);
			changed = true;
		}
		if (msg_finished(m)) {
			msg_finish(m);
			return;
		}
		if (changed)
			state_save(m);
	}
	if (m->state == Q_QUEUED)
		queue_schedule(m);
}

/* Monotonic seconds (mta.c has its own: neither includes the other). */
static double
mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Count a new message dispatched at MONO. */
static void
pace_fresh(double mono)
{
	if (mono - q_fresh_sec >= 1.0) {
		double secs = mono - q_fresh_sec;
		double rate = secs < 2.0 ? (double)q_fresh_count / secs : 0;
		q_fresh_rate = q_fresh_rate * 0.5 + rate * 0.5;
		q_fresh_sec = mono;
		q_fresh_count = 0;
	}
	q_fresh_count++;
	q_fresh_last = mono;
}

/* An outcome of a retried recipient: OK false when it was deferred. */
static void
pace_outcome(bool ok)
{
	double mono = mono_now();
	if (mono - q_outcome_at >= 0.5) {
		/* About half in 2 s; nothing left after 16 s. */
		double f = mono - q_outcome_at > 16 ? 0 : 1 / (1 + (mono - q_outcome_at) / 2);
		q_retry_ok *= f;
		q_retry_fail *= f;
		q_outcome_at = mono;
	}
	if (ok)
		q_retry_ok += 1;
	else
		q_retry_fail += 1;
}

/* Retries per second now, or 0: not paced. */
static double
pace_rate(double mono)
{
	if (mono - q_fresh_last > PACE_BUSY)
		return 0; /* no new mail: nothing to make room for */
	if (mono - q_outcome_at > 16 || q_retry_fail < 20 || q_retry_fail < 4 * q_retry_ok)
		return 0; /* retries deliver (a destination is back) */
	double rate = q_fresh_rate / PACE_SHARE;
	return rate > PACE_MIN ? rate : PACE_MIN;
}

/* May one more retried message go to mta.c at MONO (RATE a second)? */
static bool
pace_take(double mono, double rate)
{
	q_pace_tokens += (mono - q_pace_at) * rate;
	q_pace_at = mono;
	if (q_pace_tokens > rate)
		q_pace_tokens = rate; /* at most a second's worth at once */
	if (q_pace_tokens >= 1) {
		q_pace_tokens -= 1;
		return true;
	}
	q_pace_next = mono + (1 - q_pace_tokens) / rate;
	return false;
}

/* Run due messages: all due new mail, then retries for at most
 * QUEUE_RUN_BUDGET_US of this turn of the loop (and as the pace allows);
 * when retries are left, the loop serves sessions and connections before
 * the next turn, so a backlog made due at once never stalls the loop. */
static void
queue_run(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	struct sched_entry *e;
	struct timespec t0, t;

	if (q_stopping)
		return;
	double mono = mono_now();
	while ((e = sched_pop_due(&q_fresh, now)) != NULL) {
		pace_fresh(mono);
		dispatch(msg_of(e), now, false);
	}
	double rate = pace_rate(mono);
	q_pace_next = 0;
	if (!rate)
		q_pace_tokens = 0, q_pace_at = mono;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned n = 1; (e = sched_peek(&q_sched)) != NULL && e->when <= now; n++) {
		if (q_retry_inflight >= RETRY_INFLIGHT_MAX)
			return; /* queue_job_done() rearms */
		if (rate && !pace_take(mono, rate))
			break; /* queue_rearm() waits until q_pace_next */
		sched_pop_due(&q_sched, now);
		dispatch(msg_of(e), now, true);
		if (n % 16 != 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 >=
		    QUEUE_RUN_BUDGET_US) {
			struct timeval zero = {0, 0};
			evtimer_add(q_timer, &zero); /* the rest on the next turn */
			return;
		}
	}
	queue_rearm();
}

static long long
tv_usec(const struct timeval *t)
{
	return (long long)t->tv_sec * 1000000 + t->tv_usec;
}

/* Arm the timer for the earliest scheduled message. */
static void
queue_rearm(void)
{
	struct sched_entry *e = sched_peek(&q_sched), *f = sched_peek(&q_fresh);
	if (q_retry_inflight >= RETRY_INFLIGHT_MAX)
		e = NULL; /* queue_job_done() rearms when there is room */
	if (q_stopping || (!e && !f))
		return;
	time_t now = time(NULL);
	/* Microseconds from now: new mail when due, retries when due and
	 * the pace allows. */
	long long delay = -1;
	if (f)
		delay = f->when > now ? (long long)(f->when - now) * 1000000 : 0;
	if (e) {
		long long d = e->when > now ? (long long)(e->when - now) * 1000000 : 0;
		double wait = q_pace_next - mono_now();
		if (wait > 0 && d < (long long)(wait * 1e6))
			d = (long long)(wait * 1e6) + 1;
		if (delay < 0 || d < delay)
			delay = d;
	}
	struct timeval tv = {(time_t)(delay / 1000000), (suseconds_t)(delay % 1000000)};
	/* A pending timer that fires earlier is fine: queue_run re-arms. */
	struct timeval left, cur;
	if (evtimer_pending(q_timer, &left)) {
		event_base_gettimeofday_cached(q_base, &cur);
		long long until = tv_usec(&left) - tv_usec(&cur); /* till it fires */
		if (until > 0 && tv_usec(&tv) >= until)
			return;
	}
	evtimer_add(q_timer, &tv);
}

/* A flush of the whole queue walks it in slices, like a listing: a
 * million messages made due in one go held the loop for 750 ms. */
#define FLUSH_SLICE 4096

static struct {
	uint64_t after; /* the walk is past this id */
	uint64_t end;	/* messages from this id on came after the flush */
	time_t at;
	struct event *ev;
} q_fl;

static void
flush_one(struct qmsg *m, time_t now, bool one)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];
		if (r->state != RCPT_PENDING || r->inflight)
			continue;
		if (one && r->transport)
			mta_flush(r->transport, cmd_domain(r->addr));
		r->next_attempt = now;
	}
	queue_schedule(m);
}

static void
flush_slice(evutil_socket_t fd, short what, void *arg)
{
	struct qmsg *m = qindex_after(&q_byid, q_fl.after);
	for (unsigned n = 0; m && n < FLUSH_SLICE; n++) {
		uint64_t k = id_key(m->id);
		if (k >= q_fl.end) {
			m = NULL; /* newer than the flush: due as it is */
			break;
		}
		q_fl.after = k;
		flush_one(m, q_fl.at, false);
		m = qindex_after(&q_byid, k);
	}
	if (m && !q_stopping) {
		struct timeval zero = {0, 0};
		evtimer_add(q_fl.ev, &zero);
	}
}

/* Retry deferred recipients now: all, or those of QID. The operator says
 * their destinations are back: their down pauses end first, so the retry
 * is an attempt, not a deferral unseen. All: the first FLUSH_SLICE
 * messages at once, the rest on the next turns of the loop. */
int
queue_flush(const char *qid)
{
	time_t now = time(NULL);
	struct qmsg *one = qid ? msg_find(qid) : NULL;

	if (qid && !one)
		return -1;
	if (one) {
		flush_one(one, now, true);
		return 0;
	}
	mta_flush(NULL, NULL);
	if (!q_fl.ev && !(q_fl.ev = evtimer_new(q_base, flush_slice, NULL)))
		fatal("out of memory");
	char id[QID_MAX];
	queue_newid(id);
	q_fl.after = 0; /* from the start again, also when one is under way */
	q_fl.end = id_key(id);
	q_fl.at = now;
	flush_slice(-1, 0, NULL);
	return 0;
}

/* Deferred recipients of TRANSPORT (and DOMAIN) that waited for the
 * destination are due now: it works again. Recipients deferred for their
 * own reasons (greylisting, a full mailbox) keep their retry time. Costs
 * the messages listed as waiting for it (waitq.h), never a walk. */
void
queue_release(const char *transport, const char *domain)
{
	time_t now = time(NULL);
	size_t n = 0, nids;
	uint64_t *ids = waitq_take(transport, domain, &nids);

	for (size_t k = 0; k < nids; k++) {
		struct qmsg *m = qindex_find(&q_byid, ids[k]);
		bool any = false;
		if (!m || m->held)
			continue; /* gone; or released by relayctl release, due then */
		for (size_t i = 0; i < m->nrcpt; i++) {
			struct qrcpt *r = &m->rcpt[i];
			if (!r->waiting || r->state != RCPT_PENDING || r->inflight ||
			    !r->transport || strcmp(r->transport, transport) != 0 ||
			    (domain && strcasecmp(cmd_domain(r->addr), domain) != 0))
				continue;
			r->waiting = 0;
			if (r->next_attempt <= now)
				continue; /* due anyway */
			r->next_attempt = now;
			any = true;
			n++;
		}
		if (any)
			queue_schedule(m);
	}
	free(ids);
	if (n)
		log_qmgr(LOG_INFO,
			 "%s: destination %s works again: %zu deferred recipient%s released",
			 transport, domain ? domain : "(relay)", n, n == 1 ? "" : "s");
}

/* Remove QID from the queue without a bounce; -1 when there is none. A
 * delivery in flight finishes, but its outcome no longer matters. */
int
queue_delete(const char *qid)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			m->rcpt[i].state = RCPT_BOUNCED; /* no DSN: just done */
	log_qmgr(LOG_INFO, "%s: removed by the administrator", m->id);
	msg_finish(m);
	return 0;
}

/* Remove every queued message without a bounce. */
size_t
queue_delete_all(void)
{
	size_t n = 0;
	struct qmsg *m, *next;

	for (m = msg_first(); m; m = next) {
		next = msg_next(m);
		queue_delete(m->id);
		n++;
	}
	return n;
}

/* Hold or release M; true if that changed it. */
static bool
msg_hold(struct qmsg *m, bool hold)
{
	if (m->held == hold)
		return false;
	m->held = hold;
	m->state_sync = true;
	if (!hold) {
		/* Released: due at once (the retry clock ran meanwhile). */
		time_t now = time(NULL);
		for (size_t i = 0; i < m->nrcpt; i++)
			if (m->rcpt[i].state == RCPT_PENDING && !m->rcpt[i].inflight)
				m->rcpt[i].next_attempt = now;
	}
	log_info("%s: %s", m->id, hold ? "placed on hold" : "released from hold");
	/* The state file says so: a hold survives a restart. */
	state_save(m);
	queue_schedule(m);
	return true;
}

/* Hold or release QID: 1 changed, 0 already so, -1 not queued. */
int
queue_hold(const char *qid, bool hold)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	return msg_hold(m, hold) ? 1 : 0;
}

/* Does M have a pending recipient in DOMAIN. */
static bool
msg_has_domain(const struct qmsg *m, const char *domain)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING &&
		    strcasecmp(cmd_domain(m->rcpt[i].addr), domain) == 0)
			return true;
	return false;
}

/* Hold or release every message, or those with a recipient in DOMAIN. */
size_t
queue_hold_all(const char *domain, bool hold)
{
	size_t n = 0;

	for (struct qmsg *m = msg_first(); m; m = msg_next(m))
		if ((!domain || msg_has_domain(m, domain)) && msg_hold(m, hold))
			n++;
	return n;
}

/* An fd on QID's stored body for a reader that may outlive its stay in
 * the queue: the file is pinned (never given to the pool for reuse), so
 * once unlinked it still reads this message. */
int
queue_body_open(const char *qid, off_t *off, off_t *len)
{
	struct qmsg *m = msg_find(qid);
	if (!m)
		return -1;
	m->pinned = true;
	return queue_body(m, off, len);
}

/* Call CB for every queued message, oldest first. */
void
queue_foreach(void (*cb)(void *arg, const struct qmsg *m), void *arg)
{
	for (struct qmsg *m = msg_first(); m; m = msg_next(m))
		cb(arg, m);
}

/* The queued message with the smallest id above AFTER (NULL or "": the
 * first), or NULL: a cursor that survives the message at it leaving. */
const struct qmsg *
queue_next(const char *after)
{
	if (!after || !after[0])
		return msg_first();
	/* Gone since or not: the first one above it (a binary search). */
	uint64_t k = id_key(after);
	return k ? qindex_after(&q_byid, k) : NULL;
}

/* The queued message QID, or NULL. */
const struct qmsg *
queue_find(const char *qid)
{
	return msg_find(qid);
}

/* No commit waiting for its completion. */
bool
queue_idle(void)
{
	return q_committing == 0;
}

/* Messages in the queue. */
size_t
queue_count(void)
{
	return qindex_count(&q_byid);
}

/* ---- recovery ------------------------------------------------------- */

static void
move_aside(int dirfd, const char *name, const char *why)
{
	int cfd = openat(dirfd, "../corrupt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd != -1) {
		if (renameat(dirfd, name, cfd, name) == 0) {
			log_qmgr(LOG_WARNING, "%s: corrupt queue file moved to corrupt/: %s", name,
				 why);
			close(cfd);
			return;
		}
		close(cfd);
	}
	log_qmgr(LOG_ERR, "%s: corrupt queue file (%s) and it cannot be moved aside: %s", name, why,
		 strerror(errno));
}

/* Read the whole header (up to the blank line) of an open message file. */
static char *
read_header(int fd, off_t fsize, size_t *hlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		fatal("out of memory");
	for (;;) {
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if ((*hlen = spool_fmt_env_end(buf, len)) != 0)
			return buf;
		if ((off_t)len >= fsize)
			break;
		if (len == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				fatal("out of memory");
			buf = nb;
		}
	}
	free(buf);
	return NULL;
}

/* Decode the envelope header at the start of BUF (LEN bytes) into a new
 * message, *HLEN the header's length; NULL with *WHY. */
static struct qmsg *
msg_decode(const char *buf, size_t len, size_t *hlen, const char **why)
{
	struct fmt_env e;

	if (spool_fmt_env_decode(buf, len, &e, hlen, why) == -1) {
		if (*why == spool_fmt_nomem)
			fatal("out of memory");
		return NULL;
	}
	struct qmsg *m = msg_new((const char *const *)e.rcpt, e.nrcpt, false);
	snprintf(m->id, sizeof(m->id), "%s", e.id);
	m->arrival = (time_t)e.arrival;
	m->size = e.size;
	m->client = intern(e.client ? e.client : "");
	m->body = (unsigned)e.body & 3u;
	m->smtputf8 = e.smtputf8;
	m->sender = intern(e.sender ? e.sender : "");
	for (size_t i = 0; i < m->nrcpt; i++)
		m->rcpt[i].next_attempt = m->arrival;
	m->body_off = (uint32_t)*hlen;
	spool_fmt_env_free(&e);
	return m;
}

static int
load_message(const char *name, struct qmsg **out, const char **why)
{
	int fd = openat(q_dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t hlen = 0;
	char *hdr = NULL;
	struct qmsg *m = NULL;

	*why = "unreadable";
	if (fd == -1 || fstat(fd, &st) == -1)
		goto bad;
	*why = "truncated header";
	if (!(hdr = read_header(fd, st.st_size, &hlen)))
		goto bad;
	if (!(m = msg_decode(hdr, hlen, &hlen, why)))
		goto bad;
	*why = "bad header";
	if (strcmp(m->id, name) != 0)
		goto bad;
	m->body_len = st.st_size - (off_t)hlen;
	*why = "truncated body";
	char tail[5];
	if (m->body_len < 5 || pread(fd, tail, 5, st.st_size - 5) != 5 ||
	    memcmp(tail, "\r\n.\r\n", 5) != 0)
		goto bad;
	free(hdr);
	close(fd);
	*out = m;
	return 0;
bad:
	if (m)
		msg_free(m);
	free(hdr);
	if (fd != -1)
		close(fd);
	return -1;
}

/* The whole of the open file FD (*LEN bytes, NUL-terminated); NULL when
 * it cannot be read. */
static char *
read_all(int fd, size_t *len)
{
	struct stat st;
	size_t cap = 4096, n = 0;

	if (fstat(fd, &st) == 0 && st.st_size > 0)
		cap = (size_t)st.st_size + 1;
	char *buf = malloc(cap + 1);
	if (!buf)
		fatal("out of memory");
	for (;;) {
		if (n == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				fatal("out of memory");
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Apply state/QID to M, when there is one. A bad state file is ignored,
 * a bad line of it too: the recipients concerned are then retried from
 * their initial state (duplicates, never loss). */
static void
load_state(struct qmsg *m)
{
	int fd = openat(q_statefd, m->id, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	m->has_state = true;
	size_t len = 0;
	char *buf = read_all(fd, &len);
	close(fd);
	if (!buf)
		return;
	struct fmt_state_rd rd;
	struct fmt_rcpt fr;
	const char *why;
	bool flag;
	int rc;
	/* Version 2 added the command a reply answered; 1 is still read. */
	if (spool_fmt_state_open(&rd, buf, len, m->nrcpt, &why) == -1) {
		log_qmgr(LOG_WARNING, "%s: ignoring the state file: %s", m->id, why);
		free(buf);
		return;
	}
	while ((rc = spool_fmt_state_next(&rd, &fr, &flag, &why)) != FMT_END) {
		if (rc == -1) {
			log_qmgr(LOG_WARNING, "%s: ignoring bad line %u in state file: %s", m->id,
				 rd.line, why);
			continue;
		}
		if (rc == FMT_WARNED) {
			m->warned = flag;
			continue;
		}
		if (rc == FMT_HELD) {
			m->held = flag;
			continue;
		}
		struct qrcpt *r = &m->rcpt[fr.idx];
		r->state = (unsigned)fr.state & 3u;
		r->attempts = fr.attempts & 0x1fffffffu;
		r->next_attempt = (time_t)fr.next;
		r->code = (unsigned)fr.code & 1023u;
		r->cmd = (unsigned)fr.cmd & 15u;
		set_status(r, fr.status);
		intern_drop(r->transport);
		r->transport = fr.transport[0] ? intern(fr.transport) : NULL;
		intern_drop(r->relay);
		r->relay = fr.relay[0] ? intern(fr.relay) : NULL;
		intern_drop(r->detour);
		r->detour = fr.detour[0] ? intern(fr.detour) : NULL;
		intern_drop(r->last_reply);
		r->last_reply = fr.reply[0] ? intern(fr.reply) : NULL;
		r->waiting = 0;
	}
	free(buf);
}

static int
qid_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Copy LEN bytes at OFF of segment file FD into corrupt/NAME. */
static void
save_aside(int fd, off_t off, off_t len, const char *name, const char *why)
{
	int cfd = openat(q_dirfd, "../corrupt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int out =
		cfd == -1 ? -1 : openat(cfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char buf[65536];
	while (out != -1 && len > 0) {
		ssize_t n =
			pread(fd, buf, len < (off_t)sizeof(buf) ? (size_t)len : sizeof(buf), off);
		if (n <= 0 || write(out, buf, (size_t)n) != n)
			break;
		off += n;
		len -= n;
	}
	if (out != -1)
		close(out);
	if (cfd != -1)
		close(cfd);
	log_qmgr(LOG_WARNING, "%s: corrupt journal record saved to corrupt/: %s", name, why);
}

/* Recover one segment: its records, less those named in its .done file. */
static size_t
recover_segment(unsigned id)
{
	char name[32];
	seg_name(name, sizeof(name), id, "log");
	int fd = openat(q_logfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	/* Finished ids, sorted for bsearch. */
	char **done = NULL;
	size_t ndone = 0, capdone = 0;
	seg_name(name, sizeof(name), id, "done");
	int dfd = openat(q_logfd, name, O_RDONLY | O_CLOEXEC);
	size_t dlen = 0, doff = 0;
	char *dbuf = dfd == -1 ? NULL : read_all(dfd, &dlen);
	if (dfd != -1)
		close(dfd);
	char qid[FMT_QID_LEN + 1];
	const char *why;
	int rc;
	/* A bad line (a cut last one) names nothing: that message is
	 * recovered, and delivered again at worst. */
	while (dbuf && (rc = spool_fmt_done_next(dbuf, dlen, &doff, qid, &why)) != 0) {
		if (rc == -1)
			continue;
		if (ndone == capdone) {
			capdone = capdone ? capdone * 2 : 256;
			char **nd = realloc(done, capdone * sizeof(*nd));
			if (!nd)
				fatal("out of memory");
			done = nd;
		}
		done[ndone++] = xstrdup(qid);
	}
	free(dbuf);
	if (ndone)
		qsort(done, ndone, sizeof(*done), qid_cmp);

	struct segment *g = calloc(1, sizeof(*g));
	if (!g)
		fatal("out of memory");
	g->id = id;
	g->donefd = -1;
	size_t n = 0;
	off_t off = 0;
	char *buf = NULL;
	size_t cap = 0;
	while (off < st.st_size) {
		char head[FMT_REC_HEAD_MAX];
		ssize_t r = pread(fd, head, sizeof(head), off);
		if (r <= 0)
			break;
		uint64_t len;
		size_t hl;
		if (spool_fmt_rec_decode(head, (size_t)r, qid, &len, &hl, &why) == -1) {
			char aside[48], reason[80];
			snprintf(aside, sizeof(aside), "%08X.log.%lld", id, (long long)off);
			snprintf(reason, sizeof(reason), "unreadable record header (%s)", why);
			save_aside(fd, off, st.st_size - off, aside, reason);
			break;
		}
		off_t content = off + (off_t)hl;
		if (content + (off_t)len > st.st_size) {
			/* Cut short: by a crash before its fdatasync (then it was
			 * never acknowledged), or by damage. Kept aside either way. */
			char aside[48];
			snprintf(aside, sizeof(aside), "%s.incomplete", qid);
			save_aside(fd, off, st.st_size - off, aside,
				   "incomplete last record (never acknowledged if relayd stopped "
				   "while writing it)");
			break;
		}
		if (len + 1 > cap) {
			cap = len + 1;
			char *nb = realloc(buf, cap);
			if (!nb)
				fatal("out of memory");
			buf = nb;
		}
		struct qmsg *m = NULL;
		size_t hlen;
		why = "unreadable";
		if (pread(fd, buf, len, content) == (ssize_t)len) {
			m = msg_decode(buf, len, &hlen, &why);
			if (m && (strcmp(m->id, qid) != 0 || len < hlen + 5 ||
				  memcmp(buf + len - 5, "\r\n.\r\n", 5) != 0)) {
				why = "bad record";
				msg_free(m);
				m = NULL;
			} else if (m) {
				m->body_len = (off_t)(len - hlen);
			}
		}
		off = content + (off_t)len;
		if (!m) {
			save_aside(fd, content, (off_t)len, qid, why);
			continue;
		}
		const char *key = m->id;
		if (ndone && bsearch(&key, done, ndone, sizeof(*done), qid_cmp)) {
			msg_free(m);
			continue;
		}
		load_state(m);
		if (msg_finished(m)) {
			/* Finished before the crash; only its .done line was lost. */
			if (m->has_state)
				unlinkat(q_statefd, m->id, 0);
			msg_free(m);
			continue;
		}
		m->seg = g;
		m->rec_off = content;
		m->state = Q_QUEUED;
		list_add(m);
		wait_recovered(m);
		g->live++;
		n++;
		queue_schedule(m);
	}
	free(buf);
	for (size_t i = 0; i < ndone; i++)
		free(done[i]);
	free(done);
	close(fd);
	if (g->live == 0) {
		seg_unlink(id);
		free(g);
	} else {
		pthread_mutex_lock(&j_lock); /* the journal thread may run */
		g->next = j_segs;
		j_segs = g;
		pthread_mutex_unlock(&j_lock);
	}
	return n;
}

/*
 * Recovery runs before relayd listens for at most RECOVER_FIRST_US, then
 * (a large queue) on the loop in slices of RECOVER_SLICE_US between
 * sessions, so the first 220 never waits for a million messages to be
 * read. What it will read is listed first, before anything new can arrive:
 * the journal's segments (new mail goes to segments numbered above them)
 * and queue/'s files (sorted, so the id index is filled in order). State
 * files are cleaned up last, leaving those of this run's messages alone.
 * Meanwhile relayctl and the metrics see the messages recovered so far.
 */
#define RECOVER_FIRST_US 1000000
#define RECOVER_SLICE_US 5000

static struct {
	unsigned *segs; /* segment ids, oldest first */
	size_t nsegs, seg_i;
	char **files; /* queue/ names, sorted */
	size_t nfiles, file_i;
	DIR *state;	  /* state/, while being cleaned up */
	uint64_t run_key; /* ids at or above are this run's */
	size_t n, bad;	  /* recovered, set aside */
	struct event *ev; /* the next slice */
	bool done;
} rv;

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List the journal's segments (and clean up .done files without one). */
static void
recover_list_segments(void)
{
	DIR *d = fdopendir(dup(q_logfd));
	struct dirent *de;
	size_t cap = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned id;
		char ext[8];
		if (sscanf(de->d_name, "%8X.%7s", &id, ext) != 2)
			continue;
		if (id > j_seq)
			j_seq = id;
		if (strcmp(ext, "log") != 0) {
			/* A .done whose segment is gone: relayd stopped between
			 * the two unlinks of seg_unlink(). */
			char lname[32];
			seg_name(lname, sizeof(lname), id, "log");
			if (strcmp(ext, "done") == 0 && faccessat(q_logfd, lname, F_OK, 0) == -1 &&
			    errno == ENOENT)
				unlinkat(q_logfd, de->d_name, 0);
			continue;
		}
		if (rv.nsegs == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned *ni = realloc(rv.segs, cap * sizeof(*ni));
			if (!ni)
				fatal("out of memory");
			rv.segs = ni;
		}
		rv.segs[rv.nsegs++] = id;
	}
	closedir(d);
	for (size_t i = 0; i < rv.nsegs; i++)
		for (size_t k = i + 1; k < rv.nsegs; k++)
			if (rv.segs[k] < rv.segs[i]) {
				unsigned t = rv.segs[i];
				rv.segs[i] = rv.segs[k];
				rv.segs[k] = t;
			}
}

static void
recover_list_files(void)
{
	DIR *d = fdopendir(dup(q_dirfd));
	struct dirent *de;
	size_t cap = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (rv.nfiles == cap) {
			cap = cap ? cap * 2 : 64;
			char **nf = realloc(rv.files, cap * sizeof(*nf));
			if (!nf)
				fatal("out of memory");
			rv.files = nf;
		}
		rv.files[rv.nfiles++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (rv.nfiles)
		qsort(rv.files, rv.nfiles, sizeof(*rv.files), name_cmp);
}

static void
recover_file(const char *name)
{
	struct qmsg *m;
	const char *why;
	if (load_message(name, &m, &why) == -1) {
		move_aside(q_dirfd, name, why);
		rv.bad++;
		return;
	}
	load_state(m);
	m->state = Q_QUEUED;
	list_add(m);
	rv.n++;
	if (msg_finished(m)) {
		msg_finish(m);
	} else {
		wait_recovered(m);
		queue_schedule(m);
	}
}

/* A state file whose message is gone: neither a file in queue/ nor a
 * journal record recovered (those loaded theirs: has_state). This run's
 * messages and their files being written (QID.tmp) are left alone. */
static void
recover_state_entry(const char *name)
{
	char qid[QID_MAX];
	size_t len = strlen(name);
	if (name[0] == '.')
		return;
	if (len == FMT_QID_LEN + 4 && strcmp(name + FMT_QID_LEN, ".tmp") == 0) {
		memcpy(qid, name, FMT_QID_LEN);
		qid[FMT_QID_LEN] = '\0';
		uint64_t k = id_key(qid);
		if (k && k < rv.run_key)
			unlinkat(q_statefd, name, 0); /* left by a crash */
		return;
	}
	uint64_t k = id_key(name);
	if (k && k >= rv.run_key)
		return;
	const struct qmsg *m = k ? qindex_find(&q_byid, k) : NULL;
	if (!m || !m->has_state)
		unlinkat(q_statefd, name, 0);
}

static long
elapsed_us(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* Recover for about BUDGET microseconds; true once everything is. */
static bool
recover_step(long budget)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned k = 0; !rv.done; k++) {
		if (k > 0 && elapsed_us(&t0) >= budget)
			return false;
		if (rv.seg_i < rv.nsegs) {
			rv.n += recover_segment(rv.segs[rv.seg_i++]);
		} else if (rv.file_i < rv.nfiles) {
			for (unsigned i = 0; i < 64 && rv.file_i < rv.nfiles; i++) {
				recover_file(rv.files[rv.file_i]);
				free(rv.files[rv.file_i++]);
			}
		} else if (!rv.state && !(rv.state = fdopendir(dup(q_statefd)))) {
			rv.done = true;
		} else {
			struct dirent *de = NULL;
			for (unsigned i = 0; i < 512 && (de = readdir(rv.state)); i++)
				recover_state_entry(de->d_name);
			if (!de) {
				closedir(rv.state);
				rv.state = NULL;
				rv.done = true;
			}
		}
	}
	free(rv.segs);
	free(rv.files);
	rv.segs = NULL;
	rv.files = NULL;
	log_qmgr(LOG_INFO, "queue: recovered %zu message%s%s", rv.n, rv.n == 1 ? "" : "s",
		 rv.bad ? " (some corrupt files moved to corrupt/)" : "");
	return true;
}

static void
recover_slice(evutil_socket_t fd, short what, void *arg)
{
	if (q_stopping)
		return; /* the rest is read at the next start */
	if (!recover_step(RECOVER_SLICE_US)) {
		struct timeval zero = {0, 0};
		evtimer_add(rv.ev, &zero);
	}
}

static int
mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* Can this process write in directory PATH: 0, or -1 with errno
 * (ENOTDIR when it is not a directory). */
static int
dir_writable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	/* Effective ids: relayd -n may be checking as the run user. */
	return faccessat(AT_FDCWD, path, R_OK | W_OK | X_OK, AT_EACCESS);
}

/* See queue.h: what mkdirs() and open_subdir() would meet, found with
 * stat() and access() only. */
int
queue_check(const char *spool, char **cause)
{
	static const char *const subdirs[] = {"queue", "state", "tmp", "corrupt", "log"};
	static char err[4096 + 256];
	char path[4096], *slash;
	struct stat st;

	if (strlen(spool) >= sizeof(path)) {
		snprintf(err, sizeof(err), "spool %.64s...: the path is too long", spool);
		*cause = err;
		return -1;
	}
	if (stat(spool, &st) == 0) {
		if (dir_writable(spool) == -1) {
			snprintf(err, sizeof(err), "cannot use the spool %s: %s", spool,
				 errno == ENOTDIR ? "it is not a directory" : strerror(errno));
			*cause = err;
			return -1;
		}
		for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", spool, subdirs[i]);
			if (lstat(path, &st) == -1 && errno == ENOENT)
				continue;
			if (dir_writable(path) == -1) {
				snprintf(err, sizeof(err), "cannot use the spool's %s: %s", path,
					 errno == ENOTDIR ? "it is not a directory"
							  : strerror(errno));
				*cause = err;
				return -1;
			}
		}
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR) {
		snprintf(err, sizeof(err), "cannot use the spool %s: %s", spool, strerror(errno));
		*cause = err;
		return -1;
	}
	/* Up to the nearest part that exists: mkdirs() creates the rest in it. */
	snprintf(path, sizeof(path), "%s", spool);
	for (;;) {
		while ((slash = strrchr(path, '/')) != NULL && slash[1] == '\0' && slash != path)
			*slash = '\0'; /* "a/b/" */
		if ((slash = strrchr(path, '/')) == NULL)
			snprintf(path, sizeof(path), ".");
		else if (slash == path)
			path[1] = '\0';
		else
			*slash = '\0';
		if (stat(path, &st) == 0)
			break;
		if ((errno != ENOENT && errno != ENOTDIR) || strcmp(path, ".") == 0 ||
		    strcmp(path, "/") == 0)
			break;
	}
	if (dir_writable(path) == -1) {
		if (errno == ENOTDIR)
			snprintf(err, sizeof(err),
				 "cannot create the spool %s: %s is not a directory", spool, path);
		else
			snprintf(err, sizeof(err), "cannot create the spool %s: %s: %s", spool,
				 path, strerror(errno));
		*cause = err;
		return -1;
	}
	return 0;
}

static int
open_subdir(int spoolfd, const char *name)
{
	if (mkdirat(spoolfd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(spoolfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
recover(void)
{
	/* tmp/ holds messages that never got their 250, and the pool. */
	DIR *d = fdopendir(dup(q_tmpfd));
	struct dirent *de;
	if (d) {
		while ((de = readdir(d))) {
			unsigned slot;
			if (de->d_name[0] == '.')
				continue;
			if (sscanf(de->d_name, "pool.%u", &slot) == 1 && pool_n + 1 < POOL_MAX) {
				pool_free[pool_n++] = slot;
				if (slot >= pool_seq)
					pool_seq = slot + 1;
				continue;
			}
			unlinkat(q_tmpfd, de->d_name, 0);
		}
		closedir(d);
	}
	/* What to read, listed before anything new can arrive; ids from now
	 * on are this run's. */
	char id[QID_MAX];
	queue_newid(id);
	rv.run_key = id_key(id);
	recover_list_segments();
	recover_list_files();
	/* Tests set a shorter first part to see a small queue read in slices. */
	const char *first = getenv("RELAYD_RECOVER_FIRST_US");
	if (recover_step(first ? strtol(first, NULL, 10) : RECOVER_FIRST_US))
		return;
	log_qmgr(LOG_INFO, "queue: %zu messages recovered so far; the rest while relayd runs",
		 rv.n);
	rv.ev = evtimer_new(q_base, recover_slice, NULL);
	if (!rv.ev)
		fatal("out of memory");
	struct timeval zero = {0, 0};
	evtimer_add(rv.ev, &zero);
}

/* Create the spool under the configuration's path and recover its queue. */
int
queue_init(struct event_base *base, char **cause)
{
	const char *spool = relayd_conf->spool;
	static char err[512];

	q_base = base;
	sched_init(&q_sched);
	sched_init(&q_fresh);
	if (mkdirs(spool) == -1) {
		snprintf(err, sizeof(err), "cannot create spool %s: %s", spool, strerror(errno));
		*cause = err;
		return -1;
	}
	int sfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd == -1 || (q_dirfd = open_subdir(sfd, "queue")) == -1 ||
	    (q_tmpfd = open_subdir(sfd, "tmp")) == -1 ||
	    (q_statefd = open_subdir(sfd, "state")) == -1) {
		snprintf(err, sizeof(err), "cannot open spool %s: %s", spool, strerror(errno));
		*cause = err;
		if (sfd != -1)
			close(sfd);
		return -1;
	}
	int cfd = open_subdir(sfd, "corrupt");
	if (cfd != -1)
		close(cfd);
	if ((q_logfd = open_subdir(sfd, "log")) == -1) {
		snprintf(err, sizeof(err), "cannot open spool %s/log: %s", spool, strerror(errno));
		*cause = err;
		close(sfd);
		return -1;
	}
	close(sfd);
	q_timer = evtimer_new(base, queue_run, NULL);
	if (!q_timer) {
		*cause = "cannot create queue timer";
		return -1;
	}
	recover();
	if (pthread_create(&j_thread, NULL, journal_main, NULL) != 0) {
		*cause = "cannot start the journal thread";
		return -1;
	}
	j_running = true;
	return 0;
}

/* Stop the journal thread (everything committed has been answered). */
void
queue_close(void)
{
	if (!j_running)
		return;
	pthread_mutex_lock(&j_lock);
	j_stop = true;
	pthread_cond_signal(&j_cond);
	pthread_mutex_unlock(&j_lock);
	pthread_join(j_thread, NULL);
	j_running = false;
}

/* Stop dispatching; spool writes already submitted finish in the worker. */
void
queue_shutdown(void)
{
	q_stopping = true;
	if (q_timer)
		evtimer_del(q_timer);
}
