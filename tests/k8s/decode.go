// decode.go - kustomize build of an overlay and strict decoding of every object it renders.
package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// One rendered object: its YAML and kind/name, for the messages.
type rendered struct {
	kind, name string
	yaml       []byte
}

// The decoded objects of one overlay, by kind.
type objectSet struct {
	deployments  []*appsv1.Deployment
	statefulsets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	pdbs         []*policyv1.PodDisruptionBudget
	netpols      []*networkingv1.NetworkPolicy
	scaled       []*scaledObject
	namespaces   []*corev1.Namespace
}

func build(dir string) ([]rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var out []rendered
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", res.GetKind(), res.GetName(), err)
		}
		out = append(out, rendered{res.GetKind(), res.GetName(), y})
	}
	return out, nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme, storagev1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

func decodeAll(r *report, overlay string, objs []rendered) *objectSet {
	scheme := newScheme()
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	set := &objectSet{}
	bad := 0
	for _, o := range objs {
		var obj interface{}
		var err error
		switch o.kind {
		case "ScaledObject":
			so := &scaledObject{}
			err = yaml.UnmarshalStrict(o.yaml, so)
			obj = so
		case "Cluster":
			c := &cnpgCluster{}
			err = yaml.UnmarshalStrict(o.yaml, c)
			obj = c
		default:
			obj, _, err = ser.Decode(o.yaml, nil, nil)
		}
		if err != nil {
			bad++
			r.ok(false, "%s: %s/%s decodes strictly: %v", overlay, o.kind, o.name, err)
			continue
		}
		switch v := obj.(type) {
		case *appsv1.Deployment:
			set.deployments = append(set.deployments, v)
		case *appsv1.StatefulSet:
			set.statefulsets = append(set.statefulsets, v)
		case *batchv1.Job:
			set.jobs = append(set.jobs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			set.hpas = append(set.hpas, v)
		case *policyv1.PodDisruptionBudget:
			set.pdbs = append(set.pdbs, v)
		case *networkingv1.NetworkPolicy:
			set.netpols = append(set.netpols, v)
		case *scaledObject:
			set.scaled = append(set.scaled, v)
		case *corev1.Namespace:
			set.namespaces = append(set.namespaces, v)
		}
	}
	r.ok(bad == 0, "%s: all %d objects decode strictly against the API types", overlay, len(objs))
	return set
}
