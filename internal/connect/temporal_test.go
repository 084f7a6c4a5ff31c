package connect

import (
	"bytes"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/certflow/certflow/internal/codec"
)

const domain = "payroll.internal.example.com"

func TestAnEncryptingCodecCoversPayloadsAndFailureMessages(t *testing.T) {
	keys, err := codec.ParseKeys([]byte("k1:" + strings.Repeat("A", 43) + "=\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(keys, "test keys")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := Temporal{Address: "127.0.0.1:7233", Namespace: "default", Codec: c}.clientOptions()
	if err != nil {
		t.Fatal(err)
	}

	p, err := opts.DataConverter.ToPayload(map[string]string{"dnsName": domain})
	if err != nil {
		t.Fatal(err)
	}
	if !codec.IsEncrypted(p) || bytes.Contains(p.Data, []byte(domain)) {
		t.Errorf("the client's data converter wrote %v", p)
	}

	message := "presenting TXT for _acme-challenge." + domain + ": rfc2136: NOTAUTH"
	f := opts.FailureConverter.ErrorToFailure(temporal.NewApplicationError(message, "DNS"))
	stored, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(domain)) || !codec.IsEncrypted(f.EncodedAttributes) {
		t.Errorf("the failure as stored names the domain or is not encrypted: message %q, encoded attributes %v", f.Message, f.EncodedAttributes)
	}
	if back := opts.FailureConverter.FailureToError(f); !strings.Contains(back.Error(), message) {
		t.Errorf("the failure read back says %q, want %q", back, message)
	}
}

func TestACodecWithoutKeysChangesNothingStored(t *testing.T) {
	c, err := codec.New(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := Temporal{Address: "127.0.0.1:7233", Namespace: "default", Codec: c}.clientOptions()
	if err != nil {
		t.Fatal(err)
	}
	value := map[string]string{"dnsName": domain}
	got, err := opts.DataConverter.ToPayload(value)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := converter.GetDefaultDataConverter().ToPayload(value)
	if !proto.Equal(got, want) {
		t.Errorf("payload %v, want the default converter's %v", got, want)
	}
	if opts.FailureConverter != nil {
		t.Error("failures are encoded although nothing is encrypted")
	}
}
