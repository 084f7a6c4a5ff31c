package clouddns_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/clouddns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	standinclouddns "github.com/certflow/certflow/internal/standin/clouddns"
)

// kinds is the registry the provider is built through, as the worker builds it.
var kinds = dns01.Providers

const project = "certflow-project"

type world struct {
	bind *sandbox.BIND
	api  *standinclouddns.Server
}

func start(t *testing.T, opts standinclouddns.Options) world {
	t.Helper()
	b, bind := dnstest.StartBIND(t)
	opts.Project, opts.ClientEmail = project, "certflow@"+project+".iam.gserviceaccount.com"
	api, err := standinclouddns.Start(bind, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	return world{bind: b, api: api}
}

// solver is a cloudDNS solver whose key is in Secret "gcp", key "key.json".
func solver(project, zone string) *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{CloudDNS: &certflowv1.ACMEIssuerDNS01ProviderCloudDNS{
		Project: project, HostedZoneName: zone,
		ServiceAccount: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "gcp"}, Key: "key.json"},
	}}
}

func provider(t *testing.T, endpoint string, key []byte, s *certflowv1.ACMEChallengeSolverDNS01) certflowdns.Provider {
	t.Helper()
	return dnstest.BuildWith(t, kinds, s, certflowdns.Setup{Credentials: dnstest.Secrets{"gcp": {"key.json": string(key)}}, Endpoint: endpoint})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, pending := range []bool{false, true} {
		w := start(t, standinclouddns.Options{PendingChanges: pending})
		unknown, err := w.api.UnknownServiceAccountKey()
		if err != nil {
			t.Fatal(err)
		}
		name := "changes done at once"
		if pending {
			name = "changes pending until read again"
		}
		t.Run(name, func(t *testing.T) {
			dnstest.Run(t, dnstest.Subject{
				Provider: provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver(project, "")),
				Zone:     w.bind.Zone + ".",
				TXT: func(_ context.Context, fqdn string) ([]string, error) {
					return dnstest.TXTValues(t, w.bind.Addr, fqdn), nil
				},
				Refused: provider(t, w.api.URL(), unknown, solver(project, "")),
				Silent:  provider(t, "http://"+dnstest.Silent(t), w.api.ServiceAccountKey(), solver(project, "")),
			})
		})
	}
}

// TestTheZoneIsTheMostSpecificPublicOne: zones are listed by DNS name one to
// a page; a private zone of the name is passed over for a public one on a
// later page, and a name with only a private zone goes to the parent.
func TestTheZoneIsTheMostSpecificPublicOne(t *testing.T) {
	t.Parallel()
	w := start(t, standinclouddns.Options{PageSize: 1, Zones: []standinclouddns.Zone{
		{Name: "zz-private", DNSName: "zz.certflow.test.", Visibility: "private"},
		{Name: "zz-public", DNSName: "zz.certflow.test."},
		{Name: "inside-only", DNSName: "inside.certflow.test.", Visibility: "private"},
	}})
	p := provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver(project, ""))
	ctx := context.Background()
	for fqdn, want := range map[string]string{
		"_acme-challenge.www.zz.certflow.test.":     "zz.certflow.test.",
		"_acme-challenge.www.inside.certflow.test.": "certflow.test.",
	} {
		if zone, err := p.Present(ctx, certflowdns.TXT{FQDN: fqdn, Value: "v"}); err != nil || zone != want {
			t.Errorf("Present %s = %q, %v; want zone %q", fqdn, zone, err, want)
		}
	}
	if sets := w.api.RRSets("zz-public"); len(sets) != 1 || !slices.Equal(sets[0].RRDatas, []string{`"v"`}) {
		t.Errorf("record sets of zz-public = %+v, want one TXT \"v\"", sets)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, "_acme-challenge.www.inside.certflow.test."); !slices.Equal(got, []string{"v"}) {
		t.Errorf("TXT in BIND = %v, want the value written in the parent zone", got)
	}
}

func TestHostedZoneName(t *testing.T) {
	t.Parallel()
	w := start(t, standinclouddns.Options{Zones: []standinclouddns.Zone{{Name: "other", DNSName: "other.example."}}})
	ctx := context.Background()
	rec := certflowdns.TXT{FQDN: "_acme-challenge.hosted.certflow.test.", Value: "v"}

	t.Run("the named zone is written in", func(t *testing.T) {
		zone, err := provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver(project, "certflow-test")).Present(ctx, rec)
		if err != nil || zone != "certflow.test." {
			t.Fatalf("Present = %q, %v", zone, err)
		}
	})
	for name, tc := range map[string]struct{ zone, want string }{
		"a zone that does not exist is permanent, in Google's words": {"missing", "The 'parameters.managedZone' resource named 'missing' does not exist."},
		"a zone that does not hold the name is permanent":            {"other", "is other.example., which does not hold _acme-challenge.hosted.certflow.test."},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver(project, tc.zone)).Present(ctx, rec)
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a permanent one saying %q", err, tc.want)
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	w := start(t, standinclouddns.Options{})
	rec := certflowdns.TXT{FQDN: "_acme-challenge.classify." + w.bind.Zone + ".", Value: "v"}
	ctx := context.Background()

	t.Run("a key the token endpoint refuses is permanent, and the error holds no key", func(t *testing.T) {
		unknown, err := w.api.UnknownServiceAccountKey()
		if err != nil {
			t.Fatal(err)
		}
		_, err = provider(t, w.api.URL(), unknown, solver(project, "")).Present(ctx, rec)
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("error %v, want a permanent invalid_grant", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("the error holds the key: %v", err)
		}
	})

	t.Run("a project the account may not use is permanent, in Google's words", func(t *testing.T) {
		_, err := provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver("someone-elses", "")).Present(ctx, rec)
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "The caller does not have permission") {
			t.Fatalf("error %v, want a permanent forbidden", err)
		}
	})

	t.Run("a rate limit may pass on a retry", func(t *testing.T) {
		w.api.RateLimit(1)
		p := provider(t, w.api.URL(), w.api.ServiceAccountKey(), solver(project, ""))
		_, err := p.Present(ctx, rec)
		if err == nil || certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want one that may pass on a retry", err)
		}
		if _, err := p.Present(ctx, rec); err != nil {
			t.Fatalf("the retry: %v", err)
		}
	})

	t.Run("no key and no ambient credentials names the worker's flag", func(t *testing.T) {
		s := solver(project, "")
		s.CloudDNS.ServiceAccount = nil
		_, err := clouddns.Kind.New(ctx, s, certflowdns.Setup{Credentials: dnstest.Secrets{}, AmbientCredentials: false})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "--issuer-ambient-credentials") {
			t.Fatalf("error %v, want a permanent one naming --issuer-ambient-credentials", err)
		}
	})
}
