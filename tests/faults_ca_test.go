package tests

import (
	"net/http"
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// waitOrdersCreated waits until the CA has created n orders.
func (w *world) waitOrdersCreated(n int, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for len(w.ordersCreatedAt()) < n {
		if time.Now().After(deadline) {
			w.t.Fatalf("the CA created %d orders within %s, want %d", len(w.ordersCreatedAt()), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultCAErrorsAndBadNonces issues Certificates from a CA that rejects
// a fifth of all nonces and has bad moments: a burst of 500s on reading the
// authorizations of the first orders, and a few seconds of nothing but 500s
// while the issuances are in flight.
// Every Certificate ends Ready with one order each: a request the CA failed
// is sent again, not the issuance started over.
func TestFaultCAErrorsAndBadNonces(t *testing.T) {
	t.Parallel()
	nonceRejectPercent := 20
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{Pebble: sandbox.PebbleOptions{NonceRejectPercent: &nonceRejectPercent}}})
	const ns = "ca-errors"
	w.namespace(ns)
	const burst, outage = 10, 5 * time.Second

	// Authorizations are read just after an order is made: held back a
	// moment, the first ones meet the burst. (Only they do: a burst of any
	// action could be spent on the other certificates' new orders first.)
	w.proxy.Delay(sandbox.ActionAuthorization, 2*time.Second)
	certs := w.createCertificates(ns, "cert", 8)
	w.waitOrdersCreated(1, 2*time.Minute)
	w.proxy.FailNext(burst, sandbox.ActionAuthorization)
	w.proxy.Delay(sandbox.ActionAuthorization, 0)
	w.proxy.Delay(sandbox.ActionFinalize, stepDelay)
	w.waitStep(certs, certflowv1.StepFinalizing, 2*time.Minute)
	w.proxy.Delay(sandbox.ActionFinalize, 0)
	w.proxy.FailFor(outage)
	t.Logf("the CA fails every request for %s; %s", outage, w.steps(certs))

	w.checkNothingLost(certs...)

	// The faults happened: the test would prove nothing otherwise.
	failed, failedAuthz, badNonces := 0, 0, 0
	for _, r := range w.proxy.Requests() {
		switch {
		case r.Refused && r.Status == http.StatusInternalServerError:
			failed++
			if r.Action == sandbox.ActionAuthorization {
				failedAuthz++
			}
		case r.Status == http.StatusBadRequest:
			badNonces++ // Pebble's answer to a rejected nonce (certflow sends nothing else malformed)
		}
	}
	t.Logf("%d requests answered 500 by the proxy, %d refused by Pebble (bad nonces), of %d", failed, badNonces, len(w.proxy.Requests()))
	if failedAuthz == 0 {
		t.Error("no authorization read met the burst")
	}
	if failed <= burst {
		t.Errorf("%d requests answered 500: the outage after the burst of %d hit none", failed, burst)
	}
	if badNonces == 0 {
		t.Error("Pebble rejected no nonce")
	}
}
