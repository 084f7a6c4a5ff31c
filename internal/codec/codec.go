package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// What an encrypted payload carries in its metadata. The names are those of
// Temporal's encryption samples, so their tools recognise the payloads.
const (
	// EncodingEncrypted is the payload's "encoding".
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
)

// Codec is a converter.PayloadCodec. Encode replaces each payload with
// {encoding: binary/encrypted, encryption-key-id: ID} and, as data, a random
// 12-byte nonce followed by the AES-256-GCM sealing of the whole original
// payload (metadata and data), the key ID as additional data. Decode opens
// payloads with the key they name and passes every other payload through, so
// histories written before encryption was turned on still read.
//
// Every error is a converter.WorkflowTaskFailureError: in a workflow task it
// fails the task, which Temporal retries, rather than the workflow; a worker
// that holds the key can pick the task up.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
	source  string
}

// New returns a codec that encrypts with keys[0] and decrypts with any of keys;
// source says where the keys came from ("--payload-key-file /etc/certflow/keys"),
// for the error about a payload whose key is not among them. With no keys the
// codec encrypts nothing and refuses encrypted payloads.
func New(keys []Key, source string) (*Codec, error) {
	c := &Codec{aeads: make(map[string]cipher.AEAD, len(keys)), source: source}
	for i, key := range keys {
		if len(key.secret) != KeySize {
			return nil, fmt.Errorf("key %q: %d bytes, AES-256 needs %d", key.ID, len(key.secret), KeySize)
		}
		if _, dup := c.aeads[key.ID]; dup {
			return nil, fmt.Errorf("key ID %q is used twice", key.ID)
		}
		block, err := aes.NewCipher(key.secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key.ID, err)
		}
		c.aeads[key.ID] = aead
		if i == 0 {
			c.current = key.ID
		}
	}
	return c, nil
}

// Encrypts says whether Encode encrypts: the codec holds a key.
func (c *Codec) Encrypts() bool { return c.current != "" }

// CurrentKeyID is the ID of the key Encode uses; empty without keys.
func (c *Codec) CurrentKeyID() string { return c.current }

// Encode encrypts each payload with the current key; without keys it returns
// the payloads as they are.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if !c.Encrypts() {
		return payloads, nil
	}
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(fmt.Errorf("encrypting payload: %w", err))
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(fmt.Errorf("encrypting payload: making a nonce: %w", err))
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads marked binary/encrypted and passes the others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !IsEncrypted(p) {
			out[i] = p
			continue
		}
		decoded, err := c.decrypt(p)
		if err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(err)
		}
		out[i] = decoded
	}
	return out, nil
}

// IsEncrypted says whether the payload's metadata marks it as encrypted by this codec.
func IsEncrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	aead, ok := c.aeads[id]
	switch {
	case ok:
	case !c.Encrypts():
		return nil, fmt.Errorf("payload encrypted with key %s, but certflow was started without payload keys: set --payload-key-file or --payload-key-secret", printable(id))
	default:
		return nil, fmt.Errorf("payload encrypted with key %s, which is not in %s", printable(id), c.source)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("decrypting payload with key %s: %w", id, errTampered)
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("decrypting payload with key %s: %w", id, errTampered)
	}
	var decoded commonpb.Payload
	if err := proto.Unmarshal(plain, &decoded); err != nil {
		return nil, fmt.Errorf("decrypting payload with key %s: the plaintext is not a payload: %w", id, err)
	}
	return &decoded, nil
}

// printable shows a key ID read from a payload as it is when it is one certflow
// could have written, quoted otherwise. Plain IDs keep messages readable in
// logs that quote them again.
func printable(id string) string {
	if validID.MatchString(id) {
		return id
	}
	return fmt.Sprintf("%q", id)
}

var errTampered = errors.New("the payload was altered, or encrypted with another key of the same ID")
