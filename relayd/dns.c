/*
 * dns.c — c-ares driven by libevent.
 *
 * dns_init(), dns_shutdown(), dns_addrs(), dns_cancel(), dns_strstatus()
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
 * each gets a libevent event, and one timer follows ares_timeout(). A
 * cancelled query stays allocated until c-ares calls back, then is freed
 * without calling its owner.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "relayd/dns.h"
#include "relayd/log.h"

struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
	struct dns_sock *next;
};

struct dns_query {
	dns_addrs_cb cb;
	void *arg;
	int port;
	enum dns_status st;
	struct dns_addr addrs[32];
	size_t n;
};

static struct event_base *d_base;
static ares_channel d_chan;
static struct event *d_timer;
static struct dns_sock *d_socks;
static bool d_ready;
static bool d_in_call; /* inside dns_addrs(): defer callbacks */

static void dns_rearm(void);

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(d_chan, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_rearm();
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(d_chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm();
}

static void
dns_rearm(void)
{
	struct timeval max = {5, 0}, tv;
	struct timeval *t = ares_timeout(d_chan, &max, &tv);
	evtimer_add(d_timer, t);
}

/* c-ares opens, changes or closes a socket. */
static void
state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock **pp = &d_socks, *s;
	for (; (s = *pp) != NULL; pp = &s->next)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			fatal("out of memory");
		s->fd = fd;
		s->next = d_socks;
		d_socks = s;
	} else {
		event_free(s->ev);
	}
	short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(d_base, fd, what, sock_cb, NULL);
	event_add(s->ev, NULL);
}

/* Set up the resolver for C's dns_servers (or /etc/resolv.conf). */
int
dns_init(struct event_base *base, const struct conf *c, char **cause)
{
	static char err[256];
	struct ares_options opts;

	d_base = base;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		*cause = "cannot initialise c-ares";
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = state_cb;
	opts.timeout = 2000; /* ms per try */
	opts.tries = 2;
	int rc = ares_init_options(&d_chan, &opts,
				   ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, sizeof(err), "cannot initialise the resolver: %s", ares_strerror(rc));
		*cause = err;
		return -1;
	}
	if (c->ndns_servers > 0) {
		char csv[2048] = "";
		size_t o = 0;
		for (size_t i = 0; i < c->ndns_servers && o < sizeof(csv); i++)
			o += (size_t)snprintf(csv + o, sizeof(csv) - o, "%s%s", i ? "," : "",
					      c->dns_servers[i]);
		rc = ares_set_servers_ports_csv(d_chan, csv);
		if (rc != ARES_SUCCESS) {
			snprintf(err, sizeof(err), "bad dns_servers \"%s\": %s", csv,
				 ares_strerror(rc));
			*cause = err;
			return -1;
		}
	}
	d_timer = evtimer_new(base, timer_cb, NULL);
	d_ready = true;
	return 0;
}

/* Stop: pending queries are cancelled without calling their owners. */
void
dns_shutdown(void)
{
	if (!d_ready)
		return;
	ares_destroy(d_chan);
	d_ready = false;
	if (d_timer)
		event_free(d_timer);
	d_timer = NULL;
	while (d_socks) {
		struct dns_sock *s = d_socks;
		d_socks = s->next;
		event_free(s->ev);
		free(s);
	}
	ares_library_cleanup();
}

static enum dns_status
status_of(int rc)
{
	switch (rc) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return DNS_NOTFOUND;
	case ARES_ENODATA:
		return DNS_NODATA;
	default:
		return DNS_TEMPFAIL;
	}
}

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	if (q->cb)
		q->cb(q->arg, q->st, q->addrs, q->n);
	free(q);
}

static void
addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	size_t n = 0;

	if (status == ARES_SUCCESS && res) {
		/* IPv4 first, then IPv6: loopback test set-ups and most MX
		 * hosts answer on v4; c-ares' own order is not stable. */
		for (int fam = 0; fam < 2; fam++)
			for (struct ares_addrinfo_node *nd = res->nodes; nd && n < 32;
			     nd = nd->ai_next) {
				if (nd->ai_family != (fam == 0 ? AF_INET : AF_INET6) ||
				    nd->ai_addrlen > sizeof(q->addrs[n].ss))
					continue;
				memset(&q->addrs[n], 0, sizeof(q->addrs[n]));
				memcpy(&q->addrs[n].ss, nd->ai_addr, nd->ai_addrlen);
				q->addrs[n].len = (socklen_t)nd->ai_addrlen;
				if (fam == 0)
					((struct sockaddr_in *)&q->addrs[n].ss)->sin_port =
						htons((uint16_t)q->port);
				else
					((struct sockaddr_in6 *)&q->addrs[n].ss)->sin6_port =
						htons((uint16_t)q->port);
				n++;
			}
	}
	if (res)
		ares_freeaddrinfo(res);
	q->n = n;
	q->st = status_of(status);
	if (q->st == DNS_OK && n == 0)
		q->st = DNS_NODATA;
	/* Never call the owner from inside dns_addrs(): it has not even got
	 * the query pointer yet. */
	if (d_in_call)
		event_base_once(d_base, -1, EV_TIMEOUT, deliver, q, NULL);
	else
		deliver(-1, 0, q);
}

/* Resolve HOST's A and AAAA records; CB gets the addresses with PORT set. */
struct dns_query *
dns_addrs(const char *host, int port, dns_addrs_cb cb, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	if (!q)
		fatal("out of memory");
	q->cb = cb;
	q->arg = arg;
	q->port = port;
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	d_in_call = true;
	ares_getaddrinfo(d_chan, host, NULL, &hints, addrinfo_cb, q);
	d_in_call = false;
	dns_rearm();
	return q;
}

/* Forget Q: its callback will not run. Only before the callback ran
 * (the owner drops its pointer in the callback). */
void
dns_cancel(struct dns_query *q)
{
	if (q)
		q->cb = NULL;
}

/* Words for a status. */
const char *
dns_strstatus(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NOTFOUND:
		return "host not found";
	case DNS_NODATA:
		return "no address records";
	case DNS_TEMPFAIL:
		return "temporary DNS failure";
	}
	return "?";
}
