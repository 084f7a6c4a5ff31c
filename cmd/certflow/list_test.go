package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestParseWithin(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want time.Duration
		bad  bool
	}{
		{"days are whole days", "7d", 7 * 24 * time.Hour, false},
		{"zero days is now", "0d", 0, false},
		{"a Go duration is taken as it is", "36h", 36 * time.Hour, false},
		{"a compound Go duration is taken as it is", "1h30m", 90 * time.Minute, false},
		{"fractional days are refused", "1.5d", 0, true},
		{"negative days are refused", "-1d", 0, true},
		{"a negative duration is refused", "-5h", 0, true},
		{"a bare number is refused", "7", 0, true},
		{"weeks are not a unit", "2w", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWithin(tc.in)
			if tc.bad {
				if err == nil || !strings.Contains(err.Error(), "7d") {
					t.Errorf("parseWithin(%q) = %v, %v; want an error that shows the form", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseWithin(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// now is the clock of the table tests.
var now = time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(d))
	return &t
}

func cert(ns, name string, st certflowv1.CertificateStatus) certflowv1.Certificate {
	return certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: st}
}

func cond(typ, status, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: reason + " message"}
}

// fixture: a healthy one, one Ready whose renewal fails, one never issued,
// one about to expire.
func fixture() []certflowv1.Certificate {
	return []certflowv1.Certificate{
		cert("b", "healthy", certflowv1.CertificateStatus{
			Conditions: []metav1.Condition{cond("Ready", "True", "Issued"), cond("Issuing", "False", "Issued")},
			NotAfter:   at(60 * 24 * time.Hour), RenewalTime: at(30 * 24 * time.Hour),
		}),
		cert("a", "renewal-failing", certflowv1.CertificateStatus{
			Conditions: []metav1.Condition{cond("Ready", "True", "Issued"), cond("Issuing", "False", "RateLimited")},
			NotAfter:   at(5 * 24 * time.Hour), LastFailureTime: at(-3 * time.Hour), NextAttemptTime: at(time.Hour),
		}),
		cert("a", "never-issued", certflowv1.CertificateStatus{
			Conditions: []metav1.Condition{cond("Ready", "False", "IssuerNotFound")},
		}),
		cert("b", "issuing", certflowv1.CertificateStatus{
			Conditions: []metav1.Condition{cond("Ready", "True", "Issued"), cond("Issuing", "True", "Renewing")},
			Step:       certflowv1.StepPropagating, NotAfter: at(36 * time.Hour),
		}),
	}
}

func names(rows []listRow) string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Namespace+"/"+r.Name)
	}
	return strings.Join(out, " ")
}

func TestFilterRows(t *testing.T) {
	rows := listRows(fixture(), now)
	cases := []struct {
		name     string
		stuck    bool
		within   time.Duration
		expiring bool
		want     string
	}{
		{"no filter keeps all, sorted by namespace and name", false, 0, false, "a/never-issued a/renewal-failing b/healthy b/issuing"},
		{"stuck keeps the not Ready and the Ready failing to renew", true, 0, false, "a/never-issued a/renewal-failing"},
		{"expiring keeps those within, not those never issued", false, 7 * 24 * time.Hour, true, "a/renewal-failing b/issuing"},
		{"expiring within 2d keeps only the nearest", false, 48 * time.Hour, true, "b/issuing"},
		{"stuck and expiring together", true, 7 * 24 * time.Hour, true, "a/renewal-failing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(filterRows(rows, tc.stuck, tc.within, tc.expiring, now)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTableShowsTheFailureOfAReadyCertificate(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, listRows(fixture(), now), now); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE  NAME             READY  REASON          STEP         NOT AFTER  RENEWAL  LAST FAILURE
a          never-issued     False  IssuerNotFound  -            -          -        -
a          renewal-failing  True   RateLimited     -            in 5d      -        3h ago
b          healthy          True   Issued          -            in 60d     in 30d   -
b          issuing          True   Issued          propagating  in 36h     -        -
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestAgo(t *testing.T) {
	cases := []struct {
		name string
		t    time.Time
		want string
	}{
		{"zero is a dash", time.Time{}, "-"},
		{"seconds up to two minutes", now.Add(-90 * time.Second), "90s ago"},
		{"minutes up to two hours", now.Add(-119 * time.Minute), "119m ago"},
		{"hours up to two days", now.Add(47 * time.Hour), "in 47h"},
		{"days beyond", now.Add(90 * 24 * time.Hour), "in 90d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ago(tc.t, now); got != tc.want {
				t.Errorf("ago = %q, want %q", got, tc.want)
			}
		})
	}
}
