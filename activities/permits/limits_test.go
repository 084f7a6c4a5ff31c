package permits_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/permits"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestRegisteredDomains(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"a name under a registered domain counts against it", []string{"www.example.com"}, []string{"example.com"}},
		{"a wildcard counts against its registered domain", []string{"*.www.example.com", "example.com"}, []string{"example.com"}},
		{"a multi-label public suffix is followed", []string{"www.example.co.uk", "a.b.example.co.uk"}, []string{"example.co.uk"}},
		{"a private suffix of the list is followed, as Let's Encrypt does", []string{"web.alice.github.io", "bob.github.io"}, []string{"alice.github.io", "bob.github.io"}},
		{"a name that is a public suffix stands for itself", []string{"co.uk"}, []string{"co.uk"}},
		{"an IPv4 address stands for itself", []string{"192.0.2.7"}, []string{"192.0.2.7"}},
		{"an IPv6 address stands for its /64", []string{"2001:db8::1", "2001:db8::2"}, []string{"2001:db8::/64"}},
		{"each registered domain counts once, sorted", []string{"b.example.org", "a.example.com", "c.example.org"}, []string{"example.com", "example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := permits.RegisteredDomains(permits.Names(tc.names)); !slices.Equal(got, tc.want) {
				t.Fatalf("RegisteredDomains(%v) = %v, want %v", tc.names, got, tc.want)
			}
		})
	}
}

func TestScopeOfARateLimit(t *testing.T) {
	names := []string{"www.example.com", "api.example.com"}
	tests := []struct {
		name       string
		detail     string
		identifier string
		nameSet    []string
		guessed    bool
	}{
		{"new orders of the account hold the account",
			"too many new orders (300) from this account in the last 3h0m0s, retry after 2026-03-01T15:00:00Z", "", nil, false},
		{"a registered domain's certificates hold that domain",
			`too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after 2026-03-08 12:00:00 UTC`, "example.com", nil, false},
		{"a name's failed authorizations hold that name",
			`too many failed authorizations (5) for "www.example.com" in the last 1h0m0s`, "www.example.com", nil, false},
		{"duplicates hold the exact set of names",
			"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s", "", []string{"api.example.com", "www.example.com"}, false},
		{"a quoted name the order does not have holds the account, as a guess",
			`too many certificates (50) already issued for "other.test"`, "", nil, true},
		{"a detail it cannot read holds the account, as a guess", "slow down", "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, set, guessed := permits.Scope(tc.detail, names)
			if id != tc.identifier || !slices.Equal(set, tc.nameSet) || guessed != tc.guessed {
				t.Fatalf("Scope = %q, %v, %t; want %q, %v, %t", id, set, guessed, tc.identifier, tc.nameSet, tc.guessed)
			}
		})
	}
}

func TestLimitsAreTheCAsOwnWhereUnset(t *testing.T) {
	const letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"
	tests := []struct {
		name   string
		server string
		spec   *certflowv1.RateLimits
		want   activities.RateLimits
	}{
		{"Let's Encrypt's budgets fill what the issuer leaves unset", letsEncrypt,
			&certflowv1.RateLimits{DuplicateCertificates: limit(2, time.Hour)},
			activities.RateLimits{
				NewOrders:                       activities.RateLimit{Limit: 300, Period: 3 * time.Hour},
				CertificatesPerRegisteredDomain: activities.RateLimit{Limit: 50, Period: 168 * time.Hour},
				DuplicateCertificates:           activities.RateLimit{Limit: 2, Period: time.Hour},
				FailedValidations:               activities.RateLimit{Limit: 5, Period: time.Hour},
			}},
		{"a trailing slash names the same CA", letsEncrypt + "/", nil, permits.LetsEncrypt},
		{"a CA that publishes no limits gets no budgets", "https://pebble.certflow.test/dir", nil, activities.RateLimits{}},
		{"an unknown CA gets only the budgets the issuer sets", "https://pebble.certflow.test/dir",
			&certflowv1.RateLimits{FailedValidations: limit(3, time.Minute)},
			activities.RateLimits{FailedValidations: activities.RateLimit{Limit: 3, Period: time.Minute}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := permits.Limits(tc.server, tc.spec); got != tc.want {
				t.Fatalf("Limits = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCRDValidatesRateLimits applies issuers as a user would write them.
func TestCRDValidatesRateLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits map[string]any
		want   string // "" accepts
	}{
		{"Let's Encrypt's limits written out are accepted", map[string]any{
			"newOrders":                       map[string]any{"limit": int64(300), "period": "3h"},
			"certificatesPerRegisteredDomain": map[string]any{"limit": int64(50), "period": "168h"},
			"duplicateCertificates":           map[string]any{"limit": int64(5), "period": "168h"},
		}, ""},
		{"a limit of zero is refused", map[string]any{"newOrders": map[string]any{"limit": int64(0), "period": "3h"}},
			"spec.acme.rateLimits.newOrders.limit: Invalid value: 0: rateLimits limit must be at least 1"},
		{"a period that is not a Go duration is refused", map[string]any{"newOrders": map[string]any{"limit": int64(1), "period": "3 hours"}},
			"rateLimits period must be a Go duration such as 3h or 168h"},
		{"a period under a second is refused", map[string]any{"duplicateCertificates": map[string]any{"limit": int64(1), "period": "500ms"}},
			"rateLimits period must be at least 1s"},
		{"a budget without a period is refused", map[string]any{"newOrders": map[string]any{"limit": int64(1)}},
			"spec.acme.rateLimits.newOrders.period: Required value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": certflowv1.GroupVersion.String(), "kind": certflowv1.ClusterIssuerKind,
				"metadata": map[string]any{"name": unique("validation")},
				"spec": map[string]any{"acme": map[string]any{
					"server": "https://acme.certflow.test/dir", "privateKeySecretRef": map[string]any{"name": "account"},
					"rateLimits": tc.limits,
				}},
			}}
			err := kube.Create(testContext(t), u)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if err == nil {
				_ = kube.Delete(testContext(t), u)
			}
		})
	}
}
