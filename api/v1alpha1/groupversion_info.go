package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every certflow kind.
const GroupName = "certflow.dev"

// Kinds, as they appear in apiVersion/kind and in issuerRef.kind.
const (
	CertificateKind   = "Certificate"
	IssuerKind        = "Issuer"
	ClusterIssuerKind = "ClusterIssuer"
)

var (
	// GroupVersion is group certflow.dev, version v1alpha1.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeGroupVersion is GroupVersion under the name that client-go conventions expect.
	SchemeGroupVersion = GroupVersion

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a scheme:
	// `utilruntime.Must(v1alpha1.AddToScheme(scheme))`.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource returns the group-qualified resource for an unqualified one ("certificates").
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&Certificate{}, &CertificateList{},
		&Issuer{}, &IssuerList{},
		&ClusterIssuer{}, &ClusterIssuerList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
