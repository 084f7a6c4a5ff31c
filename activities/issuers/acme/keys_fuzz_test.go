package acme

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/keys"
	"github.com/certflow/certflow/internal/pki"
)

// FuzzSecretKey checks the two readers of keys in Secrets here, for any
// tls.key that parses and any key spec the CRD allows. The account key
// (account.go): its hash, which says whether the issuer's status was written
// for this key, is the SHA-256 of its public key and stays the same in every
// encoding of the key. The pending key (package keys): KeyMatches reuses a
// key exactly when it is of the spec's algorithm and size, defaults applied,
// so a key certflow made for a spec is always reused and no other is.
func FuzzSecretKey(f *testing.F) {
	for _, spec := range []activities.KeySpec{
		{}, // RSA 2048, the default; larger RSA keys take seconds to make
		{Algorithm: pki.ECDSA}, {Algorithm: pki.ECDSA, Size: 384, Encoding: pki.PKCS8}, {Algorithm: pki.ECDSA, Size: 521},
		{Algorithm: pki.Ed25519},
	} {
		key, err := pki.GenerateKey(spec.Algorithm, spec.Size)
		if err != nil {
			f.Fatal(err)
		}
		data, err := pki.EncodeKey(key, spec.Encoding)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, spec.Algorithm, spec.Size)
		f.Add(data, pki.ECDSA, 256) // the spec changed since the key was made
	}
	f.Add([]byte("not a key"), "", 0)
	f.Fuzz(func(t *testing.T, data []byte, algorithm string, size int) {
		key, err := pki.ParseKey(data)
		if err != nil {
			return // pki's FuzzParseKey covers what does not parse
		}
		account, err := newAccountKey(key)
		if err != nil {
			t.Fatalf("a parsed %T is no account key: %v", key, err)
		}
		der, _ := x509.MarshalPKIXPublicKey(key.Public())
		if sum := sha256.Sum256(der); account.hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("account key hash %s is not the SHA-256 of the public key", account.hash)
		}
		for _, encoding := range []string{pki.PKCS1, pki.PKCS8} {
			encoded, err := pki.EncodeKey(key, encoding)
			if err != nil {
				t.Fatal(err)
			}
			again, err := pki.ParseKey(encoded)
			if err != nil {
				t.Fatal(err)
			}
			if same, _ := newAccountKey(again); same.hash != account.hash {
				t.Fatalf("the account key in %s has another hash", encoding)
			}
		}

		switch algorithm {
		case "", pki.RSA, pki.ECDSA, pki.Ed25519: // the CRD's enum
		default:
			return
		}
		spec := activities.KeySpec{Algorithm: algorithm, Size: size}
		haveAlgorithm, haveSize := describeKey(key)
		wantAlgorithm, wantSize := algorithm, size
		switch {
		case algorithm == "" || algorithm == pki.RSA:
			wantAlgorithm = pki.RSA
			if size == 0 {
				wantSize = 2048
			}
		case algorithm == pki.ECDSA && size == 0:
			wantSize = 256
		case algorithm == pki.Ed25519:
			wantSize = 0 // Ed25519 keys have no size; the spec's is ignored
		}
		want := haveAlgorithm == wantAlgorithm && haveSize == wantSize
		if got := keys.KeyMatches(key, spec); got != want {
			t.Fatalf("keys.KeyMatches(%s %d, spec %q %d) = %t, want %t", haveAlgorithm, haveSize, algorithm, size, got, want)
		}
	})
}

// describeKey is a key's algorithm and size (RSA modulus bits, ECDSA curve
// bits, 0 for Ed25519).
func describeKey(key any) (string, int) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pki.RSA, k.N.BitLen()
	case *ecdsa.PrivateKey:
		return pki.ECDSA, k.Curve.Params().BitSize
	case ed25519.PrivateKey:
		return pki.Ed25519, 0
	}
	return "unknown", 0
}
