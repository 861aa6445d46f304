/*
 * limits.h - every compile-time ceiling of Aegis in one place.
 *
 * Limits a deployment may want to change are configuration (MAX_UPLOAD_BYTES
 * and friends, see each service's config table); the numbers here are the
 * hard upper bounds and the defaults those settings start from.
 */
#ifndef AEGIS_LIMITS_H
#define AEGIS_LIMITS_H

/* HTTP server */
#define AG_HTTP_MAX_HEADER_BYTES  (16 * 1024)   /* request line + headers; over -> 431 */
#define AG_HTTP_MAX_HEADERS       64            /* header count; over -> 431 */
#define AG_HTTP_MAX_URL_BYTES     4096          /* request target; over -> 414 */
#define AG_HTTP_MAX_BODY_BUFFERED (1024 * 1024) /* non-streaming body (JSON APIs); over -> 413 */
#define AG_HTTP_READ_CHUNK        (64 * 1024)   /* one read / one body chunk in flight */
#define AG_HTTP_READ_BUF_CACHE    32            /* idle read buffers a server keeps for reuse (malloc churn) */
#define AG_HTTP_MAX_CONNECTIONS   1024          /* default, configurable per service */
#define AG_HTTP_IDLE_TIMEOUT_MS   30000         /* keep-alive idle / slow header timeout */
#define AG_HTTP_MAX_ROUTES        64
#define AG_HTTP_MAX_PATH_PARAMS   4
#define AG_HTTP_STREAM_MAX_QUEUED (256 * 1024)  /* streaming response bytes not yet on the socket */
#define AG_HTTP_STREAM_MAX_POSTED (1024 * 1024) /* bytes posted from other threads, all streams of a server */

/* Uploads */
#define AG_UPLOAD_DEFAULT_MAX_BYTES (100LL * 1024 * 1024)
#define AG_FILENAME_MAX_BYTES       255
#define AG_MULTIPART_BOUNDARY_MAX   70 /* RFC 2046 */

/* Auth */
#define AG_EMAIL_MAX_BYTES    254
#define AG_PASSWORD_MIN_CHARS 10
#define AG_PASSWORD_MAX_BYTES 1024
#define AG_JWT_MAX_BYTES      8192
#define AG_JWKS_MAX_KEYS      16

/* Bus */
#define AG_BUS_MAX_MSG_BYTES       (1024 * 1024) /* NATS default max_payload */
#define AG_BUS_MAX_CONSUMERS       8             /* consumers bound by one process */
#define AG_BUS_MAX_THREADS         64            /* worker threads per consumer */
#define AG_BUS_MAX_BACKOFF         8             /* BackOff entries per consumer */
#define AG_BUS_MAX_STREAM_REPLICAS 5             /* BUS_STREAM_REPLICAS ceiling (JetStream allows R1..R5) */

/* Database */
#define AG_DB_MAX_POOL   64
#define AG_DB_MAX_PARAMS 16

/* Metrics */
#define AG_METRICS_MAX_FAMILIES 128
#define AG_METRICS_MAX_SERIES   1024 /* label combinations, all families */
#define AG_METRICS_MAX_BUCKETS  16

/* Extraction */
#define AG_TEXT_MAX_BYTES (64LL * 1024 * 1024) /* extracted text kept per document */
#define AG_SNIFF_BYTES    (64 * 1024)          /* bytes read for type sniffing */

/* E-mail (aegis/mime.h) */
#define AG_MIME_MAX_DEPTH       100         /* highest MAIL_MAX_DEPTH */
#define AG_MIME_MAX_PARTS       100000      /* highest MAIL_MAX_PARTS */
#define AG_MIME_MAX_FIELDS      1000        /* header fields kept per entity; later ones are ignored */
#define AG_MIME_MAX_FIELD_BYTES (64 * 1024) /* bytes kept of one unfolded header field */
#define AG_MIME_MAX_FILENAME    1024        /* bytes kept of an attachment's file name */
#define AG_MIME_MAX_BOUNDARY    256         /* longer multipart boundaries (RFC: 70) are ignored */

/* Logging */
#define AG_LOG_LINE_MAX 4096

/* Config */
#define AG_CFG_MAX_ITEMS 64

#endif
