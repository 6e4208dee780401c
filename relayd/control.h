/*
 * control.h — the control socket relayctl talks to.
 *
 * control_check()     could control_init() create the socket (changes nothing)
 * control_probe()     does a process already answer on the socket path
 * control_init()      create the socket (0600) and serve it on the loop
 * control_shutdown()  stop serving and remove the socket
 * control_route()     describe the route of an address (daemon and relayctl)
 *
 * Protocol (one connection per command): the client sends one request
 * line, the command and its arguments separated by single spaces, the
 * command's own options after them ("queue --json", "delete QID QID",
 * "hold @example.com"), at most CONTROL_LINE_MAX bytes, ending in LF. The
 * server answers "ok" or "error: MESSAGE" on the first line, then the
 * output (for an error, more lines explaining it), and closes the
 * connection. The protocol is private to relayctl and relayd.
 */
#ifndef RELAYD_CONTROL_H
#define RELAYD_CONTROL_H

#include <sys/types.h>

#include "conf/conf.h"
#include "relayd/dns.h"

/* A request: room for some 3,800 queue ids for delete, hold or release. */
#define CONTROL_LINE_MAX 65536

/* relayctl's socket when it has no configuration file to ask: the default
 * control_socket of the default spool. */
#define CONTROL_DEFAULT_SOCKET CONF_DEFAULT_SPOOL "/control.sock"

struct event_base;
struct evbuffer;

/* Whether control_init() could create a socket at PATH: nothing but a
 * socket is there, and its directory exists and this process can write it
 * (or it is SPOOL, which queue_init() creates first). Whether another
 * relayd answers there is control_probe()'s question. 0, or -1 and *CAUSE
 * (static). */
int control_check(const char *path, const char *spool, char **cause);

/* 0 when nothing answers at PATH; -1 and *CAUSE (static) when a process
 * (most likely another relayd) accepts connections there. */
int control_probe(const char *path, char **cause);

/*
 * Remove a stale socket at PATH, create a new one with mode 0600 owned by
 * UID:GID ((uid_t)-1: leave as created) and serve it on BASE. RELOAD is
 * called for "reload": 0, or -1 with *ERRORS a malloc'd text of one
 * "FILE:LINE: message" line per error. 0, or -1 and *CAUSE (static).
 */
int control_init(struct event_base *base, const char *path, uid_t uid, gid_t gid,
		 int (*reload)(char **errors), char **cause);

/* Stop accepting, drop the connections, remove the socket if it is ours. */
void control_shutdown(void);

/* The MX lookup of the domain `route` was asked about. */
struct control_mx {
	int status; /* enum dns_status */
	const struct dns_mx *mx;
	size_t n;
	bool no_mx; /* no MX lookup: only the TLSA part below says something */
	/* A DANE policy: the TLSA answer for the first host (name[0] == '\0':
	 * not looked up). */
	struct control_tlsa {
		char name[300]; /* "_25._tcp.mx1.example.net" */
		int status;	/* enum dns_status */
		bool secure;
		size_t usable, total;
		char why[128];
	} tlsa;
	/* MX delivery with mta_sts: the domain's MTA-STS policy, when one
	 * applies (mode[0] == '\0': none, or not looked up). */
	struct control_sts {
		char mode[16]; /* "enforce", "testing" */
		char id[40];
		unsigned long max_age;
		char mx[512]; /* the mx patterns, ", " between */
	} sts;
};

/* Append to OUT what `relayctl route ADDRESS` prints under configuration C,
 * the domain's MX hosts known (MX: the lookup's answer, which then decides
 * mx: routes) or not (NULL: a note says an mx: route may apply); 0, or -1
 * and *CAUSE (static) when ADDRESS has no domain. */
int control_route(const struct conf *c, const char *address, const struct control_mx *mx,
		  struct evbuffer *out, const char **cause);

#endif
