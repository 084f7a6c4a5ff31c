package shim

import (
	"fmt"
	"strconv"

	"github.com/certflow/certflow/api/v1alpha1"
)

// The annotations are read under certflow's prefix and, with
// Options.CertManagerAnnotations, under cert-manager's, with cert-manager's
// names and meanings, so that a cert-manager manifest works unchanged. Where
// both prefixes set one annotation, certflow's wins.
const (
	PrefixCertflow    = "certflow.dev/"
	PrefixCertManager = "cert-manager.io/"

	// AnnotationTLSACME "true" on an Ingress asks for Certificates from the
	// default issuer (Options.DefaultIssuer). cert-manager reads it on
	// Ingresses only, and so does the shim, with Options.CertManagerAnnotations.
	AnnotationTLSACME = "kubernetes.io/tls-acme"
)

// The names under a prefix: certflow.dev/cluster-issuer, cert-manager.io/duration.
const (
	IssuerAnnotation                   = "issuer"
	ClusterIssuerAnnotation            = "cluster-issuer"
	IssuerKindAnnotation               = "issuer-kind"
	IssuerGroupAnnotation              = "issuer-group"
	CommonNameAnnotation               = "common-name"
	DurationAnnotation                 = "duration"
	RenewBeforeAnnotation              = "renew-before"
	UsagesAnnotation                   = "usages"
	PrivateKeyAlgorithmAnnotation      = "private-key-algorithm"
	PrivateKeySizeAnnotation           = "private-key-size"
	PrivateKeyRotationPolicyAnnotation = "private-key-rotation-policy"
	RevisionHistoryLimitAnnotation     = "revision-history-limit"
)

// annotations are an object's annotations as the shim reads them: a name
// under the first prefix that sets it.
type annotations struct {
	values   map[string]string
	prefixes []string
}

func (o Options) annotationsOf(values map[string]string) annotations {
	prefixes := []string{PrefixCertflow}
	if o.CertManagerAnnotations {
		prefixes = append(prefixes, PrefixCertManager)
	}
	return annotations{values: values, prefixes: prefixes}
}

// get returns the annotation's full key and value under the first prefix
// that sets it.
func (a annotations) get(name string) (key, value string, ok bool) {
	for _, p := range a.prefixes {
		if v, ok := a.values[p+name]; ok {
			return p + name, v, true
		}
	}
	return "", "", false
}

// badAnnotation is an annotation whose value the shim cannot use. Its message
// is what the Warning Event on the object says.
type badAnnotation struct {
	key, value, why string
}

func (e *badAnnotation) Error() string {
	return fmt.Sprintf("annotation %s: %q %s", e.key, e.value, e.why)
}

// issuerRef says whether the annotations ask for Certificates and from which
// issuer, by cert-manager's rules: issuer names an Issuer and cluster-issuer
// a ClusterIssuer (not both); issuer-kind and issuer-group change the kind
// and group of an issuer (not of a cluster-issuer). tlsACME lets
// kubernetes.io/tls-acme: "true" ask for the default issuer when no issuer
// annotation is set. The issuer annotations are read under one prefix:
// certflow's when it sets issuer or cluster-issuer, else cert-manager's.
func (o Options) issuerRef(values map[string]string, tlsACME bool) (ref v1alpha1.ObjectReference, annotated bool, err error) {
	a := o.annotationsOf(values)
	for _, p := range a.prefixes {
		one := annotations{values: values, prefixes: []string{p}}
		_, _, hasIssuer := one.get(IssuerAnnotation)
		_, _, hasCluster := one.get(ClusterIssuerAnnotation)
		if hasIssuer || hasCluster {
			ref, err := one.namedIssuer()
			return ref, true, err
		}
	}
	if !tlsACME || !o.CertManagerAnnotations {
		return v1alpha1.ObjectReference{}, false, nil
	}
	if on, _ := strconv.ParseBool(values[AnnotationTLSACME]); !on {
		return v1alpha1.ObjectReference{}, false, nil
	}
	ref = o.DefaultIssuer
	if ref.Name == "" {
		return ref, true, &badAnnotation{key: AnnotationTLSACME, value: values[AnnotationTLSACME],
			why: "asks for the default issuer, and certflow has none: start the controller with --default-issuer-name"}
	}
	if key, kind, ok := a.get(IssuerKindAnnotation); ok {
		ref.Kind = kind
		if err := checkKind(key, kind); err != nil {
			return ref, true, err
		}
	}
	if key, group, ok := a.get(IssuerGroupAnnotation); ok {
		ref.Group = group
		if err := checkGroup(key, group); err != nil {
			return ref, true, err
		}
	}
	return ref, true, nil
}

// namedIssuer reads issuer, cluster-issuer, issuer-kind and issuer-group
// under a's one prefix.
func (a annotations) namedIssuer() (v1alpha1.ObjectReference, error) {
	issuerKey, issuer, hasIssuer := a.get(IssuerAnnotation)
	clusterKey, cluster, hasCluster := a.get(ClusterIssuerAnnotation)
	kindKey, kind, hasKind := a.get(IssuerKindAnnotation)
	groupKey, group, hasGroup := a.get(IssuerGroupAnnotation)
	switch {
	case hasIssuer && hasCluster:
		return v1alpha1.ObjectReference{}, &badAnnotation{key: clusterKey, value: cluster, why: "is set together with " + issuerKey + ": set one"}
	case hasCluster && hasKind:
		return v1alpha1.ObjectReference{}, &badAnnotation{key: kindKey, value: kind, why: "is set together with " + clusterKey + ", which names a ClusterIssuer: remove it"}
	case hasCluster && hasGroup:
		return v1alpha1.ObjectReference{}, &badAnnotation{key: groupKey, value: group, why: "is set together with " + clusterKey + ", which names a certflow ClusterIssuer: remove it"}
	case hasCluster:
		if cluster == "" {
			return v1alpha1.ObjectReference{}, &badAnnotation{key: clusterKey, value: cluster, why: "is empty: name a ClusterIssuer"}
		}
		return v1alpha1.ObjectReference{Name: cluster, Kind: v1alpha1.ClusterIssuerKind}, nil
	}
	if issuer == "" {
		return v1alpha1.ObjectReference{}, &badAnnotation{key: issuerKey, value: issuer, why: "is empty: name an Issuer"}
	}
	ref := v1alpha1.ObjectReference{Name: issuer, Kind: v1alpha1.IssuerKind}
	if hasKind {
		if err := checkKind(kindKey, kind); err != nil {
			return ref, err
		}
		ref.Kind = kind
	}
	if hasGroup {
		if err := checkGroup(groupKey, group); err != nil {
			return ref, err
		}
		ref.Group = group
	}
	return ref, nil
}

// checkKind and checkGroup refuse what the Certificate's schema would.
func checkKind(key, kind string) error {
	if kind != v1alpha1.IssuerKind && kind != v1alpha1.ClusterIssuerKind {
		return &badAnnotation{key: key, value: kind, why: "is not an issuer kind certflow serves: Issuer or ClusterIssuer"}
	}
	return nil
}

func checkGroup(key, group string) error {
	switch group {
	case "", v1alpha1.GroupVersion.Group, "cert-manager.io":
		return nil
	}
	return &badAnnotation{key: key, value: group, why: "is not an issuer group certflow serves: certflow.dev (or cert-manager.io, read as certflow.dev)"}
}
