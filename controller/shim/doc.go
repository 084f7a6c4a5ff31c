// Package shim makes Certificates from annotated Ingresses and Gateway API
// Gateways, as cert-manager's ingress-shim and gateway-shim do: one
// Certificate per TLS Secret the object names, controlled by the object, so
// that deleting it deletes them. Half of cert-manager's users never write a
// Certificate; with the shim their annotated manifests work unchanged.
//
// The shim only writes Certificates; the Certificate reconciler in package
// controller turns them into workflows. It imports the API types,
// controller-runtime and the Kubernetes and Gateway API types, never Temporal,
// workflows or activities.
package shim
