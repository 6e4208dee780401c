/*
 * job.c — delivery jobs (job.h): memory only.
 */
#include <stdlib.h>
#include <string.h>

#include "relayd/job.h"
#include "relayd/log.h"

/* A job for up to N recipients. */
struct job *
job_new(size_t n, const char *domain)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !(j->rcpt = calloc(n ? n : 1, sizeof(*j->rcpt))) ||
	    !(j->idx = calloc(n ? n : 1, sizeof(*j->idx))) ||
	    (domain && !(j->domain = strdup(domain))))
		fatal("out of memory");
	return j;
}

/* One more recipient. */
void
job_add(struct job *j, const char *addr, size_t idx)
{
	j->rcpt[j->nrcpt] = addr;
	j->idx[j->nrcpt] = idx;
	j->nrcpt++;
}

/* Release J. */
void
job_free(struct job *j)
{
	if (!j)
		return;
	free(j->domain);
	free(j->key);
	free(j->rcpt);
	free(j->idx);
	free(j);
}
