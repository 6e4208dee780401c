/*
 * spool_state.c — state/QID: what happened to a message's recipients so
 * far (attempts, next attempt, last reply, final states) and its flags,
 * saved after attempts and read back at start (spool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relayd/intern.h"
#include "relayd/log.h"
#include "relayd/spool.h"
#include "relayd/spool_fmt.h"
#include "relayd/spool_int.h"
#include "relayd/worker.h"

struct state_job {
	struct qmsg *m;
	struct fmt_buf buf;
	bool sync;	   /* fsync: it records something final */
	bool exists;	   /* state/QID is there to overwrite */
	bool stamp;	   /* only the times: a deferral that repeats the last one */
	time_t next;	   /* stamp: the message's next attempt */
	unsigned attempts; /* stamp: its recipients' most attempts */
	int error;
};

/*
 * A deferral that repeats the last one (the same reply code, enhanced status
 * and command over the same transport: a backlog for a destination that
 * keeps answering 450) changes only the attempts and the next attempt. It is
 * not written into the file (every such write dirtied a page of its own,
 * and at 100,000 deferred messages the write-back of a retry cycle's pages
 * held up the fsyncs of new mail: 300 KiB acceptance right after a flush
 * fell to 0.58 of normal, 1.0 without them, bench/README.md). It is stamped
 * on the file's modification time instead, as Postfix's qmgr keeps a
 * deferred message's next attempt in its queue file's mtime: the seconds
 * are the next attempt, the nanoseconds the attempts. Every write of the
 * lines sets whole seconds (no nanoseconds: no stamp), so
 * spool_state_load() tells a stamp from the lines' own time and takes it
 * over what the lines say. The reply's text and relay shown after a
 * restart are then those of the first deferral of the series.
 */

/* The lines were just written to FD: their time, in whole seconds. Where
 * that cannot be set the lines keep the time the write gave them (its
 * nanoseconds may pass for a stamp only if they are below
 * MSG_ATTEMPTS_MAX and the time is later than a recipient's next attempt:
 * then that recipient is tried a little later, with its attempts off). */
static void
mark_written(int fd)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = time(NULL), .tv_nsec = 0}};
	(void)futimens(fd, ts);
}

static void
state_stamp(struct state_job *j)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
				 {.tv_sec = j->next, .tv_nsec = (long)j->attempts}};
	if (utimensat(spool_dir.state, j->m->id, ts, 0) == -1)
		j->error = errno;
}

/* Worker: a deferral alone (no fsync wanted) overwrites the existing file
 * in place: no new inode, no rename (at 100,000 deferred messages those
 * took most of the state writes' time). A crash in the middle can leave
 * a mix of the two versions, which load_state() reads line by line: a line
 * it cannot read is ignored (that recipient starts over), a whole file it
 * cannot read means every recipient pending; a duplicate at worst. */
static bool
state_overwrite(struct state_job *j)
{
	int fd = openat(spool_dir.state, j->m->id, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	bool ok = pwrite(fd, j->buf.p, j->buf.len, 0) == (ssize_t)j->buf.len &&
		  ftruncate(fd, (off_t)j->buf.len) == 0;
	if (ok)
		mark_written(fd);
	close(fd);
	return ok;
}

static void
state_work(void *arg)
{
	struct state_job *j = arg;
	char tmp[QID_MAX + 8];
	if (j->stamp) {
		state_stamp(j);
		return;
	}
	if (!j->sync && j->exists && state_overwrite(j))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->m->id);
	int fd = openat(spool_dir.state, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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
	if (!j->error)
		mark_written(fd);
	if (!j->error && j->sync && fsync(fd) == -1)
		j->error = errno;
	close(fd);
	if (!j->error && renameat(spool_dir.state, tmp, spool_dir.state, j->m->id) == -1)
		j->error = errno;
	if (j->error)
		unlinkat(spool_dir.state, tmp, 0);
}

static void
state_done(void *arg)
{
	struct state_job *j = arg;
	struct qmsg *m = j->m;

	if (j->error && j->stamp) {
		/* No file to stamp (removed by hand), or its times cannot be
		 * set here: write the lines instead. */
		m->state_changed = true;
		m->state_dirty = true;
	} else if (j->error)
		log_qmgr(LOG_WARNING, "%s: cannot save recipient state: %s", m->id,
			 strerror(j->error));
	spool_fmt_buf_free(&j->buf);
	free(j);
	m->state_writing = false;
	if (m->state_dirty && m->state == Q_QUEUED)
		spool_state_save(m);
	msg_unref(m);
}

/* Write the recipients' states; one write at a time per message, the last
 * state wins. The file is fsync'd only when it records something final
 * (a recipient sent, bounced or expired, a detour, the delay warning sent,
 * a hold): a deferral alone (attempts, next attempt, last reply) is written
 * without, as Postfix's qmgr does. A crash may then lose the last deferral,
 * which costs an earlier retry, never a message: load_state() ignores a
 * state file it cannot read (every recipient pending). At 100,000 deferred
 * messages that is 100,000 fsyncs per retry cycle less. A deferral that
 * repeats the last one is only stamped on the file's times (above). */
void
spool_state_save(struct qmsg *m)
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
	if (!m->state_sync && m->has_state && !m->state_changed) {
		j->stamp = true;
		for (size_t i = 0; i < m->nrcpt; i++) {
			const struct qrcpt *r = &m->rcpt[i];
			if (r->state != RCPT_PENDING)
				continue;
			if (!j->next || r->next_attempt < j->next)
				j->next = r->next_attempt;
			if (r->attempts > j->attempts)
				j->attempts = r->attempts;
		}
		if (j->attempts >= 1 && j->attempts <= MSG_ATTEMPTS_MAX && j->next > 0) {
			m->state_writing = true;
			m->refs++;
			worker_defer(state_work, state_done, j);
			return;
		}
		j->stamp = false; /* nothing a stamp can say: write it */
	}
	j->sync = m->state_sync;
	j->exists = m->has_state;
	m->state_sync = false;
	m->state_changed = false;
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
		_Static_assert(sizeof(fr.status) >= MSG_STATUS_MAX, "a status fits");
		msg_status(r, fr.status);
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
	worker_defer(state_work, state_done, j); /* with this turn's others */
}

/* Apply state/QID to M, when there is one. A bad state file is ignored,
 * a bad line of it too: the recipients concerned are then retried from
 * their initial state (duplicates, never loss). */
void
spool_state_load(struct qmsg *m)
{
	int fd = openat(spool_dir.state, m->id, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	m->has_state = true;
	struct stat st;
	size_t len = 0;
	char *buf = spool_read_all(fd, &len, &st);
	close(fd);
	if (!buf)
		return;
	bool stamped = st.st_mtim.tv_nsec >= 1 && st.st_mtim.tv_nsec <= MSG_ATTEMPTS_MAX;
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
		r->attempts = fr.attempts < MSG_ATTEMPTS_MAX ? fr.attempts : MSG_ATTEMPTS_MAX;
		r->next_attempt = (time_t)fr.next;
		r->code = (unsigned)fr.code & 1023u;
		r->cmd = (unsigned)fr.cmd & 15u;
		msg_set_status(r, fr.status);
		intern_drop(r->transport);
		r->transport = fr.transport[0] ? intern(fr.transport) : NULL;
		intern_drop(r->relay);
		r->relay = fr.relay[0] ? intern(fr.relay) : NULL;
		intern_drop(r->detour);
		r->detour = fr.detour[0] ? intern(fr.detour) : NULL;
		intern_drop(r->last_reply);
		r->last_reply = fr.reply[0] ? intern(fr.reply) : NULL;
		r->waiting = 0;
		/* Deferred again since the lines were written: the stamp's next
		 * attempt (the message's earliest) and attempts, if later. */
		if (stamped && r->state == RCPT_PENDING && st.st_mtim.tv_sec > r->next_attempt) {
			r->next_attempt = st.st_mtim.tv_sec;
			if ((unsigned long)st.st_mtim.tv_nsec > r->attempts)
				r->attempts = (unsigned)st.st_mtim.tv_nsec;
		}
	}
	free(buf);
}

/* Worker: M's state file goes (M is finished). */
void
spool_state_remove(const struct qmsg *m)
{
	unlinkat(spool_dir.state, m->id, 0);
}

/* A state file whose message is gone: neither a file in queue/ nor a
 * journal record recovered (those loaded theirs: has_state). This run's
 * messages and their files being written (QID.tmp) are left alone. */
void
spool_state_clean(const char *name, uint64_t run_key, const struct qmsg *(*find)(uint64_t key))
{
	char qid[QID_MAX];
	size_t len = strlen(name);
	if (name[0] == '.')
		return;
	if (len == FMT_QID_LEN + 4 && strcmp(name + FMT_QID_LEN, ".tmp") == 0) {
		memcpy(qid, name, FMT_QID_LEN);
		qid[FMT_QID_LEN] = '\0';
		uint64_t k = msg_id_key(qid);
		if (k && k < run_key)
			unlinkat(spool_dir.state, name, 0); /* left by a crash */
		return;
	}
	uint64_t k = msg_id_key(name);
	if (k && k >= run_key)
		return;
	const struct qmsg *m = k ? find(k) : NULL;
	if (!m || !m->has_state)
		unlinkat(spool_dir.state, name, 0);
}
