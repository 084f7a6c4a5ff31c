// Package v1alpha1 holds certflow's Kubernetes API, group certflow.dev, version v1alpha1:
// the Certificate, Issuer and ClusterIssuer kinds that users apply, with the kubebuilder
// markers that generate their CRDs (deploy/crds) and deep-copy functions.
//
// Field names and meanings follow cert-manager's cert-manager.io/v1 wherever a field exists
// there, so that a cert-manager manifest ports by changing its apiVersion. Validation lives in
// the CRD schema (OpenAPI and CEL rules), so bad input is refused at kubectl apply with a
// message the user can act on; the controller can trust what it reads.
//
// This package imports apimachinery only: no controller-runtime, client-go, Temporal or
// anything of certflow's own, so that every other package (and other projects) can use the
// types without pulling in the rest.
//
// +kubebuilder:object:generate=true
// +groupName=certflow.dev
package v1alpha1
