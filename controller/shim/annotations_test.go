package shim

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/api/v1alpha1"
)

func TestIssuerRef(t *testing.T) {
	withDefault := Options{CertManagerAnnotations: true, DefaultIssuer: v1alpha1.ObjectReference{Name: "le", Kind: v1alpha1.ClusterIssuerKind}}
	certflowOnly := Options{DefaultIssuer: withDefault.DefaultIssuer}
	for _, c := range []struct {
		name        string
		opts        Options
		annotations map[string]string
		tlsACME     bool
		want        v1alpha1.ObjectReference
		annotated   bool
		err         string // a part of the error; "" for none
	}{
		{name: "no annotation asks for nothing", opts: withDefault, annotations: map[string]string{"other": "x"}},
		{name: "certflow.dev/cluster-issuer names a ClusterIssuer", opts: certflowOnly,
			annotations: map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			want:        v1alpha1.ObjectReference{Name: "pebble", Kind: "ClusterIssuer"}, annotated: true},
		{name: "certflow.dev/issuer names an Issuer", opts: certflowOnly,
			annotations: map[string]string{"certflow.dev/issuer": "ca"},
			want:        v1alpha1.ObjectReference{Name: "ca", Kind: "Issuer"}, annotated: true},
		{name: "cert-manager.io/cluster-issuer names a ClusterIssuer with the flag on", opts: withDefault,
			annotations: map[string]string{"cert-manager.io/cluster-issuer": "le"},
			want:        v1alpha1.ObjectReference{Name: "le", Kind: "ClusterIssuer"}, annotated: true},
		{name: "cert-manager.io/cluster-issuer is ignored with the flag off", opts: certflowOnly,
			annotations: map[string]string{"cert-manager.io/cluster-issuer": "le"}},
		{name: "certflow's issuer wins over cert-manager's", opts: withDefault,
			annotations: map[string]string{"cert-manager.io/cluster-issuer": "old", "certflow.dev/issuer": "new", "cert-manager.io/issuer-kind": "ClusterIssuer"},
			want:        v1alpha1.ObjectReference{Name: "new", Kind: "Issuer"}, annotated: true},
		{name: "issuer-kind and issuer-group change an issuer's", opts: withDefault,
			annotations: map[string]string{"cert-manager.io/issuer": "le", "cert-manager.io/issuer-kind": "ClusterIssuer", "cert-manager.io/issuer-group": "cert-manager.io"},
			want:        v1alpha1.ObjectReference{Name: "le", Kind: "ClusterIssuer", Group: "cert-manager.io"}, annotated: true},
		{name: "issuer and cluster-issuer together are refused", opts: withDefault,
			annotations: map[string]string{"certflow.dev/issuer": "a", "certflow.dev/cluster-issuer": "b"},
			annotated:   true, err: `annotation certflow.dev/cluster-issuer: "b" is set together with certflow.dev/issuer`},
		{name: "issuer-kind with cluster-issuer is refused", opts: withDefault,
			annotations: map[string]string{"certflow.dev/cluster-issuer": "a", "certflow.dev/issuer-kind": "Issuer"},
			annotated:   true, err: `annotation certflow.dev/issuer-kind: "Issuer" is set together with certflow.dev/cluster-issuer`},
		{name: "an issuer kind certflow does not serve is refused", opts: withDefault,
			annotations: map[string]string{"cert-manager.io/issuer": "pca", "cert-manager.io/issuer-kind": "AWSPCAIssuer"},
			annotated:   true, err: `annotation cert-manager.io/issuer-kind: "AWSPCAIssuer" is not an issuer kind certflow serves`},
		{name: "an issuer group certflow does not serve is refused", opts: withDefault,
			annotations: map[string]string{"cert-manager.io/issuer": "pca", "cert-manager.io/issuer-group": "awspca.cert-manager.io"},
			annotated:   true, err: `annotation cert-manager.io/issuer-group: "awspca.cert-manager.io" is not an issuer group`},
		{name: "an empty cluster-issuer is refused", opts: withDefault,
			annotations: map[string]string{"certflow.dev/cluster-issuer": ""},
			annotated:   true, err: `annotation certflow.dev/cluster-issuer: "" is empty`},
		{name: "kubernetes.io/tls-acme asks for the default issuer", opts: withDefault, tlsACME: true,
			annotations: map[string]string{"kubernetes.io/tls-acme": "true"},
			want:        v1alpha1.ObjectReference{Name: "le", Kind: "ClusterIssuer"}, annotated: true},
		{name: "kubernetes.io/tls-acme false asks for nothing", opts: withDefault, tlsACME: true,
			annotations: map[string]string{"kubernetes.io/tls-acme": "false"}},
		{name: "kubernetes.io/tls-acme is not read on a Gateway", opts: withDefault,
			annotations: map[string]string{"kubernetes.io/tls-acme": "true"}},
		{name: "kubernetes.io/tls-acme is ignored with the flag off", opts: certflowOnly, tlsACME: true,
			annotations: map[string]string{"kubernetes.io/tls-acme": "true"}},
		{name: "kubernetes.io/tls-acme without a default issuer is refused", opts: Options{CertManagerAnnotations: true}, tlsACME: true,
			annotations: map[string]string{"kubernetes.io/tls-acme": "true"},
			annotated:   true, err: "--default-issuer-name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, annotated, err := c.opts.issuerRef(c.annotations, c.tlsACME)
			if annotated != c.annotated {
				t.Errorf("annotated %v, want %v", annotated, c.annotated)
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("issuer %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTune(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	for _, c := range []struct {
		name        string
		annotations map[string]string
		want        v1alpha1.CertificateSpec
		errs        []string // each a part of the error
	}{
		{name: "no tuning annotation changes nothing", annotations: map[string]string{"certflow.dev/cluster-issuer": "x"}},
		{name: "every tuning annotation lands in the spec", annotations: map[string]string{
			"certflow.dev/common-name":                 "web.example.com",
			"certflow.dev/duration":                    "720h",
			"certflow.dev/renew-before":                "1h30m",
			"certflow.dev/usages":                      "digital signature, server auth,client auth",
			"certflow.dev/private-key-algorithm":       "ECDSA",
			"certflow.dev/private-key-size":            "384",
			"certflow.dev/private-key-rotation-policy": "Never",
			"certflow.dev/revision-history-limit":      "3",
		}, want: v1alpha1.CertificateSpec{
			CommonName:           "web.example.com",
			Duration:             &metav1.Duration{Duration: 720 * time.Hour},
			RenewBefore:          &metav1.Duration{Duration: 90 * time.Minute},
			Usages:               []v1alpha1.KeyUsage{"digital signature", "server auth", "client auth"},
			PrivateKey:           &v1alpha1.CertificatePrivateKey{Algorithm: "ECDSA", Size: 384, RotationPolicy: "Never"},
			RevisionHistoryLimit: i32(3),
		}},
		{name: "cert-manager's names are read too", annotations: map[string]string{
			"cert-manager.io/duration": "2h", "cert-manager.io/private-key-size": "4096",
		}, want: v1alpha1.CertificateSpec{Duration: &metav1.Duration{Duration: 2 * time.Hour}, PrivateKey: &v1alpha1.CertificatePrivateKey{Size: 4096}}},
		{name: "certflow's value wins over cert-manager's", annotations: map[string]string{
			"cert-manager.io/duration": "2h", "certflow.dev/duration": "3h",
		}, want: v1alpha1.CertificateSpec{Duration: &metav1.Duration{Duration: 3 * time.Hour}}},
		{name: "a duration that is not one is refused", annotations: map[string]string{"certflow.dev/duration": "abc"},
			errs: []string{`annotation certflow.dev/duration: "abc" is not a duration`}},
		{name: "a duration under an hour is refused", annotations: map[string]string{"certflow.dev/duration": "30m"},
			errs: []string{`"30m" is shorter than 1h`}},
		{name: "renew-before as long as the default duration is refused", annotations: map[string]string{"certflow.dev/renew-before": "2160h"},
			errs: []string{`annotation certflow.dev/renew-before: "2160h" is not shorter than the duration (2160h0m0s)`}},
		{name: "renew-before longer than the duration set is refused", annotations: map[string]string{"certflow.dev/duration": "2h", "certflow.dev/renew-before": "3h"},
			errs: []string{`"3h" is not shorter than the duration (2h0m0s)`}},
		{name: "renew-before under 5m is refused", annotations: map[string]string{"certflow.dev/renew-before": "1m"},
			errs: []string{`"1m" is shorter than 5m`}},
		{name: "an unknown usage is refused and named", annotations: map[string]string{"certflow.dev/usages": "server auth, teleport"},
			errs: []string{`annotation certflow.dev/usages: "server auth, teleport" names "teleport", which is not a key usage`}},
		{name: "a key size that is not a number is refused", annotations: map[string]string{"cert-manager.io/private-key-size": "big"},
			errs: []string{`annotation cert-manager.io/private-key-size: "big" is not a number of bits`}},
		{name: "an RSA size certflow does not make is refused", annotations: map[string]string{"certflow.dev/private-key-size": "1024"},
			errs: []string{`"1024" is not a size of an RSA key: 2048, 3072, 4096 or 8192`}},
		{name: "an ECDSA size is checked against ECDSA's", annotations: map[string]string{"certflow.dev/private-key-algorithm": "ECDSA", "certflow.dev/private-key-size": "2048"},
			errs: []string{`"2048" is not a size of an ECDSA key: 256, 384 or 521`}},
		{name: "a size for an Ed25519 key is refused", annotations: map[string]string{"certflow.dev/private-key-algorithm": "Ed25519", "certflow.dev/private-key-size": "256"},
			errs: []string{`whose size is fixed`}},
		{name: "an unknown algorithm is refused", annotations: map[string]string{"certflow.dev/private-key-algorithm": "rsa"},
			errs: []string{`annotation certflow.dev/private-key-algorithm: "rsa" is not a private key algorithm`}},
		{name: "an unknown rotation policy is refused", annotations: map[string]string{"certflow.dev/private-key-rotation-policy": "Sometimes"},
			errs: []string{`"Sometimes" is not a rotation policy`}},
		{name: "a revision history limit of 0 is refused", annotations: map[string]string{"certflow.dev/revision-history-limit": "0"},
			errs: []string{`annotation certflow.dev/revision-history-limit: "0" is not a number of revisions of at least 1`}},
		{name: "a common name over 64 characters is refused", annotations: map[string]string{"certflow.dev/common-name": strings.Repeat("a", 65)},
			errs: []string{"longer than the 64 characters"}},
		{name: "every bad value is named at once", annotations: map[string]string{"certflow.dev/duration": "abc", "certflow.dev/private-key-size": "x"},
			errs: []string{"certflow.dev/duration", "certflow.dev/private-key-size"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{CertManagerAnnotations: true}
			var spec v1alpha1.CertificateSpec
			err := opts.annotationsOf(c.annotations).tune(&spec)
			if len(c.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !equality.Semantic.DeepEqual(spec, c.want) {
					t.Errorf("spec %+v, want %+v", spec, c.want)
				}
				return
			}
			for _, e := range c.errs {
				if err == nil || !strings.Contains(err.Error(), e) {
					t.Errorf("error %v, want one with %q", err, e)
				}
			}
		})
	}
}
