/*
 * check.h — what a start of relayd needs of this host, checked without
 * side effects.
 *
 * check_conf()      every such problem of a loaded configuration, each as
 *                   "FILE:LINE: message" at the key concerned
 * check_warnings()  what a start only warns about, "FILE:LINE: warning: ..."
 *
 * relayd -n and every start run it, before anything is created or bound,
 * so the two cannot disagree.
 */
#ifndef RELAYD_CHECK_H
#define RELAYD_CHECK_H

#include "conf/conf.h"

/*
 * Check C against this host: for each problem found call err(arg,
 * "FILE:LINE: message") ("FILE: message" for a global key left at its
 * default). Returns the number of problems; 0 means a start gets past
 * everything checked here. Nothing is created, bound or written.
 */
int check_conf(const struct conf *c, void (*err)(void *arg, const char *msg), void *arg);

/*
 * What a start of C warns about but does not refuse, each given to
 * warn(arg, "FILE:LINE: warning: message"): a hostname without a dot
 * (receivers reject it as EHLO name; "FILE: warning: ..." when it is the
 * system's host name), a transport's helo without a dot that is not an
 * address literal. Returns the number of warnings.
 */
int check_warnings(const struct conf *c, void (*warn)(void *arg, const char *msg), void *arg);

#endif
