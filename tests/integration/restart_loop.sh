#!/usr/bin/env bash
# restart_loop.sh - rolling restarts under load: while uploads flow, SIGTERM
# the orchestrator (and every third round one of the step workers) and start
# it again, RESTART_ROUNDS times. Every stop must be a clean drain (exit 0:
# no crash, no abort, no sanitizer report) and every upload must still end
# succeeded - a restart loses nothing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

ROUNDS=${RESTART_ROUNDS:-12}
PER_ROUND=6
export ORCH_SWEEP_INTERVAL_MS=500 ORCH_STUCK_AFTER_MS=2000

t_stack_up
trap 't_stack_down' EXIT
if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

email="restarts.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
api POST /v1/auth/login -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(echo "$API_BODY" | jq -r .access_token)

uploads() { # ROUND: PER_ROUND uploads, job ids appended to $T_DIR/jobs
	for k in $(seq 1 $PER_ROUND); do
		printf '# round %s note %s\n\nRolling restarts must lose nothing.\n' "$1" "$k" |
			curl -sS -X POST "$GW/v1/files?filename=r$1-$k.md" -H "Authorization: Bearer $TOKEN" \
				-H 'Content-Type: text/markdown' --data-binary @- | jq -r .job_id >>"$T_DIR/jobs"
	done
}

bad=""
for round in $(seq 1 "$ROUNDS"); do
	svc=orchestrator
	if [ $((round % 3)) = 0 ]; then
		set -- validate extract-metadata extract-content ai-worker
		shift $(((round / 3 - 1) % 4))
		svc=$1
	fi
	uploads "$round" &
	loader=$!
	sleep 0.$((RANDOM % 8 + 1))
	pid=$(cat "$STACK_DIR/run/$svc.pid")
	kill -TERM "$pid"
	wait "$pid"
	code=$?
	[ "$code" = 0 ] || bad="$bad $svc(round $round: exit $code)"
	HTTP_PORT=$(stack_port "$svc") HTTP_HOST=127.0.0.1 STORAGE_URL=file://$STACK_DIR/data \
		"${BUILD:-build}/bin/$svc" >>"$STACK_DIR/logs/$svc.log" 2>&1 &
	echo $! >"$STACK_DIR/run/$svc.pid"
	wait "$loader"
	stack_wait_ready 60 >/dev/null || bad="$bad $svc(round $round: not ready again)"
done
check_eq "every restarted service drained and exited 0 ($ROUNDS rounds)" "${bad:-none}" none

deadline=$((SECONDS + 120))
while :; do
	pending=0
	while read -r job; do
		api GET "/v1/jobs/$job" -H "Authorization: Bearer $TOKEN"
		case $(echo "$API_BODY" | jq -r .state) in succeeded | failed | rejected | cancelled) ;; *) pending=$((pending + 1)) ;; esac
	done <"$T_DIR/jobs"
	[ "$pending" = 0 ] || [ $SECONDS -ge $deadline ] && break
	sleep 1
done
total=$(grep -c . "$T_DIR/jobs")
succeeded=0
while read -r job; do
	api GET "/v1/jobs/$job" -H "Authorization: Bearer $TOKEN"
	[ "$(echo "$API_BODY" | jq -r .state)" = succeeded ] && succeeded=$((succeeded + 1))
done <"$T_DIR/jobs"
check_eq "every upload made during the restarts succeeded" "$succeeded/$total" "$total/$total"
check "uploads were made ($total)" test "$total" -ge $((ROUNDS * PER_ROUND))
