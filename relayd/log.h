/*
 * log.h — relayd's log: one line per event, Postfix-style key=value.
 *
 * log_init()   syslog (facility mail) or stderr (foreground)
 * log_info(), log_warn(), log_err(), log_debug()  one line each
 * fatal()      log and exit(1): start-up errors and broken invariants only
 *
 * log_debug() prints only with -v. Lines never contain a newline: callers
 * pass text that is already sanitised (remote replies are, see reply.h).
 */
#ifndef RELAYD_LOG_H
#define RELAYD_LOG_H

#include <stdbool.h>

void log_init(const char *ident, bool foreground, bool verbose);
bool log_verbose(void);
void log_pid_refresh(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
