// Package http01 is the http-01 challenge type (RFC 8555 section 8.3): the
// response is the key authorization, served by certflow's responder
// (internal/solver) at http://<name>/.well-known/acme-challenge/<token>.
//
// Presenting writes the response where every replica of the responder reads
// it (a ConfigMap in the responder's namespace) and routes that path for the
// name to the responder: a Service in the Certificate's namespace whose
// endpoints are the responder Service's, and an Ingress (a new one, or a path
// added to an existing one) or a Gateway API HTTPRoute that sends the path to
// that Service, as the issuer's solver says. Every object is named after the
// token (solver.Name), so clean-up removes exactly this challenge's. The
// response is reachable once a GET of its URL, with the name resolved as the
// worker resolves it, returns the key authorization. It must not import
// workflows.
package http01

import (
	"context"
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/challenges"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Type solves http-01 challenges.
type Type struct {
	// Kube writes the responses, Services and routes.
	Kube client.Client
	// Responder is the responder's Service: the responses go in its
	// namespace, and the routes lead to its endpoints.
	Responder types.NamespacedName
	// SelfCheck fetches the responses as the CA will.
	SelfCheck SelfCheck
}

var _ challenges.Type = (*Type)(nil)

// Solver builds solver index of the issuer's spec.acme.solvers, for the
// challenges of cert.
func (t *Type) Solver(_ context.Context, iss *issuers.Issuer, index int, cert activities.CertificateRef) (challenges.Solver, error) {
	spec := iss.Spec.ACME.Solvers[index].HTTP01
	if spec == nil {
		return nil, activities.ConfigError("%s solver %d has no http01 section", iss.Ref, index)
	}
	return &solver{t: t, spec: spec, cert: cert}, nil
}

// Reachable fetches the response's URL once: "" when it answers the key
// authorization, else what it answered.
func (t *Type) Reachable(ctx context.Context, p activities.Presented) (string, error) {
	return t.SelfCheck.Fetch(ctx, p.Identifier, p.Token, p.Value)
}

// solver presents and removes the responses of one http01 solver for one
// Certificate.
type solver struct {
	t    *Type
	spec *certflowv1.ACMEChallengeSolverHTTP01
	cert activities.CertificateRef
}

func (s *solver) Present(ctx context.Context, p activities.Presented) (activities.Presented, error) {
	if err := checkResponse(p); err != nil {
		return p, err
	}
	endpoints, err := s.t.responderEndpoints(ctx)
	if err != nil {
		return p, err
	}
	if err := s.t.storeResponse(ctx, s.cert, p); err != nil {
		return p, err
	}
	if err := s.t.ensureService(ctx, s.cert.Namespace, p.Token, s.serviceType(), s.podTemplate(), endpoints); err != nil {
		return p, err
	}
	return p, s.route().add(ctx, p)
}

// CleanUp removes the route, the Service and the response, each even when
// another could not be removed (Present may have made only some).
func (s *solver) CleanUp(ctx context.Context, p activities.Presented) error {
	if err := checkResponse(p); err != nil {
		return err
	}
	return errors.Join(
		s.route().remove(ctx, p),
		s.t.removeService(ctx, s.cert.Namespace, p.Token),
		s.t.removeResponse(ctx, p.Token),
	)
}

// serviceType is the solver's serviceType, NodePort when unset as in
// cert-manager (some ingress controllers reach only node ports).
func (s *solver) serviceType() corev1.ServiceType {
	typ := ""
	switch {
	case s.spec.Ingress != nil:
		typ = s.spec.Ingress.ServiceType
	case s.spec.GatewayHTTPRoute != nil:
		typ = s.spec.GatewayHTTPRoute.ServiceType
	}
	if typ == "" {
		return corev1.ServiceTypeNodePort
	}
	return corev1.ServiceType(typ)
}

func (s *solver) podTemplate() *certflowv1.ACMEChallengeSolverHTTP01IngressPodTemplate {
	if s.spec.Ingress != nil {
		return s.spec.Ingress.PodTemplate
	}
	return s.spec.GatewayHTTPRoute.PodTemplate
}

// route is how the solver routes the challenge path to the Service.
func (s *solver) route() router {
	if s.spec.Ingress != nil {
		return &ingressRoute{kube: s.t.Kube, spec: s.spec.Ingress, namespace: s.cert.Namespace}
	}
	return &httpRoute{kube: s.t.Kube, spec: s.spec.GatewayHTTPRoute, namespace: s.cert.Namespace}
}

// router makes and removes the route of one challenge.
type router interface {
	add(ctx context.Context, p activities.Presented) error
	remove(ctx context.Context, p activities.Presented) error
}

// checkResponse refuses a response that is not an http-01 key
// authorization for its token: only those are ever served.
func checkResponse(p activities.Presented) error {
	if p.Type != "http-01" || p.Token == "" || !strings.HasPrefix(p.Value, p.Token+".") || p.Wildcard {
		return temporal.NewNonRetryableApplicationError("not an http-01 response: "+activities.HTTP01URL(p.Identifier, p.Token),
			activities.ErrTypeMismatch, nil)
	}
	return nil
}
