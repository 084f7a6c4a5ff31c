package codec

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// Key is one AES-256 key and the ID payloads encrypted with it carry.
type Key struct {
	// ID is stored in clear in every payload the key encrypts.
	ID     string
	secret []byte
}

// validID keeps IDs short and printable: they travel in payload metadata and
// in error messages.
var validID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// NewKey checks an ID and a 32-byte secret; an empty ID is derived from the
// secret (see ParseKeys).
func NewKey(id string, secret []byte) (Key, error) {
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key is %d bytes, AES-256 needs %d: make one with `head -c 32 /dev/urandom | base64`", len(secret), KeySize)
	}
	if id == "" {
		sum := sha256.Sum256(secret)
		id = hex.EncodeToString(sum[:4])
	}
	if !validID.MatchString(id) {
		return Key{}, fmt.Errorf("key ID %q: use 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	return Key{ID: id, secret: bytes.Clone(secret)}, nil
}

// ParseKeys reads a key file: one key a line, the base64 (standard alphabet,
// padding optional) of 32 random bytes, with an optional "ID:" prefix. Blank
// lines and lines starting with '#' are skipped. The first key encrypts; every
// key decrypts the payloads that name its ID. A key without an ID gets the
// first 8 hex digits of its SHA-256. For example:
//
//	# newest first: certflow encrypts with this one
//	2025-06:q3p0mN6Yd6kq9l7Gm0XlqS8b8w1b0Qe3oQJx0m3b7fA=
//	2025-01:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=
//
// Errors name the line, never the key.
func ParseKeys(data []byte) ([]Key, error) {
	var keys []Key
	seen := map[string]int{}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[key.ID]; dup {
			return nil, fmt.Errorf("line %d: key ID %q is already used on line %d", n, key.ID, first)
		}
		seen[key.ID] = n
		keys = append(keys, key)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no key in it: write one line with the base64 of 32 random bytes (`head -c 32 /dev/urandom | base64`)")
	}
	return keys, nil
}

func parseKeyLine(line string) (Key, error) {
	id, encoded := "", line
	if before, after, found := strings.Cut(line, ":"); found {
		id, encoded = strings.TrimSpace(before), strings.TrimSpace(after)
		if id == "" {
			return Key{}, errors.New("empty key ID before ':'")
		}
	}
	secret, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil {
		return Key{}, errors.New("key is not base64 (standard alphabet)")
	}
	return NewKey(id, secret)
}
