/*
 * global.c — storage for the current configuration pointer (relayd.h).
 */
#include "relayd/relayd.h"

const struct conf *relayd_conf;
