# lib.bash - helpers for integration tests (sourced): assertions that print
# "ok - …" / "not ok - …", and a stack of the real services on test ports.

T_FAILED=0

ok() { echo "ok - $*"; }
not_ok() {
	echo "not ok - $*"
	T_FAILED=$((T_FAILED + 1))
}
# check NAME COND-COMMAND...: ok when the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}

# api METHOD PATH [curl args...]: sets API_STATUS and API_BODY in the calling shell (no subshell).
api() {
	local method=$1 path=$2
	shift 2
	API_STATUS=$(curl -sS -o "$T_DIR/api.body" -w '%{http_code}' -X "$method" "$GW$path" "$@")
	API_BODY=$(cat "$T_DIR/api.body")
}
# apio METHOD PATH [curl args...]: the body on stdout, for pipelines.
apio() {
	api "$@"
	printf '%s' "$API_BODY"
}

# t_stack_up: start the services against the test devstack; sets GW.
t_stack_up() {
	T_DIR=$(mktemp -d /tmp/aegis-it.XXXXXX)
	export STACK_DIR=$T_DIR
	export NATS_URL=${AEGIS_TEST_NATS_URL:?run through scripts/test-all}
	export DATABASE_URL=${AEGIS_TEST_DATABASE_URL:?run through scripts/test-all}
	export GATEWAY_PORT=${T_GATEWAY_PORT:-28000} WORKER_PORT_BASE=${T_WORKER_PORT_BASE:-29000}
	export LOG_LEVEL=${LOG_LEVEL:-info}
	# rate limits off unless a test sets them (tests poll faster than the defaults allow)
	export RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE:-0} RATE_LIMIT_PER_HOUR=${RATE_LIMIT_PER_HOUR:-0} \
		RATE_LIMIT_PER_DAY=${RATE_LIMIT_PER_DAY:-0} RATE_LIMIT_LOGIN_PER_MINUTE=${RATE_LIMIT_LOGIN_PER_MINUTE:-0} \
		RATE_LIMIT_LOGIN_PER_HOUR=${RATE_LIMIT_LOGIN_PER_HOUR:-0} RATE_LIMIT_LOGIN_PER_DAY=${RATE_LIMIT_LOGIN_PER_DAY:-0}
	. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/stack.sh"
	GW="http://127.0.0.1:$GATEWAY_PORT"
	stack_start
}

# t_stack_down: SIGTERM every service; each must exit 0. Shows logs of failures.
t_stack_down() {
	local line svc code
	# stack_stop must run in this shell: only the parent of the services can wait for their exit codes.
	stack_stop 30 >"$T_DIR/stop.out"
	while read -r line; do
		svc=${line%% *}
		code=${line##*exit=}
		check_eq "$svc drains and exits 0 on SIGTERM" "$code" 0
		if [ "$code" != 0 ]; then tail -n 30 "$T_DIR/logs/$svc.log" | sed 's/^/    /'; fi
	done <"$T_DIR/stop.out"
	# sanitizer reports land in the service logs
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_DIR"/logs/*.log >/dev/null 2>&1; then
		not_ok "no sanitizer reports in service logs"
		grep -h -A 20 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_DIR"/logs/*.log | head -60 | sed 's/^/    /'
	fi
	if [ "$T_FAILED" -gt 0 ]; then
		echo "# $T_FAILED checks failed; warnings and errors from the service logs (all kept in $T_DIR/logs):"
		grep -h '"level":"\(warn\|error\)"' "$T_DIR"/logs/*.log | tail -n 40 | sed 's/^/#   /'
	else
		rm -rf "$T_DIR"
	fi
}
