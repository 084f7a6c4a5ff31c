package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/pki"
)

// The fuzz targets here cover what certflow reads from Secrets (tls.crt,
// tls.key, ca.crt, pending and account keys) and from CAs (chains). Seeds are
// made afresh on every run; crashers found earlier live in testdata/fuzz.

// chainSeeds are PEM chains as CAs and Secrets hold them, and broken ones.
func chainSeeds(t testing.TB) [][]byte {
	ca, err := pki.NewCA("certflow fuzz CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"www.certflow.test", "*.certflow.test"}, []net.IP{net.IPv4(192, 0, 2, 1)})
	if err != nil {
		t.Fatal(err)
	}
	chain := append(append([]byte{}, pair.CertPEM...), ca.CertPEM...)
	leafDER, _ := pem.Decode(pair.CertPEM)
	return [][]byte{
		chain,
		pair.CertPEM,
		ca.CertPEM,
		{},
		[]byte("not PEM at all"),
		chain[:len(chain)/2], // truncated inside the second block
		append(append([]byte{}, chain...), "garbage"...),   // trailing garbage
		append(append([]byte{}, pair.KeyPEM...), chain...), // a key first, as tls-combined.pem has it
		pair.KeyPEM, // wrong PEM type only
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER.Bytes[:len(leafDER.Bytes)-1]}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}}),
		bytes.Repeat(ca.CertPEM, 11), // one more than a chain may have
		[]byte(strings.ReplaceAll(string(chain), "\n", "\r\n")),
	}
}

// FuzzParseChain checks that a chain that parses holds exactly the input's
// CERTIFICATE blocks in order (one to ten of them), and that writing it with
// EncodeChain and reading it again gives the same certificates, byte for byte.
// Input that does not parse is an error, never a panic.
func FuzzParseChain(f *testing.F) {
	for _, seed := range chainSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := pki.ParseChain(data)
		if err != nil {
			if chain != nil || err.Error() == "" {
				t.Fatalf("error %q came with a chain of %d", err, len(chain))
			}
			return
		}
		var blocks [][]byte
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				blocks = append(blocks, b.Bytes)
			}
		}
		if len(chain) == 0 || len(chain) > 10 || len(chain) != len(blocks) {
			t.Fatalf("%d certificates from %d CERTIFICATE blocks", len(chain), len(blocks))
		}
		for i, c := range chain {
			if !bytes.Equal(c.Raw, blocks[i]) {
				t.Fatalf("certificate %d is not the input's block %d", i+1, i+1)
			}
		}
		encoded := pki.EncodeChain(chain)
		again, err := pki.ParseChain(encoded)
		if err != nil {
			t.Fatalf("the re-encoded chain does not parse: %v", err)
		}
		if len(again) != len(chain) {
			t.Fatalf("re-encoding changed the chain's length from %d to %d", len(chain), len(again))
		}
		for i := range chain {
			if !again[i].Equal(chain[i]) {
				t.Fatalf("re-encoding changed certificate %d", i+1)
			}
		}
		if !bytes.Equal(pki.EncodeChain(again), encoded) {
			t.Fatal("encoding the chain is not stable")
		}
	})
}

// keySeeds are private keys in every encoding EncodeKey writes, with the
// variations a user's Secret may have, and broken ones.
func keySeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, spec := range []struct {
		algorithm string
		size      int
	}{{pki.RSA, 2048}, {pki.ECDSA, 256}, {pki.ECDSA, 384}, {pki.ECDSA, 521}, {pki.Ed25519, 0}} {
		key, err := pki.GenerateKey(spec.algorithm, spec.size)
		if err != nil {
			t.Fatal(err)
		}
		for _, encoding := range []string{pki.PKCS1, pki.PKCS8} {
			data, err := pki.EncodeKey(key, encoding)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, data)
		}
	}
	ecPKCS1 := seeds[2]
	block, _ := pem.Decode(ecPKCS1)
	// What openssl ecparam -genkey writes: the curve's parameters, then the key.
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	return append(seeds,
		append(ecParams, ecPKCS1...),
		ecPKCS1[:len(ecPKCS1)/2],
		append(append([]byte{}, ecPKCS1...), "trailing garbage"...),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: block.Bytes}), // EC bytes in an RSA block
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes[:len(block.Bytes)-3]}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}),
		[]byte{},
		[]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"),
	)
}

// FuzzParseKey checks that a key that parses is usable and is the key the
// input holds: it signs, its own public key verifies the signature (RSA keys
// under 1024 bits, which Go refuses to sign with, excepted), and written again
// with EncodeKey it parses to the same key. Input that does not parse is an
// error, never a panic.
func FuzzParseKey(f *testing.F) {
	for _, seed := range keySeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := pki.ParseKey(data)
		if err != nil {
			if key != nil || !strings.HasPrefix(err.Error(), "parsing private key") {
				t.Fatalf("error %q (key %T): want no key and a message saying what failed", err, key)
			}
			return
		}
		if !signsAndVerifies(t, key) {
			return
		}
		for _, encoding := range []string{pki.PKCS1, pki.PKCS8} {
			encoded, err := pki.EncodeKey(key, encoding)
			if err != nil {
				t.Fatalf("encoding the parsed %T in %s: %v", key, encoding, err)
			}
			again, err := pki.ParseKey(encoded)
			if err != nil {
				t.Fatalf("the key re-encoded in %s does not parse: %v", encoding, err)
			}
			if !samePublicKey(again.Public(), key.Public()) {
				t.Fatalf("the key re-encoded in %s is another key", encoding)
			}
		}
	})
}

// signsAndVerifies signs a digest with key and checks the signature with its
// public key. It is false when Go refuses a small RSA key.
func signsAndVerifies(t *testing.T, key crypto.Signer) bool {
	t.Helper()
	message := []byte("certflow")
	digest := sha256.Sum256(message)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		if err != nil {
			if k.N.BitLen() < 1024 {
				return false
			}
			t.Fatalf("signing with a parsed %d-bit RSA key: %v", k.N.BitLen(), err)
		}
		if err := rsa.VerifyPKCS1v15(key.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("the parsed RSA key's public key does not verify its signature: %v", err)
		}
	case *ecdsa.PrivateKey:
		sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatalf("signing with a parsed ECDSA key: %v", err)
		}
		if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatal("the parsed ECDSA key's public key does not verify its signature")
		}
	case ed25519.PrivateKey:
		sig := ed25519.Sign(k, message)
		if !ed25519.Verify(key.Public().(ed25519.PublicKey), message, sig) {
			t.Fatal("the parsed Ed25519 key's public key does not verify its signature")
		}
	default:
		t.Fatalf("ParseKey returned a %T, which certflow cannot use", key)
	}
	return true
}

func samePublicKey(a, b crypto.PublicKey) bool {
	da, errA := x509.MarshalPKIXPublicKey(a)
	db, errB := x509.MarshalPKIXPublicKey(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

// FuzzKeyMatches checks KeyMatches, which decides whether a Secret's tls.key
// belongs to its tls.crt, against an independent comparison of the two
// public keys in DER, for any certificate and key that parse.
func FuzzKeyMatches(f *testing.F) {
	ca, err := pki.NewCA("certflow fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"www.certflow.test"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	other, err := ca.IssueServing([]string{"www.certflow.test"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	rsaKey, err := pki.GenerateKey(pki.RSA, 2048)
	if err != nil {
		f.Fatal(err)
	}
	rsaPEM, _ := pki.EncodeKey(rsaKey, pki.PKCS8)
	f.Add(pair.CertPEM, pair.KeyPEM)
	f.Add(pair.CertPEM, other.KeyPEM)
	f.Add(ca.CertPEM, pair.KeyPEM)
	f.Add(pair.CertPEM, rsaPEM)
	f.Add(append(pair.CertPEM, ca.CertPEM...), append(other.KeyPEM, pair.KeyPEM...))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		chain, err := pki.ParseChain(certPEM)
		if err != nil {
			return
		}
		key, err := pki.ParseKey(keyPEM)
		if err != nil {
			return
		}
		want := samePublicKey(chain[0].PublicKey, key.Public())
		if got := pki.KeyMatches(chain[0], key); got != want {
			t.Fatalf("KeyMatches = %t for a %T certificate key and a %T private key; their DER says %t",
				got, chain[0].PublicKey, key, want)
		}
	})
}

// TestHugeInputIsRefusedUnread shows the limits the fuzz targets rely on:
// more than 1 MiB of PEM, and an RSA key too large to check quickly, are
// errors without parsing.
func TestHugeInputIsRefusedUnread(t *testing.T) {
	ca, err := pki.NewCA("certflow fuzz CA")
	if err != nil {
		t.Fatal(err)
	}
	padding := pem.EncodeToMemory(&pem.Block{Type: "COMMENT", Bytes: make([]byte, 1<<20)})
	if _, err := pki.ParseChain(append(padding, ca.CertPEM...)); err == nil || !strings.Contains(err.Error(), "more than 1048576") {
		t.Fatalf("ParseChain of more than 1 MiB: error %v, want one naming the limit", err)
	}
	key, _ := pki.GenerateKey(pki.ECDSA, 256)
	keyPEM, _ := pki.EncodeKey(key, pki.PKCS8)
	if _, err := pki.ParseKey(append(padding, keyPEM...)); err == nil || !strings.Contains(err.Error(), "more than 1048576") {
		t.Fatalf("ParseKey of more than 1 MiB: error %v, want one naming the limit", err)
	}

	odd := func(bits int) *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		return n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	}

	// A certificate for an 8200-bit RSA key: checking its signature would cost
	// more than an 8192-bit key's, and a 1-Mbit key's most of a minute.
	signer, _ := pki.GenerateKey(pki.ECDSA, 256)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: ca.Cert.NotAfter}
	bigRSA := &rsa.PublicKey{N: odd(8200), E: 65537}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, bigRSA, signer)
	if err != nil {
		t.Fatal(err)
	}
	bigChain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if _, err := pki.ParseChain(bigChain); err == nil || !strings.Contains(err.Error(), "8200-bit RSA key") {
		t.Fatalf("ParseChain of a certificate for an 8200-bit RSA key: error %v, want one naming the limit", err)
	}

	// A 64-kbit RSA key with consistent-looking numbers: Go would spend about
	// a quarter of a second checking it, a 1 MiB one minutes.
	p, q := odd(1<<15), odd(1<<15)
	der, err := asn1.Marshal(struct {
		Version                     int
		N, E, D, P, Q, Dp, Dq, Qinv *big.Int
	}{0, new(big.Int).Mul(p, q), big.NewInt(65537), odd(1 << 16), p, q, odd(1 << 14), odd(1 << 14), odd(1 << 14)})
	if err != nil {
		t.Fatal(err)
	}
	huge := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})
	if _, err := pki.ParseKey(huge); err == nil || !strings.Contains(err.Error(), "largest supported key") {
		t.Fatalf("ParseKey of a 64-kbit RSA key: error %v, want one naming the limit", err)
	}
}
