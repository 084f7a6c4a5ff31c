package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimits are an ACME CA's limits, as budgets that certflow keeps to: before each new
// order a Certificate waits for a permit from its issuer's limiter, which grants one when
// every budget the order counts against has room. Each budget is a sliding window, counted
// the way the CA counts it. ARI renewals (orders that name the certificate they replace) are
// exempt, as Let's Encrypt exempts them.
//
// Unset budgets are the CA's own where certflow knows them (Let's Encrypt's production and
// staging, Buypass's); a CA it does not know gets none, and certflow keeps only to the CA's
// own 429 answers. The budgets are per issuer: Issuers that share one ACME account each get
// the full budget, so give each its share.
type RateLimits struct {
	// New orders per ACME account, each order counted when it is made. Let's Encrypt: 300
	// per 3h.
	// +optional
	NewOrders *RateLimit `json:"newOrders,omitempty"`

	// Certificates issued per registered domain (the public suffix plus one label:
	// example.com for www.example.com, example.co.uk for www.example.co.uk), counted once per
	// domain a certificate names. An attempt that issued nothing counts nothing. Let's
	// Encrypt: 50 per 168h.
	// +optional
	CertificatesPerRegisteredDomain *RateLimit `json:"certificatesPerRegisteredDomain,omitempty"`

	// Certificates issued for exactly the same set of names. Let's Encrypt: 5 per 168h.
	// +optional
	DuplicateCertificates *RateLimit `json:"duplicateCertificates,omitempty"`

	// Failed validations per name: an order for a name that failed this often waits until
	// the oldest failure leaves the window. Let's Encrypt: 5 per 1h.
	// +optional
	FailedValidations *RateLimit `json:"failedValidations,omitempty"`
}

// RateLimit is a budget: at most limit of what it counts in any period.
type RateLimit struct {
	// How many the period allows; at least 1.
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
