#!/usr/bin/env bash
# docs.sh - the README tells the truth about configuration: its table is what
# the binaries themselves declare (scripts/config-doc --check).
set -u
cd "$(dirname "$0")/../.."
if out=$(scripts/config-doc --check 2>&1); then
	echo "ok - README configuration table matches every binary's --config-table"
else
	echo "$out" | head -40
	echo "not ok - README configuration table matches every binary's --config-table"
fi
for s in gateway auth orchestrator validate extract-metadata extract-content ai-worker; do
	if "${BUILD:-build}/bin/$s" --help | grep -q 'Configuration comes from the environment'; then
		echo "ok - $s --help lists its configuration"
	else
		echo "not ok - $s --help lists its configuration"
	fi
done
