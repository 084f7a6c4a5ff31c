package vault

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
)

// classify is the one place a failed call to Vault becomes an activity
// error. Its message names the issuer, what certflow was doing and what
// Vault said; never a token or secret ID, which Vault does not repeat in its
// errors and which no error here wraps.
//
//	Vault answered               error
//	400 (a name the role does    configuration error with Vault's message
//	  not allow, a bad TTL)
//	401, 403 (permission denied, configuration error: the credential or
//	  a bad role or secret ID)     its policy must change
//	404, 405 (no such mount or   configuration error: the path is wrong
//	  role)
//	412, 429, 5xx (standby,      retried (the activity's retry policy)
//	  sealed, overloaded)
//	no answer (unreachable,      retried
//	  timeout)
//	a certificate the CA bundle  configuration error: caBundle must hold
//	  does not verify               Vault's CA
func classify(iss *issuers.Issuer, doing string, err error) error {
	var re *vaultapi.ResponseError
	if errors.As(err, &re) {
		said := strings.Join(re.Errors, "; ")
		if said == "" {
			said = http.StatusText(re.StatusCode)
		}
		if re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusPreconditionFailed && re.StatusCode != http.StatusTooManyRequests {
			return activities.ConfigError("%s: %s: Vault answered %d: %s", iss.Ref, doing, re.StatusCode, said)
		}
		return fmt.Errorf("%s: %s: Vault answered %d: %s", iss.Ref, doing, re.StatusCode, said)
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return activities.ConfigError("%s: %s: Vault's TLS certificate does not verify (set caBundle or caBundleSecretRef to Vault's CA): %v", iss.Ref, doing, err)
	}
	return fmt.Errorf("%s: %s at %s: %w", iss.Ref, doing, iss.Spec.Vault.Server, err)
}

// isConfigError says whether err is a configuration error (ErrTypeConfig).
func isConfigError(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == activities.ErrTypeConfig
}
