package acme

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// classify turns an error of an ACME activity into what the workflow acts on
// (STYLE.md rule 9). Every method returns through it, once.
//
//   - rateLimited (429): non-retryable ErrTypeRateLimited carrying
//     RateLimitDetails with the CA's Retry-After; the workflow sleeps that long.
//   - a problem the user must fix (no EAB when the CA wants one, a bad contact
//     address, a CA certificate that the caBundle does not verify):
//     non-retryable ErrTypeConfig.
//   - any other problem document with a 4xx status (unauthorized, caa,
//     rejectedIdentifier, malformed, badCSR, unsupportedIdentifier, ...):
//     non-retryable ErrTypeACMEPermanent; asking again gets the same answer.
//   - badNonce (lego already retried it), orderNotReady (a race with another
//     attempt), 5xx, network errors and Kubernetes API errors: a plain error,
//     left to the activity's retry policy.
//
// Errors already classified below (issuer not found, config) keep their type.
// The message reads like a path and the CA's problem shows as "type: detail".
func classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*temporal.ApplicationError); ok {
		return err
	}
	msg := readable(err)
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		opts := temporal.ApplicationErrorOptions{NonRetryable: app.NonRetryable()}
		if reason := activities.ConfigReason(app); reason != "" {
			opts.Details = []any{activities.ConfigDetails{Reason: reason}}
		}
		return temporal.NewApplicationErrorWithOptions(msg, app.Type(), opts)
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return permanent(msg, activities.ErrTypeConfig)
	}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		return rateLimited(msg, rl.RetryAfter, rl.Detail)
	}
	var p *legoacme.ProblemDetails
	if !errors.As(err, &p) {
		return &transientError{msg: msg}
	}
	switch {
	case p.Type == legoacme.RateLimitedErrorType || p.HTTPStatus == http.StatusTooManyRequests:
		return rateLimited(msg, 0, p.Detail)
	case p.Type == legoacme.BadNonceErrorType, p.Type == legoacme.ServerInternalErrorType,
		p.Type == legoacme.OrderNotReadyErrorType, p.HTTPStatus >= 500:
		return &transientError{msg: msg}
	case p.Type == legoacme.ExternalAccountRequiredErrorType, p.Type == legoacme.InvalidContactErrorType,
		p.Type == legoacme.UnsupportedContactErrorType, p.Type == legoacme.InvalidProfileErrorType:
		return permanent(msg, activities.ErrTypeConfig)
	}
	return permanent(msg, activities.ErrTypeACMEPermanent)
}

func permanent(msg, errType string) error {
	return temporal.NewNonRetryableApplicationError(msg, errType, nil)
}

// rateLimited carries the CA's Retry-After in whole seconds, rounded up: at
// least 0 (lego reports a past date as negative) and at most what a
// time.Duration holds, so that the workflow can turn it back into one.
func rateLimited(msg string, retryAfter time.Duration, detail string) error {
	retryAfter = max(retryAfter, 0)
	if retryAfter > 0 && !strings.Contains(strings.ToLower(detail), "retry after") {
		msg = fmt.Sprintf("%s (retry after %s)", msg, retryAfter.Round(time.Second))
	}
	seconds := int64(retryAfter / time.Second)
	if retryAfter%time.Second != 0 && seconds < int64(math.MaxInt64/time.Second) {
		seconds++
	}
	return temporal.NewApplicationErrorWithOptions(msg, activities.ErrTypeRateLimited, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Details: []any{activities.RateLimitDetails{
			RetryAfterSeconds: seconds,
			Detail:            detail,
			RefusedAt:         time.Now(),
		}},
	})
}

// transientError is an error left to the retry policy, with a readable
// message. It does not unwrap: Temporal records every error of an unwrap
// chain as a cause, which would repeat the message in history once per layer.
type transientError struct{ msg string }

func (e *transientError) Error() string { return e.msg }

// readable is err's message with lego's problem documents shown as
// "type: detail" and an already classified error shown without its cause.
func readable(err error) string {
	msg := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg = strings.Replace(msg, app.Error(), app.Message(), 1)
	}
	var p *legoacme.ProblemDetails
	if errors.As(err, &p) {
		msg = strings.Replace(msg, p.Error(), problem(p), 1)
	}
	// Go's words for a failed request repeat its URL; ours name the server.
	var urlErr *url.Error
	if unreachable := (*unreachableError)(nil); errors.As(err, &urlErr) && errors.As(urlErr.Err, &unreachable) {
		msg = strings.Replace(msg, urlErr.Error(), unreachable.Error(), 1)
	}
	// lego's words for a failed HTTP exchange; ours (retryAfters) say which.
	return strings.Replace(msg, "unable to communicate with the API server: error: ", "", 1)
}

// problem shows a problem document as "type: detail; identifier: type: detail".
func problem(p *legoacme.ProblemDetails) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", shortType(p.Type), p.Detail)
	for _, sub := range p.SubProblems {
		fmt.Fprintf(&b, "; %s: %s: %s", sub.Identifier.Value, shortType(sub.Type), sub.Detail)
	}
	if p.Type == "" && p.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", p.HTTPStatus)
	}
	return b.String()
}

func shortType(t string) string {
	return strings.TrimPrefix(t, "urn:ietf:params:acme:error:")
}
