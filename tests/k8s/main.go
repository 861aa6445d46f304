// Command k8scheck checks the Kubernetes manifests under k8s/ without a cluster:
//
//  1. every overlay builds with kustomize (the same library `kubectl kustomize` embeds);
//  2. every object decodes strictly (unknown or duplicate fields fail) against the Kubernetes API
//     types of k8s.io/api, and the KEDA ScaledObject / CloudNativePG Cluster against the subset of
//     their schema written in crds.go;
//  3. policy: each service has exactly one autoscaler (HPA autoscaling/v2 with scale-up and
//     scale-down behavior, or a KEDA ScaledObject - never both), a PodDisruptionBudget, startup and
//     liveness probes on /healthz and readiness on /readyz, CPU and memory requests and a memory
//     limit, the restricted security context, /tmp on an emptyDir, a topology spread, and appears in
//     a NetworkPolicy next to a default deny.
//
// Usage: go run . [k8s-dir] (default ../../k8s). Prints "ok - ..." / "not ok - ..." lines and ends
// with "N passed, N failed"; exits 1 when anything failed.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

var services = []string{"gateway", "auth", "orchestrator", "validate", "extract-metadata", "extract-content", "ai-worker"}

// The workers that the EKS overlay scales with KEDA on JetStream consumer lag.
var kedaWorkers = map[string]bool{"validate": true, "extract-metadata": true, "extract-content": true, "ai-worker": true}

type report struct{ passed, failed int }

func (r *report) ok(cond bool, format string, args ...interface{}) bool {
	msg := fmt.Sprintf(format, args...)
	if cond {
		r.passed++
		fmt.Println("ok - " + msg)
	} else {
		r.failed++
		fmt.Println("not ok - " + msg)
	}
	return cond
}

func main() {
	dir := "../../k8s"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	r := &report{}
	overlays, _ := filepath.Glob(filepath.Join(dir, "overlays", "*"))
	sort.Strings(overlays)
	r.ok(len(overlays) >= 2, "k8s/overlays has the dev and eks overlays (found %d)", len(overlays))
	for _, o := range overlays {
		name := filepath.Base(o)
		objs, err := build(o)
		if !r.ok(err == nil, "%s: kustomize build", name) {
			fmt.Println("#", err)
			continue
		}
		set := decodeAll(r, name, objs)
		checkPolicy(r, name, set, name == "eks")
	}
	fmt.Printf("%d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		os.Exit(1)
	}
}
