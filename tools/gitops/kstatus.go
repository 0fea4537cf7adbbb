package main

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatus: the status Flux's health checks (kustomize-controller's wait and healthChecks) read,
// computed by cli-utils' status.Compute: Current, InProgress, Failed, Terminating, Unknown.
func kstatus(u *unstructured.Unstructured) (string, string, error) {
	r, err := status.Compute(u)
	if err != nil {
		return "", "", err
	}
	return r.Status.String(), r.Message, nil
}
