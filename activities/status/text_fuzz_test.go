package status

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// These fuzz targets run no stack: they check the text certflow writes into
// conditions and Events, which carries what CAs, DNS servers and users said.

// apiReason is the API server's rule for a condition reason
// (metav1.Condition), which validReason must never break.
var apiReason = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// FuzzStatusText checks the two guards of text written to the API server,
// which refuses a status or an Event whole when one field breaks its rules:
// validReason always returns a reason the API accepts (at most 1024
// characters, its pattern), the reason itself when it is one; truncate cuts
// a message to at most n bytes, keeps all of one that fits, ends a cut one
// with "...", drops at most three bytes more to end on a rune boundary, and
// keeps valid UTF-8 valid.
func FuzzStatusText(f *testing.F) {
	f.Add("Issuing", "the certificate is being issued", 64)
	f.Add("IssuerNotFound", "ClusterIssuer/letsencrypt not found", 8)
	f.Add("rateLimited:newOrders", strings.Repeat("é", 20), 10)
	f.Add("urn:ietf:params:acme:error:rateLimited", "too many new orders", 19)
	f.Add("", "", 3)
	f.Add("Ready_", "\xff\xfe invalid UTF-8 first, then a long message", 12)
	f.Add("9Lives", "日本語のメッセージ", 7)
	f.Add(strings.Repeat("A", 200), strings.Repeat("x", 40), 32)
	f.Fuzz(func(t *testing.T, reason, message string, n int) {
		got := validReason(reason)
		if len(got) > 1024 || !apiReason.MatchString(got) {
			t.Fatalf("validReason(%q) = %q, which the API refuses", reason, got)
		}
		if len(reason) <= maxReason && apiReason.MatchString(reason) && got != reason {
			t.Fatalf("validReason(%q) = %q, yet the API accepts the reason", reason, got)
		}

		if n < len("...") || n > 1<<20 {
			return // the callers' limits are 1024 and 32768
		}
		cut := truncate(message, n)
		switch {
		case len(cut) > n:
			t.Fatalf("truncate(%q, %d) = %q, %d bytes", message, n, cut, len(cut))
		case len(message) <= n && cut != message:
			t.Fatalf("truncate(%q, %d) = %q: the message fits", message, n, cut)
		case len(message) <= n:
			return
		case !strings.HasSuffix(cut, "..."):
			t.Fatalf("truncate(%q, %d) = %q, without ...", message, n, cut)
		}
		kept := strings.TrimSuffix(cut, "...")
		if !strings.HasPrefix(message, kept) || len(kept) < n-len("...")-(utf8.UTFMax-1) {
			t.Fatalf("truncate(%q, %d) kept %q of the message", message, n, kept)
		}
		if utf8.ValidString(message) && !utf8.ValidString(cut) {
			t.Fatalf("truncate(%q, %d) = %q, not valid UTF-8", message, n, cut)
		}
	})
}
