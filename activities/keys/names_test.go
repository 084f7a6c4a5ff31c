package keys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
)

// TestALongCertificateNameGetsItsPendingKey: object names may have 253
// characters and label values 63, and the pending key Secret's name adds a
// suffix to the Certificate's. The key is saved under a name the API server
// takes, labelled with the name's hash and annotated with the name, and a
// retry finds it.
func TestALongCertificateNameGetsItsPendingKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, 240} {
		in := issuance(t, strings.Repeat("certificate-", n/12+1)[:n-1]+"x", "long.certflow.test")
		first := mustEnsure(t, in)
		s := pendingSecret(t, in)
		if len(s.Name) > validation.DNS1123SubdomainMaxLength || first.Secret != s.Name {
			t.Fatalf("pending key Secret %q, result names %q", s.Name, first.Secret)
		}
		if s.Labels[activities.LabelCertificateName] != activities.CertificateLabelValue(in.Certificate.Name) ||
			s.Annotations[activities.AnnotationCertificateName] != in.Certificate.Name {
			t.Fatalf("pending key Secret labels %v annotations %v: want the hashed name and the name", s.Labels, s.Annotations)
		}
		if again := mustEnsure(t, in); again.PublicKeySHA256 != first.PublicKeySHA256 || pendingSecret(t, in).ResourceVersion != s.ResourceVersion {
			t.Fatal("a retry did not find the pending key")
		}
	}
}

// TestAPendingKeyTheAPIServerRefusesIsAConfigError: something in the
// cluster (here an admission policy) refuses the pending key Secret as
// invalid. Every retry would be refused the same way: the step fails for
// good with ErrTypeConfig and the API server's reason, not a retry storm.
func TestAPendingKeyTheAPIServerRefusesIsAConfigError(t *testing.T) {
	t.Parallel()
	in := issuance(t, "refused", "refused.certflow.test")
	refuseSecretsLabelled(t, map[string]string{activities.LabelCertificateName: in.Certificate.Name},
		"Secrets of this Certificate are not allowed here")

	_, err := ensure(t, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != activities.ErrTypeConfig ||
		!strings.Contains(err.Error(), "creating pending key Secret default/"+activities.PendingKeySecretName(in.Certificate.Name)+
			": the API server refuses it") ||
		!strings.Contains(err.Error(), "Secrets of this Certificate are not allowed here") {
		t.Fatalf("error = %v; want a non-retryable %s with the API server's reason", err, activities.ErrTypeConfig)
	}
}

// refuseSecretsLabelled makes a ValidatingAdmissionPolicy refuse, as
// invalid, every Secret write with these labels, and waits until it does.
func refuseSecretsLabelled(t *testing.T, labels map[string]string, message string) {
	t.Helper()
	name := unique("refuse-secrets")
	invalid := metav1.StatusReasonInvalid
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: message, Reason: &invalid}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources:    &admissionv1.MatchResources{ObjectSelector: &metav1.LabelSelector{MatchLabels: labels}},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := kube.Create(testContext(t), obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kube.Delete(context.Background(), obj) })
	}
	// The API server takes up a new policy within a second or so.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: labels}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := kube.Create(testContext(t), probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsInvalid(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy does not refuse Secrets yet: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
