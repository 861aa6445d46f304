/*
 * webhook.h - what the gateway (registration) and the orchestrator (the
 * sender) share about user webhooks: the URL rule (http or https, a host,
 * no user:password; and unless private addresses are allowed, every address
 * the host resolves to must be public), the address rule on its own (the
 * sender re-checks the address it actually connects to, so DNS that changes
 * after registration cannot point a webhook at the internal network), the
 * signing secret and the signature header.
 *
 * Signature: Aegis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 * "<t>.<body>")>, where secret is the 64-hex-digit text as shown to the user.
 */
#ifndef AEGIS_WEBHOOK_H
#define AEGIS_WEBHOOK_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define AG_WEBHOOK_URL_MAX       2048
#define AG_WEBHOOK_SECRET_LEN    64  /* hex digits of a 32-byte random key */
#define AG_WEBHOOK_SIGNATURE_MAX 128 /* "t=<20 digits>,v1=<64 hex>" + NUL */

/* true for loopback, private (RFC 1918, fc00::/7), link-local, unspecified, CGNAT, multicast and other
 * non-public addresses, IPv4-mapped IPv6 included. */
bool ag_webhook_addr_private(const struct sockaddr *sa);

/* Check `url` (see above). Resolves the host (blocking DNS: thread pool or worker threads only). AG_E_INVAL
 * with a user-facing reason in err for a bad URL; AG_E_UNAVAILABLE when the host does not resolve now. */
ag_status ag_webhook_url_check(const char *url, bool allow_private, ag_err *err);

/* A new random secret, NUL-terminated hex (libsodium must be initialised). */
void ag_webhook_secret_new(char out[AG_WEBHOOK_SECRET_LEN + 1]);

/* out = "t=<t>,v1=<hex>" for body[0..len). */
void ag_webhook_sign(const char *secret, int64_t t, const void *body, size_t len, char out[AG_WEBHOOK_SIGNATURE_MAX]);

#endif
