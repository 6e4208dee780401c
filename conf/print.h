/*
 * print.h — a struct conf written back as relayd.conf text.
 *
 * print_conf()  the effective configuration: every key, defaults included
 *
 * What print_conf() writes loads with conf_load() into the same
 * configuration, and printing that again gives the same text.
 */
#ifndef CONF_PRINT_H
#define CONF_PRINT_H

#include <stdio.h>

#include "conf/conf.h"

/* Write C to FP in relayd.conf syntax. 0, or -1 when writing failed. */
int print_conf(FILE *fp, const struct conf *c);

#endif
