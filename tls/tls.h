/*
 * tls.h — the only code that calls OpenSSL.
 *
 * tls_init()            library set-up, once
 * tls_library()         the OpenSSL version in use ("OpenSSL 3.0.15 3 Sep 2024")
 * tls_server_new()      a listener's context: certificate, key, floor, ciphers
 * tls_client_new()      a tls_policy's context: floor, ciphers, CA
 * tls_fault()           which setting the last failure of those two is about
 * tls_ctx_set_versions() test hook: a protocol range no policy can ask for
 * tls_ctx_resume()      a client context keeps sessions and resumes them
 * tls_ctx_free()        release a context
 * tls_bev_server()      wrap a connected bufferevent in server-side TLS
 *                       (STARTTLS: filter over the plain one; SMTPS: same)
 * tls_bev_client()      wrap a connected bufferevent in client-side TLS
 *                       with SNI and the name checks of the policy
 * tls_bev_client_dane() the same, authenticated by TLSA records (DANE)
 * tls_bev_client_socket() client-side TLS on its own socket (HTTPS)
 * tls_bev_info()        protocol, cipher, verification result, after the
 *                       handshake
 * tls_bev_error()       one readable line for a failed handshake
 *
 * Sessions only ever see struct tls_ctx and bufferevents; no OpenSSL type
 * leaks out of tls/. A context is immutable once made and may be shared by
 * many sessions (reference counted by OpenSSL itself).
 */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct conf_tls_policy;

struct tls_ctx;

struct tls_info {
	char protocol[16]; /* "TLSv1.3" */
	char cipher[64];   /* "TLS_AES_256_GCM_SHA384" */
	bool verified;	   /* chain and name checked and good */
	char verify[128];  /* "verified", "not verified: self-signed ..." */
	char peer_cn[256]; /* subject CN of the peer certificate, or "" */
	bool resumed;	   /* an earlier session resumed: no full handshake */
};

int tls_init(void);

/* The TLS library's version as it says it (relayd_build_info). */
const char *tls_library(void);

/* What a failed tls_server_new() or tls_client_new() could not use, so a
 * message can point at that key of the configuration. */
enum tls_fault {
	TLS_FAULT_OTHER,   /* OpenSSL itself, the version floor */
	TLS_FAULT_CERT,	   /* the certificate (tls_cert) */
	TLS_FAULT_KEY,	   /* the key (tls_key) */
	TLS_FAULT_PAIR,	   /* a key that is not the certificate's (tls_key) */
	TLS_FAULT_CA,	   /* the CA bundle (ca_file) */
	TLS_FAULT_CIPHERS, /* the cipher list (ciphers) */
};

/* A server context with CERT and KEY (PEM), MIN_VERSION (CONF_TLSV12 or
 * CONF_TLSV13) and the OpenSSL list CIPHERS for TLS 1.2 (NULL: ECDHE with
 * AES-GCM or ChaCha20-Poly1305 only); it prefers its own order. NULL and
 * *CAUSE ("cannot load certificate FILE: ...", "bad cipher list ...") on
 * error; *CAUSE is a static buffer, valid until the next call. */
struct tls_ctx *tls_server_new(const char *cert, const char *key, int min_version,
			       const char *ciphers, char **cause);

/* A client context for policy P: its min_version, its ciphers (unset: the
 * server's default list at levels encrypt and verify; at level may that
 * list first, then OpenSSL's other defaults, so that an old server gets
 * encryption rather than plaintext), and the CA bundle (ca_file, or the
 * system's default paths). NULL and *CAUSE (static, as above: "bad cipher
 * list ...") on error. */
struct tls_ctx *tls_client_new(const struct conf_tls_policy *p, char **cause);

/* Which setting the last *CAUSE of tls_server_new() or tls_client_new()
 * is about. */
enum tls_fault tls_fault(void);

/* Test hook: restrict CTX to protocol versions MIN..MAX (0x0302 for TLSv1.1,
 * CONF_TLSV12, ...; 0: no bound); below TLSv1.2 it also lowers OpenSSL's
 * security level. Only before CTX serves a session. 0, or -1 on error. */
int tls_ctx_set_versions(struct tls_ctx *ctx, int min, int max);

/* Client context CTX keeps the sessions of its connections, one per SNI
 * name, peer address and port (and TLSA records under DANE), and offers
 * each to the next connection with the same key. A session is only offered
 * under the context (so the policy) that made it, and says "verified" on
 * resumption exactly when it did first. 0, or -1 when out of memory. */
int tls_ctx_resume(struct tls_ctx *ctx);

void tls_ctx_free(struct tls_ctx *ctx);

/* Wrap UNDER (connected; its callbacks are taken over) in TLS and start
 * the handshake. The returned bufferevent reports BEV_EVENT_CONNECTED when
 * the handshake is done, BEV_EVENT_ERROR when it failed. After the
 * handshake a peer closing without close_notify is BEV_EVENT_EOF. Freeing
 * it frees UNDER too. NULL on allocation failure. */
struct bufferevent *tls_bev_server(struct event_base *base, struct bufferevent *under,
				   struct tls_ctx *ctx);

/* Client side: HOST is the name connected to (SNI, and the name checked
 * when the policy has no match list); POLICY decides whether the chain and
 * name are checked (level verify) — for other levels the handshake never
 * fails on the certificate. */
struct bufferevent *tls_bev_client(struct event_base *base, struct bufferevent *under,
				   struct tls_ctx *ctx, const struct conf_tls_policy *policy,
				   const char *host);

/* The same on a socket of its own, not yet connected: connect it with
 * bufferevent_socket_connect() (the HTTPS of MTA-STS policy fetches).
 * After the handshake a close without close_notify is an EOF. */
struct bufferevent *tls_bev_client_socket(struct event_base *base, struct tls_ctx *ctx,
					  const struct conf_tls_policy *policy, const char *host);

/* A TLSA record (RFC 6698): DATA is LEN bytes, only read during the call. */
struct tls_tlsa {
	unsigned char usage, selector, mtype;
	const unsigned char *data;
	size_t len;
};

/* Client side authenticated by DANE (RFC 7672): the certificate must
 * match one of the N records TLSA (DANE-EE "3 x x": the key or
 * certificate, no name check; DANE-TA "2 x x": a chain to it and HOST's
 * name; other usages are skipped); no PKIX. HOST is the TLSA base domain
 * and the SNI. NULL on allocation failure or when no record is usable. */
struct bufferevent *tls_bev_client_dane(struct event_base *base, struct bufferevent *under,
					struct tls_ctx *ctx, const char *host,
					const struct tls_tlsa *tlsa, size_t n);

/* Facts about an established TLS bufferevent. */
void tls_bev_info(struct bufferevent *bev, struct tls_info *info);

/* Why the handshake on BEV failed, in one line, e.g.
 * "certificate verify failed: hostname mismatch",
 * "peer offered only TLSv1.1 (policy requires TLSv1.2 or later)",
 * "certificate verify failed: self-signed certificate". */
void tls_bev_error(struct bufferevent *bev, char *buf, size_t len);

#endif
