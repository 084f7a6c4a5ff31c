package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimits are an ACME CA's limits on new orders, as budgets that certflow keeps to: before
// each new order a Certificate waits for a permit from its issuer's limiter, which grants one
// when every budget the order counts against has room. Each budget is a sliding window: at
// most limit orders in any period. ARI renewals (orders that name the certificate they
// replace) are exempt, as Let's Encrypt exempts them.
//
// The budgets are per issuer: Issuers that share one ACME account each get the full budget,
// so give each its share.
type RateLimits struct {
	// New orders per ACME account. Unset: 300 per 3h, Let's Encrypt's limit.
	// +optional
	NewOrders *RateLimit `json:"newOrders,omitempty"`

	// Orders per registered domain (the public suffix plus one label: example.com for
	// www.example.com, example.co.uk for www.example.co.uk). An order counts against each
	// registered domain it names. Unset: 50 per 168h, Let's Encrypt's limit.
	// +optional
	CertificatesPerRegisteredDomain *RateLimit `json:"certificatesPerRegisteredDomain,omitempty"`

	// Orders for exactly the same set of names. Unset: 5 per 168h, Let's Encrypt's limit.
	// +optional
	DuplicateCertificates *RateLimit `json:"duplicateCertificates,omitempty"`
}

// RateLimit is a budget: at most limit orders in any period.
type RateLimit struct {
	// How many orders the period allows; at least 1.
	// +required
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="rateLimits limit must be at least 1"
	Limit int32 `json:"limit"`

	// The length of the sliding window, a Go duration (for example 3h or 168h); at least 1s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="rateLimits period must be a Go duration such as 3h or 168h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="rateLimits period must be at least 1s"
	Period metav1.Duration `json:"period"`
}
