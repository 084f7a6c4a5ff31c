package activities

import "time"

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
	// ErrTypePermitExpired: BeginOrder could not send a new order by its
	// permit's BeginOrderInput.SendBy and sent none: the Order asks the
	// limiter for another permit. The pending key is kept.
	ErrTypePermitExpired = "PermitExpired"
)

// RateLimitDetails is the detail of an ErrTypeRateLimited error.
type RateLimitDetails struct {
	RetryAfterSeconds int64
	Detail            string
	// RefusedAt is when the CA refused: its Retry-After counts from here, so
	// a workflow task that runs again later still waits until the same time.
	// Zero in errors recorded before certflow kept it.
	RefusedAt time.Time
}
