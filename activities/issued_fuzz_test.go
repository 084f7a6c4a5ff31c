package activities

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/go-acme/lego/v5/acme/api"
)

// FuzzARICertID checks the RFC 9773 certificate identifier of IssuedFrom,
// made from the serial and AKI of a certificate that came from a CA, against
// lego's own MakeARICertID, and checks that it decodes back to the AKI and
// to the serial's DER content octets; a certificate without an AKI has none.
// The serial is also reported in lower-case hex without leading zeros.
func FuzzARICertID(f *testing.F) {
	aki := []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}
	f.Add([]byte{0x87, 0x65, 0x43, 0x21}, aki) // RFC 9773's example: the high bit set
	f.Add([]byte{0x01}, aki)
	f.Add([]byte{}, aki) // serial 0
	f.Add([]byte{0x00, 0x00, 0x7f}, aki)
	f.Add(bytes.Repeat([]byte{0xff}, 20), []byte{0x00})
	f.Add([]byte{0x12, 0x34}, []byte{})
	f.Fuzz(func(t *testing.T, serialBytes, aki []byte) {
		serial := new(big.Int).SetBytes(serialBytes)
		leaf := &x509.Certificate{SerialNumber: serial, AuthorityKeyId: aki}
		issued := IssuedFrom(leaf)
		if want := serial.Text(16); issued.Serial != want {
			t.Fatalf("serial %q, want %q", issued.Serial, want)
		}
		if len(aki) == 0 {
			if issued.ARICertID != "" {
				t.Fatalf("ARI ID %q for a certificate without an AKI", issued.ARICertID)
			}
			return
		}
		// lego skips two bytes of DER header, right for serials under 128
		// octets (RFC 5280 allows 20), wrong for longer ones.
		if len(serial.Bytes()) < 127 {
			want, err := api.MakeARICertID(leaf)
			if err != nil {
				t.Fatalf("lego cannot make the ARI ID: %v", err)
			}
			if issued.ARICertID != want {
				t.Fatalf("ARI ID %q, lego makes %q", issued.ARICertID, want)
			}
		}
		akiPart, serialPart, ok := strings.Cut(issued.ARICertID, ".")
		if !ok {
			t.Fatalf("ARI ID %q has no dot", issued.ARICertID)
		}
		gotAKI, err := base64.RawURLEncoding.DecodeString(akiPart)
		if err != nil || !bytes.Equal(gotAKI, aki) {
			t.Fatalf("the AKI part %q decodes to %x (%v), want %x", akiPart, gotAKI, err, aki)
		}
		content, err := base64.RawURLEncoding.DecodeString(serialPart)
		if err != nil {
			t.Fatalf("the serial part %q: %v", serialPart, err)
		}
		der, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagInteger, Bytes: content})
		if err != nil {
			t.Fatal(err)
		}
		var back *big.Int
		if rest, err := asn1.Unmarshal(der, &back); err != nil || len(rest) > 0 || back.Cmp(serial) != 0 {
			t.Fatalf("the serial part %q is not the DER content of serial %s (%v)", serialPart, serial, err)
		}
	})
}
