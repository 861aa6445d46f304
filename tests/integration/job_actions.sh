#!/usr/bin/env bash
# job_actions.sh - what a user can do to a job: read its steps with their
# attempts history, cancel it while it waits (validate is stopped), retry
# the cancelled job (it then succeeds), reprocess a stored document as a new
# job, and the refusals: retry/cancel of a finished job (409), the
# dead-letter listing without the admin role (403), unknown ids (404).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

t_stack_up
trap 't_stack_down' EXIT
if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

poll_job() { # JOB [STATE...]: wait (60 s) until the job is in one of the states (default: terminal)
	local job=$1 want=${2:-"succeeded failed rejected cancelled"} deadline=$((SECONDS + 60)) state
	while :; do
		api GET "/v1/jobs/$job" -H "Authorization: Bearer $TOKEN"
		state=$(echo "$API_BODY" | jq -r .state 2>/dev/null)
		case " $want " in *" $state "*) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	echo "$state"
}
upload() { # NAME: prints the upload's JSON answer
	printf '# %s\n\nA short note about durable pipelines and retries.\n' "$1" |
		curl -sS -X POST "$GW/v1/files?filename=$1" -H "Authorization: Bearer $TOKEN" \
			-H 'Content-Type: text/markdown' --data-binary @-
}

email="actions.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
api POST /v1/auth/login -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(echo "$API_BODY" | jq -r .access_token)

answer=$(upload first.md)
JOB=$(echo "$answer" | jq -r .job_id)
DOC=$(echo "$answer" | jq -r .document_id)
check_eq "the job succeeds" "$(poll_job "$JOB")" succeeded
api GET "/v1/jobs/$JOB" -H "Authorization: Bearer $TOKEN"
check_eq "each step shows its attempts history" \
	"$(echo "$API_BODY" | jq -r '[.steps[] | .history[0].outcome] | join(",")')" "succeeded,succeeded,succeeded,succeeded"
check_eq "the job lists no dead letters" "$(echo "$API_BODY" | jq -r '.dead_letters | length')" 0

api POST "/v1/jobs/$JOB/retry" -H "Authorization: Bearer $TOKEN"
check_eq "retrying a succeeded job answers 409" "$API_STATUS" 409
api DELETE "/v1/jobs/$JOB" -H "Authorization: Bearer $TOKEN"
check_eq "cancelling a finished job answers 409" "$API_STATUS" 409
api POST "/v1/jobs/00000000-0000-4000-8000-000000000000/cancel" -H "Authorization: Bearer $TOKEN"
check_eq "cancelling an unknown job answers 404" "$API_STATUS" 404
api GET /v1/admin/dead-letters -H "Authorization: Bearer $TOKEN"
check_eq "the dead-letter listing needs the admin role (403)" "$API_STATUS" 403

api POST "/v1/documents/$DOC/reprocess" -H "Authorization: Bearer $TOKEN"
check_eq "reprocess answers 202" "$API_STATUS" 202
JOB2=$(echo "$API_BODY" | jq -r .job_id)
check "reprocess made a new job" test "$JOB2" != "$JOB" -a -n "$JOB2"
check_eq "the reprocessing job succeeds" "$(poll_job "$JOB2")" succeeded
api GET "/v1/documents/$DOC" -H "Authorization: Bearer $TOKEN"
check_eq "the document is still readable after reprocessing" "$API_STATUS" 200

# Cancel while waiting: with validate stopped the job cannot move past its first step.
pid=$(cat "$STACK_DIR/run/validate.pid")
kill -TERM "$pid" && wait "$pid"
answer=$(upload waiting.md)
JOB3=$(echo "$answer" | jq -r .job_id)
check_eq "the job waits for validate" "$(poll_job "$JOB3" running)" running
api POST "/v1/jobs/$JOB3/cancel" -H "Authorization: Bearer $TOKEN"
check_eq "cancel answers 200" "$API_STATUS" 200
check_eq "the job is cancelled" "$(poll_job "$JOB3")" cancelled
api GET "/v1/jobs/$JOB3" -H "Authorization: Bearer $TOKEN"
check_eq "its validate step is cancelled" "$(echo "$API_BODY" | jq -r '.steps[0].state')" cancelled
api DELETE "/v1/jobs/$JOB3" -H "Authorization: Bearer $TOKEN"
check_eq "cancelling again is harmless (200)" "$API_STATUS" 200
api POST "/v1/jobs/$JOB3/retry" -H "Authorization: Bearer $TOKEN"
check_eq "retrying the cancelled job answers 202" "$API_STATUS" 202
check_eq "the retry redrives every unfinished step" "$(echo "$API_BODY" | jq -r '.redriven_steps | length')" 4
HTTP_PORT=$(stack_port validate) HTTP_HOST=127.0.0.1 STORAGE_URL=file://$STACK_DIR/data \
	"${BUILD:-build}/bin/validate" >>"$STACK_DIR/logs/validate.log" 2>&1 &
echo $! >"$STACK_DIR/run/validate.pid"
check_eq "the retried job succeeds once validate is back" "$(poll_job "$JOB3")" succeeded
api GET "/v1/jobs/$JOB3" -H "Authorization: Bearer $TOKEN"
check "the stale task of the cancelled attempt changed nothing (validate attempt 2)" \
	test "$(echo "$API_BODY" | jq -r '.steps[0].attempts')" = 2

# Every transition is announced for SSE readers, the gateway's own (cancel, retry) included: the events
# stream holds as many messages for the job as it has job_events rows.
rows=$(psql -At "$AEGIS_TEST_DATABASE_URL" -c "SELECT count(*) FROM job_events WHERE job_id = '$JOB3'")
published=$(python3 "$here/nats_subject_count.py" "$AEGIS_TEST_NATS_URL" AEGIS_EVENTS "aegis.events.$JOB3")
check "the cancelled-then-retried job has events (got $rows)" test "${rows:-0}" -ge 8
check_eq "each of its job_events rows was published on aegis.events.<job>" "$published" "$rows"
