/*
 * check.c — what a start of relayd needs of this host, checked without
 * side effects (relayd -n, and every start before anything is set up).
 *
 * check_conf()      every problem found, as "FILE:LINE: message" at the key
 * check_warnings()  what a start warns about but does not refuse: a
 *                   hostname (or a transport's helo) without a dot
 *
 * What is checked, and how, with nothing created, bound or written:
 *   user            exists and is not uid 0 (getpwnam())
 *   spool           can be used or created (queue_check(): stat, access)
 *   control_socket  can be created (control_check())
 *   listen          address is one of this host's (getifaddrs()) or a
 *                   wildcard; port is not privileged for a process without
 *                   root or CAP_NET_BIND_SERVICE; tls_cert and tls_key load
 *                   and belong together, ciphers are known (tls_server_new(),
 *                   then freed); auth_users is a readable file
 *   metrics_listen  address and port as for listen
 *   tls_policy      ca_file loads and ciphers are known (tls_client_new())
 *   transport       auth_password_file is readable and not empty;
 *                   source_address is one of this host's
 * Files that relayd reads only after dropping privileges (auth_users,
 * auth_password_file, ca_file) are checked as that user when started as
 * root with `user` set: the effective ids are switched for the check and
 * back. Certificates and the spool are checked as the process itself, as
 * a start uses them before the drop.
 *
 * Not checked, because only doing it tells: whether a port is free (only
 * bind() can say, and during `relayd -n && systemctl restart relayd` the
 * running relayd holds it); whether another relayd answers on the control
 * socket (the running one does; a start refuses then, control_probe());
 * whether the DNS servers answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/value.h"
#include "relayd/check.h"
#include "relayd/control.h"
#include "relayd/log.h"
#include "relayd/queue.h"
#include "tls/tls.h"

#define CAP_NET_BIND_SERVICE_BIT 10 /* linux/capability.h */

/* A problem found, kept until all are sorted into file order. */
struct check_msg {
	size_t file; /* index in struct conf's files; 0: before them all */
	int line;
	int n; /* order of discovery */
	char *msg;
};

/* One check_conf() in progress. */
struct check {
	const struct conf *c;
	struct check_msg *msgs;
	int n;
	const char *as; /* the user files are read as now; NULL: ourselves */
	gid_t *groups;	/* ours, while reading as AS */
	int ngroups;
	gid_t egid;
};

/* Note a problem with KEY of section KIND "NAME" (see conf_where()). */
static void __attribute__((format(printf, 5, 6)))
check_error(struct check *k, const char *kind, const char *name, const char *key, const char *fmt,
	    ...)
{
	struct check_msg *m;
	const char *file;
	char *msg, *full, *p;
	va_list ap;
	int line, rc;

	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc == -1)
		fatal("out of memory");
	conf_where(k->c, kind, name, key, &file, &line);
	if ((line > 0 ? asprintf(&full, "%s:%d: %s", file, line, msg)
		      : asprintf(&full, "%s: %s", file, msg)) == -1)
		fatal("out of memory");
	free(msg);
	/* One error, one line, whatever a value held. */
	for (p = full; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if ((m = reallocarray(k->msgs, (size_t)k->n + 1, sizeof(*m))) == NULL)
		fatal("out of memory");
	k->msgs = m;
	m += k->n++;
	m->file = 0;
	for (size_t i = 0; line > 0 && i < k->c->nfiles; i++)
		if (k->c->files[i] == file)
			m->file = i + 1;
	m->line = line;
	m->n = k->n;
	m->msg = full;
}

static int
check_msg_cmp(const void *a, const void *b)
{
	const struct check_msg *ma = a, *mb = b;

	if (ma->file != mb->file)
		return ma->file < mb->file ? -1 : 1;
	if (ma->line != mb->line)
		return ma->line < mb->line ? -1 : 1;
	return ma->n < mb->n ? -1 : ma->n > mb->n;
}

/* ---- who reads the files ----------------------------------------------- */

/* Read files as user NAME (UID, GID, and GID as the only group, as
 * privs_drop() will set for good) until check_unbecome(). */
static void
check_become(struct check *k, const char *name, uid_t uid, gid_t gid)
{
	k->egid = getegid();
	if ((k->ngroups = getgroups(0, NULL)) < 0 ||
	    (k->groups = calloc((size_t)k->ngroups + 1, sizeof(gid_t))) == NULL ||
	    getgroups(k->ngroups, k->groups) != k->ngroups)
		fatal("cannot read the process's groups: %s", strerror(errno));
	if (setgroups(1, &gid) == -1 || setegid(gid) == -1 || seteuid(uid) == -1)
		fatal("cannot check files as user %s: %s", name, strerror(errno));
	k->as = name;
}

/* Back to our own ids. */
static void
check_unbecome(struct check *k)
{
	if (k->as == NULL)
		return;
	if (seteuid(0) == -1 || setegid(k->egid) == -1 ||
	    setgroups((size_t)k->ngroups, k->groups) == -1)
		fatal("cannot return to root after checking files: %s", strerror(errno));
	free(k->groups);
	k->groups = NULL;
	k->as = NULL;
}

/* " as user NAME" while reading as the run user, else "". */
static const char *
check_as(const struct check *k, char *buf, size_t len)
{
	if (k->as == NULL)
		return "";
	snprintf(buf, len, " as user %s (relayd reads it after dropping privileges)", k->as);
	return buf;
}

/*
 * Can PATH be read as a regular file: 0, or -1 and errno (EISDIR, ENODEV
 * for something else). With FIRST, it must have a first line too, as
 * auth_password_file must (ENODATA when the file is empty).
 */
static int
check_read(const char *path, bool first)
{
	struct stat st;
	char line[8];
	FILE *f;
	int e = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fstat(fileno(f), &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = S_ISDIR(st.st_mode) ? EISDIR : ENODEV;
	/* A few bytes prove it is there; the password itself is not kept. */
	else if (first && fgets(line, sizeof(line), f) == NULL)
		e = ferror(f) ? EIO : ENODATA;
	explicit_bzero(line, sizeof(line));
	fclose(f);
	errno = e;
	return e == 0 ? 0 : -1;
}

/* The reason check_read() failed, in words. */
static const char *
check_read_error(int e)
{
	switch (e) {
	case EISDIR:
		return "it is a directory";
	case ENODEV:
		return "it is not a regular file";
	case ENODATA:
		return "it is empty; put the password on its first line";
	default:
		return strerror(e);
	}
}

/* ---- addresses and ports ----------------------------------------------- */

/* The number in the file PATH (a sysctl under /proc), or DEF. */
static long
check_sysctl(const char *path, long def)
{
	FILE *f = fopen(path, "re");
	long n;

	if (f == NULL)
		return def;
	if (fscanf(f, "%ld", &n) != 1)
		n = def;
	fclose(f);
	return n;
}

/* Can a socket of this process be bound to ADDRESS (an IP literal): a
 * wildcard, an address of one of this host's interfaces (on Linux, any
 * address of a loopback network), or any when non-local binds are allowed.
 * When the interfaces cannot be listed: yes, bind() will tell. */
static bool
check_local(const char *address)
{
	unsigned char a[16], m[16], b[16];
	struct ifaddrs *ifs, *i;
	bool local = false;
	size_t len;
	int fam;

	if (inet_pton(AF_INET, address, a) == 1) {
		fam = AF_INET;
		len = 4;
	} else if (inet_pton(AF_INET6, address, a) == 1) {
		fam = AF_INET6;
		len = 16;
	} else
		return true; /* conf_load() checked the syntax */
	memset(b, 0, sizeof(b));
	if (memcmp(a, b, len) == 0)
		return true;
	if (check_sysctl(fam == AF_INET ? "/proc/sys/net/ipv4/ip_nonlocal_bind"
					: "/proc/sys/net/ipv6/ip_nonlocal_bind",
			 0) == 1)
		return true;
	if (getifaddrs(&ifs) == -1)
		return true;
	for (i = ifs; i != NULL && !local; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != fam)
			continue;
		const void *ia =
			fam == AF_INET
				? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		memcpy(b, ia, len);
		if (memcmp(a, b, len) == 0) {
			local = true;
			continue;
		}
		/* Linux routes all of 127.0.0.0/8 to lo: 127.0.0.3 binds. */
		if (fam != AF_INET || !(i->ifa_flags & IFF_LOOPBACK) || i->ifa_netmask == NULL)
			continue;
		memcpy(m, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, 4);
		local = true;
		for (size_t j = 0; j < 4; j++)
			if ((a[j] & m[j]) != (b[j] & m[j]))
				local = false;
	}
	freeifaddrs(ifs);
	return local;
}

/* The lowest port this process may bind (0: any): root, or a process with
 * CAP_NET_BIND_SERVICE, binds any; others from
 * net.ipv4.ip_unprivileged_port_start (1024 unless changed). */
static long
check_port_floor(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	if (geteuid() == 0)
		return 0;
	if ((f = fopen("/proc/self/status", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "CapEff: %llx", &caps) == 1)
				break;
		fclose(f);
	}
	if (caps & (1ULL << CAP_NET_BIND_SERVICE_BIT))
		return 0;
	return check_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", 1024);
}

/* WHAT ("listen \"main\"", "metrics_listen") on ADDRESS and PORT; problems
 * go to KEY_ADDR and KEY_PORT of KIND "NAME". */
static void
check_bind(struct check *k, const char *what, const char *kind, const char *name,
	   const char *key_addr, const char *key_port, const char *address, int port)
{
	long floor = check_port_floor();

	if (!check_local(address))
		check_error(k, kind, name, key_addr,
			    "%s: address %s is not an address of this host, so relayd could not "
			    "listen on it; use one of its addresses, \"0.0.0.0\" or \"::\"",
			    what, address);
	if (port < floor)
		check_error(k, kind, name, key_port,
			    "%s: port %d needs root (ports below %ld are privileged); start "
			    "relayd as root (it drops to `user` after binding) or use port %ld or "
			    "above",
			    what, port, floor, floor);
}

/* ---- the sections ------------------------------------------------------- */

/* The user relayd drops to: exists, not root. Its ids go to *UID, *GID
 * (left alone when there is none). */
static void
check_user(struct check *k, uid_t *uid, gid_t *gid)
{
	const struct conf *c = k->c;
	struct passwd *pw;

	if (c->user == NULL)
		return;
	errno = 0;
	if ((pw = getpwnam(c->user)) == NULL) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH)
			check_error(k, NULL, NULL, "user", "cannot look up user \"%s\": %s",
				    c->user, strerror(errno));
		else
			check_error(
				k, NULL, NULL, "user",
				"user \"%s\" does not exist; create it (e.g. useradd --system "
				"--home-dir /nonexistent --shell /usr/sbin/nologin %s) or name an "
				"existing unprivileged account",
				c->user, c->user);
		return;
	}
	if (pw->pw_uid == 0) {
		check_error(k, NULL, NULL, "user",
			    "user \"%s\" has uid 0: relayd would keep root's privileges; name an "
			    "unprivileged account",
			    c->user);
		return;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/* Spool, control socket and metrics listener. */
static void
check_global(struct check *k)
{
	const struct conf *c = k->c;
	char *cause = NULL, *host = NULL;
	bool literal;
	int port;

	if (queue_check(c->spool, &cause) == -1)
		check_error(k, NULL, NULL, "spool", "%s", cause);
	if (control_check(c->control_socket, c->spool, &cause) == -1)
		check_error(k, NULL, NULL, c->control_socket ? "control_socket" : "spool", "%s",
			    cause);
	if (c->metrics_listen != NULL &&
	    value_hostport(c->metrics_listen, &host, &port, &literal) == 0) {
		check_bind(k, "metrics_listen", NULL, NULL, "metrics_listen", "metrics_listen",
			   host, port);
		free(host);
	}
}

/* A listener's address, port, certificate and key (as ourselves). */
static void
check_listen(struct check *k, const struct conf_listen *l)
{
	char what[300], *cause = NULL;
	struct tls_ctx *ctx;

	snprintf(what, sizeof(what), "listen \"%s\"", l->name);
	check_bind(k, what, "listen", l->name, "address", "port", l->address, l->port);
	if (l->tls == LISTEN_TLS_NONE)
		return;
	if (tls_init() == -1) {
		check_error(k, "listen", l->name, "tls", "%s: cannot initialise OpenSSL", what);
		return;
	}
	ctx = tls_server_new(l->tls_cert, l->tls_key, l->tls_min_version, l->ciphers, &cause);
	if (ctx != NULL) {
		tls_ctx_free(ctx);
		return;
	}
	switch (tls_fault()) {
	case TLS_FAULT_CERT:
		check_error(k, "listen", l->name, "tls_cert", "%s: %s", what, cause);
		break;
	case TLS_FAULT_KEY:
		check_error(k, "listen", l->name, "tls_key", "%s: %s", what, cause);
		break;
	case TLS_FAULT_PAIR:
		check_error(k, "listen", l->name, "tls_key",
			    "%s: %s; tls_key must be the private key of tls_cert", what, cause);
		break;
	case TLS_FAULT_CIPHERS:
		check_error(k, "listen", l->name, "ciphers", "%s: %s", what, cause);
		break;
	default:
		check_error(k, "listen", l->name, "tls", "%s: %s", what, cause);
		break;
	}
}

/* What relayd reads after dropping privileges: auth_users, password
 * files, CA bundles (as the run user when there is one). */
static void
check_files(struct check *k)
{
	const struct conf *c = k->c;
	char as[300], *cause = NULL;
	size_t i;

	for (i = 0; i < c->nlisten; i++) {
		const struct conf_listen *l = &c->listen[i];

		if (l->auth_users != NULL && check_read(l->auth_users, false) == -1)
			check_error(k, "listen", l->name, "auth_users",
				    "listen \"%s\": cannot read auth_users %s%s: %s", l->name,
				    l->auth_users, check_as(k, as, sizeof(as)),
				    check_read_error(errno));
	}
	/* The built-in policies have no file and OpenSSL's default lists. */
	for (i = CONF_TLS_BUILTINS; i < c->ntls_policy; i++) {
		const struct conf_tls_policy *p = &c->tls_policy[i];
		struct tls_ctx *ctx;

		if (tls_init() == -1)
			break;
		if ((ctx = tls_client_new(p, &cause)) != NULL) {
			tls_ctx_free(ctx);
			continue;
		}
		check_error(k, "tls_policy", p->name,
			    tls_fault() == TLS_FAULT_CA	       ? "ca_file"
			    : tls_fault() == TLS_FAULT_CIPHERS ? "ciphers"
							       : NULL,
			    "tls_policy \"%s\": %s%s", p->name, cause,
			    tls_fault() == TLS_FAULT_CA ? check_as(k, as, sizeof(as)) : "");
	}
	if (c->tls_ca_file != NULL && check_read(c->tls_ca_file, false) == -1)
		check_error(k, NULL, NULL, "tls_ca_file", "cannot read tls_ca_file %s%s: %s",
			    c->tls_ca_file, check_as(k, as, sizeof(as)), check_read_error(errno));
	for (i = 0; i < c->ntransport; i++) {
		const struct conf_transport *t = &c->transport[i];

		if (t->auth_password_file != NULL && check_read(t->auth_password_file, true) == -1)
			check_error(k, "transport", t->name, "auth_password_file",
				    "transport \"%s\": cannot read auth_password_file %s%s: %s",
				    t->name, t->auth_password_file, check_as(k, as, sizeof(as)),
				    check_read_error(errno));
	}
}

/* Hand K's messages to ERR in file order and free them; their number. */
static int
check_emit(struct check *k, void (*err)(void *arg, const char *msg), void *arg)
{
	int n = k->n;

	if (k->n > 1)
		qsort(k->msgs, (size_t)k->n, sizeof(*k->msgs), check_msg_cmp);
	for (int j = 0; j < k->n; j++) {
		if (err != NULL)
			err(arg, k->msgs[j].msg);
		free(k->msgs[j].msg);
	}
	free(k->msgs);
	k->msgs = NULL;
	k->n = 0;
	return n;
}

/* A name an EHLO can carry: with a dot, or an address literal. */
static bool
check_fqdn(const char *name)
{
	return name[0] == '[' || strchr(name, '.') != NULL;
}

/* What a start warns about but does not refuse; see check.h. */
int
check_warnings(const struct conf *c, void (*warn)(void *arg, const char *msg), void *arg)
{
	struct check k = {.c = c};
	const char *file;
	int line;

	/* Receivers refuse an EHLO without a dot (Postfix's
	 * reject_non_fqdn_helo_hostname), and DSNs come from MAILER-DAEMON@ it. */
	if (!check_fqdn(c->hostname)) {
		conf_where(c, NULL, NULL, "hostname", &file, &line);
		check_error(
			&k, NULL, NULL, "hostname",
			"warning: hostname \"%s\"%s has no dot: receivers reject it as the EHLO "
			"name, and bounces would come from MAILER-DAEMON@%s; set hostname to "
			"this host's fully qualified name, e.g. \"relay.example.com\"",
			c->hostname, line > 0 ? "" : " (the system's host name)", c->hostname);
	}
	for (size_t i = 0; i < c->ntransport; i++) {
		const struct conf_transport *t = &c->transport[i];

		if (strcmp(t->helo, c->hostname) != 0 && !check_fqdn(t->helo))
			check_error(&k, "transport", t->name, "helo",
				    "warning: transport \"%s\": helo \"%s\" has no dot: receivers "
				    "reject such an EHLO name; write a fully qualified name or an "
				    "address literal such as \"[192.0.2.1]\"",
				    t->name, t->helo);
	}
	return check_emit(&k, warn, arg);
}

/* Check C against this host; see check.h. */
int
check_conf(const struct conf *c, void (*err)(void *arg, const char *msg), void *arg)
{
	struct check k = {.c = c};
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	size_t i;

	check_user(&k, &uid, &gid);
	check_global(&k);
	for (i = 0; i < c->nlisten; i++)
		check_listen(&k, &c->listen[i]);
	for (i = 0; i < c->ntransport; i++) {
		const struct conf_transport *t = &c->transport[i];

		if (t->source_address != NULL && !check_local(t->source_address))
			check_error(&k, "transport", t->name, "source_address",
				    "transport \"%s\": source_address %s is not an address of this "
				    "host, so no connection could be made from it",
				    t->name, t->source_address);
	}
	if (geteuid() == 0 && uid != (uid_t)-1)
		check_become(&k, c->user, uid, gid);
	check_files(&k);
	check_unbecome(&k);

	return check_emit(&k, err, arg);
}
