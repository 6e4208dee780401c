/*
 * job.h — a delivery job: the contract between the queue, which owns
 * messages, and mta.c, which delivers them; owned by neither.
 *
 * job_new()   a job of up to N recipients (the owner fills it in)
 * job_add()   one recipient: its address and the owner's index for it
 * job_free()  release it (mta.c, once ops->done() was called, or at stop)
 *
 * The queue builds a job from a message's due recipients that share a
 * destination and hands it to mta_submit(); mta.c reports through OPS: one
 * result() per recipient, then done(). mta.c never sees the queue's types,
 * so neither file includes the other's header in both directions (the
 * dependency is queue -> mta, never back).
 */
#ifndef RELAYD_JOB_H
#define RELAYD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conf_transport;
struct dlv;

struct job_ops {
	/* An fd positioned for reading the stored body (wire form, ending
	 * ".\r\n") at *OFF for *LEN bytes; -1 when it is gone. The caller
	 * owns the fd. */
	int (*body)(void *owner, off_t *off, off_t *len);
	/* Recipient IDX (the owner's index) had outcome D over TRANSPORT. */
	void (*result)(void *owner, size_t idx, const char *transport, const struct dlv *d);
	/* Every recipient of the job had its result. */
	void (*done)(void *owner);
};

struct dest;

struct job {
	const struct job_ops *ops;
	void *owner;
	const char *sender; /* "" for the null sender; the owner keeps it */
	const char **rcpt;  /* addresses; the owner keeps the strings */
	size_t *idx;	    /* the owner's index of each recipient */
	size_t nrcpt;
	uint64_t size;
	int body; /* BODY_* of smtp/cmd.h */
	bool smtputf8;
	const struct conf_transport *transport;
	char *domain;	   /* recipients' domain for MX delivery; NULL for relays */
	char *key;	   /* MX delivery: the destination's key (the domain, or its
			      site: site.h), recipients grouped by it; NULL for relays */
	bool detoured;	   /* TRANSPORT is a fallback already: never detour again */
	struct dest *dest; /* mta.c's: the destination it was given to */
	struct job *next;  /* mta.c's FIFO */
};

/* A job for up to N recipients, with DOMAIN copied (NULL: none). */
struct job *job_new(size_t n, const char *domain);

/* Add recipient ADDR, the owner's IDX. */
void job_add(struct job *j, const char *addr, size_t idx);

void job_free(struct job *j);

#endif
