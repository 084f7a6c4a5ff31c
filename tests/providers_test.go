package tests

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	"sigs.k8s.io/yaml"
)

// dnsProvider is one DNS-01 provider tried end to end. Its stand-in follows
// the provider's API and writes what it is given into the world's BIND, so
// Pebble validates the challenges the provider's own SDK client presents.
type dnsProvider struct {
	// name is the provider's field in a dns01 solver ("cloudflare").
	name string
	// standIn starts the stand-in against bind (closing it when t ends),
	// creates the Secrets its solver refers to in the cluster resource
	// namespace, and returns the solver and the --dns01-endpoint value for
	// it ("cloudflare=http://127.0.0.1:1234/client/v4"; "" for none).
	standIn func(t *testing.T, w *world, bind standin.BIND) (solver *certflowv1.ACMEChallengeSolverDNS01, endpoint string, s standInLog)
	// certManager, when set, is the solver as cert-manager's documentation
	// writes it (a "- dns01:" list item): the issuer is then made from a
	// cert-manager ClusterIssuer manifest with only its apiVersion changed,
	// and standIn returns no solver.
	certManager string
	// delegatedTo, when set, names where the stand-in is asked to write
	// the challenge records: the target of the CNAME at _acme-challenge.
	delegatedTo func() string
	// keepsValues: the service has no delete (acme-dns keeps the two
	// newest values of a name).
	keepsValues bool
}

// standInLog is what the test asks a stand-in once a Certificate is Ready.
type standInLog interface {
	// Requests are the API calls the stand-in served.
	Requests() []standin.Request
}

// dnsProviders are the providers TestDNSProviders tries; each provider's
// test file adds its own in an init function.
var dnsProviders []dnsProvider

// TestDNSProviders issues a wildcard and its apex through every provider's
// stand-in, each from a ClusterIssuer of its own made from the "pebble" one,
// and checks that the stand-in was asked to create each challenge record in
// the zone and to delete it afterwards.
func TestDNSProviders(t *testing.T) {
	t.Parallel()
	sort.Slice(dnsProviders, func(i, j int) bool { return dnsProviders[i].name < dnsProviders[j].name })
	solvers := map[string]*certflowv1.ACMEChallengeSolverDNS01{}
	logs := map[string]standInLog{}
	w := newWorldWith(t, worldOptions{beforeCertflow: func(w *world) {
		b := w.stack.BIND
		bind := standin.BIND{Addr: b.Addr, Zone: b.Zone, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret}
		for _, p := range dnsProviders {
			solver, endpoint, log := p.standIn(t, w, bind)
			solvers[p.name], logs[p.name] = solver, log
			if endpoint != "" {
				w.args = append(w.args, "--dns01-endpoint", endpoint)
			}
		}
	}})
	const ns = "providers"
	w.namespace(ns)
	for _, p := range dnsProviders {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			w := w.in(t)
			name := strings.ToLower(p.name) // a provider's field, as a Kubernetes name
			issuer := w.stack.ClusterIssuer("dns-"+name, w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
			issuer.Spec.ACME.Solvers[0].DNS01 = solvers[p.name]
			if p.certManager != "" {
				issuer = fromCertManager(t, issuer.Name, w.proxy.DirectoryURL, w.proxy.CACertPEM, p.certManager)
			}
			w.create(issuer)
			w.waitClusterIssuerReady(issuer.Name, time.Minute)

			apex := name + "." + w.stack.BIND.Zone
			cert := certificate(ns, name, name+"-tls", "*."+apex, apex)
			cert.Spec.IssuerRef.Name = issuer.Name
			w.create(cert)
			w.waitReady(ns, name)
			w.verify(w.tlsSecret(ns, name+"-tls"), apex, "www."+apex)
			if left := w.challengeRecords(apex); len(left) > 0 && !p.keepsValues {
				t.Errorf("challenge records left in BIND: %v", left)
			}
			record := "_acme-challenge." + apex
			if p.delegatedTo != nil {
				record = p.delegatedTo()
			}
			checkStandInLog(t, logs[p.name].Requests(), w.stack.BIND.Zone, record, !p.keepsValues)
		})
	}
}

// checkStandInLog wants, for the challenge record at fqdn (both the
// wildcard's and the apex's values are there), a create in zone and, when
// deletes, a delete of each value created.
func checkStandInLog(t *testing.T, requests []standin.Request, zone, fqdn string, deletes bool) {
	t.Helper()
	created, deleted := map[string]bool{}, map[string]bool{}
	for _, r := range requests {
		if trimDot(r.Name) != fqdn || r.Status/100 != 2 {
			continue // another record's, or refused
		}
		switch r.Action {
		case "create":
			if trimDot(r.Zone) != zone {
				t.Errorf("record %s created in zone %q, want %q", fqdn, r.Zone, zone)
			}
			created[r.Value] = true
		case "delete":
			deleted[r.Value] = true
		}
	}
	if len(created) != 2 {
		t.Errorf("the stand-in created %d values at %s, want 2 (the wildcard's and the apex's): %s", len(created), fqdn, describeRequests(requests))
	}
	for v := range created {
		if deletes && !deleted[v] {
			t.Errorf("value %q at %s was created and never deleted: %s", v, fqdn, describeRequests(requests))
		}
	}
}

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }

func describeRequests(requests []standin.Request) string {
	var b strings.Builder
	for _, r := range requests {
		fmt.Fprintf(&b, "\n  %s %s (%s zone=%q name=%q value=%q) -> %d", r.Method, r.Path, r.Action, r.Zone, r.Name, r.Value, r.Status)
	}
	return b.String()
}

// fromCertManager is a cert-manager ClusterIssuer for the CA at directoryURL
// with solver, as a cert-manager user writes it, read as certflow's with only
// apiVersion changed. A field certflow does not have fails the test.
func fromCertManager(t *testing.T, name, directoryURL string, caBundle []byte, solver string) *certflowv1.ClusterIssuer {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: %s
spec:
  acme:
    server: %s
    caBundle: %s
    privateKeySecretRef:
      name: %s-account
    solvers:
%s`, name, directoryURL, base64.StdEncoding.EncodeToString(caBundle), name, solver)
	manifest = strings.Replace(manifest, "apiVersion: cert-manager.io/v1", "apiVersion: certflow.dev/v1alpha1", 1)
	var issuer certflowv1.ClusterIssuer
	if err := yaml.UnmarshalStrict([]byte(manifest), &issuer); err != nil {
		t.Fatalf("cert-manager's manifest with apiVersion changed: %v\n%s", err, manifest)
	}
	return &issuer
}
