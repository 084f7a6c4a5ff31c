package certificates

import (
	"cmp"
	"maps"
	"slices"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

// IssuerOf names the issuer a Certificate points at: an Issuer in the
// Certificate's namespace, or a ClusterIssuer (namespace empty).
func IssuerOf(cert *v1alpha1.Certificate) (activities.IssuerRef, error) {
	return resolveRef(cert.Namespace, cert.Spec.IssuerRef)
}

func resolveRef(namespace string, ref v1alpha1.ObjectReference) (activities.IssuerRef, error) {
	return activities.ResolveIssuerRef(namespace, ref.Group, ref.Kind, ref.Name)
}

// SpecOf converts a Certificate into the workflow's own type. It copies the
// spec as written, without defaults: defaults belong to the workflow and its
// activities. Slices and maps are copied, so the result does not share
// memory with the object it came from.
//
// The retry backoff is the Certificate's, else the issuer's (issuerBackoff).
// A fallback issuer reference that does not resolve is left out: the schema
// refuses such references, so only objects stored before it carry one.
func SpecOf(cert *v1alpha1.Certificate, issuer activities.IssuerRef, issuerBackoff *v1alpha1.RetryBackoff) activities.CertificateSpec {
	s := cert.Spec
	spec := activities.CertificateSpec{Generation: cert.Generation, Issuer: issuer, Request: RequestOf(cert)}
	for _, fb := range s.FallbackIssuerRefs {
		if ref, err := resolveRef(cert.Namespace, fb); err == nil {
			spec.FallbackIssuers = append(spec.FallbackIssuers, ref)
		}
	}
	if s.FallbackAfter != nil {
		spec.FallbackAfter = s.FallbackAfter.Duration
	}
	backoff := s.RetryBackoff
	if backoff == nil {
		backoff = issuerBackoff
	}
	if backoff != nil && backoff.Initial != nil {
		spec.Backoff.Initial = backoff.Initial.Duration
	}
	if backoff != nil && backoff.Max != nil {
		spec.Backoff.Max = backoff.Max.Duration
	}
	if s.RenewBefore != nil {
		spec.RenewBefore = s.RenewBefore.Duration
	}
	if s.RenewBeforePercentage != nil {
		spec.RenewBeforePercentage = int(*s.RenewBeforePercentage)
	}
	return spec
}

// RequestOf is the certificate a Certificate asks for.
func RequestOf(cert *v1alpha1.Certificate) activities.Request {
	s := cert.Spec
	req := activities.Request{
		CommonName:      s.CommonName,
		DNSNames:        slices.Clone(s.DNSNames),
		IPAddresses:     slices.Clone(s.IPAddresses),
		URIs:            slices.Clone(s.URIs),
		EmailAddresses:  slices.Clone(s.EmailAddresses),
		IsCA:            s.IsCA,
		NameConstraints: s.NameConstraints.DeepCopy(),
		SecretName:      s.SecretName,
	}
	if s.Duration != nil {
		req.Duration = s.Duration.Duration
	}
	for _, u := range s.Usages {
		req.Usages = append(req.Usages, string(u))
	}
	if k := s.PrivateKey; k != nil {
		req.PrivateKey = activities.KeySpec{
			Algorithm:      string(k.Algorithm),
			Size:           k.Size,
			Encoding:       string(k.Encoding),
			RotationPolicy: string(k.RotationPolicy),
		}
	}
	if t := s.SecretTemplate; t != nil {
		req.SecretLabels = maps.Clone(t.Labels)
		req.SecretAnnotations = maps.Clone(t.Annotations)
	}
	for _, f := range s.AdditionalOutputFormats {
		req.AdditionalOutputFormats = append(req.AdditionalOutputFormats, string(f.Type))
	}
	req.Keystores = keystoresOf(s.Keystores)
	return req
}

// keystoresOf are the keystores the spec asks to create, nil when none. A
// password is never copied: only where it is.
func keystoresOf(ks *v1alpha1.CertificateKeystores) *activities.Keystores {
	if ks == nil {
		return nil
	}
	var out activities.Keystores
	if p := ks.PKCS12; p != nil && p.Create {
		out.PKCS12 = &activities.Keystore{Profile: string(p.Profile)}
		setPassword(out.PKCS12, p.PasswordSecretRef, p.Password)
	}
	if j := ks.JKS; j != nil && j.Create {
		out.JKS = &activities.Keystore{}
		if j.Alias != nil {
			out.JKS.Alias = *j.Alias
		}
		setPassword(out.JKS, j.PasswordSecretRef, j.Password)
	}
	if out.PKCS12 == nil && out.JKS == nil {
		return nil
	}
	return &out
}

// setPassword records where a keystore's password is: a Secret's entry, or
// the Certificate itself. The schema allows only one of them.
func setPassword(k *activities.Keystore, ref *v1alpha1.KeystorePasswordSecretRef, inline *string) {
	switch {
	case ref != nil:
		k.PasswordSecret, k.PasswordKey = ref.Name, ref.Key
	case inline != nil:
		k.PasswordInline = true
	}
}

// sameKeystores says whether two requests ask for the same keystores; nil
// and an empty Keystores are the same.
func sameKeystores(a, b *activities.Keystores) bool {
	var none activities.Keystores
	a, b = cmp.Or(a, &none), cmp.Or(b, &none)
	same := func(x, y *activities.Keystore) bool {
		return (x == nil && y == nil) || (x != nil && y != nil && *x == *y)
	}
	return same(a.PKCS12, b.PKCS12) && same(a.JKS, b.JKS)
}

// sameRequest says whether two requests ask for the same certificate; empty
// and nil lists and maps are the same (a request has crossed JSON).
func sameRequest(a, b activities.Request) bool {
	return a.CommonName == b.CommonName && a.IsCA == b.IsCA && a.SecretName == b.SecretName &&
		a.Duration == b.Duration && a.PrivateKey == b.PrivateKey &&
		slices.Equal(a.DNSNames, b.DNSNames) && slices.Equal(a.IPAddresses, b.IPAddresses) &&
		slices.Equal(a.URIs, b.URIs) && slices.Equal(a.EmailAddresses, b.EmailAddresses) &&
		slices.Equal(a.Usages, b.Usages) && slices.Equal(a.AdditionalOutputFormats, b.AdditionalOutputFormats) &&
		maps.Equal(a.SecretLabels, b.SecretLabels) && maps.Equal(a.SecretAnnotations, b.SecretAnnotations) &&
		sameKeystores(a.Keystores, b.Keystores)
}
