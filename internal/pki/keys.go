package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key algorithms and encodings, spelled as in the Certificate's spec.privateKey.
const (
	RSA     = "RSA"
	ECDSA   = "ECDSA"
	Ed25519 = "Ed25519"

	PKCS1 = "PKCS1"
	PKCS8 = "PKCS8"
)

// GenerateKey makes a private key. An empty algorithm is RSA; size 0 takes
// the algorithm's default (RSA 2048, ECDSA 256), as cert-manager does.
func GenerateKey(algorithm string, size int) (crypto.Signer, error) {
	switch algorithm {
	case "", RSA:
		if size == 0 {
			size = 2048
		}
		if size != 2048 && size != 3072 && size != 4096 && size != 8192 {
			return nil, fmt.Errorf("RSA key size %d: want 2048, 3072, 4096 or 8192", size)
		}
		return rsa.GenerateKey(rand.Reader, size)
	case ECDSA:
		curves := map[int]elliptic.Curve{0: elliptic.P256(), 256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}
		curve, ok := curves[size]
		if !ok {
			return nil, fmt.Errorf("ECDSA key size %d: want 256, 384 or 521", size)
		}
		return ecdsa.GenerateKey(curve, rand.Reader)
	case Ed25519:
		if size != 0 {
			return nil, fmt.Errorf("Ed25519 keys have no size (got %d)", size)
		}
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	return nil, fmt.Errorf("key algorithm %q: want RSA, ECDSA or Ed25519", algorithm)
}

// EncodeKey encodes a private key as PEM. PKCS1 means the traditional
// per-algorithm form (RSA PRIVATE KEY, EC PRIVATE KEY), as cert-manager does;
// Ed25519 has only PKCS#8.
func EncodeKey(key crypto.Signer, encoding string) ([]byte, error) {
	var (
		blockType string
		der       []byte
		err       error
	)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if encoding == PKCS8 {
			blockType = "PRIVATE KEY"
			der, err = x509.MarshalPKCS8PrivateKey(k)
		} else {
			blockType, der = "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)
		}
	case *ecdsa.PrivateKey:
		if encoding == PKCS8 {
			blockType = "PRIVATE KEY"
			der, err = x509.MarshalPKCS8PrivateKey(k)
		} else {
			blockType = "EC PRIVATE KEY"
			der, err = x509.MarshalECPrivateKey(k)
		}
	case ed25519.PrivateKey:
		blockType = "PRIVATE KEY"
		der, err = x509.MarshalPKCS8PrivateKey(k)
	default:
		return nil, fmt.Errorf("encoding private key: unsupported type %T", key)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return encodePEM(blockType, der), nil
}

// maxKeyDER bounds the DER of one private key: an RSA 8192 key, the largest
// certflow makes, is 4.7 KiB, and checking an RSA key costs more than the
// square of its size (a 70 KiB key takes over a second, a 1 MiB one minutes).
const maxKeyDER = 8 << 10

// ParseKey reads the first private key in PEM data, in any of the encodings
// EncodeKey writes. Data over 1 MiB, or a key of more than 8 KiB of DER, is
// refused before it is parsed.
func ParseKey(data []byte) (crypto.Signer, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("parsing private key: %d bytes of PEM, more than %d", len(data), maxPEMSize)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("parsing private key: no PEM private key found")
		}
		var parse func([]byte) (any, error)
		switch block.Type {
		case "RSA PRIVATE KEY":
			parse = func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) }
		case "EC PRIVATE KEY":
			parse = func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) }
		case "PRIVATE KEY":
			parse = x509.ParsePKCS8PrivateKey
		default:
			continue
		}
		if len(block.Bytes) > maxKeyDER {
			return nil, fmt.Errorf("parsing private key (%s): %d bytes of DER, more than the %d of the largest supported key", block.Type, len(block.Bytes), maxKeyDER)
		}
		key, err := parse(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing private key (%s): %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("parsing private key: unsupported type %T", key)
		}
		return signer, nil
	}
}
