package route53

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// defaultAudience is the audience AWS STS expects of a web identity token.
const defaultAudience = "sts.amazonaws.com"

// tokenLifetime is how long a requested ServiceAccount token is valid: the
// STS exchange happens at once, and the credentials it gives are cached and
// renewed with a new token.
const tokenLifetime = 10 * time.Minute

// serviceAccountCredentials are a role's credentials got with
// AssumeRoleWithWebIdentity for a bound token of the ServiceAccount that
// auth.kubernetes names, in the issuer's namespace (cert-manager's
// auth.kubernetes). The worker must be allowed to create that ServiceAccount's
// tokens: a Role with create on serviceaccounts/token for its name.
func serviceAccountCredentials(cfg aws.Config, spec *certflowv1.ACMEIssuerDNS01ProviderRoute53, setup certflowdns.Setup) (aws.CredentialsProvider, error) {
	var ref *certflowv1.ServiceAccountRef
	if spec.Auth.Kubernetes != nil {
		ref = spec.Auth.Kubernetes.ServiceAccountRef
	}
	switch {
	case ref == nil || ref.Name == "":
		return nil, certflowdns.Permanent(errors.New("route53: auth.kubernetes needs serviceAccountRef.name"))
	case spec.Role == "":
		return nil, certflowdns.Permanent(errors.New("route53: auth.kubernetes needs the role to assume with the ServiceAccount's token"))
	case spec.AccessKeyID != "" || spec.SecretAccessKeyID != nil || spec.SecretAccessKey != nil:
		return nil, certflowdns.Permanent(errors.New("route53: set access keys or auth.kubernetes, not both"))
	case setup.Kubernetes == nil:
		return nil, certflowdns.Permanent(errors.New("route53: auth.kubernetes needs the worker's Kubernetes client, and it has none"))
	}
	client, err := kubernetes.NewForConfig(setup.Kubernetes)
	if err != nil {
		return nil, fmt.Errorf("route53: %w", err)
	}
	audiences := ref.TokenAudiences
	if len(audiences) == 0 {
		audiences = []string{defaultAudience}
	}
	token := serviceAccountToken{client: client, namespace: setup.ResourceNamespace, name: ref.Name, audiences: audiences}
	return aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(cfg), spec.Role, token, func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = "certflow"
	})), nil
}

// serviceAccountToken requests a bound token of one ServiceAccount each time
// STS needs one.
type serviceAccountToken struct {
	client          kubernetes.Interface
	namespace, name string
	audiences       []string
}

// GetIdentityToken asks the API server for a token. The SDK gives it no
// context: the request has its own deadline.
func (s serviceAccountToken) GetIdentityToken() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seconds := int64(tokenLifetime / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: s.audiences, ExpirationSeconds: &seconds}}
	res, err := s.client.CoreV1().ServiceAccounts(s.namespace).CreateToken(ctx, s.name, req, metav1.CreateOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, certflowdns.Permanent(fmt.Errorf("route53: the worker may not create tokens of ServiceAccount %s/%s: grant it create on serviceaccounts/token for that name (%w)", s.namespace, s.name, err))
	case apierrors.IsNotFound(err):
		return nil, certflowdns.Permanent(fmt.Errorf("route53: ServiceAccount %s/%s (auth.kubernetes) does not exist", s.namespace, s.name))
	case err != nil:
		return nil, fmt.Errorf("route53: requesting a token of ServiceAccount %s/%s: %w", s.namespace, s.name, err)
	}
	return []byte(res.Status.Token), nil
}
