#!/usr/bin/env bash
# ai_quality.sh - search quality as a user measures it: the documents of
# tests/quality/recall_docs.txt go through the real pipeline (builtin
# provider), then each question of tests/quality/recall_questions.tsv is asked
# through GET /v1/search in hybrid mode; recall@5 (the answering document among
# the first 5 results) is printed as "# search recall@5 ..." and must reach
# QUALITY_RECALL_TARGET.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

QUALITY_RECALL_TARGET=0.8
t_stack_up
trap 't_stack_down' EXIT

if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

email="quality.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(apio POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | jq -r .access_token)
AUTH=(-H "Authorization: Bearer $TOKEN")

# split the set into one file per document
mkdir -p "$T_DIR/docs"
awk -v dir="$T_DIR/docs" '/^=== / { f = dir "/" $2 ".txt"; next } /^#/ && !f { next } f { print > f }' \
	tests/quality/recall_docs.txt
declare -A DOC JOB
for p in "$T_DIR"/docs/*.txt; do
	n=$(basename "$p" .txt)
	api POST "/v1/files?filename=$n.txt" "${AUTH[@]}" -H 'Content-Type: text/plain' --data-binary "@$p"
	[ "$API_STATUS" = 202 ] || not_ok "upload $n.txt answers 202 (got $API_STATUS)"
	DOC[$n]=$(echo "$API_BODY" | jq -r .document_id)
	JOB[$n]=$(echo "$API_BODY" | jq -r .job_id)
done
ok "uploaded ${#DOC[@]} documents"

deadline=$((SECONDS + 120))
pending=("${!JOB[@]}")
while [ ${#pending[@]} -gt 0 ] && [ $SECONDS -lt $deadline ]; do
	left=()
	for n in "${pending[@]}"; do
		state=$(apio GET "/v1/jobs/${JOB[$n]}" "${AUTH[@]}" | jq -r .state)
		case "$state" in succeeded) ;; failed | rejected | cancelled) not_ok "job of $n.txt: $state" ;; *) left+=("$n") ;; esac
	done
	pending=("${left[@]}")
	[ ${#pending[@]} -gt 0 ] && sleep 0.5
done
check_eq "every job of the set succeeds" "${#pending[@]}" 0

total=0 hits=0
while IFS=$'\t' read -r want q; do
	case "$want" in '#'* | '') continue ;; esac
	total=$((total + 1))
	api GET "/v1/search?q=$(jq -rn --arg q "$q" '$q|@uri')&mode=hybrid&limit=5" "${AUTH[@]}"
	if [ "$API_STATUS" != 200 ]; then
		not_ok "search for '$q' answers 200 (got $API_STATUS)"
		continue
	fi
	if echo "$API_BODY" | jq -e --arg d "${DOC[$want]:-none}" '[.items[:5][].document_id] | index($d) != null' >/dev/null; then
		hits=$((hits + 1))
	else
		got=$(echo "$API_BODY" | jq -r '[.items[:5][].filename] | join(", ")')
		echo "# recall miss: '$q' wants $want.txt, got: $got"
	fi
done <tests/quality/recall_questions.tsv
recall=$(awk -v h="$hits" -v t="$total" 'BEGIN { printf "%.2f", t ? h / t : 0 }')
echo "# search recall@5 $recall ($hits/$total, hybrid, ${#DOC[@]} documents)"
check "the recall set has at least 15 questions" [ "$total" -ge 15 ]
check "search recall@5 $recall >= $QUALITY_RECALL_TARGET" awk -v r="$recall" -v t="$QUALITY_RECALL_TARGET" 'BEGIN { exit !(r >= t) }'
