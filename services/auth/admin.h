/*
 * admin.h - what an admin may do (list users, disable and enable them,
 * change a role) and the mapping of external OIDC identities to local
 * users.
 *
 * The gateway only forwards admin requests whose token says role=admin;
 * the actor's role is checked again here against the database (403
 * otherwise), so a demoted admin's still-valid token stops working at once.
 * An admin cannot disable or demote themselves (400), so the last admin
 * cannot lock everybody out. Disabling revokes every refresh token and
 * makes API keys fail at once; access tokens stay valid until they expire.
 *
 * External identities: (issuer, sub) -> a local user created on first
 * sight (role user, no password, email "<uuid>@external.invalid" since the
 * issuer's email claim is not trusted to name a local account).
 */
#ifndef AUTH_ADMIN_H
#define AUTH_ADMIN_H

#include "sessions.h"

#define ADMIN_LIST_MAX    1000
#define ADMIN_SUBJECT_MAX 255

/* 200 with *rows (id, email, role, disabled, external, created_at), PQclear'd by the caller. */
void admin_users(const sessions_ctx *s, const char *actor, unsigned limit, unsigned offset, PGresult **rows,
                 accounts_result *r);
/* 204 | 400 self | 403 | 404. */
void admin_set_disabled(const sessions_ctx *s, const char *actor, const char *target, bool disabled,
                        accounts_result *r);
/* role "user" | "admin": 204 | 400 | 403 | 404. */
void admin_set_role(const sessions_ctx *s, const char *actor, const char *target, const char *role, accounts_result *r);
/* Rotate the signing keys now (keys_rotate): 204 | 403. */
void admin_rotate_keys(const sessions_ctx *s, const char *actor, accounts_result *r);
/* 200 with r->user_id and role | 400 | 403 disabled. */
void admin_external(const sessions_ctx *s, const char *issuer, const char *subject, accounts_result *r);

#endif
