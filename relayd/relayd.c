/*
 * relayd.c — the daemon's entry point: flags, start-up, signals, stop.
 *
 * main()   relayd [-dnvV] [-f FILE]
 *
 * Start-up order: configuration, spool recovery, listeners, then (without
 * -d) detach; every start-up error goes to stderr before detaching.
 * SIGTERM/SIGINT stop gracefully: listeners close, idle sessions get 421,
 * sessions waiting for the spool get their verdict, outbound connections
 * close (their recipients stay queued), and relayd exits 0 once no spool
 * write is in flight. SIGHUP reloads the configuration.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/relayd.h"
#include "relayd/session.h"
#include "relayd/worker.h"

#define WORKER_THREADS 4

static struct event_base *base;
static struct event *stop_timer;
static const char *conf_file = CONF_DEFAULT_FILE;
static bool stopping;

static void
usage(void)
{
	fprintf(stderr, "usage: relayd [-dnvV] [-f FILE]\n");
	exit(2);
}

static void
print_error(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static void
log_error(void *arg, const char *msg)
{
	log_err("%s", msg);
}

static void
stop_check(evutil_socket_t fd, short what, void *arg)
{
	if (session_idle() && worker_busy() == 0) {
		event_base_loopexit(base, NULL);
		return;
	}
	struct timeval tv = {0, 50000};
	evtimer_add(stop_timer, &tv);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	if (stopping)
		return;
	stopping = true;
	log_info("stopping on signal %d", (int)sig);
	session_shutdown();
	queue_shutdown();
	mta_shutdown();
	stop_timer = evtimer_new(base, stop_check, NULL);
	stop_check(-1, 0, NULL);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct conf *c = conf_load(conf_file, log_error, NULL);
	if (!c) {
		log_err("reload failed: keeping the running configuration");
		return;
	}
	/* Sessions and queued jobs may still point into the old one: it is
	 * kept (a reload is rare and the struct is small). */
	relayd_conf = c;
	log_info("configuration reloaded from %s", conf_file);
}

/* relayd [-dnvV] [-f FILE] */
int
main(int argc, char **argv)
{
	bool foreground = false, check = false, verbose = false;
	int ch;

	while ((ch = getopt(argc, argv, "df:nvV")) != -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 'f':
			conf_file = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("relayd %s\n", RELAYD_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	struct conf *c = conf_load(conf_file, print_error, NULL);
	if (!c)
		return 1;
	if (check) {
		printf("configuration OK\n");
		conf_free(c);
		return 0;
	}
	relayd_conf = c;
	log_init("relayd", foreground, verbose);
	signal(SIGPIPE, SIG_IGN);

	char *cause = NULL;
	base = event_base_new();
	if (!base)
		fatal("cannot create the event loop");
	if (worker_init(base, WORKER_THREADS) == -1)
		fatal("cannot start I/O threads: %s", strerror(errno));
	if (dns_init(base, c, &cause) == -1)
		fatal("%s", cause);
	mta_init(base);
	if (queue_init(base, &cause) == -1)
		fatal("%s", cause);
	if (session_listen(base, c, &cause) == -1)
		fatal("%s", cause);

	struct event *ev_term = evsignal_new(base, SIGTERM, on_stop, NULL);
	struct event *ev_int = evsignal_new(base, SIGINT, on_stop, NULL);
	struct event *ev_hup = evsignal_new(base, SIGHUP, on_reload, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);

	if (!foreground && daemon(0, 0) == -1)
		fatal("cannot detach: %s", strerror(errno));
	log_info("relayd %s started (%zu queued)", RELAYD_VERSION, queue_count());

	event_base_dispatch(base);

	worker_shutdown();
	dns_shutdown();
	log_info("relayd stopped");
	return 0;
}
