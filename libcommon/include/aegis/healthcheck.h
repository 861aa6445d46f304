/*
 * healthcheck.h - `<binary> --healthcheck [/path]`: ask the process's own
 * health endpoint over plain HTTP and turn the answer into an exit code, so
 * container images need no shell, curl or wget for their healthchecks.
 *
 * The check reads only HTTP_PORT (and HTTP_HOST, to reach a server bound to
 * one address) from the environment; the rest of the configuration is not
 * loaded, so a healthcheck works whatever else is set.
 */
#ifndef AEGIS_HEALTHCHECK_H
#define AEGIS_HEALTHCHECK_H

#include "aegis/cfg.h"

#include <stddef.h>

/* Whole-request budget: connect, send, read the status line. */
#define AG_HEALTHCHECK_TIMEOUT_MS   2000
#define AG_HEALTHCHECK_DEFAULT_PATH "/readyz"

/*
 * GET `path` from host:port (host a numeric IPv4/IPv6 address) with a blocking
 * socket bounded by `timeout_ms`. Returns the HTTP status code, or -1 with a
 * reason in `why` (connection refused, timeout, not HTTP, ...).
 */
int ag_healthcheck_get(const char *host, int port, const char *path, int timeout_ms, char *why, size_t whylen);

/*
 * The --healthcheck mode: port from HTTP_PORT, else the HTTP_PORT default of
 * `items`; path NULL = AG_HEALTHCHECK_DEFAULT_PATH. Prints one line (to stdout
 * when healthy, stderr otherwise) and returns the exit code: 0 on 200, 1 on
 * any other answer or none, 2 for a bad HTTP_PORT or path.
 */
int ag_healthcheck_main(const char *name, const ag_cfg_item *items, size_t nitems, const char *path);

#endif
