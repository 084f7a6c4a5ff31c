package certificates

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

func TestIssuerOf(t *testing.T) {
	cases := []struct {
		name    string
		ref     v1alpha1.ObjectReference
		want    activities.IssuerRef
		wantErr bool
	}{
		{"an unset kind is an Issuer in the Certificate's namespace",
			v1alpha1.ObjectReference{Name: "le"},
			activities.IssuerRef{Kind: "Issuer", Namespace: "shop", Name: "le"}, false},
		{"a ClusterIssuer has no namespace",
			v1alpha1.ObjectReference{Name: "le", Kind: "ClusterIssuer", Group: "certflow.dev"},
			activities.IssuerRef{Kind: "ClusterIssuer", Name: "le"}, false},
		{"group cert-manager.io is read as certflow.dev",
			v1alpha1.ObjectReference{Name: "le", Kind: "Issuer", Group: "cert-manager.io"},
			activities.IssuerRef{Kind: "Issuer", Namespace: "shop", Name: "le"}, false},
		{"an external issuer's group is refused",
			v1alpha1.ObjectReference{Name: "le", Kind: "Issuer", Group: "awspca.cert-manager.io"},
			activities.IssuerRef{}, true},
		{"an unknown kind is refused",
			v1alpha1.ObjectReference{Name: "le", Kind: "AWSPCAIssuer"},
			activities.IssuerRef{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := &v1alpha1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
			cert.Spec.IssuerRef = tc.ref
			got, err := IssuerOf(cert)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSpecOf(t *testing.T) {
	issuer := activities.IssuerRef{Kind: "ClusterIssuer", Name: "le"}
	pct := int32(25)
	cases := []struct {
		name string
		spec v1alpha1.CertificateSpec
		want activities.CertificateSpec
	}{
		{
			name: "a minimal spec carries its names and leaves the rest for the workflow to default",
			spec: v1alpha1.CertificateSpec{DNSNames: []string{"web.example.test"}, SecretName: "web-tls"},
			want: activities.CertificateSpec{
				Generation: 3,
				Issuer:     issuer,
				Request:    activities.Request{DNSNames: []string{"web.example.test"}, SecretName: "web-tls"},
			},
		},
		{
			name: "every field of the spec is carried over",
			spec: v1alpha1.CertificateSpec{
				CommonName:            "web.example.test",
				DNSNames:              []string{"web.example.test", "*.web.example.test"},
				IPAddresses:           []string{"192.0.2.10"},
				URIs:                  []string{"spiffe://example.test/web"},
				EmailAddresses:        []string{"ops@example.test"},
				Duration:              &metav1.Duration{Duration: 48 * time.Hour},
				RenewBeforePercentage: &pct,
				IsCA:                  true,
				Usages:                []v1alpha1.KeyUsage{v1alpha1.UsageServerAuth, v1alpha1.UsageCertSign},
				PrivateKey: &v1alpha1.CertificatePrivateKey{
					Algorithm: v1alpha1.ECDSAKeyAlgorithm, Size: 384,
					Encoding: v1alpha1.PKCS8, RotationPolicy: v1alpha1.RotationPolicyAlways,
				},
				SecretName: "web-tls",
				SecretTemplate: &v1alpha1.CertificateSecretTemplate{
					Labels:      map[string]string{"team": "shop"},
					Annotations: map[string]string{"reflector/allowed": "true"},
				},
				AdditionalOutputFormats: []v1alpha1.CertificateAdditionalOutputFormat{
					{Type: v1alpha1.CertificateOutputFormatDER}, {Type: v1alpha1.CertificateOutputFormatCombinedPEM},
				},
			},
			want: activities.CertificateSpec{
				Generation: 3,
				Issuer:     issuer,
				Request: activities.Request{
					CommonName:              "web.example.test",
					DNSNames:                []string{"web.example.test", "*.web.example.test"},
					IPAddresses:             []string{"192.0.2.10"},
					URIs:                    []string{"spiffe://example.test/web"},
					EmailAddresses:          []string{"ops@example.test"},
					Duration:                48 * time.Hour,
					IsCA:                    true,
					Usages:                  []string{"server auth", "cert sign"},
					PrivateKey:              activities.KeySpec{Algorithm: "ECDSA", Size: 384, Encoding: "PKCS8", RotationPolicy: "Always"},
					SecretName:              "web-tls",
					SecretLabels:            map[string]string{"team": "shop"},
					SecretAnnotations:       map[string]string{"reflector/allowed": "true"},
					AdditionalOutputFormats: []string{"DER", "CombinedPEM"},
				},
				RenewBeforePercentage: 25,
			},
		},
		{
			name: "renewBefore becomes a duration",
			spec: v1alpha1.CertificateSpec{CommonName: "a.example.test", SecretName: "a", RenewBefore: &metav1.Duration{Duration: 720 * time.Hour}},
			want: activities.CertificateSpec{
				Generation:  3,
				Issuer:      issuer,
				Request:     activities.Request{CommonName: "a.example.test", SecretName: "a"},
				RenewBefore: 720 * time.Hour,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := &v1alpha1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 3}, Spec: tc.spec}
			got := SpecOf(cert, issuer, nil)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("SpecOf:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestASpecSharesNoMemoryWithTheCertificate(t *testing.T) {
	cert := &v1alpha1.Certificate{Spec: v1alpha1.CertificateSpec{
		DNSNames:       []string{"a.example.test"},
		SecretTemplate: &v1alpha1.CertificateSecretTemplate{Labels: map[string]string{"team": "shop"}},
	}}
	got := SpecOf(cert, activities.IssuerRef{}, nil)
	cert.Spec.DNSNames[0] = "changed.example.test"
	cert.Spec.SecretTemplate.Labels["team"] = "changed"
	if got.Request.DNSNames[0] != "a.example.test" || got.Request.SecretLabels["team"] != "shop" {
		t.Fatalf("the spec changed with the Certificate: %+v", got.Request)
	}
}

func TestKeystoresOf(t *testing.T) {
	inline, alias := "an inline password of the test", "web"
	ref := &v1alpha1.KeystorePasswordSecretRef{Name: "web-keystore", Key: "password"}
	cases := []struct {
		name string
		in   *v1alpha1.CertificateKeystores
		want *activities.Keystores
	}{
		{"no keystores is nil", nil, nil},
		{"keystores that create nothing are nil",
			&v1alpha1.CertificateKeystores{PKCS12: &v1alpha1.PKCS12Keystore{Create: false, Password: &inline}}, nil},
		{"a PKCS#12 keystore says its profile and its password's Secret",
			&v1alpha1.CertificateKeystores{PKCS12: &v1alpha1.PKCS12Keystore{Create: true, Profile: v1alpha1.PKCS12ProfileLegacyDES, PasswordSecretRef: ref}},
			&activities.Keystores{PKCS12: &activities.Keystore{Profile: "LegacyDES", PasswordSecret: "web-keystore", PasswordKey: "password"}}},
		{"an inline password is only a flag",
			&v1alpha1.CertificateKeystores{JKS: &v1alpha1.JKSKeystore{Create: true, Alias: &alias, Password: &inline}},
			&activities.Keystores{JKS: &activities.Keystore{Alias: "web", PasswordInline: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := &v1alpha1.Certificate{Spec: v1alpha1.CertificateSpec{SecretName: "web-tls", Keystores: tc.in}}
			got := RequestOf(cert)
			if !reflect.DeepEqual(got.Keystores, tc.want) {
				t.Fatalf("Keystores:\n got %+v\nwant %+v", got.Keystores, tc.want)
			}
			if strings.Contains(fmt.Sprintf("%+v", got), inline) {
				t.Fatalf("the request holds the inline password: %+v", got)
			}
		})
	}
}

func TestAKeystoreChangeIsAnotherRequest(t *testing.T) {
	base := activities.Request{SecretName: "web-tls"}
	withP12 := base
	withP12.Keystores = &activities.Keystores{PKCS12: &activities.Keystore{PasswordInline: true}}
	otherProfile := base
	otherProfile.Keystores = &activities.Keystores{PKCS12: &activities.Keystore{Profile: "LegacyRC2", PasswordInline: true}}
	empty := base
	empty.Keystores = &activities.Keystores{}
	switch {
	case sameRequest(base, withP12):
		t.Error("adding a keystore is the same request")
	case sameRequest(withP12, otherProfile):
		t.Error("another profile is the same request")
	case !sameRequest(base, empty):
		t.Error("no keystores and empty keystores differ")
	}
}
