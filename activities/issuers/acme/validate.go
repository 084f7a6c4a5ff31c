package acme

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/metrics"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
)

// Validate asks the CA to check the challenge of every authorization that is
// not valid yet, then polls the authorizations (heartbeating) until each is
// valid or one is not. A challenge the CA is already checking, or has
// checked, is not asked again. An invalid authorization is a non-retryable
// ErrTypeACMEPermanent whose message carries the CA's reason and whose
// details carry the ValidateResult, with the reason in Challenge.ValidateError.
func (a *Activities) Validate(ctx context.Context, in activities.ValidateInput) (activities.ValidateResult, error) {
	out, err := a.validate(ctx, in)
	if err != nil {
		return activities.ValidateResult{}, classify(fmt.Errorf("acme: validating %s: %w", names(in.Authorizations), err))
	}
	var failed []string
	for _, authz := range out {
		if authz.Status != legoacme.StatusValid {
			failed = append(failed, fmt.Sprintf("%s for %s: %s", authz.Challenge.Type, authz.Name(), authz.Challenge.ValidateError))
		}
	}
	if len(failed) > 0 {
		return activities.ValidateResult{}, temporal.NewNonRetryableApplicationError(
			"acme: validating "+strings.Join(failed, "; "), activities.ErrTypeACMEPermanent, nil,
			activities.ValidateResult{Authorizations: out})
	}
	return activities.ValidateResult{Authorizations: out}, nil
}

func (a *Activities) validate(ctx context.Context, in activities.ValidateInput) ([]activities.Authorization, error) {
	out := slices.Clone(in.Authorizations)
	claim := certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer}
	for _, az := range out {
		claim.Identifiers = append(claim.Identifiers, az.Name())
	}
	if _, err := a.Certificates.Check(ctx, claim); err != nil {
		return nil, err
	}
	s, err := a.open(ctx, in.Issuer, true)
	if err != nil {
		return nil, err
	}
	for _, az := range out {
		if !s.onCAHost(az.URL) || !s.onCAHost(az.Challenge.URL) && az.Status != legoacme.StatusValid {
			return nil, activities.ConfigError("authorization %s or its challenge %s is not on the CA's host %s", az.URL, az.Challenge.URL, s.spec.Server)
		}
	}
	for i := range out {
		if out[i].Status == legoacme.StatusValid {
			continue
		}
		var authz legoacme.Authorization
		err := s.retryWithFreshAccount(ctx, func() (err error) {
			authz, err = s.core.Authorizations.Get(metrics.WithAction(ctx, metrics.ActionGetAuthorization), out[i].URL)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading authorization %s: %w", out[i].URL, err)
		}
		if err := s.accept(ctx, &out[i], authz); err != nil {
			return nil, err
		}
	}
	return out, s.poll(ctx, func() (bool, string, error) {
		done, url := true, ""
		for i := range out {
			if out[i].Status != legoacme.StatusPending {
				continue
			}
			authz, err := s.core.Authorizations.Get(metrics.WithAction(ctx, metrics.ActionGetAuthorization), out[i].URL)
			if err != nil {
				return false, "", fmt.Errorf("reading authorization %s: %w", out[i].URL, err)
			}
			update(&out[i], authz)
			if out[i].Status == legoacme.StatusPending {
				done, url = false, out[i].URL
			}
		}
		return done, url, nil
	})
}

// accept asks the CA to check the challenge unless it is not pending any more.
func (s *session) accept(ctx context.Context, out *activities.Authorization, authz legoacme.Authorization) error {
	update(out, authz)
	if out.Status != legoacme.StatusPending {
		return nil
	}
	i := slices.IndexFunc(authz.Challenges, func(c legoacme.Challenge) bool { return c.URL == out.Challenge.URL })
	if i < 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("authorization %s no longer offers challenge %s",
			out.URL, out.Challenge.URL), activities.ErrTypeACMEPermanent, nil)
	}
	if authz.Challenges[i].Status != legoacme.StatusPending {
		return nil
	}
	if _, err := s.core.Challenges.New(metrics.WithAction(ctx, metrics.ActionAcceptChallenge), out.Challenge.URL); err != nil {
		// Look again: an earlier attempt may have accepted it meanwhile.
		again, err2 := s.core.Challenges.Get(metrics.WithAction(ctx, metrics.ActionGetChallenge), out.Challenge.URL)
		if err2 != nil || again.Status == legoacme.StatusPending {
			return fmt.Errorf("accepting %s challenge %s: %w", out.Challenge.Type, out.Challenge.URL, err)
		}
	}
	return nil
}

// update copies an authorization's status, and its challenge's error when it failed.
func update(out *activities.Authorization, authz legoacme.Authorization) {
	out.Status = authz.Status
	if authz.Status == legoacme.StatusPending || authz.Status == legoacme.StatusValid {
		return
	}
	out.Challenge.ValidateError = "the authorization is " + authz.Status
	for _, c := range authz.Challenges {
		if c.Error != nil && (c.URL == out.Challenge.URL || out.Challenge.URL == "") {
			out.Challenge.ValidateError = problem(c.Error)
		}
	}
}

// poll calls check until it is done, heartbeating each round and waiting
// between rounds for the CA's last Retry-After of the URL check names (at
// most maxPollWait) or the poll interval.
func (s *session) poll(ctx context.Context, check func() (done bool, url string, err error)) error {
	for round := 1; ; round++ {
		done, url, err := check()
		if err != nil || done {
			return err
		}
		activity.RecordHeartbeat(ctx, round)
		t := time.NewTimer(s.hints.wait(url, s.a.pollWait(round)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s: %w", url, ctx.Err())
		case <-t.C:
		}
	}
}

func names(authzs []activities.Authorization) string {
	out := make([]string, 0, len(authzs))
	for _, authz := range authzs {
		out = append(out, authz.Name())
	}
	return strings.Join(out, ", ")
}
