package acme

import (
	"testing"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestSolverSelectionFollowsCertManager(t *testing.T) {
	dns := func(sel *certflowv1.CertificateDNSNameSelector) certflowv1.ACMEChallengeSolver {
		return certflowv1.ACMEChallengeSolver{Selector: sel, DNS01: &certflowv1.ACMEChallengeSolverDNS01{}}
	}
	http := func(sel *certflowv1.CertificateDNSNameSelector) certflowv1.ACMEChallengeSolver {
		return certflowv1.ACMEChallengeSolver{Selector: sel, HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{}}
	}
	names := func(n ...string) *certflowv1.CertificateDNSNameSelector {
		return &certflowv1.CertificateDNSNameSelector{DNSNames: n}
	}
	zones := func(z ...string) *certflowv1.CertificateDNSNameSelector {
		return &certflowv1.CertificateDNSNameSelector{DNSZones: z}
	}
	labels := func(kv ...string) *certflowv1.CertificateDNSNameSelector {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &certflowv1.CertificateDNSNameSelector{MatchLabels: m}
	}
	certLabels := map[string]string{"team": "web", "env": "prod"}

	cases := []struct {
		name       string
		solvers    []certflowv1.ACMEChallengeSolver
		identifier string
		wildcard   bool
		offered    []string
		want       int // -1: none
		wantType   string
	}{
		{"an empty selector takes every name", []certflowv1.ACMEChallengeSolver{dns(nil)}, "a.example.com", false, nil, 0, "dns-01"},
		{"an exact dnsNames match beats a zone match",
			[]certflowv1.ACMEChallengeSolver{dns(zones("example.com")), http(names("a.example.com"))}, "a.example.com", false, nil, 1, "http-01"},
		{"the longest zone wins",
			[]certflowv1.ACMEChallengeSolver{dns(zones("example.com")), dns(zones("b.example.com"))}, "a.b.example.com", false, nil, 1, "dns-01"},
		{"a zone matches its apex",
			[]certflowv1.ACMEChallengeSolver{http(nil), dns(zones("example.com"))}, "example.com", false, nil, 1, "dns-01"},
		{"a zone does not match a name that only ends like it",
			[]certflowv1.ACMEChallengeSolver{dns(zones("ample.com"))}, "example.com", false, nil, -1, ""},
		{"a zone match beats a matchLabels-only selector",
			[]certflowv1.ACMEChallengeSolver{http(labels("team", "web")), dns(zones("example.com"))}, "a.example.com", false, nil, 1, "dns-01"},
		{"a matchLabels-only selector beats an empty one",
			[]certflowv1.ACMEChallengeSolver{dns(nil), http(labels("team", "web"))}, "a.example.com", false, nil, 1, "http-01"},
		{"more matchLabels win between equal selectors",
			[]certflowv1.ACMEChallengeSolver{dns(labels("team", "web")), http(labels("team", "web", "env", "prod"))}, "a.example.com", false, nil, 1, "http-01"},
		{"a selector whose labels do not match is skipped",
			[]certflowv1.ACMEChallengeSolver{dns(labels("team", "db")), http(nil)}, "a.example.com", false, nil, 1, "http-01"},
		{"the first of equal solvers wins",
			[]certflowv1.ACMEChallengeSolver{dns(nil), http(nil)}, "a.example.com", false, nil, 0, "dns-01"},
		{"a wildcard never takes an http01 solver",
			[]certflowv1.ACMEChallengeSolver{http(names("*.example.com")), dns(nil)}, "example.com", true, nil, 1, "dns-01"},
		{"a wildcard is named with its *. prefix in dnsNames",
			[]certflowv1.ACMEChallengeSolver{dns(nil), dns(names("*.example.com"))}, "example.com", true, nil, 1, "dns-01"},
		{"a wildcard with only http01 solvers has none",
			[]certflowv1.ACMEChallengeSolver{http(nil)}, "example.com", true, nil, -1, ""},
		{"a challenge type the CA does not offer is skipped",
			[]certflowv1.ACMEChallengeSolver{dns(names("10.0.0.1")), http(nil)}, "10.0.0.1", false, []string{"http-01"}, 1, "http-01"},
		{"a name outside every selector has no solver",
			[]certflowv1.ACMEChallengeSolver{dns(zones("example.com")), http(names("www.example.org"))}, "mail.example.org", false, nil, -1, ""},
		{"an IP address never gets a dns-01 solver (RFC 8738)",
			[]certflowv1.ACMEChallengeSolver{dns(names("10.0.0.1"))}, "10.0.0.1", false, nil, -1, ""},
		// The examples of cert-manager's CertificateDNSNameSelector reference.
		{"cert-manager: sys.example.com is selected over example.com for www.sys.example.com",
			[]certflowv1.ACMEChallengeSolver{dns(zones("example.com")), http(zones("sys.example.com"))}, "www.sys.example.com", false, nil, 1, "http-01"},
		{"cert-manager: with the same dnsNames value, the most matching labels win",
			[]certflowv1.ACMEChallengeSolver{dns(&certflowv1.CertificateDNSNameSelector{DNSNames: []string{"a.example.com"}}),
				http(&certflowv1.CertificateDNSNameSelector{DNSNames: []string{"a.example.com"}, MatchLabels: map[string]string{"team": "web"}})},
			"a.example.com", false, nil, 1, "http-01"},
		{"cert-manager: with the same dnsZones value, the most matching labels win",
			[]certflowv1.ACMEChallengeSolver{dns(&certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.com"}, MatchLabels: map[string]string{"team": "web"}}),
				http(&certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.com"}, MatchLabels: map[string]string{"team": "web", "env": "prod"}})},
			"a.example.com", false, nil, 1, "http-01"},
		{"cert-manager: if neither has more matches, the solver defined earlier is selected",
			[]certflowv1.ACMEChallengeSolver{http(zones("example.com")), dns(zones("example.com"))}, "a.example.com", false, nil, 0, "http-01"},
		{"cert-manager: a dnsNames match beats a dnsZones match with more labels",
			[]certflowv1.ACMEChallengeSolver{dns(&certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.com"}, MatchLabels: map[string]string{"team": "web", "env": "prod"}}),
				http(names("a.example.com"))},
			"a.example.com", false, nil, 1, "http-01"},
		{"names compare without case or trailing dot",
			[]certflowv1.ACMEChallengeSolver{dns(nil), http(names("A.Example.COM."))}, "a.example.com", false, nil, 1, "http-01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, typ, ok := (&Activities{ChallengeTypes: []string{"dns-01", "http-01"}}).chooseSolver(tc.solvers, certLabels, tc.identifier, tc.wildcard, tc.offered)
			if tc.want < 0 {
				if ok {
					t.Fatalf("chose solver %d (%s), want none", got, typ)
				}
				return
			}
			if !ok || got != tc.want || typ != tc.wantType {
				t.Fatalf("chose %d %s (ok %v), want %d %s", got, typ, ok, tc.want, tc.wantType)
			}
		})
	}
}
