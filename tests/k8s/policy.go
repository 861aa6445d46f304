// policy.go - what every Aegis service must have in every overlay (see main.go), and the pod
// security every workload of the restricted namespace must meet.
package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func checkPolicy(r *report, overlay string, set *objectSet, eks bool) {
	restricted := false
	for _, ns := range set.namespaces {
		restricted = restricted || ns.Labels["pod-security.kubernetes.io/enforce"] == "restricted"
	}
	r.ok(restricted, "%s: namespace enforces pod security restricted", overlay)
	defaultDeny := false
	for _, np := range set.netpols {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 && len(np.Spec.PolicyTypes) == 2 {
			defaultDeny = true
		}
	}
	r.ok(defaultDeny, "%s: a default-deny NetworkPolicy (ingress and egress)", overlay)

	for _, name := range services {
		d := findDeployment(set, name)
		if !r.ok(d != nil, "%s: %s has a Deployment", overlay, name) {
			continue
		}
		podLabels := labels.Set(d.Spec.Template.Labels)
		checkAutoscaling(r, overlay, set, name, eks && kedaWorkers[name])
		pdb := false
		for _, p := range set.pdbs {
			pdb = pdb || selects(p.Spec.Selector, podLabels)
		}
		r.ok(pdb, "%s: %s has a PodDisruptionBudget", overlay, name)
		inPolicy := false
		for _, np := range set.netpols {
			if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) > 0 &&
				selects(&np.Spec.PodSelector, podLabels) {
				inPolicy = true
			}
		}
		r.ok(inPolicy, "%s: %s appears in a NetworkPolicy", overlay, name)
		r.ok(len(d.Spec.Template.Spec.TopologySpreadConstraints) > 0, "%s: %s has a topology spread", overlay, name)
		c := d.Spec.Template.Spec.Containers[0]
		r.ok(probe(c.StartupProbe, "/healthz") && probe(c.LivenessProbe, "/healthz") && probe(c.ReadinessProbe, "/readyz"),
			"%s: %s probes: startup and liveness on /healthz, readiness on /readyz", overlay, name)
		res := c.Resources
		r.ok(!res.Requests.Cpu().IsZero() && !res.Requests.Memory().IsZero() && !res.Limits.Memory().IsZero(),
			"%s: %s has CPU and memory requests and a memory limit", overlay, name)
		r.ok(tmpOnEmptyDir(&d.Spec.Template.Spec), "%s: %s has /tmp on an emptyDir", overlay, name)
	}
	for _, w := range workloads(set) {
		problem := restrictedProblem(&w.spec)
		r.ok(problem == "", "%s: %s meets the restricted security context%s", overlay, w.name, suffix(problem))
	}
}

// One HPA (autoscaling/v2 with both behaviors) or one ScaledObject per service, never both.
func checkAutoscaling(r *report, overlay string, set *objectSet, name string, wantKeda bool) {
	var hpa, so int
	behavior := false
	for _, h := range set.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == name {
			hpa++
			behavior = h.Spec.Behavior != nil && h.Spec.Behavior.ScaleUp != nil && h.Spec.Behavior.ScaleDown != nil
		}
	}
	for _, s := range set.scaled {
		if s.Spec.ScaleTargetRef.Name == name {
			so++
			hasLag := false
			for _, t := range s.Spec.Triggers {
				hasLag = hasLag || (t.Type == "nats-jetstream" && t.Metadata["consumer"] == name && t.Metadata["stream"] != "")
			}
			r.ok(hasLag, "%s: %s ScaledObject scales on its JetStream consumer lag", overlay, name)
		}
	}
	r.ok(hpa+so == 1, "%s: %s has exactly one autoscaler (HPA %d, ScaledObject %d)", overlay, name, hpa, so)
	if wantKeda {
		r.ok(so == 1, "%s: %s scales with KEDA", overlay, name)
	} else if hpa == 1 {
		r.ok(behavior, "%s: %s HPA sets scale-up and scale-down behavior", overlay, name)
	}
}

type workload struct {
	name string
	spec corev1.PodSpec
}

func workloads(set *objectSet) []workload {
	var out []workload
	for _, d := range set.deployments {
		out = append(out, workload{"Deployment/" + d.Name, d.Spec.Template.Spec})
	}
	for _, s := range set.statefulsets {
		out = append(out, workload{"StatefulSet/" + s.Name, s.Spec.Template.Spec})
	}
	for _, j := range set.jobs {
		out = append(out, workload{"Job/" + j.Name, j.Spec.Template.Spec})
	}
	return out
}

// The Pod Security Standards "restricted" profile plus a read-only root filesystem.
func restrictedProblem(p *corev1.PodSpec) string {
	psc := p.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	for _, c := range append(append([]corev1.Container{}, p.InitContainers...), p.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			return fmt.Sprintf("container %s has no securityContext", c.Name)
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			return fmt.Sprintf("container %s may run as root", c.Name)
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			return fmt.Sprintf("container %s has no RuntimeDefault seccomp profile", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			return fmt.Sprintf("container %s allows privilege escalation", c.Name)
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			len(sc.Capabilities.Add) > 0 {
			return fmt.Sprintf("container %s does not drop ALL capabilities", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			return fmt.Sprintf("container %s has a writable root filesystem", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			return fmt.Sprintf("container %s is privileged", c.Name)
		}
	}
	if p.HostNetwork || p.HostPID || p.HostIPC {
		return "uses host namespaces"
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			return fmt.Sprintf("volume %s is a hostPath", v.Name)
		}
	}
	return ""
}

func tmpOnEmptyDir(p *corev1.PodSpec) bool {
	for _, m := range p.Containers[0].VolumeMounts {
		if m.MountPath != "/tmp" {
			continue
		}
		for _, v := range p.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func probe(p *corev1.Probe, path string) bool {
	return p != nil && p.HTTPGet != nil && p.HTTPGet.Path == path
}

func selects(sel *metav1.LabelSelector, l labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(l)
}

func findDeployment(set *objectSet, name string) *appsv1.Deployment {
	for _, d := range set.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func suffix(problem string) string {
	if problem == "" {
		return ""
	}
	return ": " + problem
}
