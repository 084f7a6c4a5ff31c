package v1alpha1

import (
	"slices"
	"testing"
)

func TestIssuerSecretNames(t *testing.T) {
	spec := IssuerSpec{ACME: &ACMEIssuer{
		PrivateKey: SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "account"}},
		Solvers: []ACMEChallengeSolver{
			{DNS01: &ACMEChallengeSolverDNS01{RFC2136: &ACMEIssuerDNS01ProviderRFC2136{
				TSIGSecret: &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "tsig"}},
			}}},
			{DNS01: &ACMEChallengeSolverDNS01{Lego: &ACMEIssuerDNS01ProviderLego{
				Settings: LocalObjectReference{Name: "lego-settings"},
			}}},
			{DNS01: &ACMEChallengeSolverDNS01{RFC2136: &ACMEIssuerDNS01ProviderRFC2136{
				TSIGSecret: &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "tsig"}},
			}}},
		},
	}}
	if got, want := spec.SecretNames(), []string{"account", "lego-settings", "tsig"}; !slices.Equal(got, want) {
		t.Errorf("SecretNames() = %v, want %v", got, want)
	}
}
