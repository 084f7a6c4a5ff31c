package dns01_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// events records the Events the activities record.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) Event(_ runtime.Object, eventtype, reason, message string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, eventtype+" "+reason+": "+message)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// TestCleanUpAfterTheIssuerAndItsSecretAreGone: deleting a namespace
// deletes its Issuer and the TSIG Secret while a Certificate there is
// issuing (the Certificate itself stays until its workflow has stopped).
// The worker that presented the record removes it with what it last read;
// a worker that does not remember them (it restarted) gives up at once,
// saying which record is left in which zone.
func TestCleanUpAfterTheIssuerAndItsSecretAreGone(t *testing.T) {
	ctx := context.Background()
	for i, restarted := range []bool{false, true} {
		t.Run(fmt.Sprintf("restarted=%v", restarted), func(t *testing.T) {
			ns := fmt.Sprintf("deleted-%d", i)
			if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			tsigSecret(t, ns, "tsig", bind.TSIGSecret)
			issuer := &certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dns"}, Spec: acmeSpec(rfc2136Solver("tsig", false))}
			if err := kube.Create(ctx, issuer); err != nil {
				t.Fatal(err)
			}
			ref := activities.IssuerRef{Kind: "Issuer", Namespace: ns, Name: "dns"}
			name := ns + ".certflow.test"
			fqdn, value := "_acme-challenge."+name+".", ns+"-token"
			in := present(t, ref, dnsAuthorization(name, value, 0))
			rec := &events{}
			worker := newActivities()
			worker.Certificates.Recorder = rec
			res, err := execute(t, env(worker), activities.Present, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := txtValues(t, fqdn); len(got) != 1 {
				t.Fatalf("TXT %s = %v, want the presented record", fqdn, got)
			}

			for _, obj := range []client.Object{issuer, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tsig"}}} {
				if err := kube.Delete(ctx, obj); err != nil {
					t.Fatal(err)
				}
			}
			if restarted {
				worker = newActivities()
				worker.Certificates.Recorder = rec
			}
			cleanUp := activities.CleanUpChallengesInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented}
			_, err = execute(t, env(worker), activities.CleanUpChallenges, cleanUp)

			if !restarted {
				if err != nil {
					t.Fatalf("clean-up after the issuer and its Secret were deleted: %v", err)
				}
				if got := txtValues(t, fqdn); len(got) != 0 {
					t.Fatalf("TXT %s after clean-up = %v, want it removed", fqdn, got)
				}
				return
			}
			// The record stays: remove it as the user it was reported to would.
			provider, perr := rfc2136.New(rfc2136.Config{Nameserver: bind.Addr, TSIGKeyName: bind.TSIGKeyName, TSIGSecret: bind.TSIGSecret})
			if perr != nil {
				t.Fatal(perr)
			}
			t.Cleanup(func() { _ = provider.CleanUp(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: value}) })
			t.Logf("clean-up by a restarted worker: %v", err)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() {
				t.Fatalf("clean-up by a worker that remembers nothing: %v, want a non-retryable error", err)
			}
			for _, want := range []string{fqdn, fmt.Sprintf("%q", value), "in zone certflow.test.", "does not remember"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %s", err, want)
				}
			}
			if got := rec.all(); len(got) != 1 || !strings.Contains(got[0], "Warning ChallengeLeft") ||
				!strings.Contains(got[0], fqdn) || !strings.Contains(got[0], "in zone certflow.test.") {
				t.Errorf("events = %q, want one ChallengeLeft Warning naming the record and its zone", got)
			}
		})
	}
}
