/*
 * log.h — relayd's log: one line per event, Postfix-style key=value.
 *
 * log_init()   syslog (facility mail) or stderr (foreground)
 * log_info(), log_warn(), log_err(), log_debug()  one line each, as "relayd"
 * log_smtpd(), log_qmgr(), log_smtp()  one line as relayd/smtpd (inbound
 *              sessions), relayd/qmgr (acceptance, queue), relayd/smtp
 *              (delivery), at a syslog priority (LOG_INFO, LOG_WARNING, ...)
 * log_plain()  a start-up message as the user reads it (FILE:LINE: message)
 * fatal()      log and exit(1): start-up errors and broken invariants only
 * log_format(), log_journal_fd()  the formats and the journal check (tests)
 *
 * Debug lines print only with -v. A line never holds a control character:
 * log.c turns each into '?', so client-supplied text cannot split a line.
 */
#ifndef RELAYD_LOG_H
#define RELAYD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <syslog.h>

/* Where lines go (log.c's header says what each looks like). */
enum log_dest { LOG_DEST_STDERR, LOG_DEST_JOURNAL, LOG_DEST_SYSLOG };

void log_init(const char *ident, bool foreground, bool verbose);
bool log_verbose(void);
void log_pid_refresh(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_smtpd(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_qmgr(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_smtp(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_plain(int pri, const char *msg);
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* One line for DEST into BUF (always NUL-terminated); returns its length. */
size_t log_format(char *buf, size_t size, enum log_dest dest, int pri, const char *ident, long pid,
		  const struct timeval *tv, const char *text);
/* True when FD is the journal's stream ($JOURNAL_STREAM is its dev:inode). */
bool log_journal_fd(int fd);

#endif
