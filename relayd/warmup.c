/*
 * warmup.c — which day of a warm-up it is, and that day's rate.
 *
 * warmup_today(), warmup_midnight(), warmup_at(), warmup_rate(),
 * warmup_describe()
 */
#include <stdio.h>

#include "conf/value.h"
#include "relayd/warmup.h"

/* The local date of NOW. */
long
warmup_today(time_t now)
{
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL)
		return now / 86400;
	return value_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
				     (unsigned)tm.tm_mday);
}

/* The first second of the next local day after NOW. */
time_t
warmup_midnight(time_t now)
{
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL)
		return now - now % 86400 + 86400;
	tm.tm_mday++;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1; /* whatever it is then */
	time_t t = mktime(&tm);
	return t > now ? t : now + 1;
}

void
warmup_at(const struct conf_transport *t, long today, struct warmup_now *w)
{
	*w = (struct warmup_now){.phase = WARMUP_NONE};
	if (t == NULL || t->nwarmup == 0)
		return;
	w->days = (unsigned)t->nwarmup;
	long k = today - t->warmup_start + 1;
	if (k < 1) {
		w->phase = WARMUP_NOT_STARTED;
	} else if ((unsigned long)k > t->nwarmup) {
		w->phase = WARMUP_DONE;
	} else {
		w->phase = WARMUP_DAY;
		w->day = (unsigned)k;
		w->rate = t->warmup[k - 1];
	}
}

struct conf_rate
warmup_rate(const struct conf_transport *t, const struct warmup_now *w, bool *limited)
{
	*limited = false;
	if (w->phase != WARMUP_DAY || !value_rate_less(&w->rate, &t->rate))
		return t->rate;
	*limited = true;
	return w->rate;
}

void
warmup_describe(const struct conf_transport *t, const struct warmup_now *w, char *buf, size_t len)
{
	char r[32];
	switch (w->phase) {
	case WARMUP_NONE:
		snprintf(buf, len, "none");
		break;
	case WARMUP_NOT_STARTED:
		value_date_format(t->warmup_start, r, sizeof(r));
		snprintf(buf, len, "starts %s", r);
		break;
	case WARMUP_DAY:
		value_rate_format(&w->rate, r, sizeof(r));
		snprintf(buf, len, "day %u of %u, %s", w->day, w->days, r);
		break;
	case WARMUP_DONE:
		snprintf(buf, len, "done");
		break;
	}
}
