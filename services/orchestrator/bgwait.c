/*
 * bgwait.c - a flag wait with a monotonic deadline (see bgwait.h).
 */
#include "bgwait.h"

#include <errno.h>
#include <time.h>

void bgwait_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

bool bgwait(pthread_mutex_t *mu, pthread_cond_t *cond, atomic_bool *flag, long long ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)(ms / 1000);
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(mu);
	while (!atomic_load(flag))
		if (pthread_cond_timedwait(cond, mu, &dl) == ETIMEDOUT)
			break;
	bool set = atomic_load(flag);
	pthread_mutex_unlock(mu);
	return set;
}
