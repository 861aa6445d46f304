#!/usr/bin/env bash
# webhooks.sh - user webhooks end to end: register (the secret is shown once,
# never listed), a bad URL is refused, another user cannot see, list or
# delete your webhook, a job's completion is POSTed to a local receiver
# that verifies the Aegis-Signature and fails the first request (the
# delivery is retried and recorded with its attempts), an events filter
# keeps unwanted events away, an unreachable receiver ends failed after
# WEBHOOK_MAX_ATTEMPTS, and a deleted webhook is gone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

# The receiver listens on loopback, which webhooks may only call when allowed.
export WEBHOOK_ALLOW_PRIVATE=true WEBHOOK_POLL_MS=200 WEBHOOK_BACKOFF_MS=200 WEBHOOK_MAX_ATTEMPTS=3
RECV_PORT=${T_WEBHOOK_PORT:-$((${T_WORKER_PORT_BASE:-29000} + 9))}
DEAD_PORT=$((RECV_PORT + 1)) # nothing listens there

t_stack_up
RECV_PID=
stop_all() {
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null && wait "$RECV_PID" 2>/dev/null
	t_stack_down
}
trap 'stop_all' EXIT

# A receiver that checks the signature with the secret in $T_DIR/secret, answers 500 to the first
# $T_DIR/fail_first requests, and appends one JSON line per request to $T_DIR/received.
cat >"$T_DIR/receiver.py" <<'PY'
import hashlib, hmac, http.server, json, os, sys
d = sys.argv[2]
count = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        count += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        secret = open(os.path.join(d, "secret")).read().strip().encode()
        parts = dict(p.split("=", 1) for p in self.headers.get("Aegis-Signature", "").split(",") if "=" in p)
        want = hmac.new(secret, parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        fail = count <= int(open(os.path.join(d, "fail_first")).read())
        rec = {"n": count, "sig_ok": hmac.compare_digest(want, parts.get("v1", "")),
               "event": self.headers.get("Aegis-Event"), "delivery": self.headers.get("Aegis-Delivery"),
               "answered": 500 if fail else 204, "body": json.loads(body)}
        with open(os.path.join(d, "received"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(rec["answered"])
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
echo 1 >"$T_DIR/fail_first"
: >"$T_DIR/secret"
: >"$T_DIR/received"
python3 "$T_DIR/receiver.py" "$RECV_PORT" "$T_DIR" &
RECV_PID=$!

if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

login() { # EMAIL: prints an access token
	api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	api POST /v1/auth/login -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	echo "$API_BODY" | jq -r .access_token
}
TOKEN=$(login "hooks.$$.$RANDOM@example.com")
OTHER=$(login "other.$$.$RANDOM@example.com")
AUTH=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')

api POST /v1/webhooks "${AUTH[@]}" -d '{"url":"ftp://127.0.0.1/x"}'
check_eq "a non-http(s) URL is refused (422)" "$API_STATUS" 422
api POST /v1/webhooks "${AUTH[@]}" -d '{"url":"http://user:pw@127.0.0.1/x"}'
check_eq "a URL with credentials is refused (422)" "$API_STATUS" 422
api POST /v1/webhooks "${AUTH[@]}" -d "{\"url\":\"http://127.0.0.1:$RECV_PORT/hook\",\"events\":[\"job.exploded\"]}"
check_eq "an unknown event name is refused (422)" "$API_STATUS" 422
api POST /v1/webhooks "${AUTH[@]}" -d '{"uri":"http://127.0.0.1/x"}'
check_eq "an unknown member is refused (400)" "$API_STATUS" 400

api POST /v1/webhooks "${AUTH[@]}" -d "{\"url\":\"http://127.0.0.1:$RECV_PORT/hook\"}"
check_eq "registering a webhook answers 201" "$API_STATUS" 201
HOOK=$(echo "$API_BODY" | jq -r .id)
SECRET=$(echo "$API_BODY" | jq -r .secret)
check "the signing secret is shown (64 hex digits)" grep -Eq '^[0-9a-f]{64}$' <<<"$SECRET"
check_eq "no events filter means every terminal event" "$(echo "$API_BODY" | jq -c .events)" \
	'["job.succeeded","job.failed","job.rejected","job.cancelled"]'
printf '%s' "$SECRET" >"$T_DIR/secret"
api POST /v1/webhooks "${AUTH[@]}" -d "{\"url\":\"http://127.0.0.1:$RECV_PORT/failed-only\",\"events\":[\"job.failed\"]}"
FILTERED=$(echo "$API_BODY" | jq -r .id)
api POST /v1/webhooks "${AUTH[@]}" -d "{\"url\":\"http://127.0.0.1:$DEAD_PORT/nobody\"}"
DEAD=$(echo "$API_BODY" | jq -r .id)

api GET /v1/webhooks "${AUTH[@]}"
check_eq "the owner lists three webhooks" "$(echo "$API_BODY" | jq '.items | length')" 3
check_eq "the listing never shows a secret" "$(echo "$API_BODY" | jq '[.items[] | select(has("secret"))] | length')" 0
api GET /v1/webhooks -H "Authorization: Bearer $OTHER"
check_eq "another user lists none of them" "$(echo "$API_BODY" | jq '.items | length')" 0
api GET "/v1/webhooks/$HOOK/deliveries" -H "Authorization: Bearer $OTHER"
check_eq "another user cannot read the deliveries (404)" "$API_STATUS" 404
api DELETE "/v1/webhooks/$HOOK" -H "Authorization: Bearer $OTHER"
check_eq "another user cannot delete it (404)" "$API_STATUS" 404
api GET /v1/webhooks -H "Authorization: Bearer $TOKEN"
check_eq "which is still there" "$(echo "$API_BODY" | jq '.items | length')" 3

answer=$(printf '# hooks\n\nA note to be announced.\n' |
	curl -sS -X POST "$GW/v1/files?filename=hooks.md" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: text/markdown' --data-binary @-)
JOB=$(echo "$answer" | jq -r .job_id)

deliveries() { # HOOK STATUS: wait (60 s) until its newest delivery has STATUS; prints the listing
	local deadline=$((SECONDS + 60))
	while :; do
		api GET "/v1/webhooks/$1/deliveries" -H "Authorization: Bearer $TOKEN"
		[ "$(echo "$API_BODY" | jq -r '.items[0].status // empty')" = "$2" ] && break
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	echo "$API_BODY"
}
list=$(deliveries "$HOOK" delivered)
check_eq "the completion is delivered" "$(echo "$list" | jq -r '.items[0].status')" delivered
check_eq "for the job" "$(echo "$list" | jq -r '.items[0].job_id')" "$JOB"
check_eq "as job.succeeded" "$(echo "$list" | jq -r '.items[0].event')" job.succeeded
check_eq "after one failed attempt (2 attempts recorded)" "$(echo "$list" | jq -r '.items[0].attempts')" 2
check_eq "with the receiver's status code" "$(echo "$list" | jq -r '.items[0].last_status_code')" 204
DELIVERY=$(echo "$list" | jq -r '.items[0].id')
check_eq "the receiver got two requests" "$(wc -l <"$T_DIR/received")" 2
check_eq "the first was answered 500" "$(jq -s -r '.[0].answered' "$T_DIR/received")" 500
check_eq "every signature verifies" "$(jq -s -r 'map(.sig_ok) | all' "$T_DIR/received")" true
check_eq "Aegis-Event names the event" "$(jq -s -r '.[1].event' "$T_DIR/received")" job.succeeded
check_eq "Aegis-Delivery is the delivery id" "$(jq -s -r '.[1].delivery' "$T_DIR/received")" "$DELIVERY"
check_eq "the body names the job and its state" "$(jq -s -r '.[1].body.data | .job_id + " " + .state' "$T_DIR/received")" \
	"$JOB succeeded"

list=$(deliveries "$DEAD" failed)
check_eq "an unreachable receiver's delivery ends failed" "$(echo "$list" | jq -r '.items[0].status')" failed
check_eq "after WEBHOOK_MAX_ATTEMPTS (3) attempts" "$(echo "$list" | jq -r '.items[0].attempts')" 3
check "with the connection error recorded" test -n "$(echo "$list" | jq -r '.items[0].last_error // empty')"

api GET "/v1/webhooks/$FILTERED/deliveries" -H "Authorization: Bearer $TOKEN"
check_eq "a job.failed-only webhook got nothing for a success" "$(echo "$API_BODY" | jq '.items | length')" 0

api DELETE "/v1/webhooks/$HOOK" -H "Authorization: Bearer $TOKEN"
check_eq "the owner deletes it (204)" "$API_STATUS" 204
api GET "/v1/webhooks/$HOOK/deliveries" -H "Authorization: Bearer $TOKEN"
check_eq "its deliveries are gone with it (404)" "$API_STATUS" 404

