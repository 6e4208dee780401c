/*
 * worker.c — threads for the blocking half of spool writes.
 *
 * worker_init(), worker_submit(), worker_submit_bg(), worker_defer(),
 * worker_busy(), worker_shutdown()
 *
 * Jobs go on a FIFO under a mutex; threads take them, run work(), put the
 * job on a done list and wake the loop through an eventfd; the loop runs
 * done() callbacks. Background jobs (recipient state, removals) have a FIFO
 * of their own: a thread takes one only when no urgent job (a commit a
 * client waits for) is queued, and at most half the threads run them, so a
 * retry cycle of a large backlog never makes a 250 wait behind it. fsync
 * takes about a millisecond on our disks: it must
 * never run on the event-loop thread, and concurrent fsyncs on ext4 share
 * journal commits, so a handful of threads is a cheap group commit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "relayd/log.h"
#include "relayd/worker.h"

struct job {
	struct job *next;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};

static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cond = PTHREAD_COND_INITIALIZER;
static struct job *w_head, *w_tail; /* to do */
static struct job *b_head, *b_tail; /* to do, in the background */
static int b_running, b_max;	    /* background jobs running; at most */
static struct job *d_head, *d_tail; /* done, for the loop */
static bool w_stop;
static int w_efd = -1;
static struct event *w_ev;
static pthread_t *w_threads;
static int w_nthreads;
static size_t w_busy;
static struct batch *df_cur; /* small jobs of this turn of the loop (worker_defer()) */
static struct event *df_ev;  /* ... submitted at its end */

static void defer_flush(evutil_socket_t fd, short what, void *unused);

static void
push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *
worker_main(void *unused)
{
	pthread_mutex_lock(&w_lock);
	for (;;) {
		while (!w_head && !(b_head && b_running < b_max) && !w_stop)
			pthread_cond_wait(&w_cond, &w_lock);
		bool bg = false;
		struct job *j;
		if (w_head) {
			j = w_head;
			w_head = j->next;
			if (!w_head)
				w_tail = NULL;
		} else if (b_head && (b_running < b_max || w_stop)) {
			j = b_head;
			b_head = j->next;
			if (!b_head)
				b_tail = NULL;
			b_running++;
			bg = true;
		} else {
			break; /* stopping, nothing left */
		}
		pthread_mutex_unlock(&w_lock);

		j->work(j->arg);

		pthread_mutex_lock(&w_lock);
		if (bg) {
			b_running--;
			pthread_cond_signal(&w_cond); /* another may take the next one */
		}
		bool wake = d_head == NULL;
		push(&d_head, &d_tail, j);
		if (wake) {
			uint64_t one = 1;
			ssize_t n = write(w_efd, &one, sizeof(one));
			(void)n;
		}
	}
	pthread_mutex_unlock(&w_lock);
	return NULL;
}

/* Run the done() callbacks of finished jobs on the loop thread. */
static void
worker_drain(evutil_socket_t fd, short what, void *unused)
{
	uint64_t v;
	ssize_t n = read(w_efd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&w_lock);
	struct job *j = d_head;
	d_head = d_tail = NULL;
	pthread_mutex_unlock(&w_lock);
	while (j) {
		struct job *next = j->next;
		if (j->work)
			w_busy--; /* posted completions were never counted */
		if (j->done)
			j->done(j->arg);
		free(j);
		j = next;
	}
}

/* Start NTHREADS threads whose completions run on BASE. */
int
worker_init(struct event_base *base, int nthreads)
{
	w_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w_efd == -1)
		return -1;
	w_ev = event_new(base, w_efd, EV_READ | EV_PERSIST, worker_drain, NULL);
	if (!w_ev || event_add(w_ev, NULL) == -1)
		return -1;
	if (!(df_ev = evtimer_new(base, defer_flush, NULL)))
		return -1;
	b_max = nthreads > 1 ? nthreads / 2 : 1;
	w_threads = calloc((size_t)nthreads, sizeof(*w_threads));
	if (!w_threads)
		return -1;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&w_threads[i], NULL, worker_main, NULL) != 0)
			return -1;
		w_nthreads++;
	}
	return 0;
}

static void
submit(struct job **head, struct job **tail, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	if (!j)
		fatal("worker: out of memory");
	j->work = work;
	j->done = done;
	j->arg = arg;
	w_busy++;
	pthread_mutex_lock(&w_lock);
	push(head, tail, j);
	pthread_cond_signal(&w_cond);
	pthread_mutex_unlock(&w_lock);
}

/* Queue WORK; DONE follows on the loop thread. */
void
worker_submit(void (*work)(void *), void (*done)(void *), void *arg)
{
	submit(&w_head, &w_tail, work, done, arg);
}

/* Queue WORK behind every urgent job, on at most half the threads. */
void
worker_submit_bg(void (*work)(void *), void (*done)(void *), void *arg)
{
	submit(&b_head, &b_tail, work, done, arg);
}

/*
 * Small background jobs (a state file, a removal) given in one turn of the
 * loop go to the threads as one job, and come back as one: a thread is
 * woken once for many files rather than for each (the wake-ups cost 11 %
 * of the loop while a backlog drained, bench/README.md). Each turn's batch
 * is submitted at the end of the turn, or when DEFER_MAX jobs are waiting.
 */
#define DEFER_MAX 256

struct batch {
	size_t n;
	struct job j[DEFER_MAX];
};

static void
batch_work(void *arg)
{
	struct batch *b = arg;
	for (size_t i = 0; i < b->n; i++)
		b->j[i].work(b->j[i].arg);
}

static void
batch_done(void *arg)
{
	struct batch *b = arg;
	for (size_t i = 0; i < b->n; i++)
		if (b->j[i].done)
			b->j[i].done(b->j[i].arg);
	free(b);
}

static void
defer_flush(evutil_socket_t fd, short what, void *unused)
{
	struct batch *b = df_cur;
	df_cur = NULL;
	if (b)
		submit(&b_head, &b_tail, batch_work, batch_done, b);
}

/* worker_submit_bg() for a small job: with the others of this turn. */
void
worker_defer(void (*work)(void *), void (*done)(void *), void *arg)
{
	if (!df_cur) {
		if (!(df_cur = calloc(1, sizeof(*df_cur))))
			fatal("worker: out of memory");
		struct timeval zero = {0, 0};
		evtimer_add(df_ev, &zero);
	}
	struct job *j = &df_cur->j[df_cur->n++];
	j->work = work;
	j->done = done;
	j->arg = arg;
	if (df_cur->n == DEFER_MAX)
		defer_flush(-1, 0, NULL);
}

/* Queue DONE(ARG) for the loop from a worker thread. */
void
worker_post(void (*done)(void *), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	if (!j)
		fatal("worker: out of memory");
	j->work = NULL;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w_lock);
	bool wake = d_head == NULL;
	push(&d_head, &d_tail, j);
	pthread_mutex_unlock(&w_lock);
	if (wake) {
		uint64_t one = 1;
		ssize_t n = write(w_efd, &one, sizeof(one));
		(void)n;
	}
}

/* Jobs whose done() has not run yet. */
size_t
worker_busy(void)
{
	return w_busy + (df_cur ? df_cur->n : 0);
}

/* Let queued jobs finish and join the threads; pending done()s are run. */
void
worker_shutdown(void)
{
	defer_flush(-1, 0, NULL);
	pthread_mutex_lock(&w_lock);
	w_stop = true;
	pthread_cond_broadcast(&w_cond);
	pthread_mutex_unlock(&w_lock);
	for (int i = 0; i < w_nthreads; i++)
		pthread_join(w_threads[i], NULL);
	worker_drain(w_efd, 0, NULL);
	free(w_threads);
	w_threads = NULL;
	w_nthreads = 0;
	if (w_ev)
		event_free(w_ev);
	w_ev = NULL;
	if (df_ev)
		event_free(df_ev);
	df_ev = NULL;
	if (w_efd != -1)
		close(w_efd);
	w_efd = -1;
}
