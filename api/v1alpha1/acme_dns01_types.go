package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// ACMEChallengeSolverDNS01 solves DNS-01 challenges by publishing TXT records through exactly
// one DNS provider.
//
// +kubebuilder:validation:XValidation:rule="(has(self.rfc2136) ? 1 : 0) + (has(self.cloudflare) ? 1 : 0) + (has(self.route53) ? 1 : 0) + (has(self.webhook) ? 1 : 0) + (has(self.azureDNS) ? 1 : 0) == 1",message="a dns01 solver must set exactly one provider: rfc2136, cloudflare, route53, webhook or azureDNS"
type ACMEChallengeSolverDNS01 struct {
	// What to do when _acme-challenge.<name> is a CNAME: None (the default) writes the
	// record in the name's own zone; Follow writes it where the CNAME chain ends, which lets
	// certflow hold credentials for a delegated challenge zone only.
	// +optional
	CNAMEStrategy CNAMEStrategy `json:"cnameStrategy,omitempty"`

	// RFC 2136 dynamic updates, signed with TSIG (BIND, Knot, PowerDNS, ...).
	// +optional
	RFC2136 *ACMEIssuerDNS01ProviderRFC2136 `json:"rfc2136,omitempty"`

	// The Cloudflare API.
	// +optional
	Cloudflare *ACMEIssuerDNS01ProviderCloudflare `json:"cloudflare,omitempty"`

	// The AWS Route 53 API.
	// +optional
	Route53 *ACMEIssuerDNS01ProviderRoute53 `json:"route53,omitempty"`

	// A cert-manager webhook solver, so existing community webhooks work.
	// +optional
	Webhook *ACMEIssuerDNS01ProviderWebhook `json:"webhook,omitempty"`

	// The Azure DNS API.
	// +optional
	AzureDNS *ACMEIssuerDNS01ProviderAzureDNS `json:"azureDNS,omitempty"`
}

// CNAMEStrategy says whether DNS-01 follows CNAMEs: None or Follow.
// +kubebuilder:validation:Enum=None;Follow
type CNAMEStrategy string

// CNAME strategies.
const (
	NoneStrategy   CNAMEStrategy = "None"
	FollowStrategy CNAMEStrategy = "Follow"
)

// ACMEIssuerDNS01ProviderRFC2136 publishes records with RFC 2136 dynamic updates.
//
// +kubebuilder:validation:XValidation:rule="has(self.tsigKeyName) == has(self.tsigSecretSecretRef)",message="rfc2136 tsigKeyName and tsigSecretSecretRef must be set together",fieldPath=".tsigKeyName"
type ACMEIssuerDNS01ProviderRFC2136 struct {
	// The authoritative server that accepts updates, as host or host:port (port 53 when
	// unset); an IPv6 address in brackets: [2001:db8::1]:53.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=261
	Nameserver string `json:"nameserver"`

	// Name of the TSIG key, as configured on the server.
	// +optional
	TSIGKeyName string `json:"tsigKeyName,omitempty"`

	// TSIG algorithm, case-insensitive: HMACMD5 (the default), HMACSHA1, HMACSHA256 or
	// HMACSHA512.
	// +optional
	TSIGAlgorithm string `json:"tsigAlgorithm,omitempty"`

	// The Secret entry holding the base64 TSIG secret.
	// +optional
	TSIGSecret *SecretKeySelector `json:"tsigSecretSecretRef,omitempty"`
}

// ACMEIssuerDNS01ProviderCloudflare uses the Cloudflare API, authenticated with an API token
// (recommended) or with a global API key and the account's email.
//
// +kubebuilder:validation:XValidation:rule="has(self.apiTokenSecretRef) != has(self.apiKeySecretRef)",message="cloudflare must set exactly one of apiTokenSecretRef or apiKeySecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.apiKeySecretRef) || (has(self.email) && size(self.email) > 0)",message="cloudflare apiKeySecretRef needs email",fieldPath=".email"
type ACMEIssuerDNS01ProviderCloudflare struct {
	// Email of the Cloudflare account; needed with an API key.
	// +optional
	Email string `json:"email,omitempty"`

	// The Secret entry holding an API token.
	// +optional
	APIToken *SecretKeySelector `json:"apiTokenSecretRef,omitempty"`

	// The Secret entry holding a global API key.
	// +optional
	APIKey *SecretKeySelector `json:"apiKeySecretRef,omitempty"`
}

// ACMEIssuerDNS01ProviderRoute53 uses the AWS Route 53 API. Without explicit keys it uses
// the ambient AWS credentials (environment, shared files, instance or pod identity).
//
// +kubebuilder:validation:XValidation:rule="!(has(self.accessKeyID) && has(self.accessKeyIDSecretRef))",message="route53 may set only one of accessKeyID or accessKeyIDSecretRef"
type ACMEIssuerDNS01ProviderRoute53 struct {
	// AWS region used to sign requests; Route 53 itself is global.
	// +optional
	Region string `json:"region,omitempty"`

	// The hosted zone to use, skipping the lookup by name.
	// +optional
	HostedZoneID string `json:"hostedZoneID,omitempty"`

	// ARN of a role to assume with the credentials.
	// +optional
	Role string `json:"role,omitempty"`

	// The access key ID.
	// +optional
	AccessKeyID string `json:"accessKeyID,omitempty"`

	// The Secret entry holding the access key ID.
	// +optional
	SecretAccessKeyID *SecretKeySelector `json:"accessKeyIDSecretRef,omitempty"`

	// The Secret entry holding the secret access key.
	// +optional
	SecretAccessKey *SecretKeySelector `json:"secretAccessKeySecretRef,omitempty"`
}

// ACMEIssuerDNS01ProviderWebhook calls a cert-manager DNS-01 webhook solver.
type ACMEIssuerDNS01ProviderWebhook struct {
	// The API group the webhook serves (its GroupName).
	// +required
	// +kubebuilder:validation:MinLength=1
	GroupName string `json:"groupName"`

	// The solver's name within the webhook.
	// +required
	// +kubebuilder:validation:MinLength=1
	SolverName string `json:"solverName"`

	// Configuration passed to the webhook as is. Refer to Secrets from here; do not put
	// secret values in it.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Config *runtime.RawExtension `json:"config,omitempty"`
}

// ACMEIssuerDNS01ProviderAzureDNS uses the Azure DNS API with a managed or workload identity.
type ACMEIssuerDNS01ProviderAzureDNS struct {
	// The Azure subscription.
	// +required
	// +kubebuilder:validation:MinLength=1
	SubscriptionID string `json:"subscriptionID"`

	// The resource group of the DNS zone.
	// +required
	// +kubebuilder:validation:MinLength=1
	ResourceGroupName string `json:"resourceGroupName"`

	// The DNS zone; found from the name when unset.
	// +optional
	HostedZoneName string `json:"hostedZoneName,omitempty"`

	// The Azure cloud: AzurePublicCloud (the default), AzureChinaCloud, AzureGermanCloud or
	// AzureUSGovernmentCloud.
	// +optional
	Environment AzureDNSEnvironment `json:"environment,omitempty"`

	// The managed identity to authenticate as.
	// +optional
	ManagedIdentity *AzureManagedIdentity `json:"managedIdentity,omitempty"`
}

// AzureManagedIdentity selects a managed (or workload) identity.
type AzureManagedIdentity struct {
	// Client ID of the identity.
	// +optional
	ClientID string `json:"clientID,omitempty"`
}

// AzureDNSEnvironment is an Azure cloud.
// +kubebuilder:validation:Enum=AzurePublicCloud;AzureChinaCloud;AzureGermanCloud;AzureUSGovernmentCloud
type AzureDNSEnvironment string

// Azure clouds.
const (
	AzurePublicCloud       AzureDNSEnvironment = "AzurePublicCloud"
	AzureChinaCloud        AzureDNSEnvironment = "AzureChinaCloud"
	AzureGermanCloud       AzureDNSEnvironment = "AzureGermanCloud"
	AzureUSGovernmentCloud AzureDNSEnvironment = "AzureUSGovernmentCloud"
)
