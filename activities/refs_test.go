package activities

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// objectName is a valid object name of n characters, made of parts like
// "certificate-" (or "certificate." with dots).
func objectName(n int, sep string) string {
	return strings.Repeat("certificate"+sep, n/12+1)[:n-1] + "x"
}

func TestCertificateLabelValue(t *testing.T) {
	cases := []struct {
		name string
		in   string
		// same says the value is the name itself.
		same bool
	}{
		{"a short name is its own label value", "web", true},
		{"a name of 63 characters is its own label value, so existing Secrets keep matching", objectName(63, "-"), true},
		{"a name of 64 characters is hashed", objectName(64, "-"), false},
		{"a name of 253 characters is hashed", objectName(253, "-"), false},
		{"a long name with dots is hashed", objectName(200, "."), false},
		{"a name that is no label value for its characters is hashed", "-odd_name-", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CertificateLabelValue(c.in)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Fatalf("CertificateLabelValue(%q) = %q, not a label value: %v", c.in, got, errs)
			}
			if (got == c.in) != c.same {
				t.Fatalf("CertificateLabelValue(%q) = %q; want the name itself: %v", c.in, got, c.same)
			}
			if !c.same && !strings.HasPrefix(got, c.in[:10]) && c.in[0] != '-' {
				t.Errorf("CertificateLabelValue(%q) = %q does not begin with the name", c.in, got)
			}
			if again := CertificateLabelValue(c.in); again != got {
				t.Errorf("CertificateLabelValue is not stable: %q, then %q", got, again)
			}
		})
	}

	t.Run("names that share their first 63 characters get different values", func(t *testing.T) {
		a, b := objectName(100, "-")+"a", objectName(100, "-")+"b"
		if CertificateLabelValue(a) == CertificateLabelValue(b) {
			t.Fatalf("%q and %q both label as %q", a, b, CertificateLabelValue(a))
		}
	})
}

func TestSecretOwner(t *testing.T) {
	long := objectName(100, "-")
	hashed := CertificateLabelValue(long)
	cases := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		owner       string // "" when unlabelled
		ownedBy     []string
		notOwnedBy  []string
	}{
		{"a short name is read from the label alone, as certflow labelled Secrets before it wrote the annotation",
			map[string]string{LabelCertificateName: "web"}, nil, "web", []string{"web"}, []string{"api", ""}},
		{"a hashed label is read from the annotation beside it",
			map[string]string{LabelCertificateName: hashed}, map[string]string{AnnotationCertificateName: long},
			long, []string{long}, []string{hashed, long + "x"}},
		{"a Certificate named like another's hashed label does not own that one's Secret",
			map[string]string{LabelCertificateName: hashed}, map[string]string{AnnotationCertificateName: long},
			long, []string{long}, []string{hashed}},
		{"a hashed label without the annotation does not name the long Certificate",
			map[string]string{LabelCertificateName: hashed}, nil, hashed, []string{hashed}, []string{long}},
		{"a label and an annotation that disagree mark the Secret as nobody's",
			map[string]string{LabelCertificateName: "web"}, map[string]string{AnnotationCertificateName: "api"},
			"web", nil, []string{"web", "api"}},
		{"an unlabelled Secret has no owner",
			nil, map[string]string{AnnotationCertificateName: "web"}, "", nil, []string{"web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			owner, ok := SecretOwner(c.labels, c.annotations)
			if owner != c.owner || ok != (c.owner != "") {
				t.Errorf("SecretOwner = %q, %v; want %q", owner, ok, c.owner)
			}
			for _, n := range c.ownedBy {
				if !SecretOwnedBy(c.labels, c.annotations, n) {
					t.Errorf("not owned by %q", n)
				}
			}
			for _, n := range c.notOwnedBy {
				if SecretOwnedBy(c.labels, c.annotations, n) {
					t.Errorf("owned by %q", n)
				}
			}
		})
	}
}

func TestPendingKeySecretName(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		same bool // the name with the suffix, as before names were cut
	}{
		{"a short name takes the suffix", "web", true},
		{"a name of 232 characters takes the suffix to make 253", objectName(232, "-"), true},
		{"a name of 233 characters is cut and hashed", objectName(233, "-"), false},
		{"a name of 253 characters is cut and hashed", objectName(253, "-"), false},
		{"a name cut next to a dot stays a valid name", objectName(253, "."), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := PendingKeySecretName(c.in)
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Fatalf("PendingKeySecretName(%q) = %q, not an object name: %v", c.in, got, errs)
			}
			if (got == c.in+"-certflow-pending-key") != c.same || !strings.HasSuffix(got, "-certflow-pending-key") {
				t.Fatalf("PendingKeySecretName(%q) = %q", c.in, got)
			}
		})
	}
	a, b := objectName(253, "-"), objectName(252, "-")+"y"
	if PendingKeySecretName(a) == PendingKeySecretName(b) {
		t.Fatalf("names that differ in their last character share pending key Secret %q", PendingKeySecretName(a))
	}
}
