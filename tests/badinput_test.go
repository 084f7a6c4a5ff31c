package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestBadInput tries what users get wrong and checks each is reported in the
// Certificate's status (and not retried hot), and that no Secret is lost.
func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "bad"
	w.namespace(ns)

	// A ClusterIssuer with the wrong TSIG secret, and one whose CA is unreachable.
	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "wrong-tsig"},
		Data:       map[string][]byte{"secret": []byte("d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE=")},
	})
	w.create(w.stack.ClusterIssuer("wrong-tsig", w.proxy.DirectoryURL, w.proxy.CACertPEM, "wrong-tsig"))
	unreachableURL := "https://" + freeAddr(t) + "/dir"
	w.create(w.stack.ClusterIssuer("unreachable", unreachableURL, w.proxy.CACertPEM, sandbox.TSIGSecretName))
	// A ClusterIssuer whose only solver is for another zone.
	other := w.stack.ClusterIssuer("other-zone", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	other.Spec.ACME.Solvers[0].Selector = &certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.org"}}
	w.create(other)
	// A ClusterIssuer whose RFC 2136 server is authoritative for another zone.
	elsewhere, err := sandbox.StartBIND(w.ctx, sandbox.BINDOptions{Dir: t.TempDir(), Zone: "elsewhere.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = elsewhere.Stop() })
	notServed := w.stack.ClusterIssuer("not-served", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	notServed.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver = elsewhere.Addr
	w.create(notServed)

	// The messages, word for word: the step, the object, the cause once, and
	// what comes next. {next} stands for the next attempt's time.
	const fixedOrChanged = "; next attempt when the issuer or a Secret it reads changes, or at {next}"
	nameserver := notServed.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver
	failing := []struct {
		name    string
		issuer  string
		message string // the Issuing condition's
		reason  string // the Issuing condition's
		next    string // status.nextAttemptReason
	}{
		{"a wrong TSIG secret", "wrong-tsig",
			"attempt 1 (ClusterIssuer/wrong-tsig) failed: presenting TXT _acme-challenge.wrong-tsig.certflow.test.: rfc2136 server " + w.stack.BIND.Addr +
				", zone certflow.test.: the server answered NOTAUTH (the TSIG key name, algorithm or secret does not match the server's)" + fixedOrChanged,
			certflowv1.ReasonDNSAuthFailed, certflowv1.NextAttemptConfigurationChange},
		{"an unreachable CA", "unreachable",
			"attempt 1 (ClusterIssuer/unreachable) failed: ordering: acme: ordering for bad/unreachable: get directory at '" + unreachableURL +
				"': ACME server " + strings.TrimSuffix(strings.TrimPrefix(unreachableURL, "https://"), "/dir") + " is unreachable (connect: connection refused); next attempt at {next}",
			certflowv1.ReasonFailed, certflowv1.NextAttemptBackoff},
		{"names no solver covers", "other-zone",
			"attempt 1 (ClusterIssuer/other-zone) failed: no solver of ClusterIssuer/other-zone that certflow can use is for other-zone.certflow.test (certflow solves dns-01, dns-persist-01, http-01)" + fixedOrChanged,
			certflowv1.ReasonNoSolver, certflowv1.NextAttemptConfigurationChange},
		{"a DNS server not authoritative for the zone", "not-served",
			"attempt 1 (ClusterIssuer/not-served) failed: presenting TXT _acme-challenge.not-served.certflow.test.: rfc2136 server " + nameserver +
				" is not authoritative for the record's zone (it answered REFUSED)" + fixedOrChanged,
			certflowv1.ReasonDNSZoneNotServed, certflowv1.NextAttemptConfigurationChange},
	}
	for _, tc := range failing {
		t.Run(tc.name+" is reported once, in words, and not retried hot", func(t *testing.T) {
			name := tc.issuer
			c := certificate(ns, name, name+"-tls", name+".certflow.test")
			c.Spec.IssuerRef.Name = tc.issuer
			w.create(c)
			cert := w.waitFor(ns, name, 2*time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
				return c.Status.FailedIssuanceAttempts != nil && *c.Status.FailedIssuanceAttempts >= 1
			})
			if cert.Status.NextAttemptTime == nil {
				t.Fatal("no next attempt time")
			}
			next := cert.Status.NextAttemptTime.UTC().Format(time.RFC3339)
			issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing)
			want := strings.ReplaceAll(tc.message, "{next}", next)
			if issuing == nil || issuing.Status != metav1.ConditionFalse || issuing.Reason != tc.reason || issuing.Message != want {
				t.Errorf("Issuing condition %+v,\nwant False, reason %s, message\n%s", issuing, tc.reason, want)
			}
			if cert.Status.NextAttemptReason != tc.next {
				t.Errorf("next attempt reason %q, want %q", cert.Status.NextAttemptReason, tc.next)
			}
			// A backoff of about a minute, or a day's wait for a change.
			wait := 30 * time.Second
			if tc.next == certflowv1.NextAttemptConfigurationChange {
				wait = 23 * time.Hour
			}
			if cert.Status.NextAttemptTime.Time.Before(time.Now().Add(wait)) {
				t.Errorf("next attempt at %s: want it at least %s away, not a hot retry", next, wait)
			}
			// Not hot: still one failure a few seconds later.
			time.Sleep(3 * time.Second)
			again := w.waitFor(ns, name, time.Second, "read", func(*certflowv1.Certificate) bool { return true })
			if *again.Status.FailedIssuanceAttempts != *cert.Status.FailedIssuanceAttempts {
				t.Errorf("failed attempts went from %d to %d within 3s", *cert.Status.FailedIssuanceAttempts, *again.Status.FailedIssuanceAttempts)
			}
		})
	}

	t.Run("kubectl get shows the reason in a column of its own", func(t *testing.T) {
		rows := w.table(ns)
		for _, tc := range failing {
			if got := rows[tc.issuer]["Reason"]; got != tc.reason {
				t.Errorf("kubectl get: %s has Reason %q, want %q", tc.issuer, got, tc.reason)
			}
		}
	})

	t.Run("fixing the Secret an issuer reads retries at once", func(t *testing.T) {
		var good, wrong corev1.Secret
		if err := w.kube.Get(w.ctx, client.ObjectKey{Namespace: sandbox.ClusterResourceNamespace, Name: sandbox.TSIGSecretName}, &good); err != nil {
			t.Fatal(err)
		}
		if err := w.kube.Get(w.ctx, client.ObjectKey{Namespace: sandbox.ClusterResourceNamespace, Name: "wrong-tsig"}, &wrong); err != nil {
			t.Fatal(err)
		}
		wrong.Data = good.Data
		if err := w.kube.Update(w.ctx, &wrong); err != nil {
			t.Fatal(err)
		}
		fixed := time.Now()
		w.waitFor(ns, "wrong-tsig", time.Minute, "Ready after the fix", func(c *certflowv1.Certificate) bool {
			return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
		})
		t.Logf("Ready %s after the Secret was fixed", time.Since(fixed).Round(time.Millisecond))
	})

	t.Run("fixing the issuer retries at once", func(t *testing.T) {
		var issuer certflowv1.ClusterIssuer
		if err := w.kube.Get(w.ctx, client.ObjectKey{Name: "not-served"}, &issuer); err != nil {
			t.Fatal(err)
		}
		issuer.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver = w.stack.BIND.Addr
		if err := w.kube.Update(w.ctx, &issuer); err != nil {
			t.Fatal(err)
		}
		w.waitFor(ns, "not-served", time.Minute, "Ready after the fix", func(c *certflowv1.Certificate) bool {
			return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
		})
	})

	t.Run("an issuer that cannot solve the names falls back to the next issuer", func(t *testing.T) {
		c := certificate(ns, "fallback", "fallback-tls", "fallback.certflow.test")
		c.Spec.IssuerRef.Name = "other-zone"
		c.Spec.FallbackIssuerRefs = []certflowv1.ObjectReference{{Kind: "ClusterIssuer", Name: "pebble"}}
		w.create(c)
		cert := w.waitReady(ns, "fallback")
		if cert.Status.IssuedBy != "ClusterIssuer/pebble" {
			t.Errorf("issuedBy %q, want ClusterIssuer/pebble", cert.Status.IssuedBy)
		}
		w.verify(w.tlsSecret(ns, "fallback-tls"), "fallback.certflow.test")
		var events corev1.EventList
		if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if !hasEvent(events, "fallback", certflowv1.ReasonFallingBack) {
			t.Error("no FallingBack Event on the Certificate")
		}
	})

	t.Run("two Certificates naming one Secret: the second is a conflict and overwrites nothing", func(t *testing.T) {
		w.create(certificate(ns, "first", "shared-tls", "first.certflow.test"))
		w.waitReady(ns, "first")
		before := w.tlsSecret(ns, "shared-tls")
		w.create(certificate(ns, "second", "shared-tls", "second.certflow.test"))
		w.waitFor(ns, "second", time.Minute, "SecretConflict", func(c *certflowv1.Certificate) bool {
			ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
			return ready != nil && ready.Reason == certflowv1.ReasonSecretConflict
		})
		after := w.tlsSecret(ns, "shared-tls")
		if after.leaf.SerialNumber.Cmp(before.leaf.SerialNumber) != 0 || after.secret.Labels["certflow.dev/certificate-name"] != "first" {
			t.Errorf("the conflicting Certificate changed the Secret: serial %X → %X, owner %q",
				before.leaf.SerialNumber, after.leaf.SerialNumber, after.secret.Labels["certflow.dev/certificate-name"])
		}
	})

	t.Run("an existing matching TLS Secret is adopted without a new order", func(t *testing.T) {
		// A certificate made elsewhere (here: by certflow in another
		// namespace), copied into an unlabelled Secret as cert-manager would have left it.
		w.create(certificate(ns, "source", "source-tls", "adopt.certflow.test"))
		w.waitReady(ns, "source")
		source := w.tlsSecret(ns, "source-tls")
		w.namespace("migrated")
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "migrated", Name: "adopt-tls", Annotations: map[string]string{"cert-manager.io/certificate-name": "adopt"}},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": source.secret.Data["tls.crt"], "tls.key": source.secret.Data["tls.key"]},
		})
		w.create(certificate("migrated", "adopt", "adopt-tls", "adopt.certflow.test"))
		w.waitReady("migrated", "adopt")
		adopted := w.tlsSecret("migrated", "adopt-tls")
		if adopted.leaf.SerialNumber.Cmp(source.leaf.SerialNumber) != 0 {
			t.Error("the adopted Secret's certificate was replaced")
		}
		if adopted.secret.Labels["certflow.dev/certificate-name"] != "adopt" {
			t.Errorf("adopted Secret labels %v", adopted.secret.Labels)
		}
		if n := w.ordersFor("adopt.certflow.test"); n != 1 {
			t.Errorf("%d orders for adopt.certflow.test, want the source's one: adoption made a new order", n)
		}
	})

	t.Run("an existing TLS Secret that does not match is reported, then replaced", func(t *testing.T) {
		source := w.tlsSecret(ns, "source-tls") // for adopt.certflow.test, not for this Certificate
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mismatch-tls"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": source.secret.Data["tls.crt"], "tls.key": source.secret.Data["tls.key"]},
		})
		c := certificate(ns, "mismatch", "mismatch-tls", "mismatch.certflow.test")
		w.create(c)
		w.waitReady(ns, "mismatch")
		w.verify(w.tlsSecret(ns, "mismatch-tls"), "mismatch.certflow.test")
		var events corev1.EventList
		if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if !hasEvent(events, "mismatch", "ReplacingSecret") {
			t.Error("no Warning event ReplacingSecret on the Certificate before its Secret was replaced")
		}
	})

	t.Run("search attributes list exactly the stuck and the expiring certificates", func(t *testing.T) {
		var certs certflowv1.CertificateList
		if err := w.kube.List(w.ctx, &certs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var stuck, issued []string
		notAfter := map[string]time.Time{}
		for _, c := range certs.Items {
			if !meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) {
				stuck = append(stuck, c.Name)
			} else if c.Status.NotAfter != nil {
				issued = append(issued, c.Name)
				notAfter[c.Name] = c.Status.NotAfter.Time
			}
		}
		// Expiring: before the middle one of the issued certificates' ends.
		slices.SortFunc(issued, func(a, b string) int { return notAfter[a].Compare(notAfter[b]) })
		cut := notAfter[issued[len(issued)/2]]
		var expiring []string
		for _, name := range issued {
			if notAfter[name].Before(cut) {
				expiring = append(expiring, name)
			}
		}
		if len(stuck) == 0 || len(expiring) == 0 || len(expiring) == len(issued) {
			t.Fatalf("stuck %v, expiring %v of %v: nothing to tell apart", stuck, expiring, issued)
		}
		running := `ExecutionStatus="Running" AND CertflowNamespace="` + ns + `"`
		w.waitListed(running+" AND CertflowReady=false", ns, stuck)
		w.waitListed(running+` AND CertflowNotAfter < "`+cut.UTC().Format(time.RFC3339)+`"`, ns, expiring)
		// Both fail before any challenge: the CA is not reached, no solver fits.
		w.waitListed(running+` AND CertflowStep="ordering"`, ns, []string{"other-zone", "unreachable"})
	})

	t.Run("the memo says the last failure in words", func(t *testing.T) {
		memo := func(name string) map[string]*commonpb.Payload {
			desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, certificateWorkflowID(ns, name), "")
			if err != nil {
				t.Fatal(err)
			}
			return desc.WorkflowExecutionInfo.Memo.GetFields()
		}
		var lastFailure string
		if err := converter.GetDefaultDataConverter().FromPayload(memo("other-zone")["lastFailure"], &lastFailure); err != nil {
			t.Fatalf("reading the memo: %v", err)
		}
		want := "no solver of ClusterIssuer/other-zone that certflow can use is for other-zone.certflow.test (certflow solves dns-01, dns-persist-01, http-01)"
		if lastFailure != want {
			t.Errorf("memo lastFailure %q, want %q", lastFailure, want)
		}
		// Issued at its first attempt: nothing to say, nothing written.
		if m := memo("mismatch"); len(m) != 0 {
			t.Errorf("memo of a Certificate that never failed: %v, want none", m)
		}
	})
}

// waitListed waits until a visibility query lists exactly the workflows of
// the named Certificates of namespace.
func (w *world) waitListed(query, namespace string, names []string) {
	w.t.Helper()
	want := map[string]bool{}
	for _, name := range names {
		want[certificateWorkflowID(namespace, name)] = true
	}
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got = got[:0]
		resp, err := w.temporal.ListWorkflow(w.ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1000})
		if err != nil {
			w.t.Fatalf("listing %s: %v", query, err)
		}
		for _, e := range resp.Executions {
			got = append(got, e.Execution.WorkflowId)
		}
		if len(got) == len(want) && !slices.ContainsFunc(got, func(id string) bool { return !want[id] }) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Errorf("%s lists %v, want the workflows of %v", query, got, names)
}

// hasEvent says whether a Warning Event with reason is recorded for the named object.
func hasEvent(events corev1.EventList, object, reason string) bool {
	for _, e := range events.Items {
		if e.InvolvedObject.Name == object && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			return true
		}
	}
	return false
}

// ordersFor counts the new-order requests naming name that the CA accepted.
func (w *world) ordersFor(name string) int {
	n := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Status == http.StatusCreated && slices.Contains(r.Names, name) {
			n++
		}
	}
	return n
}

// table is `kubectl get certificates` in namespace as the API server prints
// it: each row's cells by column name, by Certificate name.
func (w *world) table(namespace string) map[string]map[string]string {
	w.t.Helper()
	cfg := rest.CopyConfig(w.stack.Kubernetes.Config)
	cfg.GroupVersion = &certflowv1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	body, err := rc.Get().Namespace(namespace).Resource("certificates").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(w.ctx)
	if err != nil {
		w.t.Fatalf("getting the Certificates as a table: %v", err)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		w.t.Fatal(err)
	}
	rows := map[string]map[string]string{}
	for _, row := range table.Rows {
		cells := map[string]string{}
		for i, col := range table.ColumnDefinitions {
			cells[col.Name] = fmt.Sprint(row.Cells[i])
		}
		rows[cells["Name"]] = cells
	}
	return rows
}
