package vault

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// TokenRequester requests ServiceAccount tokens (the TokenRequest API): the
// ServiceAccounts of a Kubernetes clientset's CoreV1.
type TokenRequester = corev1client.ServiceAccountsGetter

// Keys of Secret entries when a reference names none, as in cert-manager.
const (
	defaultTokenKey    = "token"
	defaultCABundleKey = "ca.crt"
)

// defaultKubernetesMountPath is where the Kubernetes method is mounted when
// the issuer does not say, in cert-manager's form (with /v1).
const defaultKubernetesMountPath = "/v1/auth/kubernetes"

// serviceAccountTokenSeconds is how long a requested ServiceAccount token is
// valid: Vault reviews it at once, and each login requests a new one.
const serviceAccountTokenSeconds = 600

// login returns a client of the issuer's Vault that holds a token: the one
// in tokenSecretRef (looked up, so that a wrong one shows here), or one
// Vault gave for an AppRole or Kubernetes login. The client reads nothing
// from the worker's environment (VAULT_TOKEN, VAULT_ADDR, ...): only the
// issuer's spec says where it goes and as whom.
func (a *Activities) login(ctx context.Context, iss *issuers.Issuer) (*vaultapi.Client, error) {
	spec := iss.Spec.Vault
	c, err := a.newClient(ctx, iss)
	if err != nil {
		return nil, err
	}
	auth := spec.Auth
	switch {
	case auth.TokenSecretRef != nil:
		token, err := iss.SecretValue(ctx, auth.TokenSecretRef.Name, cmp.Or(auth.TokenSecretRef.Key, defaultTokenKey))
		if err != nil {
			return nil, err
		}
		c.SetToken(strings.TrimSpace(string(token)))
		if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
			return nil, refused(iss, "looking up the token of Secret "+auth.TokenSecretRef.Name, err)
		}
		return c, nil
	case auth.AppRole != nil:
		secretID, err := iss.SecretValue(ctx, auth.AppRole.SecretRef.Name, auth.AppRole.SecretRef.Key)
		if err != nil {
			return nil, err
		}
		path := "auth/" + strings.Trim(auth.AppRole.Path, "/") + "/login"
		return loginAt(ctx, c, iss, path, map[string]any{"role_id": strings.TrimSpace(auth.AppRole.RoleID), "secret_id": strings.TrimSpace(string(secretID))})
	case auth.Kubernetes != nil:
		jwt, err := a.serviceAccountToken(ctx, iss, auth.Kubernetes)
		if err != nil {
			return nil, err
		}
		return loginAt(ctx, c, iss, kubernetesLoginPath(auth.Kubernetes.Path), map[string]any{"role": auth.Kubernetes.Role, "jwt": jwt})
	}
	return nil, activities.ConfigError("%s: vault auth sets none of tokenSecretRef, appRole or kubernetes", iss.Ref)
}

// loginAt logs in at an auth method's login path and keeps the token Vault
// gives.
func loginAt(ctx context.Context, c *vaultapi.Client, iss *issuers.Issuer, path string, data map[string]any) (*vaultapi.Client, error) {
	secret, err := c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, refused(iss, "logging in at "+path, err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, activities.ConfigError("%s: logging in at %s: Vault answered without a token: is an auth method mounted there?", iss.Ref, path)
	}
	c.SetToken(secret.Auth.ClientToken)
	return c, nil
}

// refused classifies a failed login; when Vault refused the credential, the
// next attempt reads the issuer's Secrets anew, so that a fixed one is used
// at once.
func refused(iss *issuers.Issuer, doing string, err error) error {
	err = classify(iss, doing, err)
	if isConfigError(err) {
		iss.ForgetSecrets()
	}
	return err
}

// kubernetesLoginPath is the login path of the Kubernetes method mounted at
// mountPath, which cert-manager writes with /v1 (/v1/auth/kubernetes) and
// which may also be written without it.
func kubernetesLoginPath(mountPath string) string {
	p := strings.Trim(cmp.Or(mountPath, defaultKubernetesMountPath), "/")
	return strings.TrimPrefix(p, "v1/") + "/login"
}

// serviceAccountToken is the JWT of the Kubernetes method: from the Secret
// of secretRef, or requested for the ServiceAccount of serviceAccountRef with
// the audience cert-manager requests (vault://<namespace>/<issuer> for an
// Issuer, vault://<issuer> for a ClusterIssuer) and the ones it names.
func (a *Activities) serviceAccountToken(ctx context.Context, iss *issuers.Issuer, k *certflowv1.VaultKubernetesAuth) (string, error) {
	if k.SecretRef != nil {
		jwt, err := iss.SecretValue(ctx, k.SecretRef.Name, cmp.Or(k.SecretRef.Key, defaultTokenKey))
		return strings.TrimSpace(string(jwt)), err
	}
	if k.ServiceAccountRef == nil {
		return "", activities.ConfigError("%s: vault kubernetes auth sets neither secretRef nor serviceAccountRef", iss.Ref)
	}
	audience := "vault://" + iss.Ref.Name
	if iss.Ref.Kind == activities.KindIssuer {
		audience = "vault://" + iss.Ref.Namespace + "/" + iss.Ref.Name
	}
	seconds := int64(serviceAccountTokenSeconds)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: append([]string{audience}, k.ServiceAccountRef.TokenAudiences...), ExpirationSeconds: &seconds,
	}}
	sa := iss.SecretNamespace + "/" + k.ServiceAccountRef.Name
	res, err := a.Tokens.ServiceAccounts(iss.SecretNamespace).CreateToken(ctx, k.ServiceAccountRef.Name, req, metav1.CreateOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return "", activities.ConfigError("%s: the worker may not create tokens of ServiceAccount %s: grant it create on serviceaccounts/token for that name", iss.Ref, sa)
	case apierrors.IsNotFound(err):
		return "", activities.ConfigError("%s: ServiceAccount %s (auth.kubernetes.serviceAccountRef) not found", iss.Ref, sa)
	case err != nil:
		return "", fmt.Errorf("%s: requesting a token of ServiceAccount %s: %w", iss.Ref, sa, err)
	}
	return res.Status.Token, nil
}

// newClient is a client of the issuer's server, verifying its certificate
// with the issuer's CA bundle when it has one, sending X-Vault-Namespace
// when the issuer names a namespace, and retrying nothing itself: the
// activity's retry policy does.
func (a *Activities) newClient(ctx context.Context, iss *issuers.Issuer) (*vaultapi.Client, error) {
	spec := iss.Spec.Vault
	bundle := spec.CABundle
	if ref := spec.CABundleSecretRef; ref != nil {
		var err error
		if bundle, err = iss.SecretValue(ctx, ref.Name, cmp.Or(ref.Key, defaultCABundleKey)); err != nil {
			return nil, err
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the issuer's server, never a proxy the worker's environment names
	if len(bundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			return nil, activities.ConfigError("%s: the vault CA bundle holds no PEM certificate", iss.Ref)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := vaultapi.NewClient(&vaultapi.Config{
		Address:    spec.Server,
		MaxRetries: 0,
		Timeout:    requestTimeout,
		HttpClient: &http.Client{
			Transport: transport, Timeout: requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	})
	if err != nil {
		return nil, activities.ConfigError("%s: the vault server %q: %v", iss.Ref, spec.Server, err)
	}
	c.ClearToken() // NewClient takes VAULT_TOKEN from the environment
	c.ClearNamespace()
	if spec.Namespace != "" {
		c.SetNamespace(spec.Namespace)
	}
	return c, nil
}

// method names the issuer's auth method, for its Ready message.
func method(auth certflowv1.VaultAuth) string {
	switch {
	case auth.AppRole != nil:
		return "AppRole at auth/" + strings.Trim(auth.AppRole.Path, "/")
	case auth.Kubernetes != nil:
		return "the Kubernetes method, role " + auth.Kubernetes.Role
	}
	return "a token"
}
