/*
 * bgwait.h - the waits of the orchestrator's background threads (sweeper, gauges, webhook sender): each
 * sleeps between rounds until told to stop, and its owner waits a bounded time for it to exit. Both are
 * "wait on a condition variable until an atomic flag is set or a time has passed".
 */
#ifndef AEGIS_ORCHESTRATOR_BGWAIT_H
#define AEGIS_ORCHESTRATOR_BGWAIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* pthread_cond_init on CLOCK_MONOTONIC, the clock bgwait's deadlines use. */
void bgwait_cond_init(pthread_cond_t *cond);

/* Wait under `mu` until *flag is true (whoever sets it broadcasts `cond`) or `ms` milliseconds pass.
 * Returns the flag's value at the end. */
bool bgwait(pthread_mutex_t *mu, pthread_cond_t *cond, atomic_bool *flag, long long ms);

#endif
