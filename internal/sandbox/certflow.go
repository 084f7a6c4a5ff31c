package sandbox

import (
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// What the tests and the demo run certflow with on the stack.
const (
	// ClusterResourceNamespace holds the ClusterIssuers' Secrets.
	ClusterResourceNamespace = "certflow"
	// TSIGSecretName is the Secret (key "secret") with BIND's TSIG secret.
	TSIGSecretName = "bind-tsig"
	// ClusterName is the cluster's name in workflow IDs.
	ClusterName = "sandbox"
)

// CertflowArgs are the flags that point `certflow run` at the stack: its
// Kubernetes, its Temporal, BIND for propagation checks (BIND is the zone's
// only nameserver and listens on a port other than 53), and the HTTP-01
// responder on the port Pebble validates http-01 challenges at (BIND sends
// every name of the zone to 127.0.0.1), which the self-check uses too. Metrics are off: processes of
// parallel tests would share :9402 (a test that scrapes them passes its own
// --metrics-addr after these, and the last one wins).
func (s *Stack) CertflowArgs() []string {
	_, port, _ := net.SplitHostPort(s.BIND.Addr)
	http01Port := strconv.Itoa(s.Pebble.HTTPPort)
	args := []string{
		"--kubeconfig", s.Kubernetes.Kubeconfig,
		"--temporal-address", s.Temporal.Address,
		"--cluster-resource-namespace", ClusterResourceNamespace,
		"--cluster-name", ClusterName,
		"--dns01-recursive-nameservers", s.BIND.Addr,
		"--dns01-nameserver-port", port,
		"--http01-solver-namespace", ClusterResourceNamespace,
		"--http01-self-check-port", http01Port,
		"--http01-solver-listen", net.JoinHostPort("127.0.0.1", http01Port),
		"--metrics-addr", "0",
	}
	if s.Temporal.UIURL != "" {
		args = append(args, "--temporal-ui-url", s.Temporal.UIURL)
	}
	return args
}

// unlimited is a budget no sandbox run reaches.
var unlimited = &certflowv1.RateLimit{Limit: 1_000_000, Period: metav1.Duration{Duration: time.Second}}

// TSIGSecret holds BIND's TSIG secret for ClusterIssuers.
func (s *Stack) TSIGSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ClusterResourceNamespace, Name: TSIGSecretName},
		Data:       map[string][]byte{"secret": []byte(s.BIND.TSIGSecret)},
	}
}

// ClusterIssuer is an ACME ClusterIssuer for the CA at directoryURL (Pebble,
// or a proxy in front of it) whose DNS-01 solver updates BIND over RFC 2136
// with the TSIG key in tsigSecret. Pebble has no rate limits, and every name
// here is under one registered domain: the issuer's budgets are set far above
// what a test or a benchmark orders (the defaults are Let's Encrypt's, 50
// certificates per registered domain a week).
func (s *Stack) ClusterIssuer(name, directoryURL string, caBundle []byte, tsigSecret string) *certflowv1.ClusterIssuer {
	return &certflowv1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
			Server:   directoryURL,
			CABundle: caBundle,
			RateLimits: &certflowv1.RateLimits{
				NewOrders:                       unlimited,
				CertificatesPerRegisteredDomain: unlimited,
				DuplicateCertificates:           unlimited,
			},
			PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: name + "-account"}},
			Solvers: []certflowv1.ACMEChallengeSolver{{DNS01: &certflowv1.ACMEChallengeSolverDNS01{
				RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{
					Nameserver:    s.BIND.Addr,
					TSIGKeyName:   s.BIND.TSIGKeyName,
					TSIGAlgorithm: "HMACSHA256",
					TSIGSecret:    &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: tsigSecret}, Key: "secret"},
				},
			}}},
		}},
	}
}
