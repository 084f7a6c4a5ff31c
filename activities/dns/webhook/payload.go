package webhook

import "encoding/json"

// The wire format of cert-manager's webhook solvers
// (pkg/acme/webhook/apis/acme/v1alpha1): a ChallengePayload goes out with a
// request and comes back with the request and a response. The request's
// config is the solver's config as the issuer holds it.
const (
	payloadAPIVersion = "acme.cert-manager.io/v1alpha1"
	payloadKind       = "ChallengePayload"
	// payloadVersion is the version every webhook serves its group at.
	payloadVersion = "v1alpha1"

	actionPresent = "Present"
	actionCleanUp = "CleanUp"
)

type challengePayload struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *challengeRequest  `json:"request,omitempty"`
	Response   *challengeResponse `json:"response,omitempty"`
}

type challengeRequest struct {
	UID                     string          `json:"uid"`
	Action                  string          `json:"action"`
	Type                    string          `json:"type"`
	DNSName                 string          `json:"dnsName"`
	Key                     string          `json:"key"`
	ResourceNamespace       string          `json:"resourceNamespace"`
	ResolvedFQDN            string          `json:"resolvedFQDN,omitempty"`
	ResolvedZone            string          `json:"resolvedZone,omitempty"`
	AllowAmbientCredentials bool            `json:"allowAmbientCredentials"`
	Config                  json.RawMessage `json:"config,omitempty"`
}

type challengeResponse struct {
	UID     string `json:"uid"`
	Success bool   `json:"success"`
	// Status is a metav1.Status; only its message is read.
	Status *struct {
		Message string `json:"message"`
	} `json:"status,omitempty"`
}
