/*
 * cfg.h - configuration from the environment, described by a table.
 *
 * Each service declares a table of items (env name, type, default, bounds,
 * secret flag, help) that point into its own config struct by offset. Loading
 * validates every item and reports *all* problems in one go, then the struct
 * is treated as immutable. No getenv() anywhere else.
 *
 *   STR  -> char *   (heap copy, freed by ag_cfg_free; NULL when unset and no default)
 *   INT  -> long long (bounded by min/max, decimal only)
 *   BOOL -> bool      ("true/false/1/0/yes/no/on/off")
 */
#ifndef AEGIS_CFG_H
#define AEGIS_CFG_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { AG_CFG_STR, AG_CFG_INT, AG_CFG_BOOL } ag_cfg_type;

typedef struct ag_cfg_item {
	const char *name; /* environment variable */
	ag_cfg_type type;
	size_t offset;      /* offsetof(service_cfg, field) */
	const char *def;    /* default as text; NULL = none */
	bool required;      /* must be set (non-empty) when def is NULL */
	long long min, max; /* INT bounds, inclusive */
	bool secret;        /* value never printed */
	const char *help;   /* one line, for --help and the README table */
} ag_cfg_item;

/* Settings every service reads. Embedded as the first member `common` of each service config. */
typedef struct ag_common_cfg {
	char *nats_url;
	char *database_url;
	char *storage_url;
	char *http_host;
	long long http_port;
	char *log_level;
	long long db_pool_size;
	long long shutdown_grace_ms;
	bool migrate_on_start;
	long long bus_stream_replicas; /* 0 (a struct not filled by the table) means 1 */
	/* HTTP server limits; 0 (a struct not filled by the table) means the limits.h default */
	long long http_max_connections;
	long long http_idle_timeout_ms;
	long long http_max_header_bytes;
} ag_common_cfg;

/* Items for ag_common_cfg inside struct T at member `common`, with the service's default port. */
#define AG_CFG_COMMON_ITEMS(T, port)                                                                                \
	{"NATS_URL", AG_CFG_STR, offsetof(T, common.nats_url),         "nats://127.0.0.1:4222", false, 0,           \
	 0,          false,      "NATS server URL(s), comma-separated"},                                            \
	        {"DATABASE_URL",                                                                                    \
	         AG_CFG_STR,                                                                                        \
	         offsetof(T, common.database_url),                                                                  \
	         "postgresql://aegis@127.0.0.1:5432/aegis",                                                         \
	         false,                                                                                             \
	         0,                                                                                                 \
	         0,                                                                                                 \
	         true,                                                                                              \
	         "PostgreSQL connection URI"},                                                                      \
	        {"STORAGE_URL",                                                                                     \
	         AG_CFG_STR,                                                                                        \
	         offsetof(T, common.storage_url),                                                                   \
	         "file:///var/lib/aegis/data",                                                                      \
	         false,                                                                                             \
	         0,                                                                                                 \
	         0,                                                                                                 \
	         false,                                                                                             \
	         "where uploaded files live: file:///dir"},                                                         \
	        {"HTTP_HOST", AG_CFG_STR, offsetof(T, common.http_host),  "0.0.0.0", false, 0,                      \
	         0,           false,      "address the HTTP server binds"},                                         \
	        {"HTTP_PORT", AG_CFG_INT, offsetof(T, common.http_port),                                            \
	         port,        false,      1,                                                                        \
	         65535,       false,      "HTTP port (API on the gateway; health and metrics everywhere)"},         \
	        {"LOG_LEVEL", AG_CFG_STR, offsetof(T, common.log_level), "info", false, 0,                          \
	         0,           false,      "debug, info, warn or error"},                                            \
	        {"DB_POOL_SIZE",                                                                                    \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.db_pool_size),                                                                  \
	         "4",                                                                                               \
	         false,                                                                                             \
	         1,                                                                                                 \
	         64,                                                                                                \
	         false,                                                                                             \
	         "PostgreSQL connections per process"},                                                             \
	        {"SHUTDOWN_GRACE_MS",                                                                               \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.shutdown_grace_ms),                                                             \
	         "20000",                                                                                           \
	         false,                                                                                             \
	         0,                                                                                                 \
	         600000,                                                                                            \
	         false,                                                                                             \
	         "time in-flight work gets to finish after SIGTERM"},                                               \
	        {"BUS_STREAM_REPLICAS",                                                                             \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.bus_stream_replicas),                                                           \
	         "1",                                                                                               \
	         false,                                                                                             \
	         1,                                                                                                 \
	         5,                                                                                                 \
	         false,                                                                                             \
	         "JetStream stream replicas when a stream is created (3 on a 3-node NATS cluster)"},                \
	        {"HTTP_MAX_CONNECTIONS",                                                                            \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.http_max_connections),                                                          \
	         "1024",                                                                                            \
	         false,                                                                                             \
	         1,                                                                                                 \
	         1000000,                                                                                           \
	         false,                                                                                             \
	         "open HTTP connections at once; further ones are closed at accept (raise ulimit -n to match)"},    \
	        {"HTTP_IDLE_TIMEOUT_MS",                                                                            \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.http_idle_timeout_ms),                                                          \
	         "30000",                                                                                           \
	         false,                                                                                             \
	         1000,                                                                                              \
	         3600000,                                                                                           \
	         false,                                                                                             \
	         "silence allowed on a connection: idle keep-alive, headers arriving, a body between reads (408)"}, \
	        {"HTTP_MAX_HEADER_BYTES",                                                                           \
	         AG_CFG_INT,                                                                                        \
	         offsetof(T, common.http_max_header_bytes),                                                         \
	         "16384",                                                                                           \
	         false,                                                                                             \
	         1024,                                                                                              \
	         1048576,                                                                                           \
	         false,                                                                                             \
	         "request line plus headers; larger ones are answered 431"},                                        \
	{                                                                                                           \
		"MIGRATE_ON_START", AG_CFG_BOOL, offsetof(T, common.migrate_on_start), "true", false, 0, 0, false,  \
		        "apply database migrations at start (under an advisory lock)"                               \
	}

/*
 * Fill `cfg` from the environment according to `items`. Every problem is
 * written to `report` (one line each, secrets never echoed); returns
 * AG_E_INVAL when there was at least one. On failure the struct may be partly
 * filled: call ag_cfg_free anyway.
 */
ag_status ag_cfg_load(const ag_cfg_item *items, size_t n, void *cfg, FILE *report);
/* Free the strings ag_cfg_load allocated; safe on a zeroed or partly filled struct. */
void ag_cfg_free(const ag_cfg_item *items, size_t n, void *cfg);
/* Print "NAME  default  help" lines (for --help). */
void ag_cfg_print_help(const ag_cfg_item *items, size_t n, FILE *out);
/* Print Markdown table rows "| `NAME` | default | help |" (for the README; --config-table). */
void ag_cfg_print_markdown(const ag_cfg_item *items, size_t n, FILE *out);

/* Bounded decimal parser used by the loader and by request code: false on junk, overflow or out of range. */
bool ag_cfg_parse_ll(const char *s, long long min, long long max, long long *out);

#endif
