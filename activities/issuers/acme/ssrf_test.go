package acme_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// TestOrderURLsOnlyOnTheCAsHost: BeginOrder finds the order of a revision
// again through the URL recorded on the pending key Secret (annotation
// certflow.dev/order-url), which anyone who may edit Secrets in the
// namespace can write, and would POST to it signed with the issuer's
// account key. Only a URL with the directory's scheme, host and port is
// called; any other is ignored, and BeginOrder makes a new order at the CA
// and records that one.
//
// The witness the planted URLs lead to serves TLS with a certificate the
// issuer's caBundle trusts, so a URL that were called would deliver the
// signed request to it, not just fail its handshake.
func TestOrderURLsOnlyOnTheCAsHost(t *testing.T) {
	t.Parallel()
	a := newActivities()
	w := listenAndWitness(t)
	issuer := createIssuer(t, "ssrf", func(spec *certflowv1.IssuerSpec) {
		spec.ACME.CABundle = slices.Concat(pebble.CACertPEM, w.caPEM)
	})
	ca, err := url.Parse(pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(w.addr)
	for _, tc := range []struct{ name, orderURL string }{
		// The witness listens on the CA's host name (127.0.0.1); "localhost"
		// reaches it too (both are probed below).
		{"a URL on another host is not called", "https://localhost:" + port + "/my-order/planted"},
		{"a URL on the CA's host name but another port is not called", "https://" + net.JoinHostPort(ca.Hostname(), port) + "/my-order/planted"},
		// The worker's HTTP client refuses plain HTTP as well: a URL that
		// passed the host check would fail BeginOrder instead of ordering anew.
		{"a URL on the CA's host and port over plain HTTP is not called", "http://" + ca.Host + "/my-order/planted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := unique("ssrf") + ".certflow.test"
			certName := strings.ReplaceAll(name, ".", "-")
			req := activities.Request{DNSNames: []string{name}, SecretName: certName + "-tls"}
			cert := createCertificate(t, certName, issuer, req)
			in := activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Request: req, Revision: 1}
			_, first := ensureAndBegin(t, a, in)
			// The recorded order is found again: BeginOrder reads the annotation.
			if again := must(t, a, activities.BeginOrder, in); again.NewOrder || again.OrderURL != first.OrderURL {
				t.Fatalf("BeginOrder again: order %s (new %v), want the recorded %s", again.OrderURL, again.NewOrder, first.OrderURL)
			}

			pendingKey := types.NamespacedName{Namespace: cert.Namespace, Name: activities.PendingKeySecretName(cert.Name)}
			setOrderURL(t, pendingKey, tc.orderURL)
			before := w.seen()
			res, err := call(t, a, activities.BeginOrder, in)
			if seen := w.seen(); len(seen) > len(before) {
				t.Fatalf("the worker called %s: the witness saw %q", tc.orderURL, seen[len(before):])
			}
			if err != nil {
				t.Fatalf("BeginOrder with order URL %s: %v, want a new order at the CA", tc.orderURL, err)
			}
			if !res.NewOrder || res.OrderURL == first.OrderURL || !strings.HasPrefix(res.OrderURL, "https://"+ca.Host+"/") {
				t.Fatalf("BeginOrder with order URL %s: order %s (new %v), want a new order at %s", tc.orderURL, res.OrderURL, res.NewOrder, ca.Host)
			}
			if got := orderURLOf(t, pendingKey); got != res.OrderURL {
				t.Fatalf("the pending key Secret records order %s, want the new %s", got, res.OrderURL)
			}
		})
	}

	// A silent witness is not a deaf one: the planted hosts reach it, and
	// its certificate passes with the issuer's caBundle.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(issuerCABundle(t, issuer))
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for _, u := range []string{"https://localhost:" + port + "/probe", "https://" + w.addr + "/probe"} {
		resp, err := probe.Get(u)
		if err != nil {
			t.Fatalf("probing the witness at %s: %v", u, err)
		}
		resp.Body.Close()
	}
	if seen := w.seen(); strings.Count(strings.Join(seen, "\n"), "GET /probe") != 2 || len(seen) != 4 {
		t.Fatalf("the witness saw %q, want only the two probes (a connection and a request each)", seen)
	}
}

// witness is a loopback HTTPS server that records every connection made to
// it and every request, and answers 404. Its certificate, for 127.0.0.1
// and localhost, is signed by a CA of its own (caPEM).
type witness struct {
	addr  string
	caPEM []byte
	mu    sync.Mutex
	log   []string
}

func listenAndWitness(t *testing.T) *witness {
	t.Helper()
	ca, err := pki.NewCA("ssrf witness")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &witness{addr: l.Addr().String(), caPEM: ca.CertPEM}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.record(r.Method + " " + r.URL.String())
			http.NotFound(rw, r)
		}),
		ConnState: func(c net.Conn, state http.ConnState) {
			if state == http.StateNew {
				w.record("connection from " + c.RemoteAddr().String())
			}
		},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

func (w *witness) record(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, s)
}

// seen is what the witness saw, connections and requests.
func (w *witness) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

// issuerCABundle is the caBundle of the ClusterIssuer ref names.
func issuerCABundle(t *testing.T, ref activities.IssuerRef) []byte {
	t.Helper()
	var ci certflowv1.ClusterIssuer
	if err := kube.Get(testContext(t), types.NamespacedName{Name: ref.Name}, &ci); err != nil {
		t.Fatal(err)
	}
	return ci.Spec.ACME.CABundle
}

// setOrderURL writes the order URL annotation on the pending key Secret, as
// a user who may edit Secrets in the namespace can.
func setOrderURL(t *testing.T, key types.NamespacedName, orderURL string) {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(testContext(t), key, &s); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Annotations[activities.AnnotationOrderURL] = orderURL
	if err := kube.Patch(testContext(t), &s, patch); err != nil {
		t.Fatal(err)
	}
}

func orderURLOf(t *testing.T, key types.NamespacedName) string {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(testContext(t), key, &s); err != nil {
		t.Fatal(err)
	}
	return s.Annotations[activities.AnnotationOrderURL]
}
