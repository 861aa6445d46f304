#!/usr/bin/env bash
# pipeline.sh - the walking skeleton end to end, as a user sees it: the
# seven real services against a real nats-server and PostgreSQL; register,
# log in, upload Markdown (raw and multipart), follow the job to
# `succeeded`, read back metadata, content and the AI summary; a disallowed
# type ends `rejected` with its reason; one user never sees another's
# documents; every service drains and exits 0 on SIGTERM.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

t_stack_up
trap 't_stack_down' EXIT

if stack_wait_ready 60; then ok "all seven services report ready"; else
	not_ok "all seven services report ready"
	exit 1
fi

# poll_job JOB: wait until the job is terminal (60 s); prints the job JSON.
poll_job() {
	local deadline=$((SECONDS + 60)) body state
	while :; do
		api GET "/v1/jobs/$1" -H "Authorization: Bearer $TOKEN"
		body=$API_BODY
		state=$(echo "$body" | jq -r .state 2>/dev/null)
		case "$state" in succeeded | failed | rejected | cancelled) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	echo "$body"
}

email="alice.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
body=$API_BODY
check_eq "register answers 201" "$API_STATUS" 201
check_eq "register returns the normalised email" "$(echo "$body" | jq -r .email)" "$email"

api POST /v1/auth/register -H 'Content-Type: application/json' -d '{"email":"x@example.com","password":"short"}'
body=$API_BODY
check_eq "weak password is refused with 400" "$API_STATUS" 400

api POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"wrong password!!\"}"
body=$API_BODY
check_eq "wrong password answers 401" "$API_STATUS" 401

api POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
body=$API_BODY
check_eq "login answers 200" "$API_STATUS" 200
TOKEN=$(echo "$body" | jq -r .access_token)
check_eq "login returns a Bearer token" "$(echo "$body" | jq -r .token_type)" Bearer
check "login returns a refresh token" test -n "$(echo "$body" | jq -r '.refresh_token // empty')"

ctype=$(curl -sS -o /dev/null -w '%{content_type}' "$GW/v1/documents")
check_eq "no token answers problem+json" "$ctype" "application/problem+json"
api GET /v1/documents -H "Authorization: Bearer not.a.token"
check_eq "a bad token answers 401" "$API_STATUS" 401

# --- a Markdown upload, raw body ---
doc="$T_DIR/notes.md"
cat >"$doc" <<'MD'
# Pipeline notes

The ingestion pipeline validates every uploaded document before anything else happens.
Each document is then passed to the metadata extractor and the content extractor in parallel.
The pipeline stores the extracted text in the database, where the search index can find it.
Finally the pipeline asks the enrichment worker for a summary, keywords and the language.
Nothing in the pipeline is lost when a worker restarts, because every step is recorded.
MD
hdrs="$T_DIR/headers"
api POST "/v1/files?filename=notes.md" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/markdown' --data-binary "@$doc" -D "$hdrs"
body=$API_BODY
check_eq "upload answers 202" "$API_STATUS" 202
JOB=$(echo "$body" | jq -r .job_id)
DOC=$(echo "$body" | jq -r .document_id)
check "upload answers Location: /v1/jobs/{id}" grep -qi "^location: /v1/jobs/$JOB" "$hdrs"

job=$(poll_job "$JOB")
check_eq "the job ends succeeded" "$(echo "$job" | jq -r .state)" succeeded
check_eq "all four steps succeeded" "$(echo "$job" | jq -r '[.steps[] | select(.state=="succeeded") | .name] | join(",")')" \
	"validate,metadata,content,ai"
check "the job has finished_at" test "$(echo "$job" | jq -r .finished_at)" != null

api GET "/v1/documents/$DOC" -H "Authorization: Bearer $TOKEN"
d=$API_BODY
check_eq "document answers 200" "$API_STATUS" 200
check_eq "document sha256 is the file's" "$(echo "$d" | jq -r .sha256)" "$(sha256sum "$doc" | cut -d' ' -f1)"
check_eq "document size is the file's" "$(echo "$d" | jq -r .size)" "$(stat -c %s "$doc")"
check_eq "document filename" "$(echo "$d" | jq -r .filename)" notes.md
check "document mime is text" bash -c "[[ '$(echo "$d" | jq -r .mime)' == text/* ]]"
check_eq "metadata counts the lines" "$(echo "$d" | jq -r .metadata.lines)" "$(wc -l <"$doc")"
check_eq "metadata counts the words" "$(echo "$d" | jq -r .metadata.words)" "$(wc -w <"$doc" | tr -d ' ')"
check_eq "ai language is English" "$(echo "$d" | jq -r .ai.language)" en
check "ai summary is sentences of the text" bash -c \
	"s=\$(echo '$(echo "$d" | jq -r .ai.summary | tr "'" ' ')' | head -c 60); grep -qF \"\$s\" '$doc'"
check "ai keywords include 'pipeline'" bash -c "echo '$(echo "$d" | jq -c .ai.keywords)' | jq -e 'index(\"pipeline\")' >/dev/null"

api GET "/v1/documents/$DOC/content" -H "Authorization: Bearer $TOKEN"
cp "$T_DIR/api.body" "$T_DIR/content.txt"
check_eq "content answers 200" "$API_STATUS" 200
check "content is the uploaded text" cmp -s "$T_DIR/content.txt" "$doc"

# --- multipart upload ---
printf 'Second file, plain text.\nIt has two lines.\n' >"$T_DIR/second.txt"
api POST /v1/files -H "Authorization: Bearer $TOKEN" -F "file=@$T_DIR/second.txt;type=text/plain"
body=$API_BODY
check_eq "multipart upload answers 202" "$API_STATUS" 202
job=$(poll_job "$(echo "$body" | jq -r .job_id)")
check_eq "multipart job ends succeeded" "$(echo "$job" | jq -r .state)" succeeded
api GET "/v1/documents/$(echo "$body" | jq -r .document_id)" -H "Authorization: Bearer $TOKEN"
d=$API_BODY
check_eq "multipart keeps the part's filename" "$(echo "$d" | jq -r .filename)" second.txt

# --- a disallowed type ends rejected with its reason ---
head -c 4096 /dev/urandom | gzip -c >"$T_DIR/archive.txt"
api POST "/v1/files?filename=archive.txt" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary "@$T_DIR/archive.txt"
body=$API_BODY
check_eq "a gzip named .txt is accepted for processing (202)" "$API_STATUS" 202
job=$(poll_job "$(echo "$body" | jq -r .job_id)")
check_eq "a gzip named .txt ends rejected" "$(echo "$job" | jq -r .state)" rejected
check "the rejection names the sniffed type" bash -c "echo '$(echo "$job" | jq -r .error)' | grep -q gzip"
check_eq "the validate step is the one rejected" \
	"$(echo "$job" | jq -r '.steps[] | select(.name=="validate") | .state')" rejected

# --- one user never sees another's documents ---
email2="bob.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email2\",\"password\":\"another good passphrase\"}"
TOKEN2=$(apio POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email2\",\"password\":\"another good passphrase\"}" | jq -r .access_token)
api GET "/v1/jobs/$JOB" -H "Authorization: Bearer $TOKEN2"
check_eq "another user's job answers 404" "$API_STATUS" 404
api GET "/v1/documents/$DOC" -H "Authorization: Bearer $TOKEN2"
check_eq "another user's document answers 404" "$API_STATUS" 404
api GET "/v1/documents/$DOC/content" -H "Authorization: Bearer $TOKEN2"
check_eq "another user's content answers 404" "$API_STATUS" 404
check_eq "another user's list is empty" \
	"$(apio GET /v1/documents -H "Authorization: Bearer $TOKEN2" | jq '.items | length')" 0
check_eq "the owner's list has the three uploads" \
	"$(apio GET /v1/documents -H "Authorization: Bearer $TOKEN" | jq '.items | length')" 3

# --- operations surface ---
check "gateway /metrics counts HTTP requests" bash -c \
	"curl -fsS $GW/metrics | grep -q '^aegis_http_requests_total'"
check "orchestrator /healthz answers" curl -fsS -o /dev/null "http://127.0.0.1:$(stack_port orchestrator)/healthz"
out=$(HTTP_PORT=99999 "$BUILD/bin/validate" --check-config 2>&1)
check_eq "--check-config rejects a bad port with exit 2" "$?" 2
check "--check-config names the bad setting" bash -c "echo '$out' | grep -q HTTP_PORT"
check_eq "--check-config accepts the defaults" "$("$BUILD/bin/validate" --check-config 2>&1)" "configuration OK"

# --- the HTTP limits are settings: a second gateway with small ones ---
gw2=${T_GATEWAY2_PORT:-28012}
HTTP_MAX_HEADER_BYTES=2048 HTTP_MAX_CONNECTIONS=2 HTTP_IDLE_TIMEOUT_MS=2000 HTTP_PORT=$gw2 HTTP_HOST=127.0.0.1 \
	STORAGE_URL="file://$STACK_DIR/data" "$BUILD/bin/gateway" >>"$T_DIR/logs/gateway-limits.log" 2>&1 &
gw2_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$gw2/readyz" 2>/dev/null && break; sleep 0.1; done
big=$(head -c 3000 /dev/zero | tr '\0' a)
check_eq "HTTP_MAX_HEADER_BYTES: a 3 KB header over a 2 KB limit answers 431" \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://127.0.0.1:$gw2/healthz")" 431
exec 7<>"/dev/tcp/127.0.0.1/$gw2" 8<>"/dev/tcp/127.0.0.1/$gw2" # two idle connections fill HTTP_MAX_CONNECTIONS=2
sleep 0.3
check "HTTP_MAX_CONNECTIONS: a third connection gets no answer" \
	bash -c "! curl -fsS -o /dev/null --max-time 3 http://127.0.0.1:$gw2/healthz"
# HTTP_IDLE_TIMEOUT_MS=2000: the silent connections are answered 408, and once closed they free their places
check_eq "HTTP_IDLE_TIMEOUT_MS: a silent connection is answered 408" \
	"$(timeout 10 head -n 1 <&7 | tr -d '\r')" "HTTP/1.1 408 Request Timeout"
exec 7>&- 8>&-
sleep 0.5
check "... and once closed, the gateway answers again" \
	curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$gw2/healthz"
kill -TERM "$gw2_pid" && wait "$gw2_pid"
check_eq "HTTP_MAX_CONNECTIONS=0 is refused by --check-config" \
	"$(HTTP_MAX_CONNECTIONS=0 "$BUILD/bin/gateway" --check-config >/dev/null 2>&1; echo $?)" 2

# --- a step worker whose sandbox helper died drains and exits 1, so that its supervisor starts a fresh one ---
HTTP_PORT=$gw2 HTTP_HOST=127.0.0.1 STORAGE_URL="file://$STACK_DIR/data" "$BUILD/bin/extract-content" \
	>>"$T_DIR/logs/extract-content-2.log" 2>&1 &
ec2_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$gw2/readyz" 2>/dev/null && break; sleep 0.1; done
helper=$(awk '{print $1}' "/proc/$ec2_pid/task/$ec2_pid/children" 2>/dev/null)
check "a second extract-content is ready, with its sandbox helper process" test -n "$helper"
[ -n "$helper" ] && kill -KILL "$helper"
deadline=$((SECONDS + 30))
while kill -0 "$ec2_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
if kill -0 "$ec2_pid" 2>/dev/null; then
	kill -KILL "$ec2_pid"
	not_ok "once its helper is killed, extract-content exits on its own"
fi
wait "$ec2_pid"
check_eq "once its helper is killed, extract-content drains and exits 1" "$?" 1
check "... and its log says why" grep -q "the sandbox helper process is gone" "$T_DIR/logs/extract-content-2.log"

[ "$T_FAILED" -eq 0 ]
