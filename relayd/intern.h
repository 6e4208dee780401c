/*
 * intern.h — shared, reference-counted copies of strings that repeat.
 *
 * intern()        a shared copy of S (one reference more); NULL for NULL
 * intern_ref()    one reference more to a string intern() returned
 * intern_drop()   one reference less; the copy goes with the last one
 * intern_count()  distinct strings held now
 * intern_bytes()  bytes they take (with their headers)
 *
 * A queue of a million deferred messages holds a handful of distinct
 * senders, clients, transports, relays and last replies: interned, each is
 * kept once instead of once per message or recipient. A string that does
 * not repeat costs a header of 16 bytes more than a strdup(). Lookups are by
 * hash; the table grows with what it holds. Not thread-safe: the event
 * loop's only.
 */
#ifndef RELAYD_INTERN_H
#define RELAYD_INTERN_H

#include <stddef.h>

const char *intern(const char *s);
const char *intern_ref(const char *s);
void intern_drop(const char *s);
size_t intern_count(void);
size_t intern_bytes(void);

/* Free the table (the strings still referenced are freed too: shutdown). */
void intern_free_all(void);

#endif
