/*
 * conf.c — relayd.conf, parsed with libconfuse into an immutable struct conf.
 *
 * conf_load()            parse, check and resolve FILE; NULL after reporting
 *                        every error found as "FILE:LINE: message"
 * conf_free()            release a struct conf
 * conf_transport_find()  the transport of a name, or NULL
 * conf_policy_find()     the tls_policy of a name (built-ins too), or NULL
 * conf_where()           the file and line of a key or section, for the
 *                        messages of checks made later (relayd/check.c)
 *
 * How the line of every error is known. libconfuse keeps only the line it
 * is reading, so every value option is a CFGT_PTR whose parse callback
 * stores a struct conf_val: the string as written, its file and line, and a
 * sequence number. Each section has a hidden value "|at" whose default is
 * parsed the moment the section opens, which records where it starts (no
 * file can set it: libconfuse reads '|' in a name as a path separator).
 * Comments are blanked out before libconfuse sees the text, because
 * libconfuse 3.3 counts lines wrongly after a comment and rejects comments
 * inside lists. include() parses the named file in place, itself, so its
 * text is blanked too and a failure inside it leaks nothing.
 *
 * How all errors are reported. Values are only stored while parsing; they
 * are checked afterwards, so a bad value never stops the parse. A syntax
 * error does stop libconfuse: the values read until then are still
 * checked, but not what could depend on the rest of the file (references,
 * missing keys). The errors are sorted into file order by sequence number
 * before they are handed to the caller. What has no line (a file that
 * cannot be read, no listen section at all) is "FILE: message".
 *
 * Invariants: conf_load() frees the cfg_t and everything it made whatever
 * happens; a struct conf owns all its strings; conf_load() is not
 * reentrant (libconfuse's lexer is global state, and the callbacks find the
 * load in progress through conf_cur).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include <confuse.h>

#include "conf/conf.h"
#include "conf/value.h"

#define CONF_INCLUDE_MAX 8		 /* include() nesting; catches loops */
#define CONF_FILE_MAX (16 * 1024 * 1024) /* no real configuration is near */
#define CONF_AT "|at"			 /* hidden: where a section starts */

/* A value as written, and where. */
struct conf_val {
	char *s;
	const char *file; /* interned in the load */
	int line;
	long seq; /* even: order of appearance, includes in place */
};

struct conf_err {
	long seq; /* position: sorts errors into file order */
	size_t n; /* order of discovery, for equal positions */
	char *msg;
};

/* A section declaration, to catch a name declared twice. */
struct conf_decl {
	char *kind;  /* "listen", "transport", ... */
	char *title; /* NULL for queue */
	const char *file;
	int line;
};

/* One conf_load() in progress. */
struct conf_ctx {
	const char *file;
	struct conf_err *errs;
	size_t nerrs;
	char **files;
	size_t nfiles;
	struct conf_decl *decls;
	size_t ndecls;
	long seq;
	const char *text; /* the (comment-blanked) text being parsed */
	size_t textlen;
	int depth;    /* include() nesting */
	bool partial; /* parse stopped early: skip checks for what is missing */
	bool oom;
};

static struct conf_ctx *conf_cur;

static const char *const conf_builtin_policies[] = {"none",   "may",  "encrypt",
						    "verify", "dane", "dane-only"};

/* ---- errors ---------------------------------------------------------- */

/* Record "FILE:LINE: message"; control characters become '?' so one error
 * stays one line whatever the value held. */
static void
conf_verror(struct conf_ctx *x, const char *file, int line, long seq, const char *fmt, va_list ap)
{
	struct conf_err *e;
	char *msg, *full, *p;

	if (vasprintf(&msg, fmt, ap) == -1) {
		x->oom = true;
		return;
	}
	if ((line > 0 ? asprintf(&full, "%s:%d: %s", file ? file : x->file, line, msg)
		      : asprintf(&full, "%s: %s", file ? file : x->file, msg)) == -1) {
		free(msg);
		x->oom = true;
		return;
	}
	free(msg);
	for (p = full; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if ((e = reallocarray(x->errs, x->nerrs + 1, sizeof(*e))) == NULL) {
		free(full);
		x->oom = true;
		return;
	}
	x->errs = e;
	e[x->nerrs].seq = seq;
	e[x->nerrs].n = x->nerrs;
	e[x->nerrs].msg = full;
	x->nerrs++;
}

/* Record an error at value AT, or about the whole file ("FILE: message")
 * when AT is NULL. */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct conf_ctx *x, const struct conf_val *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (at != NULL)
		conf_verror(x, at->file, at->line, at->seq, fmt, ap);
	else
		conf_verror(x, x->file, 0, LONG_MAX, fmt, ap);
	va_end(ap);
}

/* Record an error at the position libconfuse is reading in CFG. */
static void __attribute__((format(printf, 3, 4)))
conf_error_here(struct conf_ctx *x, cfg_t *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(x, cfg->filename, cfg->line, 2 * x->seq + 1, fmt, ap);
	va_end(ap);
}

static int
conf_err_cmp(const void *a, const void *b)
{
	const struct conf_err *ea = a, *eb = b;

	if (ea->seq != eb->seq)
		return ea->seq < eb->seq ? -1 : 1;
	return ea->n < eb->n ? -1 : ea->n > eb->n;
}

/* ---- small helpers --------------------------------------------------- */

static char *
conf_dup(struct conf_ctx *x, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		x->oom = true;
	return d;
}

/* The one copy of file name NAME kept for the whole load. */
static const char *
conf_intern(struct conf_ctx *x, const char *name)
{
	char **f;
	size_t i;

	if (name == NULL)
		return x->file;
	for (i = 0; i < x->nfiles; i++)
		if (strcmp(x->files[i], name) == 0)
			return x->files[i];
	if ((f = reallocarray(x->files, x->nfiles + 1, sizeof(*f))) == NULL)
		return NULL;
	x->files = f;
	if ((f[x->nfiles] = strdup(name)) == NULL)
		return NULL;
	return f[x->nfiles++];
}

/* Edit distance of A and B, capped at 9: enough to suggest a spelling. */
static int
conf_distance(const char *a, const char *b)
{
	int row[64], prev, tmp, i, j, la = (int)strlen(a), lb = (int)strlen(b);

	if (la >= 63 || lb >= 63)
		return 9;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb] > 9 ? 9 : row[lb];
}

/* ---- libconfuse callbacks -------------------------------------------- */

static void
conf_val_free(void *p)
{
	struct conf_val *v = p;

	if (v != NULL) {
		free(v->s);
		free(v);
	}
}

/* Every value: keep the string with the place it was written. */
static int
conf_val_cb(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct conf_ctx *x = conf_cur;
	struct conf_val *v;

	if ((v = calloc(1, sizeof(*v))) == NULL || (v->s = strdup(value)) == NULL ||
	    (v->file = conf_intern(x, cfg->filename)) == NULL) {
		conf_val_free(v);
		x->oom = true;
		cfg_error(cfg, "out of memory");
		return -1;
	}
	v->line = cfg->line;
	v->seq = 2 * ++x->seq;
	*(struct conf_val **)result = v;
	return 0;
}

/*
 * A section opens (its hidden "|at" default is being parsed): remember
 * where, and catch a second declaration of the same name here, where both
 * places are known. The real title moves into the "|at" value and the
 * section gets a unique one: libconfuse would otherwise free the first of
 * two same-titled sections, and the errors in it with it.
 */
static int
conf_at_cb(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct conf_ctx *x = conf_cur;
	struct conf_val *at;
	struct conf_decl *d;
	char *title, *unique;
	size_t i;

	if (conf_val_cb(cfg, opt, value, result) == -1)
		return -1;
	at = *(struct conf_val **)result;
	if (cfg->title != NULL) {
		if (asprintf(&unique, "\001%ld", at->seq) == -1) {
			x->oom = true;
			return 0;
		}
		free(at->s);
		at->s = cfg->title;
		cfg->title = unique;
	}
	title = cfg->title != NULL ? at->s : NULL;

	for (i = 0; i < x->ndecls; i++) {
		d = &x->decls[i];
		if (strcmp(d->kind, cfg->name) != 0)
			continue;
		if (title == NULL && d->title == NULL) {
			conf_error(x, at, "%s is declared twice (first at %s:%d); merge the two",
				   cfg->name, d->file, d->line);
			break;
		}
		if (title == NULL || d->title == NULL)
			continue;
		/* Route patterns ignore case, as matching does. */
		if (strcmp(cfg->name, "route") == 0 ? strcasecmp(title, d->title) == 0
						    : strcmp(title, d->title) == 0) {
			conf_error(x, at,
				   "%s \"%s\" is declared twice (first at %s:%d); "
				   "remove or rename one",
				   cfg->name, title, d->file, d->line);
			break;
		}
	}
	if (title != NULL && strcmp(cfg->name, "route") != 0) {
		/* Names appear in key=value log lines and the spool's state
		 * files: keep them to one plain word. */
		const char *c = title;
		while (*c && (isalnum((unsigned char)*c) || strchr("_.-", *c)))
			c++;
		if (*c || !*title)
			conf_error(x, at,
				   "%s name \"%s\" is not valid; use letters, digits, "
				   "'_', '.' and '-' only",
				   cfg->name, title);
	}
	if (strcmp(cfg->name, "tls_policy") == 0 && title != NULL) {
		for (i = 0; i < CONF_TLS_BUILTINS; i++)
			if (strcmp(title, conf_builtin_policies[i]) == 0)
				conf_error(x, at,
					   "tls_policy \"%s\" duplicates the built-in "
					   "policy of that name; choose another name (none, may, "
					   "encrypt, verify, dane and dane-only are built in)",
					   title);
	}

	if ((d = reallocarray(x->decls, x->ndecls + 1, sizeof(*d))) == NULL) {
		x->oom = true;
		return 0;
	}
	x->decls = d;
	d += x->ndecls;
	d->kind = strdup(cfg->name);
	d->title = title ? strdup(title) : NULL;
	d->file = at->file;
	d->line = at->line;
	if (d->kind == NULL || (title != NULL && d->title == NULL)) {
		free(d->kind);
		free(d->title);
		x->oom = true;
		return 0;
	}
	x->ndecls++;
	return 0;
}

/* The title of section SEC as written (see conf_at_cb()), or NULL. */
static const char *
conf_title(cfg_t *sec)
{
	cfg_opt_t *o;
	size_t i;

	if (sec->title == NULL)
		return NULL;
	for (i = 0; (o = &sec->opts[i])->name != NULL; i++)
		if (strcmp(o->name, CONF_AT) == 0 && o->nvalues > 0)
			return ((struct conf_val *)o->values[0]->ptr)->s;
	return sec->title;
}

static int conf_include_cb(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv);

/* clang-format off */
#define V(n) { .name = n, .type = CFGT_PTR, .parsecb = conf_val_cb, .freecb = conf_val_free }
#define VL(n, d)                                                                          \
	{ .name = n, .type = CFGT_PTR, .flags = CFGF_LIST, .def.parsed = d,               \
	  .parsecb = conf_val_cb, .freecb = conf_val_free }
#define AT                                                                                \
	{ .name = CONF_AT, .type = CFGT_PTR, .def.parsed = "0", .parsecb = conf_at_cb,    \
	  .freecb = conf_val_free }
/* clang-format on */

/* The schema: every key of the contract, nothing else. */
static cfg_opt_t conf_listen_opts[] = {AT,
				       V("address"),
				       V("port"),
				       V("tls"),
				       V("tls_cert"),
				       V("tls_key"),
				       V("tls_min_version"),
				       V("ciphers"),
				       V("require_tls"),
				       VL("allow", "{\"127.0.0.0/8\", \"::1/128\"}"),
				       V("auth_users"),
				       V("max_message_size"),
				       V("max_recipients"),
				       V("max_clients"),
				       V("bare_newline"),
				       V("timeout"),
				       V("auth_fail_limit"),
				       V("auth_fail_window"),
				       CFG_END()};

static cfg_opt_t conf_policy_opts[] = {
	AT, V("level"), V("min_version"), V("ca_file"), VL("match", NULL), V("ciphers"), CFG_END()};

static cfg_opt_t conf_transport_opts[] = {AT,
					  VL("relay", NULL),
					  V("destination_by"),
					  V("port"),
					  V("smtps"),
					  V("tls"),
					  V("auth_user"),
					  V("auth_password_file"),
					  V("source_address"),
					  V("public_address"),
					  V("mta_sts"),
					  V("helo"),
					  V("max_connections"),
					  V("max_messages_per_connection"),
					  V("rate"),
					  VL("warmup", NULL),
					  V("warmup_start"),
					  V("warmup_overflow"),
					  V("connect_timeout"),
					  V("command_timeout"),
					  V("data_timeout"),
					  V("fallback"),
					  V("fallback_hold"),
					  CFG_END()};

static cfg_opt_t conf_route_opts[] = {AT, V("transport"), CFG_END()};

static cfg_opt_t conf_queue_opts[] = {
	AT, VL("retry", "{\"1m\", \"5m\", \"15m\", \"30m\", \"1h\", \"2h\", \"4h\"}"),
	V("max_lifetime"), V("delay_warning"), CFG_END()};

static cfg_opt_t conf_tls_report_opts[] = {AT, V("organization"), V("contact"), V("interval"),
					   CFG_END()};

static cfg_opt_t conf_cluster_opts[] = {AT, V("redis"), V("node"), CFG_END()};

static cfg_opt_t conf_opts[] = {
	V("hostname"), V("spool"), V("control_socket"), V("user"), V("postmaster"),
	VL("dns_servers", NULL), V("metrics_listen"),
	VL("dnsbl", "{\"zen.spamhaus.org\", \"psbl.surriel.com\", \"b.barracudacentral.org\", "
		    "\"bl.spamcop.net\"}"),
	V("check_interval"), VL("check_senders", NULL), V("dnssec_probe"), V("tls_ca_file"),
	CFG_SEC("listen", conf_listen_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_SEC("tls_policy", conf_policy_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_SEC("transport", conf_transport_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_SEC("route", conf_route_opts, CFGF_MULTI | CFGF_TITLE),
	/* MULTI so a second queue section is seen (and refused), not merged. */
	CFG_SEC("queue", conf_queue_opts, CFGF_MULTI),
	CFG_SEC("tls_report", conf_tls_report_opts, CFGF_MULTI),
	CFG_SEC("cluster", conf_cluster_opts, CFGF_MULTI), CFG_FUNC("include", conf_include_cb),
	CFG_END()};

/* Is NAME a key of the section options OPTS. */
static bool
conf_has_key(const cfg_opt_t *opts, const char *name)
{
	size_t i;

	for (i = 0; opts[i].name != NULL; i++)
		if (strcmp(opts[i].name, name) == 0)
			return true;
	return false;
}

/* "unknown key" with what most likely went wrong. */
static void
conf_unknown(struct conf_ctx *x, cfg_t *cfg, const char *name)
{
	const char *best = NULL, *where[8];
	bool root = strcmp(cfg->name, "root") == 0;
	char sec[300];
	int d, bestd = 3;
	size_t i, n = 0;

	for (i = 0; cfg->opts[i].name != NULL; i++) {
		if (cfg->opts[i].name[0] == '|')
			continue;
		d = conf_distance(name, cfg->opts[i].name);
		if (d < bestd && d < (int)strlen(cfg->opts[i].name)) {
			best = cfg->opts[i].name;
			bestd = d;
		}
	}
	if (conf_title(cfg) != NULL)
		snprintf(sec, sizeof(sec), "%s \"%s\"", cfg->name, conf_title(cfg));
	else
		snprintf(sec, sizeof(sec), "%s", cfg->name);

	if (root) {
		for (i = 0; conf_opts[i].name != NULL; i++)
			if (conf_opts[i].type == CFGT_SEC &&
			    conf_has_key(conf_opts[i].subopts, name) && n < 8)
				where[n++] = conf_opts[i].name;
		if (best != NULL)
			conf_error_here(x, cfg,
					"unknown key or section \"%s\"; did you mean "
					"\"%s\"?",
					name, best);
		else if (n == 1)
			conf_error_here(x, cfg,
					"unknown key \"%s\" here; it belongs inside a "
					"%s section",
					name, where[0]);
		else if (n > 1)
			conf_error_here(x, cfg,
					"unknown key \"%s\" here; it belongs inside a "
					"%s or %s section",
					name, where[0], where[1]);
		else
			conf_error_here(x, cfg,
					"unknown key or section \"%s\"; see the "
					"configuration keys in the documentation",
					name);
		return;
	}
	if (best != NULL)
		conf_error_here(x, cfg, "unknown key \"%s\" in %s; did you mean \"%s\"?", name, sec,
				best);
	else if (conf_has_key(conf_opts, name))
		conf_error_here(x, cfg,
				"unknown key \"%s\" in %s; is the \"}\" that closes "
				"%s missing?",
				name, sec, sec);
	else
		conf_error_here(x, cfg,
				"unknown key \"%s\" in %s; see the keys of %s in the "
				"documentation",
				name, sec, cfg->name);
}

/* libconfuse's messages, reworded to say what to do (arg: one string). */
static const struct {
	const char *lib, *ours;
} conf_rewords[] = {
	{"missing equal sign after option '%s'", "missing \"=\" after \"%s\"; write %s = VALUE"},
	{"missing opening brace for section '%s'", "missing \"{\" after %s; write %s { ... }"},
	{"missing title for section '%s'", "%s needs a quoted name; write %s \"NAME\" { ... }"},
	{"unexpected token '%s'",
	 "unexpected \"%s\"; is a \"=\", \",\" or quote missing before it?"},
	{"attempt to append to non-list option '%s'",
	 "\"+=\" works on lists only; write %s = VALUE"},
	{"missing parenthesis for function '%s'", "write %s(\"FILE\")"},
	{"syntax error in call of function '%s'", "syntax error in %s(); write include(\"FILE\")"},
	{"premature end of file",
	 "unexpected end of file; a value, a \"}\" or a closing quote is missing"},
	{"unexpected closing brace", "unexpected \"}\": it closes nothing"},
};

/* Does section KIND take a title (listen "NAME" { ... }). */
static bool
conf_titled(const char *kind)
{
	size_t i;

	for (i = 0; conf_opts[i].name != NULL; i++)
		if (conf_opts[i].type == CFGT_SEC && strcmp(conf_opts[i].name, kind) == 0)
			return (conf_opts[i].flags & CFGF_TITLE) != 0;
	return false;
}

/*
 * The title of the last `KIND "TITLE"` in the text being parsed, up to the
 * end of line LINE, into BUF (as written, truncated to SIZE). false when
 * there is none. libconfuse has forgotten the title by the time it says
 * the "{" is missing; the message must name the section.
 */
static bool
conf_last_title(const struct conf_ctx *x, const char *kind, int line, char *buf, size_t size)
{
	const char *p = x->text, *end = x->text + x->textlen, *word = NULL, *str;
	size_t wlen = 0, klen = strlen(kind), n;
	bool found = false;
	int l = 1;

	while (p != NULL && p < end) {
		if (*p == '\n') {
			if (l++ >= line)
				break;
			p++;
		} else if (isspace((unsigned char)*p)) {
			p++;
		} else if (*p == '"' || *p == '\'') {
			char q = *p++;

			for (str = p; p < end && *p != q; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				l += *p == '\n';
			}
			if (word != NULL && wlen == klen && memcmp(word, kind, klen) == 0) {
				n = (size_t)(p - str) < size - 1 ? (size_t)(p - str) : size - 1;
				memcpy(buf, str, n);
				buf[n] = '\0';
				found = true;
			}
			word = NULL;
			p += p < end;
		} else if (isalnum((unsigned char)*p) || *p == '_') {
			for (word = p; p < end && (isalnum((unsigned char)*p) || *p == '_'); p++)
				;
			wlen = (size_t)(p - word);
		} else {
			word = NULL;
			p++;
		}
	}
	return found;
}

/* libconfuse reports here: syntax errors, which stop its parse. */
static void
conf_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct conf_ctx *x = conf_cur;
	const char *arg = NULL;
	char *msg, title[128];
	va_list aq;
	size_t i;

	x->partial = true;
	if (strstr(fmt, "%s") != NULL) {
		va_copy(aq, ap);
		arg = va_arg(aq, const char *);
		va_end(aq);
	}
	if (strcmp(fmt, "no such option '%s'") == 0 && arg != NULL) {
		conf_unknown(x, cfg, arg);
		return;
	}
	if (strcmp(fmt, "missing title for section '%s'") == 0 && arg != NULL &&
	    strcmp(arg, "route") == 0) {
		conf_error_here(x, cfg,
				"route needs a quoted pattern; write route "
				"\"example.com\" { transport = \"NAME\" } (and \"*\" in quotes)");
		return;
	}
	if (strcmp(fmt, "missing opening brace for section '%s'") == 0 && arg != NULL &&
	    conf_titled(arg) && conf_last_title(x, arg, cfg->line, title, sizeof(title))) {
		conf_error_here(x, cfg, "missing \"{\" after %s \"%s\"; write %s \"%s\" { ... }",
				arg, title, arg, title);
		return;
	}
	for (i = 0; i < sizeof(conf_rewords) / sizeof(conf_rewords[0]); i++) {
		if (strcmp(fmt, conf_rewords[i].lib) == 0) {
			/* Our formats take ARG (at most) twice. */
			if (asprintf(&msg, conf_rewords[i].ours, arg ? arg : "", arg ? arg : "") ==
			    -1) {
				x->oom = true;
				return;
			}
			conf_error_here(x, cfg, "%s", msg);
			free(msg);
			return;
		}
	}
	if (vasprintf(&msg, fmt, ap) == -1) {
		x->oom = true;
		return;
	}
	conf_error_here(x, cfg, "%s", msg);
	free(msg);
}

/* ---- reading text ----------------------------------------------------- */

/*
 * Blank out the comments of BUF (# ..., // ..., and C-style comments),
 * keeping newlines so lines stay where they are, and leaving quoted
 * strings alone. Returns the line of the innermost "{" never closed, or 0:
 * libconfuse takes the end of the file as the end of any open section.
 */
static int
conf_strip(char *buf, size_t len)
{
	enum { TEXT, DQ, SQ, LINE, BLOCK } st = TEXT;
	int line = 1, open[64];
	size_t i, depth = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';

		switch (st) {
		case TEXT:
			if (c == '"')
				st = DQ;
			else if (c == '\'')
				st = SQ;
			else if (c == '#' || (c == '/' && next == '/')) {
				st = LINE;
				buf[i] = ' ';
			} else if (c == '/' && next == '*') {
				st = BLOCK;
				buf[i] = buf[i + 1] = ' ';
				i++;
			} else if (c == '{') {
				if (depth < 64)
					open[depth] = line;
				depth++;
			} else if (c == '}' && depth > 0)
				depth--;
			break;
		case DQ:
		case SQ:
			if (c == '\\' && next != '\0') {
				if (next == '\n')
					line++;
				i++;
			} else if (c == (st == DQ ? '"' : '\''))
				st = TEXT;
			break;
		case LINE:
			if (c == '\n')
				st = TEXT;
			else
				buf[i] = ' ';
			break;
		case BLOCK:
			if (c == '*' && next == '/') {
				buf[i] = buf[i + 1] = ' ';
				i++;
				st = TEXT;
			} else if (c != '\n')
				buf[i] = ' ';
			break;
		}
		if (c == '\n')
			line++;
	}
	return depth == 0 ? 0 : open[(depth > 64 ? 64 : depth) - 1];
}

/* Read PATH whole. Returns 0, or -1 with errno set. */
static int
conf_read(const char *path, char **buf, size_t *len)
{
	FILE *fp;
	char *b = NULL, *nb;
	size_t n = 0, cap = 0, got;
	int saved;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			if (cap >= CONF_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(b, cap + 1)) == NULL)
				goto fail;
			b = nb;
		}
		errno = 0;
		got = fread(b + n, 1, cap - n, fp);
		n += got;
		if (got == 0) {
			if (ferror(fp)) {
				/* A directory opens, then fails here with EISDIR. */
				if (errno == 0)
					errno = EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(fp);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
fail:
	saved = errno;
	fclose(fp);
	free(b);
	errno = saved;
	return -1;
}

/*
 * Parse BUF (LEN bytes of the file now in cfg->filename) into CFG. Returns
 * 0, or -1 after libconfuse reported a syntax error.
 */
static int
conf_parse_text(struct conf_ctx *x, cfg_t *cfg, char *buf, size_t len)
{
	const char *nul, *p, *saved_text;
	size_t saved_len;
	FILE *fp;
	int unclosed, rc;

	if ((nul = memchr(buf, '\0', len)) != NULL) {
		for (cfg->line = 1, p = buf; p < nul; p++)
			cfg->line += *p == '\n';
		conf_error_here(x, cfg, "holds a NUL byte; is it a text file?");
		x->partial = true;
		return -1;
	}
	unclosed = conf_strip(buf, len);
	if (len == 0)
		return 0;
	if ((fp = fmemopen(buf, len, "r")) == NULL) {
		x->oom = true;
		x->partial = true;
		return -1;
	}
	saved_text = x->text;
	saved_len = x->textlen;
	x->text = buf;
	x->textlen = len;
	rc = cfg_parse_fp(cfg, fp);
	x->text = saved_text;
	x->textlen = saved_len;
	fclose(fp);
	if (rc != CFG_SUCCESS)
		return -1;
	if (unclosed != 0) {
		cfg->line = unclosed;
		conf_error_here(x, cfg,
				"this \"{\" is never closed; add the \"}\" that ends "
				"its section");
		x->partial = true;
		return -1;
	}
	return 0;
}

/*
 * include("FILE"): FILE, relative to the including file's directory unless
 * absolute, parsed in place. A file that cannot be read is reported and
 * skipped, so the rest is still checked.
 */
static int
conf_include_cb(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv)
{
	struct conf_ctx *x = conf_cur;
	const char *cur = cfg->filename ? cfg->filename : x->file, *slash;
	char *path, *buf, *saved_file;
	int saved_line, rc;
	size_t len;

	if (argc != 1 || argv[0][0] == '\0') {
		conf_error_here(x, cfg, "include() takes one file name; write include(\"FILE\")");
		x->partial = true;
		return 0;
	}
	if (x->depth >= CONF_INCLUDE_MAX) {
		conf_error_here(x, cfg,
				"include(\"%s\") nests includes more than %d deep; does "
				"a file include itself?",
				argv[0], CONF_INCLUDE_MAX);
		x->partial = true;
		return 0;
	}
	slash = strrchr(cur, '/');
	if (argv[0][0] != '/' && slash != NULL)
		rc = asprintf(&path, "%.*s/%s", (int)(slash - cur), cur, argv[0]);
	else
		rc = asprintf(&path, "%s", argv[0]);
	if (rc == -1) {
		x->oom = true;
		return 1;
	}
	if (conf_read(path, &buf, &len) == -1) {
		conf_error_here(x, cfg, "cannot include \"%s\": %s", path, strerror(errno));
		free(path);
		x->partial = true;
		return 0;
	}

	saved_file = cfg->filename;
	saved_line = cfg->line;
	cfg->filename = path;
	x->depth++;
	rc = conf_parse_text(x, cfg, buf, len);
	x->depth--;
	free(cfg->filename);
	cfg->filename = saved_file;
	cfg->line = saved_line;
	free(buf);
	/* A syntax error inside stops the whole parse, as it would in place. */
	return rc == 0 ? 0 : 1;
}

/* ---- reading values ---------------------------------------------------- */

static cfg_opt_t *
conf_opt(cfg_t *sec, const char *name)
{
	size_t i;

	for (i = 0; sec->opts[i].name != NULL; i++)
		if (strcmp(sec->opts[i].name, name) == 0)
			return &sec->opts[i];
	return NULL;
}

static unsigned
conf_count(cfg_t *sec, const char *name)
{
	cfg_opt_t *o = conf_opt(sec, name);

	return o ? o->nvalues : 0;
}

static const struct conf_val *
conf_nth(cfg_t *sec, const char *name, unsigned i)
{
	cfg_opt_t *o = conf_opt(sec, name);

	if (o == NULL || i >= o->nvalues)
		return NULL;
	return o->values[i]->ptr;
}

/* The value of NAME in SEC, or NULL when it is not set. */
static const struct conf_val *
conf_get(cfg_t *sec, const char *name)
{
	return conf_nth(sec, name, 0);
}

/* Where section SEC starts. */
static const struct conf_val *
conf_at(cfg_t *sec)
{
	return conf_get(sec, CONF_AT);
}

/* Parse a whole number MIN..MAX: digits only. */
static int
conf_number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;
	const char *p;

	if (*s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (max - (unsigned long)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n < min)
		return -1;
	*out = n;
	return 0;
}

/* A string value, or a copy of DEF (NULL: unset) when absent. */
static char *
conf_str(struct conf_ctx *x, cfg_t *sec, const char *name, const char *def)
{
	const struct conf_val *v = conf_get(sec, name);

	if (v == NULL)
		return conf_dup(x, def);
	if (v->s[0] == '\0')
		conf_error(x, v, "%s is empty; give it a value or remove the line", name);
	return conf_dup(x, v->s);
}

/* A duration of at least MIN seconds into *OUT (left alone when absent). */
static void
conf_duration(struct conf_ctx *x, cfg_t *sec, const char *name, unsigned min, unsigned *out)
{
	const struct conf_val *v = conf_get(sec, name);
	unsigned n;

	if (v == NULL)
		return;
	if (value_duration(v->s, &n) == -1)
		conf_error(x, v,
			   "%s = \"%s\" is not a duration; write e.g. \"30s\", \"5m\", "
			   "\"2h\", \"5d\" or a number of seconds",
			   name, v->s);
	else if (n < min)
		conf_error(x, v, "%s = \"%s\" is too short; it must be at least %us", name, v->s,
			   min);
	else
		*out = n;
}

/* A size of at least one byte into *OUT (left alone when absent). */
static void
conf_size(struct conf_ctx *x, cfg_t *sec, const char *name, uint64_t *out)
{
	const struct conf_val *v = conf_get(sec, name);
	uint64_t n;

	if (v == NULL)
		return;
	if (value_size(v->s, &n) == -1 || n == 0)
		conf_error(x, v,
			   "%s = \"%s\" is not a size; write e.g. \"512K\", \"50M\", "
			   "\"1G\" or a number of bytes",
			   name, v->s);
	else
		*out = n;
}

/* A count of at least one into *OUT (left alone when absent). */
static void
conf_unsigned(struct conf_ctx *x, cfg_t *sec, const char *name, unsigned *out)
{
	const struct conf_val *v = conf_get(sec, name);
	unsigned long n;

	if (v == NULL)
		return;
	if (conf_number(v->s, 1, UINT_MAX, &n) == -1)
		conf_error(x, v, "%s = \"%s\" is not a whole number of 1 or more", name, v->s);
	else
		*out = (unsigned)n;
}

/* A count of zero or more into *OUT (left alone when absent); 0 turns
 * the limit it sets off. */
static void
conf_limit(struct conf_ctx *x, cfg_t *sec, const char *name, unsigned *out)
{
	const struct conf_val *v = conf_get(sec, name);
	unsigned long n;

	if (v == NULL)
		return;
	if (conf_number(v->s, 0, UINT_MAX, &n) == -1)
		conf_error(x, v, "%s = \"%s\" is not a whole number; write 0 for no limit", name,
			   v->s);
	else
		*out = (unsigned)n;
}

/* A TCP port into *OUT (left alone when absent). */
static void
conf_port(struct conf_ctx *x, cfg_t *sec, const char *name, int *out)
{
	const struct conf_val *v = conf_get(sec, name);
	unsigned long n;

	if (v == NULL)
		return;
	if (conf_number(v->s, 1, 65535, &n) == -1)
		conf_error(x, v, "%s = \"%s\" is not a port; use a number from 1 to 65535", name,
			   v->s);
	else
		*out = (int)n;
}

/* A boolean into *OUT (left alone when absent). */
static void
conf_bool(struct conf_ctx *x, cfg_t *sec, const char *name, bool *out)
{
	const struct conf_val *v = conf_get(sec, name);
	int b;

	if (v == NULL)
		return;
	if ((b = cfg_parse_boolean(v->s)) == -1)
		conf_error(x, v, "%s = \"%s\" is not a boolean; write true or false", name, v->s);
	else
		*out = b == 1;
}

/* A TLS protocol floor into *OUT (left alone when absent). */
static void
conf_tls_version(struct conf_ctx *x, cfg_t *sec, const char *name, int *out)
{
	const struct conf_val *v = conf_get(sec, name);

	if (v != NULL && value_tls_version(v->s, out) == -1)
		conf_error(x, v,
			   "%s = \"%s\" is not a TLS version; write \"TLSv1.2\" or "
			   "\"TLSv1.3\"",
			   name, v->s);
}

/*
 * One of the N words WORDS into *OUT, as its index (left alone when absent).
 * The message lists them all: "none", "starttls" or "smtps".
 */
static void
conf_keyword(struct conf_ctx *x, cfg_t *sec, const char *name, const char *const *words, int n,
	     int *out)
{
	const struct conf_val *v = conf_get(sec, name);
	char list[256];
	size_t used = 0;
	int i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(v->s, words[i]) == 0) {
			*out = i;
			return;
		}
	}
	list[0] = '\0';
	for (i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
					 i == 0	      ? ""
					 : i == n - 1 ? " or "
						      : ", ",
					 words[i]);
	conf_error(x, v, "%s = \"%s\" is not valid; use %s", name, v->s, list);
}

/* A name for EHLO: a domain, or an address literal "[1.2.3.4]". */
static bool
conf_ehlo_name(const char *s)
{
	char buf[64];
	size_t len = strlen(s);

	if (value_domain(s))
		return true;
	if (len < 3 || len - 2 >= sizeof(buf) || s[0] != '[' || s[len - 1] != ']')
		return false;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return strchr(buf + 5, ':') != NULL && value_ip(buf + 5);
	return strchr(buf, ':') == NULL && value_ip(buf);
}

/*
 * The port of S ("host:port", "[host]:port", "[ip]:port") when it is all
 * digits but outside 1..65535 and S is good otherwise; NULL when the fault
 * lies elsewhere. A separate message says which part to fix.
 */
static const char *
conf_port_out_of_range(const char *s)
{
	const char *port = NULL, *close;
	char *fixed, *host = NULL;
	bool literal;
	int p, rc;

	if (s[0] == '[' && (close = strchr(s, ']')) != NULL && close[1] == ':')
		port = close + 2;
	else if (s[0] != '[' && (port = strchr(s, ':')) != NULL && strchr(port + 1, ':') == NULL)
		port++;
	else
		return NULL;
	if (*port == '\0' || port[strspn(port, "0123456789")] != '\0')
		return NULL;
	if (asprintf(&fixed, "%.*s25", (int)(port - s), s) == -1)
		return NULL;
	rc = value_hostport(fixed, &host, &p, &literal);
	free(fixed);
	free(host);
	return rc == 0 ? port : NULL;
}

/* ---- building the struct ------------------------------------------------ */

/* Global keys. */
static void
conf_build_global(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	const struct conf_val *v;
	char host[256], *h, *p;
	const char *port_text;
	bool literal;
	int port;
	unsigned i, n;

	if ((v = conf_get(cfg, "hostname")) != NULL) {
		if (!value_domain(v->s))
			conf_error(x, v,
				   "hostname = \"%s\" is not a host name; write the "
				   "fully qualified name, e.g. \"relay.example.com\"",
				   v->s);
		c->hostname = conf_dup(x, v->s);
	} else {
		/* gethostname() need not terminate a truncated name. */
		if (gethostname(host, sizeof(host) - 1) == -1 || host[0] == '\0')
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		c->hostname = conf_dup(x, host);
	}

	c->spool = conf_str(x, cfg, "spool", CONF_DEFAULT_SPOOL);
	if ((v = conf_get(cfg, "control_socket")) != NULL)
		c->control_socket = conf_str(x, cfg, "control_socket", NULL);
	else if (c->spool != NULL &&
		 asprintf(&c->control_socket, "%s/control.sock", c->spool) == -1) {
		c->control_socket = NULL;
		x->oom = true;
	}
	if (c->control_socket != NULL &&
	    strlen(c->control_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		const struct conf_val *at = v ? v : conf_get(cfg, "spool");

		conf_error(x, at,
			   "control socket path \"%s\" is longer than a unix socket "
			   "allows (%zu bytes); set a shorter control_socket",
			   c->control_socket, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	c->user = conf_str(x, cfg, "user", NULL);

	/* RFC 5321 4.5.1: "RCPT TO:<Postmaster>" must be accepted; it is
	 * relayed to this address. */
	if ((v = conf_get(cfg, "postmaster")) != NULL) {
		const char *at = strrchr(v->s, '@');
		if (!at || at == v->s || strchr(v->s, ' ') || strchr(v->s, '<') ||
		    !value_domain(at + 1))
			conf_error(x, v,
				   "postmaster = \"%s\" is not a mail address; write one like "
				   "\"postmaster@example.com\"",
				   v->s);
		c->postmaster = conf_dup(x, v->s);
	} else if (c->hostname != NULL &&
		   asprintf(&c->postmaster, "postmaster@%s", c->hostname) == -1) {
		c->postmaster = NULL;
		x->oom = true;
	}

	n = conf_count(cfg, "dns_servers");
	if (n > 0 && (c->dns_servers = calloc(n, sizeof(char *))) == NULL)
		x->oom = true;
	for (i = 0; c->dns_servers != NULL && i < n; i++) {
		v = conf_nth(cfg, "dns_servers", i);
		h = NULL;
		if (value_hostport(v->s, &h, &port, &literal) == -1 &&
		    (port_text = conf_port_out_of_range(v->s)) != NULL)
			conf_error(x, v,
				   "dns_servers entry \"%s\": port %s is out of range; use a "
				   "port from 1 to 65535",
				   v->s, port_text);
		else if (h == NULL || !literal)
			conf_error(x, v,
				   "dns_servers entry \"%s\" is not an address; write "
				   "\"IP\", \"IP:PORT\" or \"[IPv6]:PORT\"",
				   v->s);
		free(h);
		c->dns_servers[c->ndns_servers++] = conf_dup(x, v->s);
	}

	if ((v = conf_get(cfg, "metrics_listen")) != NULL) {
		p = NULL;
		if (value_hostport(v->s, &p, &port, &literal) == -1 &&
		    (port_text = conf_port_out_of_range(v->s)) != NULL)
			conf_error(x, v,
				   "metrics_listen = \"%s\": port %s is out of range; use a "
				   "port from 1 to 65535",
				   v->s, port_text);
		else if (p == NULL || !literal || port == 0)
			conf_error(x, v,
				   "metrics_listen = \"%s\" is not an address and port; "
				   "write \"IP:PORT\", e.g. \"127.0.0.1:9100\" or \"[::1]:9100\"",
				   v->s);
		free(p);
		c->metrics_listen = conf_dup(x, v->s);
	}

	n = conf_count(cfg, "dnsbl");
	if (n > 0 && (c->dnsbl = calloc(n, sizeof(char *))) == NULL)
		x->oom = true;
	for (i = 0; c->dnsbl != NULL && i < n; i++) {
		v = conf_nth(cfg, "dnsbl", i);
		if (!value_domain(v->s) || strchr(v->s, '.') == NULL)
			conf_error(x, v,
				   "dnsbl entry \"%s\" is not a DNS zone; write one like "
				   "\"zen.spamhaus.org\"",
				   v->s);
		c->dnsbl[c->ndnsbl++] = conf_dup(x, v->s);
	}
	c->check_interval = 3600;
	conf_duration(x, cfg, "check_interval", 0, &c->check_interval);
	c->dnssec_probe = conf_str(x, cfg, "dnssec_probe", CONF_DNSSEC_PROBE);
	c->tls_ca_file = conf_str(x, cfg, "tls_ca_file", NULL);
	if (c->dnssec_probe && (strlen(c->dnssec_probe) > 253 || strpbrk(c->dnssec_probe, " \t")))
		conf_error(x, conf_get(cfg, "dnssec_probe"),
			   "dnssec_probe = \"%s\" is not a DNS name; write one like \"%s\", or "
			   "\"\" for none",
			   c->dnssec_probe, CONF_DNSSEC_PROBE);
	n = conf_count(cfg, "check_senders");
	if (n > 0 && (c->check_senders = calloc(n, sizeof(char *))) == NULL)
		x->oom = true;
	for (i = 0; c->check_senders != NULL && i < n; i++) {
		v = conf_nth(cfg, "check_senders", i);
		if (!value_domain(v->s) || strchr(v->s, '.') == NULL)
			conf_error(x, v,
				   "check_senders entry \"%s\" is not a domain; write the "
				   "domain of your senders' addresses, e.g. \"example.com\"",
				   v->s);
		c->check_senders[c->ncheck_senders++] = conf_dup(x, v->s);
	}
}

static const char *const conf_listen_tls_words[] = {"none", "starttls", "smtps"};
static const char *const conf_bare_newline_words[] = {"reject", "normalize"};

/* listen sections. */
static void
conf_build_listen(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned i, j, k, n = cfg_size(cfg, "listen");
	struct conf_cidr addr, other;

	if (n == 0) {
		if (!x->partial)
			conf_error(x, NULL,
				   "no listen section: relayd would accept no mail; "
				   "add one, e.g. listen \"local\" { port = 2525 }");
		return;
	}
	if ((c->listen = calloc(n, sizeof(*c->listen))) == NULL) {
		x->oom = true;
		return;
	}
	c->nlisten = n;
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "listen", i);
		struct conf_listen *l = &c->listen[i];
		const struct conf_val *at = conf_at(sec), *v;
		int tls = LISTEN_TLS_NONE, bare = BARE_NEWLINE_REJECT;
		size_t nerrs = x->nerrs;

		l->name = conf_dup(x, conf_title(sec));
		l->line = at->line;
		l->address = conf_str(x, sec, "address", "127.0.0.1");
		if ((v = conf_get(sec, "address")) != NULL && !value_ip(v->s))
			conf_error(x, v,
				   "address = \"%s\" is not an IP address; listen takes "
				   "an IPv4 or IPv6 literal such as \"127.0.0.1\" or \"::1\"",
				   v->s);
		l->port = 2525;
		conf_port(x, sec, "port", &l->port);
		conf_keyword(x, sec, "tls", conf_listen_tls_words, 3, &tls);
		l->tls = (enum conf_listen_tls)tls;
		if (l->tls != LISTEN_TLS_NONE) {
			l->tls_cert = conf_str(x, sec, "tls_cert", NULL);
			l->tls_key = conf_str(x, sec, "tls_key", NULL);
			v = conf_get(sec, "tls");
			if (!x->partial && l->tls_cert == NULL && l->tls_key == NULL)
				conf_error(x, v,
					   "listen \"%s\": tls = \"%s\" needs tls_cert and "
					   "tls_key (PEM files)",
					   l->name, v->s);
			else if (!x->partial && (l->tls_cert == NULL || l->tls_key == NULL))
				conf_error(x, v, "listen \"%s\": tls = \"%s\" needs %s too",
					   l->name, v->s,
					   l->tls_cert == NULL ? "tls_cert" : "tls_key");
		}
		l->tls_min_version = CONF_TLSV12;
		conf_tls_version(x, sec, "tls_min_version", &l->tls_min_version);
		l->ciphers = conf_str(x, sec, "ciphers", NULL);
		conf_bool(x, sec, "require_tls", &l->require_tls);

		k = conf_count(sec, "allow");
		if (k > 0 && (l->allow = calloc(k, sizeof(*l->allow))) == NULL)
			x->oom = true;
		for (j = 0; l->allow != NULL && j < k; j++) {
			v = conf_nth(sec, "allow", j);
			if (value_cidr(v->s, &l->allow[l->nallow]) == 0)
				l->nallow++;
			else
				conf_error(x, v,
					   "allow entry \"%s\" is not a network; write e.g. "
					   "\"10.0.0.0/8\", \"2001:db8::/32\" or an address",
					   v->s);
		}
		l->auth_users = conf_str(x, sec, "auth_users", NULL);
		l->max_message_size = 50 * 1024 * 1024;
		conf_size(x, sec, "max_message_size", &l->max_message_size);
		l->max_recipients = 1000;
		conf_unsigned(x, sec, "max_recipients", &l->max_recipients);
		l->max_clients = 1000;
		conf_unsigned(x, sec, "max_clients", &l->max_clients);
		conf_keyword(x, sec, "bare_newline", conf_bare_newline_words, 2, &bare);
		l->bare_newline = (enum conf_bare_newline)bare;
		l->timeout = 300;
		conf_duration(x, sec, "timeout", 1, &l->timeout);
		/* fail2ban's well-known maxretry/findtime/bantime: docs/security.md. */
		l->auth_fail_limit = 5;
		conf_limit(x, sec, "auth_fail_limit", &l->auth_fail_limit);
		l->auth_fail_window = 600;
		conf_duration(x, sec, "auth_fail_window", 1, &l->auth_fail_window);

		/*
		 * Two listeners on one socket: the second bind() would fail. One
		 * with errors of its own (its port may be a stand-in default) is
		 * left out, marked by port 0; two of one name are reported as
		 * duplicates already.
		 */
		if (x->nerrs != nerrs || l->address == NULL ||
		    value_cidr(l->address, &addr) == -1) {
			l->port = 0;
			continue;
		}
		for (j = 0; j < i; j++) {
			const struct conf_listen *o = &c->listen[j];

			if (o->port == l->port && o->address != NULL &&
			    strcmp(o->name ? o->name : "", l->name ? l->name : "") != 0 &&
			    value_cidr(o->address, &other) == 0 && other.family == addr.family &&
			    memcmp(addr.addr, other.addr, sizeof(addr.addr)) == 0) {
				conf_error(x, at,
					   "listen \"%s\" uses %s port %d like listen \"%s\" "
					   "(line %d); change its address or port",
					   l->name, l->address, l->port, o->name, o->line);
				break;
			}
		}
	}
}

static const char *const conf_level_words[] = {"none",	 "may",	 "encrypt",
					       "verify", "dane", "dane-only"};

/* The four built-in policies, then the tls_policy sections. */
static void
conf_build_policies(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned i, j, k, n = cfg_size(cfg, "tls_policy");

	if ((c->tls_policy = calloc(CONF_TLS_BUILTINS + n, sizeof(*c->tls_policy))) == NULL) {
		x->oom = true;
		return;
	}
	for (i = 0; i < CONF_TLS_BUILTINS; i++) {
		c->tls_policy[i].name = conf_dup(x, conf_builtin_policies[i]);
		c->tls_policy[i].level = (enum conf_tls_level)i;
		c->tls_policy[i].min_version = CONF_TLSV12;
	}
	c->ntls_policy = CONF_TLS_BUILTINS + n;
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "tls_policy", i);
		struct conf_tls_policy *p = &c->tls_policy[CONF_TLS_BUILTINS + i];
		const struct conf_val *at = conf_at(sec), *v;
		int level = TLS_LEVEL_MAY;

		p->name = conf_dup(x, conf_title(sec));
		p->line = at->line;
		if (conf_get(sec, "level") == NULL && !x->partial)
			conf_error(x, at,
				   "tls_policy \"%s\" has no level; add level = \"none\", "
				   "\"may\", \"encrypt\", \"verify\", \"dane\" or \"dane-only\"",
				   p->name);
		conf_keyword(x, sec, "level", conf_level_words, CONF_TLS_BUILTINS, &level);
		p->level = (enum conf_tls_level)level;
		p->min_version = CONF_TLSV12;
		conf_tls_version(x, sec, "min_version", &p->min_version);
		p->ca_file = conf_str(x, sec, "ca_file", NULL);
		p->ciphers = conf_str(x, sec, "ciphers", NULL);

		k = conf_count(sec, "match");
		if (k > 0 && (p->match = calloc(k, sizeof(char *))) == NULL)
			x->oom = true;
		for (j = 0; p->match != NULL && j < k; j++) {
			v = conf_nth(sec, "match", j);
			if (!value_domain(v->s[0] == '.' ? v->s + 1 : v->s))
				conf_error(x, v,
					   "match entry \"%s\" is not a host name or a "
					   "\".suffix\"; write e.g. \"mx.example.com\" or "
					   "\".example.com\"",
					   v->s);
			p->match[p->nmatch++] = conf_dup(x, v->s);
		}
	}
}

/* The tls_policy named NAME among those built so far. */
static const struct conf_tls_policy *
conf_policy_lookup(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ntls_policy; i++)
		if (c->tls_policy[i].name != NULL && strcmp(c->tls_policy[i].name, name) == 0)
			return &c->tls_policy[i];
	return NULL;
}

/* One relay entry of transport T. */
static void
conf_build_relay(struct conf_ctx *x, const struct conf_val *v, struct conf_relay *r)
{
	const char *port;

	if (value_hostport(v->s, &r->host, &r->port, &r->literal) == 0)
		return;
	r->host = NULL;
	if ((port = conf_port_out_of_range(v->s)) != NULL)
		conf_error(x, v,
			   "relay \"%s\": port %s is out of range; use a port from 1 to "
			   "65535",
			   v->s, port);
	else
		conf_error(x, v,
			   "relay \"%s\" is not a smarthost; write \"host\", "
			   "\"host:port\", \"[ip]:port\" or \"[host]:port\"",
			   v->s);
}

/* A transport's warm-up: warmup, warmup_start (warmup_overflow is
 * resolved with the fallbacks, once every transport exists). */
static void
conf_build_warmup(struct conf_ctx *x, cfg_t *sec, struct conf_transport *t)
{
	unsigned k = conf_count(sec, "warmup");
	const struct conf_val *start = conf_get(sec, "warmup_start");
	const struct conf_val *over = conf_get(sec, "warmup_overflow");

	if (k == 0) {
		if (start != NULL || over != NULL)
			conf_error(x, start ? start : over,
				   "transport \"%s\": %s needs warmup, the list of "
				   "rates by day, e.g. warmup = {\"5/m\", \"20/m\", \"100/m\"}",
				   t->name, start ? "warmup_start" : "warmup_overflow");
		return;
	}
	if ((t->warmup = calloc(k, sizeof(*t->warmup))) == NULL) {
		x->oom = true;
		return;
	}
	for (unsigned i = 0; i < k; i++) {
		const struct conf_val *v = conf_nth(sec, "warmup", i);
		if (value_rate(v->s, &t->warmup[t->nwarmup]) == -1)
			conf_error(x, v,
				   "warmup entry \"%s\" is not a rate; write \"N/s\", "
				   "\"N/m\", \"N/h\" or \"N/d\" with N at least 1, e.g. \"5/m\"",
				   v->s);
		else
			t->nwarmup++;
	}
	if (start == NULL) {
		if (!x->partial)
			conf_error(x, conf_get(sec, "warmup"),
				   "transport \"%s\": warmup needs warmup_start, the "
				   "local date of its day 1, e.g. warmup_start = \"2026-12-01\"",
				   t->name);
	} else if (value_date(start->s, &t->warmup_start) == -1) {
		conf_error(x, start,
			   "warmup_start = \"%s\" is not a date; write \"YYYY-MM-DD\", "
			   "e.g. \"2026-12-01\"",
			   start->s);
	}
}

/* transport sections; fallbacks are resolved once all exist. */
static void
conf_build_transports(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned i, j, k, n = cfg_size(cfg, "transport");
	const struct conf_tls_policy *may = conf_policy_lookup(c, "may");

	if (n == 0)
		return;
	if ((c->transport = calloc(n, sizeof(*c->transport))) == NULL) {
		x->oom = true;
		return;
	}
	c->ntransport = n;
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "transport", i);
		struct conf_transport *t = &c->transport[i];
		const struct conf_val *at = conf_at(sec), *v, *user, *pass;

		t->name = conf_dup(x, conf_title(sec));
		t->line = at->line;

		k = conf_count(sec, "relay");
		if (k > 0 && (t->relay = calloc(k, sizeof(*t->relay))) == NULL)
			x->oom = true;
		for (j = 0; t->relay != NULL && j < k; j++) {
			conf_build_relay(x, conf_nth(sec, "relay", j), &t->relay[t->nrelay]);
			if (t->relay[t->nrelay].host != NULL)
				t->nrelay++;
		}
		if ((v = conf_get(sec, "destination_by")) != NULL) {
			if (strcmp(v->s, "mx") == 0)
				t->by_mx = true;
			else if (strcmp(v->s, "domain") != 0)
				conf_error(x, v,
					   "destination_by = \"%s\" is neither \"domain\" nor "
					   "\"mx\"",
					   v->s);
			if (k > 0)
				conf_error(
					x, v,
					"transport \"%s\": destination_by applies to MX delivery "
					"only; remove it, or the relay list",
					t->name);
		}
		t->port = 25;
		conf_port(x, sec, "port", &t->port);
		conf_bool(x, sec, "smtps", &t->smtps);

		t->tls = may;
		if ((v = conf_get(sec, "tls")) != NULL) {
			const struct conf_tls_policy *p = conf_policy_lookup(c, v->s);

			if (p != NULL)
				t->tls = p;
			else if (!x->partial)
				conf_error(x, v,
					   "tls_policy \"%s\" is not declared (transport "
					   "\"%s\"); declare it or use \"none\", \"may\", "
					   "\"encrypt\", \"verify\", \"dane\" or \"dane-only\"",
					   v->s, t->name);
		}
		if (t->smtps && t->tls != NULL && t->tls->level == TLS_LEVEL_NONE)
			conf_error(x, conf_get(sec, "smtps"),
				   "transport \"%s\": smtps = true "
				   "contradicts tls = \"%s\" (level none); use tls = \"encrypt\" "
				   "or \"verify\", or drop smtps",
				   t->name, t->tls->name);

		user = conf_get(sec, "auth_user");
		pass = conf_get(sec, "auth_password_file");
		t->auth_user = conf_str(x, sec, "auth_user", NULL);
		t->auth_password_file = conf_str(x, sec, "auth_password_file", NULL);
		if (!x->partial && user != NULL && pass == NULL)
			conf_error(x, user,
				   "transport \"%s\": auth_user needs "
				   "auth_password_file, the file that holds the password",
				   t->name);
		else if (!x->partial && user == NULL && pass != NULL)
			conf_error(x, pass,
				   "transport \"%s\": auth_password_file needs "
				   "auth_user, the name to log in as",
				   t->name);

		if ((v = conf_get(sec, "source_address")) != NULL && !value_ip(v->s))
			conf_error(x, v,
				   "source_address = \"%s\" is not an IP address of this "
				   "host",
				   v->s);
		t->source_address = conf_str(x, sec, "source_address", NULL);

		if ((v = conf_get(sec, "public_address")) != NULL) {
			if (!value_ip(v->s))
				conf_error(x, v, "public_address = \"%s\" is not an IP address",
					   v->s);
			else if (k > 0)
				conf_error(x, v,
					   "transport \"%s\": public_address applies to MX "
					   "delivery (the address the world sees its mail come "
					   "from); a transport with relay hands its mail to the "
					   "relay, whose addresses are checked instead",
					   t->name);
		}
		t->public_address = conf_str(x, sec, "public_address", NULL);
		/* MTA-STS is about the recipient domain's MX hosts. */
		t->mta_sts = k == 0;
		conf_bool(x, sec, "mta_sts", &t->mta_sts);
		if (t->mta_sts && k > 0)
			conf_error(x, conf_get(sec, "mta_sts"),
				   "transport \"%s\": mta_sts applies to MX delivery (the "
				   "recipient domain's policy for its MX hosts); a transport with "
				   "relay uses its tls policy",
				   t->name);

		if ((v = conf_get(sec, "helo")) != NULL && !conf_ehlo_name(v->s))
			conf_error(x, v,
				   "helo = \"%s\" is not a host name; write e.g. "
				   "\"relay.example.com\" or \"[192.0.2.1]\"",
				   v->s);
		t->helo = conf_str(x, sec, "helo", c->hostname);

		t->max_connections = 10;
		conf_unsigned(x, sec, "max_connections", &t->max_connections);
		t->max_messages_per_connection = 100;
		conf_unsigned(x, sec, "max_messages_per_connection",
			      &t->max_messages_per_connection);
		if ((v = conf_get(sec, "rate")) != NULL && value_rate(v->s, &t->rate) == -1)
			conf_error(x, v,
				   "rate = \"%s\" is not a rate; write \"N/s\", \"N/m\", "
				   "\"N/h\" or \"N/d\" with N at least 1, e.g. \"100/m\"",
				   v->s);
		conf_build_warmup(x, sec, t);
		t->connect_timeout = 30;
		conf_duration(x, sec, "connect_timeout", 1, &t->connect_timeout);
		t->command_timeout = 300;
		conf_duration(x, sec, "command_timeout", 1, &t->command_timeout);
		t->data_timeout = 600;
		conf_duration(x, sec, "data_timeout", 1, &t->data_timeout);
		t->fallback_hold = 4 * 3600;
		conf_duration(x, sec, "fallback_hold", 0, &t->fallback_hold);
	}

	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "transport", i);
		struct conf_transport *t = &c->transport[i];
		const struct conf_val *v = conf_get(sec, "warmup_overflow");

		if (v != NULL) {
			t->warmup_overflow = conf_transport_find(c, v->s);
			if (t->warmup_overflow == t)
				conf_error(x, v,
					   "transport \"%s\": warmup_overflow cannot be the "
					   "transport itself; name another transport",
					   t->name);
			else if (t->warmup_overflow == NULL && !x->partial)
				conf_error(x, v,
					   "warmup_overflow transport \"%s\" is not declared "
					   "(transport \"%s\")",
					   v->s, t->name);
		}
		v = conf_get(sec, "fallback");
		if (v == NULL)
			continue;
		t->fallback = conf_transport_find(c, v->s);
		if (t->fallback == t)
			conf_error(x, v,
				   "transport \"%s\" cannot fall back to itself; name "
				   "another transport",
				   t->name);
		else if (t->fallback == NULL && !x->partial)
			conf_error(x, v,
				   "fallback transport \"%s\" is not declared (transport "
				   "\"%s\")",
				   v->s, t->name);
	}
}

/*
 * Parse route pattern PAT into KIND and a lower-cased DOMAIN. Returns 0, or
 * -1 when PAT is not "example.com", ".example.com", "mx:[.]example.com" or
 * "*".
 */
static int
conf_route_pattern(const char *pat, enum conf_route_kind *kind, char **domain)
{
	const char *d = pat;
	char *p;

	*domain = NULL;
	if (strcmp(pat, "*") == 0) {
		*kind = ROUTE_ANY;
		return 0;
	}
	if (strncasecmp(pat, "mx:", 3) == 0) {
		*kind = ROUTE_MX;
		d = pat + 3;
	} else if (pat[0] == '.')
		*kind = ROUTE_SUFFIX;
	else
		*kind = ROUTE_EXACT;
	if (!value_domain(*kind != ROUTE_EXACT && d[0] == '.' ? d + 1 : d))
		return -1;
	if ((*domain = strdup(d)) == NULL)
		return -1;
	for (p = *domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

/* route sections. */
static void
conf_build_routes(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned i, n = cfg_size(cfg, "route");

	if (n == 0)
		return;
	if ((c->route = calloc(n, sizeof(*c->route))) == NULL) {
		x->oom = true;
		return;
	}
	c->nroute = n;
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "route", i);
		struct conf_route *r = &c->route[i];
		const struct conf_val *at = conf_at(sec), *v;

		r->pattern = conf_dup(x, conf_title(sec));
		r->line = at->line;
		if (r->pattern == NULL)
			continue;
		if (conf_route_pattern(r->pattern, &r->kind, &r->domain) == -1) {
			if (strncmp(r->pattern, "*.", 2) == 0)
				conf_error(x, at,
					   "route \"%s\" is not a valid pattern; write "
					   "\"%s\" for the subdomains of %s",
					   r->pattern, r->pattern + 1, r->pattern + 2);
			else
				conf_error(x, at,
					   "route \"%s\" is not a valid pattern; use "
					   "\"example.com\", \".example.com\" (its subdomains), "
					   "\"mx:.example.com\" (domains whose MX hosts end so) "
					   "or \"*\"",
					   r->pattern);
		}
		if ((v = conf_get(sec, "transport")) == NULL) {
			if (!x->partial)
				conf_error(x, at,
					   "route \"%s\" has no transport; add transport = "
					   "\"NAME\"",
					   r->pattern);
			continue;
		}
		r->transport = conf_transport_find(c, v->s);
		if (r->transport == NULL && !x->partial)
			conf_error(x, v, "transport \"%s\" is not declared (route \"%s\")", v->s,
				   r->pattern);
	}
}

/* The tls_report section (TLS-RPT), if there is one. */
static void
conf_build_tls_report(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned n = cfg_size(cfg, "tls_report");

	if (n == 0)
		return;
	cfg_t *sec = cfg_getnsec(cfg, "tls_report", n - 1);
	if (n > 1)
		conf_error(x, conf_at(sec), "tls_report: more than one section; keep one");
	struct conf_tls_report *r = calloc(1, sizeof(*r));
	if (!r) {
		x->oom = true;
		return;
	}
	c->tls_report = r;
	r->organization = conf_str(x, sec, "organization", NULL);
	r->contact = conf_str(x, sec, "contact", NULL);
	if ((!r->organization || !*r->organization) && !x->partial)
		conf_error(x, conf_at(sec),
			   "tls_report: organization is required (the name the reports are from, "
			   "e.g. organization = \"Example Org\")");
	if ((!r->contact || !*r->contact) && !x->partial)
		conf_error(x, conf_at(sec),
			   "tls_report: contact is required (an address for questions about the "
			   "reports, e.g. contact = \"postmaster@example.org\")");
	r->interval = 86400;
	conf_duration(x, sec, "interval", 10, &r->interval);
}

/* A node name goes into Redis keys and log lines: letters, digits, '.',
 * '-' and '_', at most 64. */
static bool
conf_node_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool
conf_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The cluster section (a fleet sharing limits through Redis), if any. */
static void
conf_build_cluster(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned n = cfg_size(cfg, "cluster");

	if (n == 0)
		return;
	cfg_t *sec = cfg_getnsec(cfg, "cluster", n - 1);
	if (n > 1)
		conf_error(x, conf_at(sec), "cluster: more than one section; keep one");
	struct conf_cluster *k = calloc(1, sizeof(*k));
	if (!k) {
		x->oom = true;
		return;
	}
	c->cluster = k;
	k->redis = conf_str(x, sec, "redis", NULL);
	k->port = 6379;
	const struct conf_val *v = conf_get(sec, "redis");
	if (!k->redis || !*k->redis) {
		if (!x->partial)
			conf_error(x, conf_at(sec),
				   "cluster: redis is required (the Redis server the fleet shares, "
				   "e.g. redis = \"127.0.0.1:6379\")");
	} else {
		/* host, host:port, [v6] or [v6]:port */
		char host[256] = "";
		const char *r = k->redis, *port = NULL;
		bool ok = true;
		if (r[0] == '[') {
			const char *e = strchr(r, ']');
			ok = e && (size_t)(e - r - 1) < sizeof(host) && e > r + 1;
			if (ok) {
				memcpy(host, r + 1, (size_t)(e - r - 1));
				host[e - r - 1] = '\0';
				if (e[1] == ':')
					port = e + 2;
				else
					ok = e[1] == '\0';
			}
		} else {
			const char *colon = strrchr(r, ':');
			if (colon && memchr(r, ':', (size_t)(colon - r)))
				colon = NULL; /* a bare IPv6 address: no port */
			size_t hl = colon ? (size_t)(colon - r) : strlen(r);
			ok = hl > 0 && hl < sizeof(host);
			if (ok) {
				memcpy(host, r, hl);
				host[hl] = '\0';
				port = colon ? colon + 1 : NULL;
			}
		}
		if (ok && port) {
			char *end;
			long p = strtol(port, &end, 10);
			ok = *port && *end == '\0' && p > 0 && p < 65536;
			if (ok)
				k->port = (int)p;
		}
		if (!ok)
			conf_error(x, v,
				   "cluster: redis = \"%s\" is not host:port; write e.g. "
				   "\"127.0.0.1:6379\" or \"[::1]:6379\"",
				   k->redis);
		else if (!conf_ip_literal(host))
			/* hiredis would resolve a name with getaddrinfo(), which
			 * blocks: nothing on the loop may. */
			conf_error(x, v,
				   "cluster: redis = \"%s\": write the server's IP address, not a "
				   "name (e.g. \"10.0.0.5:6379\")",
				   k->redis);
		else
			k->host = conf_dup(x, host);
	}
	k->node = conf_str(x, sec, "node", c->hostname);
	if (k->node && !conf_node_name(k->node)) {
		conf_error(x, conf_get(sec, "node") ? conf_get(sec, "node") : conf_at(sec),
			   "cluster: node = \"%s\" is not a node name: letters, digits, '.', "
			   "'-' and '_', at most 64",
			   k->node);
	}
}

/* The queue section, or the defaults without one. */
static void
conf_build_queue(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	static const unsigned def[] = {60, 300, 900, 1800, 3600, 7200, 14400};
	struct conf_queue *q = &c->queue;
	unsigned i, j, k, n = cfg_size(cfg, "queue");
	const struct conf_val *v;
	cfg_t *sec;

	q->max_lifetime = 5 * 86400;
	q->delay_warning = 4 * 3600;
	if (n == 0) {
		if ((q->retry = malloc(sizeof(def))) == NULL) {
			x->oom = true;
			return;
		}
		memcpy(q->retry, def, sizeof(def));
		q->nretry = sizeof(def) / sizeof(def[0]);
		return;
	}
	/* A second queue section is an error already; check each anyway. */
	for (j = 0; j < n; j++) {
		sec = cfg_getnsec(cfg, "queue", j);
		free(q->retry);
		q->retry = NULL;
		q->nretry = 0;
		k = conf_count(sec, "retry");
		if (k == 0 && !x->partial)
			conf_error(x, conf_at(sec),
				   "queue: retry is empty; give at least one "
				   "wait, e.g. retry = {\"5m\", \"1h\"}");
		if (k > 0 && (q->retry = calloc(k, sizeof(*q->retry))) == NULL)
			x->oom = true;
		for (i = 0; q->retry != NULL && i < k; i++) {
			v = conf_nth(sec, "retry", i);
			if (value_duration(v->s, &q->retry[q->nretry]) == -1)
				conf_error(x, v,
					   "retry entry \"%s\" is not a duration; write "
					   "e.g. \"30s\", \"5m\", \"2h\" or \"5d\"",
					   v->s);
			else if (q->retry[q->nretry] == 0)
				conf_error(x, v,
					   "retry entry \"%s\" is too short; it must be at "
					   "least 1s",
					   v->s);
			else
				q->nretry++;
		}
		conf_duration(x, sec, "max_lifetime", 1, &q->max_lifetime);
		conf_duration(x, sec, "delay_warning", 0, &q->delay_warning);
	}
}

/* The schema's own copy of key NAME among OPTS (libconfuse's copy goes
 * with the cfg_t), or NULL. */
static const char *
conf_schema_name(const cfg_opt_t *opts, const char *name)
{
	size_t i;

	for (i = 0; opts[i].name != NULL; i++)
		if (strcmp(opts[i].name, name) == 0)
			return opts[i].name;
	return NULL;
}

/* Note where KEY (NULL: the section) of KIND "NAME" was written, from V. */
static void
conf_note(struct conf_ctx *x, struct conf *c, const char *kind, const char *name, const char *key,
	  const struct conf_val *v)
{
	struct conf_key *k;

	if (v == NULL || v->file == NULL)
		return;
	if ((k = reallocarray(c->keys, c->nkeys + 1, sizeof(*k))) == NULL) {
		x->oom = true;
		return;
	}
	c->keys = k;
	k += c->nkeys;
	k->kind = kind;
	k->key = key;
	k->file = v->file;
	k->line = v->line;
	k->name = NULL;
	if (name != NULL && (k->name = strdup(name)) == NULL) {
		x->oom = true;
		return;
	}
	c->nkeys++;
}

/* Note the keys written in section SEC (KIND "NAME"; KIND NULL: the top
 * level), whose schema is OPTS. */
static void
conf_note_keys(struct conf_ctx *x, struct conf *c, cfg_t *sec, const cfg_opt_t *opts,
	       const char *kind, const char *name)
{
	const char *key;
	size_t i;

	for (i = 0; sec->opts[i].name != NULL; i++) {
		cfg_opt_t *o = &sec->opts[i];

		if (o->type != CFGT_PTR || o->nvalues == 0 || o->name[0] == '|' ||
		    (key = conf_schema_name(opts, o->name)) == NULL)
			continue;
		conf_note(x, c, kind, name, key, o->values[0]->ptr);
	}
}

/* Where every key and section was written, for conf_where(). */
static void
conf_note_all(struct conf_ctx *x, cfg_t *cfg, struct conf *c)
{
	unsigned i, j, n;

	conf_note_keys(x, c, cfg, conf_opts, NULL, NULL);
	for (i = 0; conf_opts[i].name != NULL; i++) {
		if (conf_opts[i].type != CFGT_SEC)
			continue;
		n = cfg_size(cfg, conf_opts[i].name);
		for (j = 0; j < n; j++) {
			cfg_t *sec = cfg_getnsec(cfg, conf_opts[i].name, j);
			const char *name = conf_title(sec);

			conf_note(x, c, conf_opts[i].name, name, NULL, conf_at(sec));
			conf_note_keys(x, c, sec, conf_opts[i].subopts, conf_opts[i].name, name);
		}
	}
}

/* Hand the errors to ERR in file order and release them. */
static void
conf_report(struct conf_ctx *x, void (*err)(void *, const char *), void *arg)
{
	size_t i;

	if (x->oom)
		conf_error(x, NULL, "out of memory");
	if (x->nerrs > 1)
		qsort(x->errs, x->nerrs, sizeof(*x->errs), conf_err_cmp);
	for (i = 0; i < x->nerrs; i++) {
		if (err != NULL)
			err(arg, x->errs[i].msg);
		free(x->errs[i].msg);
	}
	free(x->errs);
	x->errs = NULL;
	x->nerrs = 0;
}

/* Parse and check FILE; see conf.h. */
struct conf *
conf_load(const char *file, void (*err)(void *arg, const char *msg), void *arg)
{
	struct conf_ctx ctx;
	struct conf *c = NULL;
	cfg_t *cfg = NULL;
	char *buf = NULL;
	size_t len, i;

	if (file == NULL)
		file = CONF_DEFAULT_FILE;
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = file;
	conf_cur = &ctx;

	if (conf_read(file, &buf, &len) == -1) {
		conf_error(&ctx, NULL, "cannot open: %s", strerror(errno));
		goto done;
	}
	if ((cfg = cfg_init(conf_opts, CFGF_NONE)) == NULL ||
	    (cfg->filename = strdup(file)) == NULL) {
		ctx.oom = true;
		goto done;
	}
	cfg_set_error_function(cfg, conf_cfg_error);
	conf_parse_text(&ctx, cfg, buf, len);

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		ctx.oom = true;
		goto done;
	}
	c->file = conf_dup(&ctx, file);
	conf_build_global(&ctx, cfg, c);
	conf_build_listen(&ctx, cfg, c);
	conf_build_policies(&ctx, cfg, c);
	conf_build_transports(&ctx, cfg, c);
	conf_build_routes(&ctx, cfg, c);
	conf_build_queue(&ctx, cfg, c);
	conf_build_tls_report(&ctx, cfg, c);
	conf_build_cluster(&ctx, cfg, c);
	conf_note_all(&ctx, cfg, c);

done:
	if (cfg != NULL)
		cfg_free(cfg);
	free(buf);
	if (ctx.nerrs > 0 || ctx.oom) {
		conf_free(c);
		c = NULL;
	} else {
		/* conf_where() hands out these names. */
		c->files = ctx.files;
		c->nfiles = ctx.nfiles;
		ctx.files = NULL;
		ctx.nfiles = 0;
	}
	conf_report(&ctx, err, arg);
	for (i = 0; i < ctx.ndecls; i++) {
		free(ctx.decls[i].kind);
		free(ctx.decls[i].title);
	}
	free(ctx.decls);
	for (i = 0; i < ctx.nfiles; i++)
		free(ctx.files[i]);
	free(ctx.files);
	conf_cur = NULL;
	return c;
}

/* Free an array of N strings. */
static void
conf_free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* Release everything conf_load() returned; also half-built ones. */
void
conf_free(struct conf *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	free(c->file);
	conf_free_strv(c->files, c->nfiles);
	for (i = 0; c->keys != NULL && i < c->nkeys; i++)
		free(c->keys[i].name);
	free(c->keys);
	free(c->hostname);
	free(c->spool);
	free(c->control_socket);
	free(c->user);
	free(c->postmaster);
	conf_free_strv(c->dns_servers, c->ndns_servers);
	conf_free_strv(c->dnsbl, c->ndnsbl);
	conf_free_strv(c->check_senders, c->ncheck_senders);
	free(c->metrics_listen);
	free(c->dnssec_probe);
	free(c->tls_ca_file);
	if (c->tls_report) {
		free(c->tls_report->organization);
		free(c->tls_report->contact);
		free(c->tls_report);
	}
	if (c->cluster) {
		free(c->cluster->redis);
		free(c->cluster->host);
		free(c->cluster->node);
		free(c->cluster);
	}
	for (i = 0; c->listen != NULL && i < c->nlisten; i++) {
		struct conf_listen *l = &c->listen[i];

		free(l->name);
		free(l->address);
		free(l->tls_cert);
		free(l->tls_key);
		free(l->ciphers);
		free(l->allow);
		free(l->auth_users);
	}
	free(c->listen);
	for (i = 0; c->tls_policy != NULL && i < c->ntls_policy; i++) {
		struct conf_tls_policy *p = &c->tls_policy[i];

		free(p->name);
		free(p->ca_file);
		conf_free_strv(p->match, p->nmatch);
		free(p->ciphers);
	}
	free(c->tls_policy);
	for (i = 0; c->transport != NULL && i < c->ntransport; i++) {
		struct conf_transport *t = &c->transport[i];

		free(t->name);
		for (j = 0; t->relay != NULL && j < t->nrelay; j++)
			free(t->relay[j].host);
		free(t->relay);
		free(t->warmup);
		free(t->auth_user);
		free(t->auth_password_file);
		free(t->source_address);
		free(t->public_address);
		free(t->helo);
	}
	free(c->transport);
	for (i = 0; c->route != NULL && i < c->nroute; i++) {
		free(c->route[i].pattern);
		free(c->route[i].domain);
	}
	free(c->route);
	free(c->queue.retry);
	free(c);
}

/* The transport named NAME, or NULL. */
const struct conf_transport *
conf_transport_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && name != NULL && i < c->ntransport; i++)
		if (c->transport[i].name != NULL && strcmp(c->transport[i].name, name) == 0)
			return &c->transport[i];
	return NULL;
}

/* The tls_policy named NAME, built-ins included, or NULL. */
const struct conf_tls_policy *
conf_policy_find(const struct conf *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	return conf_policy_lookup(c, name);
}

/* Are A and B both NULL or equal strings. */
static bool
conf_same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The record of KEY of KIND "NAME", or NULL. */
static const struct conf_key *
conf_key_find(const struct conf *c, const char *kind, const char *name, const char *key)
{
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (conf_same(c->keys[i].kind, kind) && conf_same(c->keys[i].name, name) &&
		    conf_same(c->keys[i].key, key))
			return &c->keys[i];
	return NULL;
}

/* Where KEY of KIND "NAME" was written, or its section; see conf.h. */
void
conf_where(const struct conf *c, const char *kind, const char *name, const char *key,
	   const char **file, int *line)
{
	const struct conf_key *k = conf_key_find(c, kind, name, key);

	if (k == NULL && kind != NULL && key != NULL)
		k = conf_key_find(c, kind, name, NULL);
	*file = k != NULL ? k->file : c->file;
	*line = k != NULL ? k->line : 0;
}
