// Package activitytest runs activities as a worker would, for the
// activities' own tests: in Temporal's test activity environment, so that
// heartbeats, error conversion and the encoding of inputs and results are
// Temporal's; and makes the Certificates their inputs must match.
package activitytest

import (
	"context"
	"testing"

	"go.temporal.io/sdk/testsuite"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Run registers the bindings and runs activity a with in.
func Run[In, Out any](t testing.TB, bindings []activities.Binding, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	return RunIn(t, Env(bindings), a, in)
}

// Env is a test activity environment with the bindings registered, for a
// test that sets more of it up (heartbeat details, a context) itself.
func Env(bindings []activities.Binding) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, bindings...)
	return env
}

// RunIn runs activity a with in, in env.
func RunIn[In, Out any](t testing.TB, env *testsuite.TestActivityEnvironment, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	var out Out
	val, err := env.ExecuteActivity(a.Name(), in)
	if err != nil {
		return out, err
	}
	if err := val.Get(&out); err != nil {
		t.Fatalf("decoding the result of %s: %v", a.Name(), err)
	}
	return out, nil
}

// Certificate is Certificate namespace/name asking for exactly req, issued
// by issuer: what the activities' checks compare an input with
// (activities/certificates.RequestOf reads it back as req).
func Certificate(namespace, name string, issuer activities.IssuerRef, req activities.Request) *certflowv1.Certificate {
	cert := &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: certflowv1.CertificateSpec{
			CommonName: req.CommonName, DNSNames: req.DNSNames, IPAddresses: req.IPAddresses, URIs: req.URIs,
			EmailAddresses: req.EmailAddresses, IsCA: req.IsCA, SecretName: req.SecretName,
			IssuerRef: certflowv1.ObjectReference{Kind: issuer.Kind, Name: issuer.Name},
		},
	}
	if req.Duration > 0 {
		cert.Spec.Duration = &metav1.Duration{Duration: req.Duration}
	}
	for _, u := range req.Usages {
		cert.Spec.Usages = append(cert.Spec.Usages, certflowv1.KeyUsage(u))
	}
	if k := req.PrivateKey; k != (activities.KeySpec{}) {
		cert.Spec.PrivateKey = &certflowv1.CertificatePrivateKey{
			Algorithm: certflowv1.PrivateKeyAlgorithm(k.Algorithm), Size: k.Size,
			Encoding: certflowv1.PrivateKeyEncoding(k.Encoding), RotationPolicy: certflowv1.PrivateKeyRotationPolicy(k.RotationPolicy),
		}
	}
	if req.SecretLabels != nil || req.SecretAnnotations != nil {
		cert.Spec.SecretTemplate = &certflowv1.CertificateSecretTemplate{Labels: req.SecretLabels, Annotations: req.SecretAnnotations}
	}
	for _, f := range req.AdditionalOutputFormats {
		cert.Spec.AdditionalOutputFormats = append(cert.Spec.AdditionalOutputFormats,
			certflowv1.CertificateAdditionalOutputFormat{Type: certflowv1.CertificateOutputFormatType(f)})
	}
	return cert
}

// ApplyCertificate creates Certificate(namespace, name, issuer, req), or
// updates the one there to it, and returns its reference.
func ApplyCertificate(t testing.TB, kube client.Client, namespace, name string, issuer activities.IssuerRef, req activities.Request) activities.CertificateRef {
	t.Helper()
	return ApplyCertificateWith(t, kube, namespace, name, issuer, req, func(*certflowv1.Certificate) {})
}

// ApplyCertificateWith is ApplyCertificate with the Certificate changed by
// change first (fields a Request does not carry, such as keystores).
func ApplyCertificateWith(t testing.TB, kube client.Client, namespace, name string, issuer activities.IssuerRef, req activities.Request, change func(*certflowv1.Certificate)) activities.CertificateRef {
	t.Helper()
	want := Certificate(namespace, name, issuer, req)
	change(want)
	var cur certflowv1.Certificate
	err := kube.Get(context.Background(), client.ObjectKeyFromObject(want), &cur)
	switch {
	case apierrors.IsNotFound(err):
		err = kube.Create(context.Background(), want)
	case err == nil:
		cur.Spec = want.Spec
		err = kube.Update(context.Background(), &cur)
	}
	if err != nil {
		t.Fatalf("applying Certificate %s/%s: %v", namespace, name, err)
	}
	return activities.CertificateRef{Namespace: namespace, Name: name}
}
