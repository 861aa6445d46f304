#!/usr/bin/env bash
# k8s.sh - the Kubernetes manifest checks (tests/k8s, Go): every overlay under k8s/overlays builds
# with kustomize, every object decodes strictly against the API types, and the policy holds (each
# service: one autoscaler, a PDB, the three probes, resources, restricted security, a NetworkPolicy).
# Then the same checker on tests/k8s/testdata, a deliberately broken overlay, must report each fault.
# Needs a Go toolchain (/usr/local/go or golang-go from scripts/deps.sh) and, the first time, the Go
# module proxy (modules are cached in GOMODCACHE afterwards). Needs no cluster and no server.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.bash

GO=
if [ -x /usr/local/go/bin/go ]; then
	GO=/usr/local/go/bin/go
elif command -v go >/dev/null 2>&1; then
	GO=$(command -v go)
fi
if [ -z "$GO" ]; then
	not_ok "k8s manifests: go toolchain missing (scripts/deps.sh installs golang-go)"
	exit 1
fi
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

cd tests/k8s
out=$("$GO" run . ../../k8s 2>&1)
code=$?
# The checker's own ok/not ok lines count in the total; its summary line does not.
grep -E '^(ok|not ok) - ' <<<"$out"
grep -vE '^(ok|not ok) - |^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | sed 's/^/# /'
T_FAILED=$((T_FAILED + $(grep -c '^not ok - ' <<<"$out")))
check_eq "k8s manifest checker exits 0" "$code" 0

bad=$("$GO" run . testdata 2>&1)
check_eq "checker fails on the broken overlay" "$?" 1
for want in 'broken: Deployment/validate decodes strictly: strict decoding error: unknown field' \
	'broken: gateway probes' 'broken: orchestrator has a PodDisruptionBudget' \
	'broken: ai-worker has exactly one autoscaler (HPA 1, ScaledObject 1)' \
	'broken: Deployment/auth meets the restricted security context: container auth allows privilege escalation'; do
	check "broken overlay reported: $want" grep -qF "not ok - $want" <<<"$bad"
done

[ "$T_FAILED" -eq 0 ]
