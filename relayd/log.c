/*
 * log.c — one line per event, to syslog (facility mail) or, in the
 * foreground, to stderr.
 *
 * log_init()  choose the destination
 * log_info(), log_warn(), log_err(), log_debug(), fatal()  as "relayd"
 * log_smtpd(), log_qmgr(), log_smtp()  as relayd/smtpd, relayd/qmgr, relayd/smtp
 * log_plain()  a start-up message without a header
 * log_format(), log_journal_fd()
 *
 * Each line names the part of relayd it comes from, as Postfix's programs
 * do, so Postfix's log tools read it (pflogsumm --syslog-name=relayd). The
 * three destinations (log_format()):
 *   syslog   without -d: the datagram "<PRI>Mmm dd hh:mm:ss IDENT[PID]: text"
 *            that syslog(3) writes, PRI with facility mail, sent to /dev/log
 *            ($RELAYD_SYSLOG_SOCKET instead, for tests). syslog(3) itself
 *            is not used: its identifier is one per process, and this way
 *            every line carries its own. journald and rsyslog take the
 *            priority, facility, identifier and pid from the header and
 *            keep only their own timestamp.
 *   journal  -d with stderr connected to the journal ($JOURNAL_STREAM, as
 *            systemd sets it): "<N>IDENT: text", the sd-daemon(3) priority
 *            prefix; the journal adds the time and pid.
 *   stderr   -d elsewhere: "YYYY-MM-DDThh:mm:ss.mmm IDENT[PID]: text".
 * Warnings, errors, fatal errors and debug traces say so after the header
 * ("warning: ", as Postfix). Control characters in the text become '?'.
 *
 * Every line is one write(2) or one datagram, so lines from the event loop
 * and the I/O threads never interleave. log_init() runs at start and once
 * more when relayd detaches, before the event loop runs; it sets up the
 * socket first and switches the destination last.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "relayd/log.h"

#define LOG_TEXT_MAX 4096

enum log_part { PART_RELAYD, PART_SMTPD, PART_QMGR, PART_SMTP, PART_MAX };

static enum log_dest log_dest = LOG_DEST_STDERR;
static bool log_v;
static char log_names[PART_MAX][64] = {"relayd", "relayd/smtpd", "relayd/qmgr", "relayd/smtp"};
static long log_pid; /* cached: getpid() on every line adds up */
static int log_fd = -1;
static struct sockaddr_un log_sun;

/* True when FD is the journal's stream: systemd sets $JOURNAL_STREAM to
 * "DEVICE:INODE" of the stdout/stderr it connects to the journal. */
bool
log_journal_fd(int fd)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Choose syslog or stderr; called at start and once more when detaching. */
void
log_init(const char *ident, bool foreground, bool verbose)
{
	static const char *const parts[PART_MAX] = {"", "/smtpd", "/qmgr", "/smtp"};

	if (strcmp(log_names[PART_RELAYD], ident) != 0)
		for (int i = 0; i < PART_MAX; i++)
			snprintf(log_names[i], sizeof(log_names[i]), "%s%s", ident, parts[i]);
	log_v = verbose;
	if (foreground) {
		log_dest = log_journal_fd(STDERR_FILENO) ? LOG_DEST_JOURNAL : LOG_DEST_STDERR;
		return;
	}
	const char *path = getenv("RELAYD_SYSLOG_SOCKET");
	if (!path || !*path)
		path = "/dev/log";
	memset(&log_sun, 0, sizeof(log_sun));
	log_sun.sun_family = AF_UNIX;
	snprintf(log_sun.sun_path, sizeof(log_sun.sun_path), "%s", path);
	/* Not connected: each line goes to whoever has the path now, so a
	 * restarted syslog daemon gets the next line without a reconnect. */
	if (log_fd == -1)
		log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	log_dest = LOG_DEST_SYSLOG;
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

static const char *
level_word(int pri)
{
	switch (pri & LOG_PRIMASK) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "fatal: ";
	case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	case LOG_DEBUG:
		return "debug: ";
	}
	return "";
}

/*
 * Format one line of TEXT at priority PRI for DEST into BUF of SIZE bytes:
 * the header (see the top of this file), the level word, TEXT with control
 * characters as '?', and a newline for stderr and the journal. IDENT NULL:
 * no header and no level word (log_plain()). Too long a line is cut, its
 * newline kept. Returns the length, without the NUL.
 */
size_t
log_format(char *buf, size_t size, enum log_dest dest, int pri, const char *ident, long pid,
	   const struct timeval *tv, const char *text)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	int n = 0;

	if (size < 3)
		return 0;
	localtime_r(&tv->tv_sec, &tm);
	if (dest == LOG_DEST_SYSLOG)
		n = snprintf(buf, size, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: %s",
			     LOG_MAIL | (pri & 7), mon[tm.tm_mon], tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ident ? ident : "relayd", pid, level_word(pri));
	else if (dest == LOG_DEST_JOURNAL)
		n = ident ? snprintf(buf, size, "<%d>%s: %s", pri & 7, ident, level_word(pri))
			  : snprintf(buf, size, "<%d>", pri & 7);
	else if (ident)
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld %s[%ld]: %s",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, (long)(tv->tv_usec / 1000), ident, pid, level_word(pri));
	if (n < 0)
		n = 0;
	size_t len = (size_t)n < size - 2 ? (size_t)n : size - 2;
	for (const unsigned char *p = (const unsigned char *)text; *p && len < size - 2; p++)
		buf[len++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
	if (dest != LOG_DEST_SYSLOG)
		buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

static void
log_emit(const char *line, size_t len)
{
	if (log_dest != LOG_DEST_SYSLOG) {
		ssize_t w = write(STDERR_FILENO, line, len);
		(void)w;
		return;
	}
	if (log_fd == -1)
		return;
	/* As syslog(3): no syslog daemon, no line. */
	while (sendto(log_fd, line, len, MSG_NOSIGNAL, (const struct sockaddr *)&log_sun,
		      sizeof(log_sun)) == -1 &&
	       errno == EINTR)
		;
}

static void
log_vline(enum log_part part, int pri, const char *fmt, va_list ap)
{
	char text[LOG_TEXT_MAX], line[LOG_TEXT_MAX + 256];
	struct timeval tv;
	int saved = errno;

	vsnprintf(text, sizeof(text), fmt, ap);
	gettimeofday(&tv, NULL);
	size_t n = log_format(line, sizeof(line), log_dest, pri, log_names[part],
			      log_pid ? log_pid : (long)getpid(), &tv, text);
	log_emit(line, n);
	errno = saved;
}

/* MSG as the user reads it at start-up (relayd.conf:14: message): bare on
 * a terminal, with its priority prefix for the journal. */
void
log_plain(int pri, const char *msg)
{
	char line[LOG_TEXT_MAX + 256];
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (log_dest == LOG_DEST_SYSLOG) {
		log_emit(line, log_format(line, sizeof(line), log_dest, pri, log_names[PART_RELAYD],
					  log_pid ? log_pid : (long)getpid(), &tv, msg));
		return;
	}
	log_emit(line, log_format(line, sizeof(line), log_dest, pri, NULL, 0, &tv, msg));
}

/* An event worth keeping: deliveries, acceptances, state changes. */
void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_RELAYD, LOG_INFO, fmt, ap);
	va_end(ap);
}

/* Something is wrong but relayd carries on. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_RELAYD, LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* An operation failed. */
void
log_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_RELAYD, LOG_ERR, fmt, ap);
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
	log_vline(PART_RELAYD, LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* A line of the inbound sessions (relayd/smtpd) at priority PRI. */
void
log_smtpd(int pri, const char *fmt, ...)
{
	if ((pri & LOG_PRIMASK) == LOG_DEBUG && !log_v)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_SMTPD, pri, fmt, ap);
	va_end(ap);
}

/* A line of the queue: acceptance, notifications, removal (relayd/qmgr). */
void
log_qmgr(int pri, const char *fmt, ...)
{
	if ((pri & LOG_PRIMASK) == LOG_DEBUG && !log_v)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_QMGR, pri, fmt, ap);
	va_end(ap);
}

/* A line of delivery: outcomes, destinations, connections (relayd/smtp). */
void
log_smtp(int pri, const char *fmt, ...)
{
	if ((pri & LOG_PRIMASK) == LOG_DEBUG && !log_v)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_SMTP, pri, fmt, ap);
	va_end(ap);
}

/* Log and exit(1); for start-up errors and broken invariants. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(PART_RELAYD, LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
