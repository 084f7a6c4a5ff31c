package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// BeginOrder is the idempotent start of an issuance: it makes (or finds) the
// pending key and the order, saved together in the pending key Secret as
// soon as the CA made the order (so that a retry after a crash reuses both),
// the CSR, and, per authorization, the challenge to solve. Valid
// authorizations come back as "valid" with no challenge: the workflow skips
// them.
func (a *Activities) BeginOrder(ctx context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
	// The step may wait minutes for its turn to make a key (keygen.go), so
	// its timeout is long: heartbeats let the server notice a dead worker in
	// seconds instead, and retry the step on another. (As a local activity,
	// the step's workflow task is what the worker heartbeats; these are
	// no-ops.)
	defer activities.BeatEvery(5*time.Second, func() { activity.RecordHeartbeat(ctx) })()
	res, err := a.beginOrder(ctx, in)
	if err != nil {
		return activities.BeginOrderResult{}, classify(fmt.Errorf("acme: ordering for %s: %w", in.Certificate, err))
	}
	return res, nil
}

func (a *Activities) beginOrder(ctx context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
	ids := in.Request.Identifiers()
	if len(ids) == 0 {
		return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(
			"the request has no DNS name or IP address", activities.ErrTypeConfig, nil)
	}
	s, err := a.open(ctx, in.Issuer, true)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	labels, owner, err := a.certificate(ctx, in.Certificate)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	// Refuse a name no solver covers before making anything at the CA.
	for _, id := range ids {
		name, wildcard := strings.CutPrefix(id, "*.")
		if _, _, ok := chooseSolver(s.spec.Solvers, labels, name, wildcard, nil); !ok {
			return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(
				noSolver(in.Issuer, name, wildcard), activities.ErrTypeConfig, nil)
		}
	}
	key, secret, saved, err := a.pendingKey(ctx, in)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	csr, err := makeCSR(in.Request, key)
	if err != nil {
		return activities.BeginOrderResult{}, err
	}

	recorded := secret.Annotations[activities.AnnotationOrderURL] // of a saved key, or a stored one
	var order legoacme.ExtendedOrder
	err = s.retryWithFreshAccount(ctx, func() error {
		order, err = s.order(ctx, in, recorded, ids)
		return err
	})
	if errors.Is(err, errPermitExpired) && !saved {
		// Keep the key for the order the next permit allows.
		if saveErr := a.savePendingKey(ctx, secret, owner, ""); saveErr != nil {
			err = saveErr // retried: then saved, or ordered in time
		}
	}
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	switch {
	case saved && recorded != order.Location:
		err = a.recordOrder(ctx, secret, order.Location)
	case !saved && recorded != order.Location: // a stored key whose order serves again needs no pending key
		err = a.savePendingKey(ctx, secret, owner, order.Location)
	}
	if err != nil {
		return activities.BeginOrderResult{}, err
	}
	if order.Location != recorded {
		activity.GetLogger(ctx).Info("created ACME order", "namespace", in.Certificate.Namespace,
			"name", in.Certificate.Name, "orderURL", order.Location)
	}

	resumed := recorded != "" && order.Location == recorded
	res := activities.BeginOrderResult{
		OrderURL: order.Location, FinalizeURL: order.Finalize, Status: order.Status, PendingKeySecret: secret.Name, CSR: csr,
	}
	for _, u := range order.Authorizations {
		authz, err := s.core.Authorizations.Get(ctx, u)
		if err != nil {
			return activities.BeginOrderResult{}, fmt.Errorf("reading authorization %s: %w", u, err)
		}
		name, trimmed := strings.CutPrefix(authz.Identifier.Value, "*.")
		out := activities.Authorization{URL: u, Identifier: name, Wildcard: authz.Wildcard || trimmed, Status: authz.Status}
		switch authz.Status {
		case legoacme.StatusValid:
			if resumed {
				out.Challenge = validatedChallenge(s, authz, labels, name, out.Wildcard)
			}
		case legoacme.StatusPending:
			solver, typ, ok := chooseSolver(s.spec.Solvers, labels, name, out.Wildcard, offeredTypes(authz))
			if !ok {
				return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(
					noSolver(in.Issuer, name, out.Wildcard)+" among the challenges the CA offers ("+
						strings.Join(offeredTypes(authz), ", ")+")", activities.ErrTypeConfig, nil)
			}
			if out.Challenge, err = challenge(s.core, authz, solver, typ); err != nil {
				return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeConfig, nil)
			}
		default:
			return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("authorization %s for %s is %s", u, authz.Identifier.Value, authz.Status), activities.ErrTypeACMEPermanent, nil)
		}
		res.Authorizations = append(res.Authorizations, out)
	}
	return res, nil
}

// validatedChallenge is the challenge a valid authorization of a resumed
// order was validated with, as Present would have solved it: an earlier
// attempt's record for it may remain. None when no solver fits.
func validatedChallenge(s *session, authz legoacme.Authorization, labels map[string]string, name string, wildcard bool) activities.Challenge {
	solver, typ, ok := chooseSolver(s.spec.Solvers, labels, name, wildcard, offeredTypes(authz))
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

// order returns the order at known if it is still usable for ids, else a new
// one, when its permit still holds.
func (s *session) order(ctx context.Context, in activities.BeginOrderInput, known string, ids []string) (legoacme.ExtendedOrder, error) {
	if known != "" {
		order, err := s.core.Orders.Get(ctx, known)
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
	opts := &api.OrderOptions{Profile: s.spec.Profile, ReplacesCertID: in.ReplacesCertID}
	order, err := s.core.Orders.New(ctx, ids, opts)
	var p *legoacme.ProblemDetails
	if err != nil && opts.ReplacesCertID != "" && errors.As(err, &p) && p.HTTPStatus >= 400 && p.HTTPStatus < 500 &&
		p.HTTPStatus != http.StatusTooManyRequests && p.Type != legoacme.RateLimitedErrorType {
		// A CA that does not know the replaced certificate (another account,
		// another CA) refuses "replaces"; order without it (ARI's rate-limit
		// exemption is lost, the renewal is not).
		opts.ReplacesCertID = ""
		order, err = s.core.Orders.New(ctx, ids, opts)
	}
	if err != nil {
		return legoacme.ExtendedOrder{}, fmt.Errorf("creating order at %s: %w", s.spec.Server, err)
	}
	return order, nil
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

// certificate reads the Certificate's labels (for solver selectors) and an
// owner reference for the pending key Secret. A Certificate that is gone has
// neither; its workflow is being cancelled.
func (a *Activities) certificate(ctx context.Context, ref activities.CertificateRef) (map[string]string, *metav1.OwnerReference, error) {
	var cert certflowv1.Certificate
	err := a.Kube.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &cert)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading Certificate %s: %w", ref, err)
	}
	return cert.Labels, &metav1.OwnerReference{
		APIVersion: certflowv1.GroupVersion.String(), Kind: certflowv1.CertificateKind, Name: cert.Name, UID: cert.UID,
	}, nil
}
