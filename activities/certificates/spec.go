package certificates

import (
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
		CommonName:     s.CommonName,
		DNSNames:       slices.Clone(s.DNSNames),
		IPAddresses:    slices.Clone(s.IPAddresses),
		URIs:           slices.Clone(s.URIs),
		EmailAddresses: slices.Clone(s.EmailAddresses),
		IsCA:           s.IsCA,
		SecretName:     s.SecretName,
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
	return req
}

// sameRequest says whether two requests ask for the same certificate; empty
// and nil lists and maps are the same (a request has crossed JSON).
func sameRequest(a, b activities.Request) bool {
	return a.CommonName == b.CommonName && a.IsCA == b.IsCA && a.SecretName == b.SecretName &&
		a.Duration == b.Duration && a.PrivateKey == b.PrivateKey &&
		slices.Equal(a.DNSNames, b.DNSNames) && slices.Equal(a.IPAddresses, b.IPAddresses) &&
		slices.Equal(a.URIs, b.URIs) && slices.Equal(a.EmailAddresses, b.EmailAddresses) &&
		slices.Equal(a.Usages, b.Usages) && slices.Equal(a.AdditionalOutputFormats, b.AdditionalOutputFormats) &&
		maps.Equal(a.SecretLabels, b.SecretLabels) && maps.Equal(a.SecretAnnotations, b.SecretAnnotations)
}
