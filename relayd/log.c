/*
 * log.c — one line per event to syslog (facility mail) or, in the
 * foreground, to stderr with a timestamp.
 *
 * log_init()  choose the destination
 * log_info(), log_warn(), log_err(), log_debug(), fatal()
 *
 * stderr lines are written with one write(2) each so lines from the event
 * loop and the I/O threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "relayd/log.h"

static bool log_fg = true;
static bool log_v;
static const char *log_ident = "relayd";
static long log_pid; /* cached: getpid() on every line adds up */

/* Choose syslog or stderr; called once at start. */
void
log_init(const char *ident, bool foreground, bool verbose)
{
	log_ident = ident;
	log_pid = 0; /* set by log_pid_refresh() after a fork */
	log_fg = foreground;
	log_v = verbose;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* Cache the pid for log lines (call after daemon's fork). */
void
log_pid_refresh(void)
{
	log_pid = (long)getpid();
}

/* True with -v. */
bool
log_verbose(void)
{
	return log_v;
}

static void
log_vline(int pri, const char *level, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_fg) {
		syslog(pri, "%s%s", level, msg);
		return;
	}
	char line[4096 + 128];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ld %s[%ld]: %s%s\n",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), log_ident,
			 log_pid ? log_pid : (long)getpid(), level, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/* An event worth keeping: deliveries, acceptances, state changes. */
void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

/* Something is wrong but relayd carries on. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

/* An operation failed. */
void
log_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_ERR, "error: ", fmt, ap);
	va_end(ap);
}

/* Traces for -v. */
void
log_debug(const char *fmt, ...)
{
	if (!log_v)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_DEBUG, "debug: ", fmt, ap);
	va_end(ap);
}

/* Log and exit(1); for start-up errors and broken invariants. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}
