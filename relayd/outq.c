/*
 * outq.c — sending what one round of a session wrote (outq.h).
 */
#include "relayd/outq.h"

void
outq_flush(struct bufferevent *bev, struct evbuffer *outq, bool direct)
{
	if (!bev || evbuffer_get_length(outq) == 0)
		return;
	if (direct && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		while (evbuffer_get_length(outq) > 0)
			if (evbuffer_write(outq, bufferevent_getfd(bev)) <= 0)
				break;
	}
	if (evbuffer_get_length(outq) > 0)
		bufferevent_write_buffer(bev, outq);
}
