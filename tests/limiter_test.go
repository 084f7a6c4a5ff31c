package tests

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// TestLimiterKeeps300CertificatesInsideTheNewOrderBudget creates 300
// Certificates at once (as an import would) for an issuer whose account may
// make 50 new orders in any 20 s, and checks at the CA that no 20 s window
// ever saw more than 50 orders and that all 300 become Ready as the budget
// refills. Without the limiter the flood sends ~100 orders in 20 s here.
func TestLimiterKeeps300CertificatesInsideTheNewOrderBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const (
		ns     = "flood"
		n      = 300
		limit  = 50
		period = 20 * time.Second
	)
	w.namespace(ns)
	issuer := w.stack.ClusterIssuer("paced", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	issuer.Spec.ACME.RateLimits = &certflowv1.RateLimits{
		NewOrders: &certflowv1.RateLimit{Limit: limit, Period: metav1.Duration{Duration: period}},
		// All names are in certflow.test: Let's Encrypt's 50 a week for one
		// registered domain (the default) would stop the flood at 50.
		CertificatesPerRegisteredDomain: &certflowv1.RateLimit{Limit: n, Period: metav1.Duration{Duration: period}},
	}
	w.create(issuer)

	start := time.Now()
	w.createFlood(ns, n, "paced")
	waited := false // some Certificate showed the wait for the budget
	deadline := start.Add(4 * time.Minute)
	for {
		ready, certs := w.readyIn(ns)
		for _, c := range certs {
			if issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing); issuing != nil &&
				strings.Contains(issuing.Message, "waiting for the account's order budget") {
				waited = true
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Certificates Ready after %s; busiest %s of new orders at the CA: %d",
				ready, n, time.Since(start).Round(time.Second), period, busiest(w.ordersCreatedAt(), period))
		}
		time.Sleep(time.Second)
	}
	elapsed := time.Since(start)

	orders := w.ordersCreatedAt()
	most := busiest(orders, period)
	t.Logf("%d Certificates Ready in %s; %d orders created, at most %d in any %s; %s",
		n, elapsed.Round(time.Second), len(orders), most, period, w.permitLag("paced", period))
	if most > limit {
		t.Errorf("the CA saw %d new orders within %s, over the budget of %d; orders per second from the first:\n%s",
			most, period, limit, perSecond(orders))
	}
	if len(orders) < n {
		t.Errorf("%d orders created for %d Certificates", len(orders), n)
	}
	// The budget lets the first 50 go at once and 50 more every period.
	if least := (n/limit - 1) * period; elapsed < least {
		t.Errorf("all Ready in %s: faster than the budget allows (%s)", elapsed, least)
	}
	if !waited {
		t.Error("no Certificate's status said it was waiting for the account's order budget")
	}
}

// readyIn lists the Certificates of the namespace and counts the Ready ones.
func (w *world) readyIn(ns string) (int, []certflowv1.Certificate) {
	w.t.Helper()
	var list certflowv1.CertificateList
	if err := w.kube.List(w.ctx, &list, client.InNamespace(ns)); err != nil {
		w.t.Fatal(err)
	}
	ready := 0
	for _, c := range list.Items {
		if meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) {
			ready++
		}
	}
	return ready, list.Items
}

// createFlood creates n Certificates named cert-<i> for issuer at once.
func (w *world) createFlood(ns string, n int, issuer string) {
	w.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("cert-%d", i)
			c := certificate(ns, name, name+"-tls", name+".certflow.test")
			c.Spec.IssuerRef.Name = issuer
			if err := w.kube.Create(w.ctx, c); err != nil {
				errs <- fmt.Errorf("creating %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		w.t.Fatal(err)
	}
}

// ordersCreatedAt is when each order the CA created reached it.
func (w *world) ordersCreatedAt() []time.Time {
	var times []time.Time
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Status == http.StatusCreated {
			times = append(times, r.Time)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	return times
}

// busiest is the most of the sorted times that fall in one window of length
// period, over every window (the busiest window starts at one of the times).
func busiest(times []time.Time, period time.Duration) int {
	most, end := 0, 0
	for start := range times {
		for end < len(times) && times[end].Sub(times[start]) < period {
			end++
		}
		most = max(most, end-start)
	}
	return most
}

// perSecond shows the sorted times as counts per second since the first.
func perSecond(times []time.Time) string {
	if len(times) == 0 {
		return ""
	}
	counts := map[int]int{}
	last := 0
	for _, t := range times {
		s := int(t.Sub(times[0]) / time.Second)
		counts[s]++
		last = s
	}
	var b strings.Builder
	for s := 0; s <= last; s++ {
		if counts[s] > 0 {
			fmt.Fprintf(&b, "  +%ds: %d\n", s, counts[s])
		}
	}
	return b.String()
}

// permitLag compares the permits the issuer's limiter granted (from its
// history: the answers of its updates, and its permit signals) with when each order reached the CA: how full the
// busiest window of permits was, and how long orders came after their
// permits. It tells a limiter that counts wrong from orders that arrive late.
func (w *world) permitLag(issuer string, period time.Duration) string {
	id := activities.LimiterWorkflowID(sandbox.ClusterName, activities.IssuerRef{Kind: "ClusterIssuer", Name: issuer})
	granted := map[string]time.Time{}                // by requesting workflow ID: a Certificate's, or an Order's
	asked := map[string][]activities.PermitRequest{} // by update ID
	dc := converter.GetDefaultDataConverter()
	iter := w.temporal.GetWorkflowHistory(w.ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return fmt.Sprintf("(reading the history of %s: %v)", id, err)
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			var rs []activities.PermitRequest
			if dc.FromPayloads(a.GetAcceptedRequest().GetInput().GetArgs(), &rs) == nil {
				asked[a.GetAcceptedRequest().GetMeta().GetUpdateId()] = rs
			}
		}
		if a := ev.GetWorkflowExecutionUpdateCompletedEventAttributes(); a != nil {
			var gs []activities.PermitGrant
			rs := asked[a.GetMeta().GetUpdateId()]
			if dc.FromPayloads(a.GetOutcome().GetSuccess(), &gs) == nil && len(gs) == len(rs) {
				for i, r := range rs {
					granted[r.RequesterWorkflowID] = gs[i].At
				}
			}
		}
		if a := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes(); a != nil && a.GetSignalName() == activities.SignalPermit {
			var g activities.PermitGrant
			if dc.FromPayloads(a.GetInput(), &g) == nil {
				granted[a.GetWorkflowExecution().GetWorkflowId()] = g.At
			}
		}
	}
	var permits []time.Time
	var lags []time.Duration
	for _, r := range w.proxy.Requests() {
		if r.Action != sandbox.ActionNewOrder || r.Status != http.StatusCreated || len(r.Names) != 1 {
			continue
		}
		name := strings.TrimSuffix(r.Names[0], ".certflow.test")
		for wf, at := range granted {
			if strings.HasSuffix(wf, "/"+name) || strings.Contains(wf, "/"+name+"/order/") {
				permits = append(permits, at)
				lags = append(lags, r.Time.Sub(at))
			}
		}
	}
	if len(lags) == 0 {
		return fmt.Sprintf("no permits found in the history of %s (%d granted)", id, len(granted))
	}
	slices.SortFunc(permits, time.Time.Compare)
	slices.Sort(lags)
	return fmt.Sprintf("the limiter's permits: at most %d in any %s; orders reached the CA after their permits by p50 %s, p90 %s, max %s",
		busiest(permits, period), period, lags[len(lags)/2].Round(time.Millisecond),
		lags[len(lags)*9/10].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
}

// TestFailedAttemptsDoNotLockACertificateOut fails six attempts in a row on
// an issuer with Let's Encrypt's budgets (its TSIG key is wrong, so no
// challenge is ever presented), forcing a renewal after each, then fixes the
// key: the Certificate is Ready within seconds. The budget for duplicate
// certificates (5 a week) counts certificates issued, not orders tried, so
// the failures did not use it up.
func TestFailedAttemptsDoNotLockACertificateOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, name = "retries", "retried"
	w.namespace(ns)
	broken := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "broken-tsig"},
		Data:       map[string][]byte{"secret": []byte("d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE=")},
	}
	w.create(broken)
	issuer := w.stack.ClusterIssuer("lets-encrypt-budgets", w.proxy.DirectoryURL, w.proxy.CACertPEM, broken.Name)
	week := metav1.Duration{Duration: 168 * time.Hour}
	issuer.Spec.ACME.RateLimits = &certflowv1.RateLimits{
		NewOrders:                       &certflowv1.RateLimit{Limit: 300, Period: metav1.Duration{Duration: 3 * time.Hour}},
		CertificatesPerRegisteredDomain: &certflowv1.RateLimit{Limit: 50, Period: week},
		DuplicateCertificates:           &certflowv1.RateLimit{Limit: 5, Period: week},
		FailedValidations:               &certflowv1.RateLimit{Limit: 5, Period: metav1.Duration{Duration: time.Hour}},
	}
	w.create(issuer)
	c := certificate(ns, name, name+"-tls", name+".certflow.test")
	c.Spec.IssuerRef.Name = issuer.Name
	w.create(c)

	for attempt := 1; attempt <= 6; attempt++ {
		cert := w.waitFor(ns, name, 2*time.Minute, fmt.Sprintf("failed attempt %d", attempt), func(c *certflowv1.Certificate) bool {
			return c.Status.FailedIssuanceAttempts != nil && *c.Status.FailedIssuanceAttempts >= attempt
		})
		if issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing); issuing == nil || !strings.Contains(issuing.Message, "TSIG") {
			t.Fatalf("attempt %d: Issuing condition %+v, want the TSIG failure", attempt, issuing)
		}
		if attempt < 6 {
			w.renew(ns, name)
		}
	}

	var good corev1.Secret
	if err := w.kube.Get(w.ctx, client.ObjectKey{Namespace: sandbox.ClusterResourceNamespace, Name: sandbox.TSIGSecretName}, &good); err != nil {
		t.Fatal(err)
	}
	broken.Data = good.Data
	if err := w.kube.Update(w.ctx, broken); err != nil {
		t.Fatal(err)
	}
	fixed := time.Now()
	w.renew(ns, name)
	w.waitFor(ns, name, time.Minute, "Ready after the fix", func(c *certflowv1.Certificate) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
	})
	t.Logf("Ready %s after the TSIG key was fixed", time.Since(fixed).Round(100*time.Millisecond))
}

// renew forces a renewal of the Certificate, as `certflow renew` does.
func (w *world) renew(namespace, name string) {
	w.t.Helper()
	if err := w.temporal.SignalWorkflow(w.ctx, certificateWorkflowID(namespace, name), "", workflows.SignalRenew, nil); err != nil {
		w.t.Fatalf("renewing %s/%s: %v", namespace, name, err)
	}
}

// TestRenewIsNotHeldByCertflowsOwnBudgets: a Certificate whose Secret was
// deleted must be issued again, but its issuer's budget of one duplicate
// certificate a week is used: it waits a week and says so. The user's renew
// overrides that (the budget is certflow's guess of the CA's count; no CA
// refused anything): it is Ready again within seconds.
func TestRenewIsNotHeldByCertflowsOwnBudgets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, name = "renewed", "web"
	w.namespace(ns)
	issuer := w.stack.ClusterIssuer("one-a-week", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	issuer.Spec.ACME.RateLimits = &certflowv1.RateLimits{
		DuplicateCertificates: &certflowv1.RateLimit{Limit: 1, Period: metav1.Duration{Duration: 168 * time.Hour}},
	}
	w.create(issuer)
	c := certificate(ns, name, name+"-tls", name+".renewed.certflow.test")
	c.Spec.IssuerRef.Name = issuer.Name
	w.create(c)
	w.waitReady(ns, name)
	first := w.tlsSecret(ns, name+"-tls")

	if err := w.kube.Delete(w.ctx, first.secret); err != nil {
		t.Fatal(err)
	}
	const want = "the budget for duplicate certificates of these names (1 per 168h) is used up"
	w.waitFor(ns, name, time.Minute, "the wait for the budget", func(c *certflowv1.Certificate) bool {
		issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
		return issuing != nil && strings.Contains(issuing.Message, "waiting for the account's order budget, next permit at ") &&
			strings.HasSuffix(issuing.Message, want)
	})

	renewed := time.Now()
	w.renew(ns, name)
	w.waitFor(ns, name, time.Minute, "Ready after renew", func(c *certflowv1.Certificate) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
	})
	again := w.tlsSecret(ns, name+"-tls")
	if again.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
		t.Fatal("the Secret holds the first certificate again")
	}
	t.Logf("Ready %s after renew", time.Since(renewed).Round(100*time.Millisecond))
}
