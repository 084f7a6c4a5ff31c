package pki

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// maxChainLength bounds a chain read from a CA or a Secret: real chains have
// two to four certificates.
const maxChainLength = 10

// maxPEMSize bounds the PEM that ParseChain and ParseKey read: 1 MiB, the
// most a Kubernetes Secret holds and the most certflow reads of a CA's answer.
const maxPEMSize = 1 << 20

// maxRSABits bounds the RSA keys of a chain, as crypto/tls bounds a peer's:
// checking a signature costs the square of the modulus size (a 1-Mbit key
// takes most of a minute), and certflow makes keys of at most 8192 bits.
const maxRSABits = 8192

// ParseChain reads the certificates of a PEM chain, leaf first. Blocks of
// other types are skipped; a chain with no certificate, one that does not
// parse, one longer than ten certificates or 1 MiB, or one with an RSA key
// over 8192 bits is an error.
func ParseChain(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("the chain is %d bytes, more than %d", len(data), maxPEMSize)
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if len(chain) == maxChainLength {
			return nil, fmt.Errorf("more than %d certificates in the chain", maxChainLength)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d of the chain: %w", len(chain)+1, err)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && pub.N.BitLen() > maxRSABits {
			return nil, fmt.Errorf("certificate %d of the chain has a %d-bit RSA key, more than %d bits", len(chain)+1, pub.N.BitLen(), maxRSABits)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return chain, nil
}

// EncodeChain writes certificates as PEM, in order.
func EncodeChain(chain []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// KeyMatches says whether key is the private key of the certificate.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
