package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetryBackoff is how long certflow waits between failed issuance attempts:
// initial after the first failure, doubling after each further one, at most
// max, with up to 10% jitter. It is certflow's own field (cert-manager waits a
// fixed 1h doubling to 32h). A rate limit waits the CA's Retry-After instead,
// and the renew signal or a spec change skips the wait.
//
// +kubebuilder:validation:XValidation:rule="!has(self.initial) || !has(self.max) || !self.initial.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !self.max.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.initial) <= duration(self.max)",message="retryBackoff.initial must not be longer than retryBackoff.max"
type RetryBackoff struct {
	// Wait after the first failure, a Go duration; default 1m, at least 1s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="retryBackoff.initial must be a Go duration such as 1m or 30s"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="retryBackoff.initial must be at least 1s"
	Initial *metav1.Duration `json:"initial,omitempty"`

	// Longest wait, a Go duration; default 24h, at least 1s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="retryBackoff.max must be a Go duration such as 24h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="retryBackoff.max must be at least 1s"
	Max *metav1.Duration `json:"max,omitempty"`
}
