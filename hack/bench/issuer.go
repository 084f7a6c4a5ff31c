package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// budget is a new-order budget for the bench's issuer: at most limit orders in
// any period (flag -new-orders "300/1m"; zero: no budget).
type budget struct {
	limit  int
	period time.Duration
}

func parseBudget(s string) (budget, error) {
	if s == "" {
		return budget{}, nil
	}
	l, p, ok := strings.Cut(s, "/")
	limit, err1 := strconv.Atoi(l)
	period, err2 := time.ParseDuration(p)
	if !ok || err1 != nil || err2 != nil || limit <= 0 || period <= 0 {
		return budget{}, fmt.Errorf("-new-orders %q: want <orders>/<period>, such as 300/1m", s)
	}
	return budget{limit, period}, nil
}

// createIssuer makes the issuer the bench's Certificates use, of the given
// kind, for Pebble at directoryURL (Pebble itself, or the ACME proxy in
// front of it that counts orders), with the budget when one is given.
func createIssuer(ctx context.Context, kube client.Client, stack *sandbox.Stack, kind, directoryURL string, caBundle []byte, b budget) error {
	spec := stack.ClusterIssuer(issuerName, directoryURL, caBundle, sandbox.TSIGSecretName).Spec
	if b.limit > 0 {
		spec.ACME.RateLimits.NewOrders = &certflowv1.RateLimit{Limit: int32(b.limit), Period: metav1.Duration{Duration: b.period}}
	}
	tsig := stack.TSIGSecret()
	var issuer client.Object
	switch kind {
	case certflowv1.ClusterIssuerKind:
		issuer = &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: issuerName}, Spec: spec}
	case certflowv1.IssuerKind:
		tsig.Namespace = benchNamespace
		issuer = &certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: issuerName}, Spec: spec}
	default:
		return fmt.Errorf("-issuer-kind %q: want ClusterIssuer or Issuer", kind)
	}
	for _, obj := range []client.Object{tsig, issuer} {
		if err := kube.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

const issuerName = "pebble"

// waitIssuerReady waits until certflow has registered the issuer's account.
func waitIssuerReady(ctx context.Context, kube client.Client, kind string) error {
	for {
		var conditions []metav1.Condition
		if kind == certflowv1.IssuerKind {
			var is certflowv1.Issuer
			if kube.Get(ctx, types.NamespacedName{Namespace: benchNamespace, Name: issuerName}, &is) == nil {
				conditions = is.Status.Conditions
			}
		} else {
			var ci certflowv1.ClusterIssuer
			if kube.Get(ctx, types.NamespacedName{Name: issuerName}, &ci) == nil {
				conditions = ci.Status.Conditions
			}
		}
		if meta.IsStatusConditionTrue(conditions, certflowv1.ConditionReady) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the %s to be Ready: %w", kind, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// busiestWindow is the most orders made in any period, from their times.
func busiestWindow(times []time.Time, period time.Duration) int {
	times = slices.SortedFunc(slices.Values(times), func(a, b time.Time) int { return a.Compare(b) })
	most, first := 0, 0
	for last := range times {
		for times[last].Sub(times[first]) >= period {
			first++
		}
		most = max(most, last-first+1)
	}
	return most
}
