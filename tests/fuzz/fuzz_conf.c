/*
 * fuzz_conf.c — configuration loading (conf/conf.c, conf/value.c and
 * libconfuse under them): the input is written to a file and given to
 * conf_load(), whose result goes to conf_free().
 *
 * The file is /tmp/relayd-fuzz-conf-<pid>.conf, one per process, removed at
 * exit. include() is fuzzed too, but reads only regular files and
 * directories: fopen() is wrapped (-Wl,--wrap=fopen, see mk/fuzz.mk) so
 * that an include of /dev/stdin, /dev/tty or a FIFO cannot block the run.
 *
 * Invariants checked: no crash and no leak, on success as on failure (but
 * libconfuse's own, see libconfuse_leak()): every allocation made during
 * conf_load() and conf_free() is tracked, and when any is left the leak
 * checker runs at once, so the input that leaked is the one saved; NULL
 * comes with at least one error and a configuration with none; every error
 * is one "FILE:LINE: message" line (no control character), or "FILE:
 * message" about the whole file; a loaded configuration is resolved as
 * conf.h promises (routes -> transports, transports -> TLS policies, a
 * helo, at least one retry step, lookups that find every declared name);
 * and it survives print_conf() (relayd -n -v): the printed text, written
 * to /tmp/relayd-fuzz-conf-<pid>-printed.conf, loads without an error and
 * prints as the same text again.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sanitizer/allocator_interface.h>
#include <sanitizer/lsan_interface.h>

#include "conf/conf.h"
#include "conf/print.h"
#include "tests/fuzz/fuzz.h"

static char path[64], printed[80];
static bool loading;

FILE *__real_fopen(const char *file, const char *mode);

/* fopen() for the whole program: while conf_load() runs, only regular
 * files and directories (which fail later, with EISDIR) open. */
FILE *
__wrap_fopen(const char *file, const char *mode)
{
	struct stat st;

	if (loading && (stat(file, &st) == -1 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))) {
		errno = ENOENT;
		return NULL;
	}
	return __real_fopen(file, mode);
}

/*
 * The allocations made while TRACKING, not yet freed: an open-addressing
 * table filled from the sanitizer's malloc and free hooks (which must not
 * allocate), emptied after each input.
 */
#define LIVE_SLOTS (1 << 16)
#define LIVE_MAX (LIVE_SLOTS / 2)
/* Pointers are kept masked, or the leak checker would find them here. */
#define LIVE_MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aULL)
static struct live {
	uintptr_t p; /* the pointer ^ LIVE_MASK; 0: empty, 1: deleted */
	size_t size;
	bool ignored; /* libconfuse's own leak */
} live[LIVE_SLOTS];
static size_t nlive, nused, used[LIVE_MAX];
static bool tracking, overflow;
static unsigned long nchecks; /* leak checks run, for -print_final_stats */

static size_t
live_find(uintptr_t p)
{
	size_t i = (p >> 4) * 2654435761u % LIVE_SLOTS;

	while (live[i].p != 0 && live[i].p != p)
		i = (i + 1) % LIVE_SLOTS;
	return i;
}

static void
on_malloc(const volatile void *ptr, size_t size)
{
	uintptr_t p = (uintptr_t)ptr ^ LIVE_MASK;

	if (!tracking || overflow)
		return;
	if (nused == LIVE_MAX) {
		overflow = true;
		return;
	}
	size_t i = (p >> 4) * 2654435761u % LIVE_SLOTS;
	while (live[i].p > 1)
		i = (i + 1) % LIVE_SLOTS;
	live[i].p = p;
	live[i].size = size;
	live[i].ignored = false;
	used[nused++] = i;
	nlive++;
}

static void
on_free(const volatile void *ptr)
{
	if (!tracking || ptr == NULL)
		return;
	uintptr_t p = (uintptr_t)ptr ^ LIVE_MASK;
	size_t i = live_find(p);
	if (live[i].p == p) {
		live[i].p = 1;
		nlive--;
	}
}

/* The entry of PTR, or NULL. */
static struct live *
live_get(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr ^ LIVE_MASK;
	struct live *l = &live[live_find(p)];

	return l->p == p && ptr != NULL ? l : NULL;
}

static void
live_clear(void)
{
	for (size_t i = 0; i < nused; i++)
		live[used[i]].p = 0;
	nused = nlive = 0;
	overflow = false;
}

/*
 * libconfuse 3.3 leaks the arguments it has collected for a function call
 * when a syntax error follows them: include("a" x), include("a", "\9"),
 * include("a", at the end of the file. What is left is its cfg_value_t
 * array (8 bytes a value), each value (8 bytes, calloc), each value's
 * string (strdup). conf.c cannot free these, so they are recognised by
 * that shape among the allocations still live and handed to
 * __lsan_ignore_object(). Returns whether anything else is left over (a
 * global buffer, or conf.c's or a new libconfuse leak: worth a leak check).
 */
static bool
libconfuse_leak(void)
{
	for (size_t u = 0; u < nused; u++) {
		struct live *a = &live[used[u]];
		if (a->p <= 1 || a->size == 0 || a->size % sizeof(void *) != 0)
			continue;
		void **vals = (void **)(a->p ^ LIVE_MASK);
		size_t n = a->size / sizeof(void *), k;
		for (k = 0; k < n; k++) {
			const struct live *v = live_get(vals[k]);
			if (v == NULL || v->size != sizeof(void *) ||
			    live_get(*(void **)vals[k]) == NULL)
				break;
		}
		if (k < n)
			continue;
		for (k = 0; k < n; k++) {
			live_get(*(void **)vals[k])->ignored = true;
			live_get(vals[k])->ignored = true;
			__lsan_ignore_object(*(void **)vals[k]);
			__lsan_ignore_object(vals[k]);
		}
		__lsan_ignore_object(vals);
		a->ignored = true;
	}
	for (size_t u = 0; u < nused; u++)
		if (live[used[u]].p > 1 && !live[used[u]].ignored)
			return true;
	return false;
}

static void
cleanup(void)
{
	unlink(path);
	unlink(printed);
	if (nchecks > 0)
		fprintf(stderr, "fuzz_conf: %lu leak checks\n", nchecks);
}

/* Once per process: the file name, its removal at exit, the hooks. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "/tmp/relayd-fuzz-conf-%ld.conf", (long)getpid());
	snprintf(printed, sizeof(printed), "/tmp/relayd-fuzz-conf-%ld-printed.conf",
		 (long)getpid());
	atexit(cleanup);
	if (__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) == 0)
		abort();
	return 0;
}

static void
on_error(void *arg, const char *msg)
{
	size_t *nerr = arg;
	const char *colon;

	(*nerr)++;
	FUZZ_CHECK(msg != NULL && *msg != '\0', "empty error");
	for (const char *p = msg; *p != '\0'; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in \"%s\"", msg);
	/* "FILE:LINE: message": FILE is a path, which may itself hold a ':'. */
	for (colon = strchr(msg, ':'); colon != NULL; colon = strchr(colon + 1, ':')) {
		size_t digits = strspn(colon + 1, "0123456789");
		if (digits > 0 && colon[1 + digits] == ':' && colon[2 + digits] == ' ')
			return;
	}
	/* About the whole file (it cannot be read, it has no listen): no line. */
	size_t plen = strlen(path);
	if (strncmp(msg, path, plen) == 0 && msg[plen] == ':' && msg[plen + 1] == ' ')
		return;
	FUZZ_CHECK(false, "error without FILE:LINE: \"%s\"", msg);
}

static void
check_conf(const struct conf *c)
{
	for (size_t i = 0; i < c->nroute; i++)
		FUZZ_CHECK(c->route[i].transport != NULL && c->route[i].pattern != NULL,
			   "route %zu unresolved", i);
	for (size_t i = 0; i < c->ntransport; i++) {
		const struct conf_transport *t = &c->transport[i];
		FUZZ_CHECK(t->name != NULL && t->tls != NULL && t->helo != NULL,
			   "transport %zu incomplete", i);
		FUZZ_CHECK(conf_transport_find(c, t->name) == t, "transport \"%s\" not found",
			   t->name);
	}
	for (size_t i = 0; i < c->ntls_policy; i++)
		FUZZ_CHECK(conf_policy_find(c, c->tls_policy[i].name) != NULL,
			   "tls_policy \"%s\" not found", c->tls_policy[i].name);
	FUZZ_CHECK(c->queue.nretry > 0 && c->queue.retry != NULL, "no retry schedule");
	FUZZ_CHECK(c->hostname != NULL && c->spool != NULL, "no hostname or spool");
}

/* print_conf() of C, malloc'd. */
static char *
print_text(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	FUZZ_CHECK(fp != NULL, "open_memstream: %s", strerror(errno));
	FUZZ_CHECK(print_conf(fp, c) == 0, "print_conf() failed");
	FUZZ_CHECK(fclose(fp) == 0, "print_conf(): %s", strerror(errno));
	return buf;
}

/* relayd -n -v: what print_conf() writes loads and prints the same. */
static void
check_printed(const struct conf *c)
{
	char *first = print_text(c), *second;
	size_t nerr = 0;
	FILE *fp;

	if ((fp = __real_fopen(printed, "w")) == NULL || fputs(first, fp) == EOF ||
	    fclose(fp) != 0) {
		perror(printed);
		abort();
	}
	loading = true;
	struct conf *again = conf_load(printed, on_error, &nerr);
	loading = false;
	FUZZ_CHECK(again != NULL && nerr == 0, "the printed configuration does not load:\n%s",
		   first);
	second = print_text(again);
	FUZZ_CHECK(strcmp(first, second) == 0, "printed again differently:\n%s\n---\n%s", first,
		   second);
	free(first);
	free(second);
	conf_free(again);
}

/* One input: written to the file, loaded, checked, freed. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp;
	size_t nerr = 0;

	if ((fp = __real_fopen(path, "w")) == NULL || fwrite(data, 1, size, fp) != size ||
	    fclose(fp) != 0) {
		perror(path);
		abort();
	}
	tracking = true;
	loading = true;
	struct conf *c = conf_load(path, on_error, &nerr);
	loading = false;
	if (c == NULL) {
		FUZZ_CHECK(nerr > 0, "conf_load() failed without an error");
	} else {
		FUZZ_CHECK(nerr == 0, "conf_load() succeeded with %zu errors", nerr);
		check_conf(c);
		check_printed(c);
		conf_free(c);
	}
	tracking = false;
	if (nlive > 0 && !overflow && libconfuse_leak()) {
		nchecks++;
		if (__lsan_do_recoverable_leak_check() != 0)
			FUZZ_CHECK(false, "conf_load() leaked (see the report above)");
	}
	live_clear();
	return 0;
}
