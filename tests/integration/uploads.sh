#!/usr/bin/env bash
# uploads.sh - resumable uploads (tus 1.0.0) and Idempotency-Key, as a
# client sees them: a file sent in three PATCHes with the gateway killed
# (-9) during the second and started again - HEAD gives the durable offset,
# the upload resumes and becomes a job that succeeds, with the same bytes
# and sha256; a wrong offset (409), too large (413), termination (then
# 404), two PATCHes at once (one is refused with 423), expiry (410, bytes
# removed); POST /v1/files with an Idempotency-Key replayed (same job, one
# job row, no stored copy left behind), reused for another file (422), too
# long (400), sent four times at once (one job, the others 409 or replayed);
# a second request while the first still streams answers 409 + Retry-After
# and a third after it replays; a key held by a killed gateway (-9) is free
# again after IDEMPOTENCY_LEASE_S, one released by a failed or abandoned
# request at once; the same for tus creation.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

# short leases and checkpoints so that a killed gateway's lease runs out quickly
export TUS_LOCK_TTL_S=3
# an Idempotency-Key held by a killed gateway is free again after this (long enough to see the 409 first)
export IDEMPOTENCY_LEASE_S=${IDEMPOTENCY_LEASE_S:-10}
t_stack_up
trap 't_stack_down' EXIT
if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi
BIN=${BUILD:-build}/bin
DATA=$STACK_DIR/data
PSQL=(psql "$DATABASE_URL" -tAq)

email="uploads.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
api POST /v1/auth/login -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(echo "$API_BODY" | jq -r .access_token)

# tus METHOD PATH [curl args...]: API_STATUS, API_BODY; response headers in $T_DIR/h
tus() {
	local method=$1 path=$2
	shift 2
	local how=(-X "$method")
	[ "$method" = HEAD ] && how=(-I)
	API_STATUS=$(curl -sS -o "$T_DIR/api.body" -D "$T_DIR/h" -w '%{http_code}' "${how[@]}" "$GW$path" \
		-H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' "$@")
	API_BODY=$(cat "$T_DIR/api.body")
}
hdr() { # NAME [FILE]: a response header's value
	grep -i "^$1:" "${2:-$T_DIR/h}" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ //'
}
b64() { printf '%s' "$1" | base64 -w0; }
create() { # LENGTH [curl args...]: creates an upload, sets UP (its path)
	local len=$1
	shift
	tus POST /v1/uploads -H "Upload-Length: $len" \
		-H "Upload-Metadata: filename $(b64 report.txt),filetype $(b64 text/plain)" "$@"
	UP=$(hdr Location)
}
patch() { # PATH OFFSET FILE [curl args...]: PATCH the bytes of FILE
	local path=$1 off=$2 file=$3
	shift 3
	tus PATCH "$path" -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' \
		--data-binary @"$file" "$@"
}
head_offset() { # PATH: Upload-Offset of HEAD, or the status when not 200
	tus HEAD "$1"
	if [ "$API_STATUS" = 200 ]; then hdr Upload-Offset; else echo "status $API_STATUS"; fi
}
poll_job() { # JOB: wait (90 s) for a terminal state
	local deadline=$((SECONDS + 90)) state
	while :; do
		api GET "/v1/jobs/$1" -H "Authorization: Bearer $TOKEN"
		state=$(echo "$API_BODY" | jq -r .state 2>/dev/null)
		case "$state" in succeeded | failed | rejected | cancelled) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.3
	done
	echo "$state"
}
gw_start() { # [VAR=VALUE...]: start the gateway (again) with extra settings; waits until ready
	env "$@" HTTP_PORT="$GATEWAY_PORT" HTTP_HOST=127.0.0.1 STORAGE_URL="file://$DATA" \
		JWT_KEY_SECRET="${JWT_KEY_SECRET:-local-development-secret-change-me}" \
		"$BIN/gateway" >>"$STACK_DIR/logs/gateway.log" 2>&1 &
	echo $! >"$STACK_DIR/run/gateway.pid"
	local deadline=$((SECONDS + 30))
	until curl -fsS -o /dev/null "$GW/readyz" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && break
		sleep 0.1
	done
}
gw_kill() { # kill -9 the gateway
	local pid
	pid=$(cat "$STACK_DIR/run/gateway.pid")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
}
gw_term() { # SIGTERM the gateway, expecting a clean exit
	local pid code
	pid=$(cat "$STACK_DIR/run/gateway.pid")
	kill -TERM "$pid"
	wait "$pid"
	code=$?
	check_eq "the gateway exits 0 on SIGTERM" "$code" 0
}

# --- the protocol is advertised ---
API_STATUS=$(curl -sS -o /dev/null -D "$T_DIR/h" -w '%{http_code}' -X OPTIONS "$GW/v1/uploads")
check_eq "OPTIONS /v1/uploads answers 204" "$API_STATUS" 204
check_eq "OPTIONS advertises tus 1.0.0" "$(hdr Tus-Version)" 1.0.0
check_eq "OPTIONS lists the extensions" "$(hdr Tus-Extension)" "creation,creation-with-upload,termination,expiration"
check_eq "Tus-Max-Size is MAX_UPLOAD_BYTES" "$(hdr Tus-Max-Size)" 104857600

# --- an upload in three PATCHes, the gateway killed during the second ---
FILE=$T_DIR/report.txt
for i in $(seq 1 20000); do echo "line $i: resumable uploads keep their offset in PostgreSQL across replicas"; done >"$FILE"
SIZE=$(stat -c %s "$FILE")
SHA=$(sha256sum "$FILE" | cut -d' ' -f1)
P1=400000
P2=$((2 * SIZE / 3))
head -c "$P1" "$FILE" >"$T_DIR/part1"
tail -c +$((P1 + 1)) "$FILE" | head -c $((P2 - P1)) >"$T_DIR/part2"

create "$SIZE"
check_eq "creating an upload answers 201" "$API_STATUS" 201
check "its Location is /v1/uploads/{id}" grep -qE '^/v1/uploads/[0-9a-f-]{36}$' <<<"$UP"
check "the creation tells when it expires (Upload-Expires)" test -n "$(hdr Upload-Expires)"
ID=${UP##*/}
patch "$UP" 0 "$T_DIR/part1"
check_eq "the first PATCH answers 204" "$API_STATUS" 204
check_eq "its Upload-Offset is the bytes sent" "$(hdr Upload-Offset)" "$P1"
check_eq "HEAD gives the offset" "$(head_offset "$UP")" "$P1"
check_eq "HEAD says Cache-Control: no-store" "$(hdr Cache-Control)" no-store
check_eq "HEAD gives Upload-Length" "$(hdr Upload-Length)" "$SIZE"

# the second PATCH trickles; once a checkpoint made part of it durable, the gateway dies
curl -sS -o /dev/null -X PATCH "$GW$UP" -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
	-H "Upload-Offset: $P1" -H 'Content-Type: application/offset+octet-stream' \
	--limit-rate 50K --data-binary @"$T_DIR/part2" 2>/dev/null &
slow=$!
deadline=$((SECONDS + 30))
while :; do
	seen=$(head_offset "$UP")
	[ "$seen" -gt "$P1" ] 2>/dev/null && break
	[ $SECONDS -ge $deadline ] && break
	sleep 0.3
done
check "a long PATCH checkpoints its durable offset while it runs" test "$seen" -gt "$P1" 2>/dev/null
gw_kill
wait "$slow" 2>/dev/null
gw_start
X=$(head_offset "$UP")
check "after kill -9 and a restart, HEAD gives the durable offset (>= $seen)" test "$X" -ge "$seen" -a "$X" -le "$P2" 2>/dev/null
check "the staging file holds at least the durable offset" test "$(stat -c %s "$DATA/uploads/$ID")" -ge "$X"

# the dead gateway's lease runs out within TUS_LOCK_TTL_S; until then 423
tail -c +$((X + 1)) "$FILE" >"$T_DIR/rest"
deadline=$((SECONDS + 20))
while :; do
	patch "$UP" $((X + 1)) "$T_DIR/rest"
	[ "$API_STATUS" != 423 ] && break
	check_eq "a locked upload answers 423 with Retry-After" "$(test -n "$(hdr Retry-After)" && echo yes)" yes
	[ $SECONDS -ge $deadline ] && break
	sleep 1
done
check_eq "a PATCH at the wrong offset answers 409" "$API_STATUS" 409
check_eq "... as problem+json" "$(jq -r .status <<<"$API_BODY")" 409
check_eq "the refused PATCH changed nothing" "$(head_offset "$UP")" "$X"
patch "$UP" "$X" "$T_DIR/rest"
check_eq "the resumed PATCH answers 204" "$API_STATUS" 204
check_eq "its Upload-Offset is the file size" "$(hdr Upload-Offset)" "$SIZE"
JOB=$(hdr Upload-Job-Id)
check_eq "the completing PATCH names the job in Location" "$(hdr Location)" "/v1/jobs/$JOB"
check_eq "the job succeeds" "$(poll_job "$JOB")" succeeded
api GET "/v1/jobs/$JOB" -H "Authorization: Bearer $TOKEN"
DOC=$(echo "$API_BODY" | jq -r .document_id)
api GET "/v1/documents/$DOC" -H "Authorization: Bearer $TOKEN"
check_eq "the document's sha256 is the file's" "$(echo "$API_BODY" | jq -r .sha256)" "$SHA"
check_eq "the document's size is the file's" "$(echo "$API_BODY" | jq -r .size)" "$SIZE"
check "the stored bytes equal the file" cmp -s "$FILE" "$DATA/documents/$DOC"
check "the staging object is gone" test ! -e "$DATA/uploads/$ID"
check_eq "HEAD of the finished upload names the job" "$(head_offset "$UP") $(hdr Upload-Job-Id)" "$SIZE $JOB"
check_eq "exactly one job came of the upload" \
	"$("${PSQL[@]}" -c "SELECT count(*) FROM jobs WHERE document_id = '$DOC'")" 1

# --- a gateway that died after the last byte was durable but before the job was recorded ---
# (the state is made by hand: bytes in place, offset recorded, no job; once also already renamed)
for variant in staged renamed; do
	head -c 5000 "$FILE" >"$T_DIR/r"
	create 5000
	RID=${UP##*/}
	cp "$T_DIR/r" "$DATA/uploads/$RID"
	"${PSQL[@]}" -c "UPDATE uploads SET \"offset\" = length WHERE id = '$RID'"
	if [ $variant = renamed ]; then
		mv "$DATA/uploads/$RID" "$DATA/documents/$("${PSQL[@]}" -c "SELECT document_id FROM uploads WHERE id = '$RID'")"
	fi
	tus HEAD "$UP"
	RJOB=$(hdr Upload-Job-Id)
	check "HEAD finishes an upload whose bytes were all durable ($variant)" test -n "$RJOB"
	check_eq "... and its job succeeds ($variant)" "$(poll_job "$RJOB")" succeeded
	tus HEAD "$UP"
	check_eq "... once: HEAD again names the same job ($variant)" "$(hdr Upload-Job-Id)" "$RJOB"
done

# --- refusals ---
tus POST /v1/uploads -H "Upload-Length: 104857601"
check_eq "Upload-Length over MAX_UPLOAD_BYTES answers 413" "$API_STATUS" 413
check_eq "... as problem+json" "$(jq -r .status <<<"$API_BODY")" 413
create 10
printf '0123456789abcdef' >"$T_DIR/16"
patch "$UP" 0 "$T_DIR/16"
check_eq "a PATCH past Upload-Length answers 413" "$API_STATUS" 413
tus POST /v1/uploads
check_eq "a creation without Upload-Length answers 400" "$API_STATUS" 400
tus POST /v1/uploads -H "Upload-Length: 5" -H "Upload-Metadata: filename !!notbase64"
check_eq "malformed Upload-Metadata answers 400" "$API_STATUS" 400
API_STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/uploads" -H "Authorization: Bearer $TOKEN" -H "Upload-Length: 5")
check_eq "a request without Tus-Resumable answers 412" "$API_STATUS" 412
tus HEAD /v1/uploads/00000000-0000-4000-8000-000000000000
check_eq "HEAD of an unknown upload answers 404" "$API_STATUS" 404

# --- termination ---
create 1000
patch "$UP" 0 "$T_DIR/16"
TID=${UP##*/}
check "a started upload has a staging object" test -e "$DATA/uploads/$TID"
tus DELETE "$UP"
check_eq "DELETE terminates the upload (204)" "$API_STATUS" 204
tus HEAD "$UP"
check_eq "HEAD after termination answers 404" "$API_STATUS" 404
patch "$UP" 16 "$T_DIR/16"
check_eq "PATCH after termination answers 404" "$API_STATUS" 404
check "termination removed the staging object" test ! -e "$DATA/uploads/$TID"

# --- two PATCHes at once: the second is refused while the first holds the upload ---
head -c 200000 "$FILE" >"$T_DIR/c"
create 200000
CID=${UP##*/}
curl -sS -o /dev/null -D "$T_DIR/ha" -X PATCH "$GW$UP" -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
	-H "Upload-Offset: 0" -H 'Content-Type: application/offset+octet-stream' \
	--limit-rate 40K --data-binary @"$T_DIR/c" &
first=$!
deadline=$((SECONDS + 20))
until [ "$("${PSQL[@]}" -c "SELECT lease_holder IS NOT NULL FROM uploads WHERE id = '$CID'")" = t ]; do
	[ $SECONDS -ge $deadline ] && break
	sleep 0.1
done
patch "$UP" 0 "$T_DIR/c"
check_eq "a second PATCH while the first runs answers 423" "$API_STATUS" 423
wait "$first"
check_eq "the first PATCH completes (204)" "$(head -n 1 "$T_DIR/ha" | cut -d' ' -f2)" 204
CJOB=$(hdr Upload-Job-Id "$T_DIR/ha")
check_eq "its job succeeds" "$(poll_job "$CJOB")" succeeded
api GET "/v1/jobs/$CJOB" -H "Authorization: Bearer $TOKEN"
CDOC=$(echo "$API_BODY" | jq -r .document_id)
check "the stored bytes equal what the first PATCH sent" cmp -s "$T_DIR/c" "$DATA/documents/$CDOC"

# --- Idempotency-Key on POST /v1/files ---
ndocs() { find "$DATA/documents" -type f | wc -l; }
post_file() { # KEY TEXT [curl args]
	local key=$1 text=$2
	shift 2
	API_STATUS=$(printf '%s' "$text" | curl -sS -o "$T_DIR/api.body" -D "$T_DIR/h" -w '%{http_code}' \
		-X POST "$GW/v1/files?filename=idem.txt" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' \
		-H "Idempotency-Key: $key" --data-binary @- "$@")
	API_BODY=$(cat "$T_DIR/api.body")
}
KEY="idem-$$-$RANDOM"
post_file "$KEY" "The first file sent with an idempotency key."
check_eq "an upload with an Idempotency-Key answers 202" "$API_STATUS" 202
IJOB=$(jq -r .job_id <<<"$API_BODY")
before=$(ndocs)
post_file "$KEY" "The first file sent with an idempotency key."
check_eq "the retry answers 202 too" "$API_STATUS" 202
check_eq "the retry returns the same job" "$(jq -r .job_id <<<"$API_BODY")" "$IJOB"
check_eq "the retry says Idempotent-Replayed: true" "$(hdr Idempotent-Replayed)" true
check_eq "only one job row has the key" \
	"$("${PSQL[@]}" -c "SELECT count(*) FROM jobs WHERE idempotency_key = '$KEY'")" 1
check_eq "the retry's stored copy was removed" "$(ndocs)" "$before"
post_file "$KEY" "Another file with the same key."
check_eq "the same key with another file answers 422" "$API_STATUS" 422
check_eq "... as problem+json" "$(jq -r .status <<<"$API_BODY")" 422
post_file "$(printf 'k%.0s' $(seq 1 300))" "A file."
check_eq "an Idempotency-Key over IDEMPOTENCY_KEY_MAX_BYTES answers 400" "$API_STATUS" 400

KEY2="twins-$$-$RANDOM"
before=$(ndocs)
twins=()
head -c 300000 "$FILE" >"$T_DIR/twins.txt"
for i in 1 2 3 4; do
	curl -sS -o "$T_DIR/twin.$i" -w '%{http_code}\n' -X POST "$GW/v1/files?filename=twins.txt" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' -H "Idempotency-Key: $KEY2" \
		--data-binary @"$T_DIR/twins.txt" >"$T_DIR/twin.$i.status" &
	twins+=($!)
done
wait "${twins[@]}"
codes=$(cat "$T_DIR"/twin.*.status | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
check "four concurrent requests with one key answer 202 or 409 ($codes)" \
	test -z "$(cat "$T_DIR"/twin.*.status | grep -v -x -e 202 -e 409)"
for i in 1 2 3 4; do [ "$(cat "$T_DIR/twin.$i.status")" = 202 ] && jq -r .job_id "$T_DIR/twin.$i"; done >"$T_DIR/twin.jobs"
check_eq "... those answering 202 name one job" "$(sort -u "$T_DIR/twin.jobs" | grep -c .)" 1
check_eq "... and one job row" "$("${PSQL[@]}" -c "SELECT count(*) FROM jobs WHERE idempotency_key = '$KEY2'")" 1
check_eq "... and one stored file" "$(ndocs)" $((before + 1))
for i in 1 2 3 4; do
	[ "$(cat "$T_DIR/twin.$i.status")" = 409 ] && jq -r .status "$T_DIR/twin.$i"
done >"$T_DIR/twin.409"
check "... a 409 among them is problem+json" test -z "$(grep -v -x 409 "$T_DIR/twin.409")"

# post_path KEY FILE [curl args]: POST /v1/files with the file's bytes as idem.txt (or \$NAME)
post_path() {
	local key=$1 file=$2
	shift 2
	API_STATUS=$(curl -sS -o "$T_DIR/api.body" -D "$T_DIR/h" -w '%{http_code}' -X POST "$GW/v1/files?filename=${NAME:-idem.txt}" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' -H "Idempotency-Key: $key" \
		--data-binary @"$file" "$@")
	API_BODY=$(cat "$T_DIR/api.body")
}
held() { # KEY: is a reservation of KEY held (no job yet)?
	[ "$("${PSQL[@]}" -c "SELECT count(*) FROM idempotency_keys WHERE key = '$1' AND job_id IS NULL")" = 1 ]
}
wait_held() { # KEY: wait (20 s) until a request holds KEY
	local deadline=$((SECONDS + 20))
	until held "$1"; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}
slow_post() { # KEY FILE OUT: a trickling POST /v1/files in the background (pid in $slow)
	curl -sS -o "$3" -D "$3.h" -w '%{http_code}' -X POST "$GW/v1/files?filename=idem.txt" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' -H "Idempotency-Key: $1" \
		--limit-rate 50K --data-binary @"$2" >"$3.status" 2>/dev/null &
	slow=$!
}
head -c 250000 "$FILE" >"$T_DIR/slow.txt"

# a second request while the first still streams: 409; a third after it: the first's job
KEY3="slow-$$-$RANDOM"
before=$(ndocs)
slow_post "$KEY3" "$T_DIR/slow.txt" "$T_DIR/slow1"
check "a trickling upload reserves its Idempotency-Key" wait_held "$KEY3"
post_path "$KEY3" "$T_DIR/slow.txt"
check_eq "a second request while the first streams answers 409" "$API_STATUS" 409
check_eq "... as problem+json" "$(jq -r .status <<<"$API_BODY")" 409
check "... with Retry-After" test "$(hdr Retry-After)" -ge 1 2>/dev/null
post_path "$KEY3" "$T_DIR/16"
check_eq "... also with another file (the first decides the key)" "$API_STATUS" 409
wait "$slow"
check_eq "the first request completes (202)" "$(cat "$T_DIR/slow1.status")" 202
SJOB=$(jq -r .job_id "$T_DIR/slow1")
post_path "$KEY3" "$T_DIR/slow.txt"
check_eq "a third request with the key and the same file answers 202" "$API_STATUS" 202
check_eq "... with the first request's job" "$(jq -r .job_id <<<"$API_BODY")" "$SJOB"
check_eq "... saying Idempotent-Replayed: true" "$(hdr Idempotent-Replayed)" true
check_eq "... storing nothing more" "$(ndocs)" $((before + 1))
NAME=other.txt post_path "$KEY3" "$T_DIR/slow.txt"
check_eq "the same bytes under another filename answer 422" "$API_STATUS" 422
check_eq "the key is linked to its job" \
	"$("${PSQL[@]}" -c "SELECT job_id FROM idempotency_keys WHERE key = '$KEY3'")" "$SJOB"

# a failed request lets its key go: the retry proceeds
KEY4="failed-$$-$RANDOM"
API_STATUS=$(printf -- '--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n' |
	curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/files" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: multipart/form-data; boundary=b' -H "Idempotency-Key: $KEY4" --data-binary @-)
check_eq "a form without a file field answers 400" "$API_STATUS" 400
check "... and holds no reservation afterwards" test "$(held "$KEY4" && echo held)" = ""
post_path "$KEY4" "$T_DIR/16"
check_eq "a retry with its key and a good file answers 202" "$API_STATUS" 202
check "... not as a replay" test -z "$(hdr Idempotent-Replayed)"

# a client that goes away lets its key go
KEY5="gone-$$-$RANDOM"
slow_post "$KEY5" "$T_DIR/slow.txt" "$T_DIR/slow5"
wait_held "$KEY5"
kill "$slow"
wait "$slow" 2>/dev/null
deadline=$((SECONDS + 20))
while held "$KEY5" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
check "an abandoned upload lets its Idempotency-Key go" test "$(held "$KEY5" && echo held)" = ""
post_path "$KEY5" "$T_DIR/16"
check_eq "... and a retry answers 202" "$API_STATUS" 202

# a gateway killed (-9) while holding a key: 409 until IDEMPOTENCY_LEASE_S has passed, then the key is free
KEY6="killed-$$-$RANDOM"
slow_post "$KEY6" "$T_DIR/slow.txt" "$T_DIR/slow6"
wait_held "$KEY6"
gw_kill
wait "$slow" 2>/dev/null
gw_start
post_path "$KEY6" "$T_DIR/slow.txt"
check_eq "after kill -9 the dead gateway's reservation still answers 409" "$API_STATUS" 409
deadline=$((SECONDS + IDEMPOTENCY_LEASE_S + 20))
while [ "$API_STATUS" = 409 ] && [ $SECONDS -lt $deadline ]; do
	sleep "$(hdr Retry-After)"
	post_path "$KEY6" "$T_DIR/slow.txt"
done
check_eq "once its lease ran out the key is taken over (202)" "$API_STATUS" 202
check "... making a new job, not a replay" test -z "$(hdr Idempotent-Replayed)"
KJOB=$(jq -r .job_id <<<"$API_BODY")
check_eq "... the only job of the key" \
	"$("${PSQL[@]}" -c "SELECT string_agg(id::text, ',') FROM jobs WHERE idempotency_key = '$KEY6'")" "$KJOB"
check_eq "... and its job succeeds" "$(poll_job "$KJOB")" succeeded

# --- Idempotency-Key on tus creation ---
TKEY="tus-$$-$RANDOM"
create 1234 -H "Idempotency-Key: $TKEY"
first_up=$UP
create 1234 -H "Idempotency-Key: $TKEY"
check_eq "a repeated creation returns the same upload" "$UP" "$first_up"
check_eq "... saying Idempotent-Replayed: true" "$(hdr Idempotent-Replayed)" true
create 4321 -H "Idempotency-Key: $TKEY"
check_eq "the key with another Upload-Length answers 422" "$API_STATUS" 422

# a creation-with-upload still sending its body holds the key: 409, then the repeat returns the upload
TKEY2="tus-slow-$$-$RANDOM"
TSIZE=$(stat -c %s "$T_DIR/slow.txt")
curl -sS -o /dev/null -D "$T_DIR/tslow.h" -X POST "$GW/v1/uploads" -H "Authorization: Bearer $TOKEN" \
	-H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $TSIZE" -H "Idempotency-Key: $TKEY2" \
	-H "Upload-Metadata: filename $(b64 slow.txt)" -H 'Content-Type: application/offset+octet-stream' \
	--limit-rate 50K --data-binary @"$T_DIR/slow.txt" &
tslow=$!
deadline=$((SECONDS + 20))
until [ "$("${PSQL[@]}" -c "SELECT count(*) FROM uploads WHERE idempotency_key = '$TKEY2' AND lease_holder = id")" = 1 ]; do
	[ $SECONDS -ge $deadline ] && break
	sleep 0.1
done
tus POST /v1/uploads -H "Upload-Length: $TSIZE" -H "Idempotency-Key: $TKEY2" -H "Upload-Metadata: filename $(b64 slow.txt)"
check_eq "a repeated creation while the first still sends its body answers 409" "$API_STATUS" 409
check "... with Retry-After" test "$(hdr Retry-After)" -ge 1 2>/dev/null
wait "$tslow"
tus POST /v1/uploads -H "Upload-Length: $TSIZE" -H "Idempotency-Key: $TKEY2" -H "Upload-Metadata: filename $(b64 slow.txt)"
check_eq "after it, the repeat returns the same upload" "$(hdr Location)" "$(hdr Location "$T_DIR/tslow.h")"
check_eq "... complete, with its job" "$(hdr Upload-Offset) $(hdr Upload-Job-Id)" "$TSIZE $(hdr Upload-Job-Id "$T_DIR/tslow.h")"

# --- expiry: a gateway with a 2 s lifetime for unfinished uploads ---
gw_term
gw_start TUS_EXPIRE_AFTER_S=2 TUS_SWEEP_INTERVAL_S=1
create 1000
patch "$UP" 0 "$T_DIR/16"
EID=${UP##*/}
check "the upload to expire has a staging object" test -e "$DATA/uploads/$EID"
sleep 3
tus HEAD "$UP"
check_eq "HEAD after TUS_EXPIRE_AFTER_S answers 410" "$API_STATUS" 410
patch "$UP" 16 "$T_DIR/16"
check_eq "PATCH of an expired upload answers 410" "$API_STATUS" 410
deadline=$((SECONDS + 15))
while [ -e "$DATA/uploads/$EID" ] && [ $SECONDS -lt $deadline ]; do
	sleep 0.5 # no requests: the gateway's timer sweeps
done
check "the sweep removed the expired upload's bytes, with no tus traffic" test ! -e "$DATA/uploads/$EID"
check_eq "the expired upload is marked so" "$("${PSQL[@]}" -c "SELECT state FROM uploads WHERE id = '$EID'")" expired

# --- group commit: uploads finishing together are recorded by one statement; a bad one fails alone ---
# A lock on documents holds the first upload's insert; the next two (one of an account deleted meanwhile, one
# not) wait behind it and are recorded as one batch, which fails on the deleted account and is then recorded
# one by one: 202 for the live account, 401 for the deleted one, and no stored bytes left of the refused upload.
gc_user() { # EMAIL: registers and logs in; prints "token user-id"
	api POST /v1/auth/register -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	api POST /v1/auth/login -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}"
	echo "$(echo "$API_BODY" | jq -r .access_token) $("${PSQL[@]}" -c "SELECT id FROM users WHERE email = '$1'")"
}
gc_batches() { # "count sum" of aegis_upload_commit_batch_size
	curl -sS "$GW/metrics" | awk '/^aegis_upload_commit_batch_size_count/ { c = $2 } /^aegis_upload_commit_batch_size_sum/ { s = $2 } END { print c + 0, s + 0 }'
}
gc_up() { # NAME TOKEN FILE: POST /v1/files in the background; status in $T_DIR/NAME.code, body in $T_DIR/NAME.body
	curl -sS -o "$T_DIR/$1.body" -w '%{http_code}' -X POST "$GW/v1/files?filename=$1.txt" -H "Authorization: Bearer $2" \
		-H 'Content-Type: text/plain' --data-binary "@$3" >"$T_DIR/$1.code" &
	gc_pids+=($!)
}
gc_wait() { # waits for the uploads gc_up started (not for the gateway, also a child of this shell)
	wait "${gc_pids[@]}"
	gc_pids=()
}
gc_pids=()
read -r GC_LIVE GC_LIVE_ID <<<"$(gc_user "gc-live.$$.$RANDOM@example.com")"
read -r GC_GONE GC_GONE_ID <<<"$(gc_user "gc-gone.$$.$RANDOM@example.com")"
"${PSQL[@]}" -c "DELETE FROM users WHERE id = '$GC_GONE_ID'"
head -c 3000 /dev/urandom | base64 >"$T_DIR/gc1"
head -c 3000 /dev/urandom | base64 >"$T_DIR/gc2"
head -c 3000 /dev/urandom | base64 >"$T_DIR/gc3"
read -r gc_count0 gc_sum0 <<<"$(gc_batches)"
gc_objects0=$(find "$DATA/documents" -type f | wc -l)
"${PSQL[@]}" -c "BEGIN; LOCK TABLE documents IN SHARE ROW EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT" >/dev/null &
gc_lock=$!
sleep 0.5
gc_up gc1 "$GC_LIVE" "$T_DIR/gc1"
sleep 0.7 # gc1 leads, held by the lock
gc_up gc2 "$GC_GONE" "$T_DIR/gc2"
gc_up gc3 "$GC_LIVE" "$T_DIR/gc3"
gc_wait
check_eq "uploads held by a locked table all end: live, deleted account, live" \
	"$(cat "$T_DIR/gc1.code") $(cat "$T_DIR/gc2.code") $(cat "$T_DIR/gc3.code")" "202 401 202"
check_eq "... the deleted account's answer says why" "$(jq -r .detail "$T_DIR/gc2.body")" \
	"the account of this token no longer exists"
read -r gc_count1 gc_sum1 <<<"$(gc_batches)"
check_eq "the three were recorded in two statements (batches of 1 and 2)" \
	"$((gc_count1 - gc_count0)) $((gc_sum1 - gc_sum0))" "2 3"
check "... and the failed batch of two was recorded one by one (logged)" \
	grep -q "recording 2 uploads together failed" "$STACK_DIR/logs/gateway.log"
for f in gc1 gc3; do
	job=$(jq -r .job_id "$T_DIR/$f.body")
	check_eq "$f: its job is queued or later, with its bytes' sha256" \
		"$("${PSQL[@]}" -c "SELECT d.owner_id || ' ' || d.sha256 || ' ' || d.size FROM jobs j JOIN documents d ON d.id = j.document_id WHERE j.id = '$job'")" \
		"$GC_LIVE_ID $(sha256sum "$T_DIR/$f" | cut -d' ' -f1) $(stat -c %s "$T_DIR/$f")"
done
check_eq "the refused upload left no stored object (two new ones, both recorded)" \
	"$(($(find "$DATA/documents" -type f | wc -l) - gc_objects0))" 2
wait "$gc_lock" 2>/dev/null

# 24 uploads at once: every one answered 202 and recorded, each through the batching path
read -r gc_count0 gc_sum0 <<<"$(gc_batches)"
for i in $(seq 1 24); do gc_up "gcm$i" "$GC_LIVE" "$T_DIR/gc1"; done
gc_wait
codes=$(for i in $(seq 1 24); do cat "$T_DIR/gcm$i.code"; echo; done | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
check_eq "24 uploads at once all answer 202" "$codes" "202x24 "
read -r gc_count1 gc_sum1 <<<"$(gc_batches)"
check_eq "... and all 24 went through group commit" "$((gc_sum1 - gc_sum0))" 24
echo "# 24 uploads at once: $((gc_count1 - gc_count0)) statements"
check_eq "... 24 distinct jobs of this account recorded" \
	"$("${PSQL[@]}" -c "SELECT count(*) FROM jobs WHERE owner_id = '$GC_LIVE_ID'")" 26

# GET /v1/documents pages through all 26 with next_cursor, newest first, each once
cursor="" pages=0
: >"$T_DIR/doc-ids"
while :; do
	api GET "/v1/documents?limit=10${cursor:+&cursor=$cursor}" -H "Authorization: Bearer $GC_LIVE"
	[ "$API_STATUS" = 200 ] || break
	echo "$API_BODY" | jq -r '.items[].id' >>"$T_DIR/doc-ids"
	pages=$((pages + 1))
	cursor=$(echo "$API_BODY" | jq -r '.next_cursor // empty')
	[ -z "$cursor" ] || [ $pages -ge 10 ] && break
done
check_eq "GET /v1/documents?limit=10 gives 3 pages of 26 distinct documents, the last without next_cursor" \
	"$pages $(sort -u "$T_DIR/doc-ids" | wc -l) $([ -z "$cursor" ] && echo end)" "3 26 end"
check_eq "... newest first, as in the database" "$(tr '\n' ' ' <"$T_DIR/doc-ids")" \
	"$("${PSQL[@]}" -c "SELECT id FROM documents WHERE owner_id = '$GC_LIVE_ID' ORDER BY created_at DESC, id DESC" | tr '\n' ' ')"

# --- memory after a burst: 300 uploads held at once, then finished; the gateway gives the heap back ---
gw_pid=$(cat "$STACK_DIR/run/gateway.pid")
burst=$(python3 tests/bench/slow_uploads.py 127.0.0.1 "$GATEWAY_PORT" "$TOKEN" "$gw_pid" 300 200000 2 1000 60)
bv() { echo "$burst" | awk -F= -v k="slow_$1" '$1 == k {print $2}'; }
check_eq "300 uploads held at once all answer 202" "$(bv 202)" 300
echo "# gateway RSS: before $(bv rss_before_kib) KiB, held $(bv rss_peak_held_kib) KiB, after $(bv rss_after_kib) KiB"
if ldd "$BIN/gateway" | grep -q libasan; then
	ok "# skip: the memory given back after a burst (AddressSanitizer keeps its own heap)"
else
	check "after the burst the gateway gave back at least half of the memory it took" \
		test "$(bv rss_after_kib)" -lt $((($(bv rss_before_kib) + $(bv rss_peak_held_kib)) / 2))
fi

exit $((T_FAILED > 0))
