package azuredns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The Azure SDK sends credentials over HTTPS only (Microsoft Entra ID refuses
// an authority host without it, ARM's bearer policy a plain endpoint), so the
// stand-in serves TLS. One authority per process signs the certificate of
// every stand-in the process starts: a client started before the stand-in
// (a worker, a test's TestMain) trusts them all through one CA file, the way
// any Go program trusts a private CA, with SSL_CERT_FILE.

type authority struct {
	certPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

var processAuthority = sync.OnceValues(newAuthority)

func newAuthority() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "certflow Azure DNS stand-in CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// serverCertificate is a certificate for 127.0.0.1, signed by the authority.
func (a *authority) serverCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// WriteCACert writes the certificate of the authority that signs every
// stand-in of this process into dir, and returns the file's path: the value
// of SSL_CERT_FILE for a client that must trust the stand-ins.
func WriteCACert(dir string) (string, error) {
	a, err := processAuthority()
	if err != nil {
		return "", fmt.Errorf("azuredns stand-in: making its CA: %w", err)
	}
	path := filepath.Join(dir, "azuredns-standin-ca.pem")
	if err := os.WriteFile(path, a.certPEM, 0o644); err != nil {
		return "", fmt.Errorf("azuredns stand-in: %w", err)
	}
	return path, nil
}
