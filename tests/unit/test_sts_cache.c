/*
 * test_sts_cache.c — unit tests for relayd/sts_cache.c: the MTA-STS
 * policy cache on disk, each test in a fresh directory under /tmp.
 *
 * Round trips (several domains, bytes that look like the header, CR, LF
 * and NUL in a body, an empty and a 64 KiB body), the exact bytes of a
 * file, overwriting, removing, a crash's temporary file, one row per kind
 * of malformed file (reported through warn with the file's name, and
 * removed), refused names and ids, a missing and an unreadable directory.
 * Mismatches print "got X, want Y" and the run goes on to the next row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "relayd/sts_cache.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(s) s, sizeof(s) - 1 /* a string literal as bytes and length */
#define MAXGOT 16

static int bad; /* mismatches in the current test */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
			bad++;                                                                     \
		}                                                                                  \
	} while (0)

static void
done(void)
{
	int n = bad;

	bad = 0;
	if (n)
		fail_msg("%d mismatches", n);
}

/* What a load passed to its callbacks. */
struct got {
	int n, nwarn;
	struct {
		char domain[256], id[STS_CACHE_ID_MAX + 1];
		time_t fetched;
		char *body;
		size_t len;
		int nul_after; /* body[len] == '\0' */
	} e[MAXGOT];
	char *warn[MAXGOT];
};

static void
got_cb(void *arg, const char *domain, const char *id, time_t fetched, const char *body, size_t len)
{
	struct got *g = arg;

	if (g->n == MAXGOT)
		return;
	snprintf(g->e[g->n].domain, sizeof(g->e[g->n].domain), "%s", domain);
	snprintf(g->e[g->n].id, sizeof(g->e[g->n].id), "%s", id);
	g->e[g->n].fetched = fetched;
	g->e[g->n].body = malloc(len + 1);
	assert_non_null(g->e[g->n].body);
	memcpy(g->e[g->n].body, body, len);
	g->e[g->n].len = len;
	g->e[g->n].nul_after = body[len] == '\0';
	g->n++;
}

static void
got_warn(void *arg, const char *msg)
{
	struct got *g = arg;

	if (g->nwarn < MAXGOT)
		g->warn[g->nwarn] = strdup(msg);
	g->nwarn++;
}

static void
got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->e[i].body);
	for (int i = 0; i < g->nwarn && i < MAXGOT; i++)
		free(g->warn[i]);
	memset(g, 0, sizeof(*g));
}

/* Load DIR into G (freed first); the count returned. */
static int
load(const char *dir, struct got *g)
{
	got_free(g);
	return sts_cache_load(dir, got_cb, g, got_warn, g);
}

/* The entry G got for DOMAIN, or -1. */
static int
got_find(const struct got *g, const char *domain)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->e[i].domain, domain) == 0)
			return i;
	return -1;
}

/* ---- fixture ---------------------------------------------------------- */

struct fix {
	char root[64];	     /* the mkdtemp directory */
	char dir[96];	     /* root/sts: the cache, not created */
	char path[PATH_MAX]; /* scratch */
	struct got got;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/test_sts_cache.XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/sts", f->root);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	chmod(f->dir, 0700);
	got_free(&f->got);
	int rc = nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

/* F->path = DIR/NAME */
static const char *
at(struct fix *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	return f->path;
}

static void
write_file(const char *path, const char *bytes, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_true(write(fd, bytes, len) == (ssize_t)len);
	close(fd);
}

/* The number of entries in DIR, "." and ".." left out. */
static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
save_ok(struct fix *f, const char *domain, const char *id, time_t fetched, const char *body,
	size_t len)
{
	char err[256] = "";
	int rc = sts_cache_save(f->dir, domain, id, fetched, body, len, err, sizeof(err));
	CHECK(rc == 0, "save %s: got %d (%s), want 0", domain, rc, err);
}

/* ---- round trips ------------------------------------------------------- */

static char big[STS_CACHE_BODY_MAX];

static const char policy[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
			     "mx: *.example.net\r\nmax_age: 604800\r\n";
/* CR, LF, NUL, high bytes, and what looks like a header and its end. */
static const char binary[] = "\r\n\n\0\xff\x80relayd-mta-sts 1\nid x\nfetched 1\nlength 3\n\n\0\r";

static const struct {
	const char *domain, *id;
	time_t fetched;
	const char *body;
	size_t len;
} rows[] = {
	{"example.com", "20240101T000000", 1700000000, S(policy)},
	{"a-b.c0.example", "x", 0, S(binary)},
	{"empty.example", "A1b2C3", 1, NULL, 0},
	{"big.example", "ffffffffffffffffffffffffffffffff", 4102444800, big, sizeof(big)},
	{"1.2-3", "0", 59, "x", 1},
	{"-", "Z", 1700000001, "\n", 1},
};

static void
test_round_trip(void **state)
{
	struct fix *f = *state;
	struct stat st;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7919 % 251);
	for (size_t i = 0; i < NELEM(rows); i++)
		save_ok(f, rows[i].domain, rows[i].id, rows[i].fetched, rows[i].body, rows[i].len);
	int n = load(f->dir, &f->got);
	CHECK(n == (int)NELEM(rows), "load: got %d, want %zu", n, NELEM(rows));
	CHECK(f->got.n == n, "callbacks: got %d, want %d", f->got.n, n);
	CHECK(f->got.nwarn == 0, "warnings: got %d (%s), want 0", f->got.nwarn,
	      f->got.nwarn ? f->got.warn[0] : "");
	for (size_t i = 0; i < NELEM(rows); i++) {
		const char *d = rows[i].domain;
		int j = got_find(&f->got, d);
		if (j == -1) {
			CHECK(0, "%s: not loaded", d);
			continue;
		}
		CHECK(strcmp(f->got.e[j].id, rows[i].id) == 0, "%s: id: got %s, want %s", d,
		      f->got.e[j].id, rows[i].id);
		CHECK(f->got.e[j].fetched == rows[i].fetched, "%s: fetched: got %lld, want %lld", d,
		      (long long)f->got.e[j].fetched, (long long)rows[i].fetched);
		CHECK(f->got.e[j].len == rows[i].len, "%s: length: got %zu, want %zu", d,
		      f->got.e[j].len, rows[i].len);
		CHECK(f->got.e[j].len != rows[i].len || rows[i].len == 0 ||
			      memcmp(f->got.e[j].body, rows[i].body, rows[i].len) == 0,
		      "%s: body differs", d);
		CHECK(f->got.e[j].nul_after, "%s: no NUL after the body", d);
		CHECK(stat(at(f, d), &st) == 0 && (st.st_mode & 07777) == 0600,
		      "%s: mode: got %o, want 600", d, (unsigned)st.st_mode & 07777);
	}
	CHECK(stat(f->dir, &st) == 0 && (st.st_mode & 07777) == 0700,
	      "directory mode: got %o, want 700", (unsigned)st.st_mode & 07777);
	CHECK(count_files(f->dir) == (int)NELEM(rows),
	      "files: got %d, want %zu (a temporary left?)", count_files(f->dir), NELEM(rows));
	/* Loading does not consume: a second load sees the same. */
	n = load(f->dir, &f->got);
	CHECK(n == (int)NELEM(rows), "second load: got %d, want %zu", n, NELEM(rows));
	done();
}

/* The bytes on disk are the documented format. */
static void
test_format(void **state)
{
	struct fix *f = *state;
	static const char want[] =
		"relayd-mta-sts 1\nid abc123\nfetched 1700000000\nlength 5\n\nhel\0o";
	char buf[256];

	save_ok(f, "example.org", "abc123", 1700000000, "hel\0o", 5);
	int fd = open(at(f, "example.org"), O_RDONLY);
	assert_true(fd != -1);
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK(n == (ssize_t)sizeof(want) - 1 && memcmp(buf, want, sizeof(want) - 1) == 0,
	      "file: got %zd bytes \"%.*s\", want \"%s\"", n, (int)(n > 0 ? n : 0), buf, want);
	done();
}

static void
test_overwrite(void **state)
{
	struct fix *f = *state;

	save_ok(f, "example.com", "old1", 100, S("old policy body, longer than the new"));
	save_ok(f, "example.com", "new2", 200, S("new"));
	int n = load(f->dir, &f->got);
	CHECK(n == 1, "load: got %d, want 1", n);
	if (n == 1) {
		CHECK(strcmp(f->got.e[0].id, "new2") == 0, "id: got %s, want new2", f->got.e[0].id);
		CHECK(f->got.e[0].fetched == 200, "fetched: got %lld, want 200",
		      (long long)f->got.e[0].fetched);
		CHECK(f->got.e[0].len == 3 && memcmp(f->got.e[0].body, "new", 3) == 0,
		      "body: got \"%.*s\", want \"new\"", (int)f->got.e[0].len, f->got.e[0].body);
	}
	CHECK(count_files(f->dir) == 1, "files: got %d, want 1", count_files(f->dir));
	done();
}

static void
test_remove(void **state)
{
	struct fix *f = *state;
	int rc;

	CHECK((rc = sts_cache_remove(f->dir, "example.com")) == 0,
	      "remove without a directory: got %d, want 0", rc);
	save_ok(f, "example.com", "a", 1, S("x"));
	save_ok(f, "example.net", "b", 2, S("y"));
	CHECK((rc = sts_cache_remove(f->dir, "example.com")) == 0, "remove: got %d, want 0", rc);
	CHECK((rc = sts_cache_remove(f->dir, "example.com")) == 0, "remove again: got %d, want 0",
	      rc);
	CHECK((rc = sts_cache_remove(f->dir, "missing.example")) == 0,
	      "remove missing: got %d, want 0", rc);
	CHECK((rc = sts_cache_remove(f->dir, "../sts")) == -1, "remove ../sts: got %d, want -1",
	      rc);
	CHECK((rc = sts_cache_remove(f->dir, "")) == -1, "remove \"\": got %d, want -1", rc);
	int n = load(f->dir, &f->got);
	CHECK(n == 1 && strcmp(f->got.e[0].domain, "example.net") == 0,
	      "load: got %d (%s), want 1 (example.net)", n, n > 0 ? f->got.e[0].domain : "");
	done();
}

/* A save cut short by a crash leaves a temporary file: removed silently. */
static void
test_leftover_tmp(void **state)
{
	struct fix *f = *state;

	save_ok(f, "example.com", "a", 1, S("x"));
	write_file(at(f, ".tmp.Ab12Cd"), S("relayd-mta-sts 1\nid a\nfet"));
	write_file(at(f, ".tmp.XXXXXX"), "", 0);
	int n = load(f->dir, &f->got);
	CHECK(n == 1, "load: got %d, want 1", n);
	CHECK(f->got.nwarn == 0, "warnings: got %d (%s), want 0", f->got.nwarn,
	      f->got.nwarn ? f->got.warn[0] : "");
	CHECK(access(at(f, ".tmp.Ab12Cd"), F_OK) == -1, "temporary file left");
	CHECK(count_files(f->dir) == 1, "files: got %d, want 1", count_files(f->dir));
	done();
}

/* ---- malformed files --------------------------------------------------- */

#define HEAD "relayd-mta-sts 1\nid abc\nfetched 1700000000\n"
#define NO(n, s, why)                                                                              \
	{                                                                                          \
		.name = n, .bytes = s, .len = sizeof(s) - 1, .want = why                           \
	}

static char huge[STS_CACHE_BODY_MAX + 256];

static const struct {
	const char *name; /* the file's name */
	const char *bytes;
	size_t len;
	const char *want; /* in the warning */
} malformed[] = {
	NO("empty.example", "", "truncated header"),
	NO("magic2.example", "relayd-mta-sts 2\nid abc\nfetched 1\nlength 0\n\n", "bad magic line"),
	NO("magiccr.example", "relayd-mta-sts 1\r\nid abc\nfetched 1\nlength 0\n\n",
	   "bad magic line"),
	NO("junk.example", "version: STSv1\nmode: enforce\n", "bad magic line"),
	NO("cut-magic.example", "relayd-mta", "truncated header"),
	NO("cut-head.example", "relayd-mta-sts 1\nid abc\nfetched 17", "truncated header"),
	NO("cut-blank.example", HEAD "length 0\n", "truncated header"),
	NO("no-id.example", "relayd-mta-sts 1\n\nabc", "bad id line"),
	NO("id-empty.example", "relayd-mta-sts 1\nid \nfetched 1\nlength 0\n\n", "bad id line"),
	NO("id-dash.example", "relayd-mta-sts 1\nid ab-c\nfetched 1\nlength 0\n\n", "bad id line"),
	NO("id-33.example",
	   "relayd-mta-sts 1\nid 123456789012345678901234567890123\nfetched 1\nlength 0\n\n",
	   "bad id line"),
	NO("id-2sp.example", "relayd-mta-sts 1\nid  abc\nfetched 1\nlength 0\n\n", "bad id line"),
	NO("order.example", "relayd-mta-sts 1\nfetched 1\nid abc\nlength 0\n\n", "bad id line"),
	NO("idx.example", "relayd-mta-sts 1\nidx abc\nfetched 1\nlength 0\n\n", "bad id line"),
	NO("fetched-neg.example", "relayd-mta-sts 1\nid abc\nfetched -1\nlength 0\n\n",
	   "bad fetched line"),
	NO("fetched-0lead.example", "relayd-mta-sts 1\nid abc\nfetched 01\nlength 0\n\n",
	   "bad fetched line"),
	NO("fetched-x.example", "relayd-mta-sts 1\nid abc\nfetched 1x\nlength 0\n\n",
	   "bad fetched line"),
	NO("fetched-big.example",
	   "relayd-mta-sts 1\nid abc\nfetched 99999999999999999999\nlength 0\n\n",
	   "bad fetched line"),
	NO("fetched-none.example", "relayd-mta-sts 1\nid abc\nlength 0\n\n", "bad fetched line"),
	NO("length-big.example", HEAD "length 65537\n\n", "bad length line"),
	NO("length-x.example", HEAD "length 0x1\n\n", "bad length line"),
	NO("length-empty.example", HEAD "length \n\n", "bad length line"),
	NO("length-none.example", HEAD "\nabc", "bad length line"),
	NO("extra.example", HEAD "length 3\nextra 1\n\nabc", "unexpected line in header"),
	NO("twice.example", HEAD "length 3\nlength 3\n\nabc", "unexpected line in header"),
	NO("short.example", HEAD "length 10\n\nabc", "shorter than its length (truncated)"),
	NO("long.example", HEAD "length 2\n\nabc", "longer than its length"),
	NO("Upper.Example", HEAD "length 0\n\n", "not a lower-case domain name"),
	NO("a..b", HEAD "length 0\n\n", "not a lower-case domain name"),
	NO("dot.example.", HEAD "length 0\n\n", "not a lower-case domain name"),
	NO(".hidden", HEAD "length 0\n\n", "not a lower-case domain name"),
	NO("under_score.example", HEAD "length 0\n\n", "not a lower-case domain name"),
	{.name = "huge.example", .bytes = huge, .len = sizeof(huge), .want = "file too large"},
};

static void
test_malformed(void **state)
{
	struct fix *f = *state;

	memset(huge, 'x', sizeof(huge));
	memcpy(huge, S(HEAD "length 65536\n\n"));
	for (size_t i = 0; i < NELEM(malformed); i++) {
		const char *name = malformed[i].name;
		got_free(&f->got);
		save_ok(f, "good.example", "g", 1, S("good"));
		write_file(at(f, name), malformed[i].bytes, malformed[i].len);
		int n = load(f->dir, &f->got);
		CHECK(n == 1 && strcmp(f->got.e[0].domain, "good.example") == 0,
		      "%s: load: got %d, want 1 (good.example)", name, n);
		CHECK(f->got.nwarn == 1, "%s: warnings: got %d, want 1", name, f->got.nwarn);
		if (f->got.nwarn >= 1) {
			const char *w = f->got.warn[0];
			CHECK(strstr(w, at(f, name)) && strstr(w, malformed[i].want) &&
				      strstr(w, "removed") && !strchr(w, '\n'),
			      "%s: warning: got \"%s\", want its path, \"%s\" and \"removed\"",
			      name, w, malformed[i].want);
		}
		CHECK(access(at(f, name), F_OK) == -1, "%s: not removed", name);
		CHECK(count_files(f->dir) == 1, "%s: files: got %d, want 1", name,
		      count_files(f->dir));
	}
	done();
}

/* Names with control characters, a symbolic link, no warn callback. */
static void
test_malformed_other(void **state)
{
	struct fix *f = *state;

	save_ok(f, "good.example", "g", 1, S("good"));
	write_file(at(f, "bad\nname\x01"), S(HEAD "length 0\n\n"));
	int n = load(f->dir, &f->got);
	CHECK(n == 1 && f->got.nwarn == 1, "control: got %d and %d warnings, want 1 and 1", n,
	      f->got.nwarn);
	if (f->got.nwarn == 1)
		CHECK(strstr(f->got.warn[0], "/bad?name?: ") != NULL,
		      "control: got \"%s\", want \"bad?name?\" in it", f->got.warn[0]);

	CHECK(symlink("good.example", at(f, "link.example")) == 0, "symlink: %s", strerror(errno));
	n = load(f->dir, &f->got);
	CHECK(n == 1 && f->got.nwarn == 1, "symlink: got %d and %d warnings, want 1 and 1", n,
	      f->got.nwarn);
	if (f->got.nwarn == 1)
		CHECK(strstr(f->got.warn[0], "link.example: not a regular file; removed") != NULL,
		      "symlink: got \"%s\"", f->got.warn[0]);
	CHECK(access(at(f, "good.example"), F_OK) == 0, "symlink: its target was removed");

	write_file(at(f, "bad.example"), S("junk"));
	got_free(&f->got);
	n = sts_cache_load(f->dir, got_cb, &f->got, NULL, NULL);
	CHECK(n == 1, "no warn: got %d, want 1", n);
	CHECK(access(at(f, "bad.example"), F_OK) == -1, "no warn: not removed");
	done();
}

/* ---- refusals and directories ----------------------------------------- */

static char long_domain[256];

static const struct {
	const char *name, *domain, *id;
	time_t fetched;
	size_t len;
	const char *want; /* in err */
} refused[] = {
	{"empty domain", "", "a", 1, 0, "not a lower-case host name"},
	{"upper case", "Example.com", "a", 1, 0, "not a lower-case host name"},
	{"leading dot", ".example.com", "a", 1, 0, "not a lower-case host name"},
	{"trailing dot", "example.com.", "a", 1, 0, "not a lower-case host name"},
	{"empty label", "a..b", "a", 1, 0, "not a lower-case host name"},
	{"dot", ".", "a", 1, 0, "not a lower-case host name"},
	{"dot dot", "..", "a", 1, 0, "not a lower-case host name"},
	{"slash", "a/b", "a", 1, 0, "not a lower-case host name"},
	{"space", "a b", "a", 1, 0, "not a lower-case host name"},
	{"utf-8", "\xc3\xa9.example", "a", 1, 0, "not a lower-case host name"},
	{"underscore", "_mta-sts.example", "a", 1, 0, "not a lower-case host name"},
	{"254 bytes", long_domain, "a", 1, 0, "not a lower-case host name"},
	{"empty id", "example.com", "", 1, 0, "letters and digits"},
	{"id dash", "example.com", "a-b", 1, 0, "letters and digits"},
	{"id space", "example.com", "a b", 1, 0, "letters and digits"},
	{"id newline", "example.com", "a\nlength 0", 1, 0, "letters and digits"},
	{"id 33", "example.com", "123456789012345678901234567890123", 1, 0, "letters and digits"},
	{"negative time", "example.com", "a", -1, 0, "bad fetch time"},
	{"body 64 KiB + 1", "example.com", "a", 1, STS_CACHE_BODY_MAX + 1, "policy body"},
};

static void
test_refused(void **state)
{
	struct fix *f = *state;
	static char body[STS_CACHE_BODY_MAX + 1];
	char err[512];

	for (size_t i = 0; i < 254; i++)
		long_domain[i] = i % 50 == 49 ? '.' : 'a'; /* 49 a's, '.', ... */
	for (size_t i = 0; i < NELEM(refused); i++) {
		err[0] = '\0';
		int rc = sts_cache_save(f->dir, refused[i].domain, refused[i].id,
					refused[i].fetched, body, refused[i].len, err, sizeof(err));
		CHECK(rc == -1 && strstr(err, refused[i].want),
		      "%s: got %d \"%s\", want -1 \"...%s...\"", refused[i].name, rc, err,
		      refused[i].want);
	}
	CHECK(access(f->dir, F_OK) == -1, "a refused save created the directory");

	/* The limits themselves are fine: 253 bytes, a 32-character id. */
	long_domain[253] = '\0';
	save_ok(f, long_domain, "12345678901234567890123456789012", 0, NULL, 0);
	int n = load(f->dir, &f->got);
	CHECK(n == 1 && strcmp(f->got.e[0].domain, long_domain) == 0, "253 bytes: got %d, want 1",
	      n);
	done();
}

static void
test_dir_missing(void **state)
{
	struct fix *f = *state;

	int n = load(f->dir, &f->got);
	CHECK(n == 0 && f->got.n == 0 && f->got.nwarn == 0, "load: got %d, want 0", n);
	CHECK(access(f->dir, F_OK) == -1, "load created the directory");
	done();
}

/* As root a mode 000 directory is still readable: use a regular file. */
static void
test_dir_unreadable(void **state)
{
	struct fix *f = *state;
	char err[512] = "";
	int rc;

	if (geteuid() == 0) {
		write_file(f->dir, S("not a directory"));
	} else {
		save_ok(f, "example.com", "a", 1, S("x"));
		assert_true(chmod(f->dir, 0) == 0);
	}
	int n = load(f->dir, &f->got);
	CHECK(n == -1 && f->got.n == 0, "load: got %d, want -1", n);
	rc = sts_cache_save(f->dir, "example.com", "b", 1, S("y"), err, sizeof(err));
	CHECK(rc == -1 && strstr(err, f->dir), "save: got %d \"%s\", want -1 naming the directory",
	      rc, err);
	done();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_unreadable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
