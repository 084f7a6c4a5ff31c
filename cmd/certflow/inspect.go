package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// newInspectCommand builds `inspect secret`: what a TLS Secret holds, read
// from its PEM, without ever printing the private key.
func newInspectCommand(opts *options) *cobra.Command {
	inspect := &cobra.Command{
		Use:   "inspect",
		Short: "Decode what certflow wrote",
	}
	var l lookup
	secret := &cobra.Command{
		Use:   "secret [-n NAMESPACE] NAME",
		Short: "Decode a TLS Secret: its chain, whether tls.key matches, certflow's annotations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := l.checkOutput(); err != nil {
				return err
			}
			kube, _, err := opts.kubeClient()
			if err != nil {
				return err
			}
			ns := l.resolveNamespace(opts.kubeconfig)
			var s corev1.Secret
			err = kube.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: args[0]}, &s)
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("Secret %s/%s not found: is the namespace right? certflow status CERT names a Certificate's Secret", ns, args[0])
			}
			if err != nil {
				return fmt.Errorf("getting Secret %s/%s: %w", ns, args[0], err)
			}
			report := decodeSecret(&s)
			if l.output != "" {
				return writeStructured(cmd.OutOrStdout(), l.output, report)
			}
			report.write(cmd.OutOrStdout(), time.Now())
			return nil
		},
	}
	l.bindNamespace(secret, false)
	l.bindOutput(secret)
	inspect.AddCommand(secret)
	return inspect
}

// secretReport is what `inspect secret -o json` prints: stable field names.
type secretReport struct {
	Namespace    string       `json:"namespace"`
	Name         string       `json:"name"`
	Type         string       `json:"type"`
	Keys         []string     `json:"keys"`
	Certificates []certReport `json:"certificates"`
	// Problem says why the Secret holds no usable certificate; empty when it does.
	Problem string `json:"problem,omitempty"`
	// KeyMatches says whether tls.key is the leaf's private key.
	KeyMatches  bool              `json:"keyMatches"`
	KeyProblem  string            `json:"keyProblem,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// certReport is one certificate of a chain.
type certReport struct {
	Subject      string    `json:"subject"`
	DNSNames     []string  `json:"dnsNames,omitempty"`
	IPAddresses  []string  `json:"ipAddresses,omitempty"`
	URIs         []string  `json:"uris,omitempty"`
	Emails       []string  `json:"emailAddresses,omitempty"`
	Serial       string    `json:"serial"`
	Issuer       string    `json:"issuer"`
	IssuerCN     string    `json:"issuerCommonName,omitempty"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
	KeyAlgorithm string    `json:"keyAlgorithm"`
	IsCA         bool      `json:"isCA,omitempty"`
}

// decodeSecret reads tls.crt and tls.key. The key is parsed to compare it
// with the leaf and then dropped: no field of the report holds it.
func decodeSecret(s *corev1.Secret) secretReport {
	r := secretReport{Namespace: s.Namespace, Name: s.Name, Type: string(s.Type), Keys: slices.Sorted(maps.Keys(s.Data))}
	r.Annotations = certflowKeys(s.Annotations)
	r.Labels = certflowKeys(s.Labels)
	crt, ok := s.Data[corev1.TLSCertKey]
	if !ok {
		r.Problem = "it has no " + corev1.TLSCertKey
		return r
	}
	chain, err := pki.ParseChain(crt)
	if err != nil {
		r.Problem = fmt.Sprintf("its %s is unreadable: %v", corev1.TLSCertKey, err)
		return r
	}
	for _, c := range chain {
		r.Certificates = append(r.Certificates, describeCert(c))
	}
	keyPEM, ok := s.Data[corev1.TLSPrivateKeyKey]
	if !ok {
		r.KeyProblem = "it has no " + corev1.TLSPrivateKeyKey
		return r
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		r.KeyProblem = fmt.Sprintf("its %s is unreadable: %v", corev1.TLSPrivateKeyKey, err)
		return r
	}
	r.KeyMatches = pki.KeyMatches(chain[0], key)
	if !r.KeyMatches {
		r.KeyProblem = fmt.Sprintf("its %s is not the key of the first certificate in %s", corev1.TLSPrivateKeyKey, corev1.TLSCertKey)
	}
	return r
}

func describeCert(c *x509.Certificate) certReport {
	r := certReport{
		Subject:      c.Subject.String(),
		DNSNames:     c.DNSNames,
		Emails:       c.EmailAddresses,
		Serial:       serialHex(c),
		Issuer:       c.Issuer.String(),
		IssuerCN:     c.Issuer.CommonName,
		NotBefore:    c.NotBefore.UTC(),
		NotAfter:     c.NotAfter.UTC(),
		KeyAlgorithm: keyAlgorithm(c.PublicKey),
		IsCA:         c.IsCA,
	}
	for _, ip := range c.IPAddresses {
		r.IPAddresses = append(r.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		r.URIs = append(r.URIs, u.String())
	}
	return r
}

// serialHex is the serial as openssl prints it: hex bytes joined by colons.
func serialHex(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

func keyAlgorithm(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// certflowKeys keeps the labels or annotations under certflow.dev/; nil for none.
func certflowKeys(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if strings.HasPrefix(k, activities.KeyPrefix) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func (r secretReport) write(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "Secret:       %s/%s (%s)\n", r.Namespace, r.Name, r.Type)
	fmt.Fprintf(w, "Keys:         %s\n", strings.Join(r.Keys, ", "))
	if r.Problem != "" {
		fmt.Fprintf(w, "Problem:      %s\n", r.Problem)
	}
	for i, c := range r.Certificates {
		role := "leaf"
		if i > 0 {
			role = "chain"
		}
		fmt.Fprintf(w, "\nCertificate %d (%s)\n", i+1, role)
		fmt.Fprintf(w, "  Subject:    %s\n", orNone(c.Subject))
		if sans := c.sans(); len(sans) > 0 {
			fmt.Fprintf(w, "  SANs:       %s\n", strings.Join(sans, ", "))
		}
		fmt.Fprintf(w, "  Serial:     %s\n", c.Serial)
		fmt.Fprintf(w, "  Issuer:     %s\n", c.Issuer)
		fmt.Fprintf(w, "  Not before: %s\n", stamp(c.NotBefore, now))
		fmt.Fprintf(w, "  Not after:  %s\n", stamp(c.NotAfter, now))
		fmt.Fprintf(w, "  Key:        %s\n", c.KeyAlgorithm)
	}
	if len(r.Certificates) > 0 {
		fmt.Fprintln(w)
		if r.KeyMatches {
			fmt.Fprintln(w, "Private key:  key matches the leaf (not shown)")
		} else {
			fmt.Fprintf(w, "Private key:  %s\n", r.KeyProblem)
		}
	}
	if len(r.Annotations) > 0 || len(r.Labels) > 0 {
		fmt.Fprintln(w, "\ncertflow metadata")
		for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
			fmt.Fprintf(w, "  label %s=%s\n", k, r.Labels[k])
		}
		for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
			fmt.Fprintf(w, "  annotation %s=%s\n", k, r.Annotations[k])
		}
	}
}

// sans are the subject alternative names, prefixed by kind as openssl does.
func (c certReport) sans() []string {
	var out []string
	for _, n := range c.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, n := range c.IPAddresses {
		out = append(out, "IP:"+n)
	}
	for _, n := range c.URIs {
		out = append(out, "URI:"+n)
	}
	for _, n := range c.Emails {
		out = append(out, "email:"+n)
	}
	return out
}
