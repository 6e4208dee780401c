/*
 * spool.c — the queue's storage (spool.h): its directories, receiving and
 * committing a message (into the journal or a file of its own), reading
 * it back, removing it, and recovery at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "relayd/intern.h"
#include "relayd/log.h"
#include "relayd/spool.h"
#include "relayd/spool_fmt.h"
#include "relayd/spool_int.h"
#include "relayd/worker.h"

/* Spill a message being received to disk beyond this many bytes. */
#define SPOOL_SPILL (256 * 1024)

_Static_assert(RCPT_EXPIRED == FMT_STATE_MAX, "every recipient state must be storable");

struct spool_dirs spool_dir = {-1, -1, -1, -1};

static struct event_base *sp_base;
static const struct spool_ops *sp_ops;
static bool sp_stopping;
static unsigned sp_committing; /* loop thread: commits not yet answered */

/* ---- receiving ------------------------------------------------------ */

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

void
spool_begin(struct qmsg *m, const char *client, const char *const *rcpt, size_t n)
{
	struct qrecv *rx = calloc(1, sizeof(*rx));
	struct fmt_buf hdr = {0};
	const char *why;

	if (!rx || !(rx->buf = evbuffer_new()))
		fatal("out of memory");
	rx->fd = -1;
	m->rx = rx;
	m->state = Q_BUILDING;
	struct fmt_env fe = {
		.arrival = (int64_t)m->arrival,
		.client = client,
		.body = m->body,
		.smtputf8 = m->smtputf8,
		.sender = m->sender,
		.rcpt = rcpt,
		.nrcpt = n,
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
}

int
spool_write(struct qmsg *m, const void *buf, size_t len)
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
	if (evbuffer_get_length(rx->buf) >= SPOOL_SPILL && spool_file_spill(m) == -1) {
		rx->error = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

/* Loop thread: the commit of M is decided (posted by the journal thread
 * or the worker that made it durable, or failed). */
void
spool_commit_done(void *arg)
{
	struct qmsg *m = arg;
	struct qrecv *rx = m->rx;
	void (*cb)(void *, struct qmsg *, int) = rx->commit_cb;
	void *cb_arg = rx->commit_arg;

	sp_committing--;
	if (rx->error) {
		int err = rx->error;
		log_qmgr(LOG_ERR, "%s: cannot queue message: %s", m->id, strerror(err));
		cb(cb_arg, m, err);
		rx_free(m);
		msg_unref(m);
		return;
	}
	/* Committed: the receiving part goes, the schedule takes its place. */
	rx_free(m);
	m->sched.idx = SCHED_NONE;
	m->state = Q_QUEUED;
	sp_ops->committed(m);
	cb(cb_arg, m, 0);
}

void
spool_commit(struct qmsg *m, void (*cb)(void *, struct qmsg *, int), void *arg)
{
	m->rx->commit_cb = cb;
	m->rx->commit_arg = arg;
	m->state = Q_COMMITTING;
	/* Even a known failure is reported from a completion, so the caller
	 * is never called back from inside this function. */
	sp_committing++;
	if (m->rx->fd != -1 || m->rx->error || spool_journal_submit(m) == -1)
		worker_submit(spool_file_commit, NULL, m);
}

void
spool_abort(struct qmsg *m)
{
	if (m->rx->fd != -1) {
		close(m->rx->fd);
		m->rx->fd = -1;
	}
	spool_file_drop(m);
	rx_free(m);
	msg_unref(m);
}

bool
spool_idle(void)
{
	return sp_committing == 0;
}

/* ---- reading back, removing ------------------------------------------ */

int
spool_open(const struct qmsg *m, off_t *base)
{
	if (m->seg) {
		*base = m->rec_off;
		return spool_journal_open(m);
	}
	*base = 0;
	return openat(spool_dir.queue, m->id, O_RDONLY | O_CLOEXEC);
}

char *
spool_client(const struct qmsg *m)
{
	off_t base;
	int fd = spool_open(m, &base);
	char *buf = NULL, *client = NULL;
	struct fmt_env e;
	size_t hlen;
	const char *why;

	if (fd == -1)
		return NULL;
	if (m->body_off == 0 || !(buf = malloc(m->body_off)))
		goto out;
	if (pread(fd, buf, m->body_off, base) != (ssize_t)m->body_off)
		goto out;
	if (spool_fmt_env_decode(buf, m->body_off, &e, &hlen, &why) == -1)
		goto out;
	client = strdup(e.client ? e.client : "");
	spool_fmt_env_free(&e);
out:
	free(buf);
	close(fd);
	return client;
}

int
spool_body(const struct qmsg *m, off_t *off, off_t *len)
{
	off_t base;
	int fd = spool_open(m, &base);
	if (fd == -1)
		return -1;
	*off = base + m->body_off;
	*len = m->body_len;
	return fd;
}

/* Worker: remove a finished message's files. The message file goes first:
 * a crash in between leaves an orphan state file, removed at start. A
 * journal record (rec_off) is not a file: its .done line was written. */
static void
remove_work(void *arg)
{
	struct qmsg *m = arg;
	if (!m->rec_off)
		spool_file_remove(m);
	if (m->has_state)
		spool_state_remove(m);
}

static void
remove_done(void *arg)
{
	msg_unref(arg);
}

void
spool_remove(struct qmsg *m)
{
	if (m->seg) {
		spool_journal_finish(m);
		if (!m->has_state) {
			msg_unref(m);
			return;
		}
	}
	/* With the others of this turn of the loop: one thread wake-up. */
	worker_defer(remove_work, remove_done, m);
}

/* ---- recovery ------------------------------------------------------- */

/* Decode the envelope header at the start of BUF (LEN bytes) into a new
 * message, *HLEN the header's length; NULL with *WHY. */
struct qmsg *
spool_decode(const char *buf, size_t len, size_t *hlen, const char **why)
{
	struct fmt_env e;

	if (spool_fmt_env_decode(buf, len, &e, hlen, why) == -1) {
		if (*why == spool_fmt_nomem)
			fatal("out of memory");
		return NULL;
	}
	struct qmsg *m = msg_new((const char *const *)e.rcpt, e.nrcpt);
	snprintf(m->id, sizeof(m->id), "%s", e.id);
	m->arrival = (time_t)e.arrival;
	m->size = e.size;
	m->body = (unsigned)e.body & 3u;
	m->smtputf8 = e.smtputf8;
	m->sender = intern(e.sender ? e.sender : "");
	for (size_t i = 0; i < m->nrcpt; i++)
		m->rcpt[i].next_attempt = m->arrival;
	m->body_off = (uint32_t)*hlen;
	spool_fmt_env_free(&e);
	return m;
}

/* The whole of the open file FD (*LEN bytes, NUL-terminated); NULL when
 * it cannot be read. ST, if not NULL, gets its fstat() (st_size 0 and
 * st_mtim 0 when that failed). */
char *
spool_read_all(int fd, size_t *len, struct stat *stp)
{
	struct stat own = {0}, *st = stp ? stp : &own;
	size_t cap = 4096, n = 0;

	if (fstat(fd, st) == -1)
		memset(st, 0, sizeof(*st));
	if (st->st_size > 0)
		cap = (size_t)st->st_size + 1;
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

/* queue/NAME read back: to the queue, or its files removed when it was
 * finished (only its removal was lost). */
static void
recover_file(const char *name)
{
	struct qmsg *m;
	const char *why;
	if (spool_file_load(name, &m, &why) == -1) {
		spool_file_aside(spool_dir.queue, name, why);
		rv.bad++;
		return;
	}
	spool_state_load(m);
	rv.n++;
	if (msg_finished(m)) {
		m->state = Q_DONE;
		spool_remove(m);
		return;
	}
	sp_ops->recovered(m);
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
			rv.n += spool_journal_recover(rv.segs[rv.seg_i++], sp_ops->recovered);
		} else if (rv.file_i < rv.nfiles) {
			for (unsigned i = 0; i < 64 && rv.file_i < rv.nfiles; i++) {
				recover_file(rv.files[rv.file_i]);
				free(rv.files[rv.file_i++]);
			}
		} else if (!rv.state && !(rv.state = fdopendir(dup(spool_dir.state)))) {
			rv.done = true;
		} else {
			struct dirent *de = NULL;
			for (unsigned i = 0; i < 512 && (de = readdir(rv.state)); i++)
				spool_state_clean(de->d_name, rv.run_key, sp_ops->find);
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
	if (sp_stopping)
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
spool_check(const char *spool, char **cause)
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
	spool_file_recover_tmp();
	/* What to read, listed before anything new can arrive; ids from now
	 * on are this run's. */
	char id[QID_MAX];
	msg_newid(id);
	rv.run_key = msg_id_key(id);
	spool_journal_list(&rv.segs, &rv.nsegs);
	spool_file_list(&rv.files, &rv.nfiles);
	/* Tests set a shorter first part to see a small queue read in slices. */
	const char *first = getenv("RELAYD_RECOVER_FIRST_US");
	if (recover_step(first ? strtol(first, NULL, 10) : RECOVER_FIRST_US))
		return;
	log_qmgr(LOG_INFO, "queue: %zu messages recovered so far; the rest while relayd runs",
		 rv.n);
	rv.ev = evtimer_new(sp_base, recover_slice, NULL);
	if (!rv.ev)
		fatal("out of memory");
	struct timeval zero = {0, 0};
	evtimer_add(rv.ev, &zero);
}

int
spool_init(const char *spool, struct event_base *base, const struct spool_ops *ops, char **cause)
{
	static char err[512];

	sp_base = base;
	sp_ops = ops;
	if (mkdirs(spool) == -1) {
		snprintf(err, sizeof(err), "cannot create spool %s: %s", spool, strerror(errno));
		*cause = err;
		return -1;
	}
	int sfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd == -1 || (spool_dir.queue = open_subdir(sfd, "queue")) == -1 ||
	    (spool_dir.tmp = open_subdir(sfd, "tmp")) == -1 ||
	    (spool_dir.state = open_subdir(sfd, "state")) == -1) {
		snprintf(err, sizeof(err), "cannot open spool %s: %s", spool, strerror(errno));
		*cause = err;
		if (sfd != -1)
			close(sfd);
		return -1;
	}
	int cfd = open_subdir(sfd, "corrupt");
	if (cfd != -1)
		close(cfd);
	if ((spool_dir.log = open_subdir(sfd, "log")) == -1) {
		snprintf(err, sizeof(err), "cannot open spool %s/log: %s", spool, strerror(errno));
		*cause = err;
		close(sfd);
		return -1;
	}
	close(sfd);
	recover();
	if (spool_journal_start() == -1) {
		*cause = "cannot start the journal thread";
		return -1;
	}
	return 0;
}

void
spool_shutdown(void)
{
	sp_stopping = true;
}

void
spool_close(void)
{
	spool_journal_stop();
}
