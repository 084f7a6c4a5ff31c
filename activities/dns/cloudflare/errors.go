package cloudflare

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/option"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// Codes of Cloudflare's error bodies that the provider acts on.
const (
	// codeIdenticalRecordExists: a create of a record the zone holds already.
	codeIdenticalRecordExists = 81058
	// codeRecordDoesNotExist: a delete of a record that is gone.
	codeRecordDoesNotExist = 81044
)

// authCodes are the codes with which Cloudflare refuses credentials: 6003 and
// 61xx (malformed auth headers), 9103 (unknown X-Auth-Key or X-Auth-Email),
// 9106 (no auth headers), 9109 (invalid access token), 10000 (authentication
// error, also a token without the permission the call needs).
var authCodes = []int64{6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9109, 10000}

// classify turns an error of a Cloudflare call into what the activity acts
// on, once, with Cloudflare's own message:
//
//   - 401, 403, or any status with an auth code: certflowdns.Permanent; the
//     message says to check the token or key and the permissions it needs.
//   - 429, 408, 409 and 5xx: a plain error, retried by the activity (the SDK
//     already retried it, after the server's Retry-After).
//   - any other 4xx (a zone ID Cloudflare does not know, content it refuses):
//     certflowdns.Permanent; asking again gets the same answer.
//   - network errors and an ended context: a plain error.
func classify(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var api *dns.Error
	if !errors.As(err, &api) {
		return fmt.Errorf("cloudflare: %s: %w", what, err)
	}
	status := api.StatusCode
	msg := fmt.Sprintf("cloudflare: %s: HTTP %d: %s", what, status, apiMessages(api))
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || hasAnyCode(api, authCodes):
		return certflowdns.PermanentBecause(certflowdns.AuthFailed, errors.New(msg+" (check the API token, or the API key and email: the token needs Zone:Read and DNS:Edit on the zone)"))
	case status == http.StatusTooManyRequests:
		if wait, ok := retryAfter(api.Response); ok {
			msg += fmt.Sprintf(" (Cloudflare asks to wait %s)", wait.Round(time.Second))
		}
		return errors.New(msg)
	case status == http.StatusRequestTimeout || status == http.StatusConflict || status >= 500:
		return errors.New(msg)
	}
	return certflowdns.Permanent(errors.New(msg))
}

// apiMessages are the errors of Cloudflare's body, "message (code)" each.
func apiMessages(api *dns.Error) string {
	if len(api.Errors) == 0 {
		return http.StatusText(api.StatusCode)
	}
	msgs := make([]string, len(api.Errors))
	for i, e := range api.Errors {
		msgs[i] = fmt.Sprintf("%s (%d)", e.Message, e.Code)
	}
	return strings.Join(msgs, "; ")
}

// hasCode says whether err is an API error whose body holds code.
func hasCode(err error, code int64) bool {
	var api *dns.Error
	return errors.As(err, &api) && hasAnyCode(api, []int64{code})
}

func hasAnyCode(api *dns.Error, codes []int64) bool {
	return slices.ContainsFunc(api.Errors, func(e dns.ErrorData) bool { return slices.Contains(codes, e.Code) })
}

// noWaitPastDeadline stops the SDK from retrying an answer whose Retry-After
// ends after the call's context: the SDK would sleep until the context ends
// and return only "context deadline exceeded". The answer is returned
// instead, with Cloudflare's message, for the activity to retry later.
func noWaitPastDeadline(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil {
		return res, err
	}
	deadline, bounded := req.Context().Deadline()
	if wait, ok := retryAfter(res); ok && bounded && time.Now().Add(wait).After(deadline) {
		res.Header.Set("X-Should-Retry", "false")
	}
	return res, nil
}

// retryAfter reads the Retry-After header: seconds, or an HTTP date.
func retryAfter(res *http.Response) (time.Duration, bool) {
	if res == nil {
		return 0, false
	}
	v := res.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t), true
	}
	return 0, false
}
