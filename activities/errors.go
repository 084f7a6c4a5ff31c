package activities

import (
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"go.temporal.io/sdk/temporal"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Error types of non-retryable application errors
// (temporal.NewNonRetryableApplicationError(msg, ErrType..., cause)). The
// workflow reads the type to decide what to do; the message goes to status.
const (
	// ErrTypeRateLimited: the CA refused with rateLimited; the error's details
	// carry a RateLimitDetails with the time to wait.
	ErrTypeRateLimited = "RateLimited"
	// ErrTypeACMEPermanent: the CA refused for good (unauthorized, caa,
	// rejectedIdentifier, malformed, an invalid challenge, ...).
	ErrTypeACMEPermanent = "ACMEPermanent"
	// ErrTypeConfig: the issuer or certificate cannot work as configured (no
	// solver for a name, a missing credentials Secret, a bad TSIG key, ...):
	// a user must fix something.
	ErrTypeConfig = "Config"
	// ErrTypeSecretConflict: the target Secret belongs to something else or
	// changed under us.
	ErrTypeSecretConflict = "SecretConflict"
	// ErrTypeIssuerNotFound: the referenced Issuer or ClusterIssuer is gone.
	ErrTypeIssuerNotFound = "IssuerNotFound"
	// ErrTypeMismatch: the activity's input names something the API server
	// says otherwise (another issuer, another request, a Certificate that
	// is gone): nothing was done. A Certificate that changed is looked at
	// again by its workflow.
	ErrTypeMismatch = "Mismatch"
	// ErrTypePermitExpired: BeginOrder could not send a new order by its
	// permit's BeginOrderInput.SendBy and sent none: the Order asks the
	// limiter for another permit. The pending key is kept.
	ErrTypePermitExpired = "PermitExpired"
	// ErrTypeSelfCheckTimeout: a challenge response was not reachable where
	// the CA looks within its solver's selfCheckTimeout; the attempt fails
	// and the next one presents again.
	ErrTypeSelfCheckTimeout = "SelfCheckTimeout"
)

// DefaultRetryAfter is the wait after a rate limit whose answer named no
// time.
const DefaultRetryAfter = time.Minute

// RateLimitDetails is the detail of an ErrTypeRateLimited error.
type RateLimitDetails struct {
	RetryAfterSeconds int64
	Detail            string
	// RefusedAt is when the CA refused: its Retry-After counts from here, so
	// a workflow task that runs again later still waits until the same time.
	// Zero in errors recorded before certflow kept it.
	RefusedAt time.Time
}

// ConfigError is a problem a user must fix in a Certificate, an issuer or a
// Secret they refer to: non-retryable ErrTypeConfig.
func ConfigError(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeConfig, nil)
}

// ConfigDetails is the detail of an ErrTypeConfig error that knows its
// class: the reason of the Certificate's conditions.
type ConfigDetails struct {
	Reason string
}

// Classes of configuration errors, as condition reasons.
const (
	ReasonDNSZoneNotServed = certflowv1.ReasonDNSZoneNotServed
	ReasonDNSAuthFailed    = certflowv1.ReasonDNSAuthFailed
	ReasonNoSolver         = certflowv1.ReasonNoSolver
	ReasonCAAForbidden     = certflowv1.ReasonCAAForbidden
)

// ConfigErrorBecause is a ConfigError of a known class (ReasonDNSAuthFailed,
// ...), which the Certificate's conditions give as their reason.
func ConfigErrorBecause(reason, format string, args ...any) error {
	if reason == "" {
		return ConfigError(format, args...)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeConfig, nil, ConfigDetails{Reason: reason})
}

// ConfigReason is the class of a configuration error, "" when it has none.
func ConfigReason(app *temporal.ApplicationError) string {
	var d ConfigDetails
	if app.Type() != ErrTypeConfig || !app.HasDetails() || app.Details(&d) != nil {
		return ""
	}
	return d.Reason
}

// Wrap adds context to err, once, keeping its classification. Temporal reads
// only the outermost error of a chain, so a non-retryable ApplicationError
// inside err is made again around the longer message (with a configuration
// error's class, without other details), instead of hidden in a plain
// wrapped error that would be retried.
func Wrap(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		if reason := ConfigReason(app); reason != "" {
			return temporal.NewNonRetryableApplicationError(prefix+": "+app.Message(), app.Type(), app.Unwrap(), ConfigDetails{Reason: reason})
		}
		return temporal.NewNonRetryableApplicationError(prefix+": "+app.Message(), app.Type(), app.Unwrap())
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// KubeWriteError is the error of a write to the API server (what says which
// write, hint what to check). A write the API server refuses for good is a
// non-retryable ErrTypeConfig, with no retry: invalid (422: a label or
// annotation key or value, their total size), malformed (400), too large
// (413), or forbidden (403: certflow's RBAC, deploy/rbac). Retrying those
// would only repeat the steps before the write: an issuance would make the CA
// order and issue again. Anything else is left to the retry policy.
func KubeWriteError(err error, what, hint string) error {
	switch {
	case apierrors.IsForbidden(err):
		return ConfigError("%s: the API server forbids it (check the RBAC of certflow's worker: deploy/rbac): %v", what, err)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err):
		return ConfigError("%s: the API server refuses it, and would refuse a retry too (%s): %v", what, hint, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
