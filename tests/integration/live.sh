#!/usr/bin/env bash
# live.sh - live progress, job listing, shared rate limits and the web page,
# as a user sees them:
#   - GET /v1/jobs/{id}/events streams one event per step change of an
#     upload and ends by itself at succeeded; Last-Event-ID resumes with
#     exactly the later events; another user's job is 404;
#   - GET /v1/jobs lists my jobs newest first, filtered by state, and
#     cursor paging visits every job exactly once;
#   - the login limit holds across two gateway processes sharing one
#     PostgreSQL (429 + Retry-After + RateLimit headers), and limited
#     responses carry the RateLimit headers;
#   - SIGTERM ends an open event stream cleanly;
#   - the web page at / signs up, uploads and shows the job succeeded in
#     headless Chromium.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

# ports: lib.bash defaults (T_GATEWAY_PORT, T_WORKER_PORT_BASE); the extra ones below 32768, out of the ephemeral range
GW2_PORT=${T_GATEWAY2_PORT:-28010}
LOGIN_BUDGET=12
export RATE_LIMIT_LOGIN_PER_MINUTE=0 RATE_LIMIT_LOGIN_PER_HOUR=0 RATE_LIMIT_LOGIN_PER_DAY=$LOGIN_BUDGET
export RATE_LIMIT_PER_MINUTE=0 RATE_LIMIT_PER_HOUR=0 RATE_LIMIT_PER_DAY=1000000
export SSE_HEARTBEAT_S=1 RATE_LIMIT_CLEANUP_S=1

t_stack_up
gw2_pid=
stop_gw2() {
	[ -n "$gw2_pid" ] || return 0
	kill -TERM "$gw2_pid" 2>/dev/null
	wait "$gw2_pid"
	local code=$?
	gw2_pid=
	return $code
}
trap 'stop_gw2; t_stack_down' EXIT
if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

login() { # EMAIL: registers and logs in; prints the access token
	local body="{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	curl -sS -o /dev/null -X POST "$GW/v1/auth/register" -H 'Content-Type: application/json' -d "$body"
	curl -sS -X POST "$GW/v1/auth/login" -H 'Content-Type: application/json' -d "$body" | jq -r .access_token
}
upload() { # TOKEN NAME: prints the upload's JSON answer
	printf '# %s\n\nA note about rivers, mountains and durable pipelines.\n' "$2" |
		curl -sS -X POST "$GW/v1/files?filename=$2" -H "Authorization: Bearer $1" \
			-H 'Content-Type: text/markdown' --data-binary @-
}
poll_job() { # TOKEN JOB: waits (60 s) for a terminal state, prints it
	local deadline=$((SECONDS + 60)) state
	while :; do
		state=$(curl -sS "$GW/v1/jobs/$2" -H "Authorization: Bearer $1" | jq -r .state)
		case $state in succeeded | failed | rejected | cancelled) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	echo "$state"
}
# sse_ids FILE: the id: values of a captured stream, one a line
sse_ids() { sed -n 's/^id: //p' "$1"; }
# sse_data FILE: the data: JSON of each event, one a line
sse_data() { sed -n 's/^data: //p' "$1"; }

TOKEN=$(login "live.$$.$RANDOM@example.com")
OTHER=$(login "other.$$.$RANDOM@example.com")
check "users can log in" test -n "$TOKEN" -a "$TOKEN" != null -a -n "$OTHER" -a "$OTHER" != null

# ---- the event stream of an upload, connected right after the upload ----
answer=$(upload "$TOKEN" live.md)
JOB=$(echo "$answer" | jq -r .job_id)
curl -sS -N --max-time 60 -D "$T_DIR/sse.head" -o "$T_DIR/sse.out" "$GW/v1/jobs/$JOB/events" \
	-H "Authorization: Bearer $TOKEN"
code=$?
check_eq "the event stream ends by itself (curl exit 0, not a timeout)" "$code" 0
check "it is text/event-stream" grep -qi '^content-type: text/event-stream' "$T_DIR/sse.head"
check_eq "the last event says succeeded" "$(sse_data "$T_DIR/sse.out" | tail -n 1 | jq -r .job_state)" succeeded
for step in validate metadata content ai; do
	check_eq "the stream shows step $step succeeding" \
		"$(sse_data "$T_DIR/sse.out" | jq -r "select(.step == \"$step\" and .step_state == \"succeeded\") | .step" | head -n 1)" "$step"
done
ids=$(sse_ids "$T_DIR/sse.out")
# ids increase, except that a parallel step's event may commit after a higher id (it then follows it)
check_eq "no event id repeats" "$(echo "$ids" | sort -n -u | wc -l)" "$(echo "$ids" | wc -l)"
check_eq "every id: matches its event's id" "$(sse_data "$T_DIR/sse.out" | jq -r .id | tr '\n' ' ')" "$(echo "$ids" | tr '\n' ' ')"
n=$(echo "$ids" | wc -l)
check "the stream has one event per step change (at least 9)" test "$n" -ge 9
db_ids=$(psql -X -q -t -A "$DATABASE_URL" -c "SELECT id FROM job_events WHERE job_id = '$JOB' ORDER BY id" 2>/dev/null)
check_eq "the stream holds exactly the job's recorded events (no gap)" "$(echo "$ids" | sort -n | tr '\n' ' ')" \
	"$(echo "$db_ids" | tr '\n' ' ')"

# ---- Last-Event-ID resumes after that event, without duplicates ----
third=$(echo "$ids" | sed -n 3p)
curl -sS -N --max-time 30 -o "$T_DIR/sse2.out" "$GW/v1/jobs/$JOB/events" -H "Authorization: Bearer $TOKEN" \
	-H "Last-Event-ID: $third"
check_eq "Last-Event-ID $third replays exactly the later events" \
	"$(sse_ids "$T_DIR/sse2.out" | tr '\n' ' ')" "$(echo "$db_ids" | awk -v t="$third" '$1 > t' | tr '\n' ' ')"
api GET "/v1/jobs/$JOB/events" -H "Authorization: Bearer $TOKEN" -H 'Last-Event-ID: soon'
check_eq "a malformed Last-Event-ID is 400" "$API_STATUS" 400
api GET "/v1/jobs/$JOB/events" -H "Authorization: Bearer $OTHER"
check_eq "another user's job events are 404" "$API_STATUS" 404
check_eq "... as problem+json" "$(echo "$API_BODY" | jq -r .status)" 404
api GET "/v1/jobs/not-a-uuid/events" -H "Authorization: Bearer $TOKEN"
check_eq "a malformed job id is 404" "$API_STATUS" 404
api GET "/v1/jobs/$JOB/events"
check_eq "no token is 401" "$API_STATUS" 401

# ---- SIGTERM ends an open stream cleanly: a second gateway (one stream at most), a job held at validate ----
SSE_MAX_STREAMS=1 HTTP_PORT=$GW2_PORT HTTP_HOST=127.0.0.1 STORAGE_URL="file://$STACK_DIR/data" \
	"${BUILD:-build}/bin/gateway" >>"$T_DIR/logs/gateway2.log" 2>&1 &
gw2_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$GW2_PORT/readyz" 2>/dev/null && break; sleep 0.1; done
vpid=$(cat "$STACK_DIR/run/validate.pid")
kill -TERM "$vpid" && wait "$vpid"
held=$(upload "$TOKEN" held.md | jq -r .job_id)
curl -sS -N --max-time 60 -o "$T_DIR/sse3.out" "http://127.0.0.1:$GW2_PORT/v1/jobs/$held/events" \
	-H "Authorization: Bearer $TOKEN" &
cpid=$!
for _ in $(seq 100); do grep -q '^id: ' "$T_DIR/sse3.out" 2>/dev/null && break; sleep 0.1; done
check "the held job's stream is open on the second gateway" grep -q '^id: ' "$T_DIR/sse3.out"
for _ in $(seq 100); do grep -q '^: keep-alive' "$T_DIR/sse3.out" 2>/dev/null && break; sleep 0.1; done
check "heartbeat comments arrive while the job waits (SSE_HEARTBEAT_S=1)" grep -q '^: keep-alive' "$T_DIR/sse3.out"
curl -sS -D "$T_DIR/sse503.head" -o "$T_DIR/sse503.body" --max-time 10 \
	"http://127.0.0.1:$GW2_PORT/v1/jobs/$held/events" -H "Authorization: Bearer $TOKEN"
check_eq "a stream beyond SSE_MAX_STREAMS=1 is refused with 503" "$(head -n 1 "$T_DIR/sse503.head" | awk '{print $2}')" 503
check "... with Retry-After" grep -qi '^retry-after: ' "$T_DIR/sse503.head"
check_eq "... as problem+json" "$(jq -r .status "$T_DIR/sse503.body")" 503
stop_gw2
check_eq "the second gateway drains and exits 0 with a stream open" "$?" 0
wait "$cpid"
check_eq "the open stream ended cleanly on SIGTERM (curl exit 0)" "$?" 0
STORAGE_URL="file://$STACK_DIR/data" HTTP_PORT=$(stack_port validate) HTTP_HOST=127.0.0.1 \
	"${BUILD:-build}/bin/validate" >>"$T_DIR/logs/validate.log" 2>&1 &
echo $! >"$STACK_DIR/run/validate.pid"
check_eq "the held job succeeds once validate is back" "$(poll_job "$TOKEN" "$held")" succeeded

# ---- GET /v1/jobs: state filter and cursor paging ----
LISTER=$(login "lister.$$.$RANDOM@example.com")
jobs_made=""
for i in 1 2 3 4 5; do
	jobs_made="$jobs_made $(upload "$LISTER" "doc$i.md" | jq -r .job_id)"
done
bad=$(head -c 4096 /bin/true | curl -sS -X POST "$GW/v1/files?filename=prog.bin" -H "Authorization: Bearer $LISTER" \
	-H 'Content-Type: application/octet-stream' --data-binary @- | jq -r .job_id)
for j in $jobs_made; do poll_job "$LISTER" "$j" >/dev/null; done
bad_state=$(poll_job "$LISTER" "$bad")
api GET "/v1/jobs?limit=100" -H "Authorization: Bearer $LISTER"
check_eq "the listing shows my 6 jobs" "$(echo "$API_BODY" | jq '.items | length')" 6
check_eq "newest first" "$(echo "$API_BODY" | jq -r '.items[0].id')" "$bad"
check_eq "the items carry the file name" "$(echo "$API_BODY" | jq -r '.items[-1].filename')" doc1.md
check "limited responses carry RateLimit headers" grep -qi '^ratelimit-remaining: ' <(curl -sS -D - -o /dev/null \
	"$GW/v1/jobs" -H "Authorization: Bearer $LISTER")
seen=""
cursor=""
pages=0
while :; do
	api GET "/v1/jobs?state=succeeded&limit=2${cursor:+&cursor=$cursor}" -H "Authorization: Bearer $LISTER"
	[ "$API_STATUS" = 200 ] || break
	seen="$seen $(echo "$API_BODY" | jq -r '.items[].id' | tr '\n' ' ')"
	pages=$((pages + 1))
	cursor=$(echo "$API_BODY" | jq -r '.next_cursor // empty')
	[ -z "$cursor" ] && break
	[ $pages -gt 10 ] && break
done
want=$(for j in $jobs_made; do echo "$j"; done | sort | tr '\n' ' ')
got=$(for j in $seen; do echo "$j"; done | sort | tr '\n' ' ')
check_eq "paging state=succeeded by 2 visits each succeeded job exactly once" "$got" "$want"
check_eq "... in 3 pages" "$pages" 3
api GET "/v1/jobs?state=$bad_state" -H "Authorization: Bearer $LISTER"
check_eq "state=$bad_state lists the refused program" "$(echo "$API_BODY" | jq -r '[.items[].id] | join(",")')" "$bad"
api GET "/v1/jobs?state=sleeping" -H "Authorization: Bearer $LISTER"
check_eq "an unknown state is 400" "$API_STATUS" 400
api GET "/v1/jobs?limit=0" -H "Authorization: Bearer $LISTER"
check_eq "limit=0 is 400" "$API_STATUS" 400
api GET "/v1/jobs?limit=101" -H "Authorization: Bearer $LISTER"
check_eq "limit above JOBS_LIST_MAX_LIMIT is 400" "$API_STATUS" 400
api GET "/v1/jobs?cursor=bogus" -H "Authorization: Bearer $LISTER"
check_eq "a forged cursor is 400" "$API_STATUS" 400
api GET "/v1/jobs" -H "Authorization: Bearer $OTHER"
check "another user sees none of these jobs" test "$(echo "$API_BODY" | jq -r '.items[].id' | grep -c -F -f <(echo "$jobs_made" | tr ' ' '\n' | grep .))" = 0

# ---- the web page in headless Chromium (before the login budget is spent) ----
api GET /
check_eq "GET / serves the page" "$API_STATUS" 200
check "the page is self-contained (no external scripts or styles)" \
	bash -c '! grep -Eiq "<(script|link)[^>]+(src|href)=" "$1"' _ "$T_DIR/api.body"
# Chromium driven through chromedriver's WebDriver HTTP API (no CDP): open /#selftest, which signs up a fresh
# user, uploads a generated text file and watches its event stream; wait until the page says succeeded.
driver=$(command -v chromedriver || true)
if [ -n "$driver" ] && command -v chromium >/dev/null; then
	DRIVER_PORT=${T_DRIVER_PORT:-28011}
	WD="http://127.0.0.1:$DRIVER_PORT"
	"$driver" --port="$DRIVER_PORT" >"$T_DIR/logs/chromedriver.log" 2>&1 &
	dpid=$!
	for _ in $(seq 100); do curl -fsS -o /dev/null "$WD/status" 2>/dev/null && break; sleep 0.1; done
	prof=$(mktemp -d "$T_DIR/chromium.XXXXXX")
	caps=$(jq -n --arg prof "$prof" '{capabilities:{alwaysMatch:{browserName:"chrome","goog:chromeOptions":{args:
		["--headless","--no-sandbox","--disable-gpu","--no-first-run","--disable-background-networking",
		 "--disable-component-update","--disable-sync","--window-size=1200,1500","--user-data-dir=" + $prof]}}}}')
	sid=$(curl -sS -X POST "$WD/session" -H 'Content-Type: application/json' -d "$caps" | jq -r '.value.sessionId // empty')
	check "chromedriver starts a headless Chromium session" test -n "$sid"
	state=""
	if [ -n "$sid" ]; then
		curl -sS -o /dev/null -X POST "$WD/session/$sid/url" -H 'Content-Type: application/json' \
			-d "{\"url\":\"$GW/#selftest\"}"
		js() { # SCRIPT: runs it in the page, prints the JSON value
			curl -sS -X POST "$WD/session/$sid/execute/sync" -H 'Content-Type: application/json' \
				-d "$(jq -n --arg s "$1" '{script:$s,args:[]}')" | jq -r .value
		}
		deadline=$((SECONDS + 90))
		while [ $SECONDS -lt $deadline ]; do
			state=$(js 'return document.body.dataset.state')
			case $state in succeeded | error | finished-*) break ;; esac
			sleep 0.5
		done
		check_eq "in Chromium the page signs up, uploads and shows the job succeeded" "$state" succeeded
		check_eq "... every step card reads succeeded" \
			"$(js 'return Array.from(document.querySelectorAll("#steps li")).map(l => l.className).join(",")')" \
			"st-succeeded,st-succeeded,st-succeeded,st-succeeded"
		check "... the text excerpt shows the uploaded text" \
			test "$(js 'return document.getElementById("excerpt").textContent.startsWith("Aegis self test")')" = true
		check "... the job list shows the job as succeeded" \
			test "$(js 'return document.querySelectorAll("#joblist td.st-succeeded").length')" -ge 1
		if [ -n "${LIVE_SCREENSHOT:-}" ]; then
			curl -sS "$WD/session/$sid/screenshot" | jq -r .value | base64 -d >"$LIVE_SCREENSHOT"
		fi
		curl -sS -o /dev/null -X DELETE "$WD/session/$sid"
	fi
	kill -TERM "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
else
	not_ok "chromium and chromedriver are installed (scripts/deps.sh: chromium chromium-driver) for the web page test"
fi

# ---- the login limit, shared by two gateway processes on one PostgreSQL; a low per-user limit on the second ----
RATE_LIMIT_PER_DAY=4 HTTP_PORT=$GW2_PORT HTTP_HOST=127.0.0.1 STORAGE_URL="file://$STACK_DIR/data" \
	"${BUILD:-build}/bin/gateway" >>"$T_DIR/logs/gateway2.log" 2>&1 &
gw2_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$GW2_PORT/readyz" 2>/dev/null && break; sleep 0.1; done
limited_email="limited.$$.$RANDOM@example.com"
LIMITED=$(login "$limited_email")
codes=""
for i in 1 2 3 4 5; do
	codes="$codes $(curl -sS -D "$T_DIR/u.head" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW2_PORT/v1/jobs" \
		-H "Authorization: Bearer $LIMITED")"
	[ $i = 4 ] && cp "$T_DIR/u.head" "$T_DIR/u4.head"
done
check_eq "a user gets RATE_LIMIT_PER_DAY=4 requests, then 429" "$codes" " 200 200 200 200 429"
check "... the fourth says RateLimit-Remaining: 0" grep -qi '^ratelimit-remaining: 0' "$T_DIR/u4.head"
check "... the 429 carries Retry-After" grep -qi '^retry-after: [1-9]' "$T_DIR/u.head"
check "... and the current draft's RateLimit-Policy" grep -qi '^ratelimit-policy: "day";q=4;w=86400' "$T_DIR/u.head"
curl -sS -D "$T_DIR/bad.head" -o /dev/null "http://127.0.0.1:$GW2_PORT/v1/jobs" -H "Authorization: Bearer not-a-token"
check "a bad token is 401 and not counted (no RateLimit headers)" \
	bash -c 'head -n 1 "$1" | grep -q " 401" && ! grep -qi "^ratelimit-" "$1"' _ "$T_DIR/bad.head"
psql -X -q "$DATABASE_URL" -c "DELETE FROM rate_limit_counters WHERE key = 'ip:127.0.0.1:login'" >/dev/null
remaining=""
statuses=""
for i in $(seq $LOGIN_BUDGET); do
	port=$GATEWAY_PORT
	[ $((i % 2)) = 0 ] && port=$GW2_PORT
	curl -sS -D "$T_DIR/rl.head" -o /dev/null -w '%{http_code}\n' -X POST "http://127.0.0.1:$port/v1/auth/login" \
		-H 'Content-Type: application/json' -d "{\"email\":\"$limited_email\",\"password\":\"correct horse battery\"}" \
		>>"$T_DIR/rl.codes" # right passwords: the auth service's own failure throttle stays out of it
	remaining="$remaining $(sed -n 's/^[Rr]ate[Ll]imit-[Rr]emaining: *\([0-9]*\).*/\1/p' "$T_DIR/rl.head")"
done
check_eq "the first $LOGIN_BUDGET logins across both gateways succeed" "$(sort -u "$T_DIR/rl.codes" | tr '\n' ' ')" "200 "
check_eq "RateLimit-Remaining counts down across both gateways" "$remaining" \
	" $(seq $((LOGIN_BUDGET - 1)) -1 0 | tr '\n' ' ' | sed 's/ $//')"
for port in $GATEWAY_PORT $GW2_PORT; do
	curl -sS -D "$T_DIR/rl429.head" -o /dev/null -X POST "http://127.0.0.1:$port/v1/auth/login" \
		-H 'Content-Type: application/json' -d "{\"email\":\"$limited_email\",\"password\":\"correct horse battery\"}"
	code=$(head -n 1 "$T_DIR/rl429.head" | awk '{print $2}')
	check_eq "gateway :$port refuses the next login with 429" "$code" 429
	check "... with Retry-After" grep -qi '^retry-after: [1-9]' "$T_DIR/rl429.head"
	check "... RateLimit-Limit: $LOGIN_BUDGET" grep -qi "^ratelimit-limit: $LOGIN_BUDGET" "$T_DIR/rl429.head"
	check "... RateLimit-Remaining: 0" grep -qi '^ratelimit-remaining: 0' "$T_DIR/rl429.head"
	check "... RateLimit-Reset" grep -qi '^ratelimit-reset: [0-9]' "$T_DIR/rl429.head"
	check "... as problem+json" grep -qi '^content-type: application/problem+json' "$T_DIR/rl429.head"
done
api GET "/v1/jobs" -H "Authorization: Bearer $LISTER"
check_eq "the login limit does not touch other routes" "$API_STATUS" 200
stop_gw2
check_eq "the second gateway drains and exits 0" "$?" 0
psql -X -q "$DATABASE_URL" -c "DELETE FROM rate_limit_counters WHERE key = 'ip:127.0.0.1:login'" >/dev/null

# ---- ended windows are deleted (RATE_LIMIT_CLEANUP_S=1); the current ones stay ----
psql -X -q "$DATABASE_URL" -c "INSERT INTO rate_limit_counters VALUES ('live:old:$$', 60, 0, 3)" >/dev/null
for _ in $(seq 100); do
	left=$(psql -X -q -t -A "$DATABASE_URL" -c "SELECT count(*) FROM rate_limit_counters WHERE key = 'live:old:$$'")
	[ "$left" = 0 ] && break
	sleep 0.1
done
check_eq "a counter row of an ended window is deleted" "$left" 0
check "the current windows stay" test "$(psql -X -q -t -A "$DATABASE_URL" \
	-c "SELECT count(*) FROM rate_limit_counters WHERE key = 'u:' || (SELECT id FROM users WHERE email = '$limited_email')")" -ge 1

[ "$T_FAILED" -eq 0 ]
