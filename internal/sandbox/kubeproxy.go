package sandbox

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"path"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeProxy is a reverse proxy in front of kube-apiserver that can hold back
// chosen requests: for tests that need an issuance to stay in a step whose
// only outside calls go to the API server (storing: reading and writing the
// certificate's Secret) long enough to stop a process in it. It
// authenticates to the API server as the cluster admin itself; its clients
// need only trust its certificate (Kubeconfig does).
type KubeProxy struct {
	// Kubeconfig is the path of a kubeconfig that reaches the API server
	// through the proxy.
	Kubeconfig string

	server *http.Server

	mu     sync.Mutex
	delays map[kubeRoute]time.Duration
}

// kubeRoute is a method and a path pattern (path.Match syntax).
type kubeRoute struct{ method, pattern string }

// StartKubeProxy listens on a free loopback port, forwards to the API server
// of k, and writes its kubeconfig into dir.
func StartKubeProxy(k *Kubernetes, dir string) (*KubeProxy, error) {
	upstream, _, err := rest.DefaultServerUrlFor(k.Config)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's URL: %w", err)
	}
	transport, err := rest.TransportFor(k.Config)
	if err != nil {
		return nil, fmt.Errorf("building a transport to the API server: %w", err)
	}
	l, caPEM, err := listenTLS("certflow sandbox Kubernetes proxy CA")
	if err != nil {
		return nil, err
	}
	p := &KubeProxy{Kubeconfig: filepath.Join(dir, "kubeconfig-via-proxy"), delays: map[kubeRoute]time.Duration{}}
	if err := writeKubeconfig(p.Kubeconfig, "https://"+l.Addr().String(), caPEM); err != nil {
		l.Close()
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.Transport = transport
	rp.FlushInterval = -1 // watches stream
	// A client that goes away mid-request (a killed certflow) is what the
	// tests do on purpose: not worth a log line.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := p.delay(r); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

func writeKubeconfig(file, server string, caPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["sandbox"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "sandbox"}
	cfg.CurrentContext = "sandbox"
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// Delay holds every later request with this method whose path matches
// pattern (path.Match: "/api/v1/namespaces/*/secrets/*-tls") for d before
// forwarding it; 0 ends the delay.
func (p *KubeProxy) Delay(method, pattern string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays[kubeRoute{method, pattern}] = d
}

func (p *KubeProxy) delay(r *http.Request) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var longest time.Duration
	for route, d := range p.delays {
		if ok, _ := path.Match(route.pattern, r.URL.Path); ok && route.method == r.Method {
			longest = max(longest, d)
		}
	}
	return longest
}

// Stop closes the proxy.
func (p *KubeProxy) Stop() error { return p.server.Close() }
