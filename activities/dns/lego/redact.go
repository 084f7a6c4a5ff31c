package lego

import (
	"cmp"
	"net/url"
	"regexp"
	"slices"
	"strings"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// redactedValue stands for a value of the settings in an error.
const redactedValue = "[redacted]"

// query is the query string of a URL in a message, as Go's *url.Error
// quotes it: some of lego's clients send their keys there.
var query = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s"'?#]*)\?[^\s"'#]*`)

// shortValue is the length under which a value is taken out only where it
// stands alone, not within a word: "t" or "60" would otherwise garble the
// message around them, and are not keys.
const shortValue = 6

// redactor takes the values of a provider's settings out of its errors.
type redactor struct {
	values []string // longest first, so that a value within another goes with it
}

func newRedactor(settings map[string]string) redactor {
	var values []string
	for _, v := range settings {
		if v != "" {
			values = append(values, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	slices.SortFunc(values, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return redactor{values: slices.Compact(values)}
}

// redacted is an error's message without the settings' values and URLs'
// query strings; it keeps nothing else of the error, which Temporal would
// otherwise render whole.
type redacted string

func (e redacted) Error() string { return string(e) }

// redact is err's message with every value of the settings replaced and
// the query strings of URLs removed, Permanent when err is.
func (r redactor) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, v := range r.values {
		msg = replace(msg, v)
	}
	var out error = redacted(query.ReplaceAllString(msg, "$1"))
	if certflowdns.IsPermanent(err) {
		out = certflowdns.PermanentBecause(certflowdns.PermanentReason(err), out)
	}
	return out
}

// replace replaces v in msg: everywhere, or when v is short where neither
// side touches a letter or digit.
func replace(msg, v string) string {
	if len(v) >= shortValue {
		return strings.ReplaceAll(msg, v, redactedValue)
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, v)
		if i < 0 {
			return b.String() + msg
		}
		end := i + len(v)
		if alone := (i == 0 || !isWordByte(msg[i-1])) && (end == len(msg) || !isWordByte(msg[end])); alone {
			b.WriteString(msg[:i] + redactedValue)
		} else {
			b.WriteString(msg[:end])
		}
		msg = msg[end:]
	}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
