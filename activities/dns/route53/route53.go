// Package route53 is the DNS-01 provider for AWS Route 53. It finds the
// public hosted zone of a record by name (or takes the solver's
// hostedZoneID), writes the TXT record set with the challenge value added
// to the values already there, and waits until Route 53 says the change is
// INSYNC on all its nameservers. Credentials are static keys from the
// issuer's Secrets, or the worker's own AWS identity where the issuer may
// use it; a role is assumed on top of either.
//
// AWS refusals (AccessDenied, InvalidClientTokenId, NoSuchHostedZone, an
// invalid change) are certflowdns.Permanent with AWS's message; throttling
// and 5xx answers are retried by the SDK and then by the activity.
package route53

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// defaultRegion signs requests when neither the solver nor the worker's
// environment names a region; Route 53 itself is global.
const defaultRegion = "us-east-1"

// Config of one provider.
type Config struct {
	// AWS holds the region and the credentials (a role's, when one is
	// assumed) that sign the requests.
	AWS aws.Config
	// Endpoint, when set, replaces the Route 53 API's address.
	Endpoint string
	// HostedZoneID is the zone to write in; when empty, the most specific
	// public hosted zone that holds the record's name is looked up.
	HostedZoneID string
}

// Provider writes TXT record sets in Route 53.
type Provider struct {
	client       *route53.Client
	hostedZoneID string
}

var _ certflowdns.Provider = (*Provider)(nil)

// New returns a provider that calls Route 53 with cfg's credentials.
func New(cfg Config) *Provider {
	client := route53.NewFromConfig(cfg.AWS, func(o *route53.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Provider{client: client, hostedZoneID: strings.TrimPrefix(cfg.HostedZoneID, "/hostedzone/")}
}

// Kind builds the provider of a dns01 solver's route53 section.
var Kind = certflowdns.Kind{
	Name:       "route53",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.Route53 != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.Route53
	if spec.Auth != nil {
		cfg, err := loadAWS(ctx, spec.Region, setup.Endpoint, aws.AnonymousCredentials{})
		if err != nil {
			return nil, err
		}
		if cfg.Credentials, err = serviceAccountCredentials(cfg, spec, setup); err != nil {
			return nil, err
		}
		return New(Config{AWS: cfg, Endpoint: setup.Endpoint, HostedZoneID: spec.HostedZoneID}), nil
	}
	creds, err := staticCredentials(ctx, spec, setup.Credentials)
	if err != nil {
		return nil, err
	}
	if creds == nil && !setup.AmbientCredentials {
		return nil, certflowdns.Permanent(errors.New("route53: the solver names no access keys, and an Issuer may not use the worker's ambient AWS credentials unless the worker runs with --issuer-ambient-credentials (a ClusterIssuer may)"))
	}
	cfg, err := loadAWS(ctx, spec.Region, setup.Endpoint, creds)
	if err != nil {
		return nil, err
	}
	if spec.Role != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), spec.Role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "certflow"
		}))
	}
	return New(Config{AWS: cfg, Endpoint: setup.Endpoint, HostedZoneID: spec.HostedZoneID}), nil
}

// staticCredentials reads the access key pair the solver names, or returns
// nil when it names none.
func staticCredentials(ctx context.Context, spec *certflowv1.ACMEIssuerDNS01ProviderRoute53, secrets certflowdns.Credentials) (aws.CredentialsProvider, error) {
	keyID := spec.AccessKeyID
	if ref := spec.SecretAccessKeyID; ref != nil {
		v, err := secretValue(ctx, secrets, ref, "accessKeyIDSecretRef")
		if err != nil {
			return nil, err
		}
		keyID = v
	}
	if spec.SecretAccessKey == nil {
		if keyID != "" {
			return nil, certflowdns.Permanent(errors.New("route53: an access key ID needs secretAccessKeySecretRef"))
		}
		return nil, nil
	}
	secret, err := secretValue(ctx, secrets, spec.SecretAccessKey, "secretAccessKeySecretRef")
	if err != nil {
		return nil, err
	}
	if keyID == "" {
		return nil, certflowdns.Permanent(errors.New("route53: secretAccessKeySecretRef needs accessKeyID or accessKeyIDSecretRef"))
	}
	return credentials.NewStaticCredentialsProvider(keyID, secret, ""), nil
}

func secretValue(ctx context.Context, secrets certflowdns.Credentials, ref *certflowv1.SecretKeySelector, field string) (string, error) {
	if ref.Key == "" {
		return "", certflowdns.Permanent(fmt.Errorf("route53: %s needs a key", field))
	}
	v, err := secrets.SecretValue(ctx, ref.Name, ref.Key)
	if err != nil {
		return "", fmt.Errorf("route53: reading %s: %w", field, err)
	}
	value := strings.TrimSpace(string(v))
	if value == "" {
		return "", certflowdns.Permanent(fmt.Errorf("route53: Secret %s key %q (%s) is empty", ref.Name, ref.Key, field))
	}
	return value, nil
}

// loadAWS resolves region and credentials: creds when given, else the SDK's
// default chain (environment, shared files, IRSA web identity, pod
// identity, instance role). The endpoint also serves the STS calls of that
// chain, so one stand-in answers both.
func loadAWS(ctx context.Context, region, endpoint string, creds aws.CredentialsProvider) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(endpoint))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, certflowdns.Permanent(fmt.Errorf("route53: loading the AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	return cfg, nil
}
