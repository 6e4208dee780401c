/*
 * tls.c — relayd's only OpenSSL code: contexts, handshakes over
 * bufferevents, certificate checks, and failures told in one line.
 *
 * tls_init()              library set-up and the per-connection ex_data slot
 * tls_server_new()        a listener's context: certificate chain, key, floor,
 *                         TLS 1.2 ciphers
 * tls_client_new()        a policy's context: floor, TLS 1.2 ciphers, CA bundle
 * tls_ctx_set_versions()  test hook: a protocol range no policy can ask for
 * tls_ctx_free()          release a context
 * tls_bev_server()        server-side TLS filter over a connected bufferevent
 * tls_bev_client()        client-side TLS filter with SNI and the name checks
 * tls_bev_info()          protocol, cipher and verification of a session
 * tls_bev_error()         why a handshake failed, in one readable line
 *
 * Invariants: every SSL made here carries a struct tls_conn (ex_data, freed
 * with the SSL) holding the first certificate problem, the version of the
 * peer's hello and the OpenSSL errors of the failure, so tls_bev_error() and
 * tls_bev_info() may be called any number of times. A client runs the same
 * chain and name checks at every level; only at level verify does a problem
 * fail the handshake, so no byte of mail goes out over an unverified channel.
 * No function here leaves an error queued on the thread: libevent drains the
 * whole queue into whichever bufferevent fails next, so a leftover would be
 * blamed on the wrong session. *CAUSE strings point to a static buffer that
 * is valid until the next call.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conf/conf.h"
#include "tls/tls.h"

#define TLS_NERR 4 /* OpenSSL errors kept per connection */

/*
 * The TLS 1.2 suites a listener, and an encrypt or verify policy, use when
 * the configuration names none: the "intermediate" profile of Mozilla's
 * Server Side TLS guideline v6.0 (now TLSRef's), that is ECDHE key exchange
 * (forward secrecy) and an AEAD cipher, nothing else: no static-RSA key
 * exchange, no CBC (Lucky13, POODLE-style padding oracles), no SHA-1 MAC.
 * v6.0 dropped the DHE-RSA suites of v5.7: every TLS 1.2 stack that does
 * AES-GCM also does ECDHE, and finite-field DHE only costs the server CPU
 * (CVE-2002-20001, "D(HE)at"). TLS 1.3 suites stay OpenSSL's: all AEAD.
 */
#define TLS_CIPHERS_STRICT                                                                         \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/*
 * Level may: the strict suites first, then whatever else OpenSSL enables by
 * default (CBC, static RSA), never unauthenticated or unencrypted suites.
 * ("DEFAULT" counts only at the start of a list; "ALL:!COMPLEMENTOFDEFAULT"
 * is what it stands for.)
 * A may handshake that fails is retried in plaintext, so refusing an old
 * server's AES128-SHA would not protect the mail, it would send it in the
 * clear: RFC 7435 (opportunistic security) asks for any encryption over
 * none. encrypt and verify promise a good channel and get the strict list.
 */
#define TLS_CIPHERS_MAY TLS_CIPHERS_STRICT ":ALL:!COMPLEMENTOFDEFAULT:!aNULL:!eNULL"

/*
 * Client sessions kept for resumption (tls_ctx_resume()): a direct-mapped
 * table, one slot per hash of the key "SNI|address:port[|TLSA digest]", so
 * it stays bounded whatever the number of destinations; a collision
 * replaces the older session. Only a context's own connections fill it,
 * so a session is only ever offered under the policy it was made under.
 */
#define TLS_SESS_SLOTS 1024

struct tls_sess {
	char *key;	/* NULL: empty slot */
	SSL_SESSION *s; /* our reference */
};

struct tls_ctx {
	SSL_CTX *ssl;
	bool server;
	int min_version;       /* TLS1_2_VERSION, ... */
	int max_version;       /* 0: the newest OpenSSL knows */
	struct tls_sess *sess; /* TLS_SESS_SLOTS; NULL: no resumption */
};

/*
 * Session tickets of every listener: AES-256-CBC + HMAC-SHA256 keys (RFC
 * 5077's recommended construction), made at random in memory, never
 * written anywhere. The current key encrypts; the one before it still
 * decrypts, and such a ticket is renewed. Keys are process-wide so that a
 * reload (new listener contexts) does not invalidate every client's
 * ticket; they turn every TLS_TICKET_SECONDS, and a ticket's lifetime is
 * the same, so every ticket stays usable for its whole lifetime.
 */
#define TLS_TICKET_SECONDS 3600

struct tls_tkey {
	unsigned char name[16], aes[32], hmac[32];
	time_t born; /* 0: none */
};

static struct tls_tkey tls_tkeys[2]; /* [0] the current key, [1] the one before */
static long tls_ticket_seconds = TLS_TICKET_SECONDS;

/* What one connection learnt, for tls_bev_error() and tls_bev_info(). */
struct tls_conn {
	bool server;
	enum conf_tls_level level;
	int min_version, max_version;
	int peer_version;	     /* legacy_version of the peer's hello; 0: none seen */
	long verr;		     /* first certificate problem; X509_V_OK: none */
	char vdetail[256];	     /* " (...)" saying what verr was about, or "" */
	char want[256];		     /* the names the certificate must match */
	unsigned long err[TLS_NERR]; /* OpenSSL errors, oldest first */
	int nerr;
	char skey[320];		 /* the resumption key (struct tls_sess); "": none */
	struct bufferevent *bev; /* the filter; freeing it frees the SSL and this */
};

static int tls_conn_idx = -1;
static char tls_cause_buf[512];
static enum tls_fault tls_fault_last; /* of the last *CAUSE */

/* Free a connection's record along with its SSL. */
static void
tls_conn_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

/* Set up OpenSSL and the ex_data slot; safe to call again. */
int
tls_init(void)
{
	if (tls_conn_idx != -1)
		return 0;
	if (OPENSSL_init_ssl(0, NULL) != 1)
		return -1;
	tls_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_conn_exfree);
	/* For tests: turn the ticket keys faster than once an hour. */
	const char *ts = getenv("RELAYD_TLS_TICKET_SECONDS");
	if (ts != NULL && atol(ts) > 0)
		tls_ticket_seconds = atol(ts);
	return tls_conn_idx == -1 ? -1 : 0;
}

/* The version of the OpenSSL relayd runs with (not the headers'). */
const char *
tls_library(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

/* Format *CAUSE into the static buffer. */
static void __attribute__((format(printf, 2, 3))) tls_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_cause_buf, sizeof(tls_cause_buf), fmt, ap);
	va_end(ap);
	if (cause != NULL)
		*cause = tls_cause_buf;
	tls_fault_last = TLS_FAULT_OTHER;
}

/* Which setting the last *CAUSE is about. */
enum tls_fault
tls_fault(void)
{
	return tls_fault_last;
}

/* "TLSv1.2" for TLS1_2_VERSION and so on. */
static const char *
tls_version_name(int v)
{
	switch (v) {
	case SSL3_VERSION:
		return "SSLv3";
	case TLS1_VERSION:
		return "TLSv1.0";
	case TLS1_1_VERSION:
		return "TLSv1.1";
	case TLS1_2_VERSION:
		return "TLSv1.2";
	case TLS1_3_VERSION:
		return "TLSv1.3";
	default:
		return v < SSL3_VERSION ? "SSLv2 or older" : "an unknown version";
	}
}

/*
 * The queued OpenSSL errors as one reason, and clear the queue: the first
 * error, unless a later one says more (OpenSSL 3.0's decoders report a file
 * that holds no key as "unsupported", then the PEM error that tells why).
 */
static const char *
tls_errstr(const char *what)
{
	static char buf[256];
	unsigned long e, first = 0;
	bool nopem = false, encrypted = false;
	const char *r;

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			nopem = true;
		if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
			encrypted = true;
		if (ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER &&
		    ERR_GET_REASON(e) == ERR_R_UNSUPPORTED)
			nopem = true;
	}
	if (encrypted)
		snprintf(buf, sizeof(buf), "the key is encrypted; relayd needs it unencrypted");
	else if (nopem)
		snprintf(buf, sizeof(buf), "no PEM %s in it", what);
	else if (first == 0)
		snprintf(buf, sizeof(buf), "unknown error");
	else if (ERR_SYSTEM_ERROR(first))
		snprintf(buf, sizeof(buf), "%s", strerror(ERR_GET_REASON(first)));
	else if ((r = ERR_reason_error_string(first)) != NULL)
		snprintf(buf, sizeof(buf), "%s", r);
	else
		snprintf(buf, sizeof(buf), "error %#lx", first);
	return buf;
}

/* 0 when FILE (WHAT: its FAULT) can be opened for reading; else -1 and *CAUSE. */
static int
tls_readable(const char *file, const char *what, enum tls_fault fault, char **cause)
{
	FILE *f = fopen(file, "r");

	if (f == NULL) {
		tls_cause(cause, "cannot load %s %s: %s", what, file, strerror(errno));
		tls_fault_last = fault;
		return -1;
	}
	fclose(f);
	return 0;
}

/* Never prompt for a passphrase: an encrypted key is an error. */
static int
tls_no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* A context with what servers and clients share; NULL and *CAUSE on error. */
static struct tls_ctx *
tls_ctx_new(bool server, int min_version, char **cause)
{
	struct tls_ctx *ctx;
	SSL_CTX *s;

	if (tls_init() == -1) {
		tls_cause(cause, "cannot initialise OpenSSL: %s", tls_errstr("data"));
		return NULL;
	}
	if (min_version != CONF_TLSV12 && min_version != CONF_TLSV13) {
		tls_cause(cause, "bad TLS version %#x: use TLSv1.2 or TLSv1.3", min_version);
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		tls_cause(cause, "out of memory");
		return NULL;
	}
	s = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (s == NULL) {
		tls_cause(cause, "cannot create a TLS context: %s", tls_errstr("data"));
		free(ctx);
		return NULL;
	}
	/*
	 * No renegotiation (a DoS vector), no compression (CRIME). A server
	 * picks from its own list in its own order, so a list widened for
	 * old clients never lets a new one choose a weak suite; but a client
	 * that puts ChaCha20 first (no AES hardware) gets it.
	 */
	SSL_CTX_set_options(
		s,
		SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			(server ? SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA : 0));
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(s, tls_no_password);
	if (SSL_CTX_set_min_proto_version(s, min_version) != 1) {
		tls_cause(cause, "cannot set the TLS version floor: %s", tls_errstr("data"));
		SSL_CTX_free(s);
		free(ctx);
		return NULL;
	}
	ctx->ssl = s;
	ctx->server = server;
	ctx->min_version = min_version;
	return ctx;
}

/* Set CTX's TLS 1.2 suites to LIST; -1 and *CAUSE when OpenSSL knows none in it. */
static int
tls_ctx_ciphers(struct tls_ctx *ctx, const char *list, char **cause)
{
	if (SSL_CTX_set_cipher_list(ctx->ssl, list) != 1) {
		ERR_clear_error();
		tls_cause(cause, "bad cipher list \"%s\": OpenSSL knows no cipher in it", list);
		tls_fault_last = TLS_FAULT_CIPHERS;
		return -1;
	}
	return 0;
}

/* Whether the oldest queued error says the key does not fit the certificate. */
static bool
tls_key_mismatch(void)
{
	unsigned long e = ERR_peek_error();

	return ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
						  ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

/* Make the current ticket key when there is none or it is due to turn; -1
 * when the random generator fails (then no ticket is issued). */
static int
tls_tkey_fresh(time_t now)
{
	struct tls_tkey *k = &tls_tkeys[0];

	if (k->born != 0 && now - k->born < tls_ticket_seconds && now >= k->born)
		return 0;
	/* The one before decrypts for one more period; one older than that
	 * could only hold expired tickets. */
	tls_tkeys[1] =
		k->born != 0 && now - k->born < 2 * tls_ticket_seconds ? *k : (struct tls_tkey){0};
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
		ERR_clear_error();
		*k = (struct tls_tkey){0};
		return -1;
	}
	k->born = now;
	return 0;
}

/* Key HCTX for HMAC-SHA256 with KEY. */
static int
tls_tkey_mac(EVP_MAC_CTX *hctx, unsigned char *key)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * OpenSSL's ticket callback: ENC 1, seal a new ticket with the current
 * key; ENC 0, open one: 1 with the current key, 2 with the one before
 * (OpenSSL then issues a new ticket), 0 for a key we no longer have (a
 * full handshake), -1 on error.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
	      EVP_MAC_CTX *hctx, int enc)
{
	time_t now = time(NULL);

	if (enc) {
		if (tls_tkey_fresh(now) == -1 || RAND_bytes(iv, 16) != 1) {
			ERR_clear_error();
			return -1;
		}
		memcpy(name, tls_tkeys[0].name, 16);
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, tls_tkeys[0].aes, iv) != 1 ||
		    tls_tkey_mac(hctx, tls_tkeys[0].hmac) != 1) {
			ERR_clear_error();
			return -1;
		}
		return 1;
	}
	if (tls_tkey_fresh(now) == -1)
		return 0;
	for (int i = 0; i < 2; i++) {
		struct tls_tkey *k = &tls_tkeys[i];
		if (k->born == 0 || memcmp(name, k->name, 16) != 0)
			continue;
		if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
		    tls_tkey_mac(hctx, k->hmac) != 1) {
			ERR_clear_error();
			return -1;
		}
		return i == 0 ? 1 : 2;
	}
	return 0;
}

/*
 * Resumption for clients of a listener: stateless tickets only (no
 * server-side cache to grow with the clients), one ticket per handshake
 * (a client keeps one; OpenSSL's default of two costs a second seal),
 * sealed with the rotating keys above, valid as long as a key lives.
 */
static void
tls_server_tickets(SSL_CTX *s)
{
	static const unsigned char sid[] = "relayd";

	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(s, sid, sizeof(sid) - 1);
	SSL_CTX_set_num_tickets(s, 1);
	SSL_CTX_set_timeout(s, tls_ticket_seconds);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(s, tls_ticket_cb);
}

/* A listener's context from CERT (PEM, chain allowed), KEY and CIPHERS. */
struct tls_ctx *
tls_server_new(const char *cert, const char *key, int min_version, const char *ciphers,
	       char **cause)
{
	struct tls_ctx *ctx;

	if (tls_readable(cert, "certificate", TLS_FAULT_CERT, cause) == -1 ||
	    tls_readable(key, "key", TLS_FAULT_KEY, cause) == -1)
		return NULL;
	if ((ctx = tls_ctx_new(true, min_version, cause)) == NULL)
		return NULL;
	if (tls_ctx_ciphers(ctx, ciphers != NULL ? ciphers : TLS_CIPHERS_STRICT, cause) == -1)
		goto fail;
	/*
	 * The default list has no DHE suite; a list that names some needs
	 * DH parameters, or OpenSSL silently never picks them: a built-in
	 * RFC 3526 group as strong as the certificate's key.
	 */
	SSL_CTX_set_dh_auto(ctx->ssl, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cert) != 1) {
		tls_cause(cause, "cannot load certificate %s: %s", cert, tls_errstr("certificate"));
		tls_fault_last = TLS_FAULT_CERT;
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx->ssl, key, SSL_FILETYPE_PEM) != 1) {
		if (tls_key_mismatch()) {
			ERR_clear_error();
			goto mismatch;
		}
		tls_cause(cause, "cannot load key %s: %s", key, tls_errstr("private key"));
		tls_fault_last = TLS_FAULT_KEY;
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx->ssl) != 1) {
		ERR_clear_error();
		goto mismatch;
	}
	tls_server_tickets(ctx->ssl);
	return ctx;

mismatch:
	tls_cause(cause, "certificate and key do not match (%s, %s)", cert, key);
	tls_fault_last = TLS_FAULT_PAIR;
fail:
	tls_ctx_free(ctx);
	return NULL;
}

/*
 * Record the first certificate problem of a client connection and decide:
 * at level verify it ends the handshake, at the others it is only noted.
 */
static int tls_verify_cb(int ok, X509_STORE_CTX *xs);

/* A client context for policy P: floor, TLS 1.2 ciphers, CA bundle. */
struct tls_ctx *
tls_client_new(const struct conf_tls_policy *p, char **cause)
{
	const char *ciphers = p->ciphers;
	struct tls_ctx *ctx;

	if (p->ca_file != NULL && tls_readable(p->ca_file, "CA file", TLS_FAULT_CA, cause) == -1)
		return NULL;
	if ((ctx = tls_ctx_new(false, p->min_version, cause)) == NULL)
		return NULL;
	if (ciphers == NULL)
		ciphers = p->level == TLS_LEVEL_ENCRYPT || p->level == TLS_LEVEL_VERIFY
				  ? TLS_CIPHERS_STRICT
				  : TLS_CIPHERS_MAY; /* dane: may without usable TLSA records */
	if (tls_ctx_ciphers(ctx, ciphers, cause) == -1)
		goto fail;
	/*
	 * The CA is loaded at every level: may and encrypt never fail on the
	 * certificate, but the log still says whether it would have verified.
	 */
	if (p->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx->ssl, p->ca_file, NULL) != 1) {
			tls_cause(cause, "cannot load CA file %s: %s", p->ca_file,
				  tls_errstr("certificate"));
			tls_fault_last = TLS_FAULT_CA;
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx->ssl) != 1) {
		if (p->level == TLS_LEVEL_VERIFY) {
			tls_cause(cause, "cannot load the system CA bundle: %s",
				  tls_errstr("certificate"));
			goto fail;
		}
		ERR_clear_error();
	}
	if ((p->level == TLS_LEVEL_DANE || p->level == TLS_LEVEL_DANE_ONLY) &&
	    SSL_CTX_dane_enable(ctx->ssl) <= 0) {
		tls_cause(cause, "cannot enable DANE: %s", tls_errstr("DANE"));
		goto fail;
	}
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, tls_verify_cb);
	return ctx;

fail:
	tls_ctx_free(ctx);
	return NULL;
}

/*
 * Test hook: allow only MIN..MAX (TLS1_1_VERSION, CONF_TLSV12, ...; 0: no
 * bound). Below TLSv1.2 OpenSSL also wants security level 0. Call it before
 * the context serves any session.
 */
int
tls_ctx_set_versions(struct tls_ctx *ctx, int min, int max)
{
	if (min != 0 && min < TLS1_2_VERSION) {
		SSL_CTX_set_security_level(ctx->ssl, 0);
		if (SSL_CTX_set_cipher_list(ctx->ssl, "DEFAULT:@SECLEVEL=0") != 1) {
			ERR_clear_error();
			return -1;
		}
	}
	if (SSL_CTX_set_min_proto_version(ctx->ssl, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx->ssl, max) != 1) {
		ERR_clear_error();
		return -1;
	}
	ctx->min_version = min;
	ctx->max_version = max;
	return 0;
}

/* Release CTX; sessions still running keep OpenSSL's part alive (and no
 * longer store their sessions anywhere). */
void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_set_app_data(ctx->ssl, NULL);
	if (ctx->sess != NULL) {
		for (size_t i = 0; i < TLS_SESS_SLOTS; i++) {
			free(ctx->sess[i].key);
			SSL_SESSION_free(ctx->sess[i].s);
		}
		free(ctx->sess);
	}
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

/* The slot of KEY (FNV-1a). */
static struct tls_sess *
tls_sess_slot(struct tls_ctx *ctx, const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &ctx->sess[h % TLS_SESS_SLOTS];
}

/*
 * OpenSSL has a new session for a client connection (TLS 1.2: at the end
 * of the handshake; TLS 1.3: each ticket the server sends after it): keep
 * a copy under the connection's key. A copy, because OpenSSL marks the
 * connection's own session not resumable when the connection is freed
 * without a close_notify (relayd closes after QUIT's 221 without one, as
 * Postfix does). Not kept: a connection without a key, or one whose
 * certificate problem OpenSSL did not record in the session (a resumed
 * session says "verified" exactly when the first one did). 0: OpenSSL
 * keeps its own reference.
 */
static int
tls_sess_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_conn *c = SSL_get_ex_data(ssl, tls_conn_idx);
	struct tls_sess *slot;
	SSL_SESSION *copy;
	char *key;

	if (ctx == NULL || ctx->sess == NULL || c == NULL || c->skey[0] == '\0' ||
	    !SSL_SESSION_is_resumable(sess) ||
	    (c->verr != X509_V_OK && SSL_get_verify_result(ssl) == X509_V_OK))
		return 0;
	if ((copy = SSL_SESSION_dup(sess)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	slot = tls_sess_slot(ctx, c->skey);
	if (slot->key == NULL || strcmp(slot->key, c->skey) != 0) {
		if ((key = strdup(c->skey)) == NULL) {
			SSL_SESSION_free(copy);
			return 0;
		}
		free(slot->key);
		slot->key = key;
	}
	SSL_SESSION_free(slot->s);
	slot->s = copy;
	return 0;
}

/* Offer SSL (a copy of) the session kept under C's key, if one is still
 * good; the copy, because a TLS 1.2 resumption makes it the connection's
 * own session, which a close without close_notify spoils. */
static void
tls_sess_offer(struct tls_ctx *ctx, SSL *ssl, struct tls_conn *c)
{
	struct tls_sess *slot;
	SSL_SESSION *copy;

	if (ctx->sess == NULL || c->skey[0] == '\0')
		return;
	slot = tls_sess_slot(ctx, c->skey);
	if (slot->s == NULL || strcmp(slot->key, c->skey) != 0)
		return;
	if (!SSL_SESSION_is_resumable(slot->s) ||
	    (time_t)SSL_SESSION_get_time(slot->s) + (time_t)SSL_SESSION_get_timeout(slot->s) <=
		    time(NULL)) {
		SSL_SESSION_free(slot->s);
		slot->s = NULL;
		return;
	}
	if ((copy = SSL_SESSION_dup(slot->s)) == NULL || SSL_set_session(ssl, copy) != 1)
		ERR_clear_error();
	SSL_SESSION_free(copy); /* SSL keeps its own reference */
}

/* Keep client sessions of CTX for resumption (see struct tls_sess). */
int
tls_ctx_resume(struct tls_ctx *ctx)
{
	if (ctx->server || ctx->sess != NULL)
		return 0;
	if ((ctx->sess = calloc(TLS_SESS_SLOTS, sizeof(*ctx->sess))) == NULL)
		return -1;
	SSL_CTX_set_app_data(ctx->ssl, ctx);
	SSL_CTX_set_session_cache_mode(ctx->ssl,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx->ssl, tls_sess_new_cb);
	return 0;
}

/* C's resumption key: SNI NAME (or ""), the peer's address and port from
 * socket FD (none: no key, no resumption), and EXTRA (the TLSA digest). */
static void
tls_sess_key(struct tls_conn *c, const char *name, int fd, const char *extra)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "";
	int port = 0;

	c->skey[0] = '\0';
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
	} else {
		return;
	}
	snprintf(c->skey, sizeof(c->skey), "%s|%s:%d|%s", name, addr, port, extra);
}

/* Copy LEN bytes of S to OUT as printable ASCII: certificates are peer data. */
static void
tls_safe(char *out, size_t size, const unsigned char *s, size_t len)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; i < len && i < size - 1; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[i] = '\0';
}

/* The common name of NAME, printable, or "" when there is none. */
static void
tls_cn(X509_NAME *name, char *out, size_t size)
{
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	ASN1_STRING *s;

	out[0] = '\0';
	if (i < 0 || (s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))) == NULL)
		return;
	tls_safe(out, size, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

/* Append S to OUT (SIZE bytes), ", "-separated; "..." once it no longer fits. */
static void
tls_append(char *out, size_t size, const char *s)
{
	size_t n = strlen(out), need = strlen(s) + (n ? 2 : 0);

	if (n >= 3 && strcmp(out + n - 3, "...") == 0)
		return;
	if (n + need + 4 >= size) {
		if (n + 4 < size)
			memcpy(out + n, "...", 4);
		return;
	}
	snprintf(out + n, size - n, "%s%s", n ? ", " : "", s);
}

/* The DNS and IP names of CERT's subjectAltName, else its CN. */
static void
tls_cert_names(X509 *cert, char *out, size_t size)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char name[256];
	int i;

	out[0] = '\0';
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int len;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			tls_safe(name, sizeof(name), d, (size_t)len);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if (len != 4 && len != 16)
				continue;
			inet_ntop(len == 4 ? AF_INET : AF_INET6, d, name, sizeof(name));
		} else
			continue;
		tls_append(out, size, name);
	}
	GENERAL_NAMES_free(gens);
	if (out[0] == '\0') {
		tls_cn(X509_get_subject_name(cert), name, sizeof(name));
		tls_append(out, size, name[0] ? name : "no name");
	}
}

/* T as "2020-01-02", or "?" */
static void
tls_date(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, size, "%Y-%m-%d", &tm) == 0)
		snprintf(out, size, "?");
}

/* Say in C->vdetail what the problem ERR of the current certificate is about. */
static void
tls_verify_detail(struct tls_conn *c, X509_STORE_CTX *xs, long err)
{
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);
	char names[128], cn[128], date[32];

	c->vdetail[0] = '\0';
	if (cert == NULL)
		return;
	tls_cn(X509_get_subject_name(cert), cn, sizeof(cn));
	switch (err) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		tls_cert_names(cert, names, sizeof(names));
		snprintf(c->vdetail, sizeof(c->vdetail), " (certificate for %s; want %.60s)", names,
			 c->want);
		break;
	case X509_V_ERR_DANE_NO_MATCH:
		snprintf(c->vdetail, sizeof(c->vdetail), " (certificate \"%s\"; want %.100s)", cn,
			 c->want);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		tls_cn(X509_get_issuer_name(cert), names, sizeof(names));
		snprintf(c->vdetail, sizeof(c->vdetail), " (issuer \"%s\")", names);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		tls_date(X509_get0_notAfter(cert), date, sizeof(date));
		snprintf(c->vdetail, sizeof(c->vdetail), " (\"%s\", not after %s)", cn, date);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		tls_date(X509_get0_notBefore(cert), date, sizeof(date));
		snprintf(c->vdetail, sizeof(c->vdetail), " (\"%s\", not before %s)", cn, date);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		snprintf(c->vdetail, sizeof(c->vdetail), " (\"%s\")", cn);
		break;
	}
}

static int
tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? SSL_get_ex_data(ssl, tls_conn_idx) : NULL;

	if (c == NULL)
		return ok;
	if (!ok && c->verr == X509_V_OK) {
		c->verr = X509_STORE_CTX_get_error(xs);
		tls_verify_detail(c, xs, c->verr);
	}
	return c->level == TLS_LEVEL_VERIFY ? ok : 1;
}

/*
 * Note the version of the peer's hello: when the handshake fails on the
 * version, the error line can name what the peer offered.
 */
static void
tls_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
	   void *arg)
{
	const unsigned char *p = buf;
	struct tls_conn *c = arg;

	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 6 || c->peer_version != 0)
		return;
	if (p[0] == (c->server ? SSL3_MT_CLIENT_HELLO : SSL3_MT_SERVER_HELLO))
		c->peer_version = p[4] << 8 | p[5];
}

/* A new SSL of CTX with its struct tls_conn; NULL when out of memory. */
static SSL *
tls_ssl_new(struct tls_ctx *ctx)
{
	struct tls_conn *c;
	SSL *ssl;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((ssl = SSL_new(ctx->ssl)) == NULL) {
		ERR_clear_error();
		free(c);
		return NULL;
	}
	if (SSL_set_ex_data(ssl, tls_conn_idx, c) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		free(c);
		return NULL;
	}
	c->server = ctx->server;
	c->level = TLS_LEVEL_ENCRYPT;
	c->min_version = ctx->min_version;
	c->max_version = ctx->max_version;
	c->verr = X509_V_OK;
	SSL_set_msg_callback(ssl, tls_msg_cb);
	SSL_set_msg_callback_arg(ssl, c);
	return ssl;
}

/*
 * Once the handshake is done, a peer that closes without close_notify
 * (common after QUIT) is a plain EOF. A filter learns of the close from the
 * plain bufferevent, and libevent calls that an error unless told to allow
 * dirty shutdowns; told so from the start, it would also report a failed
 * handshake as an EOF (OpenSSL 3.0 returns 0 there, which libevent 2.1
 * takes for a dirty close). So it is told when the handshake is done.
 */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct tls_conn *c;

	if ((where & SSL_CB_HANDSHAKE_DONE) && (c = SSL_get_ex_data(ssl, tls_conn_idx)) &&
	    c->bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
}

/* The filter bufferevent over UNDER; libevent frees SSL if it fails. */
static struct bufferevent *
tls_bev_new(struct event_base *base, struct bufferevent *under, SSL *ssl, bool server)
{
	struct tls_conn *c = SSL_get_ex_data(ssl, tls_conn_idx);
	struct bufferevent *bev;

	SSL_set_info_callback(ssl, tls_info_cb);
	bev = bufferevent_openssl_filter_new(
		base, under, ssl, server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		ERR_clear_error();
	else
		c->bev = bev;
	return bev;
}

/* Server-side TLS over UNDER (STARTTLS or SMTPS). */
struct bufferevent *
tls_bev_server(struct event_base *base, struct bufferevent *under, struct tls_ctx *ctx)
{
	SSL *ssl = tls_ssl_new(ctx);

	if (ssl == NULL)
		return NULL;
	return tls_bev_new(base, under, ssl, true);
}

static SSL *tls_client_ssl(struct tls_ctx *ctx, const struct conf_tls_policy *policy,
			   const char *host, int fd);

/* Whether S is an IPv4 or IPv6 literal. */
static bool
tls_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Client-side TLS over UNDER: SNI HOST, and the names POLICY wants checked. */
struct bufferevent *
tls_bev_client(struct event_base *base, struct bufferevent *under, struct tls_ctx *ctx,
	       const struct conf_tls_policy *policy, const char *host)
{
	SSL *ssl = tls_client_ssl(ctx, policy, host, bufferevent_getfd(under));
	return ssl ? tls_bev_new(base, under, ssl, false) : NULL;
}

/* Client-side TLS on a socket of its own (connect it with
 * bufferevent_socket_connect()): for the HTTPS of MTA-STS. */
struct bufferevent *
tls_bev_client_socket(struct event_base *base, struct tls_ctx *ctx,
		      const struct conf_tls_policy *policy, const char *host)
{
	SSL *ssl = tls_client_ssl(ctx, policy, host, -1);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	SSL_set_info_callback(ssl, tls_info_cb);
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		ERR_clear_error();
	else
		((struct tls_conn *)SSL_get_ex_data(ssl, tls_conn_idx))->bev = bev;
	return bev;
}

/* A client SSL of CTX for HOST under POLICY (SNI, the names to check),
 * offered the session kept for HOST at the peer of socket FD (-1: none). */
static SSL *
tls_client_ssl(struct tls_ctx *ctx, const struct conf_tls_policy *policy, const char *host, int fd)
{
	char name[256] = "";
	struct tls_conn *c;
	X509_VERIFY_PARAM *param;
	SSL *ssl;
	size_t i, n;
	int rc = 1;

	if ((ssl = tls_ssl_new(ctx)) == NULL)
		return NULL;
	c = SSL_get_ex_data(ssl, tls_conn_idx);
	if (policy != NULL)
		c->level = policy->level;
	if (host != NULL) {
		/* "mx.example." and "mx.example" are the same name. */
		snprintf(name, sizeof(name), "%s", host);
		n = strlen(name);
		if (n > 1 && name[n - 1] == '.')
			name[n - 1] = '\0';
	}
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (policy != NULL && policy->nmatch > 0) {
		/* A leading "." makes OpenSSL match any name below it. */
		for (i = 0; i < policy->nmatch && rc == 1; i++) {
			rc = i == 0 ? X509_VERIFY_PARAM_set1_host(param, policy->match[i], 0)
				    : X509_VERIFY_PARAM_add1_host(param, policy->match[i], 0);
			tls_append(c->want, sizeof(c->want), policy->match[i]);
		}
	} else if (name[0] != '\0') {
		if (tls_is_ip(name))
			rc = X509_VERIFY_PARAM_set1_ip_asc(param, name);
		else
			rc = X509_VERIFY_PARAM_set1_host(param, name, 0);
		tls_append(c->want, sizeof(c->want), name);
	}
	/* RFC 6066: no IP literal in SNI. */
	if (rc == 1 && name[0] != '\0' && !tls_is_ip(name))
		rc = SSL_set_tlsext_host_name(ssl, name);
	if (rc != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_cb);
	tls_sess_key(c, name, fd, "");
	tls_sess_offer(ctx, ssl, c);
	return ssl;
}

/* The first 16 bytes of SHA-256 over the N records TLSA, in hex, in OUT. */
static void
tls_tlsa_digest(const struct tls_tlsa *tlsa, size_t n, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	bool ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++) {
		unsigned char head[5] = {tlsa[i].usage, tlsa[i].selector, tlsa[i].mtype,
					 (unsigned char)(tlsa[i].len >> 8),
					 (unsigned char)tlsa[i].len};
		ok = EVP_DigestUpdate(m, head, sizeof(head)) == 1 &&
		     EVP_DigestUpdate(m, tlsa[i].data, tlsa[i].len) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(m, md, &mdlen) == 1 && mdlen >= 16;
	EVP_MD_CTX_free(m);
	if (!ok) {
		ERR_clear_error();
		memset(md, 0, 16); /* "0...0" never matches a real digest's key */
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Client-side TLS over UNDER authenticated by DANE (RFC 7672). */
struct bufferevent *
tls_bev_client_dane(struct event_base *base, struct bufferevent *under, struct tls_ctx *ctx,
		    const char *host, const struct tls_tlsa *tlsa, size_t n)
{
	char name[256];
	struct tls_conn *c;
	size_t i, usable = 0;
	SSL *ssl;

	if ((ssl = tls_ssl_new(ctx)) == NULL)
		return NULL;
	c = SSL_get_ex_data(ssl, tls_conn_idx);
	c->level = TLS_LEVEL_VERIFY; /* a certificate no record matches ends it */
	snprintf(name, sizeof(name), "%s", host);
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	/* The TLSA base domain is the MX host name: the name DANE-TA
	 * certificates must carry, and the SNI. DANE-EE records bind the key
	 * alone (RFC 7672 3.1.1): no name check for them. */
	if (SSL_dane_enable(ssl, name) <= 0) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < n; i++) {
		int rc = SSL_dane_tlsa_add(ssl, tlsa[i].usage, tlsa[i].selector, tlsa[i].mtype,
					   tlsa[i].data, tlsa[i].len);
		if (rc > 0)
			usable++;
		else
			ERR_clear_error(); /* unusable or malformed: skipped */
	}
	snprintf(c->want, sizeof(c->want), "%s (DANE, %zu TLSA record%s)", name, usable,
		 usable == 1 ? "" : "s");
	if (usable == 0) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_cb);
	/* A session is only resumed under the very records that authenticated
	 * it: their digest is part of the key. */
	char digest[2 * 16 + 1];
	tls_tlsa_digest(tlsa, n, digest);
	tls_sess_key(c, name, bufferevent_getfd(under), digest);
	tls_sess_offer(ctx, ssl, c);
	return tls_bev_new(base, under, ssl, false);
}

/* The struct tls_conn of BEV, or NULL when BEV is not ours. */
static struct tls_conn *
tls_conn_of(struct bufferevent *bev, SSL **sslp)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	*sslp = ssl;
	return ssl ? SSL_get_ex_data(ssl, tls_conn_idx) : NULL;
}

/* The reason a certificate failed, e.g. "hostname mismatch (...)". */
static void
tls_verify_text(struct tls_conn *c, SSL *ssl, char *buf, size_t len)
{
	long v = c->verr != X509_V_OK ? c->verr : SSL_get_verify_result(ssl);

	snprintf(buf, len, "%s%s", X509_verify_cert_error_string(v),
		 c->verr != X509_V_OK ? c->vdetail : "");
}

/* Facts about an established TLS bufferevent. */
void
tls_bev_info(struct bufferevent *bev, struct tls_info *info)
{
	struct tls_conn *c;
	char why[256];
	X509 *peer;
	SSL *ssl;

	memset(info, 0, sizeof(*info));
	if ((c = tls_conn_of(bev, &ssl)) == NULL) {
		snprintf(info->protocol, sizeof(info->protocol), "none");
		snprintf(info->verify, sizeof(info->verify), "not verified: no TLS");
		return;
	}
	snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(ssl));
	info->resumed = SSL_session_reused(ssl) == 1;
	if ((peer = SSL_get0_peer_certificate(ssl)) == NULL) {
		snprintf(info->verify, sizeof(info->verify), "not verified: no peer certificate");
		return;
	}
	tls_cn(X509_get_subject_name(peer), info->peer_cn, sizeof(info->peer_cn));
	if (c->server) {
		snprintf(info->verify, sizeof(info->verify), "not verified: not checked");
	} else if (c->verr == X509_V_OK && SSL_get_verify_result(ssl) == X509_V_OK) {
		info->verified = true;
		snprintf(info->verify, sizeof(info->verify), "verified");
	} else {
		tls_verify_text(c, ssl, why, sizeof(why));
		snprintf(info->verify, sizeof(info->verify), "not verified: %.100s", why);
	}
}

/*
 * Move the errors libevent kept for BEV into C (libevent forgets what it
 * hands out). At a failure it stores the SSL_ERROR_* code (not an OpenSSL
 * error: skipped), then the thread's queue, at most three in all, and
 * hands them back newest first.
 */
static void
tls_conn_drain(struct bufferevent *bev, struct tls_conn *c)
{
	unsigned long e, tmp[8];
	int n = 0;

	while (n < 8 && (e = bufferevent_get_openssl_error(bev)) != 0)
		tmp[n++] = e;
	while (n-- > 0) {
		e = tmp[n];
		if (!(ERR_GET_LIB(e) == 0 && e < 16) && c->nerr < TLS_NERR)
			c->err[c->nerr++] = e;
	}
}

/* The line for a handshake that failed on the protocol version. */
static void
tls_version_error(struct tls_conn *c, int reason, char *buf, size_t len)
{
	const char *who = c->server ? "listener" : "policy";
	const char *min = tls_version_name(c->min_version);

	if (reason == SSL_R_NO_PROTOCOLS_AVAILABLE)
		snprintf(buf, len, "no TLS protocol version available (%s requires %s or later)",
			 who, min);
	else if (c->peer_version != 0 && c->peer_version < c->min_version)
		snprintf(buf, len, "peer offered only %s (%s requires %s or later)",
			 tls_version_name(c->peer_version), who, min);
	else if (c->max_version == 0 || c->max_version >= TLS1_3_VERSION)
		snprintf(buf, len,
			 "peer offered only versions older than %s (%s requires %s or later)", min,
			 who, min);
	else
		snprintf(buf, len,
			 "no TLS protocol version in common with the peer (%s allows %s "
			 "to %s)",
			 who, min, tls_version_name(c->max_version));
}

/* Why the handshake on BEV failed, in one line. */
void
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	char why[sizeof(((struct tls_conn *)0)->vdetail) + 64];
	struct tls_conn *c;
	unsigned long e = 0;
	const char *r;
	int i, reason;
	SSL *ssl;

	if (len == 0)
		return;
	if ((c = tls_conn_of(bev, &ssl)) == NULL) {
		snprintf(buf, len, "not a TLS connection");
		return;
	}
	tls_conn_drain(bev, c);
	for (i = 0; i < c->nerr && e == 0; i++)
		e = c->err[i];
	if (e == 0) {
		if (c->verr != X509_V_OK && c->level == TLS_LEVEL_VERIFY && !c->server) {
			tls_verify_text(c, ssl, why, sizeof(why));
			snprintf(buf, len, "certificate verify failed: %s", why);
		} else
			snprintf(buf, len, "connection closed during the TLS handshake");
		return;
	}
	reason = ERR_GET_REASON(e);
	if (ERR_SYSTEM_ERROR(e)) {
		snprintf(buf, len, "TLS handshake: %s", strerror(reason));
		return;
	}
	if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
		r = ERR_reason_error_string(e);
		snprintf(buf, len, "TLS handshake failed: %s", r ? r : "unknown error");
		return;
	}
	switch (reason) {
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		tls_verify_text(c, ssl, why, sizeof(why));
		snprintf(buf, len, "certificate verify failed: %s", why);
		return;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_UNSUPPORTED_SSL_VERSION:
	case SSL_R_WRONG_SSL_VERSION:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		tls_version_error(c, reason, buf, len);
		return;
	case SSL_R_WRONG_VERSION_NUMBER:
		/* After the hellos it is the record version, not a stranger. */
		if (c->peer_version != 0) {
			tls_version_error(c, reason, buf, len);
			return;
		}
		/* FALLTHROUGH */
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		r = ERR_reason_error_string(e);
		snprintf(buf, len, "peer does not speak TLS (%s)", r ? r : "bad record");
		return;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		snprintf(buf, len, "connection closed during the TLS handshake");
		return;
	case SSL_R_NO_SHARED_CIPHER:
		snprintf(buf, len, "no cipher in common with the peer");
		return;
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		/*
		 * What a server says when it has no cipher for us: with the
		 * strict default list, what an old server running only CBC or
		 * static-RSA suites says to encrypt and verify.
		 */
		if (!c->server) {
			snprintf(buf, len,
				 "peer sent TLS alert: handshake failure (usually no cipher or TLS "
				 "version in common)");
			return;
		}
		break;
	}
	r = ERR_reason_error_string(e);
	if (reason >= SSL_AD_REASON_OFFSET && r != NULL) {
		/* "tlsv1 alert unknown ca" -> "unknown ca" */
		const char *a = strstr(r, "alert ");
		snprintf(buf, len, "peer sent TLS alert: %s", a ? a + 6 : r);
		return;
	}
	snprintf(buf, len, "TLS handshake failed: %s", r ? r : "unknown error");
}
