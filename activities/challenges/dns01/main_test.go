package dns01_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/challenges"
	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/sandbox"
)

// The real parts every test here shares: BIND authoritative for
// certflow.test (with CNAMEs for cnameStrategy Follow, one into delegated.test) and a Kubernetes API
// server holding the issuers and their Secrets.
var (
	bind *sandbox.BIND
	kube client.Client
)

// clusterNS is the cluster-resource namespace: ClusterIssuers' Secrets live there.
const clusterNS = "certflow"

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "challenges", func(ctx context.Context, dir string, cleanup func(func())) error {
		var err error
		bind, err = sandbox.StartBIND(ctx, sandbox.BINDOptions{
			Dir: dir,
			Records: []string{
				"_acme-challenge.alias IN CNAME _acme-challenge.delegated",
				"_acme-challenge.elsewhere IN CNAME _acme-challenge.elsewhere.delegated.test.",
			},
			MoreZones: []string{"delegated.test"},
		})
		if err != nil {
			return err
		}
		cleanup(func() { _ = bind.Stop() })
		k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: dir + "/kubernetes"})
		if err != nil {
			return err
		}
		cleanup(func() { _ = k.Stop() })
		if kube, err = k.Client(); err != nil {
			return err
		}
		for _, ns := range []string{clusterNS, "team-a"} {
			if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return fmt.Errorf("creating namespace: %w", err)
			}
		}
		return nil
	}))
}

// newActivities returns the challenge activities as the worker wires them,
// with BIND as the resolver and its port as the authoritative port.
func newActivities() *challenges.Activities { return newActivitiesWith(dns01.Providers) }

// newActivitiesWith serves only the DNS providers of kinds: the tests of a
// provider certflow does not serve leave the others out.
func newActivitiesWith(kinds []certflowdns.Kind) *challenges.Activities {
	_, port, _ := net.SplitHostPort(bind.Addr)
	authPort, _ := strconv.Atoi(port)
	checker := &propagation.Checker{Resolvers: []string{bind.Addr}, AuthoritativePort: authPort}
	return &challenges.Activities{
		Issuers:      &issuers.Resolver{Client: kube, ClusterResourceNamespace: clusterNS},
		Certificates: &certificates.Reader{Kube: kube},
		Types:        map[string]challenges.Type{"dns-01": &dns01.Type{Providers: kinds, Checker: checker}},
		PollInterval: 100 * time.Millisecond,
	}
}

// env runs the activities as a worker would, so heartbeats and error
// conversion are Temporal's.
func env(a *challenges.Activities) *testsuite.TestActivityEnvironment {
	return activitytest.Env(a.Bindings())
}

// execute runs an activity and checks that its result, which is stored in
// workflow history, does not carry the TSIG secret.
func execute[In, Out any](t *testing.T, e *testsuite.TestActivityEnvironment, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	res, err := activitytest.RunIn(t, e, a, in)
	if data, _ := json.Marshal(res); strings.Contains(string(data), bind.TSIGSecret) {
		t.Fatalf("%s result carries the TSIG secret", a.Name())
	}
	return res, err
}

var certificateSeq atomic.Int32

// certificateFor makes a Certificate issued by ref that asks for the names,
// in the issuer's namespace (default for a ClusterIssuer).
func certificateFor(t *testing.T, ref activities.IssuerRef, names ...string) activities.CertificateRef {
	t.Helper()
	ns := cmp.Or(ref.Namespace, "default")
	name := fmt.Sprintf("cert-%d", certificateSeq.Add(1))
	return activitytest.ApplyCertificate(t, kube, ns, name, ref, activities.Request{DNSNames: names, SecretName: name + "-tls"})
}

// rfc2136Solver is a dns01 solver that updates BIND, its TSIG secret in
// Secret secretName (key "secret").
func rfc2136Solver(secretName string, follow bool) certflowv1.ACMEChallengeSolver {
	s := &certflowv1.ACMEChallengeSolverDNS01{RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{
		Nameserver:    bind.Addr,
		TSIGKeyName:   bind.TSIGKeyName,
		TSIGAlgorithm: "HMACSHA256",
		TSIGSecret:    &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: secretName}, Key: "secret"},
	}}
	if follow {
		s.CNAMEStrategy = certflowv1.FollowStrategy
	}
	return certflowv1.ACMEChallengeSolver{DNS01: s}
}

func cloudflareSolver() certflowv1.ACMEChallengeSolver {
	return certflowv1.ACMEChallengeSolver{DNS01: &certflowv1.ACMEChallengeSolverDNS01{Cloudflare: &certflowv1.ACMEIssuerDNS01ProviderCloudflare{
		APIToken: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "cf"}, Key: "token"},
	}}}
}

func acmeSpec(solvers ...certflowv1.ACMEChallengeSolver) certflowv1.IssuerSpec {
	return certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
		Server:     "https://acme.certflow.test/directory",
		PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "account"}},
		Solvers:    solvers,
	}}
}

// clusterIssuer creates a ClusterIssuer and returns its reference.
func clusterIssuer(t *testing.T, name string, solvers ...certflowv1.ACMEChallengeSolver) activities.IssuerRef {
	t.Helper()
	ci := &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: acmeSpec(solvers...)}
	if err := kube.Create(context.Background(), ci); err != nil {
		t.Fatalf("creating ClusterIssuer %s: %v", name, err)
	}
	return activities.IssuerRef{Kind: "ClusterIssuer", Name: name}
}

// tsigSecret creates the Secret holding a TSIG secret.
func tsigSecret(t *testing.T, namespace, name, value string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: map[string]string{"secret": value}}
	if err := kube.Create(context.Background(), s); err != nil {
		t.Fatalf("creating Secret %s/%s: %v", namespace, name, err)
	}
}

func dnsAuthorization(name, value string, solver int) activities.Authorization {
	return activities.Authorization{
		URL: "https://acme.certflow.test/authz/" + name, Identifier: name, Status: "pending",
		Challenge: activities.Challenge{Type: "dns-01", Solver: solver, FQDN: "_acme-challenge." + name + ".", Value: value},
	}
}

// txtValues asks BIND for the TXT values at fqdn.
func txtValues(t *testing.T, fqdn string) []string { return dnstest.TXTValues(t, bind.Addr, fqdn) }

// onlyRFC2136 serves rfc2136 alone, so that a cloudflare solver stands for
// one whose provider this worker does not serve.
func onlyRFC2136() *challenges.Activities { return newActivitiesWith([]certflowdns.Kind{rfc2136.Kind}) }
