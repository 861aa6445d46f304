#!/usr/bin/env bash
# chaos_cluster.sh - the chaos test on a 3-node NATS cluster with R3 streams, one
# nats-server killed with SIGKILL and restarted mid-run (chaos.sh, CHAOS_VARIANT=cluster).
CHAOS_VARIANT=cluster exec bash "$(dirname "$0")/chaos.sh"
