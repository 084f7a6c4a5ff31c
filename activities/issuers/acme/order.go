package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/metrics"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
)

// BeginOrder is the idempotent start of an ACME order, once EnsurePendingKey
// has made the issuance's key: it finds the order this revision was ordered
// with again when it is still good, else makes a new one (when its permit
// still holds) and records it on the pending key Secret at once, so that a
// retry after a crash finds it. Per authorization it picks the challenge to
// solve; valid ones come back with no challenge, and the workflow skips them.
func (a *Activities) BeginOrder(ctx context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
	res, err := a.beginOrder(ctx, in)
	if err != nil {
		return activities.BeginOrderResult{}, classify(fmt.Errorf("acme: ordering for %s: %w", in.Certificate, err))
	}
	return res, nil
}

func (a *Activities) beginOrder(ctx context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
	ids := in.Request.Identifiers()
	cert, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request})
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	labels := cert.Labels
	s, err := a.open(ctx, in.Issuer, true)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	recorded, err := a.recordedOrder(ctx, in)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	if recorded == "" {
		if err := a.checkCAA(ctx, s.core.GetDirectory().Meta.CaaIdentities, ids); err != nil {
			return activities.BeginOrderResult{}, err
		}
	}
	var order legoacme.ExtendedOrder
	err = s.retryWithFreshAccount(ctx, func() error {
		order, err = s.order(ctx, in, recorded, ids)
		return err
	})
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	res := activities.BeginOrderResult{
		OrderURL: order.Location, FinalizeURL: order.Finalize, Status: order.Status, NewOrder: order.Location != recorded,
	}
	if res.NewOrder {
		if err := a.recordOrder(ctx, in, order.Location); err != nil {
			return activities.BeginOrderResult{}, err
		}
		activity.GetLogger(ctx).Info("created ACME order", "namespace", in.Certificate.Namespace,
			"name", in.Certificate.Name, "orderURL", order.Location)
	}
	for _, u := range order.Authorizations {
		authz, err := s.core.Authorizations.Get(metrics.WithAction(ctx, metrics.ActionGetAuthorization), u)
		if err != nil {
			return activities.BeginOrderResult{}, fmt.Errorf("reading authorization %s: %w", u, err)
		}
		name, trimmed := strings.CutPrefix(authz.Identifier.Value, "*.")
		out := activities.Authorization{URL: u, Identifier: name, Wildcard: authz.Wildcard || trimmed, Status: authz.Status}
		switch authz.Status {
		case legoacme.StatusValid:
			if !res.NewOrder {
				out.Challenge = a.validatedChallenge(s, authz, labels, name, out.Wildcard)
			}
		case legoacme.StatusPending:
			solver, typ, ok := a.chooseSolver(s.spec.Solvers, labels, name, out.Wildcard, offeredTypes(authz))
			if !ok {
				return activities.BeginOrderResult{}, activities.ConfigErrorBecause(activities.ReasonNoSolver, "%s among the challenges the CA offers (%s)",
					a.noSolver(in.Issuer, name, out.Wildcard), strings.Join(offeredTypes(authz), ", "))
			}
			if out.Challenge, err = challenge(s.core, authz, solver, typ); err != nil {
				return activities.BeginOrderResult{}, activities.ConfigError("%v", err)
			}
		default:
			return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("authorization %s for %s is %s", u, authz.Identifier.Value, authz.Status), activities.ErrTypeACMEPermanent, nil)
		}
		res.Authorizations = append(res.Authorizations, out)
	}
	return res, nil
}

// recordedOrder is the order recorded for this revision, "" when none is.
// It is read here, every time: the workflow may run BeginOrder again with
// the input of an attempt made before the order was. The pending key Secret
// records it; once StoreSecret has stored the revision and deleted the
// pending key (the issuance runs again after a lost workflow task), the
// target Secret does.
func (a *Activities) recordedOrder(ctx context.Context, in activities.BeginOrderInput) (string, error) {
	revision := strconv.Itoa(in.Revision)
	pending, err := a.secret(ctx, in.Certificate.Namespace, activities.PendingKeySecretName(in.Certificate.Name))
	if err != nil {
		return "", err
	}
	if pending != nil && pending.Labels[activities.LabelPendingKey] == "true" && pending.Annotations[activities.AnnotationRevision] == revision {
		return pending.Annotations[activities.AnnotationOrderURL], nil
	}
	target, err := a.secret(ctx, in.Certificate.Namespace, in.Request.SecretName)
	if err != nil {
		return "", err
	}
	if target != nil && activities.SecretOwnedBy(target.Labels, target.Annotations, in.Certificate.Name) && target.Annotations[activities.AnnotationRevision] == revision {
		return target.Annotations[activities.AnnotationOrderURL], nil
	}
	return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("the pending key of revision %d of %s is gone", in.Revision, in.Certificate),
		activities.ErrTypeSecretConflict, nil)
}

// secret reads a Secret of the namespace; nil when there is none.
func (a *Activities) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := a.Kube.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return &s, nil
}

// recordOrder records a new order on the pending key Secret, in one request
// that holds only while the Secret is still this revision's: a retried
// BeginOrder then finds the order rather than making another.
func (a *Activities) recordOrder(ctx context.Context, in activities.BeginOrderInput, orderURL string) error {
	name := activities.PendingKeySecretName(in.Certificate.Name)
	patch, err := json.Marshal([]map[string]string{
		{"op": "test", "path": "/metadata/annotations/" + jsonPointer(activities.AnnotationRevision), "value": strconv.Itoa(in.Revision)},
		{"op": "add", "path": "/metadata/annotations/" + jsonPointer(activities.AnnotationOrderURL), "value": orderURL},
	})
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: in.Certificate.Namespace, Name: name}}
	err = a.Kube.Patch(ctx, secret, client.RawPatch(types.JSONPatchType, patch))
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// Gone, or another revision's: this issuance is not the current one.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"recording order %s: pending key Secret %s/%s is gone or holds another revision's key", orderURL, secret.Namespace, name),
			activities.ErrTypeSecretConflict, nil)
	}
	if err != nil {
		return activities.KubeWriteError(err, fmt.Sprintf("recording order %s on Secret %s/%s", orderURL, secret.Namespace, name),
			"an admission policy may refuse certflow's pending key Secrets")
	}
	return nil
}

// jsonPointer escapes a map key for a JSON pointer (RFC 6901).
func jsonPointer(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// validatedChallenge is the challenge a valid authorization of a resumed
// order was validated with, as Present would have solved it: an earlier
// attempt's record for it may remain. None when no solver fits.
func (a *Activities) validatedChallenge(s *session, authz legoacme.Authorization, labels map[string]string, name string, wildcard bool) activities.Challenge {
	solver, typ, ok := a.chooseSolver(s.spec.Solvers, labels, name, wildcard, offeredTypes(authz))
	if !ok {
		return activities.Challenge{}
	}
	c, err := challenge(s.core, authz, solver, typ)
	if err != nil {
		return activities.Challenge{}
	}
	return c
}

// errPermitExpired: the order's permit ran out before a new order was sent.
var errPermitExpired = temporal.NewNonRetryableApplicationError(
	"the permit for a new order expired before the order was sent: asking for another", activities.ErrTypePermitExpired, nil)

// order returns the order at known if it is on the CA's host and still
// usable for ids, else a new one, when its permit still holds.
func (s *session) order(ctx context.Context, in activities.BeginOrderInput, known string, ids []string) (legoacme.ExtendedOrder, error) {
	if known != "" && s.onCAHost(known) {
		order, err := s.core.Orders.Get(metrics.WithAction(ctx, metrics.ActionGetOrder), known)
		var p *legoacme.ProblemDetails
		switch {
		case err == nil && order.Status != legoacme.StatusInvalid && order.Status != legoacme.StatusExpired && sameIdentifiers(order.Identifiers, ids):
			order.Location = known
			return order, nil
		case err != nil && !(errors.As(err, &p) && p.HTTPStatus >= 400 && p.HTTPStatus < 500 && p.HTTPStatus != http.StatusTooManyRequests):
			return legoacme.ExtendedOrder{}, fmt.Errorf("reading order %s: %w", known, err)
		}
		// Gone (a CA that forgets), invalid, expired or for other names: start over.
	}
	// The limiter counted this order as sent by SendBy: later, the CA could
	// see more orders in one of its windows than the budget allows.
	if !in.SendBy.IsZero() && time.Now().After(in.SendBy) {
		return legoacme.ExtendedOrder{}, errPermitExpired
	}
	if err := s.a.gate.check(s.account(), ids, time.Now()); err != nil {
		return legoacme.ExtendedOrder{}, err
	}
	opts := &api.OrderOptions{Profile: s.spec.Profile, ReplacesCertID: in.ReplacesCertID}
	order, err := s.core.Orders.New(metrics.WithAction(ctx, metrics.ActionAuthorizeOrder), ids, opts)
	var p *legoacme.ProblemDetails
	if err != nil && opts.ReplacesCertID != "" && errors.As(err, &p) && p.HTTPStatus >= 400 && p.HTTPStatus < 500 &&
		p.HTTPStatus != http.StatusTooManyRequests && p.Type != legoacme.RateLimitedErrorType {
		// A CA that does not know the replaced certificate (another account,
		// another CA) refuses "replaces"; order without it (ARI's rate-limit
		// exemption is lost, the renewal is not).
		opts.ReplacesCertID = ""
		order, err = s.core.Orders.New(metrics.WithAction(ctx, metrics.ActionAuthorizeOrder), ids, opts)
	}
	if err != nil {
		s.closeGate(ids, err)
		return legoacme.ExtendedOrder{}, fmt.Errorf("creating order at %s: %w", s.spec.Server, err)
	}
	return order, nil
}

// closeGate holds this worker's further orders of the account when err is
// the CA's rate limit, until its Retry-After (capped) has passed.
func (s *session) closeGate(ids []string, err error) {
	wait := activities.DefaultRetryAfter
	var rl *legoacme.RateLimitedError
	var p *legoacme.ProblemDetails
	switch {
	case errors.As(err, &rl):
		if rl.RetryAfter > 0 {
			wait = rl.RetryAfter
		}
		s.a.gate.close(s.account(), ids, rl.Detail, time.Now().Add(wait))
	case errors.As(err, &p) && (p.Type == legoacme.RateLimitedErrorType || p.HTTPStatus == http.StatusTooManyRequests):
		s.a.gate.close(s.account(), ids, p.Detail, time.Now().Add(wait))
	}
}

func sameIdentifiers(have []legoacme.Identifier, want []string) bool {
	got := make([]string, 0, len(have))
	for _, id := range have {
		got = append(got, id.Value)
	}
	w := slices.Clone(want)
	slices.Sort(got)
	slices.Sort(w)
	return slices.Equal(got, w)
}
