/*
 * metrics.c — Prometheus text exposition at http://metrics_listen/metrics.
 *
 * metrics_init(), metrics_shutdown()   the evhttp server on the loop
 * metrics_render()                     the text of one scrape
 * metrics_set_detours()                where relayd_detours_active comes from
 * metrics_set_started()                when relayd started
 * metrics_label()                      a label value, escaped
 *
 * Families (one HELP and TYPE line each, then their samples):
 *   relayd_messages_received_total                          counter
 *   relayd_recipients_total{transport,status}               counter
 *   relayd_queue_messages                                   gauge
 *   relayd_queue_oldest_age_seconds                         gauge
 *   relayd_sessions{direction="in|out"}                     gauge
 *   relayd_tls_sessions_total{direction="in|out"}           counter
 *   relayd_detours_active                                   gauge
 *   relayd_destinations                                     gauge
 *   relayd_auth_attempts_total{status="ok|failed|blocked"}  counter
 *   relayd_auth_limit_reached_total                         counter
 *   relayd_auth_blocked_addresses                           gauge
 *   relayd_rejects_total{code,reason}                       counter
 *   relayd_delivery_rejects_total{transport,class}          counter
 *   relayd_check_status{transport,check,subject}            gauge (selfcheck.c)
 *   relayd_dnsbl_listed{transport,address,zone}             gauge (selfcheck.c)
 *   relayd_cluster_up, relayd_cluster_nodes                 gauge (cluster.c; with a
 *                                                           cluster section)
 *   relayd_build_info{version,libevent,openssl}             gauge (always 1)
 *   relayd_start_time_seconds                               gauge
 *
 * Only GET and HEAD of /metrics answer 200; any other path is 404. A scrape
 * costs the same whatever the queue's size (the oldest message is the
 * queue's first by id).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "conf/value.h"
#include "relayd/cluster.h"
#include "relayd/dest.h"
#include "relayd/log.h"
#include "relayd/metrics.h"
#include "relayd/mta.h"
#include "relayd/queue.h"
#include "relayd/session.h"
#include "relayd/relayd.h"
#include "relayd/selfcheck.h"
#include "relayd/stats.h"
#include "smtp/classify.h"
#include "tls/tls.h"

#define METRICS_TIMEOUT 10 /* seconds for a scrape's request */

static struct evhttp *m_http;
static size_t (*m_detours)(void);
static time_t m_started;

/* A label value: backslash, double quote and newline escaped. */
void
metrics_label(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* stats_transport_foreach() callback: one relayd_recipients_total sample. */
static void
put_recipients(void *arg, const char *transport, enum stat_id id, uint64_t value)
{
	struct evbuffer *out = arg;

	switch (id) {
	case STAT_SENT:
	case STAT_DEFERRED:
	case STAT_BOUNCED:
	case STAT_EXPIRED:
	case STAT_REROUTED:
		break;
	default:
		return;
	}
	evbuffer_add(out, "relayd_recipients_total{transport=\"", 35);
	metrics_label(out, transport);
	evbuffer_add_printf(out, "\",status=\"%s\"} %llu\n", stats_name(id),
			    (unsigned long long)value);
}

/* stats_reject_foreach() callback: one relayd_rejects_total sample. */
static void
put_reject(void *arg, int code, const char *reason, uint64_t value)
{
	struct evbuffer *out = arg;

	evbuffer_add_printf(out, "relayd_rejects_total{code=\"%d\",reason=\"", code);
	metrics_label(out, reason);
	evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)value);
}

_Static_assert(CLASS_LAST < STATS_CLASS_MAX, "stats keep a counter per class");

/* stats_delivery_reject_foreach() callback: one
 * relayd_delivery_rejects_total sample. */
static void
put_delivery_reject(void *arg, const char *transport, int kind, uint64_t value)
{
	struct evbuffer *out = arg;

	evbuffer_add(out, "relayd_delivery_rejects_total{transport=\"", 41);
	metrics_label(out, transport);
	evbuffer_add_printf(out, "\",class=\"%s\"} %llu\n", classify_name((enum class_kind)kind),
			    (unsigned long long)value);
}

/* Append one scrape's text to OUT. */
int
metrics_render(struct evbuffer *out)
{
	time_t first = 0, now = time(NULL);

	family(out, "relayd_messages_received_total", "counter",
	       "Messages accepted for delivery (250 after DATA), DSNs included.");
	evbuffer_add_printf(out, "relayd_messages_received_total %llu\n",
			    (unsigned long long)stats_get(STAT_RECEIVED));
	family(out, "relayd_recipients_total", "counter",
	       "Recipient delivery outcomes by transport; deferred counts attempts.");
	stats_transport_foreach(put_recipients, out);
	family(out, "relayd_queue_messages", "gauge", "Messages in the queue.");
	evbuffer_add_printf(out, "relayd_queue_messages %zu\n", queue_count());
	/* The smallest id is the oldest message (ids grow with time). */
	const struct qmsg *head = queue_next(NULL);
	if (head)
		first = head->arrival;
	family(out, "relayd_queue_oldest_age_seconds", "gauge",
	       "Age of the oldest queued message; 0 when the queue is empty.");
	evbuffer_add_printf(out, "relayd_queue_oldest_age_seconds %lld\n",
			    first && now > first ? (long long)(now - first) : 0LL);
	family(out, "relayd_sessions", "gauge", "SMTP sessions open now.");
	evbuffer_add_printf(out, "relayd_sessions{direction=\"in\"} %zu\n", session_count());
	evbuffer_add_printf(out, "relayd_sessions{direction=\"out\"} %zu\n", mta_sessions());
	family(out, "relayd_tls_sessions_total", "counter", "SMTP sessions that used TLS.");
	evbuffer_add_printf(out, "relayd_tls_sessions_total{direction=\"in\"} %llu\n",
			    (unsigned long long)stats_get(STAT_TLS_IN));
	evbuffer_add_printf(out, "relayd_tls_sessions_total{direction=\"out\"} %llu\n",
			    (unsigned long long)stats_get(STAT_TLS_OUT));
	family(out, "relayd_tls_resumed_total", "counter",
	       "TLS sessions that resumed an earlier one (no full handshake): inbound with a "
	       "session ticket, outbound with a session kept per destination host.");
	evbuffer_add_printf(out, "relayd_tls_resumed_total{direction=\"in\"} %llu\n",
			    (unsigned long long)stats_get(STAT_TLS_IN_RESUMED));
	evbuffer_add_printf(out, "relayd_tls_resumed_total{direction=\"out\"} %llu\n",
			    (unsigned long long)stats_get(STAT_TLS_OUT_RESUMED));
	family(out, "relayd_detours_active", "gauge",
	       "Destinations whose mail goes to the transport's fallback now.");
	evbuffer_add_printf(out, "relayd_detours_active %zu\n", m_detours ? m_detours() : 0);
	family(out, "relayd_destinations", "gauge",
	       "Destinations relayd keeps now: with mail, connections, or something learnt "
	       "(a hold, back-off, a pause) still in force.");
	evbuffer_add_printf(out, "relayd_destinations %zu\n", dest_count());
	family(out, "relayd_auth_attempts_total", "counter",
	       "Inbound AUTH by outcome: ok (235), failed (535, wrong credentials), blocked "
	       "(454, refused unchecked: auth_fail_limit).");
	evbuffer_add_printf(out, "relayd_auth_attempts_total{status=\"ok\"} %llu\n",
			    (unsigned long long)stats_get(STAT_AUTH_OK));
	evbuffer_add_printf(out, "relayd_auth_attempts_total{status=\"failed\"} %llu\n",
			    (unsigned long long)stats_get(STAT_AUTH_FAILED));
	evbuffer_add_printf(out, "relayd_auth_attempts_total{status=\"blocked\"} %llu\n",
			    (unsigned long long)stats_get(STAT_AUTH_BLOCKED));
	family(out, "relayd_auth_limit_reached_total", "counter",
	       "Times a client address (IPv6: its /64) reached auth_fail_limit.");
	evbuffer_add_printf(out, "relayd_auth_limit_reached_total %llu\n",
			    (unsigned long long)stats_get(STAT_AUTH_LIMIT));
	family(out, "relayd_auth_blocked_addresses", "gauge",
	       "Client addresses (IPv6: /64 networks) refused AUTH now.");
	evbuffer_add_printf(out, "relayd_auth_blocked_addresses %zu\n", session_auth_blocked());
	family(out, "relayd_rejects_total", "counter",
	       "Inbound refusals of MAIL, RCPT or a message, by reply code and reason (each is "
	       "logged as NOQUEUE: reject:).");
	stats_reject_foreach(put_reject, out);
	family(out, "relayd_delivery_rejects_total", "counter",
	       "Recipients refused by a remote server (a 4xx or 5xx reply), by transport and by "
	       "what the reply means (the classification relayctl queue shows: blocklist, "
	       "reputation, unknown_user, ...).");
	stats_delivery_reject_foreach(put_delivery_reject, out);
	selfcheck_metrics(out);
	cluster_metrics(out);
	family(out, "relayd_build_info", "gauge",
	       "Always 1; the labels say which relayd and libraries are running.");
	evbuffer_add_printf(out, "relayd_build_info{version=\"");
	metrics_label(out, RELAYD_VERSION);
	evbuffer_add_printf(out, "\",libevent=\"");
	metrics_label(out, event_get_version());
	evbuffer_add_printf(out, "\",openssl=\"");
	metrics_label(out, tls_library());
	evbuffer_add_printf(out, "\"} 1\n");
	family(out, "relayd_start_time_seconds", "gauge",
	       "When relayd started, in seconds since the Unix epoch.");
	return evbuffer_add_printf(out, "relayd_start_time_seconds %lld\n", (long long)m_started) <
			       0
		       ? -1
		       : 0;
}

static void
serve_metrics(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	if (!body || metrics_render(body) == -1) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		if (body)
			evbuffer_free(body);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void
serve_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
}

/* Serve /metrics on LISTEN. */
int
metrics_init(struct event_base *base, const char *listen, char **cause)
{
	static char err[512];
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), port = 0;
	char *host = NULL, spec[300];
	bool literal;

	if (value_hostport(listen, &host, &port, &literal) == -1 || !literal || port == 0) {
		free(host);
		snprintf(err, sizeof(err), "metrics_listen %s: not an address and port", listen);
		*cause = err;
		return -1;
	}
	snprintf(spec, sizeof(spec), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	free(host);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(err, sizeof(err), "metrics_listen %s: bad address", listen);
		*cause = err;
		return -1;
	}
	struct evconnlistener *l = evconnlistener_new_bind(
		base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		128, (struct sockaddr *)&ss, sslen);
	if (!l) {
		snprintf(err, sizeof(err), "metrics_listen: cannot listen on %s: %s", spec,
			 strerror(errno));
		*cause = err;
		return -1;
	}
	if (!(m_http = evhttp_new(base)) || !evhttp_bind_listener(m_http, l)) {
		if (m_http)
			evhttp_free(m_http);
		else
			evconnlistener_free(l);
		m_http = NULL;
		snprintf(err, sizeof(err), "metrics_listen: cannot start the HTTP server");
		*cause = err;
		return -1;
	}
	evhttp_set_allowed_methods(m_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(m_http, METRICS_TIMEOUT);
	evhttp_set_max_headers_size(m_http, 8192);
	evhttp_set_max_body_size(m_http, 1024);
	evhttp_set_cb(m_http, "/metrics", serve_metrics, NULL);
	evhttp_set_gencb(m_http, serve_other, NULL);
	log_info("metrics on http://%s/metrics", spec);
	return 0;
}

/* Close the metrics listener and its connections. */
void
metrics_shutdown(void)
{
	if (m_http)
		evhttp_free(m_http);
	m_http = NULL;
}

/* Where relayd_detours_active comes from (mta.c's detour table, later). */
void
metrics_set_detours(size_t (*fn)(void))
{
	m_detours = fn;
}

/* When relayd started, for relayd_start_time_seconds. */
void
metrics_set_started(time_t when)
{
	m_started = when;
}
