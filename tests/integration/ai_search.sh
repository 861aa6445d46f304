#!/usr/bin/env bash
# ai_search.sh - AI enrichment and search as a user sees them, with the
# builtin (offline) provider: documents made here (an invoice, a letter, an
# English report, a German text, a French text) go through the real pipeline;
# then category, language and PII flags, keyword / semantic / hybrid search
# (ranking, paraphrase, owner scoping, 400s) and the MCP endpoint (JSON-RPC).
# Figures (time per document, search latency) are printed as "# ..." lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

# this test makes a few hundred requests as one user: no per-user rate limit here
export RATE_LIMIT_PER_MINUTE=0 RATE_LIMIT_PER_HOUR=0 RATE_LIMIT_PER_DAY=0
# a small upload limit, so that MCP upload_text can be shown refusing a text over it
export MAX_UPLOAD_BYTES=200000
t_stack_up
trap 't_stack_down' EXIT

if stack_wait_ready 60; then ok "all seven services report ready"; else
	not_ok "all seven services report ready"
	exit 1
fi

poll_job() {
	local deadline=$((SECONDS + 90)) body state
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

login() { # login EMAIL: registers and prints a token
	api POST /v1/auth/register -H 'Content-Type: application/json' \
		-d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	apio POST /v1/auth/login -H 'Content-Type: application/json' \
		-d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}" | jq -r .access_token
}
TOKEN=$(login "ai.$$.$RANDOM@example.com")
AUTH=(-H "Authorization: Bearer $TOKEN")

# --- the labelled documents ---
cat >"$T_DIR/invoice.txt" <<'TXT'
INVOICE

Invoice number: INV-2026-0042
Invoice date: 2026-03-01
Due date: 2026-03-31

Bill to: Harbour Logistics Ltd, 12 Quay Street, Bristol

Description                     Qty   Unit price    Total
Container storage, March          3       120.00   360.00
Crane handling                    1       250.00   250.00

Subtotal: 610.00 EUR
VAT 20%: 122.00 EUR
Total due: 732.00 EUR

Payment terms: 30 days. Please pay the amount due by bank transfer to
IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX.
Questions about this invoice: billing@harbour-logistics.example.com
Reference card on file (expired, do not charge): 4111 1111 1111 1112
TXT
cat >"$T_DIR/letter.txt" <<'TXT'
Dear Ms Fischer,

thank you for your kind invitation to the opening of the new library in the old town.
I am very sorry that I cannot attend on the evening of the twelfth, because I will be travelling abroad that week.
I would be glad to visit the library with you at a later date, perhaps in the spring.
Please give my warm regards to your colleagues at the museum.

Yours sincerely,

Thomas Berger
TXT
cat >"$T_DIR/report.txt" <<'TXT'
Annual report on the water quality of mountain lakes

This report presents the findings of our survey of twenty mountain lakes during the summer season.
The analysis shows that the water temperature rose in most lakes, and that algae growth increased where the temperature was highest.
Nitrate levels remained stable, but phosphate concentrations were higher near farms and villages.
Our recommendations are to monitor the lakes every month and to reduce fertiliser use in the catchment areas.
The results and the methodology are described in detail in the following sections of this report.
TXT
cat >"$T_DIR/rezept.txt" <<'TXT'
Das Brot wird am Abend vorbereitet, damit der Teig über Nacht langsam gehen kann.
Man mischt das Mehl mit Wasser, Salz und etwas Hefe und knetet den Teig, bis er glatt ist.
Am nächsten Morgen wird der Teig geformt und in den heißen Ofen geschoben.
Nach einer Stunde ist das Brot fertig und die Kruste ist schön knusprig.
TXT
cat >"$T_DIR/velo.txt" <<'TXT'
Le vélo est devenu le moyen de transport préféré des habitants de la ville depuis que les pistes cyclables ont été prolongées.
Chaque matin, des milliers de personnes traversent le centre à vélo pour aller au travail ou à l'école.
La mairie a annoncé qu'elle allait construire de nouveaux parkings pour les vélos près des gares.
TXT

declare -A DOC
t0=$(date +%s.%N)
jobs=()
for f in invoice letter report rezept velo; do
	api POST "/v1/files?filename=$f.txt" "${AUTH[@]}" -H 'Content-Type: text/plain' --data-binary "@$T_DIR/$f.txt"
	check_eq "upload $f.txt answers 202" "$API_STATUS" 202
	DOC[$f]=$(echo "$API_BODY" | jq -r .document_id)
	jobs+=("$(echo "$API_BODY" | jq -r .job_id)")
done
for j in "${jobs[@]}"; do
	check_eq "job $j ends succeeded" "$(poll_job "$j" | jq -r .state)" succeeded
done
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "# 5 documents through the whole pipeline in %.2f s\n", b - a }'

# --- MCP helper: rpc BODY -> API_STATUS / API_BODY ---
rpc() { api POST /v1/mcp "${AUTH[@]}" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$1"; }
getdoc() {
	rpc "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"get_document\",\"arguments\":{\"document_id\":\"$1\"}}}"
	echo "$API_BODY" | jq -c .result.structuredContent
}

inv=$(getdoc "${DOC[invoice]}")
check_eq "the invoice is categorised invoice" "$(echo "$inv" | jq -r .ai.category)" invoice
check_eq "the invoice's email is flagged (1)" "$(echo "$inv" | jq -r .ai.pii.email.count)" 1
check_eq "the invoice's valid IBAN is flagged (1)" "$(echo "$inv" | jq -r .ai.pii.iban.count)" 1
check_eq "the invoice's card number failing Luhn is not flagged" "$(echo "$inv" | jq -r .ai.pii.card.count)" 0
api GET "/v1/documents/${DOC[invoice]}" "${AUTH[@]}"
check_eq "GET /v1/documents/{id} shows the category and PII counts too" \
	"$(echo "$API_BODY" | jq -r '[.ai.category, .ai.pii.email.count, .ai.pii.iban.count] | join(" ")')" "invoice 1 1"
check "the invoice has chunks" test "$(echo "$inv" | jq -r .chunks)" -ge 1
check_eq "the invoice (mostly names and numbers) is English" "$(echo "$inv" | jq -r .ai.language)" en
let=$(getdoc "${DOC[letter]}")
check_eq "the letter is categorised letter" "$(echo "$let" | jq -r .ai.category)" letter
check_eq "the letter has no PII" "$(echo "$let" | jq -r .ai.pii.total)" 0
check_eq "the letter is English" "$(echo "$let" | jq -r .ai.language)" en
rep=$(getdoc "${DOC[report]}")
check_eq "the report is categorised report" "$(echo "$rep" | jq -r .ai.category)" report
check_eq "the German text is de" "$(getdoc "${DOC[rezept]}" | jq -r .ai.language)" de
check_eq "the French text is fr" "$(getdoc "${DOC[velo]}" | jq -r .ai.language)" fr

# PII values never reach the logs
check "no IBAN or email value in any service log" bash -c \
	"! grep -q -e 'DE89 3704' -e 'DE89370400440532013000' -e 'billing@harbour' '$T_DIR'/logs/*.log"
check "chunks carry hashed-v1-512 vectors of 512 dimensions" bash -c \
	"[ \"\$(psql -XAtq '$DATABASE_URL' -c \"SELECT count(*) FROM chunks WHERE document_id = '${DOC[report]}' AND embedding_model = 'hashed-v1-512' AND cardinality(embedding) = 512\")\" -ge 1 ]"

# --- search ---
search() { # search QUERY MODE [extra query]
	api GET "/v1/search?q=$(jq -rn --arg q "$1" '$q|@uri')&mode=$2${3:-}" "${AUTH[@]}"
}
search "phosphate" keyword
check_eq "keyword search answers 200" "$API_STATUS" 200
check_eq "keyword search finds the report first" "$(echo "$API_BODY" | jq -r '.items[0].document_id')" "${DOC[report]}"
check "keyword snippet highlights the word" bash -c "echo '$(echo "$API_BODY" | jq -r '.items[0].snippet')' | grep -qi '\*\*phosphate\*\*'"
check_eq "keyword item has filename, chunk, mode" "$(echo "$API_BODY" | jq -r '.items[0] | "\(.filename) \(.chunk) \(.mode)"')" "report.txt 0 keyword"
search "Kruste Teig" keyword
check_eq "keyword search finds the German text" "$(echo "$API_BODY" | jq -r '.items[0].document_id')" "${DOC[rezept]}"

# a paraphrase: no exact phrase of the report, related words
search "temperatures of lakes and algae in summer" semantic
check_eq "semantic search answers 200" "$API_STATUS" 200
check_eq "semantic search ranks the lake report first for a paraphrase" "$(echo "$API_BODY" | jq -r '.items[0].document_id')" "${DOC[report]}"
rs=$(echo "$API_BODY" | jq -r --arg d "${DOC[report]}" '[.items[] | select(.document_id==$d) | .score] | max // 0')
us=$(echo "$API_BODY" | jq -r --arg d "${DOC[rezept]}" '[.items[] | select(.document_id==$d) | .score] | max // 0')
check "the report scores above the unrelated bread recipe ($rs > $us)" awk -v a="$rs" -v b="$us" 'BEGIN { exit !(a > b) }'
search "invoices payment" semantic
check_eq "semantic search finds the invoice for 'invoices payment'" "$(echo "$API_BODY" | jq -r '.items[0].document_id')" "${DOC[invoice]}"

search "library invitation" hybrid
check_eq "hybrid search finds the letter first" "$(echo "$API_BODY" | jq -r '.items[0].document_id')" "${DOC[letter]}"
check "hybrid item says which rankings found it" bash -c "echo '$(echo "$API_BODY" | jq -r '.items[0].mode')' | grep -q keyword"
api GET "/v1/search?q=lakes" "${AUTH[@]}"
check_eq "mode defaults to hybrid" "$(echo "$API_BODY" | jq -r .mode)" hybrid

search "the" keyword "&limit=1"
check_eq "limit=1 gives one item" "$(echo "$API_BODY" | jq '.items | length')" 1
cur=$(echo "$API_BODY" | jq -r .next_cursor)
check "a next_cursor is offered when more results exist" test "$cur" != null
first=$(echo "$API_BODY" | jq -r '.items[0] | "\(.document_id)/\(.chunk)"')
search "the" keyword "&limit=1&cursor=$cur"
check "the next page holds another chunk" test "$(echo "$API_BODY" | jq -r '.items[0] | "\(.document_id)/\(.chunk)"')" != "$first"

# bad input
for bad in "q=" "q=%20%20" "mode=keyword" "q=x&mode=fuzzy" "q=x&limit=0" "q=x&limit=51" "q=x&cursor=zzz" "q=%FF%FE"; do
	api GET "/v1/search?$bad" "${AUTH[@]}"
	check_eq "GET /v1/search?$bad answers 400" "$API_STATUS" 400
done
long=$(head -c 600 /dev/zero | tr '\0' a)
api GET "/v1/search?q=$long" "${AUTH[@]}"
check_eq "an oversized q answers 400 problem+json" "$API_STATUS $(echo "$API_BODY" | jq -r .status)" "400 400"
api GET "/v1/search?q=lakes"
check_eq "search without a token answers 401" "$API_STATUS" 401

# owner scoping
TOKEN2=$(login "other.$$.$RANDOM@example.com")
api GET "/v1/search?q=phosphate&mode=keyword" -H "Authorization: Bearer $TOKEN2"
check_eq "another user finds none of these documents" "$(echo "$API_BODY" | jq '.items | length')" 0

# latency figure over the test set
for m in keyword semantic hybrid; do
	t0=$(date +%s.%N)
	for i in $(seq 1 20); do search "water temperature lakes" $m; done
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" -v m="$m" 'BEGIN { printf "# search latency, %s: %.1f ms per request (20 requests, curl and jq included)\n", m, (b - a) * 1000 / 20 }'
done
# the gateway's own view (its access log), when it logs successful requests
grep '"path":"/v1/search"' "$T_DIR/logs/gateway.log" | grep '"status":200' | jq -r .duration_ms 2>/dev/null |
	sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "# gateway-side /v1/search duration: median %.1f ms, max %.1f ms over %d requests\n", a[int((NR + 1) / 2)], a[NR], NR }'

# --- MCP ---
rpc '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
check_eq "initialize echoes the supported protocol version" "$(echo "$API_BODY" | jq -r .result.protocolVersion)" 2025-06-18
check_eq "initialize offers tools" "$(echo "$API_BODY" | jq -r '.result.capabilities.tools.listChanged')" false
rpc '{"jsonrpc":"2.0","method":"notifications/initialized"}'
check_eq "a notification answers 202" "$API_STATUS" 202
rpc '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check_eq "tools/list names the tools" "$(echo "$API_BODY" | jq -r '[.result.tools[].name] | join(",")')" \
	"search_documents,get_document,get_document_content,get_job,upload_text"
check_eq "every tool has an object inputSchema" "$(echo "$API_BODY" | jq -r '[.result.tools[].inputSchema.type] | unique | join(",")')" object
rpc '{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"search_documents","arguments":{"query":"phosphate","mode":"keyword"}}}'
check_eq "search_documents finds the report" "$(echo "$API_BODY" | jq -r '.result.structuredContent.items[0].document_id')" "${DOC[report]}"
check_eq "search_documents also answers as text content" "$(echo "$API_BODY" | jq -r '.result.content[0].text | fromjson | .items[0].document_id')" "${DOC[report]}"
rpc "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"get_document_content\",\"arguments\":{\"document_id\":\"${DOC[velo]}\",\"max_chars\":20}}}"
check_eq "get_document_content cuts at max_chars" "$(echo "$API_BODY" | jq -r '.result.structuredContent | "\(.text | length) \(.truncated)"')" "20 true"
rpc "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"get_job\",\"arguments\":{\"job_id\":\"${jobs[0]}\"}}}"
check_eq "get_job reports the state" "$(echo "$API_BODY" | jq -r .result.structuredContent.state)" succeeded
rpc '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_document","arguments":{"document_id":"00000000-0000-4000-8000-000000000000"}}}'
check_eq "an unknown document is a tool error (isError)" "$(echo "$API_BODY" | jq -r .result.isError)" true
api POST /v1/mcp -H "Authorization: Bearer $TOKEN2" -H 'Content-Type: application/json' \
	-d "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"get_document\",\"arguments\":{\"document_id\":\"${DOC[invoice]}\"}}}"
check_eq "another user's document is not found over MCP" "$(echo "$API_BODY" | jq -r .result.isError)" true
rpc '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}'
check_eq "an unknown tool is -32602" "$(echo "$API_BODY" | jq -r .error.code)" -32602
rpc '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":""}}}'
check_eq "an empty query is a tool error (isError) saying why" \
	"$(echo "$API_BODY" | jq -r '"\(.result.isError) \(.result.structuredContent.error | length > 0)"')" "true true"
# upload_text: a document and job made from text, processed like an upload
rpc '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"upload_text","arguments":{"text":"The night ferry to the islands leaves the harbour at eleven and arrives at dawn. Cabins must be booked in advance.","filename":"ferry notes.txt"}}}'
check_eq "upload_text answers a queued job" "$(echo "$API_BODY" | jq -r '"\(.result.isError) \(.result.structuredContent.state)"')" "false queued"
up_job=$(echo "$API_BODY" | jq -r .result.structuredContent.job_id)
up_doc=$(echo "$API_BODY" | jq -r .result.structuredContent.document_id)
check_eq "the upload_text job succeeds" "$(poll_job "$up_job" | jq -r .state)" succeeded
rpc "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"tools/call\",\"params\":{\"name\":\"get_job\",\"arguments\":{\"job_id\":\"$up_job\"}}}"
check_eq "get_job sees the upload_text job succeeded" "$(echo "$API_BODY" | jq -r .result.structuredContent.state)" succeeded
check_eq "the uploaded text is a document with its filename and language" \
	"$(getdoc "$up_doc" | jq -r '"\(.filename) \(.ai.language)"')" "ferry notes.txt en"
rpc '{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":"night ferry islands","mode":"keyword"}}}'
check_eq "search_documents finds the uploaded text" "$(echo "$API_BODY" | jq -r '.result.structuredContent.items[0].document_id')" "$up_doc"
head -c 210000 /dev/zero | tr '\0' a >"$T_DIR/big.txt"
jq -n --rawfile t "$T_DIR/big.txt" '{jsonrpc:"2.0",id:23,method:"tools/call",params:{name:"upload_text",arguments:{text:$t}}}' >"$T_DIR/big.json"
api POST /v1/mcp "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$T_DIR/big.json"
check_eq "upload_text over MAX_UPLOAD_BYTES is a tool error naming the limit" \
	"$(echo "$API_BODY" | jq -r '"\(.result.isError) \(.result.structuredContent.error | test("MAX_UPLOAD_BYTES"))"')" "true true"
rpc '{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"upload_text","arguments":{"text":""}}}'
check_eq "upload_text of empty text is a tool error" "$(echo "$API_BODY" | jq -r .result.isError)" true
rpc '{"jsonrpc":"2.0","id":25,"method":"tools/call","params":{"name":"upload_text","arguments":{"text":42}}}'
check_eq "upload_text with a non-string text is a tool error" "$(echo "$API_BODY" | jq -r .result.isError)" true
rpc '{"jsonrpc":"2.0","id":10,"method":"resources/list"}'
check_eq "an unknown method is -32601" "$(echo "$API_BODY" | jq -r .error.code)" -32601
rpc '{not json'
check_eq "a body that is not JSON is 400 + -32700" "$API_STATUS $(echo "$API_BODY" | jq -r .error.code)" "400 -32700"
rpc '{"id":1,"method":"ping"}'
check_eq "a message without jsonrpc 2.0 is -32600" "$(echo "$API_BODY" | jq -r .error.code)" -32600
api POST /api/v1/mcp "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":11,"method":"ping"}'
check_eq "the /api/v1/mcp alias answers ping" "$API_STATUS $(echo "$API_BODY" | jq -c .result)" "200 {}"
api GET /v1/mcp "${AUTH[@]}"
check_eq "GET /v1/mcp answers 405" "$API_STATUS" 405
api POST /v1/mcp "${AUTH[@]}" -H 'Origin: http://evil.example' -d '{"jsonrpc":"2.0","id":12,"method":"ping"}'
check_eq "a foreign Origin answers 403" "$API_STATUS" 403
api POST /v1/mcp "${AUTH[@]}" -H 'MCP-Protocol-Version: 1999-01-01' -d '{"jsonrpc":"2.0","id":13,"method":"ping"}'
check_eq "an unsupported MCP-Protocol-Version answers 400" "$API_STATUS" 400
api POST /v1/mcp -d '{"jsonrpc":"2.0","id":14,"method":"tools/list"}'
check_eq "MCP without a token answers 401" "$API_STATUS" 401

[ "$T_FAILED" -eq 0 ]
