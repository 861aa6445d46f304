#!/usr/bin/env bash
# ai_openai.sh - the ai step with AI_PROVIDER=openai against a local fake
# OpenAI-compatible server (tests/unit/services/ai-worker/fake_openai.py, real
# sockets): the fake answers 503 to the first chat request, which (with
# AI_RETRIES=0) fails the step transiently, so the step runner retries it and
# the job still succeeds; summary, keywords and category come from the fake's
# JSON, chunk vectors from its /v1/embeddings; the API key is never logged.
# Token usage from the fake's "usage" objects is stored per document
# (ai_results.prompt_tokens / completion_tokens) and counted in the ai-worker's
# aegis_ai_tokens_total{kind}; a document longer than AI_MAX_INPUT_CHARS is
# summarised map-reduce, at most AI_SUMMARY_MAP_CALLS part summaries (the fake
# counts its calls at GET /calls).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

fake_port=${T_FAKE_AI_PORT:-28020}
export AI_PROVIDER=openai AI_BASE_URL="http://127.0.0.1:$fake_port" AI_MODEL=flaky AI_EMBED_MODEL=flaky \
	AI_API_KEY=sk-test-never-logged AI_RETRIES=0 AI_TIMEOUT_MS=5000 AI_MAX_INPUT_CHARS=300 AI_SUMMARY_MAP_CALLS=3
t_stack_up
python3 tests/unit/services/ai-worker/fake_openai.py "$fake_port" >/dev/null 2>&1 &
fake_pid=$!
trap 't_stack_down; kill $fake_pid 2>/dev/null; wait $fake_pid 2>/dev/null' EXIT

if stack_wait_ready 60; then ok "all seven services report ready"; else
	not_ok "all seven services report ready"
	exit 1
fi

email="oa.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(apio POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | jq -r .access_token)

printf 'Invoice 17.\nTotal due: 24.00 EUR, payable within 14 days.\nContact: ap@example.com\n' >"$T_DIR/inv.txt"
api POST "/v1/files?filename=inv.txt" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary "@$T_DIR/inv.txt"
check_eq "upload answers 202" "$API_STATUS" 202
JOB=$(echo "$API_BODY" | jq -r .job_id)
DOC=$(echo "$API_BODY" | jq -r .document_id)
wait_job() { # wait_job JOB: sets state
	local deadline=$((SECONDS + 120))
	while :; do
		api GET "/v1/jobs/$1" -H "Authorization: Bearer $TOKEN"
		state=$(echo "$API_BODY" | jq -r .state)
		case "$state" in succeeded | failed | rejected | cancelled) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.3
	done
}
wait_job "$JOB"
check_eq "the job ends succeeded despite the 503" "$state" succeeded
check "the step runner retried the ai step after the transient 503 (redelivery)" \
	grep -q '"msg":"transient failure, retry in [0-9]* ms (delivery 1): openai: [a-z]*: the server answered HTTP 503' \
	"$T_DIR/logs/ai-worker.log"

api POST /v1/mcp -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	-d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_document\",\"arguments\":{\"document_id\":\"$DOC\"}}}"
d=$(echo "$API_BODY" | jq -c .result.structuredContent)
check_eq "the summary is the model's" "$(echo "$d" | jq -r .ai.summary)" "A short summary."
check_eq "the keywords are the model's" "$(echo "$d" | jq -c .ai.keywords)" '["alpha","beta"]'
check_eq "the category is the model's" "$(echo "$d" | jq -r .ai.category)" invoice
check_eq "PII is still scanned locally" "$(echo "$d" | jq -r .ai.pii.email.count)" 1
check_eq "chunk vectors come from /v1/embeddings, labelled with the model" \
	"$(psql -XAtq "$DATABASE_URL" -c "SELECT DISTINCT embedding_model || ':' || cardinality(embedding) FROM chunks WHERE document_id = '$DOC'")" "flaky:3"

# token usage: 3 chat answers (7 prompt + 3 completion tokens each) and 3 prompt tokens per embedded chunk
q() { psql -XAtq "$DATABASE_URL" -c "$1"; }
check_eq "the job's token usage is stored (prompt, completion)" \
	"$(q "SELECT prompt_tokens || ' ' || completion_tokens FROM ai_results WHERE document_id = '$DOC'")" \
	"$((3 * 7 + 3 * $(q "SELECT count(*) FROM chunks WHERE document_id = '$DOC'"))) 9"

# a long document: map-reduce summary, bounded by AI_SUMMARY_MAP_CALLS
for i in $(seq 1 24); do printf 'Sentence %02d of the long report describes the harbour, its cranes and its ships. ' "$i"; done >"$T_DIR/long.txt"
api POST "/v1/files?filename=long.txt" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary "@$T_DIR/long.txt"
LJOB=$(echo "$API_BODY" | jq -r .job_id)
LDOC=$(echo "$API_BODY" | jq -r .document_id)
wait_job "$LJOB"
check_eq "the long document's job succeeds" "$state" succeeded
calls=$(curl -sS "http://127.0.0.1:$fake_port/calls")
check_eq "a text over AI_MAX_INPUT_CHARS is summarised in AI_SUMMARY_MAP_CALLS parts, then once over them" \
	"$(echo "$calls" | jq -c '[.summary_map, .summary_reduce]')" "[3,1]"
check_eq "the stored summary is the reduce step's" \
	"$(q "SELECT summary FROM ai_results WHERE document_id = '$LDOC'")" "A summary of 3 parts."
check_eq "the long document's completion tokens: keywords, 3 map, 1 reduce, category" \
	"$(q "SELECT completion_tokens FROM ai_results WHERE document_id = '$LDOC'")" $((6 * 3))
metrics=$(curl -sS "http://127.0.0.1:$((WORKER_PORT_BASE + 4))/metrics")
# the counters also hold what failed attempts spent (the fake's 503s made the first job's step run 3 times)
got=$(echo "$metrics" | awk '/^aegis_ai_tokens_total\{kind="prompt"\}/ { p = $2 } /^aegis_ai_tokens_total\{kind="completion"\}/ { c = $2 } END { print p + 0, c + 0 }')
stored=$(q "SELECT sum(prompt_tokens) || ' ' || sum(completion_tokens) FROM ai_results WHERE document_id IN ('$DOC', '$LDOC')")
echo "# tokens: aegis_ai_tokens_total prompt/completion $got; stored for the two documents $stored"
check "aegis_ai_tokens_total{kind=prompt|completion} count at least the stored usage" \
	awk -v g="$got" -v s="$stored" 'BEGIN { split(g, a, " "); split(s, b, " "); exit !(b[1] > 0 && b[2] > 0 && a[1] >= b[1] && a[2] >= b[2]) }'

# search with the model's embeddings: the gateway (same AI_BASE_URL / AI_EMBED_MODEL / AI_API_KEY) embeds the
# query at the fake, whose vectors all point the same way: a word in no document still finds both semantically
api GET "/v1/search?q=zebra&mode=semantic" -H "Authorization: Bearer $TOKEN"
check_eq "semantic search embeds the query with AI_EMBED_MODEL (finds documents sharing no word)" \
	"$API_STATUS $(echo "$API_BODY" | jq -r '"\(.mode) \([.items[].document_id] | unique | length) \(.items[0].mode)"')" "200 semantic 2 semantic"
kill "$fake_pid" 2>/dev/null
wait "$fake_pid" 2>/dev/null
api GET "/v1/search?q=cranes&mode=hybrid" -H "Authorization: Bearer $TOKEN"
check_eq "with the embedding server down, hybrid answers keyword results and says so" \
	"$API_STATUS $(echo "$API_BODY" | jq -r '"\(.mode) \(.items[0].document_id) \(.notice | length > 0)"')" "200 keyword $LDOC true"
api GET "/v1/search?q=cranes&mode=semantic" -H "Authorization: Bearer $TOKEN"
check_eq "with the embedding server down, semantic search answers 503" "$API_STATUS" 503
api POST /v1/mcp -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	-d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":"cranes","mode":"semantic"}}}'
check_eq "with the embedding server down, MCP semantic search is a tool error naming the embedding server" \
	"$(echo "$API_BODY" | jq -r '"\(.result.isError) \(.result.content[0].text | fromjson | .error)"')" \
	"true the embedding server is unavailable; try again or use mode keyword"
check "the API key is in no log" bash -c "! grep -q sk-test-never-logged '$T_DIR'/logs/*.log"

[ "$T_FAILED" -eq 0 ]
