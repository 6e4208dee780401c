/*
 * sts_cache.c — MTA-STS policies kept in files of their own, written
 * crash-safely (sts_cache.h): temporary file, fsync, rename, fsync the
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relayd/sts_cache.h"

#define MAGIC "relayd-mta-sts 1\n"
#define TMP_PREFIX ".tmp." /* never a domain: those do not start with '.' */
#define HEAD_MAX 128	   /* the longest header is 95 bytes */
#define FILE_MAX (HEAD_MAX + STS_CACHE_BODY_MAX)

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

struct entry {
	char id[STS_CACHE_ID_MAX + 1];
	time_t fetched;
	const char *body;
	size_t len;
};

/* A plain lower-case host name: what may be a file name in DIR. */
static bool
valid_domain(const char *d)
{
	size_t n = strlen(d);

	if (n < 1 || n > 253 || d[0] == '.' || d[n - 1] == '.' || strstr(d, ".."))
		return false;
	return strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

static bool
valid_id(const char *p, size_t n)
{
	if (n < 1 || n > STS_CACHE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\0' || !strchr(alnum, p[i]))
			return false;
	return true;
}

/* N bytes at P as a decimal number up to MAX, without sign or leading zero. */
static bool
parse_num(const char *p, size_t n, long long max, long long *out)
{
	long long v = 0;

	if (n < 1 || (p[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (max - (p[i] - '0')) / 10)
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* The value of line "KEY VALUE\n" at *P, before END, and *P past the line; or NULL. */
static const char *
field(const char **p, const char *end, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *nl = memchr(*p, '\n', (size_t)(end - *p)), *v;

	if (!nl || (size_t)(nl - *p) <= klen || memcmp(*p, key, klen) != 0 || (*p)[klen] != ' ')
		return NULL;
	v = *p + klen + 1;
	*len = (size_t)(nl - v);
	*p = nl + 1;
	return v;
}

/* Why the N bytes of file BUF are not a policy, or NULL with E filled. */
static const char *
parse(const char *buf, size_t n, struct entry *e)
{
	size_t mlen = strlen(MAGIC), vlen;
	const char *p = buf + mlen, *hend, *v;
	long long num, len;

	if (n > FILE_MAX)
		return "file too large";
	if (memcmp(buf, MAGIC, n < mlen ? n : mlen) != 0)
		return "bad magic line";
	if (!(hend = memmem(buf, n, "\n\n", 2)))
		return "truncated header";
	hend++; /* the empty line */
	if (!(v = field(&p, hend, "id", &vlen)) || !valid_id(v, vlen))
		return "bad id line";
	memcpy(e->id, v, vlen);
	e->id[vlen] = '\0';
	if (!(v = field(&p, hend, "fetched", &vlen)) || !parse_num(v, vlen, LLONG_MAX, &num) ||
	    (time_t)num != num)
		return "bad fetched line";
	e->fetched = (time_t)num;
	if (!(v = field(&p, hend, "length", &vlen)) ||
	    !parse_num(v, vlen, STS_CACHE_BODY_MAX, &len))
		return "bad length line";
	if (p != hend)
		return "unexpected line in header";
	e->body = hend + 1;
	e->len = (size_t)(buf + n - e->body);
	if (e->len != (size_t)len)
		return e->len < (size_t)len ? "body shorter than its length (truncated)"
					    : "body longer than its length";
	return NULL;
}

/* Read DIR's file NAME into BUF (FILE_MAX + 2 bytes): why it is unusable
 * (maybe written to WHY), or NULL with E filled. */
static const char *
read_entry(int dfd, const char *name, char *buf, struct entry *e, char *why, size_t whylen)
{
	struct stat st;
	size_t n = 0;
	ssize_t r = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd == -1 && errno == ELOOP)
		return "not a regular file"; /* a symbolic link */
	if (fd == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return "not a regular file";
	}
	while (n <= FILE_MAX && (r = read(fd, buf + n, FILE_MAX + 1 - n)) != 0) {
		if (r == -1 && errno != EINTR)
			goto fail;
		if (r > 0)
			n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return parse(buf, n, e);
fail:
	snprintf(why, whylen, "cannot read it: %s", strerror(errno));
	if (fd != -1)
		close(fd);
	return why;
}

/* Report bad file NAME (printable ASCII only: one line) and remove it. */
static void
reject(const char *dir, int dfd, const char *name, const char *why,
       void (*warn)(void *, const char *), void *warnarg)
{
	char safe[NAME_MAX + 1], msg[PATH_MAX + 256];
	size_t i;

	for (i = 0; i < sizeof(safe) - 1 && name[i]; i++)
		safe[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
	safe[i] = '\0';
	if (unlinkat(dfd, name, 0) == -1)
		snprintf(msg, sizeof(msg), "%s/%s: %s; cannot remove it: %s", dir, safe, why,
			 strerror(errno));
	else
		snprintf(msg, sizeof(msg), "%s/%s: %s; removed", dir, safe, why);
	if (warn)
		warn(warnarg, msg);
}

/* Every policy of DIR to CB; bad files to WARN, and removed. */
int
sts_cache_load(const char *dir,
	       void (*cb)(void *arg, const char *domain, const char *id, time_t fetched,
			  const char *body, size_t len),
	       void *arg, void (*warn)(void *arg, const char *msg), void *warnarg)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct entry e;
	char *buf;
	int n = 0, err;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	if (!(buf = malloc(FILE_MAX + 2))) {
		closedir(d);
		return -1;
	}
	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name, *why;
		char whybuf[128];
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			unlinkat(dirfd(d), name, 0); /* a save cut short by a crash */
			continue;
		}
		why = valid_domain(name)
			      ? read_entry(dirfd(d), name, buf, &e, whybuf, sizeof(whybuf))
			      : "not a lower-case domain name";
		if (why) {
			reject(dir, dirfd(d), name, why, warn, warnarg);
			continue;
		}
		cb(arg, name, e.id, e.fetched, e.body, e.len);
		n++;
	}
	err = errno;
	free(buf);
	closedir(d);
	errno = err;
	return err ? -1 : n;
}

__attribute__((format(printf, 3, 4))) static int
save_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* DIR/DOMAIN replaced whole by the new policy, durably. */
int
sts_cache_save(const char *dir, const char *domain, const char *id, time_t fetched,
	       const char *body, size_t len, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX], parent[PATH_MAX], head[HEAD_MAX];
	int fd, hlen;

	if (!valid_domain(domain))
		return save_error(err, errlen, "\"%s\" is not a lower-case host name", domain);
	if (!valid_id(id, strnlen(id, STS_CACHE_ID_MAX + 1)))
		return save_error(err, errlen, "policy id \"%s\" is not 1 to %d letters and digits",
				  id, STS_CACHE_ID_MAX);
	if (fetched < 0 || len > STS_CACHE_BODY_MAX || (!body && len > 0))
		return save_error(err, errlen, "bad fetch time or policy body for %s", domain);
	if (snprintf(path, sizeof(path), "%s/%s", dir, domain) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "XXXXXX", dir) >= (int)sizeof(tmp) ||
	    snprintf(parent, sizeof(parent), "%s/..", dir) >= (int)sizeof(parent))
		return save_error(err, errlen, "%s: directory name too long", dir);
	if (mkdir(dir, 0700) == 0) {
		if (sync_dir(parent) == -1) /* the new DIR's entry in its parent */
			return save_error(err, errlen, "cannot sync %s: %s", parent,
					  strerror(errno));
	} else if (errno != EEXIST) {
		return save_error(err, errlen, "cannot create %s: %s", dir, strerror(errno));
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) /* mode 0600 */
		return save_error(err, errlen, "cannot create a file in %s: %s", dir,
				  strerror(errno));
	hlen = snprintf(head, sizeof(head), MAGIC "id %s\nfetched %lld\nlength %zu\n\n", id,
			(long long)fetched, len);
	if (write_all(fd, head, (size_t)hlen) == -1 || write_all(fd, body, len) == -1 ||
	    fsync(fd) == -1) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return save_error(err, errlen, "cannot write %s: %s", tmp, strerror(e));
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		int e = errno;
		unlink(tmp);
		return save_error(err, errlen, "cannot write %s: %s", path, strerror(e));
	}
	if (sync_dir(dir) == -1)
		return save_error(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
	/* ---- From here on the policy survives a crash. ---- */
	return 0;
}

/* DIR/DOMAIN gone, durably. */
int
sts_cache_remove(const char *dir, const char *domain)
{
	char path[PATH_MAX];

	if (!valid_domain(domain) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, domain) >= PATH_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (unlink(path) == -1)
		return errno == ENOENT ? 0 : -1;
	return sync_dir(dir); /* a crash must not bring it back */
}
