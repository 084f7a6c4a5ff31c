package controller

import (
	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

// issuerRefOf names the issuer a Certificate points at: an Issuer in the
// Certificate's namespace, or a ClusterIssuer (namespace empty). The CRD's
// schema refuses other kinds and groups; an object stored before that rule
// existed gets an error here, which the reconciler reports as IssuerNotFound.
func issuerRefOf(cert *v1alpha1.Certificate) (activities.IssuerRef, error) {
	ref := cert.Spec.IssuerRef
	return activities.ResolveIssuerRef(cert.Namespace, ref.Group, ref.Kind, ref.Name)
}
