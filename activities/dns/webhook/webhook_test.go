package webhook_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinwebhook "github.com/certflow/certflow/internal/standin/webhook"
)

const (
	group      = "acme.certflow.test"
	solverName = "bind"
)

// solver is an issuer's dns01 solver for the stand-in's group.
func solver(group string) *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{Webhook: &certflowv1.ACMEIssuerDNS01ProviderWebhook{
		GroupName: group, SolverName: solverName,
		Config: &runtime.RawExtension{Raw: []byte(`{"apiTokenSecretRef":{"name":"bind-token","key":"token"}}`)},
	}}
}

// cluster is a kube-apiserver with the stand-in solver registered with its
// aggregation layer, writing into BIND.
type cluster struct {
	bind     *sandbox.BIND
	resolver string
	kube     *sandbox.Kubernetes
	standIn  *standinwebhook.Server
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	s, err := standinwebhook.Start(standinwebhook.Options{
		Group: group, Solver: solverName, Service: types.NamespacedName{Namespace: "default", Name: "bind-webhook"},
		BIND: standin.BIND{Addr: b.Addr, Zone: b.Zone, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	kube, err := k.Client()
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range s.Objects() {
		if err := kube.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
	c := &cluster{bind: b, resolver: resolver(t, b.Addr), kube: k, standIn: s}
	c.waitAvailable(ctx, t)
	return c
}

// waitAvailable waits until the API server routes the group to the stand-in.
func (c *cluster) waitAvailable(ctx context.Context, t *testing.T) {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(c.kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for ctx.Err() == nil {
		resp, err := httpClient.Get(strings.TrimSuffix(c.kube.Config.Host, "/") + "/apis/" + group + "/v1alpha1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	apiService := &unstructured.Unstructured{}
	apiService.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"})
	kube, _ := c.kube.Client()
	_ = kube.Get(context.Background(), client.ObjectKey{Name: "v1alpha1." + group}, apiService)
	t.Fatalf("the aggregator did not route %s to the stand-in: %s; APIService status %v", group, last, apiService.Object["status"])
}

// setup is what the worker gives a ClusterIssuer's provider.
func (c *cluster) setup(kube *rest.Config) certflowdns.Setup {
	return certflowdns.Setup{Credentials: dnstest.Secrets{}, AmbientCredentials: true, ResourceNamespace: sandbox.ClusterResourceNamespace,
		Resolvers: []string{c.resolver}, Kubernetes: kube}
}

// resolver answers as a recursive resolver whose world is BIND's zone:
// BIND's answers for its names, and for any other, which BIND refuses,
// NXDOMAIN with the root's SOA.
func resolver(t *testing.T, bind string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		resp, _, err := new(dns.Client).Exchange(r, bind)
		if err != nil {
			resp = new(dns.Msg).SetRcode(r, dns.RcodeServerFailure)
		} else if resp.Rcode == dns.RcodeRefused {
			resp = new(dns.Msg).SetRcode(r, dns.RcodeNameError)
			resp.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "a.root-servers.net.", Mbox: "nstld.verisign-grs.com.", Serial: 1, Refresh: 1800, Retry: 900, Expire: 604800, Minttl: 86400}}
		}
		_ = w.WriteMsg(resp)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func (c *cluster) txt(_ context.Context, fqdn string) ([]string, error) {
	resp, _, err := new(dns.Client).Exchange(new(dns.Msg).SetQuestion(fqdn, dns.TypeTXT), c.bind.Addr)
	if err != nil {
		return nil, err
	}
	var values []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			values = append(values, t.Txt...)
		}
	}
	return values, nil
}

// TestThroughTheAggregationLayer runs the providers' suite, and the
// webhook's own cases, against the stand-in solver registered with a real
// kube-apiserver as an APIService, the worker's calls authorized by RBAC.
func TestThroughTheAggregationLayer(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	admin := c.kube.Config
	nobody := rest.CopyConfig(admin)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:certflow:someone-else"}
	silent := rest.CopyConfig(admin)
	silent.Host = "https://" + dnstest.Silent(t)

	t.Run("conformance", func(t *testing.T) {
		dnstest.Run(t, dnstest.Subject{
			Provider: dnstest.BuildWith(t, dns01.Providers, solver(group), c.setup(admin)),
			Zone:     c.bind.Zone + ".",
			TXT:      c.txt,
			Refused:  dnstest.BuildWith(t, dns01.Providers, solver(group), c.setup(nobody)),
			Silent:   dnstest.BuildWith(t, dns01.Providers, solver(group), c.setup(silent)),
		})
	})

	t.Run("the stand-in was asked through the aggregator, with the record's zone", func(t *testing.T) {
		var created int
		for _, r := range c.standIn.Requests() {
			if r.Path != "/apis/"+group+"/v1alpha1/"+solverName {
				t.Errorf("the stand-in served %s %s", r.Method, r.Path)
			}
			if r.Action == "create" && r.Zone == c.bind.Zone+"." {
				created++
			}
		}
		if created == 0 {
			t.Fatalf("no create in zone %s: %+v", c.bind.Zone, c.standIn.Requests())
		}
	})

	t.Run("a webhook that is not installed is a permanent error naming it", func(t *testing.T) {
		p := dnstest.BuildWith(t, dns01.Providers, solver("acme.not-installed.test"), c.setup(admin))
		_, err := p.Present(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.missing." + c.bind.Zone + ".", Value: "v"})
		if err == nil || !certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want a permanent one", err)
		}
		wantIn(t, err, "no webhook serves /apis/acme.not-installed.test/v1alpha1/bind")
	})

	t.Run("a worker RBAC forbids says which rule to grant", func(t *testing.T) {
		p := dnstest.BuildWith(t, dns01.Providers, solver(group), c.setup(nobody))
		err := p.CleanUp(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.forbidden." + c.bind.Zone + ".", Value: "v"})
		if err == nil || !certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want a permanent one", err)
		}
		wantIn(t, err, "grant it verbs [create] on apiGroups [acme.certflow.test] resources [bind]")
	})

}

func wantIn(t *testing.T, err error, want string) {
	t.Helper()
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
