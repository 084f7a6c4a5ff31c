package secrets

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// InspectSecret reads the Certificate's spec (from the worker's cache when it
// has the generation the workflow heard of, else from the API server) and
// its target Secret, and says what the Secret holds:
//
//   - Missing: no Secret of that name.
//   - Conflict: labelled as another Certificate's, or someone else's and not
//     a kubernetes.io/tls Secret (certflow could never write it).
//   - for a Secret labelled as this Certificate's: Invalid when tls.crt or
//     tls.key is unreadable or the key is not the leaf's; Mismatched when the
//     leaf expired or differs from the request (names, key), or a ca issuer
//     signs with another CA now; else Current.
//   - for an unlabelled Secret (cert-manager's, a user's): when it is a
//     kubernetes.io/tls Secret whose certificate is valid, matches the request
//     and has its key, it is adopted (labelled, data untouched) and Current
//     with Adopted set; otherwise Foreign, with the reason.
//
// A Current Secret whose keystores are not what the Certificate asks for (one
// missing, one that does not open with its password, one no longer asked
// for) has them written again from its own key and chain, and stays Current:
// as cert-manager does, a keystore change re-writes the Secret without a new
// certificate. The keystores' passwords are read first: a password that is
// not there is a configuration error before any order is made.
//
// The result carries the Secret's resourceVersion (after the adoption or
// keystore write, when there is one) for StoreSecret's guard, and the stored
// certificate's public facts when tls.crt is readable.
func (a *Activities) InspectSecret(ctx context.Context, in activities.InspectSecretInput) (activities.InspectSecretResult, error) {
	cert, spec, err := a.spec(ctx, in)
	if spec == nil || err != nil {
		return activities.InspectSecretResult{}, err
	}
	pw, err := a.keystorePasswords(ctx, cert, spec.Request.Keystores)
	if err != nil {
		return activities.InspectSecretResult{}, err
	}
	res, err := a.inspect(ctx, in.Certificate, *spec, pw)
	res.Spec = spec
	return res, err
}

// spec is the Certificate and its spec, nil when it is gone. Its issuer's
// retry backoff is used when the Certificate sets none; an issuer that is
// missing has none.
func (a *Activities) spec(ctx context.Context, in activities.InspectSecretInput) (*certflowv1.Certificate, *activities.CertificateSpec, error) {
	cert, err := a.Certificates.Read(ctx, in.Certificate, in.Generation)
	if cert == nil || err != nil {
		return nil, nil, err
	}
	ref, err := certificates.IssuerOf(cert)
	if err != nil {
		return nil, nil, activities.ConfigError("Certificate %s: %v", in.Certificate, err)
	}
	var backoff *certflowv1.RetryBackoff
	if iss, err := a.Issuers.Resolve(ctx, ref); err == nil {
		backoff = iss.Spec.RetryBackoff
	}
	spec := certificates.SpecOf(cert, ref, backoff)
	return cert, &spec, nil
}

// inspect looks at the Secret the spec names.
func (a *Activities) inspect(ctx context.Context, ref activities.CertificateRef, spec activities.CertificateSpec, pw passwords) (activities.InspectSecretResult, error) {
	name := spec.Request.SecretName
	key := types.NamespacedName{Namespace: ref.Namespace, Name: name}
	var s corev1.Secret
	if err := a.Kube.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return activities.InspectSecretResult{State: activities.SecretMissing, Reason: fmt.Sprintf("Secret %s does not exist", name)}, nil
		}
		return activities.InspectSecretResult{}, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	res := activities.InspectSecretResult{ResourceVersion: s.ResourceVersion}
	who, labelled := owner(&s)
	switch {
	case labelled && !ownedBy(&s, ref):
		res.State = activities.SecretConflict
		res.Reason = fmt.Sprintf("Secret %s belongs to Certificate %s/%s", name, ref.Namespace, who)
		return res, nil
	case !labelled && s.Type != corev1.SecretTypeTLS:
		// Its type cannot change in place: StoreSecret could never write it.
		res.State = activities.SecretConflict
		res.Reason = fmt.Sprintf("Secret %s was not made by certflow and has type %s, not %s: delete it or choose another secretName",
			name, s.Type, corev1.SecretTypeTLS)
		return res, nil
	}

	e := examine(&s, spec.Request, time.Now())
	res.Issued = e.issued
	if labelled {
		res.Revision, _ = strconv.Atoi(s.Annotations[activities.AnnotationRevision])
	}
	if labelled && e.invalid == "" && e.mismatch == "" {
		var err error
		if e.mismatch, err = a.signedByCurrentCA(ctx, spec.Issuer, &s, e.leaf); err != nil {
			return activities.InspectSecretResult{}, err
		}
	}
	switch {
	case labelled && e.invalid != "":
		res.State, res.Reason = activities.SecretInvalid, fmt.Sprintf("Secret %s: %s", name, e.invalid)
	case labelled && e.mismatch != "":
		res.State, res.Reason = activities.SecretMismatched, fmt.Sprintf("Secret %s: %s", name, e.mismatch)
	case labelled:
		res.State, res.Reason = activities.SecretCurrent, fmt.Sprintf("Secret %s is up to date", name)
		return a.refreshKeystores(ctx, &s, spec.Request, pw, e.leaf, res)
	case e.invalid != "":
		res.State, res.Reason = activities.SecretForeign, fmt.Sprintf("Secret %s was not made by certflow, and %s", name, e.invalid)
	case e.mismatch != "":
		res.State, res.Reason = activities.SecretForeign, fmt.Sprintf("Secret %s was not made by certflow, and %s", name, e.mismatch)
	default:
		version, err := a.adopt(ctx, &s, ref, spec, e.leaf)
		if err != nil {
			return activities.InspectSecretResult{}, err
		}
		res.State, res.Adopted, res.ResourceVersion = activities.SecretCurrent, true, version
		res.Reason = fmt.Sprintf("Secret %s was not made by certflow; its certificate matches, so it was adopted", name)
		return a.refreshKeystores(ctx, &s, spec.Request, pw, e.leaf, res)
	}
	return res, nil
}

// refreshKeystores writes the keystores of a Current Secret again, from its
// own key, chain and ca.crt, when they are not what req asks for. The update
// carries the resourceVersion read: a Secret changed since is not written
// (the retry looks again).
func (a *Activities) refreshKeystores(ctx context.Context, s *corev1.Secret, req activities.Request, pw passwords, leaf *x509.Certificate, res activities.InspectSecretResult) (activities.InspectSecretResult, error) {
	stale := keystoresStale(s, req.Keystores, pw, leaf)
	if stale == "" {
		return res, nil
	}
	data, err := keystoreData(req.Keystores, pw, s.Data[keyKey], s.Data[keyCert], s.Data[keyCA])
	if err != nil {
		return activities.InspectSecretResult{}, activities.Wrap(err, "writing the keystores of Secret %s/%s", s.Namespace, s.Name)
	}
	next := s.DeepCopy()
	setKeystores(next, data)
	if err := a.Kube.Update(ctx, next); err != nil {
		return activities.InspectSecretResult{}, writeError(err, "writing the keystores of Secret "+s.Namespace+"/"+s.Name)
	}
	res.ResourceVersion = next.ResourceVersion
	res.Reason += fmt.Sprintf("; its keystores were written again (%s)", stale)
	return res, nil
}

// adopt labels the Secret as the Certificate's with a metadata-only merge
// patch that carries the inspected resourceVersion: the data is not written,
// and a Secret changed since it was read is not adopted (the retry looks again).
func (a *Activities) adopt(ctx context.Context, s *corev1.Secret, ref activities.CertificateRef, spec activities.CertificateSpec, leaf *x509.Certificate) (string, error) {
	patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
	labelFor(s, ref, spec.Issuer, spec.Request, leaf, 0)
	if err := a.Kube.Patch(ctx, s, patch); err != nil {
		return "", writeError(err, "adopting Secret "+s.Namespace+"/"+s.Name)
	}
	return s.ResourceVersion, nil
}

// examination is what a Secret's data says measured against the request.
type examination struct {
	leaf   *x509.Certificate
	issued *activities.Issued
	// invalid says why the data is unusable (unreadable, key not the leaf's).
	invalid string
	// mismatch says how a usable certificate differs from the request.
	mismatch string
}

func examine(s *corev1.Secret, req activities.Request, now time.Time) examination {
	var e examination
	chain, err := pki.ParseChain(s.Data[keyCert])
	if err != nil {
		e.invalid = fmt.Sprintf("its %s is unreadable: %v", keyCert, err)
		return e
	}
	e.leaf = chain[0]
	issued := activities.IssuedFrom(e.leaf)
	e.issued = &issued
	key, err := pki.ParseKey(s.Data[keyKey])
	if err != nil {
		e.invalid = fmt.Sprintf("its %s is unreadable: %v", keyKey, err)
		return e
	}
	if !pki.KeyMatches(e.leaf, key) {
		e.invalid = fmt.Sprintf("its %s is not the key of the certificate in %s", keyKey, keyCert)
		return e
	}
	e.mismatch = mismatch(e.leaf, req, now)
	return e
}
