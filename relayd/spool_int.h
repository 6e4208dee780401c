/*
 * spool_int.h — what the storage's own files share (spool.h is the
 * interface); nothing but relayd/spool*.c includes it.
 */
#ifndef RELAYD_SPOOL_INT_H
#define RELAYD_SPOOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relayd/msg.h"

struct evbuffer;

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

/* The spool's directories, opened by spool_init(). */
struct spool_dirs {
	int queue, tmp, state, log;
};
extern struct spool_dirs spool_dir;

/* spool.c */
void spool_commit_done(void *m); /* worker_post()ed once a commit is decided */
struct qmsg *spool_decode(const char *buf, size_t len, size_t *hlen, const char **why);
struct stat;
char *spool_read_all(int fd, size_t *len, struct stat *st);

/* spool_journal.c */
int spool_journal_start(void);
void spool_journal_stop(void);
int spool_journal_submit(struct qmsg *m); /* -1: no journal thread */
void spool_journal_finish(struct qmsg *m);
int spool_journal_open(const struct qmsg *m);
void spool_journal_list(unsigned **ids, size_t *n);
size_t spool_journal_recover(unsigned id, void (*recovered)(struct qmsg *m));

/* spool_file.c */
void spool_file_recover_tmp(void);
int spool_file_spill(struct qmsg *m);
void spool_file_drop(struct qmsg *m);
void spool_file_commit(void *m); /* worker */
void spool_file_remove(struct qmsg *m);
int spool_file_load(const char *name, struct qmsg **out, const char **why);
void spool_file_list(char ***names, size_t *n);
void spool_file_aside(int dirfd, const char *name, const char *why);

/* spool_state.c */
void spool_state_load(struct qmsg *m);
void spool_state_remove(const struct qmsg *m);
void spool_state_clean(const char *name, uint64_t run_key,
		       const struct qmsg *(*find)(uint64_t key));

#endif
