package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestCRDValidation applies manifests, written as a user would write them, to a real
// kube-apiserver that has deploy/crds installed: bad ones must be refused with the message
// the schema gives for exactly that mistake, good ones (cert-manager manifests with only the
// apiVersion changed) must be stored and read back unchanged.
func TestCRDValidation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	kube, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting kubernetes: %v", err)
	}
	t.Cleanup(func() {
		if err := kube.Stop(); err != nil {
			t.Errorf("stopping kubernetes: %v", err)
		}
	})

	c, err := kube.Client()
	if err != nil {
		t.Fatalf("building client: %v", err)
	}

	t.Run("kinds are served with certflow's short names and category", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(kube.Config)
		if err != nil {
			t.Fatalf("building discovery client: %v", err)
		}
		list, err := dc.ServerResourcesForGroupVersion(certflowv1.GroupVersion.String())
		if err != nil {
			t.Fatalf("discovering %s: %v", certflowv1.GroupVersion, err)
		}
		want := map[string]struct {
			namespaced bool
			shortNames []string
		}{
			"certificates":   {true, []string{"cfcert", "cfcerts"}},
			"issuers":        {true, []string{"cfissuer"}},
			"clusterissuers": {false, []string{"cfclusterissuer"}},
		}
		for _, r := range list.APIResources {
			w, ok := want[r.Name]
			if !ok {
				continue
			}
			delete(want, r.Name)
			if r.Namespaced != w.namespaced || !slices.Equal(r.ShortNames, w.shortNames) ||
				!slices.Contains(r.Categories, "certflow") {
				t.Errorf("%s: namespaced=%v shortNames=%v categories=%v; want namespaced=%v shortNames=%v category certflow",
					r.Name, r.Namespaced, r.ShortNames, r.Categories, w.namespaced, w.shortNames)
			}
		}
		for name := range want {
			t.Errorf("resource %s is not served", name)
		}
	})

	for _, tc := range refusedManifests {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.manifest), &obj.Object); err != nil {
				t.Fatalf("decoding manifest: %v", err)
			}
			if obj.GetKind() != certflowv1.ClusterIssuerKind {
				obj.SetNamespace("default")
			}
			err := c.Create(ctx, obj)
			if err == nil {
				t.Fatalf("created; want refused with %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v; want an Invalid error with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant it to say %q", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}

	for _, tc := range acceptedManifests {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.object()
			if err := yaml.UnmarshalStrict([]byte(tc.manifest), obj); err != nil {
				t.Fatalf("decoding manifest: %v", err)
			}
			if _, namespaced := obj.(*certflowv1.ClusterIssuer); !namespaced {
				obj.SetNamespace("default")
			}
			sent := obj.DeepCopyObject().(client.Object)
			if err := c.Create(ctx, obj); err != nil {
				t.Fatalf("creating: %v", err)
			}
			got := tc.object()
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatalf("reading back: %v", err)
			}
			tc.check(t, sent, got)
		})
	}

	t.Run("status is a subresource that holds the whole story", func(t *testing.T) {
		cert := &certflowv1.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: "status-story", Namespace: "default"},
			Spec: certflowv1.CertificateSpec{
				SecretName: "status-story-tls",
				DNSNames:   []string{"web.example.com"},
				IssuerRef:  certflowv1.ObjectReference{Name: "letsencrypt", Kind: certflowv1.ClusterIssuerKind},
			},
		}
		if err := c.Create(ctx, cert); err != nil {
			t.Fatalf("creating: %v", err)
		}
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		later := metav1.NewTime(now.Add(90 * 24 * time.Hour))
		one := 1
		cert.Status = certflowv1.CertificateStatus{
			Conditions: []metav1.Condition{
				{Type: certflowv1.ConditionReady, Status: metav1.ConditionFalse, Reason: certflowv1.ReasonRateLimited,
					Message: "too many new orders recently; retrying after the CA's Retry-After", LastTransitionTime: now},
				{Type: certflowv1.ConditionIssuing, Status: metav1.ConditionTrue, Reason: certflowv1.ReasonIssuing,
					Message: "waiting for _acme-challenge.web.example.com to propagate", LastTransitionTime: now},
			},
			NotAfter:               &later,
			FailedIssuanceAttempts: &one,
			LastFailureTime:        &now,
			NextAttemptTime:        &later,
			NextAttemptReason:      certflowv1.NextAttemptRateLimited,
			Step:                   certflowv1.StepPropagating,
			Authorizations: []certflowv1.AuthorizationStatus{
				{Identifier: "web.example.com", State: "pending", ChallengeType: "dns-01"},
			},
			WorkflowID:         "certificate/default/status-story",
			ObservedGeneration: cert.Generation,
		}
		want := cert.Status.DeepCopy()
		if err := c.Status().Update(ctx, cert); err != nil {
			t.Fatalf("updating status: %v", err)
		}
		got := &certflowv1.Certificate{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cert), got); err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if !equality.Semantic.DeepEqual(*want, got.Status) {
			t.Errorf("status read back differs:\nsent %+v\n got %+v", *want, got.Status)
		}

		// A write of the main resource must not touch status.
		got.Status = certflowv1.CertificateStatus{}
		got.Spec.DNSNames = append(got.Spec.DNSNames, "www.example.com")
		if err := c.Update(ctx, got); err != nil {
			t.Fatalf("updating spec: %v", err)
		}
		if got.Status.WorkflowID != want.WorkflowID || got.Generation != 2 {
			t.Errorf("after a spec update: generation %d, workflowID %q; want 2 and the status kept",
				got.Generation, got.Status.WorkflowID)
		}
	})
}

// refusedManifests are mistakes a user makes, each with the part of the API server's answer
// that must tell them what is wrong.
var refusedManifests = []struct {
	name     string
	manifest string
	want     string
}{
	{
		name: "a Certificate without secretName is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: no-secret}
spec:
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
`,
		want: "spec.secretName: Required value",
	},
	{
		name: "a Certificate without issuerRef is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: no-issuer}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
`,
		want: "spec.issuerRef: Required value",
	},
	{
		name: "an issuerRef without a name is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: issuer-no-name}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {kind: ClusterIssuer}
`,
		want: "spec.issuerRef.name: Required value",
	},
	{
		name: "an issuerRef to an external issuer's group is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: cert-manager-group}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: pca, kind: AWSPCAClusterIssuer, group: awspca.cert-manager.io}
`,
		want: "spec.issuerRef.group: Invalid value: issuerRef.group must be certflow.dev (or cert-manager.io, read as certflow.dev) or unset",
	},
	{
		name: "an issuerRef of another kind is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: other-kind}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt, kind: AWSPCAIssuer}
`,
		want: "spec.issuerRef.kind: Invalid value: issuerRef.kind must be Issuer or ClusterIssuer",
	},
	{
		name: "a Certificate without any name to certify is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: no-names}
spec:
  secretName: web-tls
  dnsNames: []
  issuerRef: {name: letsencrypt}
`,
		want: "spec: Invalid value: at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set",
	},
	{
		name: "a wildcard not in the leftmost label is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: inner-wildcard}
spec:
  secretName: web-tls
  dnsNames: [example.com, a.*.example.com]
  issuerRef: {name: letsencrypt}
`,
		want: `spec.dnsNames[1]: Invalid value: "a.*.example.com": each dnsNames entry must be a DNS name`,
	},
	{
		name: "a wildcard that is only part of the leftmost label is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: partial-wildcard}
spec:
  secretName: web-tls
  dnsNames: ["*example.com"]
  issuerRef: {name: letsencrypt}
`,
		want: "a wildcard is allowed only as the whole leftmost label",
	},
	{
		name: "a DNS name with a label starting with a hyphen is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: hyphen-label}
spec:
  secretName: web-tls
  dnsNames: [-web.example.com]
  issuerRef: {name: letsencrypt}
`,
		want: "each dnsNames entry must be a DNS name",
	},
	{
		name: "a bare wildcard is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bare-wildcard}
spec:
  secretName: web-tls
  dnsNames: ["*"]
  issuerRef: {name: letsencrypt}
`,
		want: `spec.dnsNames[0]: Invalid value: "*": each dnsNames entry must be a DNS name`,
	},
	{
		name: "a commonName longer than 64 characters is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: long-cn}
spec:
  secretName: web-tls
  commonName: a-very-long-host-name-that-does-not-fit.in-a-common-name.example.com
  issuerRef: {name: letsencrypt}
`,
		want: "spec.commonName: Too long",
	},
	{
		name: "an ipAddresses entry that is not an IP address is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-ip}
spec:
  secretName: web-tls
  ipAddresses: [192.0.2.10, 192.0.2.300]
  issuerRef: {name: selfsigned}
`,
		want: `spec.ipAddresses[1]: Invalid value: "192.0.2.300": each ipAddresses entry must be an IPv4 or IPv6 address`,
	},
	{
		name: "a secretName that is not a valid Secret name is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-secret-name}
spec:
  secretName: Web_TLS
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
`,
		want: `spec.secretName: Invalid value: "Web_TLS": secretName must be a valid Secret name`,
	},
	{
		name: "a secretTemplate label value longer than 63 characters is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: long-label-value}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {team: the-team-that-runs-the-web-shop-and-also-the-payment-service-in-eu-west}
`,
		want: `spec.secretTemplate.labels.team: Too long: may not be more than 63 bytes`,
	},
	{
		name: "a secretTemplate label value with a space is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: spaced-label-value}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {team: a, owner: web shop}
`,
		want: `spec.secretTemplate.labels[owner]: Invalid value: "web shop": a label value must be empty or at most 63 letters, digits, dashes, underscores and dots`,
	},
	{
		name: "a secretTemplate label key that is not a qualified name is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-label-key}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {team: a, "Example.com/team": b}
`,
		want: `spec.secretTemplate.labels: Invalid value: secretTemplate label key "Example.com/team" is not valid: a label key is a name of at most 63`,
	},
	{
		name: "a secretTemplate label certflow.dev/pending-key, which would hide the Secret from the controller, is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: pending-key-label}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {certflow.dev/pending-key: "true"}
`,
		want: `secretTemplate label key "certflow.dev/pending-key" is not allowed: keys under certflow.dev/ are reserved for certflow`,
	},
	{
		name: "a secretTemplate label naming another Certificate is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: certificate-name-label}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {certflow.dev/certificate-name: other}
`,
		want: `secretTemplate label key "certflow.dev/certificate-name" is not allowed`,
	},
	{
		name: "a secretTemplate annotation under certflow.dev/ is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: certflow-annotation}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    annotations: {certflow.dev/order-url: "https://acme.example.com/order/1"}
`,
		want: `spec.secretTemplate.annotations: Invalid value: secretTemplate annotation key "certflow.dev/order-url" is not allowed`,
	},
	{
		name: "a secretTemplate annotation key that is not a qualified name is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-annotation-key}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    annotations: {"see the wiki": "https://wiki.example.com/web"}
`,
		want: `secretTemplate annotation key "see the wiki" is not valid: an annotation key is a name of at most 63`,
	},
	{
		name: "secretTemplate annotations over 192 KiB together are refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: big-annotations}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    annotations: {a: ` + strings.Repeat("x", 100<<10) + `, b: ` + strings.Repeat("y", 100<<10) + `}
`,
		want: `spec.secretTemplate.annotations: Invalid value: secretTemplate annotations may hold at most 192 KiB of keys and values together`,
	},
	{
		name: "more than 64 secretTemplate labels are refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: many-labels}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels: {` + manyLabels(65) + `}
`,
		want: `spec.secretTemplate.labels: Too many: 65: must have at most 64 items`,
	},
	{
		name: "a duration shorter than 1h is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: short-duration}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 30m
  issuerRef: {name: letsencrypt}
`,
		want: `spec.duration: Invalid value: "30m": duration must be at least 1h`,
	},
	{
		name: "a duration that is not a Go duration is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-duration}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 90 days
  renewBefore: 240h
  issuerRef: {name: letsencrypt}
`,
		want: `spec.duration: Invalid value: "90 days": duration must be a Go duration such as 2160h or 1h30m`,
	},
	{
		name: "renewBefore as long as duration is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: renew-too-late}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 24h
  renewBefore: 1440m
  issuerRef: {name: letsencrypt}
`,
		want: "spec.renewBefore: Invalid value: renewBefore must be shorter than duration",
	},
	{
		name: "renewBefore longer than the default duration of 90 days is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: renew-before-default}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  renewBefore: 2200h
  issuerRef: {name: letsencrypt}
`,
		want: "spec.renewBefore: Invalid value: renewBefore must be shorter than duration",
	},
	{
		name: "renewBefore together with renewBeforePercentage is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: renew-both}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  renewBefore: 240h
  renewBeforePercentage: 30
  issuerRef: {name: letsencrypt}
`,
		want: "spec.renewBeforePercentage: Invalid value: renewBefore and renewBeforePercentage cannot both be set",
	},
	{
		name: "renewBeforePercentage of 100 is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: renew-percent}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  renewBeforePercentage: 100
  issuerRef: {name: letsencrypt}
`,
		want: "spec.renewBeforePercentage: Invalid value: 100: renewBeforePercentage must be between 1 and 99",
	},
	{
		name: "an RSA key of 1024 bits is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: rsa-1024}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  privateKey: {algorithm: RSA, size: 1024}
  issuerRef: {name: letsencrypt}
`,
		want: "spec.privateKey.size: Invalid value: an RSA private key size must be 2048, 3072, 4096 or 8192",
	},
	{
		name: "an ECDSA size without an algorithm, which means RSA, is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: default-rsa-256}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  privateKey: {size: 256}
  issuerRef: {name: letsencrypt}
`,
		want: "an RSA private key size must be",
	},
	{
		name: "an ECDSA key of 2048 bits is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: ecdsa-2048}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  privateKey: {algorithm: ECDSA, size: 2048}
  issuerRef: {name: letsencrypt}
`,
		want: "spec.privateKey.size: Invalid value: an ECDSA private key size must be 256, 384 or 521",
	},
	{
		name: "an Ed25519 key with a size is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: ed25519-size}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  privateKey: {algorithm: Ed25519, size: 256}
  issuerRef: {name: letsencrypt}
`,
		want: "spec.privateKey.size: Invalid value: an Ed25519 private key has a fixed size",
	},
	{
		name: "an unknown key usage is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: bad-usage}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  usages: [server auth, serverAuth]
  issuerRef: {name: letsencrypt}
`,
		want: "spec.usages[1]: Unsupported value: \"serverAuth\"",
	},
	{
		name: "an Issuer with no authority is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: empty}
spec: {}
`,
		want: "spec: Invalid value: exactly one of acme, ca, selfSigned or vault must be set",
	},
	{
		name: "an Issuer with both ca and selfSigned is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: two-kinds}
spec:
  ca: {secretName: root-ca}
  selfSigned: {}
`,
		want: "spec: Invalid value: exactly one of acme, ca, selfSigned or vault must be set",
	},
	{
		name: "an ACME server over plain http is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: plain-http}
spec:
  acme:
    server: http://acme.example.com/directory
    privateKeySecretRef: {name: account-key}
`,
		want: `spec.acme.server: Invalid value: "http://acme.example.com/directory": acme server must be an https URL`,
	},
	{
		name: "an ACME issuer without privateKeySecretRef is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: no-account-key}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
`,
		want: "spec.acme.privateKeySecretRef: Required value",
	},
	{
		name: "a solver with both http01 and dns01 is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: solver-both}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - http01: {ingress: {ingressClassName: nginx}}
      dns01: {rfc2136: {nameserver: 192.0.2.53}}
`,
		want: "spec.acme.solvers[0]: Invalid value: each solver must set exactly one of http01, dns01 or dnsPersist01",
	},
	{
		name: "a solver with neither http01 nor dns01 is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: solver-none}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - selector: {dnsZones: [example.com]}
`,
		want: "each solver must set exactly one of http01, dns01 or dnsPersist01",
	},
	{
		name: "a dns01 solver with two providers is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: dns01-two}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - dns01:
        rfc2136: {nameserver: 192.0.2.53}
        cloudflare: {apiTokenSecretRef: {name: cloudflare, key: token}}
`,
		want: "spec.acme.solvers[0].dns01: Invalid value: a dns01 solver must set exactly one provider",
	},
	{
		name: "a dns01 solver with a provider certflow does not have is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: dns01-none}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - dns01:
        cnameStrategy: Follow
`,
		want: "a dns01 solver must set exactly one provider: rfc2136, cloudflare, route53, webhook, azureDNS, cloudDNS, digitalocean, acmeDNS or lego",
	},
	{
		name: "a negative waitInsteadOfSelfCheck is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: wait-negative}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - waitInsteadOfSelfCheck: -5s
      dns01:
        rfc2136: {nameserver: 192.0.2.53}
`,
		want: "spec.acme.solvers[0].waitInsteadOfSelfCheck: Invalid value: waitInsteadOfSelfCheck must be between 0s and 45m",
	},
	{
		name: "an azureDNS service principal without its tenant is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: azure-half}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - dns01:
        azureDNS:
          clientID: 00000000-0000-0000-0000-000000000001
          clientSecretSecretRef: {name: azuredns, key: client-secret}
          subscriptionID: sub
          resourceGroupName: dns
`,
		want: "azureDNS clientID, clientSecretSecretRef and tenantID must be set together",
	},
	{
		name: "an rfc2136 TSIG key name without its secret is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: tsig-half}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - dns01:
        rfc2136: {nameserver: 192.0.2.53, tsigKeyName: certflow}
`,
		want: "spec.acme.solvers[0].dns01.rfc2136.tsigKeyName: Invalid value: rfc2136 tsigKeyName and tsigSecretSecretRef must be set together",
	},
	{
		name: "a Vault issuer with two auth methods is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: vault-two-auth}
spec:
  vault:
    server: https://vault.example.com:8200
    path: pki/sign/web
    auth:
      tokenSecretRef: {name: vault-token, key: token}
      kubernetes: {role: certflow, secretRef: {name: sa-token, key: token}}
`,
		want: "spec.vault.auth: Invalid value: vault auth must set exactly one of tokenSecretRef, appRole or kubernetes",
	},
	{
		name: "a Vault Kubernetes auth with both a Secret and a ServiceAccount is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: vault-two-jwts}
spec:
  vault:
    server: https://vault.example.com:8200
    path: pki/sign/web
    auth:
      kubernetes: {role: certflow, secretRef: {name: sa-token, key: token}, serviceAccountRef: {name: vault-issuer}}
`,
		want: "spec.vault.auth.kubernetes: Invalid value: vault kubernetes auth must set exactly one of secretRef or serviceAccountRef",
	},
	{
		name: "a Vault issuer with caBundle and caBundleSecretRef is refused",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: vault-two-bundles}
spec:
  vault:
    server: https://vault.example.com:8200
    path: pki/sign/web
    caBundle: Y2E=
    caBundleSecretRef: {name: vault-ca}
    auth:
      tokenSecretRef: {name: vault-token}
`,
		want: "spec.vault: Invalid value: vault may set caBundle or caBundleSecretRef, not both",
	},
}

// acceptedManifest is a manifest that must be stored as written.
type acceptedManifest struct {
	name     string
	manifest string
	object   func() client.Object
	check    func(t *testing.T, sent, got client.Object)
}

func newCertificate() client.Object   { return &certflowv1.Certificate{} }
func newClusterIssuer() client.Object { return &certflowv1.ClusterIssuer{} }
func newIssuer() client.Object        { return &certflowv1.Issuer{} }

// sameCertificateSpec checks that the whole spec came back as sent.
func sameCertificateSpec(t *testing.T, sent, got client.Object) {
	t.Helper()
	s, g := sent.(*certflowv1.Certificate), got.(*certflowv1.Certificate)
	if !equality.Semantic.DeepEqual(s.Spec, g.Spec) {
		t.Errorf("spec read back differs:\nsent %+v\n got %+v", s.Spec, g.Spec)
	}
}

var acceptedManifests = []acceptedManifest{
	{
		name: "a wildcard Certificate with its apex is accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: wildcard}
spec:
  secretName: wildcard-example-com-tls
  dnsNames: [example.com, "*.example.com"]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
`,
		object: newCertificate,
		check: func(t *testing.T, sent, got client.Object) {
			sameCertificateSpec(t, sent, got)
			g := got.(*certflowv1.Certificate)
			if !slices.Equal(g.Spec.DNSNames, []string{"example.com", "*.example.com"}) {
				t.Errorf("dnsNames = %v", g.Spec.DNSNames)
			}
		},
	},
	{
		// cert-manager's documented "full" Certificate, with only apiVersion changed.
		name: "a cert-manager Certificate with all common fields is accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: example-com}
spec:
  secretName: example-com-tls
  secretTemplate:
    annotations: {my-secret-annotation-1: foo}
    labels: {my-secret-label: foo}
  duration: 2160h
  renewBefore: 360h
  subject:
    organizations: [jetstack]
    countries: [GB]
    localities: [London]
  isCA: false
  privateKey:
    algorithm: RSA
    encoding: PKCS1
    size: 2048
    rotationPolicy: Always
  usages: [server auth, client auth]
  commonName: example.com
  dnsNames: [example.com, www.example.com]
  uris: [spiffe://cluster.local/ns/sandbox/sa/example]
  emailAddresses: [john.doe@cert-manager.io]
  ipAddresses: [192.168.0.5, "2001:db8::5"]
  issuerRef: {name: ca-issuer, kind: Issuer, group: cert-manager.io}
  additionalOutputFormats: [{type: DER}, {type: CombinedPEM}]
  revisionHistoryLimit: 3
`,
		object: newCertificate,
		check: func(t *testing.T, sent, got client.Object) {
			sameCertificateSpec(t, sent, got)
			g := got.(*certflowv1.Certificate)
			if g.Spec.Duration == nil || g.Spec.Duration.Duration != 2160*time.Hour ||
				g.Spec.RenewBefore == nil || g.Spec.RenewBefore.Duration != 360*time.Hour {
				t.Errorf("duration %v renewBefore %v; want 2160h and 360h", g.Spec.Duration, g.Spec.RenewBefore)
			}
			if pk := g.Spec.PrivateKey; pk == nil || pk.Algorithm != certflowv1.RSAKeyAlgorithm || pk.Size != 2048 ||
				pk.RotationPolicy != certflowv1.RotationPolicyAlways {
				t.Errorf("privateKey = %+v", pk)
			}
		},
	},
	{
		name: "secretTemplate labels and annotations the API server takes on a Secret are accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: template-edges}
spec:
  secretName: template-edges-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt}
  secretTemplate:
    labels:
      example.com/team: web
      app.kubernetes.io/part-of: shop
      empty: ""
      longest: ` + strings.Repeat("v", 63) + `
    annotations:
      Example.COM/Note: the prefix of an annotation key may have capitals
      reflector.v1.k8s.emberstack.com/reflection-allowed: "true"
      big: ` + strings.Repeat("z", 150<<10) + `
`,
		object: newCertificate,
		check:  sameCertificateSpec,
	},
	{
		name: "an Ed25519 Certificate for IP addresses with renewBeforePercentage is accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata: {name: ip-only}
spec:
  secretName: ip-only-tls
  ipAddresses: [127.0.0.1, "::1"]
  duration: 1h
  renewBeforePercentage: 25
  privateKey: {algorithm: Ed25519, encoding: PKCS8}
  issuerRef: {name: selfsigned}
`,
		object: newCertificate,
		check:  sameCertificateSpec,
	},
	{
		name: "an ACME ClusterIssuer with an rfc2136 solver is accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: letsencrypt-staging}
spec:
  acme:
    server: https://acme-staging-v02.api.letsencrypt.org/directory
    email: ops@example.com
    privateKeySecretRef: {name: letsencrypt-staging-account}
    preferredChain: ISRG Root X1
    profile: tlsserver
    externalAccountBinding:
      keyID: kid-1
      keySecretRef: {name: eab, key: hmac}
    solvers:
    - selector: {dnsZones: [example.com]}
      dns01:
        cnameStrategy: Follow
        rfc2136:
          nameserver: 192.0.2.53:53
          tsigKeyName: certflow-key
          tsigAlgorithm: HMACSHA256
          tsigSecretSecretRef: {name: tsig, key: secret}
    - http01:
        ingress: {ingressClassName: nginx}
`,
		object: newClusterIssuer,
		check: func(t *testing.T, sent, got client.Object) {
			s, g := sent.(*certflowv1.ClusterIssuer), got.(*certflowv1.ClusterIssuer)
			if !equality.Semantic.DeepEqual(s.Spec, g.Spec) {
				t.Errorf("spec read back differs:\nsent %+v\n got %+v", s.Spec, g.Spec)
			}
			acme := g.Spec.ACME
			if acme == nil || acme.Server != "https://acme-staging-v02.api.letsencrypt.org/directory" ||
				acme.PrivateKey.Name != "letsencrypt-staging-account" || len(acme.Solvers) != 2 {
				t.Fatalf("acme = %+v", acme)
			}
			r := acme.Solvers[0].DNS01.RFC2136
			if r == nil || r.Nameserver != "192.0.2.53:53" || r.TSIGKeyName != "certflow-key" ||
				r.TSIGSecret == nil || r.TSIGSecret.Name != "tsig" || r.TSIGSecret.Key != "secret" {
				t.Errorf("rfc2136 = %+v", r)
			}
		},
	},
	{
		name: "cert-manager's DNS-01 provider manifests are accepted with only apiVersion changed",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: hosted-dns}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: ops@example.com
    privateKeySecretRef: {name: letsencrypt-account}
    solvers:
    - selector: {dnsZones: [cf.example.com]}
      dns01:
        cloudflare:
          apiTokenSecretRef: {name: cloudflare-api-token-secret, key: api-token}
    - selector: {dnsZones: [cfkey.example.com]}
      dns01:
        cloudflare:
          email: ops@example.com
          apiKeySecretRef: {name: cloudflare-api-key-secret, key: api-key}
    - selector: {dnsZones: [aws.example.com]}
      dns01:
        route53:
          region: eu-west-1
          hostedZoneID: Z2ABCDEFGHIJKL
          role: arn:aws:iam::123456789012:role/dns-manager
          accessKeyIDSecretRef: {name: route53, key: access-key-id}
          secretAccessKeySecretRef: {name: route53, key: secret-access-key}
    - selector: {dnsZones: [irsa.example.com]}
      dns01:
        route53:
          region: us-east-1
          role: arn:aws:iam::123456789012:role/cert-manager
          auth:
            kubernetes:
              serviceAccountRef: {name: certflow-route53, audiences: [sts.amazonaws.com]}
    - selector: {dnsZones: [azure.example.com]}
      dns01:
        azureDNS:
          clientID: 00000000-0000-0000-0000-000000000001
          clientSecretSecretRef: {name: azuredns-config, key: client-secret}
          subscriptionID: 00000000-0000-0000-0000-000000000002
          tenantID: 00000000-0000-0000-0000-000000000003
          resourceGroupName: dns-rg
          hostedZoneName: azure.example.com
          environment: AzurePublicCloud
    - selector: {dnsZones: [mi.example.com]}
      dns01:
        azureDNS:
          subscriptionID: 00000000-0000-0000-0000-000000000002
          resourceGroupName: dns-rg
          managedIdentity: {clientID: 00000000-0000-0000-0000-000000000004}
    - selector: {dnsZones: [gcp.example.com]}
      dns01:
        cloudDNS:
          project: my-project
          hostedZoneName: gcp-zone
          serviceAccountSecretRef: {name: clouddns-dns01-solver-svc-acct, key: key.json}
    - selector: {dnsZones: [do.example.com]}
      dns01:
        digitalocean:
          tokenSecretRef: {name: digitalocean-dns, key: access-token}
    - selector: {dnsZones: [acmedns.example.com]}
      waitInsteadOfSelfCheck: 30s
      dns01:
        acmeDNS:
          host: https://auth.acme-dns.io
          accountSecretRef: {name: acme-dns, key: acmedns.json}
`,
		object: newClusterIssuer,
		check: func(t *testing.T, sent, got client.Object) {
			s, g := sent.(*certflowv1.ClusterIssuer), got.(*certflowv1.ClusterIssuer)
			if !equality.Semantic.DeepEqual(s.Spec, g.Spec) {
				t.Errorf("spec read back differs:\nsent %+v\n got %+v", s.Spec, g.Spec)
			}
			solvers := g.Spec.ACME.Solvers
			if len(solvers) != 9 || solvers[0].DNS01.Cloudflare.APIToken.Key != "api-token" ||
				solvers[3].DNS01.Route53.Auth.Kubernetes.ServiceAccountRef.Name != "certflow-route53" ||
				solvers[4].DNS01.AzureDNS.TenantID == "" || solvers[6].DNS01.CloudDNS.Project != "my-project" ||
				solvers[7].DNS01.DigitalOcean.Token.Name != "digitalocean-dns" || solvers[8].DNS01.AcmeDNS.Host != "https://auth.acme-dns.io" ||
				solvers[8].WaitInsteadOfSelfCheck.Duration != 30*time.Second {
				t.Errorf("solvers read back: %+v", solvers)
			}
		},
	},
	{
		name: "a lego solver names the provider and the Secret of its settings",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: hetzner}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: account-key}
    solvers:
    - selfCheckTimeout: 20m
      dns01:
        lego:
          provider: hetzner
          settingsSecretRef: {name: hetzner-settings}
`,
		object: newIssuer,
		check: func(t *testing.T, sent, got client.Object) {
			s, g := sent.(*certflowv1.Issuer), got.(*certflowv1.Issuer)
			if !equality.Semantic.DeepEqual(s.Spec, g.Spec) {
				t.Errorf("spec read back differs:\nsent %+v\n got %+v", s.Spec, g.Spec)
			}
		},
	},
	{
		name: "a webhook solver keeps its free-form config",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: webhook}
spec:
  acme:
    server: https://127.0.0.1:14000/dir
    skipTLSVerify: true
    privateKeySecretRef: {name: account-key}
    solvers:
    - dns01:
        webhook:
          groupName: acme.example.com
          solverName: example
          config: {apiURL: "https://dns.example.com", zones: [example.com], ttl: 60}
`,
		object: newIssuer,
		check: func(t *testing.T, sent, got client.Object) {
			s, g := sent.(*certflowv1.Issuer), got.(*certflowv1.Issuer)
			sentConfig := s.Spec.ACME.Solvers[0].DNS01.Webhook.Config
			gotConfig := g.Spec.ACME.Solvers[0].DNS01.Webhook.Config
			if gotConfig == nil {
				t.Fatal("webhook config was dropped")
			}
			var want, have any
			if err := json.Unmarshal(sentConfig.Raw, &want); err != nil {
				t.Fatalf("decoding sent config: %v", err)
			}
			if err := json.Unmarshal(gotConfig.Raw, &have); err != nil {
				t.Fatalf("decoding config read back: %v", err)
			}
			if !equality.Semantic.DeepEqual(want, have) {
				t.Errorf("config read back = %s; want %s", gotConfig.Raw, sentConfig.Raw)
			}
		},
	},
	{
		name: "a Vault Issuer with AppRole auth is accepted",
		manifest: `
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata: {name: vault}
spec:
  vault:
    server: https://vault.example.com:8200
    path: pki_int/sign/example-dot-com
    auth:
      appRole:
        path: approle
        roleId: 291b9d21-8ff5-4f4c-9d1a-4fb3e4fd2e76
        secretRef: {name: cert-manager-vault-approle, key: secretId}
`,
		object: newIssuer,
		check: func(t *testing.T, sent, got client.Object) {
			s, g := sent.(*certflowv1.Issuer), got.(*certflowv1.Issuer)
			if !equality.Semantic.DeepEqual(s.Spec, g.Spec) {
				t.Errorf("spec read back differs:\nsent %+v\n got %+v", s.Spec, g.Spec)
			}
		},
	},
}

// manyLabels is n labels as the inside of a YAML flow mapping.
func manyLabels(n int) string {
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("label-%d: v", i)
	}
	return strings.Join(labels, ", ")
}
