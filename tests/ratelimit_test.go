package tests

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// The ACME proxy plays a CA that refuses new orders, the way Let's Encrypt
// does: 429 rateLimited with Retry-After, or a permanent problem. Each test
// has its own world, so the proxy counts only its own Certificates' requests.

// rateLimitDetail is in the detail of the proxy's 429s for new orders.
const rateLimitDetail = "too many new orders from this account"

// rateLimitedMessage is a rate-limited attempt's message, word for word but
// for the CA's address and its time, with the CA's detail once and when the
// next attempt is.
func rateLimitedMessage(c *certflowv1.Certificate) *regexp.Regexp {
	next := "?"
	if c.Status.NextAttemptTime != nil {
		next = c.Status.NextAttemptTime.UTC().Format(time.RFC3339)
	}
	return regexp.MustCompile("^" + regexp.QuoteMeta("attempt 1 (ClusterIssuer/pebble) failed: acme: ordering for "+c.Namespace+"/"+c.Name+
		": creating order at https://127.0.0.1:") + `\d+` + regexp.QuoteMeta("/dir: rateLimited: "+rateLimitDetail+", retry after ") +
		`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC` + regexp.QuoteMeta(": see https://letsencrypt.org/docs/rate-limits/; next attempt at "+next) + "$")
}

// The test watches the Retry-After window, then ends the CA's limit and
// sends renew. The account's limiter holds every order of the account for
// exactly the CA's Retry-After, so the second Certificate's order goes out
// within moments of its end: a lost or stretched value fails the test.
func TestRateLimitWaitsTheCAsRetryAfterAndSendsNothingInBetween(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, retryAfter = "ratelimited", 20 * time.Second
	w.namespace(ns)
	w.proxy.RateLimitWindow(0, retryAfter)
	w.create(certificate(ns, "web", "web-tls", "web.certflow.test"))

	cert := w.waitRateLimited(ns, "web", time.Time{})
	limitedAt := w.refusedAt(1)
	// The limit is the account's: another Certificate of the issuer waits too.
	w.create(certificate(ns, "other", "other-tls", "other.certflow.test"))
	t.Run("status shows the rate limit, the CA's detail and when the next attempt comes", func(t *testing.T) {
		checkRateLimited(t, cert, limitedAt, retryAfter)
		ready := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != certflowv1.ReasonRateLimited {
			t.Errorf("Ready condition %+v, want False RateLimited: nothing was ever issued", ready)
		}
	})

	t.Run("nothing reaches the CA until the Retry-After has passed, for any Certificate of the account", func(t *testing.T) {
		w.expectNoRequests(limitedAt, limitedAt.Add(retryAfter))
		if n := w.proxy.Refused(sandbox.ActionNewOrder); n != 1 {
			t.Errorf("%d new-order requests refused, want only the first", n)
		}
	})

	t.Run("after the wait both are issued, the rate-limited one on renew", func(t *testing.T) {
		w.proxy.ClearFaults()
		if err := w.temporal.SignalWorkflow(w.ctx, certificateWorkflowID(ns, "web"), "", workflows.SignalRenew, nil); err != nil {
			t.Fatal(err)
		}
		cert := w.waitReady(ns, "web")
		w.verify(w.tlsSecret(ns, "web-tls"), "web.certflow.test")
		w.waitReady(ns, "other")
		w.verify(w.tlsSecret(ns, "other-tls"), "other.certflow.test")
		// The other Certificate's order waited for the CA's Retry-After, and
		// no longer than a few seconds more.
		end := limitedAt.Add(retryAfter)
		if sent := w.ordersCreatedAt(); len(sent) == 0 || sent[0].Before(end) || sent[0].After(end.Add(5*time.Second)) {
			t.Errorf("orders created at %v; want the first within 5s after the Retry-After ends at %s", sent, end.Format(time.RFC3339Nano))
		}
		if cert.Status.NextAttemptTime != nil || cert.Status.NextAttemptReason != "" || cert.Status.FailedIssuanceAttempts != nil {
			t.Errorf("after issuance the status still shows the rate limit: next attempt %v (%q), failed attempts %v",
				cert.Status.NextAttemptTime, cert.Status.NextAttemptReason, cert.Status.FailedIssuanceAttempts)
		}
	})

	// A Retry-After longer than the jitter and the workflow's floor shows the
	// wait is the CA's, not a fixed one.
	t.Run("a rate-limited renewal waits a long Retry-After and keeps the certificate Ready", func(t *testing.T) {
		const long = 10 * time.Minute
		w.proxy.RateLimitAfter(sandbox.ActionNewOrder, 0, long)
		refused := w.proxy.Refused(sandbox.ActionNewOrder)
		if err := w.temporal.SignalWorkflow(w.ctx, certificateWorkflowID(ns, "web"), "", workflows.SignalRenew, nil); err != nil {
			t.Fatal(err)
		}
		w.waitRefused(refused + 1)
		limitedAt := w.refusedAt(refused + 1)
		cert := w.waitRateLimited(ns, "web", limitedAt)
		checkRateLimited(t, cert, limitedAt, long)
		if !meta.IsStatusConditionTrue(cert.Status.Conditions, certflowv1.ConditionReady) {
			t.Errorf("a rate-limited renewal made the valid certificate not Ready: %+v", cert.Status.Conditions)
		}
	})
}

func TestRateLimitWaitSurvivesAWorkerRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, retryAfter = "restarted", 30 * time.Second
	w.namespace(ns)
	w.proxy.RateLimitAfter(sandbox.ActionNewOrder, 0, retryAfter)
	w.create(certificate(ns, "api", "api-tls", "api.certflow.test"))
	before := w.waitRateLimited(ns, "api", time.Time{})
	limitedAt := w.refusedAt(1)

	w.killCertflow()
	w.startCertflow()
	// The new worker has replayed the workflow when it answers a query, and
	// still knows when the next attempt comes.
	st := w.queryStatus(certificateWorkflowID(ns, "api"), 30*time.Second)
	if !st.NextAttemptTime.Truncate(time.Second).Equal(before.Status.NextAttemptTime.Time) || st.FailedAttempts != 1 {
		t.Errorf("after the restart the workflow waits until %v after %d failed attempts; before: %v after 1",
			st.NextAttemptTime, st.FailedAttempts, before.Status.NextAttemptTime)
	}
	// The rest of the wait, long enough after the restart for a worker that
	// lost track of it to have ordered again, and ending before the next
	// attempt (the status gives its time to the second, never later): the
	// status read next must still be this attempt's.
	quietUntil := before.Status.NextAttemptTime.Add(-time.Second)
	if restarted := time.Now(); restarted.Add(8 * time.Second).After(quietUntil) {
		t.Fatalf("certflow was back at %s, too close to the next attempt at %s to tell whether it lost the wait",
			restarted.Format(time.RFC3339), before.Status.NextAttemptTime.Format(time.RFC3339))
	}
	w.expectNoRequests(limitedAt, quietUntil)
	after := w.waitFor(ns, "api", time.Second, "read", func(*certflowv1.Certificate) bool { return true })
	if !after.Status.NextAttemptTime.Equal(before.Status.NextAttemptTime) || *after.Status.FailedIssuanceAttempts != 1 {
		t.Errorf("after the restart the status says next attempt %v (was %v), failed attempts %d (was 1)",
			after.Status.NextAttemptTime, before.Status.NextAttemptTime, *after.Status.FailedIssuanceAttempts)
	}
}

func TestRateLimitPermanentErrorStopsRetriesAndIsShown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, detail = "refused", "certflow.test is on this CA's list of refused names"
	w.namespace(ns)
	w.proxy.Refuse(sandbox.ActionNewOrder, "urn:ietf:params:acme:error:rejectedIdentifier", detail)
	w.create(certificate(ns, "db", "db-tls", "db.certflow.test"))

	cert := w.waitFor(ns, "db", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
		return c.Status.FailedIssuanceAttempts != nil
	})
	failedAt := w.refusedAt(1)
	for _, typ := range []string{certflowv1.ConditionIssuing, certflowv1.ConditionReady} {
		c := meta.FindStatusCondition(cert.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != certflowv1.ReasonFailed || !strings.Contains(c.Message, detail) {
			t.Errorf("%s condition %+v, want False Failed with the CA's detail %q", typ, c, detail)
		}
	}
	if *cert.Status.FailedIssuanceAttempts != 1 || cert.Status.NextAttemptReason != certflowv1.NextAttemptBackoff {
		t.Errorf("failed attempts %d, next attempt reason %q: want 1, Backoff", *cert.Status.FailedIssuanceAttempts, cert.Status.NextAttemptReason)
	}
	// Backoff starts at a minute; metav1.Time keeps whole seconds.
	if next := cert.Status.NextAttemptTime; next == nil || next.Time.Before(failedAt.Add(time.Minute-2*time.Second)) {
		t.Errorf("next attempt at %v after a failure at %v: want a backoff of a minute or more", next, failedAt)
	}
	// Not retried by the activity's retry policy, nor by the workflow.
	w.expectNoRequests(failedAt, time.Now().Add(5*time.Second))
	if n, r := w.proxy.Count(sandbox.ActionNewOrder), w.proxy.Refused(sandbox.ActionNewOrder); n != 1 || r != 1 {
		t.Errorf("%d new-order requests (%d refused), want the one refused", n, r)
	}

	// The same refusal, for a Certificate that names a fallback: a second
	// issuer that reaches Pebble directly, not through the refusing proxy.
	w.create(w.stack.ClusterIssuer("direct", w.stack.Pebble.DirectoryURL, w.stack.Pebble.CACertPEM, sandbox.TSIGSecretName))
	fb := certificate(ns, "api", "api-tls", "api.certflow.test")
	fb.Spec.FallbackIssuerRefs = []certflowv1.ObjectReference{{Kind: "ClusterIssuer", Name: "direct"}}
	w.create(fb)
	issued := w.waitReady(ns, "api")
	if issued.Status.IssuedBy != "ClusterIssuer/direct" {
		t.Errorf("issuedBy %q, want the fallback ClusterIssuer/direct", issued.Status.IssuedBy)
	}
	w.verify(w.tlsSecret(ns, "api-tls"), "api.certflow.test")
	refused := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Refused && slices.Contains(r.Names, "api.certflow.test") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused new orders for api.certflow.test, want 1: the first issuer is asked once, then the fallback", refused)
	}
}

// waitRateLimited waits until the status shows a rate limit that was
// recorded at or after since (whole seconds).
func (w *world) waitRateLimited(namespace, name string, since time.Time) *certflowv1.Certificate {
	w.t.Helper()
	return w.waitFor(namespace, name, time.Minute, "RateLimited", func(c *certflowv1.Certificate) bool {
		issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
		return issuing != nil && issuing.Reason == certflowv1.ReasonRateLimited &&
			c.Status.LastFailureTime != nil && !c.Status.LastFailureTime.Time.Before(since.Truncate(time.Second))
	})
}

// checkRateLimited checks what the status says about a 429 with retryAfter
// that the CA sent at limitedAt.
func checkRateLimited(t *testing.T, c *certflowv1.Certificate, limitedAt time.Time, retryAfter time.Duration) {
	t.Helper()
	issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
	if issuing == nil || issuing.Status != metav1.ConditionFalse || !rateLimitedMessage(c).MatchString(issuing.Message) {
		t.Errorf("Issuing condition %+v,\nwant False with a message that matches\n%s", issuing, rateLimitedMessage(c))
	}
	if c.Status.NextAttemptReason != certflowv1.NextAttemptRateLimited {
		t.Errorf("next attempt reason %q, want %q", c.Status.NextAttemptReason, certflowv1.NextAttemptRateLimited)
	}
	if c.Status.FailedIssuanceAttempts == nil || *c.Status.FailedIssuanceAttempts != 1 {
		t.Errorf("failed attempts %v, want 1", c.Status.FailedIssuanceAttempts)
	}
	// At least the Retry-After (metav1.Time keeps whole seconds); at most
	// that, the workflow's one-minute floor and its minute of jitter.
	earliest := limitedAt.Add(retryAfter - time.Second)
	latest := limitedAt.Add(max(retryAfter, time.Minute) + time.Minute + 2*time.Second)
	if next := c.Status.NextAttemptTime; next == nil || next.Time.Before(earliest) || next.Time.After(latest) {
		t.Errorf("next attempt at %v after a 429 at %v with Retry-After %s: want between %v and %v",
			next, limitedAt.Format(time.RFC3339), retryAfter, earliest.Format(time.RFC3339), latest.Format(time.RFC3339))
	}
}

// refusedAt is when the nth refused new-order request reached the proxy.
func (w *world) refusedAt(n int) time.Time {
	w.t.Helper()
	seen := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Refused {
			if seen++; seen == n {
				return r.Time
			}
		}
	}
	w.t.Fatalf("no refused new-order request number %d; requests: %+v", n, w.proxy.Requests())
	return time.Time{}
}

func (w *world) waitRefused(n int) {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for w.proxy.Refused(sandbox.ActionNewOrder) < n {
		if time.Now().After(deadline) {
			w.t.Fatalf("the proxy refused %d new orders within a minute, want %d", w.proxy.Refused(sandbox.ActionNewOrder), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectNoRequests fails the test as soon as a request of any kind reaches the
// CA after from, watching until until.
func (w *world) expectNoRequests(from, until time.Time) {
	w.t.Helper()
	for {
		for _, r := range w.proxy.Requests() {
			if r.Time.After(from) && r.Time.Before(until) {
				w.t.Fatalf("%s request %s after %s, within the wait that ends %s",
					r.Action, r.Time.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano), until.Format(time.RFC3339))
			}
		}
		if time.Now().After(until) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// queryStatus asks the Certificate workflow for its status until a worker
// answers.
func (w *world) queryStatus(workflowID string, timeout time.Duration) activities.CertificateStatus {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		v, err := w.temporal.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
		cancel()
		var st activities.CertificateStatus
		if err == nil {
			if err = v.Get(&st); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("querying %s: no answer within %s: %v", workflowID, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestARateLimitStopsTheWholeAccountAtOnce: while 50 Certificates issue, the
// CA refuses new orders after 20 with a Retry-After of 15 s (a window that
// then refills). From the first 429, no further new order reaches the CA
// until the 15 s have passed (the worker holds the account at once, before
// the limiter hears of it), the next one goes out within moments of the
// end, and all 50 are issued.
func TestARateLimitStopsTheWholeAccountAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const (
		ns         = "stopped"
		n          = 50
		retryAfter = 15 * time.Second
		// inFlight: orders sent before the first 429 came back may reach
		// the CA just after it.
		inFlight = 500 * time.Millisecond
	)
	w.namespace(ns)
	w.proxy.RateLimitWindow(20, retryAfter)
	w.createFlood(ns, n, "pebble")
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		ready, _ := w.readyIn(ns)
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Ready after 3 minutes", ready, n)
		}
	}

	first := w.refusedAt(1)
	end := first.Add(retryAfter)
	var inWindow []string
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Time.After(first.Add(inFlight)) && r.Time.Before(end) {
			inWindow = append(inWindow, r.Time.Sub(first).Round(time.Millisecond).String())
		}
	}
	if len(inWindow) > 0 {
		t.Errorf("%d new-order requests reached the CA within its Retry-After, at %v after the first 429", len(inWindow), inWindow)
	}
	var next time.Time
	for _, at := range w.ordersCreatedAt() {
		if at.After(first) {
			next = at
			break
		}
	}
	if next.Before(end) || next.After(end.Add(5*time.Second)) {
		t.Errorf("the first order after the 429 was created %s after it; want within 5 s after the Retry-After of %s",
			next.Sub(first).Round(time.Millisecond), retryAfter)
	}
	t.Logf("first 429 at +0; %d refused in all; next order created at +%s", w.proxy.Refused(sandbox.ActionNewOrder), next.Sub(first).Round(time.Millisecond))
}
