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

/* A drain is under way: retries deliver (recently) and are paced. */
bool
pace_draining(const struct pace *p)
{
	return p->ok_rate && p->retry_ok >= 1;
}

/* Once a second while a drain is paced: faster while new mail waits about
 * as long as it did without one, slower while it waits clearly longer. */
static void
adapt(struct pace *p, double mean, bool sampled)
{
	if (!sampled || mean < p->acc_ref * PACE_SLOW_LOW)
		p->ok_rate = p->ok_rate * 1.5 + 50;
	else if (mean > p->acc_ref * PACE_SLOW_HIGH)
		p->ok_rate *= 0.5;
	if (p->ok_rate < PACE_OK_MIN)
		p->ok_rate = PACE_OK_MIN;
	if (p->ok_rate > 1e6)
		p->ok_rate = 1e6;
}

/* A new message's 250 came SECS after its first RCPT. */
void
pace_accepted(struct pace *p, double mono, double secs)
{
	if (mono - p->acc_at >= 1.0) {
		if (p->acc_n) {
			double mean = p->acc_sum / p->acc_n;
			p->acc_mean = mean;
			if (!pace_draining(p))
				p->acc_ref = p->acc_ref ? p->acc_ref * 0.7 + mean * 0.3 : mean;
			else if (!p->acc_ref || mean < p->acc_ref)
				p->acc_ref = mean; /* a drain from the start: its best second */
			if (p->ok_rate)
				adapt(p, mean, true);
		}
		p->acc_at = mono;
		p->acc_sum = 0;
		p->acc_n = 0;
	}
	/* One sender that takes minutes between RCPT and its data must not
	 * stop a drain: a wait counts for at most PACE_SLOW_CAP references. */
	if (p->acc_ref && secs > p->acc_ref * PACE_SLOW_CAP)
		secs = p->acc_ref * PACE_SLOW_CAP;
	p->acc_sum += secs;
	p->acc_n++;
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
			p->acc_at = mono; /* a whole second of samples first */
			p->acc_sum = 0;
			p->acc_n = 0;
		} else if (mono - p->acc_at >= 1.5) {
			/* No new message made durable for a while: light new mail,
			 * nothing to wait for. */
			adapt(p, 0, false);
			p->acc_at = mono;
		}
		return p->ok_rate;
	}
	p->ok_rate = 0; /* retries fail again: a drain that follows starts over */
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
