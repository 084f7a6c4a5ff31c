package route53

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// defaultTTL of a record set certflow makes; a set that exists keeps its own.
const defaultTTL = 60

// Polls of GetChange start at firstPoll and double up to lastPoll: Route 53
// usually reports INSYNC within a minute, a stand-in within a poll.
const (
	firstPoll = 100 * time.Millisecond
	lastPoll  = 5 * time.Second
)

var errNoChangeInfo = errors.New("route 53 answered without the change's status")

// zone is the hosted zone a record is written in.
type zone struct {
	id   string
	name string // with the trailing dot; the ID when the solver gave it
}

// Present adds the value to the TXT record set at the name, keeping the
// values there, unless it is there already.
//
// Route 53 replaces a record set as a whole, so two writers of the same name
// at once may lose a value; the propagation check then never sees it, and
// the retried activity writes it again.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	fqdn := dns.Fqdn(strings.ToLower(rec.FQDN))
	z, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return "", err
	}
	set, err := p.txtSet(ctx, z, fqdn)
	if err != nil {
		return "", err
	}
	value := quote(rec.Value)
	if set == nil {
		ttl := int64(rec.TTL)
		if ttl == 0 {
			ttl = defaultTTL
		}
		set = &types.ResourceRecordSet{Name: aws.String(fqdn), Type: types.RRTypeTxt, TTL: aws.Int64(ttl)}
	}
	if slices.ContainsFunc(set.ResourceRecords, isValue(value)) {
		return z.name, nil
	}
	set.ResourceRecords = append(set.ResourceRecords, types.ResourceRecord{Value: aws.String(value)})
	if err := p.change(ctx, z, types.ChangeActionUpsert, set); err != nil {
		return "", fmt.Errorf("route53: adding TXT %s in zone %s: %w", fqdn, z.name, err)
	}
	return z.name, nil
}

// CleanUp removes the value from the TXT record set at the name, and the
// set when it held no other value.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	fqdn := dns.Fqdn(strings.ToLower(rec.FQDN))
	z, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return err
	}
	set, err := p.txtSet(ctx, z, fqdn)
	if err != nil || set == nil {
		return err
	}
	value := quote(rec.Value)
	if !slices.ContainsFunc(set.ResourceRecords, isValue(value)) {
		return nil
	}
	action := types.ChangeActionDelete
	if len(set.ResourceRecords) > 1 {
		action = types.ChangeActionUpsert
		set.ResourceRecords = slices.DeleteFunc(set.ResourceRecords, isValue(value))
	}
	if err := p.change(ctx, z, action, set); err != nil {
		if action == types.ChangeActionDelete && changedMeanwhile(err) {
			// A DELETE names the set as it was read: after a write in
			// between (another issuance's value, or this DELETE's own
			// lost answer), a fresh read on the retry decides.
			err = errors.Unwrap(err)
		}
		return fmt.Errorf("route53: removing TXT %s in zone %s: %w", fqdn, z.name, err)
	}
	return nil
}

// zoneOf returns the solver's hosted zone, or else the most specific public
// hosted zone whose name holds fqdn: it asks for the zones named as fqdn,
// then as each parent in turn, so that an account with thousands of zones
// costs a call per label rather than a listing of all of them. Private
// zones are skipped: the CA cannot see them.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (zone, error) {
	if p.hostedZoneID != "" {
		return zone{id: p.hostedZoneID, name: p.hostedZoneID}, nil
	}
	labels := dns.SplitDomainName(fqdn)
	for i := range len(labels) - 1 { // a zone at the top-level domain is not one users own
		name := dns.Fqdn(strings.Join(labels[i:], "."))
		z, err := p.publicZoneNamed(ctx, name)
		if err != nil || z.id != "" {
			return z, err
		}
	}
	return zone{}, certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("route53: no public hosted zone these credentials can list holds %s", fqdn))
}

// publicZoneNamed returns the public hosted zone of that name, if there is
// one. Zones are listed in name order from the name on, so those of the
// name come first; a name may have several (public and private).
func (p *Provider) publicZoneNamed(ctx context.Context, name string) (zone, error) {
	in := &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(10)}
	for {
		out, err := p.client.ListHostedZonesByName(ctx, in)
		if err != nil {
			return zone{}, fmt.Errorf("route53: listing hosted zones named %s: %w", name, classify(err))
		}
		for _, hz := range out.HostedZones {
			if dns.Fqdn(strings.ToLower(aws.ToString(hz.Name))) != name {
				return zone{}, nil // past the zones of that name
			}
			if hz.Config == nil || !hz.Config.PrivateZone {
				return zone{id: strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/"), name: name}, nil
			}
		}
		if !out.IsTruncated {
			return zone{}, nil
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
}

// txtSet returns the TXT record set at fqdn (the simple one, without a
// routing policy), or nil.
func (p *Provider) txtSet(ctx context.Context, z zone, fqdn string) (*types.ResourceRecordSet, error) {
	out, err := p.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(z.id),
		StartRecordName: aws.String(fqdn),
		StartRecordType: types.RRTypeTxt,
	})
	if err != nil {
		return nil, fmt.Errorf("route53: reading TXT %s in zone %s: %w", fqdn, z.name, classify(err))
	}
	for _, set := range out.ResourceRecordSets {
		if set.Type != types.RRTypeTxt || !strings.EqualFold(dns.Fqdn(aws.ToString(set.Name)), fqdn) {
			break
		}
		if set.SetIdentifier == nil {
			return &set, nil
		}
	}
	return nil, nil
}

// change writes one change and waits until Route 53 has it on all its
// nameservers.
func (p *Provider) change(ctx context.Context, z zone, action types.ChangeAction, set *types.ResourceRecordSet) error {
	out, err := p.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(z.id),
		ChangeBatch: &types.ChangeBatch{
			Comment: aws.String("certflow ACME DNS-01 challenge"),
			Changes: []types.Change{{Action: action, ResourceRecordSet: set}},
		},
	})
	if err != nil {
		return classify(err)
	}
	if out.ChangeInfo == nil {
		return errNoChangeInfo
	}
	return p.waitInSync(ctx, out.ChangeInfo)
}

func (p *Provider) waitInSync(ctx context.Context, info *types.ChangeInfo) error {
	wait := firstPoll
	for info.Status != types.ChangeStatusInsync {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for change %s to be INSYNC: %w", aws.ToString(info.Id), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, lastPoll)
		out, err := p.client.GetChange(ctx, &route53.GetChangeInput{Id: info.Id})
		if err != nil {
			return fmt.Errorf("waiting for change %s to be INSYNC: %w", aws.ToString(info.Id), classify(err))
		}
		if out.ChangeInfo == nil {
			return errNoChangeInfo
		}
		info = out.ChangeInfo
	}
	return nil
}

// quote makes a TXT value Route 53's way: one quoted string (challenge
// values are 43 characters of base64url, nothing to escape).
func quote(value string) string { return `"` + value + `"` }

func isValue(quoted string) func(types.ResourceRecord) bool {
	return func(r types.ResourceRecord) bool { return aws.ToString(r.Value) == quoted }
}
