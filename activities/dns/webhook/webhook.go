// Package webhook is the DNS-01 provider that calls cert-manager's DNS-01
// webhook solvers, so that the community's solvers (Hetzner, OVH, Gandi,
// ...) serve certflow unchanged. A solver is an extension API server,
// registered with the cluster's aggregation layer as APIService
// v1alpha1.<groupName>; certflow POSTs a ChallengePayload to
// /apis/<groupName>/v1alpha1/<solverName> through the Kubernetes API server,
// as the worker, and reads the payload's response.
//
// The webhook owns its records: certflow finds the zone (the request's
// resolvedZone, which webhooks rely on) with the worker's resolvers, as
// cert-manager does with its recursive nameservers, and leaves idempotence to
// the webhook. A webhook that is not installed (404), that the worker may
// not call (403) or that rejects the payload (400, 405, 422) is a
// configuration error; a webhook that answers success: false is retried, as
// cert-manager retries it.
package webhook

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/miekg/dns"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnsutil"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Config of one webhook solver, as an issuer's dns01.webhook section and the
// worker give it.
type Config struct {
	// GroupName is the API group the webhook serves; SolverName the
	// resource of its solver in version v1alpha1.
	GroupName, SolverName string
	// SolverConfig is the solver's config, passed on as it is (JSON; may be
	// empty).
	SolverConfig json.RawMessage
	// ResourceNamespace is where the webhook reads the Secrets its config
	// names.
	ResourceNamespace string
	// AllowAmbientCredentials tells the webhook it may use its own cloud
	// identity.
	AllowAmbientCredentials bool
	// Kubernetes reaches the API server as the worker.
	Kubernetes *rest.Config
	// Resolvers (host:port) find the zone of a record.
	Resolvers []string
}

// Provider calls one webhook solver through the API server.
type Provider struct {
	cfg    Config
	client rest.Interface
}

var _ certflowdns.Provider = (*Provider)(nil)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.GroupName == "" || cfg.SolverName == "":
		return nil, errors.New("webhook: groupName and solverName are required")
	case cfg.Kubernetes == nil:
		return nil, errors.New("webhook: the worker has no Kubernetes client to reach the webhook through")
	case len(cfg.Resolvers) == 0:
		return nil, errors.New("webhook: finding the zone of a record needs DNS resolvers, and the worker has none configured")
	}
	rc := rest.CopyConfig(cfg.Kubernetes)
	rc.APIPath = "/apis"
	rc.GroupVersion = &schema.GroupVersion{Group: cfg.GroupName, Version: payloadVersion}
	rc.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc.ContentType = "application/json"
	client, err := rest.RESTClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("webhook: building the client of API group %s: %w", cfg.GroupName, err)
	}
	return &Provider{cfg: cfg, client: client}, nil
}

// Kind builds the provider of a dns01 solver's webhook section.
var Kind = certflowdns.Kind{
	Name:       "webhook",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.Webhook != nil },
	New:        fromSolver,
}

func fromSolver(_ context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.Webhook
	cfg := Config{
		GroupName: spec.GroupName, SolverName: spec.SolverName,
		ResourceNamespace: setup.ResourceNamespace, AllowAmbientCredentials: setup.AmbientCredentials,
		Kubernetes: setup.Kubernetes, Resolvers: setup.Resolvers,
	}
	if spec.Config != nil {
		cfg.SolverConfig = spec.Config.Raw
	}
	p, err := New(cfg)
	return p, certflowdns.Permanent(err)
}

// Present asks the webhook to make the record, and returns its zone.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return "", err
	}
	if err := p.call(ctx, actionPresent, zone, rec); err != nil {
		return "", fmt.Errorf("webhook: presenting TXT %s in zone %s through %s: %w", rec.FQDN, zone, p.resource(), err)
	}
	return zone, nil
}

// CleanUp asks the webhook to remove the record's value.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return err
	}
	if err := p.call(ctx, actionCleanUp, zone, rec); err != nil {
		return fmt.Errorf("webhook: removing TXT %s in zone %s through %s: %w", rec.FQDN, zone, p.resource(), err)
	}
	return nil
}

// zoneOf asks the worker's resolvers for the zone that holds the name: the
// owner of the SOA record their answer holds. An answer without one (an
// NXDOMAIN that names no zone), or that names no zone but the root, is one
// no webhook can write in; resolvers that refuse, fail or do not answer may
// answer on a retry.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	resolvers := dnsutil.Resolver{Servers: p.cfg.Resolvers, Recurse: true}
	resp, err := resolvers.Query(ctx, fqdn, dns.TypeSOA)
	if err != nil {
		return "", fmt.Errorf("webhook: finding the zone of %s: %w", fqdn, err)
	}
	switch zone := soaOwner(resp); zone {
	case "":
		return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("webhook: no zone holds %s: the resolvers %s answered %s without an SOA record",
			fqdn, strings.Join(p.cfg.Resolvers, ", "), dns.RcodeToString[resp.Rcode]))
	case ".":
		return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("webhook: no zone holds %s: the resolvers %s know only the root", fqdn, strings.Join(p.cfg.Resolvers, ", ")))
	default:
		return zone, nil
	}
}

// soaOwner is the owner of the first SOA record of the answer or authority
// section, "" when there is none.
func soaOwner(resp *dns.Msg) string {
	for _, rr := range slices.Concat(resp.Answer, resp.Ns) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Hdr.Name
		}
	}
	return ""
}

// call POSTs one ChallengePayload and reads the webhook's answer.
func (p *Provider) call(ctx context.Context, action, zone string, rec certflowdns.TXT) error {
	body, err := json.Marshal(p.payload(action, zone, rec))
	if err != nil {
		return fmt.Errorf("encoding the ChallengePayload: %w", err)
	}
	result := p.client.Post().Resource(p.cfg.SolverName).Body(body).Do(ctx)
	// Error, unlike Raw, reads the API server's Status into the error.
	err = result.Error()
	switch {
	case apierrors.IsNotFound(err):
		return certflowdns.Permanent(fmt.Errorf("no webhook serves %s (is APIService v1alpha1.%s installed and Available, and does the webhook offer solver %q?): %w",
			p.resource(), p.cfg.GroupName, p.cfg.SolverName, err))
	case apierrors.IsForbidden(err):
		return certflowdns.Permanent(fmt.Errorf("the API server forbids certflow's worker to call the webhook; grant it verbs [create] on apiGroups [%s] resources [%s] (a ClusterRole bound to the worker's ServiceAccount): %w",
			p.cfg.GroupName, p.cfg.SolverName, err))
	case rejected(err):
		return certflowdns.Permanent(fmt.Errorf("the webhook rejects the ChallengePayload: %w", err))
	case err != nil:
		return err
	}
	raw, _ := result.Raw()
	var answer challengePayload
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("reading the webhook's answer: %w", err)
	}
	switch res := answer.Response; {
	case res == nil:
		return errors.New("the webhook answered without a response")
	case res.Success:
		return nil
	case res.Status == nil || res.Status.Message == "":
		return errors.New("the webhook did not succeed and gave no reason")
	default:
		return fmt.Errorf("the webhook did not succeed: %s", res.Status.Message)
	}
}

// rejected says whether the answer refuses the payload itself (400, 405,
// 422), which no retry changes.
func rejected(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	switch status.Status().Code {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// payload is the request cert-manager would send for the record. The
// record's name is the resolved one (after any CNAME); dnsName is the name
// it answers for, without the wildcard's "*.".
// The uid is the record's (challengeUID), the same for its Present and its
// CleanUp, as cert-manager sends its Challenge's.
func (p *Provider) payload(action, zone string, rec certflowdns.TXT) challengePayload {
	fqdn := dns.Fqdn(rec.FQDN)
	return challengePayload{
		APIVersion: payloadAPIVersion,
		Kind:       payloadKind,
		Request: &challengeRequest{
			UID:                     challengeUID(fqdn, rec.Value),
			Action:                  action,
			Type:                    "dns-01",
			DNSName:                 dnsName(rec),
			Key:                     rec.Value,
			ResourceNamespace:       p.cfg.ResourceNamespace,
			ResolvedFQDN:            fqdn,
			ResolvedZone:            zone,
			AllowAmbientCredentials: p.cfg.AllowAmbientCredentials,
			Config:                  p.cfg.SolverConfig,
		},
	}
}

// dnsName is the name the record proves, as cert-manager's Challenge has
// it: the identifier, else the record's name under _acme-challenge.
func dnsName(rec certflowdns.TXT) string {
	if rec.Identifier != "" {
		return strings.TrimSuffix(rec.Identifier, ".")
	}
	return strings.TrimSuffix(strings.TrimPrefix(dns.Fqdn(rec.FQDN), "_acme-challenge."), ".")
}

// resource names the webhook's solver as the API server serves it.
func (p *Provider) resource() string {
	return fmt.Sprintf("/apis/%s/%s/%s", p.cfg.GroupName, payloadVersion, p.cfg.SolverName)
}

// challengeUID names a record as a UUID: version 5's layout over the SHA-1
// of its name and value, so that every call about one record carries the
// same uid.
func challengeUID(fqdn, value string) string {
	sum := sha1.Sum([]byte(fqdn + " " + value))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
