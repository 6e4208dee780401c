/*
 * outq.h — sending what one round of a session wrote.
 *
 * Inbound sessions and outbound connections both collect a round's output
 * (replies, or commands and the message body) in a private evbuffer and
 * send it in one go when the round is over.
 */
#ifndef RELAYD_OUTQ_H
#define RELAYD_OUTQ_H

#include <stdbool.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Send OUTQ on BEV: written straight to the socket when DIRECT (a plain,
 * established connection) and the bufferevent has nothing pending — one
 * writev, or sendfile for a file segment, without waiting for EPOLLOUT —
 * and whatever is left handed to the bufferevent. */
void outq_flush(struct bufferevent *bev, struct evbuffer *outq, bool direct);

#endif
