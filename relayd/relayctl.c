/*
 * relayctl.c — steer a running relayd, or ask a configuration offline.
 *
 * main()   relayctl [-s SOCKET | -f FILE] COMMAND [ARGS]
 *
 * Exit status: 0 done, 1 error (message on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "relayd/relayd.h"
#include "relayd/route.h"
#include "smtp/cmd.h"

static void
usage(void)
{
	fprintf(stderr, "usage: relayctl [-s SOCKET | -f FILE] COMMAND [ARGS]\n"
			"commands: queue [--json], flush [QID], delete QID, route ADDRESS,\n"
			"          stats, reload\n");
	exit(2);
}

static void
print_error(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static const char *
level_name(enum conf_tls_level l)
{
	switch (l) {
	case TLS_LEVEL_NONE:
		return "none";
	case TLS_LEVEL_MAY:
		return "may";
	case TLS_LEVEL_ENCRYPT:
		return "encrypt";
	case TLS_LEVEL_VERIFY:
		return "verify";
	}
	return "?";
}

/* route ADDRESS: the route pattern, transport and its settings. */
static int
cmd_route(const struct conf *c, const char *address)
{
	const char *domain = cmd_domain(address);
	if (!*domain) {
		fprintf(stderr, "relayctl: %s: not an address with a domain\n", address);
		return 1;
	}
	const struct conf_route *r = route_lookup(c, domain, NULL, 0);
	if (!r) {
		printf("address: %s\nroute: none (refused at RCPT with 550 5.1.2)\n", address);
		return 0;
	}
	const struct conf_transport *t = r->transport;
	printf("address: %s\nroute: %s\ntransport: %s\n", address, r->pattern, t->name);
	if (t->nrelay == 0) {
		printf("relay: MX of %s, port %d\n", domain, t->port);
	} else {
		for (size_t i = 0; i < t->nrelay; i++)
			printf("relay: %s%s%s:%d\n", t->relay[i].literal ? "[" : "", t->relay[i].host,
			       t->relay[i].literal ? "]" : "",
			       t->relay[i].port ? t->relay[i].port : t->port);
	}
	printf("tls: %s (%s)\n", t->tls->name, level_name(t->tls->level));
	printf("smtps: %s\n", t->smtps ? "yes" : "no");
	printf("helo: %s\n", t->helo);
	printf("max_connections: %u\n", t->max_connections);
	printf("max_messages_per_connection: %u\n", t->max_messages_per_connection);
	if (t->rate.n)
		printf("rate: %u per %us\n", t->rate.n, t->rate.interval);
	else
		printf("rate: unlimited\n");
	if (t->fallback)
		printf("fallback: %s (hold %us)\n", t->fallback->name, t->fallback_hold);
	return 0;
}

/* relayctl [-s SOCKET | -f FILE] COMMAND [ARGS] */
int
main(int argc, char **argv)
{
	const char *file = NULL, *sock = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "+f:s:V")) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'V':
			printf("relayctl %s\n", RELAYD_VERSION);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	const char *cmd = argv[0];

	if (strcmp(cmd, "route") == 0) {
		if (argc != 2)
			usage();
		struct conf *c = conf_load(file ? file : CONF_DEFAULT_FILE, print_error, NULL);
		if (!c)
			return 1;
		int rv = cmd_route(c, argv[1]);
		conf_free(c);
		return rv;
	}
	if (strcmp(cmd, "queue") && strcmp(cmd, "flush") && strcmp(cmd, "delete") &&
	    strcmp(cmd, "stats") && strcmp(cmd, "reload"))
		usage();
	(void)sock;
	fprintf(stderr, "relayctl: %s: the control socket is not available in this version\n",
		cmd);
	return 1;
}
