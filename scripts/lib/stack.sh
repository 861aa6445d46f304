# stack.sh - start, wait for and stop the seven Aegis services (sourced by
# scripts/run-stack and the integration tests, so both run the stack the
# same way).
#
# Inputs (environment): BUILD (build dir, default build), STACK_DIR (where
# logs, pids and the storage directory go), NATS_URL, DATABASE_URL,
# GATEWAY_PORT (default 8000), WORKER_PORT_BASE (default 9000: orchestrator
# +0, validate +1, extract-metadata +2, extract-content +3, ai-worker +4,
# auth +5), JWT_KEY_SECRET.

STACK_SERVICES="auth orchestrator validate extract-metadata extract-content ai-worker gateway"

stack_port() {
	local base=${WORKER_PORT_BASE:-9000}
	case "$1" in
	gateway) echo "${GATEWAY_PORT:-8000}" ;;
	orchestrator) echo $((base + 0)) ;;
	validate) echo $((base + 1)) ;;
	extract-metadata) echo $((base + 2)) ;;
	extract-content) echo $((base + 3)) ;;
	ai-worker) echo $((base + 4)) ;;
	auth) echo $((base + 5)) ;;
	*) return 1 ;;
	esac
}

# stack_start: start every service in the background; logs in $STACK_DIR/logs/<svc>.log
stack_start() {
	local bin=${BUILD:-build}/bin svc
	mkdir -p "$STACK_DIR/logs" "$STACK_DIR/run" "$STACK_DIR/data"
	for svc in $STACK_SERVICES; do
		HTTP_PORT=$(stack_port "$svc") \
		HTTP_HOST=${HTTP_HOST:-127.0.0.1} \
		STORAGE_URL=${STORAGE_URL:-file://$STACK_DIR/data} \
		JWT_KEY_SECRET=${JWT_KEY_SECRET:-local-development-secret-change-me} \
			"$bin/$svc" >>"$STACK_DIR/logs/$svc.log" 2>&1 &
		echo $! >"$STACK_DIR/run/$svc.pid"
	done
}

# stack_wait_ready SECONDS: wait until every /readyz answers 200; prints the services that did not.
stack_wait_ready() {
	local deadline=$((SECONDS + ${1:-60})) svc pending
	while :; do
		pending=""
		for svc in $STACK_SERVICES; do
			curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(stack_port "$svc")/readyz" 2>/dev/null ||
				pending="$pending $svc"
		done
		[ -z "$pending" ] && return 0
		if [ $SECONDS -ge $deadline ]; then
			echo "not ready:$pending" >&2
			return 1
		fi
		sleep 0.2
	done
}

# stack_stop [SECONDS]: SIGTERM every service, wait for them; prints "svc exit=N" lines on stdout.
stack_stop() {
	local wait=${1:-30} svc pid
	for svc in $STACK_SERVICES; do
		pid=$(cat "$STACK_DIR/run/$svc.pid" 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null
	done
	for svc in $STACK_SERVICES; do
		pid=$(cat "$STACK_DIR/run/$svc.pid" 2>/dev/null) || continue
		local deadline=$((SECONDS + wait)) code
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
			echo "$svc exit=killed"
		else
			wait "$pid" 2>/dev/null
			code=$?
			echo "$svc exit=$code"
		fi
		rm -f "$STACK_DIR/run/$svc.pid"
	done
}
