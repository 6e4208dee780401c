/*
 * sts_cache.h — the MTA-STS (RFC 8461) policy cache on disk: a directory
 * in the spool with one file per policy domain, so that policies outlive
 * a restart (a sender keeps a policy until its max_age, 5.1).
 *
 * sts_cache_save()    store DOMAIN's policy body, its TXT id and fetch time
 * sts_cache_load()    pass every stored policy to a callback (at start)
 * sts_cache_remove()  forget DOMAIN's policy
 *
 * DIR/DOMAIN, mode 0600, holds exactly:
 *
 *	relayd-mta-sts 1\n
 *	id ID\n           1..32 letters and digits, the TXT record's id
 *	fetched EPOCH\n   seconds, decimal, no sign, no leading zero
 *	length N\n        0..65536, decimal, no sign, no leading zero
 *	\n
 *	N bytes           the policy file as fetched, any bytes
 *
 * Anything else (another first line, a field missing, out of order or
 * repeated, N not matching the bytes that follow) is malformed.
 *
 * Invariants: a save writes a temporary file ".tmp.XXXXXX" in DIR (a
 * domain never starts with '.'), fsyncs it, rename()s it over DIR/DOMAIN
 * and fsyncs DIR before it returns 0 (DIR's parent too when the save
 * created DIR), so a crash at any point leaves DIR/DOMAIN the old file
 * or the new one, never a torn one, plus at worst a temporary file,
 * which the next load removes. Only a lower-case host name is ever used
 * as a file name, so nothing escapes DIR. Load removes every file it
 * cannot use. No globals; the calls block on the disk (fsync), so they
 * belong on a worker thread. Saves may run concurrently (the last
 * rename wins); a load must not (it removes temporary files).
 */
#ifndef RELAYD_STS_CACHE_H
#define RELAYD_STS_CACHE_H

#include <stddef.h>
#include <time.h>

#define STS_CACHE_ID_MAX 32	 /* letters and digits of a TXT id (RFC 8461 3.1) */
#define STS_CACHE_BODY_MAX 65536 /* bytes of a policy body (RFC 8461 3.3: 64 KiB) */

/* Store BODY (LEN bytes) as DOMAIN's policy; 0, or -1 with a reason in ERR. */
int sts_cache_save(const char *dir, const char *domain, const char *id, time_t fetched,
		   const char *body, size_t len, char *err, size_t errlen);

/* Call CB for each policy in DIR (BODY, valid during the call, has a NUL
 * after its LEN bytes, which may hold NULs too);
 * WARN (may be NULL) gets one line for each bad file, which is removed.
 * The number of policies, 0 without DIR, or -1 when DIR cannot be read. */
int sts_cache_load(const char *dir,
		   void (*cb)(void *arg, const char *domain, const char *id, time_t fetched,
			      const char *body, size_t len),
		   void *arg, void (*warn)(void *arg, const char *msg), void *warnarg);

/* Remove DOMAIN's policy (durably); 0 when it is gone or was not there. */
int sts_cache_remove(const char *dir, const char *domain);

#endif
