package tests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestInstall installs certflow from its Helm chart as a user would (`helm
// template` with values for this stack, `kubectl apply` of the result), then
// runs the chart's Deployments on this machine: each container's args and
// environment as the chart renders them, with the API server reached as
// the Deployment's ServiceAccount (a TokenRequest token) and nothing else.
// A Certificate goes Ready over DNS-01 and no part is refused anything; then
// one rule taken from the chart's worker role makes the next issuance fail
// with a Forbidden that names the resource: the chart grants what the code
// uses, and the test would see a rule missing.
func TestInstall(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.killCertflow()
	const installNS, ns, cluster = sandbox.ClusterResourceNamespace, "shop", "installed"
	w.namespace(ns)
	_, dnsPort, _ := net.SplitHostPort(w.stack.BIND.Addr)
	manifest := w.helmTemplate("certflow", installNS,
		"mode=split",
		"temporal.address="+w.stack.Temporal.Address,
		"clusterName="+cluster,
		// What differs from a cluster: BIND answers for the zone on a loopback
		// port, ports are shared by parallel tests.
		"worker.extraArgs={--dns01-recursive-nameservers="+w.stack.BIND.Addr+",--dns01-nameserver-port="+dnsPort+"}",
		"controller.extraArgs={--health-addr=0}",
		"solver.extraArgs={--http01-solver-listen=127.0.0.1:0}",
		"metrics.port=0",
	)
	w.kubectlApplyFile(manifest)
	deployments := renderedDeployments(t, manifest)

	parts := map[string]*rbacAs{}
	for _, part := range []string{"controller", "worker", "solver"} {
		d := deployments["certflow-"+part]
		if d == nil {
			t.Fatalf("the chart rendered no Deployment certflow-%s in mode split", part)
		}
		sa := d.Spec.Template.Spec.ServiceAccountName
		kubeconfig := w.serviceAccountKubeconfig(installNS, sa)
		parts[part] = &rbacAs{deployment: d, kubeconfig: kubeconfig}
	}
	// The authorizer learns of the chart's bindings from a watch.
	waitAllowed(t, restConfig(t, parts["controller"].kubeconfig),
		authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "certflow-controller", Namespace: installNS})
	waitAllowed(t, restConfig(t, parts["worker"].kubeconfig),
		authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: ns})
	waitAllowed(t, restConfig(t, parts["solver"].kubeconfig),
		authorizationv1.ResourceAttributes{Verb: "watch", Resource: "configmaps", Namespace: installNS})
	for _, part := range []string{"controller", "worker", "solver"} {
		w.startDeployment(part, parts[part].deployment, installNS, parts[part].kubeconfig)
	}

	dnsName := "install-7f3a." + w.stack.BIND.Zone
	t.Run("a Certificate goes Ready with the chart's roles", func(t *testing.T) {
		w := w.in(t)
		w.create(certificate(ns, "web", "web-tls", dnsName))
		w.waitReady(ns, "web")
		w.verify(w.tlsSecret(ns, "web-tls"), dnsName)
		// Deleting it is the worker's last write for this issuance.
		w.gone(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: activities.PendingKeySecretName("web")}}, time.Minute)
		// The chart's cluster name reached the controller.
		id := activities.CertificateWorkflowID(cluster, activities.CertificateRef{Namespace: ns, Name: "web"})
		if _, err := w.temporal.DescribeWorkflowExecution(w.ctx, id, ""); err != nil {
			t.Errorf("workflow %s (clusterName from the chart's values): %v", id, err)
		}
	})

	t.Run("every part runs and none was refused anything by the API server", func(t *testing.T) {
		for _, part := range []string{"controller", "worker", "solver"} {
			select {
			case <-w.certflow[part].exited:
				t.Errorf("certflow %s exited (%v):\n%s", part, w.certflow[part].err, lastLines(w.certflow[part].logPath, 20))
			default:
			}
			if refused := logLines(t, w.certflow[part].logPath, "forbidden"); len(refused) > 0 {
				t.Errorf("certflow %s was refused %d times, first:\n%s", part, len(refused), strings.Join(refused[:min(3, len(refused))], "\n"))
			}
		}
	})

	// Mode run is one process under one ServiceAccount: another release, in
	// its own namespace, whose account may do what each part's may.
	t.Run("in mode run one ServiceAccount holds every part's roles", func(t *testing.T) {
		w := w.in(t)
		const otherNS = "platform"
		w.namespace(otherNS)
		w.kubectlApplyFile(w.helmTemplate("edge", otherNS, "mode=run"))
		d := renderedDeployments(t, filepath.Join(w.dir, "edge-chart.yaml"))["edge-certflow"]
		if d == nil {
			t.Fatal("the chart rendered no Deployment edge-certflow in mode run")
		}
		// certflow parses every flag before it prints help: one it does not
		// take fails here.
		bin, err := certflowBinary()
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, append(d.Spec.Template.Spec.Containers[0].Args, "--help")...).CombinedOutput(); err != nil {
			t.Errorf("certflow %s --help: %v\n%s", strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), err, out)
		}
		sa := d.Spec.Template.Spec.ServiceAccountName
		as := w.impersonating("system:serviceaccount:"+otherNS+":"+sa, "system:serviceaccounts", "system:serviceaccounts:"+otherNS, "system:authenticated")
		waitAllowed(t, as,
			authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "certflow-controller", Namespace: otherNS},
			authorizationv1.ResourceAttributes{Verb: "watch", Group: "certflow.dev", Resource: "certificates"},
			authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: ns},
			authorizationv1.ResourceAttributes{Verb: "patch", Group: "certflow.dev", Resource: "certificates", Subresource: "status", Namespace: ns},
			authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps", Namespace: otherNS},
			authorizationv1.ResourceAttributes{Verb: "watch", Resource: "configmaps", Namespace: otherNS},
		)
		for _, denied := range []authorizationv1.ResourceAttributes{
			{Verb: "delete", Group: "certflow.dev", Resource: "issuers", Namespace: ns},
			{Verb: "create", Resource: "configmaps", Namespace: ns},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "certflow-controller", Namespace: installNS},
		} {
			if canI(t, as, denied) {
				t.Errorf("%s may %s %s", sa, denied.Verb, describe(denied))
			}
		}
	})

	t.Run("the worker's role without its Secrets rule refuses the next issuance", func(t *testing.T) {
		w := w.in(t)
		var role rbacv1.ClusterRole
		if err := w.kube.Get(w.ctx, types.NamespacedName{Name: "certflow-worker"}, &role); err != nil {
			t.Fatal(err)
		}
		var kept []rbacv1.PolicyRule
		for _, r := range role.Rules {
			if !(len(r.APIGroups) == 1 && r.APIGroups[0] == "" && len(r.Resources) == 1 && r.Resources[0] == "secrets") {
				kept = append(kept, r)
			}
		}
		if len(kept) != len(role.Rules)-1 {
			t.Fatalf("the chart's ClusterRole certflow-worker has no single rule for Secrets: %+v", role.Rules)
		}
		role.Rules = kept
		if err := w.kube.Update(w.ctx, &role); err != nil {
			t.Fatal(err)
		}
		worker := restConfig(t, parts["worker"].kubeconfig)
		secrets := authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Name: "web2-tls", Namespace: ns}
		for deadline := time.Now().Add(30 * time.Second); canI(t, worker, secrets); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the worker may still read Secrets 30s after its rule went")
			}
		}

		w.create(certificate(ns, "web2", "web2-tls", "install-2-7f3a."+w.stack.BIND.Zone))
		// The attempt fails after its step's retries (about 15 s) and says why.
		var refusal string
		w.waitFor(ns, "web2", 2*time.Minute, "a condition that says the API server refused Secrets", func(c *certflowv1.Certificate) bool {
			for _, cond := range c.Status.Conditions {
				if strings.Contains(strings.ToLower(cond.Message), "forbidden") && namesSecrets.MatchString(cond.Message) {
					refusal = cond.Type + ": " + cond.Message
					return cond.Type != certflowv1.ConditionReady || cond.Status != metav1.ConditionTrue
				}
			}
			return false
		})
		t.Logf("refused: %s", refusal)
		if !strings.Contains(refusal, "system:serviceaccount:"+installNS+":certflow-worker") {
			t.Errorf("the refusal does not name the worker's ServiceAccount: %s", refusal)
		}
	})
}

// namesSecrets matches an API server's refusal that names Secrets.
var namesSecrets = regexp.MustCompile(`resource "secrets"`)

// rbacAs is one of the chart's Deployments and a kubeconfig of its ServiceAccount.
type rbacAs struct {
	deployment *appsv1.Deployment
	kubeconfig string
}

// helmTemplate renders deploy/charts/certflow as release into namespace,
// with `helm template --set` for each value, into the world's folder, and
// returns the file.
func (w *world) helmTemplate(release, namespace string, values ...string) string {
	w.t.Helper()
	root, err := sandbox.RepoRoot()
	if err != nil {
		w.t.Fatal(err)
	}
	bin, err := sandbox.BinDir()
	if err != nil {
		w.t.Fatal(err)
	}
	helm := filepath.Join(bin, "helm")
	if !fileExists(helm) {
		w.t.Fatalf("%s is missing: hack/tools.sh helm builds it", helm)
	}
	args := []string{"template", release, filepath.Join(root, "deploy", "charts", "certflow"), "--namespace", namespace, "--include-crds"}
	for _, v := range values {
		args = append(args, "--set", v)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(w.ctx, helm, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	path := filepath.Join(w.dir, release+"-chart.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// kubectlApplyFile runs `kubectl apply --server-side -f file` as the
// cluster admin: server-side, as the CRDs are too large for the annotation
// a client-side apply keeps.
func (w *world) kubectlApplyFile(file string) {
	w.t.Helper()
	bin, err := sandbox.BinDir()
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.CommandContext(w.ctx, filepath.Join(bin, "kubectl"), "--kubeconfig", w.stack.Kubernetes.Kubeconfig,
		"apply", "--server-side", "--force-conflicts", "-f", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("kubectl apply --server-side -f %s: %v\n%s", file, err, out)
	}
}

// renderedDeployments reads the Deployments of a rendered chart by name.
func renderedDeployments(t *testing.T, file string) map[string]*appsv1.Deployment {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*appsv1.Deployment{}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return found
		}
		if err != nil {
			t.Fatal(err)
		}
		var typ metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &typ); err != nil {
			t.Fatalf("rendered chart: %v", err)
		}
		if typ.Kind != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			t.Fatalf("rendered chart: Deployment: %v", err)
		}
		found[d.Name] = &d
	}
}

// startDeployment runs the Deployment's container here as the process name:
// its args and environment as the kubelet would give them in namespace, and
// the API server reached with kubeconfig, as its ServiceAccount.
func (w *world) startDeployment(name string, d *appsv1.Deployment, namespace, kubeconfig string) {
	w.t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	env := []string{"KUBECONFIG=" + kubeconfig}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+namespace)
		default:
			w.t.Fatalf("Deployment %s: env %s comes from %+v, which this test does not provide", d.Name, e.Name, e.ValueFrom)
		}
	}
	w.startProcess(name, append(c.Command, c.Args...), env)
}

// logLines are the lines of a log that contain word, in any case.
func logLines(t *testing.T, path, word string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(strings.ToLower(line), word) {
			found = append(found, line)
		}
	}
	return found
}
