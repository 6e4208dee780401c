/*
 * selfcheck.h — relayd checks its own deliverability (contract-v2 section 3).
 *
 * selfcheck_init()      remember the loop; the first run starts at once
 * selfcheck_reload()    a new configuration: run again with it
 * selfcheck_shutdown()  cancel what is in flight
 * selfcheck_now()       run the checks now (or join the run in progress)
 *                       and call back when it is done
 * selfcheck_cancel()    forget a selfcheck_now() caller (its connection went)
 * selfcheck_write()     the latest results, as relayctl check prints them
 * selfcheck_metrics()   relayd_check_status and relayd_dnsbl_listed samples
 *
 * Per transport, what contract-v2 names: for MX delivery the sending address
 * (public_address, else source_address, else the kernel's choice toward the
 * Internet; a private one is said to be private) in every dnsbl zone, its
 * forward-confirmed reverse DNS and the SPF of every check_senders domain;
 * for a smarthost transport each relay host's addresses: TCP connect and
 * greeting, TLS as the transport's policy says, AUTH tried (then QUIT; no
 * mail), the addresses in every dnsbl zone and SPF. Everything is
 * asynchronous on the event loop (c-ares over relayd's dns_servers,
 * bufferevents for the probes), each probe bounded by the transport's
 * connect_timeout and command_timeout: a check whose DNS or server hangs
 * never holds up delivery. A run's results replace the previous run's when
 * it ends; every change of a result is logged once ("warning: check: ..."
 * when it goes bad, "info" when it is ok again).
 */
#ifndef RELAYD_SELFCHECK_H
#define RELAYD_SELFCHECK_H

#include <stdbool.h>

struct conf;
struct event_base;
struct evbuffer;
struct selfcheck_wait;

void selfcheck_init(struct event_base *base);
void selfcheck_reload(void);
void selfcheck_shutdown(void);

/* Run the checks (or join the run in progress); CB(ARG) once it is done. */
struct selfcheck_wait *selfcheck_now(void (*cb)(void *arg), void *arg);
void selfcheck_cancel(struct selfcheck_wait *w);

/* The latest results of TRANSPORT (NULL: all) into OUT, as text lines or a
 * JSON array. *BAD: some result is a problem or unknown. -1 when TRANSPORT
 * is not a transport of the running configuration. */
int selfcheck_write(struct evbuffer *out, const char *transport, bool json, bool *bad);

/* The metric families relayd_check_status and relayd_dnsbl_listed. */
void selfcheck_metrics(struct evbuffer *out);

#endif
