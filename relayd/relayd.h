/*
 * relayd.h — the daemon's one global: the current configuration.
 *
 * relayd_conf is swapped whole on reload; a session keeps the pointer it
 * started with. Nothing learnt at run time is ever stored in it.
 */
#ifndef RELAYD_RELAYD_H
#define RELAYD_RELAYD_H

#include "conf/conf.h"

#define RELAYD_VERSION "0.1.0"

extern const struct conf *relayd_conf;

#endif
