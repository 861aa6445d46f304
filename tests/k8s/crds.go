// crds.go - the part of the KEDA ScaledObject (keda.sh/v1alpha1) and CloudNativePG Cluster
// (postgresql.cnpg.io/v1) schemas that the manifests use, for strict decoding: a field that is not
// here (a typo, or one the operators do not know) fails the check. Field names follow
// https://keda.sh/docs/latest/reference/scaledobject-spec and the CNPG API reference.
package main

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef struct {
		APIVersion string `json:"apiVersion,omitempty"`
		Kind       string `json:"kind,omitempty"`
		Name       string `json:"name"`
	} `json:"scaleTargetRef"`
	PollingInterval  *int32 `json:"pollingInterval,omitempty"`
	CooldownPeriod   *int32 `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32 `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32 `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32 `json:"maxReplicaCount,omitempty"`
	Fallback         *struct {
		FailureThreshold int32 `json:"failureThreshold"`
		Replicas         int32 `json:"replicas"`
	} `json:"fallback,omitempty"`
	Advanced *struct {
		RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
		HorizontalPodAutoscalerConfig *struct {
			Name     string                                         `json:"name,omitempty"`
			Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
		} `json:"horizontalPodAutoscalerConfig,omitempty"`
	} `json:"advanced,omitempty"`
	Triggers []struct {
		Type              string            `json:"type"`
		Name              string            `json:"name,omitempty"`
		Metadata          map[string]string `json:"metadata"`
		AuthenticationRef *struct {
			Name string `json:"name"`
			Kind string `json:"kind,omitempty"`
		} `json:"authenticationRef,omitempty"`
	} `json:"triggers"`
}

type cnpgCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Instances             int    `json:"instances"`
		ImageName             string `json:"imageName,omitempty"`
		PrimaryUpdateStrategy string `json:"primaryUpdateStrategy,omitempty"`
		Storage               struct {
			Size         string  `json:"size"`
			StorageClass *string `json:"storageClass,omitempty"`
		} `json:"storage"`
		Bootstrap *struct {
			InitDB *struct {
				Database string `json:"database,omitempty"`
				Owner    string `json:"owner,omitempty"`
				Secret   *struct {
					Name string `json:"name"`
				} `json:"secret,omitempty"`
			} `json:"initdb,omitempty"`
		} `json:"bootstrap,omitempty"`
		Resources  *corev1.ResourceRequirements `json:"resources,omitempty"`
		Monitoring *struct {
			EnablePodMonitor bool `json:"enablePodMonitor,omitempty"`
		} `json:"monitoring,omitempty"`
	} `json:"spec"`
}
