/*
 * session.h — inbound SMTP sessions: listeners and connections.
 *
 * session_listen()    open every `listen` of the configuration
 * session_shutdown()  close listeners; 421 to idle sessions
 * session_reload()    new settings and certificates for the listeners
 * session_count()     inbound sessions open now
 * session_idle()      no session is waiting for a spool write
 * session_auth_blocked()  client addresses refused AUTH now (auth_fail_limit)
 */
#ifndef RELAYD_SESSION_H
#define RELAYD_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct conf;

int session_listen(struct event_base *base, const struct conf *c, char **cause);
void session_shutdown(void);
void session_reload(const struct conf *c);
size_t session_count(void);
bool session_idle(void);
size_t session_auth_blocked(void);

#endif
