package codec

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// spec is a payload such as the controller sends: JSON naming a domain.
type spec struct {
	DNSNames []string `json:"dnsNames"`
}

const secretName = "payroll.internal.example.com"

func jsonPayload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(spec{DNSNames: []string{secretName}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomKey(t *testing.T, id string) Key {
	t.Helper()
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	key, err := NewKey(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newCodec(t *testing.T, source string, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys, source)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func encodeOne(t *testing.T, c *Codec, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestRoundTripHidesThePayloadAndRestoresIt(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	plain := jsonPayload(t)
	enc := encodeOne(t, c, plain)

	if got := string(enc.Metadata[converter.MetadataEncoding]); got != EncodingEncrypted {
		t.Errorf("encoding %q, want %q", got, EncodingEncrypted)
	}
	if got := string(enc.Metadata[MetadataKeyID]); got != "k1" {
		t.Errorf("key ID %q, want k1", got)
	}
	if bytes.Contains(enc.Data, []byte(secretName)) || bytes.Contains(enc.Data, []byte("json/plain")) {
		t.Error("encrypted data holds the plaintext")
	}
	again := encodeOne(t, c, plain)
	if bytes.Equal(enc.Data, again.Data) {
		t.Error("two encryptions of one payload are equal: the nonce is not random")
	}

	dec, err := c.Decode([]*commonpb.Payload{enc, again})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dec {
		if !proto.Equal(d, plain) {
			t.Errorf("decoded %v, want %v", d, plain)
		}
	}
	var got spec
	if err := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c).FromPayload(enc, &got); err != nil || got.DNSNames[0] != secretName {
		t.Errorf("through the data converter: %v, %v", got, err)
	}
}

func TestDecodePassesUnencryptedPayloadsThrough(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	plain := jsonPayload(t)
	null, _ := converter.GetDefaultDataConverter().ToPayload(nil)
	enc := encodeOne(t, c, plain)

	dec, err := c.Decode([]*commonpb.Payload{plain, null, enc})
	if err != nil {
		t.Fatal(err)
	}
	if dec[0] != plain || dec[1] != null {
		t.Error("unencrypted payloads were changed")
	}
	if !proto.Equal(dec[2], plain) {
		t.Error("the encrypted payload beside them was not decrypted")
	}
}

func TestRotationEncryptsWithTheFirstKeyAndDecryptsWithAny(t *testing.T) {
	old, current := randomKey(t, "2025-01"), randomKey(t, "2025-06")
	before := newCodec(t, "old keys", old)
	after := newCodec(t, "rotated keys", current, old)
	plain := jsonPayload(t)

	byOld := encodeOne(t, before, plain)
	byNew := encodeOne(t, after, plain)
	if got := string(byNew.Metadata[MetadataKeyID]); got != "2025-06" {
		t.Errorf("the rotated codec encrypts with %q, want the first key 2025-06", got)
	}
	dec, err := after.Decode([]*commonpb.Payload{byOld, byNew})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) || !proto.Equal(dec[1], plain) {
		t.Error("the rotated codec does not read payloads of both keys")
	}

	_, err = before.Decode([]*commonpb.Payload{byNew})
	wantTaskFailure(t, err, "payload encrypted with key 2025-06, which is not in old keys")
}

func TestTamperedPayloadsAreRefused(t *testing.T) {
	key := randomKey(t, "k1")
	c := newCodec(t, "test keys", key)
	cases := []struct {
		name   string
		tamper func(p *commonpb.Payload)
		want   string
	}{
		{"a flipped ciphertext bit", func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 }, "altered"},
		{"a flipped nonce bit", func(p *commonpb.Payload) { p.Data[0] ^= 1 }, "altered"},
		{"a truncated payload", func(p *commonpb.Payload) { p.Data = p.Data[:10] }, "altered"},
		{"another key's ID", func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k2") }, "key k2, which is not in test keys"},
		{"an ID certflow would not write is quoted", func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k1\nforged log line") }, `key "k1\nforged log line", which is not in`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodeOne(t, c, jsonPayload(t))
			tc.tamper(enc)
			_, err := c.Decode([]*commonpb.Payload{enc})
			wantTaskFailure(t, err, tc.want)
		})
	}

	t.Run("a key ID swapped between two keys of the ring", func(t *testing.T) {
		other := randomKey(t, "k2")
		ring := newCodec(t, "test keys", key, other)
		enc := encodeOne(t, ring, jsonPayload(t))
		enc.Metadata[MetadataKeyID] = []byte("k2")
		_, err := ring.Decode([]*commonpb.Payload{enc})
		wantTaskFailure(t, err, "decrypting payload with key k2: the payload was altered")
	})
}

func TestWithoutKeysNothingIsEncryptedAndEncryptedPayloadsAreRefused(t *testing.T) {
	none := newCodec(t, "")
	plain := jsonPayload(t)
	if got := encodeOne(t, none, plain); got != plain {
		t.Error("a codec without keys changed a payload")
	}
	enc := encodeOne(t, newCodec(t, "test keys", randomKey(t, "k1")), plain)
	_, err := none.Decode([]*commonpb.Payload{enc})
	wantTaskFailure(t, err, "payload encrypted with key k1, but certflow was started without payload keys: set --payload-key-file or --payload-key-secret")
}

func TestNewRefusesBadKeys(t *testing.T) {
	if _, err := New([]Key{{ID: "short", secret: make([]byte, 16)}}, "test"); err == nil || !strings.Contains(err.Error(), "16 bytes, AES-256 needs 32") {
		t.Errorf("a 16-byte key: %v", err)
	}
	k := randomKey(t, "same")
	if _, err := New([]Key{k, k}, "test"); err == nil || !strings.Contains(err.Error(), `"same" is used twice`) {
		t.Errorf("a duplicate ID: %v", err)
	}
}

// wantTaskFailure checks err fails the workflow task (not the workflow) and says want.
func wantTaskFailure(t *testing.T, err error, want string) {
	t.Helper()
	var taskFailure *converter.WorkflowTaskFailureError
	if !errors.As(err, &taskFailure) {
		t.Fatalf("error %v is not a WorkflowTaskFailureError", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
