package activities

import "time"

// The challenge steps of an ACME issuance (package activities/challenges):
// Present puts the response to each pending challenge where the CA will
// look, WaitPropagation waits until the responses are reachable there, and
// CleanUpChallenges removes them again, always. Each challenge type (dns-01,
// http-01) does these its own way behind them.
var (
	Present           = declare[PresentInput, PresentResult]("Present")
	WaitPropagation   = declare[WaitPropagationInput, WaitPropagationResult]("WaitPropagation")
	CleanUpChallenges = declare[CleanUpChallengesInput, CleanUpChallengesResult]("CleanUpChallenges")
)

// PresentInput presents the challenges of the authorizations still pending.
type PresentInput struct {
	Certificate    CertificateRef
	Issuer         IssuerRef
	Authorizations []Authorization
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// Presented is one challenge response in place: the challenge, and where its
// solver put it, which is what removing it needs.
type Presented struct {
	// Identifier is the authorization's, without "*.".
	Identifier string
	Wildcard   bool `json:",omitempty"`
	Challenge
	// Zone is the DNS zone a dns-01 record went into.
	Zone string `json:",omitempty"`
}

// PresentResult lists the responses presented.
type PresentResult struct {
	Presented []Presented
}

// WaitPropagationInput waits until every response is reachable where the CA
// will look. It heartbeats while it polls.
type WaitPropagationInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Presented   []Presented
	// LookFor, when set, makes it a quick look: it checks for at most this
	// long and says in the result whether every response was reachable,
	// instead of waiting until they are.
	LookFor time.Duration
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// WaitPropagationResult says how long it took, and whether every response
// was reachable (always, unless the input's LookFor ended the look first).
type WaitPropagationResult struct {
	Checks  int
	Elapsed time.Duration
	Visible bool
}

// CleanUpChallengesInput removes presented responses. It runs always, even
// when the issuance failed or was cancelled; a response that is not there
// (never made, or removed already) is fine.
type CleanUpChallengesInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Presented   []Presented
}

// HTTP01URL is where the CA fetches an http-01 response (RFC 8555 section 8.3).
func HTTP01URL(identifier, token string) string {
	return "http://" + identifier + HTTP01Path + token
}

// HTTP01Path is the path of http-01 responses, before the token.
const HTTP01Path = "/.well-known/acme-challenge/"

// Name is the name the response is for, as a request names it.
func (p Presented) Name() string { return name(p.Identifier, p.Wildcard) }

// CleanUpChallengesResult is empty; errors are returned.
type CleanUpChallengesResult struct{}

// PresentedOf are the responses to the authorizations' challenges as
// Present presents them, each once; an authorization without a challenge
// (valid before this order) has none. What Present may have made before it
// failed, and what an earlier run may have left, is PresentedOf what it was
// given.
func PresentedOf(authzs []Authorization) []Presented {
	var out []Presented
	seen := map[Challenge]bool{}
	for _, az := range authzs {
		c := az.Challenge
		key := Challenge{Type: c.Type, FQDN: c.FQDN, Token: c.Token, Value: c.Value}
		if c.Type == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, Presented{Identifier: az.Identifier, Wildcard: az.Wildcard, Challenge: c})
	}
	return out
}
