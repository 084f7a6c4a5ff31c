package status

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func issuerSpec() certflowv1.IssuerSpec {
	return certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
		Server:     "https://acme.certflow.test/directory",
		PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "account"}},
	}}
}

func TestIssuerStatus(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name string
		obj  client.Object
		ref  activities.IssuerRef
		// eventNS is where the Event lands: a cluster-scoped object's go to default.
		eventNS string
	}{
		{"a ClusterIssuer", &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "letsencrypt"}, Spec: issuerSpec()},
			activities.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"}, "default"},
		{"an Issuer", &certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team"}, Spec: issuerSpec()},
			activities.IssuerRef{Kind: "Issuer", Namespace: ns, Name: "team"}, ns},
	}
	e := env()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := kube.Create(t.Context(), tc.obj); err != nil {
				t.Fatal(err)
			}
			gen := tc.obj.GetGeneration()
			registered := activities.IssuerStatus{
				Issuer: tc.ref, Generation: gen,
				Ready:      activities.Condition{Type: "Ready", Status: "True", Reason: "ACMEAccountRegistered", Message: "the ACME account is registered"},
				AccountURL: "https://acme.certflow.test/acct/1", Email: "ops@certflow.test", KeySHA256: "abc123",
				Event: &activities.Event{Type: "Normal", Reason: "ACMEAccountRegistered", Message: "registered " + tc.ref.Name},
			}
			if _, err := e.ExecuteActivity(activities.UpdateIssuerStatus.Name(), registered); err != nil {
				t.Fatal(err)
			}
			st := issuerStatus(t, tc.obj)
			ready := meta.FindStatusCondition(st.Conditions, "Ready")
			if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != "ACMEAccountRegistered" || ready.ObservedGeneration != gen {
				t.Fatalf("Ready = %+v, want True for generation %d", ready, gen)
			}
			wantACME := certflowv1.ACMEIssuerStatus{URI: registered.AccountURL, LastRegisteredEmail: registered.Email, LastPrivateKeyHash: registered.KeySHA256}
			if st.ACME == nil || *st.ACME != wantACME {
				t.Fatalf("status.acme = %+v, want %+v", st.ACME, wantACME)
			}
			waitForEvent(t, tc.eventNS, tc.ref.Kind, tc.ref.Name, "Normal", "ACMEAccountRegistered", "registered "+tc.ref.Name)

			// A failure without an account keeps what is known of the account.
			failed := activities.IssuerStatus{Issuer: tc.ref, Generation: gen,
				Ready: activities.Condition{Type: "Ready", Status: "False", Reason: "Misconfigured", Message: "no email"}}
			if _, err := e.ExecuteActivity(activities.UpdateIssuerStatus.Name(), failed); err != nil {
				t.Fatal(err)
			}
			st = issuerStatus(t, tc.obj)
			if ready := meta.FindStatusCondition(st.Conditions, "Ready"); ready.Status != metav1.ConditionFalse || ready.Reason != "Misconfigured" ||
				st.ACME == nil || *st.ACME != wantACME {
				t.Fatalf("after the failure: Ready %+v, acme %+v", ready, st.ACME)
			}

			// Once the spec changes, the workflow of the older generation does
			// not overwrite what the newer one reports.
			bumpGeneration(t, tc.obj)
			stale := registered
			stale.Ready.Reason = "Stale"
			if _, err := e.ExecuteActivity(activities.UpdateIssuerStatus.Name(), stale); err != nil {
				t.Fatal(err)
			}
			if ready := meta.FindStatusCondition(issuerStatus(t, tc.obj).Conditions, "Ready"); ready.Reason != "Misconfigured" {
				t.Fatalf("an older generation's status was written: %+v", ready)
			}
		})
	}
}

func bumpGeneration(t *testing.T, obj client.Object) {
	t.Helper()
	switch o := obj.(type) {
	case *certflowv1.ClusterIssuer:
		o.Spec.ACME.Email = "new@certflow.test"
	case *certflowv1.Issuer:
		o.Spec.ACME.Email = "new@certflow.test"
	}
	gen := obj.GetGeneration()
	if err := kube.Update(t.Context(), obj); err != nil || obj.GetGeneration() == gen {
		t.Fatalf("changing the spec: %v (generation %d)", err, obj.GetGeneration())
	}
}

func issuerStatus(t *testing.T, obj client.Object) certflowv1.IssuerStatus {
	t.Helper()
	if err := kube.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	switch o := obj.(type) {
	case *certflowv1.ClusterIssuer:
		return o.Status
	case *certflowv1.Issuer:
		return o.Status
	}
	t.Fatalf("unexpected %T", obj)
	return certflowv1.IssuerStatus{}
}
