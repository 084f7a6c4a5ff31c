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

func TestVaultIssuerSecretNames(t *testing.T) {
	ref := func(name string) *SecretKeySelector {
		return &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: name}}
	}
	for _, tc := range []struct {
		name string
		auth VaultAuth
		want []string
	}{
		{"a token issuer reads its token and CA bundle Secrets", VaultAuth{TokenSecretRef: ref("token")}, []string{"token", "vault-ca"}},
		{"an AppRole issuer reads its secret ID Secret", VaultAuth{AppRole: &VaultAppRole{SecretRef: *ref("approle")}}, []string{"approle", "vault-ca"}},
		{"a Kubernetes issuer reads its JWT Secret", VaultAuth{Kubernetes: &VaultKubernetesAuth{SecretRef: ref("jwt")}}, []string{"jwt", "vault-ca"}},
	} {
		spec := IssuerSpec{Vault: &VaultIssuer{Auth: tc.auth, CABundleSecretRef: ref("vault-ca")}}
		if got := spec.SecretNames(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: SecretNames() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
