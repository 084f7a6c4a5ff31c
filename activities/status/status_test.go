package status

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestCertificateStatusIsWrittenWhole(t *testing.T) {
	ns, e := namespace(t), env()
	cert := &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: certflowv1.CertificateSpec{SecretName: "web-tls", DNSNames: []string{"web.certflow.test"},
			IssuerRef: certflowv1.ObjectReference{Name: "letsencrypt", Kind: "ClusterIssuer"}},
	}
	if err := kube.Create(t.Context(), cert); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	first := activities.CertificateStatus{
		Certificate:        activities.CertificateRef{Namespace: ns, Name: "web"},
		ObservedGeneration: cert.Generation,
		Conditions: []activities.Condition{
			{Type: "Ready", Status: "False", Reason: "Failed", Message: "attempt 1 failed"},
			{Type: "Issuing", Status: "True", Reason: "Issuing", Message: "issuing"},
		},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), RenewalTime: now.Add(60 * 24 * time.Hour),
		Revision: 2, LastFailureTime: now, FailedAttempts: 1, NextAttemptTime: now.Add(time.Minute), NextAttemptReason: "Backoff",
		Step: "presenting",
		Authorizations: []activities.Authorization{{
			Identifier: "web.certflow.test", Wildcard: true, Status: "invalid",
			Challenge: activities.Challenge{Type: "dns-01", ValidateError: "no TXT record found"},
		}},
		WorkflowID: "certificate/" + ns + "/web", IssuedBy: "ClusterIssuer/letsencrypt",
		Event: &activities.Event{Type: "Warning", Reason: "Failed", Message: "attempt 1 failed: no TXT record found"},
	}
	if _, err := e.ExecuteActivity(activities.UpdateCertificateStatus.Name(), first); err != nil {
		t.Fatal(err)
	}
	got := getCertificate(t, ns, "web").Status
	checkTime := func(field string, got *metav1.Time, want time.Time) {
		t.Helper()
		if got == nil || !got.Time.Equal(want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	checkTime("notBefore", got.NotBefore, first.NotBefore)
	checkTime("notAfter", got.NotAfter, first.NotAfter)
	checkTime("renewalTime", got.RenewalTime, first.RenewalTime)
	checkTime("lastFailureTime", got.LastFailureTime, first.LastFailureTime)
	checkTime("nextAttemptTime", got.NextAttemptTime, first.NextAttemptTime)
	if got.Revision == nil || *got.Revision != 2 || got.FailedIssuanceAttempts == nil || *got.FailedIssuanceAttempts != 1 ||
		got.NextAttemptReason != "Backoff" || got.Step != certflowv1.StepPresenting || got.IssuedBy != "ClusterIssuer/letsencrypt" ||
		got.ObservedGeneration != cert.Generation {
		t.Errorf("status = %+v", got)
	}
	wantAuthz := certflowv1.AuthorizationStatus{Identifier: "web.certflow.test", Wildcard: true, State: "invalid", ChallengeType: "dns-01", Message: "no TXT record found"}
	if len(got.Authorizations) != 1 || got.Authorizations[0] != wantAuthz {
		t.Errorf("authorizations = %+v, want [%+v]", got.Authorizations, wantAuthz)
	}
	wantURL := "https://temporal.example.test/namespaces/certflow/workflows/certificate%2F" + ns + "%2Fweb"
	if got.WorkflowID != first.WorkflowID || got.WorkflowURL != wantURL {
		t.Errorf("workflow %q at %q, want %q at %q", got.WorkflowID, got.WorkflowURL, first.WorkflowID, wantURL)
	}
	ready := meta.FindStatusCondition(got.Conditions, "Ready")
	if len(got.Conditions) != 2 || ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != "Failed" ||
		ready.ObservedGeneration != cert.Generation {
		t.Fatalf("conditions = %+v", got.Conditions)
	}
	waitForEvent(t, ns, "Certificate", "web", "Warning", "Failed", first.Event.Message)

	// Write a status in which Ready keeps the transition time the workflow
	// gives (an hour ago) and Issuing has none (it changed now), and the
	// failure, authorizations and step are cleared.
	hourAgo := metav1.NewTime(now.Add(-time.Hour))
	second := activities.CertificateStatus{
		Certificate: first.Certificate, ObservedGeneration: cert.Generation,
		Conditions: []activities.Condition{
			{Type: "Ready", Status: "False", Reason: "Pending", Message: "not issued yet", LastTransitionTime: hourAgo.Time},
			{Type: "Issuing", Status: "False", Reason: "Failed", Message: "waiting"},
		},
		Revision: 2, WorkflowID: first.WorkflowID,
	}
	if _, err := e.ExecuteActivity(activities.UpdateCertificateStatus.Name(), second); err != nil {
		t.Fatal(err)
	}
	got = getCertificate(t, ns, "web").Status
	ready, issuing := meta.FindStatusCondition(got.Conditions, "Ready"), meta.FindStatusCondition(got.Conditions, "Issuing")
	if !ready.LastTransitionTime.Equal(&hourAgo) || ready.Reason != "Pending" {
		t.Errorf("Ready = %+v: want the reason updated and the workflow's transition time", ready)
	}
	if issuing.LastTransitionTime.Time.Before(now) || issuing.Status != metav1.ConditionFalse {
		t.Errorf("Issuing = %+v: want the time of the write as its transition time", issuing)
	}
	if got.LastFailureTime != nil || got.FailedIssuanceAttempts != nil || got.NextAttemptTime != nil || got.NotAfter != nil ||
		got.Authorizations != nil || got.Step != "" {
		t.Errorf("status = %+v: zero values must be unset", got)
	}
}

func TestTextTheAPIWouldRefuseIsMadeToFit(t *testing.T) {
	ns, e := namespace(t), env()
	cert := &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "odd"},
		Spec:       certflowv1.CertificateSpec{SecretName: "odd-tls", DNSNames: []string{"odd.certflow.test"}, IssuerRef: certflowv1.ObjectReference{Name: "x"}},
	}
	if err := kube.Create(t.Context(), cert); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 40000)
	in := activities.CertificateStatus{
		Certificate: activities.CertificateRef{Namespace: ns, Name: "odd"},
		Conditions:  []activities.Condition{{Type: "Ready", Status: "maybe", Reason: "not a reason", Message: long}},
		Event:       &activities.Event{Type: "Odd", Reason: "", Message: long},
	}
	// An order of 100 names, each authorization with the CA's longest error.
	for i := range 100 {
		in.Authorizations = append(in.Authorizations, activities.Authorization{
			Identifier: fmt.Sprintf("n%d.certflow.test", i), Status: "invalid", Challenge: activities.Challenge{Type: "dns-01", ValidateError: long},
		})
	}
	if _, err := e.ExecuteActivity(activities.UpdateCertificateStatus.Name(), in); err != nil {
		t.Fatal(err)
	}
	got := getCertificate(t, ns, "odd")
	if n := len(got.Status.Authorizations); n != 100 || len(got.Status.Authorizations[0].Message) > 1024 {
		t.Fatalf("%d authorizations, the first's message of %d bytes; want 100 of at most 1 KiB", n, len(got.Status.Authorizations[0].Message))
	}
	ready := meta.FindStatusCondition(got.Status.Conditions, "Ready")
	if ready == nil || ready.Status != metav1.ConditionUnknown || ready.Reason != "Unspecified" || len(ready.Message) > 32768 ||
		!strings.HasSuffix(ready.Message, "é...") {
		t.Fatalf("Ready = %s %s, message of %d bytes", ready.Status, ready.Reason, len(ready.Message))
	}
	waitForEvent(t, ns, "Certificate", "odd", "Normal", "Unspecified", long[:1020]+"...")
}

// TestStatusOfAGoneObjectIsNotAnError writes status, with an Event, to a
// Certificate, an Issuer and a ClusterIssuer that do not exist (deleted while
// their workflow ran): no write returns an error, none creates the object and
// none records an Event about it. Then it writes to objects that exist: the
// recorder sends Events in order, one at a time, so once theirs are stored,
// an Event of the gone objects' writes would be stored too.
func TestStatusOfAGoneObjectIsNotAnError(t *testing.T) {
	ns, e := namespace(t), env()
	// ClusterIssuer names are shared by every test: these hold the namespace's.
	gone, present := "gone-"+ns, "present-"+ns
	cases := []struct {
		kind string
		// object is the object of that name, to create or to look for.
		object func(name string) client.Object
		// write writes status and the Event ev to the object of that name.
		write func(name string, ev *activities.Event) error
		// eventNS is where the Event would land: a cluster-scoped object's go to default.
		eventNS string
	}{
		{
			kind: "Certificate",
			object: func(name string) client.Object {
				return &certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
					Spec: certflowv1.CertificateSpec{SecretName: name + "-tls", DNSNames: []string{name + ".certflow.test"}, IssuerRef: certflowv1.ObjectReference{Name: "x"}}}
			},
			write: func(name string, ev *activities.Event) error {
				_, err := e.ExecuteActivity(activities.UpdateCertificateStatus.Name(), activities.CertificateStatus{
					Certificate: activities.CertificateRef{Namespace: ns, Name: name},
					Conditions:  []activities.Condition{{Type: "Ready", Status: "False", Reason: "Pending"}},
					Event:       ev,
				})
				return err
			},
			eventNS: ns,
		},
		{
			kind: "Issuer",
			object: func(name string) client.Object {
				return &certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: issuerSpec()}
			},
			write: func(name string, ev *activities.Event) error {
				_, err := e.ExecuteActivity(activities.UpdateIssuerStatus.Name(), activities.IssuerStatus{
					Issuer: activities.IssuerRef{Kind: "Issuer", Namespace: ns, Name: name},
					Ready:  activities.Condition{Type: "Ready", Status: "True", Reason: "ACMEAccountRegistered"},
					Event:  ev,
				})
				return err
			},
			eventNS: ns,
		},
		{
			kind: "ClusterIssuer",
			object: func(name string) client.Object {
				return &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: issuerSpec()}
			},
			write: func(name string, ev *activities.Event) error {
				_, err := e.ExecuteActivity(activities.UpdateIssuerStatus.Name(), activities.IssuerStatus{
					Issuer: activities.IssuerRef{Kind: "ClusterIssuer", Name: name},
					Ready:  activities.Condition{Type: "Ready", Status: "True", Reason: "ACMEAccountRegistered"},
					Event:  ev,
				})
				return err
			},
			eventNS: "default",
		},
	}
	goneMessages := map[string]bool{}
	for _, tc := range cases {
		ev := &activities.Event{Type: "Warning", Reason: "Failed", Message: "about the gone " + tc.kind + " " + gone}
		goneMessages[ev.Message] = true
		if err := tc.write(gone, ev); err != nil {
			t.Errorf("writing the status of %s %s, which does not exist: %v", tc.kind, gone, err)
		}
	}
	for _, tc := range cases {
		obj := tc.object(gone)
		if err := kube.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
			t.Errorf("%s %s after the write of its status: %v, want NotFound", tc.kind, gone, err)
		}
	}
	for _, tc := range cases {
		if err := kube.Create(t.Context(), tc.object(present)); err != nil {
			t.Fatal(err)
		}
		ev := &activities.Event{Type: "Normal", Reason: "Written", Message: "about the present " + tc.kind + " " + present}
		if err := tc.write(present, ev); err != nil {
			t.Fatalf("writing the status of %s %s: %v", tc.kind, present, err)
		}
		waitForEvent(t, tc.eventNS, tc.kind, present, ev.Type, ev.Reason, ev.Message)
	}
	for _, eventNS := range []string{ns, "default"} {
		var list corev1.EventList
		if err := kube.List(t.Context(), &list, client.InNamespace(eventNS)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name == gone || goneMessages[ev.Message] {
				t.Errorf("an Event about a gone object was recorded in namespace %s: about %s %q: %s %s %q",
					eventNS, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Type, ev.Reason, ev.Message)
			}
		}
	}
}

func getCertificate(t *testing.T, ns, name string) *certflowv1.Certificate {
	t.Helper()
	var c certflowv1.Certificate
	if err := kube.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}
