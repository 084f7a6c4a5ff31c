// Package azuredns is the DNS-01 provider for Azure DNS public zones, through
// Azure Resource Manager with the Azure SDK for Go (armdns). It signs in as a
// service principal, or as the worker's own managed or workload identity, and
// keeps each challenge value in the name's TXT record set: other values at
// the same name stay, and every write carries the etag it read, so that two
// challenges for one name (a wildcard and its apex) never overwrite each
// other. The zone is the solver's hostedZoneName, or the most specific zone
// of the resource group that holds the name.
package azuredns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// defaultTTL of a challenge record set, in seconds.
const defaultTTL = 60

// Config of one resource group's zones.
type Config struct {
	// SubscriptionID and ResourceGroup hold the zones.
	SubscriptionID, ResourceGroup string
	// Zone is the zone to write in; when empty, the most specific zone of
	// the resource group that holds the name.
	Zone string
	// Credential signs the requests.
	Credential azcore.TokenCredential
	// Cloud is where ARM is (cloud.AzurePublic when zero).
	Cloud cloud.Configuration
}

// Provider writes TXT record sets in one resource group.
type Provider struct {
	cfg        Config
	zones      *armdns.ZonesClient
	recordSets *armdns.RecordSetsClient
}

var _ certflowdns.Provider = (*Provider)(nil)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	if cfg.SubscriptionID == "" || cfg.ResourceGroup == "" {
		return nil, errors.New("azureDNS: subscriptionID and resourceGroupName are required")
	}
	if cfg.Credential == nil {
		return nil, errors.New("azureDNS: no credential")
	}
	if cfg.Cloud.Services == nil {
		cfg.Cloud = cloud.AzurePublic
	}
	cfg.Zone = strings.TrimSuffix(cfg.Zone, ".")
	factory, err := armdns.NewClientFactory(cfg.SubscriptionID, cfg.Credential, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: cfg.Cloud}})
	if err != nil {
		return nil, fmt.Errorf("azureDNS: %w", err)
	}
	return &Provider{cfg: cfg, zones: factory.NewZonesClient(), recordSets: factory.NewRecordSetsClient()}, nil
}

// Present adds the value to the name's TXT record set, unless it is there.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return "", err
	}
	name := relativeName(rec.FQDN, zone)
	set, err := p.recordSet(ctx, zone, name)
	if err != nil {
		return "", err
	}
	records := txtRecords(set)
	if slices.ContainsFunc(records, holds(rec.Value)) {
		return zone + ".", nil
	}
	// A set that is there keeps its TTL: it belongs to its other values too.
	ttl := int64(rec.TTL)
	if set != nil {
		ttl = ttlOf(set)
	} else if ttl == 0 {
		ttl = defaultTTL
	}
	records = append(records, &armdns.TxtRecord{Value: []*string{to.Ptr(rec.Value)}})
	if err := p.write(ctx, zone, name, set, records, ttl); err != nil {
		return "", fmt.Errorf("azureDNS: adding TXT %s in zone %s: %w", rec.FQDN, zone, classify(err))
	}
	return zone + ".", nil
}

// CleanUp takes the value out of the name's TXT record set, and deletes the
// set when it held nothing else.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return err
	}
	name := relativeName(rec.FQDN, zone)
	set, err := p.recordSet(ctx, zone, name)
	if err != nil {
		return err
	}
	records := txtRecords(set)
	rest := slices.DeleteFunc(slices.Clone(records), holds(rec.Value))
	if len(rest) == len(records) {
		return nil
	}
	if len(rest) == 0 {
		_, err = p.recordSets.Delete(ctx, p.cfg.ResourceGroup, zone, name, armdns.RecordTypeTXT, &armdns.RecordSetsClientDeleteOptions{IfMatch: set.Etag})
	} else {
		err = p.write(ctx, zone, name, set, rest, ttlOf(set))
	}
	if err != nil {
		return fmt.Errorf("azureDNS: removing TXT %s in zone %s: %w", rec.FQDN, zone, classify(err))
	}
	return nil
}

// write replaces the record set that was read (nil: none) with records. The
// etag makes ARM refuse the write when someone changed the set meanwhile;
// the activity's retry reads it again.
func (p *Provider) write(ctx context.Context, zone, name string, read *armdns.RecordSet, records []*armdns.TxtRecord, ttl int64) error {
	opts := &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")}
	var metadata map[string]*string
	if read != nil {
		opts = &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: read.Etag}
		metadata = read.Properties.Metadata
	}
	set := armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, TxtRecords: records, Metadata: metadata}}
	_, err := p.recordSets.CreateOrUpdate(ctx, p.cfg.ResourceGroup, zone, name, armdns.RecordTypeTXT, set, opts)
	return err
}

// recordSet is the name's TXT record set, nil when there is none.
func (p *Provider) recordSet(ctx context.Context, zone, name string) (*armdns.RecordSet, error) {
	resp, err := p.recordSets.Get(ctx, p.cfg.ResourceGroup, zone, name, armdns.RecordTypeTXT, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.ErrorCode == "NotFound" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("azureDNS: reading TXT %s in zone %s (resource group %s): %w", name, zone, p.cfg.ResourceGroup, classify(err))
	}
	if resp.Properties == nil {
		resp.Properties = &armdns.RecordSetProperties{}
	}
	return &resp.RecordSet, nil
}

// zoneOf is the configured zone, which must hold the name, or the most
// specific zone of the resource group that does: asked for by name, from
// the name itself up to its last two labels. ARM checks authorization
// before existence, so a principal whose role is on its zone only is
// refused (403) the names above and below it: those are zones it cannot
// see, and the walk goes on.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(fqdn, "."))
	if p.cfg.Zone != "" {
		if !inZone(name, p.cfg.Zone) {
			return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("azureDNS: %s is not in zone %s (hostedZoneName)", fqdn, p.cfg.Zone))
		}
		return p.cfg.Zone, nil
	}
	var refused []string
	var refusal *azcore.ResponseError
	for candidate := name; strings.Contains(candidate, "."); candidate = candidate[strings.Index(candidate, ".")+1:] {
		resp, err := p.zones.Get(ctx, p.cfg.ResourceGroup, candidate, nil)
		if notAZone(err) {
			continue
		}
		if re := forbidden(err); re != nil {
			refused, refusal = append(refused, candidate), re
			continue
		}
		if err != nil {
			return "", fmt.Errorf("azureDNS: looking for zone %s in resource group %s: %w", candidate, p.cfg.ResourceGroup, classify(err))
		}
		if resp.Name != nil {
			return *resp.Name, nil
		}
		return candidate, nil
	}
	if refusal != nil {
		return "", certflowdns.Permanent(fmt.Errorf("azureDNS: no zone in resource group %s of subscription %s that the credentials may read holds %s; ARM refused to show %s (give the principal DNS Zone Contributor on the zone, or set hostedZoneName): %w",
			p.cfg.ResourceGroup, p.cfg.SubscriptionID, fqdn, strings.Join(refused, ", "), armError(refusal, refusal)))
	}
	return "", certflowdns.Permanent(fmt.Errorf("azureDNS: no zone in resource group %s of subscription %s holds %s; set hostedZoneName, or create the zone there",
		p.cfg.ResourceGroup, p.cfg.SubscriptionID, fqdn))
}

// forbidden is ARM's 403 answer, nil for any other.
func forbidden(err error) *azcore.ResponseError {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		return re
	}
	return nil
}

// notAZone says whether ARM's answer means that no zone has the name
// asked for (404 ResourceNotFound, or 400 for a name that cannot be a
// zone's), rather than that the resource group, the subscription or the
// credentials are wrong.
func notAZone(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	return re.StatusCode == http.StatusBadRequest ||
		(re.StatusCode == http.StatusNotFound && re.ErrorCode != "ResourceGroupNotFound" && re.ErrorCode != "SubscriptionNotFound")
}

func inZone(name, zone string) bool {
	zone = strings.ToLower(zone)
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// relativeName is the record set's name in the zone; "@" is the apex.
func relativeName(fqdn, zone string) string {
	name := strings.TrimSuffix(fqdn, ".")
	if strings.EqualFold(name, zone) {
		return "@"
	}
	return name[:len(name)-len(zone)-1]
}

// ttlOf is the set's TTL, which a write keeps for the values that stay.
func ttlOf(set *armdns.RecordSet) int64 {
	if set.Properties.TTL == nil {
		return defaultTTL
	}
	return *set.Properties.TTL
}

func txtRecords(set *armdns.RecordSet) []*armdns.TxtRecord {
	if set == nil {
		return nil
	}
	return set.Properties.TxtRecords
}

// holds matches a record whose strings, joined as a resolver joins them,
// are value.
func holds(value string) func(*armdns.TxtRecord) bool {
	return func(r *armdns.TxtRecord) bool {
		var b strings.Builder
		for _, s := range r.Value {
			if s != nil {
				b.WriteString(*s)
			}
		}
		return b.String() == value
	}
}
