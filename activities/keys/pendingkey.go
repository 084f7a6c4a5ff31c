package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// EnsurePendingKey checks that the issuance can go ahead (the input matches
// the Certificate; its issuer's type is served and can issue the request;
// the target Secret is not someone else's), then returns the issuance's key as public data: the pending key
// Secret's key when it holds one of this revision that fits the request,
// else the stored certificate's when the target Secret stores this revision
// already (an issuance run again after StoreSecret), else a new key (the
// target Secret's with rotationPolicy Never), saved in the pending key
// Secret before it returns.
func (a *Activities) EnsurePendingKey(ctx context.Context, in activities.EnsurePendingKeyInput) (activities.EnsurePendingKeyResult, error) {
	// In a burst of issuances the step waits its turn to make a key
	// (keygen.go): heartbeats let the server notice a dead worker in seconds
	// rather than at the step's long timeout. (As a local activity, its
	// workflow task is what the worker heartbeats; these are no-ops.)
	defer activities.BeatEvery(5*time.Second, func() { activity.RecordHeartbeat(ctx) })()
	res, err := a.ensure(ctx, in)
	var app *temporal.ApplicationError
	if err != nil && !(errors.As(err, &app) && app.Type() == activities.ErrTypeConfig) {
		// A configuration error says what is wrong with the request on its own.
		return res, activities.Wrap(err, "making the key of %s revision %d", in.Certificate, in.Revision)
	}
	return res, err
}

func (a *Activities) ensure(ctx context.Context, in activities.EnsurePendingKeyInput) (activities.EnsurePendingKeyResult, error) {
	switch {
	case len(in.Request.Identifiers()) == 0:
		return activities.EnsurePendingKeyResult{}, activities.ConfigError("the request has no DNS name or IP address")
	case in.Request.SecretName == "":
		return activities.EnsurePendingKeyResult{}, activities.ConfigError("the request names no Secret to store the certificate in")
	}
	cert, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request})
	if err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	typ, ok := a.Types[iss.Type()]
	if !ok {
		return activities.EnsurePendingKeyResult{}, activities.ConfigError("%s is a %s issuer, which certflow does not issue from yet", iss.Ref, iss.Type())
	}
	if err := typ.CheckRequest(ctx, iss, in.Request, cert.Labels); err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	target, err := a.target(ctx, in)
	if err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	key, err := a.pendingKey(ctx, in, cert, target)
	if err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	csr, err := makeCSR(in.Request, key)
	if err != nil {
		return activities.EnsurePendingKeyResult{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return activities.EnsurePendingKeyResult{}, fmt.Errorf("encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return activities.EnsurePendingKeyResult{
		Secret: activities.PendingKeySecretName(in.Certificate.Name), PublicKeySHA256: hex.EncodeToString(sum[:]),
		CSR: csr, IssuerType: iss.Type(),
	}, nil
}

// target is the Certificate's target Secret, nil when it does not exist
// (or did not when the attempt inspected it: in.NoTarget). A
// Secret another Certificate owns, or someone else's that is not a TLS
// Secret, is refused now: StoreSecret would refuse to overwrite it after
// the CA had issued.
func (a *Activities) target(ctx context.Context, in activities.EnsurePendingKeyInput) (*corev1.Secret, error) {
	if in.NoTarget {
		return nil, nil
	}
	var s corev1.Secret
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.Request.SecretName}
	err := a.Kube.Get(ctx, nn, &s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", nn, err)
	}
	owner, labelled := activities.SecretOwner(s.Labels, s.Annotations)
	switch {
	case labelled && !activities.SecretOwnedBy(s.Labels, s.Annotations, in.Certificate.Name):
		return nil, conflict("Secret %s belongs to Certificate %s/%s", nn.Name, nn.Namespace, owner)
	case !labelled && s.Type != corev1.SecretTypeTLS:
		return nil, conflict("Secret %s was not made by certflow and has type %s, not %s: delete it or choose another secretName",
			nn.Name, s.Type, corev1.SecretTypeTLS)
	}
	return &s, nil
}

// writeError is the error of writing the pending key Secret (what says
// which write). It holds only certflow's labels and annotations, so a
// refusal comes from something else in the cluster, an admission policy say.
func writeError(err error, what string) error {
	return activities.KubeWriteError(err, what, "an admission policy may refuse certflow's pending key Secrets")
}

func conflict(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), activities.ErrTypeSecretConflict, nil)
}

// pendingKey returns the key of this issuance, making and saving a new key
// when there is none. A key saved with the order it was ordered with keeps
// the order (BeginOrder reads it). A first attempt saves a new key without
// reading the pending key Secret first: there is none, but for a lost
// workflow task that ran this step before, whose key is then kept.
func (a *Activities) pendingKey(ctx context.Context, in activities.EnsurePendingKeyInput, cert *certflowv1.Certificate, target *corev1.Secret) (crypto.Signer, error) {
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: activities.PendingKeySecretName(in.Certificate.Name)}
	var secret *corev1.Secret
	if !in.FirstAttempt {
		saved, key, err := a.savedKey(ctx, nn, in)
		if key != nil || err != nil {
			return key, err
		}
		secret = saved
	}

	key, orderURL := storedIssuance(target, in)
	if key == nil {
		var err error
		if key, err = a.newKey(ctx, in, target); err != nil {
			return nil, err
		}
	}
	pemKey, err := pki.EncodeKey(key, in.Request.PrivateKey.Encoding)
	if err != nil {
		return nil, err
	}
	next := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}
	if secret != nil {
		next = secret.DeepCopy()
	}
	next.Type = corev1.SecretTypeOpaque
	next.Labels = map[string]string{activities.LabelCertificateName: activities.CertificateLabelValue(in.Certificate.Name), activities.LabelPendingKey: "true"}
	next.Annotations = map[string]string{activities.AnnotationCertificateName: in.Certificate.Name, activities.AnnotationRevision: strconv.Itoa(in.Revision)}
	if orderURL != "" {
		next.Annotations[activities.AnnotationOrderURL] = orderURL
	}
	next.Data = map[string][]byte{corev1.TLSPrivateKeyKey: pemKey}
	if secret != nil {
		// At the version read: a concurrent attempt's write fails this one.
		if err := a.Kube.Update(ctx, next); err != nil {
			return nil, writeError(err, "replacing the key of pending key Secret "+nn.String())
		}
		return key, nil
	}
	next.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: certflowv1.GroupVersion.String(), Kind: certflowv1.CertificateKind, Name: cert.Name, UID: cert.UID,
	}}
	err = a.Kube.Create(ctx, next)
	if apierrors.IsAlreadyExists(err) && in.FirstAttempt {
		in.FirstAttempt = false
		return a.pendingKey(ctx, in, cert, target)
	}
	if err != nil {
		// AlreadyExists: another attempt made it first; a retry reads it.
		return nil, writeError(err, "creating pending key Secret "+nn.String())
	}
	return key, nil
}

// savedKey reads the pending key Secret: the Secret (nil when there is
// none), and its key when it holds one of this revision that fits the
// request.
func (a *Activities) savedKey(ctx context.Context, nn types.NamespacedName, in activities.EnsurePendingKeyInput) (*corev1.Secret, crypto.Signer, error) {
	secret := &corev1.Secret{}
	err := a.Kube.Get(ctx, nn, secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading pending key Secret %s: %w", nn, err)
	case secret.Labels[activities.LabelPendingKey] != "true" || !activities.SecretOwnedBy(secret.Labels, secret.Annotations, in.Certificate.Name):
		return nil, nil, conflict("Secret %s exists and is not the pending key of %s", nn, in.Certificate)
	case secret.Annotations[activities.AnnotationRevision] == strconv.Itoa(in.Revision):
		if key, err := pki.ParseKey(secret.Data[corev1.TLSPrivateKeyKey]); err == nil && KeyMatches(key, in.Request.PrivateKey) {
			return secret, key, nil
		}
	}
	return secret, nil, nil
}

// storedIssuance is the key and the order of in.Revision when the target
// Secret stores its certificate already (StoreSecret records the order), else
// nil: the issuance runs again after StoreSecret deleted the pending key (a
// lost workflow task runs every step of it again), and the stored key and
// order serve again, so the CA gets no new order.
func storedIssuance(target *corev1.Secret, in activities.EnsurePendingKeyInput) (crypto.Signer, string) {
	if target == nil || !activities.SecretOwnedBy(target.Labels, target.Annotations, in.Certificate.Name) ||
		target.Annotations[activities.AnnotationRevision] != strconv.Itoa(in.Revision) {
		return nil, ""
	}
	orderURL := target.Annotations[activities.AnnotationOrderURL]
	key, err := pki.ParseKey(target.Data[corev1.TLSPrivateKeyKey])
	if orderURL == "" || err != nil || !KeyMatches(key, in.Request.PrivateKey) {
		return nil, ""
	}
	return key, orderURL
}

// newKey is the target Secret's key when the rotation policy is Never and
// that key fits the request, else a new key.
func (a *Activities) newKey(ctx context.Context, in activities.EnsurePendingKeyInput, target *corev1.Secret) (crypto.Signer, error) {
	spec := in.Request.PrivateKey
	if spec.RotationPolicy == "Never" && target != nil {
		if key, err := pki.ParseKey(target.Data[corev1.TLSPrivateKeyKey]); err == nil && KeyMatches(key, spec) {
			return key, nil
		}
	}
	key, err := generateKey(ctx, spec.Algorithm, spec.Size)
	if ctx.Err() != nil {
		return nil, err
	}
	if err != nil {
		return nil, activities.ConfigError("privateKey of %s: %v", in.Certificate, err)
	}
	return key, nil
}

// KeyMatches says whether key is of the algorithm and size spec asks for
// (defaults as in pki.GenerateKey: RSA 2048, ECDSA 256).
func KeyMatches(key crypto.Signer, spec activities.KeySpec) bool {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		size := spec.Size
		if size == 0 {
			size = 2048
		}
		return (spec.Algorithm == "" || spec.Algorithm == pki.RSA) && k.N.BitLen() == size
	case *ecdsa.PrivateKey:
		size := spec.Size
		if size == 0 {
			size = 256
		}
		return spec.Algorithm == pki.ECDSA && k.Curve.Params().BitSize == size
	case ed25519.PrivateKey:
		return spec.Algorithm == pki.Ed25519
	}
	return false
}

// makeCSR asks for exactly the request's identifiers (the common name is one
// of them) plus its URIs and email addresses.
func makeCSR(req activities.Request, key crypto.Signer) ([]byte, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.CommonName}, EmailAddresses: req.EmailAddresses}
	for _, id := range req.Identifiers() {
		if ip := net.ParseIP(id); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id)
		}
	}
	for _, u := range req.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, activities.ConfigError("uri %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, activities.ConfigError("making the CSR: %v", err)
	}
	return csr, nil
}
