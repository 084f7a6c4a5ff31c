package pki_test

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/pki"
)

func TestKeysRoundTripInEveryEncoding(t *testing.T) {
	cases := []struct {
		name      string
		algorithm string
		size      int
		encoding  string
		wantBlock string
	}{
		{"default is RSA 2048 in PKCS1", "", 0, "", "RSA PRIVATE KEY"},
		{"RSA 3072 in PKCS8", pki.RSA, 3072, pki.PKCS8, "PRIVATE KEY"},
		{"ECDSA 256 in PKCS1 is an EC key", pki.ECDSA, 256, pki.PKCS1, "EC PRIVATE KEY"},
		{"ECDSA 384 in PKCS8", pki.ECDSA, 384, pki.PKCS8, "PRIVATE KEY"},
		{"Ed25519 is always PKCS8", pki.Ed25519, 0, pki.PKCS1, "PRIVATE KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, err := pki.GenerateKey(tc.algorithm, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			data, err := pki.EncodeKey(key, tc.encoding)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != tc.wantBlock {
				t.Fatalf("PEM block %v, want %s", block, tc.wantBlock)
			}
			parsed, err := pki.ParseKey(append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), data...))
			if err != nil {
				t.Fatal(err)
			}
			if !parsed.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatal("parsed key differs from the generated one")
			}
			again, _ := pki.EncodeKey(parsed, tc.encoding)
			if !bytes.Equal(again, data) {
				t.Fatal("re-encoding the parsed key changed it")
			}
		})
	}
}

func TestBadKeySpecsAreRefused(t *testing.T) {
	cases := []struct {
		name      string
		algorithm string
		size      int
		want      string
	}{
		{"RSA 1024 is too small", pki.RSA, 1024, "want 2048, 3072, 4096 or 8192"},
		{"ECDSA 512 is not a curve", pki.ECDSA, 512, "want 256, 384 or 521"},
		{"Ed25519 takes no size", pki.Ed25519, 256, "no size"},
		{"unknown algorithm", "DSA", 0, `"DSA"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pki.GenerateKey(tc.algorithm, tc.size)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := pki.ParseKey([]byte("not a key")); err == nil {
		t.Fatal("ParseKey accepted text without a key")
	}
}
