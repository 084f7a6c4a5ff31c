package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestCLICommands runs the user commands (status, list, renew, inspect
// secret) as a user would, against the real stack: one Certificate issued by
// Pebble and one whose ClusterIssuer does not exist. The subtests run in
// order; renew runs last, since it issues again.
func TestCLICommands(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "cli"
	w.namespace(ns)
	w.create(certificate(ns, "web", "web-tls", "web.certflow.test"))
	orphan := certificate(ns, "orphan", "orphan-tls", "orphan.certflow.test")
	orphan.Spec.IssuerRef.Name = "missing"
	w.create(orphan)
	w.waitReady(ns, "web")
	w.waitFor(ns, "orphan", time.Minute, "Ready=False IssuerNotFound", func(c *certflowv1.Certificate) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
		return ready != nil && ready.Reason == certflowv1.ReasonIssuerNotFound
	})
	cli := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		return w.cli(t, w.stack.Temporal.Address, args...)
	}

	t.Run("status of a Ready Certificate tells its whole story", func(t *testing.T) {
		out, err := cli(t, "status", "-n", ns, "web", "--temporal-ui-url", "http://ui.example/")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		want := `Certificate:   cli/web
Secret:        web-tls
Ready:         True Issued: certificate is up to date and stored in Secret web-tls (since REL)
Issuing:       False Issued: next renewal at TIME (since REL)
Not before:    TIME (REL)
Not after:     TIME (REL)
Renewal:       TIME (REL)
Revision:      1
Issued by:     ClusterIssuer/pebble
Issuer:        ClusterIssuer/pebble: Ready (REASON: MESSAGE)

Stored certificate (Secret web-tls)
  Names:       DNS:web.certflow.test
  Subject:     -
  Serial:      SERIAL
  Issuer CN:   Pebble Intermediate CA HEX
  Not after:   TIME (REL)
  Matches:     yes: the key is the leaf's and the names are those asked

Workflow sandbox/certificate/cli/web
  Web UI:      http://ui.example/namespaces/default/workflows/sandbox%2Fcertificate%2Fcli%2Fweb
  Execution:   Running
  Step:        -
  Revision:    1
  Last failure: -
  Next attempt: -
  Authorizations: none in progress
`
		if got := maskStatus(out); got != want {
			t.Errorf("status output, masked:\n%s\nwant:\n%s\nraw:\n%s", got, want, out)
		}
	})

	t.Run("status without Temporal still prints what Kubernetes says", func(t *testing.T) {
		out, err := w.cli(t, freeAddr(t), "status", "-n", ns, "web", "--connect-timeout", "3s")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		for _, want := range []string{"Ready:         True Issued", "Revision:      1", "DNS:web.certflow.test",
			"State:       unavailable: connecting to Temporal at"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("status of a Certificate whose issuer is missing says so", func(t *testing.T) {
		out, err := cli(t, "status", "-n", ns, "orphan")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		for _, want := range []string{"Ready:         False IssuerNotFound", `Issuer:        ClusterIssuer/missing: not found`,
			"Secret orphan-tls does not exist yet", "State:       unavailable: workflow sandbox/certificate/cli/orphan does not exist"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("status of a Certificate that does not exist says what to do", func(t *testing.T) {
		out, err := cli(t, "status", "-n", ns, "nope")
		if err == nil || !strings.Contains(out, "Certificate cli/nope not found: is the namespace right? certflow list -A shows them all") {
			t.Errorf("want a failure that says what to do, got %v:\n%s", err, out)
		}
	})

	t.Run("list -A shows the Ready Certificate and the stuck one", func(t *testing.T) {
		out, err := cli(t, "list", "-A")
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`(?m)^cli\s+web\s+True\s+Issued\s+-\s+in \d+[dhms]\s+in \d+[dhms]\s+-\s*$`).MatchString(out) {
			t.Errorf("list -A lacks web Ready:\n%s", out)
		}
		if !regexp.MustCompile(`(?m)^cli\s+orphan\s+False\s+IssuerNotFound\s`).MatchString(out) {
			t.Errorf("list -A lacks orphan:\n%s", out)
		}
		if !strings.HasPrefix(out, "NAMESPACE") {
			t.Errorf("list -A has no header:\n%s", out)
		}
	})

	t.Run("list --stuck keeps only the Certificate that is not Ready", func(t *testing.T) {
		out, err := cli(t, "list", "-A", "--stuck")
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		if !strings.Contains(out, "orphan") || strings.Contains(out, "web") {
			t.Errorf("list --stuck, want orphan and not web:\n%s", out)
		}
	})

	t.Run("list --expiring keeps those that expire soon", func(t *testing.T) {
		// The sandbox's Pebble issues certificates for days.
		out, err := cli(t, "list", "-n", ns, "--expiring", "1h")
		if err != nil || !strings.Contains(out, "No Certificates in namespace cli match.") {
			t.Errorf("list --expiring 1h, want none: %v\n%s", err, out)
		}
		out, err = cli(t, "list", "-n", ns, "--expiring", "3650d")
		if err != nil || !strings.Contains(out, "web") || strings.Contains(out, "orphan") {
			t.Errorf("list --expiring 3650d, want web alone: %v\n%s", err, out)
		}
	})

	t.Run("inspect secret shows the SANs and that the key matches, never the key", func(t *testing.T) {
		out, err := cli(t, "inspect", "secret", "-n", ns, "web-tls")
		if err != nil {
			t.Fatalf("inspect: %v\n%s", err, out)
		}
		for _, want := range []string{"SANs:       DNS:web.certflow.test", "key matches", "Certificate 2 (chain)",
			"annotation certflow.dev/alt-names=web.certflow.test", "Key:        RSA 2048"} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("inspect printed the private key:\n%s", out)
		}
	})

	t.Run("-o json parses for status, list and inspect", func(t *testing.T) {
		var st struct {
			Conditions []struct{ Type, Status string }
			Revision   int
			Secret     struct{ Leaf struct{ DNSNames []string } }
			Workflow   struct {
				ID        string
				Available bool
			}
		}
		decodeJSON(t, &st, cli, "status", "-n", ns, "web", "-o", "json")
		if st.Revision != 1 || !st.Workflow.Available || st.Workflow.ID != "sandbox/certificate/cli/web" ||
			len(st.Secret.Leaf.DNSNames) != 1 || len(st.Conditions) == 0 {
			t.Errorf("status -o json: %+v", st)
		}
		var list struct {
			Items []struct{ Namespace, Name, Ready string }
		}
		decodeJSON(t, &list, cli, "list", "-A", "-o", "json")
		if len(list.Items) != 2 || list.Items[1].Name != "web" || list.Items[1].Ready != "True" {
			t.Errorf("list -o json: %+v", list)
		}
		var secret struct {
			KeyMatches   bool
			Certificates []struct{ DNSNames []string }
		}
		decodeJSON(t, &secret, cli, "inspect", "secret", "-n", ns, "web-tls", "-o", "json")
		if !secret.KeyMatches || len(secret.Certificates) < 2 || strings.Join(secret.Certificates[0].DNSNames, ",") != "web.certflow.test" {
			t.Errorf("inspect -o json: %+v", secret)
		}
	})

	t.Run("renew issues again; a Certificate without a workflow is reported and fails the command", func(t *testing.T) {
		out, err := cli(t, "renew", "-n", ns, "web", "orphan")
		if err == nil {
			t.Errorf("renew with orphan succeeded, want a non-zero exit:\n%s", out)
		}
		for _, want := range []string{"cli/web: renewal requested (workflow sandbox/certificate/cli/web)",
			"cli/orphan: not renewed: its workflow sandbox/certificate/cli/orphan is not running", "1 of 2 Certificates not renewed"} {
			if !strings.Contains(out, want) {
				t.Errorf("renew lacks %q:\n%s", want, out)
			}
		}
		w.in(t).waitFor(ns, "web", 2*time.Minute, "revision 2", func(c *certflowv1.Certificate) bool {
			return c.Status.Revision != nil && *c.Status.Revision == 2
		})
	})
}

// cli runs the certflow binary against the world's Kubernetes and the
// Temporal at temporalAddress, and returns stdout and stderr together.
func (w *world) cli(t *testing.T, temporalAddress string, args ...string) (string, error) {
	t.Helper()
	bin, err := certflowBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	args = append(args, "--kubeconfig", w.stack.Kubernetes.Kubeconfig, "--temporal-address", temporalAddress, "--cluster-name", sandbox.ClusterName)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func decodeJSON(t *testing.T, v any, cli func(*testing.T, ...string) (string, error), args ...string) {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: output is not JSON: %v\n%s", args, err, out)
	}
}

// statusMasks replace what changes from run to run: times, serials, the
// CA's names, the issuer's account message.
var statusMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`), "TIME"},
	{regexp.MustCompile(`(in \d+[dhms]|\d+[dhms] ago)`), "REL"},
	{regexp.MustCompile(`(?m)^(  Serial:[ ]+).*$`), "${1}SERIAL"},
	{regexp.MustCompile(`(Pebble Intermediate CA )[0-9a-f]+`), "${1}HEX"},
	{regexp.MustCompile(`(?m)^(Issuer:\s+\S+: Ready \().*\)$`), "${1}REASON: MESSAGE)"},
}

func maskStatus(s string) string {
	for _, m := range statusMasks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}
