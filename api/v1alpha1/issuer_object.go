package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// IssuerObject is an Issuer or a ClusterIssuer: they differ in scope only,
// and share their spec and status.
// +kubebuilder:object:generate=false
type IssuerObject interface {
	metav1.Object
	runtime.Object
	IssuerSpec() *IssuerSpec
	IssuerStatus() *IssuerStatus
}

// NewIssuerObject returns an empty Issuer or ClusterIssuer, as kind names.
func NewIssuerObject(kind string) (IssuerObject, error) {
	switch kind {
	case IssuerKind:
		return &Issuer{}, nil
	case ClusterIssuerKind:
		return &ClusterIssuer{}, nil
	}
	return nil, fmt.Errorf("issuer kind %q is neither %s nor %s", kind, IssuerKind, ClusterIssuerKind)
}

func (i *Issuer) IssuerSpec() *IssuerSpec            { return &i.Spec }
func (i *Issuer) IssuerStatus() *IssuerStatus        { return &i.Status }
func (i *ClusterIssuer) IssuerSpec() *IssuerSpec     { return &i.Spec }
func (i *ClusterIssuer) IssuerStatus() *IssuerStatus { return &i.Status }

// Type is the section of the spec that is set: ACME, CA, SelfSigned or
// Vault ("" when none is; the schema requires exactly one).
func (s *IssuerSpec) Type() string {
	switch {
	case s.ACME != nil:
		return "ACME"
	case s.CA != nil:
		return "CA"
	case s.SelfSigned != nil:
		return "SelfSigned"
	case s.Vault != nil:
		return "Vault"
	}
	return ""
}
