package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// ACMEChallengeSolverDNS01 solves DNS-01 challenges by publishing TXT records through exactly
// one DNS provider.
//
// +kubebuilder:validation:XValidation:rule="(has(self.rfc2136) ? 1 : 0) + (has(self.cloudflare) ? 1 : 0) + (has(self.route53) ? 1 : 0) + (has(self.webhook) ? 1 : 0) + (has(self.azureDNS) ? 1 : 0) + (has(self.cloudDNS) ? 1 : 0) + (has(self.digitalocean) ? 1 : 0) + (has(self.acmeDNS) ? 1 : 0) + (has(self.lego) ? 1 : 0) == 1",message="a dns01 solver must set exactly one provider: rfc2136, cloudflare, route53, webhook, azureDNS, cloudDNS, digitalocean, acmeDNS or lego"
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

	// The Google Cloud DNS API.
	// +optional
	CloudDNS *ACMEIssuerDNS01ProviderCloudDNS `json:"cloudDNS,omitempty"`

	// The DigitalOcean Domains API.
	// +optional
	DigitalOcean *ACMEIssuerDNS01ProviderDigitalOcean `json:"digitalocean,omitempty"`

	// An acme-dns server, to which _acme-challenge records are delegated by CNAME.
	// +optional
	AcmeDNS *ACMEIssuerDNS01ProviderAcmeDNS `json:"acmeDNS,omitempty"`

	// Any DNS provider of lego, by name, for the services the fields above do not cover.
	// +optional
	Lego *ACMEIssuerDNS01ProviderLego `json:"lego,omitempty"`
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
	// How to authenticate without keys: with a token of a Kubernetes ServiceAccount,
	// exchanged with AssumeRoleWithWebIdentity for the role.
	// +optional
	Auth *Route53Auth `json:"auth,omitempty"`

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

// Route53Auth says how certflow authenticates to AWS without keys.
type Route53Auth struct {
	// A bound ServiceAccount token, exchanged for the role's credentials.
	// +required
	Kubernetes *Route53KubernetesAuth `json:"kubernetes"`
}

// Route53KubernetesAuth authenticates with a bound Kubernetes ServiceAccount token.
type Route53KubernetesAuth struct {
	// The ServiceAccount whose token is requested (certflow needs RBAC to create its
	// tokens).
	// +required
	ServiceAccountRef *ServiceAccountRef `json:"serviceAccountRef"`
}

// ServiceAccountRef is a ServiceAccount certflow requests a token for, valid for ten minutes.
type ServiceAccountRef struct {
	// Name of the ServiceAccount, in the issuer's namespace (the cluster resource
	// namespace for a ClusterIssuer).
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Audiences of the token. Route53: sts.amazonaws.com when unset. Vault: more audiences
	// after vault://<namespace>/<issuer> (an Issuer) or vault://<issuer> (a ClusterIssuer),
	// which certflow always requests, as cert-manager does.
	// +optional
	// +listType=atomic
	TokenAudiences []string `json:"audiences,omitempty"`
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

// ACMEIssuerDNS01ProviderAzureDNS uses the Azure DNS API, as a service principal (client ID,
// secret and tenant) or with a managed or workload identity.
//
// +kubebuilder:validation:XValidation:rule="(has(self.clientID) == has(self.clientSecretSecretRef)) && (has(self.clientID) == has(self.tenantID))",message="azureDNS clientID, clientSecretSecretRef and tenantID must be set together"
// +kubebuilder:validation:XValidation:rule="!(has(self.clientID) && has(self.managedIdentity))",message="azureDNS may use a service principal (clientID) or a managedIdentity, not both"
type ACMEIssuerDNS01ProviderAzureDNS struct {
	// Client ID of the service principal.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// The Secret entry holding the service principal's password.
	// +optional
	ClientSecret *SecretKeySelector `json:"clientSecretSecretRef,omitempty"`

	// Tenant of the service principal.
	// +optional
	TenantID string `json:"tenantID,omitempty"`

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

	// The managed identity to authenticate as: a workload identity when the worker has
	// AZURE_FEDERATED_TOKEN_FILE, else the managed identity of its node.
	// +optional
	ManagedIdentity *AzureManagedIdentity `json:"managedIdentity,omitempty"`

	// AzurePublicZone (the default); AzurePrivateZone is not served yet.
	// +optional
	ZoneType AzureZoneType `json:"zoneType,omitempty"`
}

// AzureZoneType is the kind of Azure DNS zone.
// +kubebuilder:validation:Enum=AzurePublicZone;AzurePrivateZone
type AzureZoneType string

// Azure zone types.
const (
	PublicAzureZone  AzureZoneType = "AzurePublicZone"
	PrivateAzureZone AzureZoneType = "AzurePrivateZone"
)

// AzureManagedIdentity selects a managed (or workload) identity.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.clientID) && has(self.resourceID))",message="managedIdentity may set clientID or resourceID, not both"
type AzureManagedIdentity struct {
	// Client ID of the identity.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// Resource ID of the identity (managed identities only).
	// +optional
	ResourceID string `json:"resourceID,omitempty"`

	// Tenant of the identity.
	// +optional
	TenantID string `json:"tenantID,omitempty"`
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

// ACMEIssuerDNS01ProviderCloudDNS uses the Google Cloud DNS API, with a service account key
// or the worker's own Google credentials.
type ACMEIssuerDNS01ProviderCloudDNS struct {
	// The Secret entry holding a service account's JSON key.
	// +optional
	ServiceAccount *SecretKeySelector `json:"serviceAccountSecretRef,omitempty"`

	// The Google Cloud project of the zone.
	// +required
	// +kubebuilder:validation:MinLength=1
	Project string `json:"project"`

	// The managed zone to write in; found from the name when unset.
	// +optional
	HostedZoneName string `json:"hostedZoneName,omitempty"`
}

// ACMEIssuerDNS01ProviderDigitalOcean uses the DigitalOcean Domains API.
type ACMEIssuerDNS01ProviderDigitalOcean struct {
	// The Secret entry holding an API token.
	// +required
	Token SecretKeySelector `json:"tokenSecretRef"`
}

// ACMEIssuerDNS01ProviderAcmeDNS uses an acme-dns server.
type ACMEIssuerDNS01ProviderAcmeDNS struct {
	// URL of the acme-dns server.
	// +required
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`

	// The Secret entry holding the acme-dns accounts as JSON, by domain (the file
	// acme-dns-client writes).
	// +required
	AccountSecret SecretKeySelector `json:"accountSecretRef"`
}

// ACMEIssuerDNS01ProviderLego uses one of lego's DNS providers, configured by the variables
// lego documents for it (HETZNER_API_TOKEN, OVH_APPLICATION_KEY, ...), read from a Secret.
type ACMEIssuerDNS01ProviderLego struct {
	// lego's name of the provider: hetzner, ovh, gandiv5, porkbun, ...
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// The Secret whose keys are the provider's variables and whose values are theirs.
	// +required
	Settings LocalObjectReference `json:"settingsSecretRef"`
}
