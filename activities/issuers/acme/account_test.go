package acme_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

func TestEnsureAccountMakesTheKeyOnceAndFindsTheAccountAgain(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "account", nil)
	in := activities.EnsureAccountInput{Issuer: issuer, Generation: 1}

	first := must(t, a, activities.EnsureAccount, in)
	var secret corev1.Secret
	nn := types.NamespacedName{Namespace: clusterNS, Name: issuer.Name + "-account"}
	if err := kube.Get(testContext(t), nn, &secret); err != nil {
		t.Fatalf("the account key Secret was not made: %v", err)
	}
	key, err := pki.ParseKey(secret.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("account key is %T, want ECDSA P-256", key)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if first.KeySHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("KeySHA256 = %s, want the SHA-256 of the public key", first.KeySHA256)
	}
	if !strings.HasPrefix(first.AccountURL, "https://127.0.0.1") || first.Server != pebble.DirectoryURL ||
		first.Email != "account@certflow.test" {
		t.Fatalf("result %+v", first)
	}

	// Count account updates: POSTs to the account URL itself.
	var updates atomic.Int32
	accountPath := strings.TrimPrefix(first.AccountURL, "https://")
	accountPath = accountPath[strings.Index(accountPath, "/"):]
	a.HTTPClient = func(iss *issuers.Issuer) (*http.Client, error) {
		c, err := a.DefaultHTTPClient(iss)
		if err != nil {
			return nil, err
		}
		c.Transport = countingTransport{rt: c.Transport, path: accountPath, n: &updates}
		return c, nil
	}
	second := must(t, a, activities.EnsureAccount, in)
	if second != first {
		t.Fatalf("second EnsureAccount = %+v, want %+v", second, first)
	}
	if updates.Load() != 0 {
		t.Fatal("the second EnsureAccount updated an account that had not changed")
	}
	var after corev1.Secret
	if err := kube.Get(testContext(t), nn, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != secret.ResourceVersion {
		t.Fatal("the second EnsureAccount rewrote the account key Secret")
	}

	// A changed email updates the same account's contact.
	var ci certflowv1.ClusterIssuer
	if err := kube.Get(testContext(t), types.NamespacedName{Name: issuer.Name}, &ci); err != nil {
		t.Fatal(err)
	}
	ci.Spec.ACME.Email = "new-address@certflow.test"
	if err := kube.Update(testContext(t), &ci); err != nil {
		t.Fatal(err)
	}
	in.Generation = ci.Generation
	third := must(t, a, activities.EnsureAccount, in)
	if third.AccountURL != first.AccountURL || third.Email != "new-address@certflow.test" || updates.Load() == 0 {
		t.Fatalf("after an email change: %+v with %d updates, want the same account, updated", third, updates.Load())
	}
}

// TestStatusAccountIsUsedOnlyForItsKey shows that an account URL in the
// issuer's status is trusted only when it was recorded for the current key:
// a stale one makes BeginOrder register again instead of failing.
func TestStatusAccountIsUsedOnlyForItsKey(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "status", nil)
	account := must(t, a, activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1})

	// Count new-account requests (Pebble's path is /sign-me-up).
	var registrations atomic.Int32
	a.HTTPClient = func(iss *issuers.Issuer) (*http.Client, error) {
		c, err := a.DefaultHTTPClient(iss)
		if err != nil {
			return nil, err
		}
		c.Transport = countingTransport{rt: c.Transport, path: "sign-me-up", n: &registrations}
		return c, nil
	}
	cases := []struct {
		name              string
		uri               string
		hash              string
		wantRegistrations int32
	}{
		{"the recorded account of this key is used", account.AccountURL, account.KeySHA256, 0},
		{"an account recorded for another key is ignored", account.AccountURL + "-other", "0000", 1},
		{"an account the CA forgot is registered again", strings.TrimSuffix(account.AccountURL, "/") + "0", account.KeySHA256, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			var ci certflowv1.ClusterIssuer
			if err := kube.Get(ctx, types.NamespacedName{Name: issuer.Name}, &ci); err != nil {
				t.Fatal(err)
			}
			ci.Status.ACME = &certflowv1.ACMEIssuerStatus{URI: tc.uri, LastPrivateKeyHash: tc.hash}
			if err := kube.Status().Update(ctx, &ci); err != nil {
				t.Fatal(err)
			}
			name := unique("status")
			req := activities.Request{DNSNames: []string{name + ".certflow.test"}, SecretName: name + "-tls"}
			in := activities.BeginOrderInput{Certificate: createCertificate(t, name, issuer, req), Issuer: issuer, Revision: 1, Request: req}
			registrations.Store(0)
			ensureAndBegin(t, a, in)
			// lego resends a request whose nonce Pebble rejected: count at least.
			if got := registrations.Load(); (got == 0) != (tc.wantRegistrations == 0) || got < tc.wantRegistrations {
				t.Fatalf("BeginOrder sent %d new-account requests, want %d", got, tc.wantRegistrations)
			}
		})
	}
}

type countingTransport struct {
	rt   http.RoundTripper
	path string
	n    *atomic.Int32
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, c.path) {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// TestAStaleGenerationRegistersNothing: the workflow of an issuer's older
// generation stops rather than retry against a server the issuer no longer
// names.
func TestAStaleGenerationRegistersNothing(t *testing.T) {
	t.Parallel()
	issuer := createIssuer(t, "stale", func(s *certflowv1.IssuerSpec) { s.ACME.Server = "https://127.0.0.1:" + closedPort(t) + "/dir" })
	var ci certflowv1.ClusterIssuer
	if err := kube.Get(testContext(t), types.NamespacedName{Name: issuer.Name}, &ci); err != nil {
		t.Fatal(err)
	}
	ci.Spec.ACME.Email = "new@certflow.test"
	if err := kube.Update(testContext(t), &ci); err != nil {
		t.Fatal(err)
	}
	res, err := call(t, newActivities(), activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1})
	if err != nil || res.Generation != 2 || res.AccountURL != "" {
		t.Fatalf("the first generation's registration: %+v, %v; want nothing registered and generation 2", res, err)
	}
}
