package codec

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, KeySize)
	other := bytes.Repeat([]byte{9}, KeySize)
	b64, b64other := base64.StdEncoding.EncodeToString(secret), base64.StdEncoding.EncodeToString(other)
	cases := []struct {
		name    string
		file    string
		wantIDs []string
		wantErr string
	}{
		{"a bare key gets the first 8 hex digits of its SHA-256 as ID", b64 + "\n", []string{"4bb06f8e"}, ""},
		{"IDs, comments, blank lines and missing padding are fine", "# current first\n\n2025-06:" + strings.TrimRight(b64, "=") + "\n  2025-01 : " + b64other + "  \n", []string{"2025-06", "2025-01"}, ""},
		{"an empty file is refused", "# nothing\n\n", nil, "no key in it"},
		{"a short key is refused with its line", "# c\nk1:" + base64.StdEncoding.EncodeToString(secret[:16]) + "\n", nil, "line 2: key is 16 bytes, AES-256 needs 32"},
		{"a key that is not base64 is refused", "k1:not*base64\n", nil, "line 1: key is not base64"},
		{"a duplicate ID is refused", "k1:" + b64 + "\nk1:" + b64other + "\n", nil, `line 2: key ID "k1" is already used on line 1`},
		{"an ID with a space is refused", "my key:" + b64 + "\n", nil, `key ID "my key"`},
		{"an empty ID is refused", ":" + b64 + "\n", nil, "empty key ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), b64[:20]) {
					t.Errorf("error %q shows the key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("IDs %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}
