package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// These fuzz targets run no stack: they call certflow's parsers of CA answers
// directly (RenewalInfo against a CA served from the test).

// FuzzClassifyProblem checks how classify sorts a CA's problem document, as
// lego decodes it from an error answer of any status: a rate limit (type
// rateLimited or status 429) is a non-retryable ErrTypeRateLimited whose
// Retry-After, in whole seconds, is the CA's rounded up, never negative and
// never more than a time.Duration holds; badNonce, serverInternal,
// orderNotReady and 5xx are retryable; the contact, EAB and profile problems
// are ErrTypeConfig; every other problem is ErrTypeACMEPermanent. The
// message always carries the CA's detail.
func FuzzClassifyProblem(f *testing.F) {
	const urn = "urn:ietf:params:acme:error:"
	f.Add([]byte(`{"type":"`+urn+`rateLimited","detail":"too many new orders (300) from this account","status":429}`), 429, "3600")
	f.Add([]byte(`{"type":"`+urn+`rateLimited","detail":"too many certificates (5) already issued for this exact set of identifiers"}`), 429, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add([]byte(`{"type":"`+urn+`rateLimited","detail":"slow down"}`), 429, "99999999999999")
	f.Add([]byte(`{"type":"`+urn+`badNonce","detail":"JWS has an invalid anti-replay nonce"}`), 400, "")
	f.Add([]byte(`{"type":"`+urn+`serverInternal","detail":"oops","status":500}`), 500, "")
	f.Add([]byte(`{"type":"`+urn+`externalAccountRequired","detail":"an EAB is required"}`), 403, "")
	f.Add([]byte(`{"type":"`+urn+`rejectedIdentifier","detail":"Error creating new order :: Cannot issue for \"bad..name\"","status":400,`+
		`"subproblems":[{"type":"`+urn+`malformed","detail":"Domain name contains an invalid character","identifier":{"type":"dns","value":"bad..name"}}]}`), 400, "")
	f.Add([]byte(`{"type":"`+urn+`unauthorized","detail":"","status":0}`), 403, "")
	f.Add([]byte(`{}`), 502, "")
	f.Add([]byte(`{"status":"429"}`), 429, "")
	f.Add([]byte(`<html>bad gateway</html>`), 502, "")
	f.Fuzz(func(t *testing.T, body []byte, status int, retryAfterHeader string) {
		if status < 400 || status > 599 {
			return // lego reads only answers of 400 and above as errors
		}
		var p *legoacme.ProblemDetails
		if json.Unmarshal(body, &p) != nil || p == nil {
			return // not a problem document: lego's own error, FuzzRenewalInfoAnswer covers it
		}
		// What lego's sender does with an error answer.
		if p.HTTPStatus == 0 {
			p.HTTPStatus = status
		}
		p.Method, p.URL = http.MethodPost, "https://ca.test/acme/new-order"
		var caErr error = p
		rateLimitedError := p.HTTPStatus == http.StatusTooManyRequests && p.Type == legoacme.RateLimitedErrorType
		caRetryAfter := time.Duration(0)
		switch {
		case p.HTTPStatus == http.StatusBadRequest && p.Type == legoacme.BadNonceErrorType:
			caErr = &legoacme.NonceError{ProblemDetails: p}
		case rateLimitedError:
			// lego reads delay-seconds as it comes, wrapping past 292 years.
			if s, err := strconv.ParseInt(retryAfterHeader, 10, 64); err == nil {
				caRetryAfter = time.Duration(s) * time.Second
			} else if at, err := time.Parse(time.RFC1123, retryAfterHeader); err == nil {
				caRetryAfter = time.Until(at)
			}
			caErr = &legoacme.RateLimitedError{ProblemDetails: p, RetryAfter: caRetryAfter}
		}

		err := classify(fmt.Errorf("acme: creating order for default/web: %w", caErr))
		if !strings.Contains(err.Error(), p.Detail) {
			t.Fatalf("message %q lacks the CA's detail %q", err, p.Detail)
		}
		var transient *transientError
		if errors.As(err, &transient) {
			if !(p.Type == legoacme.BadNonceErrorType || p.Type == legoacme.ServerInternalErrorType ||
				p.Type == legoacme.OrderNotReadyErrorType || p.HTTPStatus >= 500) ||
				p.Type == legoacme.RateLimitedErrorType || p.HTTPStatus == http.StatusTooManyRequests {
				t.Fatalf("problem %q with status %d is left to retry", p.Type, p.HTTPStatus)
			}
			return
		}
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || !app.NonRetryable() {
			t.Fatalf("classify returned %T %v: want a transientError or a non-retryable application error", err, err)
		}
		switch app.Type() {
		case activities.ErrTypeRateLimited:
			if p.Type != legoacme.RateLimitedErrorType && p.HTTPStatus != http.StatusTooManyRequests {
				t.Fatalf("problem %q with status %d is a rate limit", p.Type, p.HTTPStatus)
			}
			var d activities.RateLimitDetails
			if err := app.Details(&d); err != nil {
				t.Fatalf("rate limit without details: %v", err)
			}
			if d.Detail != p.Detail {
				t.Fatalf("rate limit detail %q, the CA said %q", d.Detail, p.Detail)
			}
			if d.RetryAfterSeconds < 0 || d.RetryAfterSeconds > int64(math.MaxInt64/time.Second) {
				t.Fatalf("Retry-After of %d seconds: the workflow cannot wait that", d.RetryAfterSeconds)
			}
			want := int64(0)
			if rateLimitedError && caRetryAfter > 0 {
				want = min(int64((caRetryAfter-1)/time.Second)+1, int64(math.MaxInt64/time.Second))
			}
			if d.RetryAfterSeconds != want {
				t.Fatalf("Retry-After of %d seconds, the CA said %s", d.RetryAfterSeconds, caRetryAfter)
			}
		case activities.ErrTypeConfig:
			switch p.Type {
			case legoacme.ExternalAccountRequiredErrorType, legoacme.InvalidContactErrorType,
				legoacme.UnsupportedContactErrorType, legoacme.InvalidProfileErrorType:
			default:
				t.Fatalf("problem %q is a config error", p.Type)
			}
		case activities.ErrTypeACMEPermanent:
			if p.HTTPStatus >= 500 || p.HTTPStatus == http.StatusTooManyRequests || p.Type == legoacme.BadNonceErrorType ||
				p.Type == legoacme.ServerInternalErrorType || p.Type == legoacme.OrderNotReadyErrorType {
				t.Fatalf("problem %q with status %d is permanent", p.Type, p.HTTPStatus)
			}
		default:
			t.Fatalf("error type %q", app.Type())
		}
	})
}

// FuzzRetryAfter checks the reading of a CA's Retry-After header: never
// negative; delay-seconds is that many seconds, the largest time.Duration
// when it holds no more; an HTTP date is the time until then; anything else
// is 0. The wait between two polls is the CA's, at most maxPollWait, or the
// fallback when the CA said nothing usable.
func FuzzRetryAfter(f *testing.F) {
	for _, header := range []string{"", "0", "5", "120", "-3", "+7", "9223372036", "9223372037", "99999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT", "Monday, 02-Jan-06 15:04:05 MST",
		"Mon Jan  2 15:04:05 2006", "soon", " 5", "5s", "1.5"} {
		f.Add(header)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header string) {
		got := retryAfter(header, now)
		if got < 0 {
			t.Fatalf("Retry-After %q gives %s", header, got)
		}
		var want time.Duration
		if s, err := strconv.ParseInt(header, 10, 64); err == nil {
			if s > 0 {
				want = math.MaxInt64 / time.Second * time.Second
				if s <= int64(math.MaxInt64/time.Second) {
					want = time.Duration(s) * time.Second
				}
			}
		} else if at, err := http.ParseTime(header); err == nil && at.After(now) {
			want = at.Sub(now)
		}
		if got != want {
			t.Fatalf("Retry-After %q gives %s, want %s", header, got, want)
		}

		hints := &retryAfters{last: map[string]time.Duration{"https://ca.test/order/1": got}}
		wait := hints.wait("https://ca.test/order/1", time.Second)
		switch {
		case got == 0 && wait != time.Second:
			t.Fatalf("no Retry-After waits %s, not the fallback", wait)
		case got > 0 && wait != min(got, maxPollWait):
			t.Fatalf("Retry-After %s waits %s between polls", got, wait)
		}
	})
}
