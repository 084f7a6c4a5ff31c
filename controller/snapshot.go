package controller

import (
	"maps"
	"slices"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// issuerRefOf names the issuer a Certificate points at: an Issuer in the
// Certificate's namespace, or a ClusterIssuer (namespace empty). The CRD's
// schema refuses other kinds and groups; an object stored before that rule
// existed gets an error here, which the reconciler reports as IssuerNotFound.
func issuerRefOf(cert *v1alpha1.Certificate) (activities.IssuerRef, error) {
	return resolveRef(cert.Namespace, cert.Spec.IssuerRef)
}

func resolveRef(namespace string, ref v1alpha1.ObjectReference) (activities.IssuerRef, error) {
	return activities.ResolveIssuerRef(namespace, ref.Group, ref.Kind, ref.Name)
}

// snapshot converts a Certificate into the workflow's own input type. It
// copies the spec as written, without defaults: defaults belong to the
// workflow and its activities, so that changing one does not need a new
// controller to take effect. Slices and maps are copied, so the snapshot does
// not share memory with the object it came from.
//
// The retry backoff is the Certificate's, else the issuer's (issuerBackoff).
// A fallback issuer reference that does not resolve is left out: the schema
// refuses such references, so only objects stored before it carry one.
func snapshot(cert *v1alpha1.Certificate, issuer activities.IssuerRef, issuerBackoff *v1alpha1.RetryBackoff, secretVersion string) workflows.CertificateSpec {
	s := cert.Spec
	spec := workflows.CertificateSpec{
		Generation: cert.Generation,
		Issuer:     issuer,
		Request: activities.Request{
			CommonName:     s.CommonName,
			DNSNames:       slices.Clone(s.DNSNames),
			IPAddresses:    slices.Clone(s.IPAddresses),
			URIs:           slices.Clone(s.URIs),
			EmailAddresses: slices.Clone(s.EmailAddresses),
			IsCA:           s.IsCA,
			SecretName:     s.SecretName,
		},
		SecretResourceVersion: secretVersion,
	}
	if s.Duration != nil {
		spec.Request.Duration = s.Duration.Duration
	}
	for _, u := range s.Usages {
		spec.Request.Usages = append(spec.Request.Usages, string(u))
	}
	if k := s.PrivateKey; k != nil {
		spec.Request.PrivateKey = activities.KeySpec{
			Algorithm:      string(k.Algorithm),
			Size:           k.Size,
			Encoding:       string(k.Encoding),
			RotationPolicy: string(k.RotationPolicy),
		}
	}
	if t := s.SecretTemplate; t != nil {
		spec.Request.SecretLabels = maps.Clone(t.Labels)
		spec.Request.SecretAnnotations = maps.Clone(t.Annotations)
	}
	for _, f := range s.AdditionalOutputFormats {
		spec.Request.AdditionalOutputFormats = append(spec.Request.AdditionalOutputFormats, string(f.Type))
	}
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
