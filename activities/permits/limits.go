package permits

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// The limits of the CAs that publish them, by directory URL: the budgets of
// an issuer that sets none. Let's Encrypt: 300 new orders per account per 3
// hours, 50 certificates per registered domain per week, 5 duplicate
// certificates per week, 5 failed validations per name per hour
// (https://letsencrypt.org/docs/rate-limits/), and in staging 1,500, 30,000,
// 30,000 and 60 (https://letsencrypt.org/docs/staging-environment/).
// Buypass: 20 certificates per registered domain per week, 5 duplicates per
// week, 5 failed validations per name per hour, no new-order limit
// (https://community.buypass.com/t/m2r5cj/rate-limits). Other CAs publish
// none: certflow keeps to their 429 answers alone.
var (
	LetsEncrypt = activities.RateLimits{
		NewOrders:                       activities.RateLimit{Limit: 300, Period: 3 * time.Hour},
		CertificatesPerRegisteredDomain: activities.RateLimit{Limit: 50, Period: week},
		DuplicateCertificates:           activities.RateLimit{Limit: 5, Period: week},
		FailedValidations:               activities.RateLimit{Limit: 5, Period: time.Hour},
	}
	letsEncryptStaging = activities.RateLimits{
		NewOrders:                       activities.RateLimit{Limit: 1500, Period: 3 * time.Hour},
		CertificatesPerRegisteredDomain: activities.RateLimit{Limit: 30000, Period: week},
		DuplicateCertificates:           activities.RateLimit{Limit: 30000, Period: week},
		FailedValidations:               activities.RateLimit{Limit: 60, Period: time.Hour},
	}
	buypass = activities.RateLimits{
		CertificatesPerRegisteredDomain: activities.RateLimit{Limit: 20, Period: week},
		DuplicateCertificates:           activities.RateLimit{Limit: 5, Period: week},
		FailedValidations:               activities.RateLimit{Limit: 5, Period: time.Hour},
	}
	knownCAs = map[string]activities.RateLimits{
		"https://acme-v02.api.letsencrypt.org/directory":         LetsEncrypt,
		"https://acme-staging-v02.api.letsencrypt.org/directory": letsEncryptStaging,
		"https://api.buypass.com/acme/directory":                 buypass,
		"https://api.test4.buypass.no/acme/directory":            buypass,
	}
)

const week = 7 * 24 * time.Hour

// Limits resolves an issuer's budgets: each one spec.acme.rateLimits sets,
// the CA's own for the others when certflow knows the CA (by its directory
// URL), none otherwise.
func Limits(server string, spec *certflowv1.RateLimits) activities.RateLimits {
	l := knownCAs[strings.TrimRight(server, "/")]
	if spec == nil {
		return l
	}
	set := func(dst *activities.RateLimit, src *certflowv1.RateLimit) {
		if src != nil {
			*dst = activities.RateLimit{Limit: int(src.Limit), Period: src.Period.Duration}
		}
	}
	set(&l.NewOrders, spec.NewOrders)
	set(&l.CertificatesPerRegisteredDomain, spec.CertificatesPerRegisteredDomain)
	set(&l.DuplicateCertificates, spec.DuplicateCertificates)
	set(&l.FailedValidations, spec.FailedValidations)
	return l
}

// Names are an order's identifiers as the CA compares them for duplicates:
// lowercased, without a trailing dot, deduplicated and sorted.
func Names(identifiers []string) []string {
	out := make([]string, 0, len(identifiers))
	for _, id := range identifiers {
		if id = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(id)), "."); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RegisteredDomains are the registered domains the names belong to, sorted:
// the public suffix plus one label (example.com for *.www.example.com,
// example.co.uk for www.example.co.uk), following the Public Suffix List as
// Let's Encrypt does. An IPv4 address stands for itself, an IPv6 address for
// its /64; a name that is a public suffix itself stands for itself.
func RegisteredDomains(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, registeredDomain(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func registeredDomain(name string) string {
	if ip, err := netip.ParseAddr(name); err == nil {
		if ip.Is4() || ip.Is4In6() {
			return ip.Unmap().String()
		}
		p, _ := ip.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	name = strings.TrimPrefix(name, "*.")
	if d, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return d
	}
	return name
}

// Scope reads what a rate limit is on from the CA's problem detail, in Let's
// Encrypt's wording: the exact set of the order's names ("too many
// certificates (5) already issued for this exact set of identifiers"), one
// name or registered domain of the order, quoted ("too many certificates (50)
// already issued for \"example.com\"", "too many failed authorizations (5)
// for \"example.com\""), or else the account ("too many new orders (300) from
// this account"). A detail it does not recognise is taken to be about the
// account too, and guessed says so: blocking the account when unsure errs on
// the side of asking the CA less.
func Scope(detail string, names []string) (identifier string, nameSet []string, guessed bool) {
	lower := strings.ToLower(detail)
	switch {
	case strings.Contains(lower, "from this account"):
		return "", nil, false
	case strings.Contains(lower, "exact set"):
		return "", Names(names), false
	}
	_, rest, ok := strings.Cut(lower, `"`)
	if !ok {
		return "", nil, true
	}
	quoted, _, ok := strings.Cut(rest, `"`)
	quoted = strings.TrimSuffix(quoted, ".")
	if !ok || quoted == "" {
		return "", nil, true
	}
	ns := Names(names)
	if slices.Contains(ns, quoted) || slices.Contains(RegisteredDomains(ns), quoted) {
		return quoted, nil, false
	}
	return "", nil, true
}
