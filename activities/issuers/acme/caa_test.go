package acme

import (
	"testing"

	"github.com/miekg/dns"
)

func TestForbids(t *testing.T) {
	caa := func(flag uint8, tag, value string) *dns.CAA {
		return &dns.CAA{Hdr: dns.RR_Header{Name: "example.com."}, Flag: flag, Tag: tag, Value: value}
	}
	pebble := []string{"pebble.letsencrypt.org"}
	for _, c := range []struct {
		name     string
		set      []*dns.CAA
		wildcard bool
		forbids  bool
	}{
		{"no records", nil, false, false},
		{"only iodef", []*dns.CAA{caa(0, "iodef", "mailto:ops@example.com")}, false, false},
		{"the CA", []*dns.CAA{caa(0, "issue", "pebble.letsencrypt.org")}, false, false},
		{"the CA, other case, with parameters", []*dns.CAA{caa(0, "issue", " Pebble.LetsEncrypt.org ; validationmethods=dns-01")}, false, false},
		{"another CA", []*dns.CAA{caa(0, "issue", "letsencrypt.org")}, false, true},
		{"one of two", []*dns.CAA{caa(0, "issue", "letsencrypt.org"), caa(0, "issue", "pebble.letsencrypt.org")}, false, false},
		{"no CA at all", []*dns.CAA{caa(0, "issue", ";")}, false, true},
		{"issuewild does not bind a plain name", []*dns.CAA{caa(0, "issuewild", ";")}, false, false},
		{"issuewild binds a wildcard", []*dns.CAA{caa(0, "issue", "pebble.letsencrypt.org"), caa(0, "issuewild", ";")}, true, true},
		{"issue binds a wildcard without issuewild", []*dns.CAA{caa(0, "issue", "letsencrypt.org")}, true, true},
		{"issuewild allows a wildcard issue forbids", []*dns.CAA{caa(0, "issue", ";"), caa(0, "issuewild", "pebble.letsencrypt.org")}, true, false},
		{"an unknown critical property", []*dns.CAA{caa(128, "tbs", "x"), caa(0, "issue", "pebble.letsencrypt.org")}, false, true},
		{"an unknown property, not critical", []*dns.CAA{caa(0, "tbs", "x"), caa(0, "issue", "pebble.letsencrypt.org")}, false, false},
	} {
		if got := forbids(c.set, c.wildcard, pebble) != nil; got != c.forbids {
			t.Errorf("%s: forbids = %v, want %v", c.name, got, c.forbids)
		}
	}
}
