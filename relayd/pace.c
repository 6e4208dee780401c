/*
 * pace.c — retries paced behind new mail (pace.h).
 */
#include "relayd/pace.h"

void
pace_init(struct pace *p)
{
	*p = (struct pace){.fresh_last = -1e9, .outcome_at = -1e9};
}

/* Count a new message dispatched at MONO. */
void
pace_fresh(struct pace *p, double mono)
{
	if (mono - p->fresh_sec >= 1.0) {
		double secs = mono - p->fresh_sec;
		double rate = secs < 2.0 ? (double)p->fresh_count / secs : 0;
		p->fresh_rate = p->fresh_rate * 0.5 + rate * 0.5;
		p->fresh_sec = mono;
		p->fresh_count = 0;
	}
	p->fresh_count++;
	p->fresh_last = mono;
}

/* An outcome of a retried recipient: OK false when it was deferred. */
void
pace_outcome(struct pace *p, double mono, bool ok)
{
	if (mono - p->outcome_at >= 0.5) {
		/* About half in 2 s; nothing left after 16 s. */
		double f = mono - p->outcome_at > 16 ? 0 : 1 / (1 + (mono - p->outcome_at) / 2);
		p->retry_ok *= f;
		p->retry_fail *= f;
		p->outcome_at = mono;
	}
	if (ok)
		p->retry_ok += 1;
	else
		p->retry_fail += 1;
}

/* The loop ran its timers LAG seconds late on average, up to MONO. */
void
pace_lag(struct pace *p, double mono, double lag)
{
	p->lag = lag;
	if (!p->ok_rate || mono - p->lag_at < 1.0)
		return;
	p->lag_at = mono;
	if (lag < PACE_LAG_LOW)
		p->ok_rate = p->ok_rate * 1.5 + 50;
	else if (lag > PACE_LAG_HIGH)
		p->ok_rate *= 0.5;
	if (p->ok_rate < PACE_OK_MIN)
		p->ok_rate = PACE_OK_MIN;
	if (p->ok_rate > 1e6)
		p->ok_rate = 1e6;
}

/* Retries per second at MONO, or 0: not paced. */
double
pace_rate(struct pace *p, double mono)
{
	if (mono - p->fresh_last > PACE_BUSY) {
		p->ok_rate = 0; /* a drain starts over from the share */
		return 0;	/* no new mail: nothing to make room for */
	}
	if (mono - p->outcome_at > 16 || p->retry_fail < 20 || p->retry_fail < 4 * p->retry_ok) {
		/* Retries deliver (a destination is back: a drain). */
		if (!p->ok_rate) {
			p->ok_rate = p->fresh_rate * PACE_OK_SHARE;
			if (p->ok_rate < PACE_OK_MIN)
				p->ok_rate = PACE_OK_MIN;
			p->lag_at = mono;
		}
		return p->ok_rate;
	}
	double rate = p->fresh_rate / PACE_SHARE;
	return rate > PACE_MIN ? rate : PACE_MIN;
}

/* May one more retry go at MONO (RATE a second)? If not, p->next says
 * when one may. */
bool
pace_take(struct pace *p, double mono, double rate)
{
	p->tokens += (mono - p->at) * rate;
	p->at = mono;
	if (p->tokens > rate)
		p->tokens = rate; /* at most a second's worth at once */
	if (p->tokens >= 1) {
		p->tokens -= 1;
		return true;
	}
	p->next = mono + (1 - p->tokens) / rate;
	return false;
}
