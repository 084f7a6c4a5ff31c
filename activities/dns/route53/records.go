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
		return fmt.Errorf("route53: removing TXT %s in zone %s: %w", fqdn, z.name, err)
	}
	return nil
}

// zoneOf returns the solver's hosted zone, or else the most specific public
// hosted zone whose name holds fqdn. Zones are listed by name from the
// name's top-level domain on, so that the parents of the name come first;
// private zones are skipped, the CA cannot see them.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (zone, error) {
	if p.hostedZoneID != "" {
		return zone{id: p.hostedZoneID, name: p.hostedZoneID}, nil
	}
	labels := dns.SplitDomainName(fqdn)
	in := &route53.ListHostedZonesByNameInput{DNSName: aws.String(labels[len(labels)-1] + ".")}
	var best zone
	for {
		out, err := p.client.ListHostedZonesByName(ctx, in)
		if err != nil {
			return zone{}, fmt.Errorf("route53: listing hosted zones for %s: %w", fqdn, classify(err))
		}
		for _, hz := range out.HostedZones {
			name := dns.Fqdn(strings.ToLower(aws.ToString(hz.Name)))
			private := hz.Config != nil && hz.Config.PrivateZone
			if !private && dns.IsSubDomain(name, fqdn) && len(name) > len(best.name) {
				best = zone{id: strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/"), name: name}
			}
		}
		if !out.IsTruncated {
			break
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
	if best.id == "" {
		return zone{}, certflowdns.Permanent(fmt.Errorf("route53: no public hosted zone these credentials can list holds %s", fqdn))
	}
	return best, nil
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
