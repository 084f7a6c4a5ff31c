package azuredns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// classify marks the errors that no retry mends as Permanent, and says each
// in Azure's own words (its code and message; the SDK's own error text dumps
// the whole answer):
//
//   - Microsoft Entra ID refused to sign in: a 4xx from the token endpoint
//     (AADSTS7000215 a wrong client secret, AADSTS700016 an unknown
//     application, AADSTS90002 an unknown tenant), or from the managed
//     identity endpoint (an identity the node does not have);
//   - the credential found no identity to sign in with, and asked nothing
//     that answered (no environment, no federated token, no managed
//     identity endpoint): azidentity's credential-unavailable error, or an
//     AuthenticationFailedError without a response whose text shows no
//     request that went unanswered;
//   - ARM refused the request: 400; 401 InvalidAuthenticationToken; 403
//     AuthorizationFailed (the principal has no DNS Zone Contributor role on
//     the zone); 404 SubscriptionNotFound, ResourceGroupNotFound,
//     ParentResourceNotFound (the zone is not there).
//
// Everything else may pass on a retry: 412 (the record set changed since it
// was read), 408, 409, 429 and 5xx once the SDK's own retries are spent
// (they honour Retry-After, within the context), and network errors, also
// those of the credential on its way to Entra ID.
func classify(err error) error {
	var re *azcore.ResponseError
	var af *azidentity.AuthenticationFailedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		e := armError(re, err)
		if permanentStatus(re.StatusCode) {
			return certflowdns.RefusedWith(re.StatusCode, e)
		}
		return e
	case errors.As(err, &af) && af.RawResponse != nil:
		e := entraError(af.RawResponse, err)
		if permanentStatus(af.RawResponse.StatusCode) {
			return certflowdns.PermanentBecause(certflowdns.AuthFailed, e)
		}
		return e
	case noIdentity(err):
		return certflowdns.PermanentBecause(certflowdns.AuthFailed, err)
	}
	return err
}

// unanswered matches the text of a request that got no answer: Go's
// *url.Error ("Get \"https://...\": dial tcp ...") or an ended context.
// azidentity keeps only the text of such an error.
var unanswered = regexp.MustCompile(`(Get|Post) "[^"]*": |` + context.DeadlineExceeded.Error() + `|` + context.Canceled.Error())

// noIdentity says whether the credential failed without an answer from
// anyone, for want of an identity rather than of a network: the innermost
// error is azidentity's own (it marks itself NonRetriable, as azcore's
// wrapper does, which unwraps), and its text shows no request that went
// unanswered.
func noIdentity(err error) bool {
	inner := err
	for next := errors.Unwrap(inner); next != nil; next = errors.Unwrap(inner) {
		inner = next
	}
	if _, ok := inner.(interface{ NonRetriable() }); !ok {
		return false
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(inner, &af) && af.RawResponse != nil {
		return false
	}
	return !unanswered.MatchString(inner.Error())
}

func permanentStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// apiError is an answer of ARM or Entra ID, as the service words it.
type apiError struct {
	service, code, message string
	status                 int
	err                    error
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.service, e.status, e.code, e.message)
}

func (e *apiError) Unwrap() error { return e.err }

// armError reads ARM's error body, {"error": {"code": ..., "message": ...}}.
func armError(re *azcore.ResponseError, err error) *apiError {
	e := &apiError{service: "Azure Resource Manager", code: re.ErrorCode, status: re.StatusCode, err: err}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if re.RawResponse != nil {
		if payload, perr := runtime.Payload(re.RawResponse); perr == nil && json.Unmarshal(payload, &body) == nil {
			e.message = body.Error.Message
		}
	}
	if e.message == "" {
		e.message = http.StatusText(re.StatusCode)
	}
	return e
}

// entraError reads Entra ID's OAuth error body; its description starts
// with the AADSTS code and ends with trace and correlation IDs, which are
// left out.
func entraError(resp *http.Response, err error) *apiError {
	e := &apiError{service: "Microsoft Entra ID", status: resp.StatusCode, err: err}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if payload, perr := runtime.Payload(resp); perr == nil && json.Unmarshal(payload, &body) == nil {
		e.code = body.Error
		e.message, _, _ = strings.Cut(body.Description, " Trace ID:")
	}
	if e.message == "" {
		e.message = http.StatusText(resp.StatusCode)
	}
	return e
}
