/*
 * relayctl.c — steer a running relayd over its control socket.
 *
 * main()   relayctl [-s SOCKET | -f FILE] COMMAND [ARGS] [--json | --summary] [--now]
 *
 * Options may stand before or after the command (getopt_long() permutes):
 * `relayctl --json queue` is `relayctl queue --json`. The socket is -s
 * SOCKET, or the control_socket of -f FILE; without either, that of
 * /etc/relayd/relayd.conf, and when that file does not exist, the default
 * socket /var/spool/relayd/control.sock. relayctl sends the command and
 * its arguments as one request line and copies the answer (control.h):
 * after "ok" the rest goes to stdout, byte for byte; after "error:
 * MESSAGE" the message and the rest go to stderr. `route` asks the daemon
 * (its live configuration, MX lookups and destination state) and, when
 * none answers and a configuration file was read, answers from that file
 * itself.
 *
 * Exit status: 0 done, 1 error (message on stderr), 2 usage; `check`
 * exits 3 when relayd's first line says so ("ok 3": a result is a problem
 * or unknown).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "conf/conf.h"
#include "relayd/control.h"
#include "relayd/relayd.h"

#define RELAYCTL_TIMEOUT 60	   /* seconds without a byte from relayd */
#define RELAYCTL_CHECK_TIMEOUT 900 /* ... while check --now runs the checks */

static int ctl_timeout = RELAYCTL_TIMEOUT;

/* Each command and how many arguments it takes (max -1: any number). */
static const struct {
	const char *name;
	int min, max;
	int ids; /* 1: QID... or ALL; 2: @DOMAIN as well */
} commands[] = {
	{"queue", 0, 0, 0},	 {"show", 1, 1, 0},	    {"flush", 0, 1, 0},
	{"delete", 1, -1, 1},	 {"hold", 1, -1, 2},	    {"release", 1, -1, 2},
	{"route", 1, 1, 0},	 {"resume", 1, 2, 0},	    {"stats", 0, 0, 0},
	{"reload", 0, 0, 0},	 {"destinations", 0, 0, 0}, {"check", 0, 1, 0},
	{"tls-report", 0, 0, 0}, {"cluster", 0, 0, 0},
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: relayctl [-s SOCKET | -f FILE] COMMAND [ARGS]\n"
		   "commands: queue [--json | --summary], show QID, flush [QID],\n"
		   "          delete QID... | ALL, hold QID... | ALL | @DOMAIN,\n"
		   "          release QID... | ALL | @DOMAIN, route ADDRESS,\n"
		   "          resume TRANSPORT [DESTINATION], destinations [--json],\n"
		   "          stats, reload, check [--now] [--json] [TRANSPORT],\n"
		   "          tls-report [--json], cluster [--json]\n"
		   "options may stand before or after the command\n");
	exit(status);
}

static void
print_error(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

/* Write all of BUF to FD; 0 or -1. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Connect to the control socket at PATH; the fd, or -1 with errno set. */
static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Read from FD into BUF with a timeout; bytes read, 0 at EOF, -1 on error. */
static ssize_t
read_some(int fd, char *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (;;) {
		int rv = poll(&p, 1, ctl_timeout * 1000);
		if (rv == -1 && errno == EINTR)
			continue;
		if (rv == 0) {
			fprintf(stderr, "relayctl: relayd did not answer within %d seconds\n",
				ctl_timeout);
			return -1;
		}
		ssize_t n = read(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fprintf(stderr, "relayctl: reading from relayd: %s\n", strerror(errno));
		return n;
	}
}

/* Send REQUEST on FD and copy the answer; the exit status. */
static int
ctl_run(int fd, const char *request)
{
	static char first[CONTROL_LINE_MAX + 1];
	char buf[16384];
	size_t flen = 0;
	int out = -1, status = 0;
	ssize_t n;

	if (write_all(fd, request, strlen(request)) == -1 || write_all(fd, "\n", 1) == -1) {
		fprintf(stderr, "relayctl: sending to relayd: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read_some(fd, buf, sizeof(buf))) > 0) {
		const char *p = buf;
		size_t len = (size_t)n;
		if (out == -1) {
			char *nl = memchr(buf, '\n', len);
			size_t take = nl ? (size_t)(nl - buf) : len;
			if (flen + take > CONTROL_LINE_MAX) {
				fprintf(stderr, "relayctl: unexpected answer from relayd\n");
				return 1;
			}
			memcpy(first + flen, buf, take);
			flen += take;
			if (!nl)
				continue;
			first[flen] = '\0';
			p = nl + 1;
			len -= take + 1;
			if (strcmp(first, "ok") == 0) {
				out = STDOUT_FILENO;
			} else if (strcmp(first, "ok 3") == 0) {
				out = STDOUT_FILENO;
				status = 3;
			} else if (strncmp(first, "error: ", 7) == 0) {
				fprintf(stderr, "relayctl: %s\n", first + 7);
				out = STDERR_FILENO;
			} else {
				fprintf(stderr, "relayctl: unexpected answer from relayd: %.200s\n",
					first);
				return 1;
			}
		}
		if (len > 0 && write_all(out, p, len) == -1) {
			if (errno != EPIPE)
				fprintf(stderr, "relayctl: writing the output: %s\n",
					strerror(errno));
			return 1;
		}
	}
	if (n == -1)
		return 1;
	if (out == -1) {
		fprintf(stderr, "relayctl: relayd closed the connection without an answer\n");
		return 1;
	}
	return out == STDOUT_FILENO ? status : 1;
}

/* route ADDRESS answered from configuration C, without a daemon. */
static int
route_offline(const struct conf *c, const char *address)
{
	struct evbuffer *out = evbuffer_new();
	const char *cause;
	int rv = 0;

	if (!out) {
		fprintf(stderr, "relayctl: out of memory\n");
		return 1;
	}
	if (control_route(c, address, NULL, out, &cause) == -1) {
		fprintf(stderr, "relayctl: %s\n", cause);
		rv = 1;
	} else if (evbuffer_write(out, STDOUT_FILENO) < 0) {
		rv = 1;
	}
	evbuffer_free(out);
	return rv;
}

/* Are the words of ARGV (ARGC of them) right for a command taking queue
 * ids (IDS 1) or ids and @DOMAINs (IDS 2): ALL alone, "@" with a domain. */
static bool
ids_ok(int argc, char **argv, int ids)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "ALL") == 0 && argc > 1)
			return false;
		if (argv[i][0] == '@' && (ids < 2 || argv[i][1] == '\0'))
			return false;
	}
	return true;
}

/* relayctl [-s SOCKET | -f FILE] COMMAND [ARGS] */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"summary", no_argument, NULL, 'S'},
		{"now", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *file = NULL, *sock = NULL, *opt = NULL, *now = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "f:s:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
		case 'S':
			if (opt && strcmp(opt, ch == 'j' ? "--json" : "--summary") != 0)
				usage(stderr, 2); /* not both */
			opt = ch == 'j' ? "--json" : "--summary";
			break;
		case 'N':
			now = "--now";
			break;
		case 'V':
			printf("relayctl %s\n", RELAYD_VERSION);
			return 0;
		case 'h':
			usage(stdout, 0);
			break;
		default:
			usage(stderr, 2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (file && sock))
		usage(stderr, 2);

	size_t i, nargs = (size_t)argc - 1;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0]) || nargs < (size_t)commands[i].min ||
	    (commands[i].max >= 0 && nargs > (size_t)commands[i].max))
		usage(stderr, 2);
	bool check = strcmp(argv[0], "check") == 0;
	if (opt && strcmp(argv[0], "queue") != 0 &&
	    !((strcmp(argv[0], "destinations") == 0 || check ||
	       strcmp(argv[0], "tls-report") == 0 || strcmp(argv[0], "cluster") == 0) &&
	      strcmp(opt, "--json") == 0))
		usage(stderr, 2); /* --json and --summary are queue's; --json destinations' too */
	if (now && !check)
		usage(stderr, 2); /* --now is check's */
	if (now)
		ctl_timeout = RELAYCTL_CHECK_TIMEOUT;
	if (commands[i].ids && !ids_ok(argc - 1, argv + 1, commands[i].ids))
		usage(stderr, 2);
	bool route = strcmp(argv[0], "route") == 0;

	/* The request: the command line, one line of text. */
	static char request[CONTROL_LINE_MAX + 1];
	size_t len = 0;
	const char *extra[2] = {now, opt};
	for (int k = 0; k < argc + 2; k++) {
		const char *w = k < argc ? argv[k] : extra[k - argc];
		if (!w)
			continue;
		for (const char *p = w; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7F) {
				fprintf(stderr, "relayctl: control characters in \"%s\"\n", w);
				return 1;
			}
		int n = snprintf(request + len, sizeof(request) - len, "%s%s", k ? " " : "", w);
		if (n < 0 || (size_t)n >= sizeof(request) - len) {
			fprintf(stderr, "relayctl: the command is longer than %d bytes\n",
				CONTROL_LINE_MAX);
			return 1;
		}
		len += (size_t)n;
	}

	/* The socket: -s, or -f FILE's, or the default file's, or (that file
	 * missing) the default socket. */
	struct conf *c = NULL;
	bool fallback = false;
	struct stat st;
	if (!sock && !file && stat(CONF_DEFAULT_FILE, &st) == -1 && errno == ENOENT) {
		sock = CONTROL_DEFAULT_SOCKET;
		fallback = true;
	} else if (!sock) {
		file = file ? file : CONF_DEFAULT_FILE;
		c = conf_load(file, print_error, NULL);
		if (!c) {
			fprintf(stderr,
				"relayctl: %s has errors; relayctl -s SOCKET reaches relayd "
				"without reading it\n",
				file);
			return 1;
		}
		sock = c->control_socket;
	}
	signal(SIGPIPE, SIG_IGN);
	int fd = ctl_connect(sock);
	int rv;
	if (fd == -1 && route && c) {
		rv = route_offline(c, argv[1]);
	} else if (fd == -1 && fallback) {
		fprintf(stderr,
			"relayctl: cannot connect to relayd at %s: %s (is relayd running? %s does "
			"not exist, so relayctl tried the default socket; -f FILE or -s SOCKET "
			"names another)\n",
			sock, strerror(errno), CONF_DEFAULT_FILE);
		rv = 1;
	} else if (fd == -1) {
		fprintf(stderr,
			"relayctl: cannot connect to relayd at %s: %s (is relayd running?)\n", sock,
			strerror(errno));
		rv = 1;
	} else {
		rv = ctl_run(fd, request);
		close(fd);
	}
	conf_free(c);
	return rv;
}
