package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/certflow/certflow/internal/metrics"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"

	"github.com/certflow/certflow/activities"
)

// RenewalInfo asks the CA's ARI endpoint (RFC 9773) when to renew the
// certificate in.ARICertID names. ARI needs no account. It is advice: a CA
// without ARI, an empty or inverted window (which RFC 9773 says to treat as
// no answer), a certificate the CA does not know (4xx) and one an issuer of
// another kind signed all come back as
// Supported false, and the workflow falls back to renewBefore. Network
// errors and 5xx are retryable; 429 is ErrTypeRateLimited.
func (a *Activities) RenewalInfo(ctx context.Context, in activities.RenewalInfoInput) (activities.RenewalInfoResult, error) {
	res, err := a.renewalInfo(ctx, in)
	if err != nil {
		return activities.RenewalInfoResult{}, classify(fmt.Errorf("acme: reading renewal info of %s from %s: %w", in.ARICertID, in.Issuer, err))
	}
	return res, nil
}

func (a *Activities) renewalInfo(ctx context.Context, in activities.RenewalInfoInput) (activities.RenewalInfoResult, error) {
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return activities.RenewalInfoResult{}, err
	}
	if iss.Spec.ACME == nil || in.ARICertID == "" { // a certificate another kind of issuer signed
		return activities.RenewalInfoResult{}, nil
	}
	core, _, err := a.dial(iss, "", accountKey{})
	if err != nil {
		return activities.RenewalInfoResult{}, err
	}
	if core.GetDirectory().RenewalInfo == "" {
		return activities.RenewalInfoResult{}, nil
	}
	info, err := core.Certificates.GetRenewalInfo(metrics.WithAction(ctx, metrics.ActionGetRenewalInfo), in.ARICertID)
	var p *legoacme.ProblemDetails
	switch {
	case errors.Is(err, api.ErrNoARI):
		return activities.RenewalInfoResult{}, nil
	case errors.As(err, &p) && p.HTTPStatus >= 400 && p.HTTPStatus < 500 && p.HTTPStatus != http.StatusTooManyRequests:
		return activities.RenewalInfoResult{}, nil
	case err != nil:
		return activities.RenewalInfoResult{}, err
	}
	return activities.RenewalInfoResult{
		Supported:      true,
		WindowStart:    info.SuggestedWindow.Start,
		WindowEnd:      info.SuggestedWindow.End,
		ExplanationURL: info.ExplanationURL,
		RetryAfter:     info.RetryAfter,
	}, nil
}
