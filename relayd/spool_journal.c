/*
 * spool_journal.c — the journal (spool.h).
 *
 * A message received in memory (the common case: up to 256 KiB)
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
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <dirent.h>

#include <event2/buffer.h>

#include "relayd/log.h"
#include "relayd/spool_fmt.h"
#include "relayd/spool_int.h"
#include "relayd/worker.h"

#define SEG_MAX (4 * 1024 * 1024) /* start a new segment beyond this */

struct segment {
	unsigned id;
	unsigned live; /* messages whose data is here and not finished */
	bool retire;   /* active, nothing live: replace at the next batch */
	int donefd;    /* loop thread: N.done, opened when first needed */
	struct segment *next;
};

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
	unlinkat(spool_dir.log, name, 0);
	seg_name(name, sizeof(name), id, "done");
	unlinkat(spool_dir.log, name, 0);
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
	int fd = openat(spool_dir.log, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
			0600);
	/* The new name must be durable before anything in it counts. */
	if (fd == -1 || fsync(spool_dir.log) == -1) {
		int err = errno;
		if (fd != -1) {
			close(fd);
			unlinkat(spool_dir.log, name, 0);
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
		worker_post(spool_commit_done, batch);
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

/* Loop thread: M's record is no longer needed. */
void
spool_journal_finish(struct qmsg *m)
{
	struct segment *g = m->seg;
	char line[FMT_QID_LEN + 2];

	if (g->donefd == -1) {
		char name[32];
		seg_name(name, sizeof(name), g->id, "done");
		g->donefd = openat(spool_dir.log, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				   0600);
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

/* Loop thread: hand M to the journal thread; -1 when it does not run. */
int
spool_journal_submit(struct qmsg *m)
{
	if (!j_running)
		return -1;
	m->rx->ds_next = NULL;
	pthread_mutex_lock(&j_lock);
	if (j_tail)
		j_tail->rx->ds_next = m;
	else
		j_head = m;
	j_tail = m;
	pthread_cond_signal(&j_cond);
	pthread_mutex_unlock(&j_lock);
	return 0;
}

/* An fd of the segment holding M. */
int
spool_journal_open(const struct qmsg *m)
{
	char name[32];
	seg_name(name, sizeof(name), m->seg->id, "log");
	return openat(spool_dir.log, name, O_RDONLY | O_CLOEXEC);
}

int
spool_journal_start(void)
{
	if (pthread_create(&j_thread, NULL, journal_main, NULL) != 0)
		return -1;
	j_running = true;
	return 0;
}

/* Stop the journal thread (everything committed has been answered). */
void
spool_journal_stop(void)
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

/* ---- recovery ------------------------------------------------------- */

static int
seg_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

static int
key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
/* Copy LEN bytes at OFF of segment file FD into corrupt/NAME. */
static void
save_aside(int fd, off_t off, off_t len, const char *name, const char *why)
{
	int cfd = openat(spool_dir.queue, "../corrupt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
size_t
spool_journal_recover(unsigned id, void (*recovered)(struct qmsg *m))
{
	char name[32];
	seg_name(name, sizeof(name), id, "log");
	int fd = openat(spool_dir.log, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	/* Finished ids, sorted for bsearch. */
	uint64_t *done = NULL;
	size_t ndone = 0, capdone = 0;
	seg_name(name, sizeof(name), id, "done");
	int dfd = openat(spool_dir.log, name, O_RDONLY | O_CLOEXEC);
	size_t dlen = 0, doff = 0;
	char *dbuf = dfd == -1 ? NULL : spool_read_all(dfd, &dlen, NULL);
	if (dfd != -1)
		close(dfd);
	char qid[FMT_QID_LEN + 1];
	const char *why;
	int rc;
	/* A bad line (a cut last one) names nothing: that message is
	 * recovered, and delivered again at worst. */
	while (dbuf && (rc = spool_fmt_done_next(dbuf, dlen, &doff, qid, &why)) != 0) {
		uint64_t k = rc == -1 ? 0 : msg_id_key(qid);
		if (!k)
			continue;
		if (ndone == capdone) {
			capdone = capdone ? capdone * 2 : 256;
			uint64_t *nd = realloc(done, capdone * sizeof(*nd));
			if (!nd)
				fatal("out of memory");
			done = nd;
		}
		done[ndone++] = k;
	}
	free(dbuf);
	if (ndone)
		qsort(done, ndone, sizeof(*done), key_cmp);

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
			m = spool_decode(buf, len, &hlen, &why);
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
		uint64_t key = msg_id_key(m->id);
		if (ndone && bsearch(&key, done, ndone, sizeof(*done), key_cmp)) {
			msg_free(m);
			continue;
		}
		spool_state_load(m);
		if (msg_finished(m)) {
			/* Finished before the crash; only its .done line was lost. */
			if (m->has_state)
				spool_state_remove(m);
			msg_free(m);
			continue;
		}
		m->seg = g;
		m->rec_off = (uint32_t)content;
		g->live++;
		n++;
		recovered(m);
	}
	free(buf);
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

/* List the journal's segments (and clean up .done files without one). */
void
spool_journal_list(unsigned **ids, size_t *nids)
{
	DIR *d = fdopendir(dup(spool_dir.log));
	struct dirent *de;
	size_t cap = 0, n = 0;
	unsigned *segs = NULL;

	*ids = NULL;
	*nids = 0;
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
			if (strcmp(ext, "done") == 0 &&
			    faccessat(spool_dir.log, lname, F_OK, 0) == -1 && errno == ENOENT)
				unlinkat(spool_dir.log, de->d_name, 0);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned *ni = realloc(segs, cap * sizeof(*ni));
			if (!ni)
				fatal("out of memory");
			segs = ni;
		}
		segs[n++] = id;
	}
	closedir(d);
	if (n)
		qsort(segs, n, sizeof(*segs), seg_cmp);
	*ids = segs;
	*nids = n;
}
