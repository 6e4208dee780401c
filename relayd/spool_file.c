/*
 * spool_file.c — messages as files of their own (spool.h): a message is
 * written to tmp/ (from memory, or spilled there while DATA is still
 * arriving once it is large), then on a worker thread: fsync, rename into
 * queue/ (never replacing), fsync queue/. That is the durability point;
 * only the completion of that job lets the session say 250. Spent files
 * are kept in tmp/ for reuse (the pool).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "relayd/log.h"
#include "relayd/spool_fmt.h"
#include "relayd/spool_int.h"
#include "relayd/worker.h"

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
		int fd = openat(spool_dir.tmp, m->rx->tmpname, O_WRONLY | O_CLOEXEC);
		if (fd != -1)
			return fd;
	}
	snprintf(m->rx->tmpname, sizeof(m->rx->tmpname), "%s", m->id);
	return openat(spool_dir.tmp, m->rx->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* The tmp file of a message that was not committed. */
void
spool_file_drop(struct qmsg *m)
{
	unsigned slot;
	if (sscanf(m->rx->tmpname, "pool.%u", &slot) == 1)
		pool_give(slot);
	else if (m->rx->tmpname[0])
		unlinkat(spool_dir.tmp, m->rx->tmpname, 0);
	m->rx->tmpname[0] = '\0';
}

int
spool_file_spill(struct qmsg *m)
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

static pthread_mutex_t ds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qmsg *ds_head; /* renamed into queue/, awaiting its fsync */
static bool ds_running;

/* Worker thread: write, fsync, rename into queue/; then the directory
 * fsync is shared (group commit): the first worker to get here fsyncs
 * queue/ for every message renamed before it started, again and again
 * while more arrive; the others leave their message to it. A message's
 * completion is posted only once a directory fsync that began after its
 * rename has returned. */
void
spool_file_commit(void *arg)
{
	struct qmsg *m = arg;
	struct qrecv *rx = m->rx;
	char sizebuf[FMT_SIZE_DIGITS];

	if (rx->error) {
		/* Writing failed while DATA arrived (disk full). */
		errno = rx->error;
		goto fail;
	}
	if (spool_file_spill(m) == -1)
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
	if (renameat2(spool_dir.tmp, rx->tmpname, spool_dir.queue, m->id, RENAME_NOREPLACE) == -1)
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
		int rc = fsync(spool_dir.queue), err = errno;
		while (batch) {
			struct qmsg *next = batch->rx->ds_next;
			if (rc == -1) {
				/* Not known to be durable: refuse, and take it
				 * back so it is not delivered behind a 451. */
				batch->rx->error = err ? err : EIO;
				unlinkat(spool_dir.queue, batch->id, 0);
			}
			worker_post(spool_commit_done, batch);
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
	spool_file_drop(m);
	worker_post(spool_commit_done, m);
}

/* Worker: the finished message M's file goes: kept for reuse (renaming
 * costs less than the inode allocation a new file needs, bench/README.md)
 * unless a reader has it open (pinned) or it is large. */
void
spool_file_remove(struct qmsg *m)
{
	unsigned slot;
	char name[32];

	if (!m->pinned && m->body_off + m->body_len <= POOL_FILE_MAX && pool_reserve(&slot)) {
		snprintf(name, sizeof(name), "pool.%u", slot);
		if (renameat(spool_dir.queue, m->id, spool_dir.tmp, name) == 0)
			pool_give(slot);
		else
			unlinkat(spool_dir.queue, m->id, 0);
	} else {
		unlinkat(spool_dir.queue, m->id, 0);
	}
}

/* ---- recovery ------------------------------------------------------- */

/* tmp/ holds messages that never got their 250, and the pool. */
void
spool_file_recover_tmp(void)
{
	DIR *d = fdopendir(dup(spool_dir.tmp));
	struct dirent *de;
	if (!d)
		return;
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
		unlinkat(spool_dir.tmp, de->d_name, 0);
	}
	closedir(d);
}

/* Move queue file NAME of DIRFD into corrupt/, saying WHY. */
void
spool_file_aside(int dirfd, const char *name, const char *why)
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

/* Read queue/NAME into a new message (*OUT); -1 with *WHY. */
int
spool_file_load(const char *name, struct qmsg **out, const char **why)
{
	int fd = openat(spool_dir.queue, name, O_RDONLY | O_CLOEXEC);
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
	if (!(m = spool_decode(hdr, hlen, &hlen, why)))
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

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* queue/'s names, sorted (the id index is then filled in order). */
void
spool_file_list(char ***names, size_t *nnames)
{
	DIR *d = fdopendir(dup(spool_dir.queue));
	struct dirent *de;
	size_t cap = 0, n = 0;
	char **v = NULL;

	*names = NULL;
	*nnames = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof(*nv));
			if (!nv)
				fatal("out of memory");
			v = nv;
		}
		if (!(v[n++] = strdup(de->d_name)))
			fatal("out of memory");
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*names = v;
	*nnames = n;
}
