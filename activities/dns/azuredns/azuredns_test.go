package azuredns_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/azuredns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	standinazure "github.com/certflow/certflow/internal/standin/azuredns"
)

const (
	tenantID       = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID       = "0e8a9c3d-5b1f-4a7e-9d2c-6f4b8e1a3c5d"
	clientSecret   = "Xq8Q~not-a-real-secret-but-shaped-like-one"
	subscriptionID = "8f3e2d1c-0b9a-4877-a665-544332211000"
	resourceGroup  = "dns-rg"
	deepZone       = "deep.certflow.test"
)

// TestMain trusts the stand-in's CA as the worker would: the Azure SDK
// talks HTTPS only, and Go reads SSL_CERT_FILE once, at the first TLS
// handshake, which is later than this.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "azuredns-test")
	if err != nil {
		panic(err)
	}
	path, err := standinazure.WriteCACert(dir)
	if err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", path)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is BIND and the stand-in in front of it.
type world struct {
	bind   *sandbox.BIND
	server *standinazure.Server
}

func start(t *testing.T) world {
	t.Helper()
	b, bind := dnstest.StartBIND(t)
	s, err := standinazure.Start(standinazure.Options{
		BIND:     bind,
		TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret,
		SubscriptionID: subscriptionID, ResourceGroup: resourceGroup,
		ExtraZones: []string{deepZone},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return world{bind: b, server: s}
}

// solver is a service principal's, its secret in Secret "azure" key
// "client-secret".
func solver() *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{AzureDNS: &certflowv1.ACMEIssuerDNS01ProviderAzureDNS{
		ClientID: clientID, TenantID: tenantID,
		ClientSecret:   &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "azure"}, Key: "client-secret"},
		SubscriptionID: subscriptionID, ResourceGroupName: resourceGroup,
	}}
}

func secrets(secret string) dnstest.Secrets {
	return dnstest.Secrets{"azure": {"client-secret": secret}}
}

func (w world) build(t *testing.T, s *certflowv1.ACMEChallengeSolverDNS01, secret string) certflowdns.Provider {
	t.Helper()
	return dnstest.BuildWith(t, dns01.Providers, s, certflowdns.Setup{Credentials: secrets(secret), Endpoint: w.server.URL})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	w := start(t)
	dnstest.Run(t, dnstest.Subject{
		Provider: w.build(t, solver(), clientSecret),
		Zone:     w.bind.Zone + ".",
		TXT: func(_ context.Context, fqdn string) ([]string, error) {
			return dnstest.TXTValues(t, w.bind.Addr, fqdn), nil
		},
		Refused: w.build(t, solver(), "wrong secret"),
		Silent: dnstest.BuildWith(t, dns01.Providers, solver(), certflowdns.Setup{
			Credentials: secrets(clientSecret), Endpoint: "https://" + dnstest.Silent(t),
		}),
	})
}

func TestRefusalsArePermanentInAzuresWords(t *testing.T) {
	t.Parallel()
	w := start(t)
	rec := func() certflowdns.TXT {
		return certflowdns.TXT{FQDN: fmt.Sprintf("_acme-challenge.refused-%d.%s.", time.Now().UnixNano(), w.bind.Zone), Value: "v"}
	}
	withZone := func(zone string) *certflowv1.ACMEChallengeSolverDNS01 {
		s := solver()
		s.AzureDNS.HostedZoneName = zone
		return s
	}
	withGroup := solver()
	withGroup.AzureDNS.ResourceGroupName = "other-rg"
	cases := []struct {
		name    string
		solver  *certflowv1.ACMEChallengeSolverDNS01
		secret  string
		forbid  bool
		fqdn    string
		want    string
		present bool
	}{
		{name: "a wrong client secret gives Entra ID's AADSTS7000215", solver: solver(), secret: "wrong",
			want: "Microsoft Entra ID answered 401 invalid_client: AADSTS7000215: Invalid client secret provided"},
		{name: "a principal without a role on the zone gives AuthorizationFailed", solver: solver(), secret: clientSecret, forbid: true,
			want: "answered 403 AuthorizationFailed: The client '" + clientID + "'"},
		{name: "a hostedZoneName that is not there gives ParentResourceNotFound", solver: withZone("missing.test"), secret: clientSecret,
			fqdn: "_acme-challenge.www.missing.test.", want: "ParentResourceNotFound: Can not perform requested operation on nested resource. Parent resource 'missing.test' not found."},
		{name: "a resource group that is not there gives ResourceGroupNotFound", solver: withGroup, secret: clientSecret,
			want: "ResourceGroupNotFound: Resource group 'other-rg' could not be found."},
		{name: "a name outside the hostedZoneName is refused before any call", solver: withZone(deepZone), secret: clientSecret,
			want: "is not in zone " + deepZone + " (hostedZoneName)"},
		{name: "a name in no zone of the resource group says so", solver: solver(), secret: clientSecret,
			fqdn: "_acme-challenge.www.example.invalid.", want: "no zone in resource group dns-rg of subscription " + subscriptionID + " holds _acme-challenge.www.example.invalid."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.server.Forbid(tc.forbid)
			defer w.server.Forbid(false)
			r := rec()
			if tc.fqdn != "" {
				r.FQDN = tc.fqdn
			}
			_, err := w.build(t, tc.solver, tc.secret).Present(context.Background(), r)
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Present error = %v, want a permanent one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), clientSecret) || strings.Contains(err.Error(), "Trace ID") {
				t.Fatalf("error %q holds the secret or Entra ID's trace", err)
			}
			if got := dnstest.TXTValues(t, w.bind.Addr, r.FQDN); len(got) != 0 {
				t.Fatalf("a refused Present left TXT %v", got)
			}
		})
	}
}

func TestTheWorkersOwnIdentityNeedsAmbientPermission(t *testing.T) {
	for name, spec := range map[string]*certflowv1.ACMEIssuerDNS01ProviderAzureDNS{
		"managedIdentity":       {SubscriptionID: subscriptionID, ResourceGroupName: resourceGroup, ManagedIdentity: &certflowv1.AzureManagedIdentity{ClientID: clientID}},
		"without clientID":      {SubscriptionID: subscriptionID, ResourceGroupName: resourceGroup},
		"managedIdentity by ID": {SubscriptionID: subscriptionID, ResourceGroupName: resourceGroup, ManagedIdentity: &certflowv1.AzureManagedIdentity{ResourceID: "/subscriptions/x/identity"}},
	} {
		t.Run(name, func(t *testing.T) {
			s := &certflowv1.ACMEChallengeSolverDNS01{AzureDNS: spec}
			_, err := azuredns.Kind.New(context.Background(), s, certflowdns.Setup{Credentials: dnstest.Secrets{}, AmbientCredentials: false})
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "--issuer-ambient-credentials") {
				t.Fatalf("error = %v, want a permanent one naming --issuer-ambient-credentials", err)
			}
			if _, err := azuredns.Kind.New(context.Background(), s, certflowdns.Setup{Credentials: dnstest.Secrets{}, AmbientCredentials: true}); err != nil {
				t.Fatalf("with ambient credentials allowed: %v", err)
			}
		})
	}
}

func TestSolversTheProviderDoesNotServeAreRefused(t *testing.T) {
	cases := map[string]struct {
		change func(*certflowv1.ACMEIssuerDNS01ProviderAzureDNS)
		want   string
	}{
		"a private zone":           {func(s *certflowv1.ACMEIssuerDNS01ProviderAzureDNS) { s.ZoneType = certflowv1.PrivateAzureZone }, "AzurePrivateZone is not served yet"},
		"the German cloud":         {func(s *certflowv1.ACMEIssuerDNS01ProviderAzureDNS) { s.Environment = certflowv1.AzureGermanCloud }, "AzureGermanCloud was retired"},
		"a half service principal": {func(s *certflowv1.ACMEIssuerDNS01ProviderAzureDNS) { s.TenantID = "" }, "clientID, clientSecretSecretRef and tenantID together"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := solver()
			tc.change(s.AzureDNS)
			_, err := azuredns.Kind.New(context.Background(), s, certflowdns.Setup{Credentials: secrets(clientSecret), Endpoint: "https://127.0.0.1:1"})
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a permanent one containing %q", err, tc.want)
			}
		})
	}
}

// TestTheZoneIsTheMostSpecificOneThatHoldsTheName: the resource group
// holds certflow.test and deep.certflow.test; each name goes to the zone
// nearest to it, found by asking ARM for each suffix in turn.
func TestTheZoneIsTheMostSpecificOneThatHoldsTheName(t *testing.T) {
	t.Parallel()
	w := start(t)
	p := w.build(t, solver(), clientSecret)
	ctx := context.Background()
	for fqdn, want := range map[string]string{
		"_acme-challenge.www." + deepZone + ".":      deepZone + ".",
		"_acme-challenge.www." + w.bind.Zone + ".":   w.bind.Zone + ".",
		"_acme-challenge.a.b.c." + w.bind.Zone + ".": w.bind.Zone + ".",
	} {
		rec := certflowdns.TXT{FQDN: fqdn, Value: "walk"}
		zone, err := p.Present(ctx, rec)
		if err != nil || zone != want {
			t.Fatalf("Present(%s) = %q, %v; want zone %q", fqdn, zone, err, want)
		}
		if err := p.CleanUp(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	var created []string
	for _, r := range w.server.Requests() {
		if r.Action == "create" {
			created = append(created, r.Zone+" "+r.Name)
		}
	}
	slices.Sort(created)
	want := []string{
		deepZone + " _acme-challenge.www." + deepZone + ".",
		w.bind.Zone + " _acme-challenge.a.b.c." + w.bind.Zone + ".",
		w.bind.Zone + " _acme-challenge.www." + w.bind.Zone + ".",
	}
	slices.Sort(want)
	if !slices.Equal(created, want) {
		t.Fatalf("created %q, want %q", created, want)
	}
}

// TestAnotherPartysValueStays: a record set someone else made keeps its
// value, in ARM and in BIND, through our Present and CleanUp, and is not
// deleted.
func TestAnotherPartysValueStays(t *testing.T) {
	t.Parallel()
	w := start(t)
	fqdn := "_acme-challenge.shared." + w.bind.Zone + "."
	other := w.build(t, solver(), clientSecret)
	ctx := context.Background()
	if _, err := other.Present(ctx, certflowdns.TXT{FQDN: fqdn, Value: "someone-elses-value", TTL: 300}); err != nil {
		t.Fatal(err)
	}
	ours := w.build(t, solver(), clientSecret)
	rec := certflowdns.TXT{FQDN: fqdn, Value: "our-value"}
	if _, err := ours.Present(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, fqdn); !slices.Equal(got, []string{"our-value", "someone-elses-value"}) {
		t.Fatalf("TXT %s = %v, want both values", fqdn, got)
	}
	if err := ours.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, fqdn); !slices.Equal(got, []string{"someone-elses-value"}) {
		t.Fatalf("TXT %s after our clean-up = %v, want the other value alone", fqdn, got)
	}
	for _, r := range w.server.Requests() {
		if r.Action == "deleteRecordSet" {
			t.Fatalf("the record set was deleted while it held another value: %+v", r)
		}
	}
}

// TestConcurrentChallengesForOneNameKeepBothValues: a wildcard and its
// apex present at the same name at once, both reading the record set before
// either writes; the etag makes the later write fail instead of dropping
// the earlier value, and a retry (the activity's, here the loop's) adds it.
func TestConcurrentChallengesForOneNameKeepBothValues(t *testing.T) {
	t.Parallel()
	w := start(t)
	fqdn := "_acme-challenge.race." + w.bind.Zone + "."
	ctx := context.Background()
	w.server.GatherReads(2)
	errs := make(chan error, 2)
	for _, v := range []string{"wildcard-value", "apex-value"} {
		go func() {
			p := w.build(t, solver(), clientSecret)
			var err error
			for range 5 {
				if _, err = p.Present(ctx, certflowdns.TXT{FQDN: fqdn, Value: v}); err == nil || certflowdns.IsPermanent(err) {
					break
				}
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, fqdn); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("TXT %s = %v, want both values", fqdn, got)
	}
	refused := 0
	for _, r := range w.server.Requests() {
		if r.Status == http.StatusPreconditionFailed {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d writes were refused for a stale etag, want 1 (the two reads did not meet?)", refused)
	}
}

// TestThrottlingIsWaitedOut: ARM's 429 is retried after its Retry-After,
// and when it lasts longer than the SDK's retries it is not permanent.
func TestThrottlingIsWaitedOut(t *testing.T) {
	t.Parallel()
	w := start(t)
	p := w.build(t, solver(), clientSecret)
	rec := certflowdns.TXT{FQDN: "_acme-challenge.throttled." + w.bind.Zone + ".", Value: "throttled-value"}

	w.server.Throttle(1, time.Second)
	start := time.Now()
	if _, err := p.Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("Present took %s, want at least the Retry-After of 1s", took)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v", rec.FQDN, got)
	}
	throttled := 0
	for _, r := range w.server.Requests() {
		if r.Status == 429 {
			throttled++
		}
	}
	if throttled != 1 {
		t.Fatalf("%d requests answered 429, want 1", throttled)
	}

	w.server.Throttle(100, time.Second)
	defer w.server.Throttle(0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	err := p.CleanUp(ctx, rec)
	if err == nil || certflowdns.IsPermanent(err) {
		t.Fatalf("CleanUp while throttled = %v, want an error that may pass on a retry", err)
	}
}

// TestARoleScopedToTheZoneFindsIt: a principal whose role is on its zone
// alone is refused (403) the names below the zone, as ARM checks
// authorization before existence; the walk goes on past them to the zone.
// When no zone it may see holds the name, the error says which were
// refused, in ARM's words.
func TestARoleScopedToTheZoneFindsIt(t *testing.T) {
	t.Parallel()
	w := start(t)
	p := w.build(t, solver(), clientSecret)
	ctx := context.Background()
	rec := certflowdns.TXT{FQDN: "_acme-challenge.www." + w.bind.Zone + ".", Value: "scoped"}

	w.server.ScopeTo(w.bind.Zone)
	zone, err := p.Present(ctx, rec)
	if err != nil || zone != w.bind.Zone+"." {
		t.Fatalf("Present = %q, %v; want zone %s.", zone, err, w.bind.Zone)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q", rec.FQDN, got, rec.Value)
	}
	if err := p.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, r := range w.server.Requests() {
		if r.Action == "getZone" && r.Status == http.StatusForbidden {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no zone lookup was refused: the stand-in did not scope the role")
	}

	w.server.ScopeTo("elsewhere.test")
	defer w.server.ScopeTo()
	_, err = p.Present(ctx, rec)
	want := "ARM refused to show _acme-challenge.www." + w.bind.Zone + ", www." + w.bind.Zone + ", " + w.bind.Zone
	if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), "answered 403 AuthorizationFailed: The client '"+clientID+"'") {
		t.Fatalf("Present with no zone in sight = %v, want a permanent error containing %q and ARM's message", err, want)
	}
}

// TestNoIdentityIsPermanent: a credential that finds no identity to sign in
// with, and asks nothing that answers, fails the same way on every retry;
// one that cannot reach Entra ID may pass on a retry.
func TestNoIdentityIsPermanent(t *testing.T) {
	t.Parallel()
	endpoint := "https://127.0.0.1:1"
	unreachable, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: endpoint + "/"}}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cred      azcore.TokenCredential
		permanent bool
	}{
		{"no credential available", failingCredential{azidentity.NewCredentialUnavailableError("DefaultAzureCredential: no managed identity endpoint is available")}, true},
		{"authentication failed without a response", failingCredential{&azidentity.AuthenticationFailedError{}}, true},
		{"Entra ID out of reach", unreachable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := azuredns.New(azuredns.Config{SubscriptionID: subscriptionID, ResourceGroup: resourceGroup, Credential: tc.cred,
				Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: endpoint + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Endpoint: endpoint, Audience: "https://management.core.windows.net/"},
				}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.www.example.com.", Value: "v"})
			if err == nil || certflowdns.IsPermanent(err) != tc.permanent {
				t.Fatalf("Present error = %v (permanent %v), want permanent %v", err, certflowdns.IsPermanent(err), tc.permanent)
			}
		})
	}
}

// failingCredential fails every token request with err.
type failingCredential struct{ err error }

func (c failingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, c.err
}

// TestWorkloadIdentity: a managedIdentity on a worker with a workload
// identity (AZURE_FEDERATED_TOKEN_FILE, as Azure's webhook sets it) signs
// in with that token as a client assertion, where an issuer may use the
// worker's identity; a token Entra ID does not know is refused for good.
func TestWorkloadIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b, bind := dnstest.StartBIND(t)
	const federated = "eyJ.workload-identity-token.sig"
	s, err := standinazure.Start(standinazure.Options{
		BIND:     bind,
		TenantID: tenantID, ClientID: clientID, FederatedToken: federated,
		SubscriptionID: subscriptionID, ResourceGroup: resourceGroup,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	mi := &certflowv1.ACMEChallengeSolverDNS01{AzureDNS: &certflowv1.ACMEIssuerDNS01ProviderAzureDNS{
		ManagedIdentity: &certflowv1.AzureManagedIdentity{ClientID: clientID, TenantID: tenantID},
		SubscriptionID:  subscriptionID, ResourceGroupName: resourceGroup,
	}}
	setup := certflowdns.Setup{Credentials: dnstest.Secrets{}, Endpoint: s.URL, AmbientCredentials: true}
	rec := certflowdns.TXT{FQDN: "_acme-challenge.workload." + b.Zone + ".", Value: "workload-value"}

	if err := os.WriteFile(tokenFile, []byte("not the federated token"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = dnstest.BuildWith(t, dns01.Providers, mi, setup).Present(ctx, rec)
	if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "AADSTS700213") {
		t.Fatalf("Present with a token Entra ID does not know = %v, want a permanent AADSTS700213", err)
	}
	if err := os.WriteFile(tokenFile, []byte(federated), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dnstest.BuildWith(t, dns01.Providers, mi, setup).Present(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT = %v", got)
	}
}
