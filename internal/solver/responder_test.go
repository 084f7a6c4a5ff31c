package solver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/solver"
)

var kube kubernetes.Interface

const namespace = "certflow"

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "solver", func(ctx context.Context, dir string, cleanup func(func())) error {
		k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: dir + "/kubernetes"})
		if err != nil {
			return err
		}
		cleanup(func() { _ = k.Stop() })
		if kube, err = kubernetes.NewForConfig(k.Config); err != nil {
			return err
		}
		_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
		return err
	}))
}

// serve starts a responder replica on a loopback port and returns its
// address.
func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- solver.New(kube, namespace, slog.New(slog.DiscardHandler)).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("responder: %v", err)
		}
	})
	return ln.Addr().String()
}

// get asks addr for path as a CA asking for host would, and returns the
// status and body. It waits out the 503 of a responder that is starting.
func get(t *testing.T, method, addr, host, path string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return resp.StatusCode, string(body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// store writes a response as a worker does, through the API server.
func store(t *testing.T, rec solver.Record) {
	t.Helper()
	cm := rec.ConfigMap(namespace)
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().ConfigMaps(namespace).Delete(context.Background(), cm.Name, metav1.DeleteOptions{})
	})
}

// eventually polls ask until it returns want's status, or fails after a few
// seconds (a watch delivers a change within milliseconds).
func eventually(t *testing.T, want int, ask func() (int, string)) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := ask()
		if status == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("answered %d %q, want %d", status, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResponderServesWhatAnyReplicaStored(t *testing.T) {
	one, two := serve(t), serve(t)
	rec := solver.Record{Host: "web.certflow.test", Token: "tok-A_1", KeyAuthorization: "tok-A_1.thumbprint"}
	path := "/.well-known/acme-challenge/" + rec.Token
	if status, _ := get(t, http.MethodGet, one, rec.Host, path); status != http.StatusNotFound {
		t.Fatalf("before the response is stored: %d, want 404", status)
	}
	store(t, rec)
	for _, addr := range []string{one, two} {
		body := eventually(t, http.StatusOK, func() (int, string) { return get(t, http.MethodGet, addr, "WEB.certflow.test.:80", path) })
		if body != rec.KeyAuthorization {
			t.Errorf("%s answered %q, want the key authorization %q", addr, body, rec.KeyAuthorization)
		}
	}
	if status, body := get(t, http.MethodHead, two, rec.Host, path); status != http.StatusOK || body != "" {
		t.Errorf("HEAD: %d %q, want 200 and no body", status, body)
	}

	if err := kube.CoreV1().ConfigMaps(namespace).Delete(context.Background(), solver.Name(rec.Token), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, http.StatusNotFound, func() (int, string) { return get(t, http.MethodGet, one, rec.Host, path) })
}

func TestResponderAnswersOnlyItsTokensAtTheChallengePath(t *testing.T) {
	addr := serve(t)
	rec := solver.Record{Host: "shop.certflow.test", Token: "tokB", KeyAuthorization: "tokB.thumbprint"}
	store(t, rec)
	path := "/.well-known/acme-challenge/" + rec.Token
	eventually(t, http.StatusOK, func() (int, string) { return get(t, http.MethodGet, addr, rec.Host, path) })

	// Another token's ConfigMap whose data names a token other than its own.
	forged := solver.Record{Host: rec.Host, Token: "tokC", KeyAuthorization: "tokC.thumbprint"}.ConfigMap(namespace)
	forged.Data["token"] = "tokD"
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(context.Background(), forged, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, method, host, path string }{
		{"another host", http.MethodGet, "other.certflow.test", path},
		{"unknown token", http.MethodGet, rec.Host, "/.well-known/acme-challenge/nope"},
		{"outside the challenge path", http.MethodGet, rec.Host, "/" + rec.Token},
		{"below the token", http.MethodGet, rec.Host, path + "/x"},
		{"not a token", http.MethodGet, rec.Host, "/.well-known/acme-challenge/a.b"},
		{"empty token", http.MethodGet, rec.Host, "/.well-known/acme-challenge/"},
		{"POST", http.MethodPost, rec.Host, path},
		{"a ConfigMap not named after its token", http.MethodGet, rec.Host, "/.well-known/acme-challenge/tokD"},
		{"the token the forged ConfigMap is named after", http.MethodGet, rec.Host, "/.well-known/acme-challenge/tokC"},
	} {
		if status, body := get(t, c.method, addr, c.host, c.path); status != http.StatusNotFound {
			t.Errorf("%s: %d %q, want 404", c.name, status, body)
		}
	}
}
