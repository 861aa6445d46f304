#!/usr/bin/env bash
# auth.sh - accounts, tokens and tenant isolation end to end through the
# gateway, against the real services, nats-server and PostgreSQL:
# register (no enumeration), login, refresh rotation and reuse detection,
# logout, password change, JWKS, forged tokens, API keys, admin
# disable/enable/role/key rotation, brute-force backoff (429 + Retry-After,
# the owner still gets in from another address), owner isolation, SQL
# metacharacters, an external OIDC issuer (RS256 and ES256 from a JWKS this
# test serves; rejected once its key is removed), and no secret in any log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

OIDC_PORT=${T_OIDC_PORT:-28099}
ISSUER="http://127.0.0.1:$OIDC_PORT/realms/test"
export LOGIN_FREE_FAILURES=3 LOGIN_IP_FREE_FAILURES=1000 LOGIN_BACKOFF_BASE_S=30 LOGIN_LOCKOUT_S=120 GATEWAY_AUTH_CACHE_S=1
export OIDC_ISSUER=$ISSUER OIDC_AUDIENCE=aegis-api OIDC_JWKS_URL="http://127.0.0.1:$OIDC_PORT/jwks.json" OIDC_JWKS_TTL_S=1

t_stack_up
IDP_DIR=$T_DIR/idp
mkdir -p "$IDP_DIR"
(cd "$IDP_DIR" && exec python3 -m http.server "$OIDC_PORT" --bind 127.0.0.1 >"$T_DIR/idp.log" 2>&1) &
IDP_PID=$!
trap 'kill $IDP_PID 2>/dev/null; wait $IDP_PID 2>/dev/null; t_stack_down' EXIT

if stack_wait_ready 60; then ok "all seven services report ready"; else
	not_ok "all seven services report ready"
	exit 1
fi

J='Content-Type: application/json'
PW='correct horse battery'
run=$$.$RANDOM
SECRETS=() # every password, token and key of this test: none may appear in a log

# login EMAIL PASSWORD [curl args]: sets API_STATUS/API_BODY
login() { api POST /v1/auth/login -H "$J" -d "{\"email\":\"$1\",\"password\":\"$2\"}" "${@:3}"; }
bearer() { echo "Authorization: Bearer $1"; }
sql() { psql -X -q -t -A "$AEGIS_TEST_DATABASE_URL" -c "$1"; }
jqe() { jq -e "$@" >/dev/null; }
# b64d: base64url (unpadded) on stdin -> bytes
b64d() {
	local s
	s=$(tr '_-' '/+' | tr -d '\n')
	while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
	printf '%s' "$s" | base64 -d
}

# --- register: no account enumeration ---
alice="alice.$run@example.com"
api POST /v1/auth/register -H "$J" -d "{\"email\":\" Alice.$run@Example.com \",\"password\":\"$PW\"}"
check_eq "register answers 201" "$API_STATUS" 201
first=$API_BODY
check_eq "register answers the normalised email" "$(echo "$first" | jq -r .email)" "$alice"
api POST /v1/auth/register -H "$J" -d "{\"email\":\"$alice\",\"password\":\"another long passphrase\"}"
check_eq "registering a taken email answers 201 too" "$API_STATUS" 201
check_eq "... with the same body (no enumeration)" "$API_BODY" "$first"
api POST /v1/auth/register -H "$J" -d '{"email":"x@example.com","password":"short"}'
check_eq "a weak password is refused with 400" "$API_STATUS" 400
check "... saying why" bash -c "echo '$API_BODY' | jq -r .detail | grep -q 'at least 10 characters'"
check "the stored hash is argon2id" bash -c "[[ \$(psql -X -q -t -A '$AEGIS_TEST_DATABASE_URL' -c \"SELECT password_hash FROM users WHERE email = '$alice'\") == '\$argon2id\$v=19\$m=19456,t=2,p=1\$'* ]]"

# --- login, me, refresh rotation, reuse revokes the family ---
login "$alice" "$PW"
check_eq "login answers 200" "$API_STATUS" 200
A1=$(echo "$API_BODY" | jq -r .access_token)
R1=$(echo "$API_BODY" | jq -r .refresh_token)
SECRETS+=("$A1" "$R1")
api GET /v1/auth/me -H "$(bearer "$A1")"
check_eq "the access token works" "$API_STATUS" 200
ALICE_ID=$(echo "$API_BODY" | jq -r .id)
check_eq "me says role user, via jwt" "$(echo "$API_BODY" | jq -r '.role + " " + .via')" "user jwt"
header=$(echo -n "$A1" | cut -d. -f1 | b64d)
check_eq "the access token is EdDSA with a kid" "$(echo "$header" | jq -r '.alg + " " + (.kid | type)')" "EdDSA string"
KID1=$(echo "$header" | jq -r .kid)
claims=$(echo -n "$A1" | cut -d. -f2 | b64d)
check_eq "the access token carries iss, aud, sub, role, exp-iat = 900" \
	"$(echo "$claims" | jq -r '[.iss, .aud, .sub, .role, (.exp - .iat)] | map(tostring) | join(" ")')" \
	"aegis aegis-api $ALICE_ID user 900"

api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R1\"}"
check_eq "refresh answers 200" "$API_STATUS" 200
R2=$(echo "$API_BODY" | jq -r .refresh_token)
A2=$(echo "$API_BODY" | jq -r .access_token)
SECRETS+=("$R2" "$A2")
check "refresh rotates the refresh token" test "$R2" != "$R1"
api GET /v1/auth/me -H "$(bearer "$A2")"
check_eq "the refreshed access token works" "$API_STATUS" 200
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R1\"}"
check_eq "reusing a spent refresh token answers 401" "$API_STATUS" 401
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R2\"}"
check_eq "... and revokes the whole family (the newest member answers 401)" "$API_STATUS" 401
check "the reuse is logged as a security event" grep -q 'security: refresh token reuse' "$T_DIR/logs/auth.log"
api POST /v1/auth/refresh -H "$J" -d '{"refresh_token":"not-a-token"}'
check_eq "an unknown refresh token answers 401" "$API_STATUS" 401
api POST /v1/auth/refresh -H "$J" -d '{}'
check_eq "a refresh without a token answers 400" "$API_STATUS" 400

# --- logout ---
login "$alice" "$PW"
R3=$(echo "$API_BODY" | jq -r .refresh_token)
SECRETS+=("$R3")
api POST /v1/auth/logout -H "$J" -d "{\"refresh_token\":\"$R3\"}"
check_eq "logout answers 204" "$API_STATUS" 204
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R3\"}"
check_eq "a logged-out refresh token answers 401" "$API_STATUS" 401
api POST /v1/auth/logout -H "$J" -d '{"refresh_token":"unknown"}'
check_eq "logout of an unknown token answers 204 too" "$API_STATUS" 204

# --- change password: other sessions end ---
login "$alice" "$PW"
A4=$(echo "$API_BODY" | jq -r .access_token)
R4=$(echo "$API_BODY" | jq -r .refresh_token)
login "$alice" "$PW"
R5=$(echo "$API_BODY" | jq -r .refresh_token)
SECRETS+=("$A4" "$R4" "$R5")
NEWPW='a brand new passphrase'
api POST /v1/auth/password -H "$J" -H "$(bearer "$A4")" -d "{\"current_password\":\"wrong password!\",\"new_password\":\"$NEWPW\"}"
check_eq "a wrong current password answers 403" "$API_STATUS" 403
api POST /v1/auth/password -H "$J" -H "$(bearer "$A4")" -d "{\"current_password\":\"$PW\",\"new_password\":\"short\"}"
check_eq "a weak new password answers 400" "$API_STATUS" 400
api POST /v1/auth/password -H "$J" -d "{\"current_password\":\"$PW\",\"new_password\":\"$NEWPW\"}"
check_eq "a password change needs a bearer token" "$API_STATUS" 401
api POST /v1/auth/password -H "$J" -H "$(bearer "$A4")" -d "{\"current_password\":\"$PW\",\"new_password\":\"$NEWPW\"}"
check_eq "changing the password answers 200" "$API_STATUS" 200
R6=$(echo "$API_BODY" | jq -r .refresh_token)
SECRETS+=("$R6")
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R5\"}"
check_eq "another session's refresh token is revoked" "$API_STATUS" 401
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$R6\"}"
check_eq "the new session's refresh token works" "$API_STATUS" 200
login "$alice" "$PW"
check_eq "the old password no longer logs in" "$API_STATUS" 401
login "$alice" "$NEWPW"
check_eq "the new password logs in" "$API_STATUS" 200
TOKEN=$(echo "$API_BODY" | jq -r .access_token)
SECRETS+=("$TOKEN")
PW=$NEWPW

# --- JWKS ---
api GET /v1/auth/jwks
check_eq "GET /v1/auth/jwks answers 200" "$API_STATUS" 200
check_eq "its keys are Ed25519 JWKs (kty OKP, crv Ed25519, 43-character x)" \
	"$(echo "$API_BODY" | jq -r '.keys[0] | [.kty, .crv, (.x | length), .alg] | map(tostring) | join(" ")')" "OKP Ed25519 43 EdDSA"
check "the access token's kid is published" jqe --arg k "$KID1" '[.keys[].kid] | index($k) != null' <<<"$API_BODY"
api GET /.well-known/jwks.json
check_eq "GET /.well-known/jwks.json answers 200 with the same keys" \
	"$API_STATUS $(echo "$API_BODY" | jq -c '[.keys[].kid]')" "200 $(apio GET /v1/auth/jwks | jq -c '[.keys[].kid]')"

# --- forged tokens ---
p=$(echo "$TOKEN" | cut -d. -f2)
h=$(echo "$TOKEN" | cut -d. -f1)
s=$(echo "$TOKEN" | cut -d. -f3)
none_h=$(printf '{"alg":"none","kid":"%s"}' "$KID1" | base64 -w0 | tr '+/' '-_' | tr -d '=')
api GET /v1/auth/me -H "$(bearer "$none_h.$p.")"
check_eq "alg none is refused" "$API_STATUS" 401
x=$(apio GET /v1/auth/jwks | jq -r .keys[0].x)
hs_h=$(printf '{"alg":"HS256","kid":"%s"}' "$KID1" | base64 -w0 | tr '+/' '-_' | tr -d '=')
hs_s=$(printf '%s' "$hs_h.$p" | openssl dgst -sha256 -hmac "$x" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
api GET /v1/auth/me -H "$(bearer "$hs_h.$p.$hs_s")"
check_eq "HS256 keyed with the public key is refused" "$API_STATUS" 401
tp=$(echo "$claims" | jq -c '.role = "admin"' | base64 -w0 | tr '+/' '-_' | tr -d '=')
api GET /v1/auth/me -H "$(bearer "$h.$tp.$s")"
check_eq "a tampered payload (role admin) is refused" "$API_STATUS" 401
uk_h=$(printf '{"alg":"EdDSA","kid":"unknown-kid"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')
api GET /v1/auth/me -H "$(bearer "$uk_h.$p.$s")"
check_eq "an unknown kid is refused" "$API_STATUS" 401

# --- a second user; isolation ---
bob="bob.$run@example.com"
api POST /v1/auth/register -H "$J" -d "{\"email\":\"$bob\",\"password\":\"$PW\"}"
login "$bob" "$PW"
BOB=$(echo "$API_BODY" | jq -r .access_token)
BOB_R=$(echo "$API_BODY" | jq -r .refresh_token)
SECRETS+=("$BOB" "$BOB_R")
BOB_ID=$(apio GET /v1/auth/me -H "$(bearer "$BOB")" | jq -r .id)
printf '# hello\n\nprivate notes of alice\n' >"$T_DIR/a.md"
api POST "/v1/files?filename=a.md" -H "$(bearer "$TOKEN")" -H 'Content-Type: text/markdown' --data-binary @"$T_DIR/a.md"
check_eq "alice uploads a file" "$API_STATUS" 202
DOC=$(echo "$API_BODY" | jq -r .document_id)
JOB=$(echo "$API_BODY" | jq -r .job_id)
deadline=$((SECONDS + 60))
until case "$(apio GET "/v1/jobs/$JOB" -H "$(bearer "$TOKEN")" | jq -r .state)" in succeeded | failed | rejected) true ;; *) false ;; esac; do
	[ $SECONDS -ge $deadline ] && break
	sleep 0.2
done
for path in "/v1/documents/$DOC" "/v1/documents/$DOC/content" "/v1/jobs/$JOB"; do
	api GET "$path" -H "$(bearer "$BOB")"
	check_eq "bob gets 404 for alice's ${path#/v1/}" "$API_STATUS" 404
	api GET "$path" -H "$(bearer "$TOKEN")"
	check_eq "alice gets 200 for her ${path#/v1/}" "$API_STATUS" 200
done
# every job and document action with another user's token answers 404, and changes nothing
for action in "POST /v1/jobs/$JOB/cancel" "DELETE /v1/jobs/$JOB" "POST /v1/jobs/$JOB/retry" \
	"POST /v1/documents/$DOC/reprocess"; do
	api ${action% *} "${action#* }" -H "$(bearer "$BOB")"
	check_eq "bob gets 404 for ${action% *} alice's ${action#* /v1/}" "$API_STATUS" 404
done
check_eq "alice's job is untouched by bob" "$(apio GET "/v1/jobs/$JOB" -H "$(bearer "$TOKEN")" | jq -r .state)" succeeded
check_eq "bob's document list is empty" "$(apio GET /v1/documents -H "$(bearer "$BOB")" | jq '.items | length')" 0
for bad in "'%20OR%201=1--" "$DOC'--" "%27%3B%20DROP%20TABLE%20users%3B--"; do
	api GET "/v1/documents/$bad" -H "$(bearer "$BOB")"
	check_eq "SQL metacharacters in a document id answer 404 ($bad)" "$API_STATUS" 404
	api GET "/v1/jobs/$bad" -H "$(bearer "$BOB")"
	check_eq "SQL metacharacters in a job id answer 404 ($bad)" "$API_STATUS" 404
done
api GET "/v1/documents?cursor=%27%20OR%201%3D1--&limit=1" -H "$(bearer "$BOB")"
check_eq "SQL metacharacters in a cursor answer 400" "$API_STATUS" 400
api GET "/v1/documents?limit=1%20OR%201=1" -H "$(bearer "$BOB")"
check_eq "SQL metacharacters in a limit answer 400" "$API_STATUS" 400
quote="o'brien.$run@example.com"
api POST /v1/auth/register -H "$J" -d "{\"email\":\"$quote\",\"password\":\"$PW\"}"
login "$quote" "$PW"
check_eq "an email with a quote registers and logs in" "$API_STATUS" 200
login "x' OR '1'='1@example.com" "$PW"
check_eq "SQL metacharacters in a login email answer 401" "$API_STATUS" 401
check "users table intact" test "$(sql 'SELECT count(*) > 2 FROM users')" = t

# --- API keys ---
api POST /v1/auth/api-keys -H "$J" -H "$(bearer "$TOKEN")" -d '{"name":"backup script"}'
check_eq "creating an API key answers 201" "$API_STATUS" 201
KEY=$(echo "$API_BODY" | jq -r .key)
KEY_ID=$(echo "$API_BODY" | jq -r .id)
SECRETS+=("$KEY")
check "the key starts with agk_" bash -c "[[ '$KEY' == agk_* ]] && [ ${#KEY} -eq 47 ]"
api GET /v1/auth/api-keys -H "$(bearer "$TOKEN")"
check_eq "the listing shows the key's name and prefix" "$(echo "$API_BODY" | jq -r '.items[0] | .name + " " + .prefix')" \
	"backup script ${KEY:0:12}"
check "the listing never shows the key" bash -c "! echo '$API_BODY' | grep -q '$KEY'"
check "only the key's hash is stored" test "$(sql "SELECT count(*) FROM api_keys WHERE key_hash = sha256(convert_to('$KEY', 'UTF8')) AND position('${KEY:4}' in encode(key_hash, 'escape')) = 0")" = 1
api GET /v1/auth/me -H "$(bearer "$KEY")"
check_eq "the API key authenticates as its user" "$(echo "$API_BODY" | jq -r '.id + " " + .via')" "$ALICE_ID api_key"
api GET "/v1/documents/$DOC" -H "$(bearer "$KEY")"
check_eq "the API key reads the user's documents" "$API_STATUS" 200
api DELETE "/v1/auth/api-keys/$KEY_ID" -H "$(bearer "$BOB")"
check_eq "bob cannot revoke alice's key (404)" "$API_STATUS" 404
api GET /v1/auth/me -H "$(bearer "agk_$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')")"
check_eq "an unknown API key answers 401" "$API_STATUS" 401
api DELETE "/v1/auth/api-keys/$KEY_ID" -H "$(bearer "$TOKEN")"
check_eq "revoking the key answers 204" "$API_STATUS" 204
sleep 1.2 # GATEWAY_AUTH_CACHE_S=1
api GET /v1/auth/me -H "$(bearer "$KEY")"
check_eq "a revoked key answers 401" "$API_STATUS" 401

# --- roles and admin ---
admin="admin.$run@example.com"
api POST /v1/auth/register -H "$J" -d "{\"email\":\"$admin\",\"password\":\"$PW\"}"
sql "UPDATE users SET role = 'admin' WHERE email = '$admin'" >/dev/null
login "$admin" "$PW"
ADMIN=$(echo "$API_BODY" | jq -r .access_token)
SECRETS+=("$ADMIN")
ADMIN_ID=$(apio GET /v1/auth/me -H "$(bearer "$ADMIN")" | jq -r .id)
api GET /v1/admin/users -H "$(bearer "$BOB")"
check_eq "a user cannot list users (403)" "$API_STATUS" 403
api GET "/v1/admin/users?limit=1000" -H "$(bearer "$ADMIN")"
check_eq "an admin lists users" "$API_STATUS" 200
check "... bob among them" jqe --arg e "$bob" '[.items[].email] | index($e) != null' <<<"$API_BODY"
api POST "/v1/admin/users/$BOB_ID/disable" -H "$(bearer "$BOB")"
check_eq "a user cannot disable anyone (403)" "$API_STATUS" 403
api POST /v1/auth/api-keys -H "$J" -H "$(bearer "$BOB")" -d '{"name":"bob key"}'
BOB_KEY=$(echo "$API_BODY" | jq -r .key)
SECRETS+=("$BOB_KEY")
api POST "/v1/admin/users/$BOB_ID/disable" -H "$(bearer "$ADMIN")"
check_eq "an admin disables bob (204)" "$API_STATUS" 204
api POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$BOB_R\"}"
check_eq "a disabled user's refresh fails at once" "$API_STATUS" 401
login "$bob" "$PW"
check_eq "a disabled user cannot log in (403)" "$API_STATUS" 403
sleep 1.2
api GET /v1/auth/me -H "$(bearer "$BOB_KEY")"
check_eq "a disabled user's API key is refused" "$API_STATUS" 401
api POST "/v1/admin/users/$ADMIN_ID/disable" -H "$(bearer "$ADMIN")"
check_eq "an admin cannot disable themselves (400)" "$API_STATUS" 400
api POST "/v1/admin/users/00000000-0000-4000-8000-000000000000/disable" -H "$(bearer "$ADMIN")"
check_eq "disabling an unknown user answers 404" "$API_STATUS" 404
api POST "/v1/admin/users/$BOB_ID/enable" -H "$(bearer "$ADMIN")"
check_eq "an admin enables bob again (204)" "$API_STATUS" 204
login "$bob" "$PW"
check_eq "bob logs in again" "$API_STATUS" 200
api PUT "/v1/admin/users/$BOB_ID/role" -H "$J" -H "$(bearer "$ADMIN")" -d '{"role":"root"}'
check_eq "an unknown role answers 400" "$API_STATUS" 400
sql "UPDATE users SET role = 'user' WHERE email = '$admin'" >/dev/null
api GET /v1/admin/users -H "$(bearer "$ADMIN")"
check_eq "a demoted admin's still-valid token is refused by the auth service (403)" "$API_STATUS" 403
sql "UPDATE users SET role = 'admin' WHERE email = '$admin'" >/dev/null
api GET "/v1/documents/$DOC" -H "$(bearer "$ADMIN")"
check_eq "an admin reads any user's document by id" "$API_STATUS" 200
api GET "/v1/documents/$DOC/content" -H "$(bearer "$ADMIN")"
check_eq "... and its content" "$API_STATUS" 200
api GET "/v1/jobs/$JOB" -H "$(bearer "$ADMIN")"
check_eq "... and any user's job by id" "$API_STATUS" 200
check_eq "an admin's own list stays their own" "$(apio GET /v1/documents -H "$(bearer "$ADMIN")" | jq '.items | length')" 0
api POST /v1/admin/signing-keys/rotate -H "$(bearer "$ADMIN")"
check_eq "an admin rotates the signing keys (204)" "$API_STATUS" 204
login "$alice" "$PW"
NEWTOK=$(echo "$API_BODY" | jq -r .access_token)
SECRETS+=("$NEWTOK")
kid2=$(echo -n "$NEWTOK" | cut -d. -f1 | b64d | jq -r .kid)
check "a new login is signed by a new key" test -n "$kid2" -a "$kid2" != "$KID1"
api GET /v1/auth/me -H "$(bearer "$NEWTOK")"
check_eq "the new key's token is accepted (unknown kid -> JWKS refetch)" "$API_STATUS" 200
api GET /v1/auth/me -H "$(bearer "$TOKEN")"
check_eq "a token of the retired key still verifies until it expires" "$API_STATUS" 200
check "the JWKS publishes both the retired and the new key" jqe --arg a "$KID1" --arg b "$kid2" \
	'[.keys[].kid] | (index($a) != null) and (index($b) != null)' <<<"$(apio GET /v1/auth/jwks)"

# --- brute force: backoff per (account, IP), the owner still gets in from elsewhere ---
carol="carol.$run@example.com"
api POST /v1/auth/register -H "$J" -d "{\"email\":\"$carol\",\"password\":\"$PW\"}"
for i in 1 2 3 4; do
	login "$carol" "wrong password $i"
	check_eq "failed login $i answers 401" "$API_STATUS" 401
done
login "$carol" "wrong password 5" -D "$T_DIR/h429"
check_eq "the next attempt answers 429" "$API_STATUS" 429
retry=$(grep -i '^Retry-After:' "$T_DIR/h429" | tr -dc '0-9')
check "... with a Retry-After of 1..30 s" test "${retry:-0}" -ge 1 -a "${retry:-0}" -le 30
check_eq "... as problem+json" "$(echo "$API_BODY" | jq -r .status)" 429
login "$carol" "$PW"
check_eq "even the right password waits while blocked (429)" "$API_STATUS" 429
login "$carol" "$PW" --interface 127.0.0.2
check_eq "the owner logs in from another address (no lockout DoS)" "$API_STATUS" 200
login "nobody.$run@example.com" "x wrong password"
check_eq "an unknown account answers 401 like a wrong password" "$API_STATUS" 401

# --- external OIDC issuer ---
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$IDP_DIR/rsa.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$IDP_DIR/ec.pem" 2>/dev/null
python3 "$here/oidc_tool.py" jwks "$IDP_DIR/jwks.json" "$IDP_DIR/rsa.pem:r1" "$IDP_DIR/ec.pem:e1"
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$OIDC_PORT/jwks.json" 2>/dev/null && break; sleep 0.1; done
now=$(date +%s)
ext() { # ext ALG KID [jq-edit]: a token of the test issuer
	python3 "$here/oidc_tool.py" sign "$IDP_DIR/$([ "$1" = ES256 ] && echo ec || echo rsa).pem" "$1" "$2" \
		"$(jq -cn --arg iss "$ISSUER" --argjson now "$now" \
			"{iss: \$iss, aud: [\"aegis-api\", \"account\"], sub: \"ext-user-$run\", iat: \$now, exp: (\$now + 300)} | ${3:-.}")"
}
api GET /v1/auth/me -H "$(bearer "$(ext RS256 r1)")"
check_eq "an RS256 token of the external issuer is accepted" "$API_STATUS $(echo "$API_BODY" | jq -r .via)" "200 oidc"
EXT_ID=$(echo "$API_BODY" | jq -r .id)
check "... and mapped to a local user created on first sight" test "$(sql "SELECT count(*) FROM user_identities WHERE user_id = '$EXT_ID'")" = 1
api GET /v1/auth/me -H "$(bearer "$(ext ES256 e1)")"
check_eq "an ES256 token of the same subject maps to the same user" "$API_STATUS $(echo "$API_BODY" | jq -r .id)" "200 $EXT_ID"
api GET /v1/documents -H "$(bearer "$(ext RS256 r1)")"
check_eq "the external user reads their (empty) documents" "$API_STATUS $(echo "$API_BODY" | jq '.items | length')" "200 0"
api GET /v1/auth/me -H "$(bearer "$(ext RS256 r1 '.aud = "someone-else"')")"
check_eq "a wrong audience is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext RS256 r1 '.exp = ($now - 3600)')")"
check_eq "an expired external token is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext RS256 r1 '.nbf = ($now + 3600)')")"
check_eq "a not-yet-valid external token is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext HS256 r1)")"
check_eq "HS256 keyed with the issuer's public key is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext none r1)")"
check_eq "alg none from the external issuer is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext RS256 r9)")"
check_eq "an unknown external kid is refused" "$API_STATUS" 401
tok=$(ext RS256 r1)
api GET /v1/auth/me -H "$(bearer "${tok%.*}.$(echo "$(ext RS256 r1 '.sub = "someone"')" | cut -d. -f3)")"
check_eq "a signature of other claims is refused" "$API_STATUS" 401
python3 "$here/oidc_tool.py" jwks "$IDP_DIR/jwks.json" "$IDP_DIR/ec.pem:e1"
sleep 2.2 # OIDC_JWKS_TTL_S=1
api GET /v1/auth/me -H "$(bearer "$tok")"
check_eq "once its key is removed from the JWKS the token is refused" "$API_STATUS" 401
api GET /v1/auth/me -H "$(bearer "$(ext ES256 e1)")"
check_eq "... while the remaining key still works" "$API_STATUS" 200

# --- nothing secret in any log ---
leaks=0
for s in "${SECRETS[@]}" "$PW" "correct horse battery"; do
	[ -n "$s" ] && [ "$s" != null ] || continue
	if grep -rqF -- "$s" "$T_DIR"/logs/; then leaks=$((leaks + 1)); fi
done
check_eq "no password, token or API key appears in any log line" "$leaks" 0
check "no email address appears in the auth service's log" bash -c "! grep -q '$alice' '$T_DIR/logs/auth.log'"

[ "$T_FAILED" -eq 0 ]
