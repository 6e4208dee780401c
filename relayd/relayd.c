/*
 * relayd.c — the daemon's entry point: flags, start-up, privileges,
 * signals, reload, stop.
 *
 * main()   relayd [-dnvV] [-f FILE]
 *
 * relayd -n loads the configuration and runs check_conf() (check.c) on
 * it; -n -v prints it first (print_conf()). A start runs the same
 * check_conf() before anything else, so `relayd -n` passing means the
 * start gets past what it checks. Both print check_warnings() (a hostname
 * without a dot) as "FILE:LINE: warning: ..." without failing; a reload
 * logs them.
 *
 * Start-up order: configuration and check_conf(); without -d, fork (the
 * parent waits and exits 0 once the child is ready, or with the child's
 * status if it fails, so start-up errors still reach the terminal and the
 * I/O threads are created in the process that keeps running); the I/O
 * threads, DNS and delivery; a check that no relayd answers on the control
 * socket (before the spool is touched); spool recovery; listeners, control
 * socket and metrics listener; then, when started as root with `user` set,
 * the spool is chowned and privileges are dropped for good; last, the
 * child detaches (stdio to /dev/null, logs to syslog). Every start-up
 * error goes to stderr.
 *
 * SIGTERM/SIGINT stop gracefully: listeners close, idle sessions get 421,
 * sessions waiting for the spool get their verdict, outbound connections
 * close (their recipients stay queued), and relayd exits 0 once no spool
 * write is in flight.
 *
 * SIGHUP and `relayctl reload` run relayd_reload(): a new configuration
 * that loads replaces relayd_conf whole; one that does not is logged as
 * FILE:LINE: message and the running one is kept. Old configurations are
 * never freed: sessions and delivery jobs in flight keep pointing into the
 * one they started with (reloads are rare and the struct is small; a
 * reference count can come when that matters). Listeners, the control
 * socket, metrics_listen, spool, user and dns_servers are set up once:
 * changing them needs a restart (a reload says so in the log).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "conf/print.h"
#include "relayd/check.h"
#include "relayd/cluster.h"
#include "relayd/control.h"
#include "relayd/dns.h"
#include "relayd/log.h"
#include "relayd/metrics.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/relayd.h"
#include "relayd/selfcheck.h"
#include "relayd/session.h"
#include "relayd/sts.h"
#include "relayd/tlsreport.h"
#include "relayd/worker.h"

#define WORKER_THREADS 4

static struct event_base *base;
static struct event *stop_timer;
static const char *conf_file = CONF_DEFAULT_FILE;
static bool stopping, verbose;
static int ready_fd = -1; /* without -d: tells the waiting parent we are up */
static uid_t run_uid = (uid_t)-1;
static gid_t run_gid = (gid_t)-1;

static void
usage(void)
{
	fprintf(stderr, "usage: relayd [-dnvV] [-f FILE]\n");
	exit(2);
}

/* conf_load() and check_conf() error callback: FILE:LINE: message on
 * stderr (with its priority when stderr is the journal). */
static void
print_error(void *arg, const char *msg)
{
	log_plain(LOG_ERR, msg);
}

/* check_warnings() callback: the same, with the priority of a warning. */
static void
print_warning(void *arg, const char *msg)
{
	log_plain(LOG_WARNING, msg);
}

/* conf_load() error callback of a reload: log it, keep it for relayctl. */
static void
reload_error(void *arg, const char *msg)
{
	log_err("%s", msg);
	if (arg)
		evbuffer_add_printf(arg, "%s\n", msg);
}

/* check_warnings() callback of a reload: a warning in the log, whose own
 * "warning: " replaces the one after FILE:LINE. */
static void
reload_warning(void *arg, const char *msg)
{
	const char *w = strstr(msg, ": warning: ");

	if (w)
		log_warn("%.*s: %s", (int)(w - msg), msg, w + strlen(": warning: "));
	else
		log_warn("%s", msg);
}

static void
stop_check(evutil_socket_t fd, short what, void *arg)
{
	if (session_idle() && worker_busy() == 0 && queue_idle() && cluster_idle()) {
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
	control_shutdown();
	selfcheck_shutdown();
	metrics_shutdown();
	session_shutdown();
	queue_shutdown();
	mta_shutdown();
	sts_shutdown();
	tlsreport_shutdown();
	cluster_shutdown();
	stop_timer = evtimer_new(base, stop_check, NULL);
	stop_check(-1, 0, NULL);
}

static bool
str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static bool
listen_differ(const struct conf_listen *a, const struct conf_listen *b)
{
	if (str_differ(a->name, b->name) || str_differ(a->address, b->address) ||
	    a->port != b->port || a->tls != b->tls || str_differ(a->tls_cert, b->tls_cert) ||
	    str_differ(a->tls_key, b->tls_key) || a->tls_min_version != b->tls_min_version ||
	    str_differ(a->ciphers, b->ciphers) || a->require_tls != b->require_tls ||
	    str_differ(a->auth_users, b->auth_users) ||
	    a->max_message_size != b->max_message_size || a->max_recipients != b->max_recipients ||
	    a->max_clients != b->max_clients || a->bare_newline != b->bare_newline ||
	    a->timeout != b->timeout || a->auth_fail_limit != b->auth_fail_limit ||
	    a->auth_fail_window != b->auth_fail_window || a->nallow != b->nallow)
		return true;
	return memcmp(a->allow, b->allow, a->nallow * sizeof(*a->allow)) != 0;
}

/* Say which changes of a reload wait for a restart. */
static void
reload_notes(const struct conf *old, const struct conf *c)
{
	static const char *later = "takes effect when relayd is restarted";
	bool dns = old->ndns_servers != c->ndns_servers, lis = old->nlisten != c->nlisten;

	for (size_t i = 0; !dns && i < c->ndns_servers; i++)
		dns = strcmp(old->dns_servers[i], c->dns_servers[i]) != 0;
	for (size_t i = 0; !lis && i < c->nlisten; i++)
		lis = listen_differ(&old->listen[i], &c->listen[i]);
	if (str_differ(old->spool, c->spool))
		log_warn("reload: spool changed; it %s", later);
	if (str_differ(old->control_socket, c->control_socket))
		log_warn("reload: control_socket changed; it %s", later);
	if (str_differ(old->user, c->user))
		log_warn("reload: user changed; it %s", later);
	if (str_differ(old->metrics_listen, c->metrics_listen))
		log_warn("reload: metrics_listen changed; it %s", later);
	if (dns)
		log_warn("reload: dns_servers changed; it %s", later);
	(void)lis; /* session_reload() says what of the listeners needs a restart */
}

/* Warn when the secret FILE (KEY of SECTION "NAME") is readable by others. */
static void
secret_check(const char *section, const char *name, const char *key, const char *file)
{
	struct stat st;

	if (!file || stat(file, &st) == -1)
		return;
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_warn("%s \"%s\": %s %s is readable by %s (mode %04o); chmod 600 it", section,
			 name, key, file, st.st_mode & S_IROTH ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777));
}

static void
secrets_check(const struct conf *c)
{
	for (size_t i = 0; i < c->nlisten; i++) {
		secret_check("listen", c->listen[i].name, "tls_key", c->listen[i].tls_key);
		secret_check("listen", c->listen[i].name, "auth_users", c->listen[i].auth_users);
	}
	for (size_t i = 0; i < c->ntransport; i++)
		secret_check("transport", c->transport[i].name, "auth_password_file",
			     c->transport[i].auth_password_file);
}

/*
 * Re-read the configuration file (SIGHUP, relayctl reload). 0 when the new
 * one is in place; -1 when it has errors: each is logged as FILE:LINE:
 * message, the running configuration stays, and *ERRORS (when ERRORS is
 * not NULL) gets a malloc'd copy of those lines.
 */
static int
relayd_reload(char **errors)
{
	struct evbuffer *eb = evbuffer_new();
	struct conf *c = conf_load(conf_file, reload_error, eb);

	if (!c) {
		log_err("reload failed: keeping the running configuration");
		if (errors && eb) {
			size_t n = evbuffer_get_length(eb);
			if ((*errors = malloc(n + 1)) != NULL) {
				evbuffer_remove(eb, *errors, n);
				(*errors)[n] = '\0';
			}
		}
		if (eb)
			evbuffer_free(eb);
		return -1;
	}
	if (eb)
		evbuffer_free(eb);
	reload_notes(relayd_conf, c);
	secrets_check(c);
	check_warnings(c, reload_warning, NULL);
	/* The old one stays allocated: sessions and jobs may point into it. */
	relayd_conf = c;
	session_reload(c);
	selfcheck_reload();
	tlsreport_reload(c);
	cluster_reload(c);
	mta_dnssec_probe(c);
	log_info("configuration reloaded from %s", conf_file);
	return 0;
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	relayd_reload(NULL);
}

/* Without -d: fork, and let the parent wait for detach_done() or our exit. */
static void
detach_start(void)
{
	int p[2];
	char c;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("cannot detach: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == -1)
		fatal("cannot detach: fork: %s", strerror(errno));
	if (pid > 0) {
		int st;
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		if (n == 1)
			_exit(0);
		while (waitpid(pid, &st, 0) == -1)
			if (errno != EINTR)
				_exit(1);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() == -1)
		fatal("cannot detach: setsid: %s", strerror(errno));
}

/* Start-up went well: drop the terminal, log to syslog, release the parent. */
static void
detach_done(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd == -1)
		fatal("cannot open /dev/null: %s", strerror(errno));
	if (chdir("/") == -1)
		fatal("cannot chdir to /: %s", strerror(errno));
	log_init("relayd", false, verbose);
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	ssize_t n = write(ready_fd, "1", 1);
	(void)n;
	close(ready_fd);
	ready_fd = -1;
}

/* As root with `user` set: find the user to become (before anything is
 * created, so the spool and sockets can be given to it). */
static void
privs_lookup(const struct conf *c)
{
	if (geteuid() != 0) {
		if (c->user)
			log_debug("not started as root: user \"%s\" ignored", c->user);
		return;
	}
	if (!c->user) {
		log_warn("running as root: set `user` to an unprivileged account");
		return;
	}
	errno = 0;
	struct passwd *pw = getpwnam(c->user);
	if (!pw)
		fatal("user \"%s\": %s", c->user, errno ? strerror(errno) : "no such user");
	if (pw->pw_uid == 0)
		fatal("user \"%s\" has uid 0: name an unprivileged account", c->user);
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
}

/* Give SPOOL, its subdirectories and the files in them to the run user:
 * the spool may have been filled by an earlier run as root. */
static void
spool_chown(const char *spool)
{
	static const char *const subdirs[] = {"queue", "state", "tmp", "corrupt", "log"};
	int sfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (sfd == -1 || fchown(sfd, run_uid, run_gid) == -1)
		fatal("cannot give the spool %s to user %s: %s", spool, relayd_conf->user,
		      strerror(errno));
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		int dfd = openat(sfd, subdirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (dfd == -1)
			continue;
		if (fchown(dfd, run_uid, run_gid) == -1)
			fatal("cannot give %s/%s to user %s: %s", spool, subdirs[i],
			      relayd_conf->user, strerror(errno));
		DIR *d = fdopendir(dfd);
		struct dirent *de;
		if (!d) {
			close(dfd);
			continue;
		}
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && fchownat(dirfd(d), de->d_name, run_uid, run_gid,
							     AT_SYMLINK_NOFOLLOW) == -1)
				fatal("cannot give %s/%s/%s to user %s: %s", spool, subdirs[i],
				      de->d_name, relayd_conf->user, strerror(errno));
		closedir(d);
	}
	close(sfd);
}

/* Become the run user for good: groups, gid, uid, and check it sticks. */
static void
privs_drop(void)
{
	if (run_uid == (uid_t)-1)
		return;
	if (setgroups(1, &run_gid) == -1 || setgid(run_gid) == -1 || setuid(run_uid) == -1)
		fatal("cannot drop privileges to user %s: %s", relayd_conf->user, strerror(errno));
	if (setuid(0) != -1 || geteuid() == 0)
		fatal("privileges were not dropped: setuid(0) still works");
	log_info("running as user %s (uid %ld, gid %ld)", relayd_conf->user, (long)run_uid,
		 (long)run_gid);
}

/* relayd [-dnvV] [-f FILE] */
int
main(int argc, char **argv)
{
	bool foreground = false, check = false;
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
	/* stderr until detached, so start-up errors reach the terminal (or,
	 * under systemd, the journal with their priority). */
	log_init("relayd", true, verbose);
	metrics_set_started(time(NULL));

	struct conf *c = conf_load(conf_file, print_error, NULL);
	if (!c)
		return 1;
	if (check) {
		/* The effective configuration, also when this host fails it. */
		int bad = verbose && (print_conf(stdout, c) == -1 || fflush(stdout) == EOF);

		/* Warnings do not fail the check: a start goes ahead too. */
		check_warnings(c, print_warning, NULL);
		if (check_conf(c, print_error, NULL) > 0)
			bad = 1;
		else if (!bad)
			printf("configuration OK\n");
		conf_free(c);
		return bad;
	}
	/* What -n checks, a start checks first: the two cannot disagree. */
	check_warnings(c, print_warning, NULL);
	if (check_conf(c, print_error, NULL) > 0) {
		conf_free(c);
		return 1;
	}
	relayd_conf = c;
	signal(SIGPIPE, SIG_IGN);
	/* Every session is a descriptor: the soft limit (often 1024) must
	 * not be what caps max_clients. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	privs_lookup(c);
	if (!foreground) {
		/* A relative file name must survive the chdir("/") for reloads. */
		static char abs[4096];
		char cwd[4096];
		if (conf_file[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
		    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, conf_file) < sizeof(abs))
			conf_file = abs;
		detach_start();
	}
	log_pid_refresh();

	char *cause = NULL;
	/*
	 * Two priorities: 0 for accepting connections (and so the 220, written
	 * in the accept), 1 (the default) for everything else. A turn of the
	 * loop at priority 1 ends after 1 ms of callbacks, so a new connection
	 * waits for at most the callback running when it came (retry and
	 * listing batches are a few ms at most), never for a whole turn of a
	 * busy loop (issue 13: greetings over 10 ms while a million messages
	 * were listed and retried).
	 */
	struct event_config *ecfg = event_config_new();
	long turn_us = 1000; /* RELAYD_LOOP_TURN_US: for the bench; 0: no limit */
	if (getenv("RELAYD_LOOP_TURN_US"))
		turn_us = strtol(getenv("RELAYD_LOOP_TURN_US"), NULL, 10);
	struct timeval turn = {turn_us / 1000000, turn_us % 1000000};
	if (!ecfg ||
	    (turn_us > 0 && event_config_set_max_dispatch_interval(ecfg, &turn, -1, 1) == -1) ||
	    !(base = event_base_new_with_config(ecfg)) || event_base_priority_init(base, 2) == -1)
		fatal("cannot create the event loop");
	event_config_free(ecfg);
	if (worker_init(base, WORKER_THREADS) == -1)
		fatal("cannot start I/O threads: %s", strerror(errno));
	if (dns_init(base, c, &cause) == -1)
		fatal("%s", cause);
	mta_init(base, queue_release);
	/* Before the spool is touched: a second relayd must not recover it. */
	if (control_probe(c->control_socket, &cause) == -1)
		fatal("%s", cause);
	if (queue_init(base, &cause) == -1)
		fatal("%s", cause);
	if (run_uid != (uid_t)-1)
		spool_chown(c->spool);
	struct stat st;
	if (stat(c->spool, &st) == 0 && (st.st_mode & 077))
		log_warn("spool %s is open to others (mode %04o); chmod 700 it", c->spool,
			 (unsigned)(st.st_mode & 07777));
	if (session_listen(base, c, &cause) == -1)
		fatal("%s", cause);
	if (control_init(base, c->control_socket, run_uid, run_gid, relayd_reload, &cause) == -1)
		fatal("%s", cause);
	if (c->metrics_listen && metrics_init(base, c->metrics_listen, &cause) == -1)
		fatal("%s", cause);
	metrics_set_detours(mta_detours);
	secrets_check(c);
	privs_drop();
	selfcheck_init(base);
	sts_init(base, c);
	tlsreport_init(base, c);
	cluster_init(base, c);
	mta_dnssec_probe(c);

	struct event *ev_term = evsignal_new(base, SIGTERM, on_stop, NULL);
	struct event *ev_int = evsignal_new(base, SIGINT, on_stop, NULL);
	struct event *ev_hup = evsignal_new(base, SIGHUP, on_reload, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);

	if (!foreground)
		detach_done();
	log_info("relayd %s started (%zu queued)", RELAYD_VERSION, queue_count());

	event_base_dispatch(base);

	control_shutdown();
	queue_close();
	worker_shutdown();
	dns_shutdown();
	log_info("relayd stopped");
	return 0;
}
