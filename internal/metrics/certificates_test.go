package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/connect"
)

func TestCertificates(t *testing.T) {
	scheme, err := connect.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	notBefore := metav1.NewTime(time.Unix(1_700_000_000, 0))
	notAfter := metav1.NewTime(time.Unix(1_707_776_000, 0))
	renewal := metav1.NewTime(time.Unix(1_705_184_000, 0))
	issued := &v1alpha1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "www"},
		Spec:       v1alpha1.CertificateSpec{IssuerRef: v1alpha1.ObjectReference{Name: "le", Kind: "ClusterIssuer", Group: "certflow.dev"}},
		Status: v1alpha1.CertificateStatus{
			NotBefore: &notBefore, NotAfter: &notAfter, RenewalTime: &renewal,
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}},
		},
	}
	failing := &v1alpha1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "api"},
		Spec:       v1alpha1.CertificateSpec{IssuerRef: v1alpha1.ObjectReference{Name: "ca"}},
		Status:     v1alpha1.CertificateStatus{Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}}},
	}
	fresh := &v1alpha1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "new"}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(issued, failing, fresh).Build()

	want := func(prefix string) string {
		return `
# HELP PREFIXcertificate_expiration_timestamp_seconds The timestamp after which the certificate expires, expressed in Unix Epoch Time.
# TYPE PREFIXcertificate_expiration_timestamp_seconds gauge
PREFIXcertificate_expiration_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 0
PREFIXcertificate_expiration_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 0
PREFIXcertificate_expiration_timestamp_seconds{issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 1.707776e+09
# HELP PREFIXcertificate_ready_status The ready status of the certificate.
# TYPE PREFIXcertificate_ready_status gauge
PREFIXcertificate_ready_status{condition="False",issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 0
PREFIXcertificate_ready_status{condition="False",issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 1
PREFIXcertificate_ready_status{condition="False",issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 0
PREFIXcertificate_ready_status{condition="True",issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 0
PREFIXcertificate_ready_status{condition="True",issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 0
PREFIXcertificate_ready_status{condition="True",issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 1
PREFIXcertificate_ready_status{condition="Unknown",issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 1
PREFIXcertificate_ready_status{condition="Unknown",issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 0
PREFIXcertificate_ready_status{condition="Unknown",issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 0
# HELP PREFIXcertificate_renewal_timestamp_seconds The timestamp after which the certificate should be renewed, expressed in Unix Epoch Time.
# TYPE PREFIXcertificate_renewal_timestamp_seconds gauge
PREFIXcertificate_renewal_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 0
PREFIXcertificate_renewal_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 0
PREFIXcertificate_renewal_timestamp_seconds{issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 1.705184e+09
# HELP PREFIXcertificate_not_before_timestamp_seconds The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.
# TYPE PREFIXcertificate_not_before_timestamp_seconds gauge
PREFIXcertificate_not_before_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="",name="new",namespace="web"} 0
PREFIXcertificate_not_before_timestamp_seconds{issuer_group="",issuer_kind="",issuer_name="ca",name="api",namespace="web"} 0
PREFIXcertificate_not_before_timestamp_seconds{issuer_group="certflow.dev",issuer_kind="ClusterIssuer",issuer_name="le",name="www",namespace="web"} 1.7e+09
`
	}
	names := func(prefix string) []string {
		return []string{prefix + CertificateExpiration, prefix + CertificateReady, prefix + CertificateRenewal, prefix + CertificateNotBefore}
	}
	render := func(prefix string) string { return strings.ReplaceAll(want(prefix), "PREFIX", prefix) }

	t.Run("certflow's names only without the flag", func(t *testing.T) {
		c := NewCertificates(kube, false)
		if err := testutil.CollectAndCompare(c, strings.NewReader(render(Prefix)), names(Prefix)...); err != nil {
			t.Error(err)
		}
		if n := testutil.CollectAndCount(c, names(CertManagerPrefix)...); n != 0 {
			t.Errorf("%d series under cert-manager's names, want 0", n)
		}
	})
	t.Run("cert-manager's names too with it", func(t *testing.T) {
		c := NewCertificates(kube, true)
		for _, p := range []string{Prefix, CertManagerPrefix} {
			if err := testutil.CollectAndCompare(c, strings.NewReader(render(p)), names(p)...); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Errorf("gathering with a pedantic registry: %v", err)
		}
	})
}
