package azuredns

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Kind builds the provider of a dns01 solver's azureDNS section.
var Kind = certflowdns.Kind{
	Name:       "azureDNS",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.AzureDNS != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.AzureDNS
	if spec.ZoneType == certflowv1.PrivateAzureZone {
		return nil, certflowdns.Permanent(errors.New("azureDNS: zoneType AzurePrivateZone is not served yet; use a public zone"))
	}
	azureCloud, err := cloudOf(spec.Environment, setup.Endpoint)
	if err != nil {
		return nil, certflowdns.Permanent(err)
	}
	cred, err := credential(ctx, spec, setup, azureCloud)
	if err != nil {
		return nil, err
	}
	p, err := New(Config{SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroupName, Zone: spec.HostedZoneName, Credential: cred, Cloud: azureCloud})
	return p, certflowdns.Permanent(err)
}

// cloudOf is the solver's Azure cloud, or, when the worker names an
// endpoint, one cloud at that address serving both Microsoft Entra ID and
// ARM (a stand-in, or a proxy that routes both). ARM's audience stays the
// environment's, so that a proxy to a real cloud gets the tokens it needs.
func cloudOf(env certflowv1.AzureDNSEnvironment, endpoint string) (cloud.Configuration, error) {
	var c cloud.Configuration
	switch env {
	case "", certflowv1.AzurePublicCloud:
		c = cloud.AzurePublic
	case certflowv1.AzureChinaCloud:
		c = cloud.AzureChina
	case certflowv1.AzureUSGovernmentCloud:
		c = cloud.AzureGovernment
	case certflowv1.AzureGermanCloud:
		return c, errors.New("azureDNS: environment AzureGermanCloud was retired in October 2021; its zones moved to AzurePublicCloud")
	default:
		return c, fmt.Errorf("azureDNS: unknown environment %q (want AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud)", env)
	}
	if endpoint == "" {
		return c, nil
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if u, err := url.Parse(endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
		return c, fmt.Errorf("azureDNS: endpoint %q must be an https URL: Microsoft Entra ID and ARM take credentials over TLS only", endpoint)
	}
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: endpoint + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: endpoint, Audience: c.Services[cloud.ResourceManager].Audience},
		},
	}, nil
}

// credential is the identity the solver names: a service principal with a
// client secret; or the worker's own, which an Issuer may use only when
// the worker allows it — the managed identity the solver names (a workload
// identity when the pod has a federated token), or with neither, whatever
// DefaultAzureCredential finds.
func credential(ctx context.Context, spec *certflowv1.ACMEIssuerDNS01ProviderAzureDNS, setup certflowdns.Setup, azureCloud cloud.Configuration) (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{Cloud: azureCloud}
	// Instance discovery asks login.microsoft.com whether the authority is
	// Entra ID's; an endpoint of our own must be taken as it is.
	noDiscovery := setup.Endpoint != ""
	if spec.ClientID != "" || spec.ClientSecret != nil || spec.TenantID != "" {
		return servicePrincipal(ctx, spec, setup, opts, noDiscovery)
	}
	mi := spec.ManagedIdentity
	what := "an azureDNS solver without clientID"
	if mi != nil {
		what = "an azureDNS managedIdentity"
	}
	if !setup.AmbientCredentials {
		return nil, certflowdns.Permanent(fmt.Errorf("azureDNS: %s uses the worker's own Azure identity, which an Issuer may use only when the worker runs with --issuer-ambient-credentials; use a ClusterIssuer, or a service principal (clientID, clientSecretSecretRef, tenantID)", what))
	}
	var cred azcore.TokenCredential
	var err error
	switch {
	case mi == nil:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
		if mi.ResourceID != "" {
			return nil, certflowdns.Permanent(errors.New("azureDNS: managedIdentity.resourceID names a managed identity, but the worker has a workload identity (AZURE_FEDERATED_TOKEN_FILE); set managedIdentity.clientID"))
		}
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: mi.ClientID, TenantID: mi.TenantID, DisableInstanceDiscovery: noDiscovery,
		})
	default:
		var id azidentity.ManagedIDKind
		if mi.ClientID != "" {
			id = azidentity.ClientID(mi.ClientID)
		} else if mi.ResourceID != "" {
			id = azidentity.ResourceID(mi.ResourceID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: id})
	}
	if err != nil {
		return nil, certflowdns.Permanent(fmt.Errorf("azureDNS: %s: %w", what, err))
	}
	return cred, nil
}

func servicePrincipal(ctx context.Context, spec *certflowv1.ACMEIssuerDNS01ProviderAzureDNS, setup certflowdns.Setup, opts azcore.ClientOptions, noDiscovery bool) (azcore.TokenCredential, error) {
	sel := spec.ClientSecret
	if spec.ClientID == "" || spec.TenantID == "" || sel == nil {
		return nil, certflowdns.Permanent(errors.New("azureDNS: a service principal needs clientID, clientSecretSecretRef and tenantID together"))
	}
	if sel.Key == "" {
		return nil, certflowdns.Permanent(errors.New("azureDNS: clientSecretSecretRef needs a key"))
	}
	secret, err := setup.Credentials.SecretValue(ctx, sel.Name, sel.Key)
	if err != nil {
		return nil, fmt.Errorf("azureDNS: reading the client secret: %w", err)
	}
	cred, err := azidentity.NewClientSecretCredential(spec.TenantID, spec.ClientID, strings.TrimSpace(string(secret)),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	if err != nil {
		return nil, certflowdns.Permanent(fmt.Errorf("azureDNS: service principal %s of tenant %s: %w", spec.ClientID, spec.TenantID, err))
	}
	return cred, nil
}
