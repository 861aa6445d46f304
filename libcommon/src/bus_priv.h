/*
 * bus_priv.h - what bus.c shares with bus_worker.c and nothing else: the
 * connection's cnats handles, its metrics registry and the mapping of cnats
 * statuses onto ag_status. Not a public header.
 */
#ifndef AEGIS_BUS_PRIV_H
#define AEGIS_BUS_PRIV_H

#include "aegis/bus.h"

#include <nats/nats.h>

/* Borrowed; valid until ag_bus_free. */
natsConnection *ag_bus_nc_(ag_bus *b);
jsCtx *ag_bus_js_(ag_bus *b);
ag_metrics *ag_bus_metrics_(ag_bus *b); /* may be NULL */

/* cnats status (+ JetStream error code, 0 when none) -> ag_status. */
ag_status ag_bus_status_(natsStatus s, jsErrCode jerr);
/* Map, and record "<what>: <cnats text> (jerr N)" into err; returns the mapped status. Reads the calling
 * thread's cnats error text, so call it right after the failing cnats call. */
ag_status ag_bus_err_(ag_err *err, natsStatus s, jsErrCode jerr, const char *what);

/* Tests only: how long a worker thread sees nothing but empty fetches before it checks that its consumer
 * still exists (default 30 s). */
void ag_bus_worker_set_verify_idle_(ag_bus_worker *w, int ms);

#endif
