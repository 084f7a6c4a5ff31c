package secrets

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// mismatch says how the leaf fails the request, "" when it does not: expired,
// other names (DNS SANs, IP SANs, common name), another key algorithm or size.
// The common name may or may not be repeated as a SAN (ACME CAs add it), so
// it counts as a SAN on both sides; a request without a common name accepts
// the one the CA chose.
func mismatch(leaf *x509.Certificate, req activities.Request, now time.Time) string {
	if !now.Before(leaf.NotAfter) {
		return fmt.Sprintf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if req.CommonName != "" && !strings.EqualFold(leaf.Subject.CommonName, req.CommonName) {
		return fmt.Sprintf("the common name is %q, the Certificate asks for %q", leaf.Subject.CommonName, req.CommonName)
	}
	wantDNS, wantIPs := names(req.DNSNames, req.IPAddresses, req.CommonName)
	leafIPs := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		leafIPs[i] = ip.String()
	}
	haveDNS, haveIPs := names(leaf.DNSNames, leafIPs, req.CommonName)
	if !slices.Equal(haveDNS, wantDNS) {
		return fmt.Sprintf("the DNS names are [%s], the Certificate asks for [%s]", strings.Join(haveDNS, " "), strings.Join(wantDNS, " "))
	}
	if !slices.Equal(haveIPs, wantIPs) {
		return fmt.Sprintf("the IP addresses are [%s], the Certificate asks for [%s]", strings.Join(haveIPs, " "), strings.Join(wantIPs, " "))
	}
	haveAlg, haveSize := keyKind(leaf.PublicKey)
	wantAlg, wantSize := wantKey(req.PrivateKey)
	if !strings.EqualFold(haveAlg, wantAlg) || haveSize != wantSize {
		return fmt.Sprintf("the key is %s, the Certificate asks for %s", keyString(haveAlg, haveSize), keyString(wantAlg, wantSize))
	}
	return ""
}

// names normalises DNS names (lower case) and IP addresses (canonical form),
// adds the common name to the list it belongs to, and sorts and dedupes both.
func names(dnsNames, ips []string, commonName string) (dnsOut, ipOut []string) {
	add := func(v string) {
		if v == "" {
			return
		}
		if ip := net.ParseIP(v); ip != nil {
			ipOut = append(ipOut, ip.String())
		} else {
			dnsOut = append(dnsOut, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	for _, n := range dnsNames {
		add(n)
	}
	for _, ip := range ips {
		add(ip)
	}
	add(commonName)
	slices.Sort(dnsOut)
	slices.Sort(ipOut)
	return slices.Compact(dnsOut), slices.Compact(ipOut)
}

// keyKind is a public key's algorithm and size (bits, curve size; 0 for Ed25519).
func keyKind(pub crypto.PublicKey) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return pki.RSA, k.N.BitLen()
	case *ecdsa.PublicKey:
		return pki.ECDSA, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return pki.Ed25519, 0
	}
	return fmt.Sprintf("%T", pub), 0
}

// wantKey is the algorithm and size a key spec asks for, defaults applied as
// pki.GenerateKey applies them.
func wantKey(spec activities.KeySpec) (string, int) {
	alg, size := spec.Algorithm, spec.Size
	switch {
	case alg == "" || strings.EqualFold(alg, pki.RSA):
		alg = pki.RSA
		if size == 0 {
			size = 2048
		}
	case strings.EqualFold(alg, pki.ECDSA):
		alg = pki.ECDSA
		if size == 0 {
			size = 256
		}
	case strings.EqualFold(alg, pki.Ed25519):
		alg, size = pki.Ed25519, 0
	}
	return alg, size
}

func keyString(alg string, size int) string {
	if size == 0 {
		return alg
	}
	return fmt.Sprintf("%s %d", alg, size)
}
