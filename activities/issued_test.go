package activities

import (
	"crypto/x509"
	"math/big"
	"testing"
)

func TestARICertIDFollowsRFC9773(t *testing.T) {
	// The example of RFC 9773 section 4.1: a serial whose high bit is set
	// gets a leading zero byte.
	serial, _ := new(big.Int).SetString("87654321", 16)
	leaf := &x509.Certificate{
		SerialNumber:   serial,
		AuthorityKeyId: []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4},
	}
	if got, want := IssuedFrom(leaf).ARICertID, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; got != want {
		t.Fatalf("ARI ID = %s, want %s", got, want)
	}
	leaf.AuthorityKeyId = nil
	if got := IssuedFrom(leaf).ARICertID; got != "" {
		t.Fatalf("ARI ID without AKI = %q, want empty", got)
	}
}
