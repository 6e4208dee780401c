/*
 * worker.h — a small pool of threads for blocking disk work (fsync).
 *
 * worker_init()     start N threads bound to an event base
 * worker_submit()   run work(arg) on a thread, then done(arg) on the loop
 * worker_submit_bg() the same in the background: after urgent jobs, on at
 *                   most half the threads (state files, removals)
 * worker_defer()    worker_submit_bg() for a small job: the jobs of one turn
 *                   of the loop go to a thread as one, and come back as one
 * worker_post()     from a worker thread: run done(arg) on the loop
 * worker_busy()     jobs submitted and not yet done
 * worker_shutdown() finish queued jobs, join the threads
 *
 * work() must not touch event-loop state; done() runs on the loop thread,
 * in submission order per thread but not globally.
 */
#ifndef RELAYD_WORKER_H
#define RELAYD_WORKER_H

#include <stddef.h>

struct event_base;

int worker_init(struct event_base *base, int nthreads);
void worker_submit(void (*work)(void *arg), void (*done)(void *arg), void *arg);
void worker_submit_bg(void (*work)(void *arg), void (*done)(void *arg), void *arg);
void worker_defer(void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* From any worker thread: queue DONE(ARG) for the loop thread. For work
 * whose completion comes later than its job (a group commit). */
void worker_post(void (*done)(void *arg), void *arg);
size_t worker_busy(void);
void worker_shutdown(void);

#endif
