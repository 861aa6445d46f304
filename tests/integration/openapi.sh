#!/usr/bin/env bash
# openapi.sh - the OpenAPI document describes the API the gateway really
# routes: it parses, is OpenAPI 3.1 shaped, every route of `gateway --routes`
# (plus the /healthz, /readyz, /metrics every service has) is a documented
# path + method, every error answer is problem+json, and GET /openapi.json
# serves exactly services/gateway/openapi.json.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.bash
BUILD=${BUILD:-build}
DOC=${OPENAPI_DOC:-services/gateway/openapi.json} # another file: to see this test fail
T_DIR=$(mktemp -d /tmp/aegis-it.XXXXXX)

parses() { jq -e . "$DOC" >/dev/null 2>&1; }
check "openapi.json is valid JSON" parses
check_eq "openapi is 3.1.x" "$(jq -r '.openapi | test("^3\\.1\\.[0-9]+$")' "$DOC")" true
check_eq "info has title and version" "$(jq -r '.info | has("title") and has("version")' "$DOC")" true
check_eq "every path starts with /" "$(jq -r '[.paths | keys[] | startswith("/")] | all' "$DOC")" true
check_eq "every operation has responses and an operationId" \
	"$(jq -r '[.paths[][] | select(type == "object") | has("responses") and has("operationId")] | all' "$DOC")" true
check_eq "operationIds are unique" "$(jq -r '[.paths[][] | .operationId] | (length == (unique | length))' "$DOC")" true
check_eq "security schemes: bearer JWT and API key" \
	"$(jq -r '.components.securitySchemes | (.bearerJwt.scheme == "bearer" and .bearerJwt.bearerFormat == "JWT" and .apiKey.type == "apiKey")' "$DOC")" true
check_eq "the problem response is application/problem+json" \
	"$(jq -r '.components.responses.Problem.content | has("application/problem+json")' "$DOC")" true
# every 4xx/5xx documented is a problem (directly or by $ref to a problem response)
bad=$(jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[] | .key as $m | .value.responses | to_entries[]
	| select(.key | test("^[45]")) | select((.value["$ref"] // "") | test("^#/components/responses/(Problem|Unavailable)$") | not)
	| "\($m) \($p) \(.key)"' "$DOC")
check_eq "every documented error is problem+json" "$bad" ""
# every $ref resolves
bad=$(jq -r '[.. | objects | select(has("$ref")) | ."$ref"] | unique[]' "$DOC" | while read -r ref; do
	jq -e --arg r "$ref" 'getpath($r | ltrimstr("#/") | split("/")) != null' "$DOC" >/dev/null || echo "$ref"
done)
check_eq "every \$ref resolves" "$bad" ""
# path parameters named in {…} are declared (directly or through a $ref)
bad=$(jq -r '.components.parameters as $cp | .paths | to_entries[] | .key as $p | .value | to_entries[] | .key as $m
	| [.value.parameters[]? | if has("$ref") then $cp[."$ref" | split("/") | last] else . end | select(.in == "path") | .name] as $declared
	| ($p | [scan("\\{([^}]*)\\}")[0]]) - $declared | select(length > 0) | "\($m) \($p)"' "$DOC")
check_eq "path parameters are declared" "$bad" ""

# routed (method, path) pairs vs documented ones; {} and {name} compare equal
routes=$("$BUILD/bin/gateway" --routes) || not_ok "gateway --routes runs"
check "gateway --routes lists routes" test "$(printf '%s\n' "$routes" | grep -c '^GET ')" -gt 5
routed=$( (printf '%s\n' "$routes"; printf 'GET /healthz\nGET /readyz\nGET /metrics\n') |
	awk '{print tolower($1), $2}' | sed 's/{[^}]*}/{}/g' | sort -u)
documented=$(jq -r '.paths | to_entries[] | .key as $p | .value | keys[]
	| select(test("^(get|head|post|put|patch|delete|options)$")) | "\(.) \($p)"' "$DOC" | sed 's/{[^}]*}/{}/g' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$routed") <(printf '%s\n' "$documented"))
check_eq "every routed method + path is in openapi.json" "$missing" ""
extra=$(comm -13 <(printf '%s\n' "$routed") <(printf '%s\n' "$documented"))
check_eq "openapi.json documents no route the gateway does not have" "$extra" ""

# the running gateway serves the embedded document unchanged
if [ -n "${AEGIS_TEST_NATS_URL:-}" ] && [ -n "${AEGIS_TEST_DATABASE_URL:-}" ]; then
	port=${T_GATEWAY_PORT:-28000}
	mkdir -p "$T_DIR/data"
	HTTP_PORT=$port HTTP_HOST=127.0.0.1 NATS_URL=$AEGIS_TEST_NATS_URL DATABASE_URL=$AEGIS_TEST_DATABASE_URL \
		STORAGE_URL="file://$T_DIR/data" LOG_LEVEL=warn "$BUILD/bin/gateway" >"$T_DIR/gateway.log" 2>&1 &
	gw=$!
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
		sleep 0.1
	done
	ctype=$(curl -sS -o "$T_DIR/served.json" -w '%{content_type}' "http://127.0.0.1:$port/openapi.json")
	check_eq "GET /openapi.json is application/json" "$ctype" "application/json"
	check "GET /openapi.json serves services/gateway/openapi.json byte for byte" cmp -s "$T_DIR/served.json" "$DOC"
	kill -TERM "$gw" 2>/dev/null
	wait "$gw"
	check_eq "gateway exits 0 on SIGTERM" "$?" 0
else
	echo "# AEGIS_TEST_NATS_URL / AEGIS_TEST_DATABASE_URL unset: the served-document checks are skipped"
fi
rm -rf "$T_DIR"
[ "$T_FAILED" -eq 0 ]
