package acme

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/certflow/certflow/internal/metrics"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// EnsureAccount registers the issuer's ACME account, or finds it: the CA
// answers a new-account request for a known key with the existing account.
// An issuer whose spec changed since the workflow's generation is left to
// the newer generation's workflow: a stale one stops retrying.
// It makes the account key (ECDSA P-256) and its Secret when the Secret is
// missing, unless spec.acme.disableAccountKeyGeneration is set, and updates
// the account's contact when spec.acme.email changed.
func (a *Activities) EnsureAccount(ctx context.Context, in activities.EnsureAccountInput) (activities.EnsureAccountResult, error) {
	if iss, err := a.Issuers.Resolve(ctx, in.Issuer); err == nil && iss.Generation > in.Generation {
		return activities.EnsureAccountResult{Generation: iss.Generation}, nil // a newer generation's workflow registers
	}
	s, err := a.open(ctx, in.Issuer, false)
	if err != nil {
		return activities.EnsureAccountResult{}, classify(fmt.Errorf("acme: registering account for %s: %w", in.Issuer, err))
	}
	acct, err := s.register(ctx)
	if err != nil {
		return activities.EnsureAccountResult{}, classify(fmt.Errorf("acme: registering account for %s at %s: %w", in.Issuer, s.spec.Server, err))
	}
	if want := contact(s.spec.Email); len(want) > 0 && !slices.Equal(acct.Contact, want) {
		if _, err := s.core.Accounts.Update(metrics.WithAction(ctx, metrics.ActionUpdateRegistration), acct.Location, legoacme.Account{Contact: want}); err != nil {
			return activities.EnsureAccountResult{}, classify(fmt.Errorf("acme: updating the contact of account %s: %w", acct.Location, err))
		}
	}
	return activities.EnsureAccountResult{
		AccountURL: acct.Location, Server: s.spec.Server, Email: s.spec.Email, KeySHA256: s.key.hash,
		Generation: s.iss.Generation,
	}, nil
}

// session is a client of the issuer's CA, signed by its account.
type session struct {
	iss   *issuers.Issuer
	spec  *certflowv1.ACMEIssuer
	key   accountKey
	core  *api.Core
	hints *retryAfters
	a     *Activities
}

// account names the ACME account: its CA and its key.
func (s *session) account() string { return s.spec.Server + "\x00" + s.key.hash }

// accountKey is the account's private key and the hex SHA-256 of its public key (DER).
type accountKey struct {
	signer crypto.Signer
	hash   string
}

// open loads the issuer and its account key and connects to the CA. With
// known, it uses the account URL of the issuer's status when that status was
// written for this key and server; otherwise (or without known) it leaves
// the account unknown and the caller registers it (s.register) when needed.
func (a *Activities) open(ctx context.Context, ref activities.IssuerRef, known bool) (*session, error) {
	iss, err := a.Issuers.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	spec, err := acmeSpec(iss)
	if err != nil {
		return nil, err
	}
	key, err := a.accountKey(ctx, iss, spec)
	if err != nil {
		return nil, err
	}
	kid := ""
	if known {
		kid = knownAccount(iss, spec, key)
	}
	core, hints, err := a.dial(iss, kid, key)
	if err != nil {
		return nil, err
	}
	s := &session{iss: iss, spec: spec, key: key, core: core, hints: hints, a: a}
	if kid == "" && known {
		if _, err := s.register(ctx); err != nil {
			return nil, fmt.Errorf("registering account at %s: %w", spec.Server, err)
		}
	}
	return s, nil
}

// register sends a new-account request (with the external account binding
// when the issuer has one). It is idempotent; it also sets the session's kid.
func (s *session) register(ctx context.Context) (legoacme.ExtendedAccount, error) {
	req := legoacme.Account{TermsOfServiceAgreed: true, Contact: contact(s.spec.Email)}
	eab := s.spec.ExternalAccountBinding
	if eab == nil {
		return s.core.Accounts.New(metrics.WithAction(ctx, metrics.ActionRegisterAccount), req)
	}
	if eab.Key.Key == "" {
		return legoacme.ExtendedAccount{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: spec.acme.externalAccountBinding.keySecretRef has no key", s.iss.Ref), activities.ErrTypeConfig, nil)
	}
	hmac, err := s.iss.SecretValue(ctx, eab.Key.Name, eab.Key.Key)
	if err != nil {
		return legoacme.ExtendedAccount{}, err
	}
	account, err := s.core.Accounts.NewEAB(metrics.WithAction(ctx, metrics.ActionRegisterAccount), req, eab.KeyID, strings.TrimSpace(string(hmac)))
	// The CA does not know the key ID, or the MAC key does not sign for it:
	// the binding the user gave is wrong, which only they can change.
	var p *legoacme.ProblemDetails
	if errors.As(err, &p) && shortType(p.Type) == "unauthorized" {
		return account, activities.ConfigError("the CA refused the external account binding of key ID %q (spec.acme.externalAccountBinding, Secret %s key %q): %s",
			eab.KeyID, eab.Key.Name, eab.Key.Key, problem(p))
	}
	return account, err
}

// knownAccount is the account URL in the issuer's status if it was recorded
// for this key on this server, else "".
func knownAccount(iss *issuers.Issuer, spec *certflowv1.ACMEIssuer, key accountKey) string {
	st := iss.Status.ACME
	if st == nil || st.URI == "" || st.LastPrivateKeyHash != key.hash {
		return ""
	}
	if !sameHost(st.URI, spec.Server) {
		return ""
	}
	return st.URI
}

// onCAHost says whether u is on the host of the CA's directory. URLs that the
// worker calls with the account's key come from the CA's own answers; one
// read back from anywhere a user can write (the issuer's status, a Secret's
// annotation) is used only on that host, so it cannot point the worker
// elsewhere.
func (s *session) onCAHost(u string) bool { return sameHost(u, s.spec.Server) }

func sameHost(u, server string) bool {
	a, err1 := url.Parse(u)
	b, err2 := url.Parse(server)
	return err1 == nil && err2 == nil && a.Scheme == b.Scheme && a.Host != "" && a.Host == b.Host
}

// accountKey reads the account key from spec.acme.privateKeySecretRef, or
// makes it and its Secret when the Secret does not exist.
func (a *Activities) accountKey(ctx context.Context, iss *issuers.Issuer, spec *certflowv1.ACMEIssuer) (accountKey, error) {
	ref := spec.PrivateKey
	name := ref.Key
	if name == "" {
		name = corev1.TLSPrivateKeyKey
	}
	nn := types.NamespacedName{Namespace: iss.SecretNamespace, Name: ref.Name}
	secret, err := iss.Secret(ctx, ref.Name)
	switch {
	case err == nil:
		data, ok := secret.Data[name]
		if !ok {
			return accountKey{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: account key Secret %s has no key %q", iss.Ref, nn, name), activities.ErrTypeConfig, nil)
		}
		signer, err := pki.ParseKey(data)
		if err != nil {
			return accountKey{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: account key Secret %s: %v", iss.Ref, nn, err), activities.ErrTypeConfig, nil)
		}
		return newAccountKey(signer)
	case !apierrors.IsNotFound(err):
		return accountKey{}, fmt.Errorf("reading account key Secret %s: %w", nn, err)
	case spec.DisableAccountKeyGeneration:
		return accountKey{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: account key Secret %s not found and disableAccountKeyGeneration is set", iss.Ref, nn),
			activities.ErrTypeConfig, nil)
	}
	signer, err := pki.GenerateKey(pki.ECDSA, 256)
	if err != nil {
		return accountKey{}, err
	}
	pemKey, err := pki.EncodeKey(signer, pki.PKCS1)
	if err != nil {
		return accountKey{}, err
	}
	secret = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name, Annotations: map[string]string{
			activities.AnnotationIssuerKind: iss.Ref.Kind, activities.AnnotationIssuerName: iss.Ref.Name,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{name: pemKey},
	}
	if err := a.Kube.Create(ctx, secret); err != nil {
		// Another worker made it first: a retry reads theirs.
		return accountKey{}, fmt.Errorf("creating account key Secret %s: %w", nn, err)
	}
	return newAccountKey(signer)
}

func newAccountKey(signer crypto.Signer) (accountKey, error) {
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return accountKey{}, fmt.Errorf("encoding account public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return accountKey{signer: signer, hash: hex.EncodeToString(sum[:])}, nil
}

func contact(email string) []string {
	if email == "" {
		return nil
	}
	return []string{"mailto:" + email}
}

// retryWithFreshAccount runs call; if the CA no longer knows the account URL
// taken from the issuer's status, it registers again and runs call once more.
func (s *session) retryWithFreshAccount(ctx context.Context, call func() error) error {
	err := call()
	var p *legoacme.ProblemDetails
	if err == nil || !errors.As(err, &p) || p.Type != legoacme.AccountDoesNotExistErrorType {
		return err
	}
	// A new-account request is signed with the key itself, not a kid.
	core, hints, err := s.a.dial(s.iss, "", s.key)
	if err != nil {
		return err
	}
	s.core, s.hints = core, hints
	if _, err := s.register(ctx); err != nil {
		return fmt.Errorf("registering account again at %s: %w", s.spec.Server, err)
	}
	return call()
}
