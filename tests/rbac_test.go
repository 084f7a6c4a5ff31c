package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// TestRBAC installs deploy/rbac as a user would (`kubectl apply -n certflow
// -f deploy/rbac/`, the files on disk) and runs `certflow controller` and
// `certflow worker` as their ServiceAccounts, with tokens the API server
// issued and nothing else. An issuance on a namespace's own Issuer, a
// renewal, a deletion, and the controller's own reports all happen, and
// neither part is refused anything on the way: the roles are enough. Then the
// API server says what each identity, and a user bound to certflow-view or
// certflow-edit, may do: the roles are no more than that.
func TestRBAC(t *testing.T) {
	t.Parallel()
	// With the Gateway API served, the controller runs its gateway-shim too.
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{GatewayAPI: true}})
	w.killCertflow()
	// certflow is the namespace the shipped ClusterRoleBindings name.
	const installNS, ns, otherNS = sandbox.ClusterResourceNamespace, "shop", "elsewhere"
	w.namespace(ns)
	w.namespace(otherNS)
	w.kubectlApply(installNS, rbacDir(t))
	// The same files in another namespace: kubectl refuses an object whose
	// own namespace is not -n's, and the Lease Role must hold there.
	w.kubectlApply(otherNS, rbacDir(t))

	controllerKubeconfig := w.serviceAccountKubeconfig(installNS, "certflow-controller")
	workerKubeconfig := w.serviceAccountKubeconfig(installNS, "certflow-worker")
	asController, asWorker := restConfig(t, controllerKubeconfig), restConfig(t, workerKubeconfig)
	// The API server's authorizer learns of new bindings from a watch: the
	// parts start when it knows them, so that nothing is refused only for being early.
	kubeSystem := authorizationv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system", Namespace: "kube-system"}
	renewLease := authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "certflow-controller", Namespace: installNS}
	waitAllowed(t, asController, kubeSystem, renewLease)
	waitAllowed(t, asWorker, kubeSystem)
	// No --cluster-name: each part reads kube-system's UID for it, as it does
	// when installed.
	w.startAs("controller", controllerKubeconfig, "--cluster-name=", "--leader-elect", "--leader-election-namespace", installNS)
	w.startAs("worker", workerKubeconfig, "--cluster-name=")

	dnsName := "rbac-5c2e." + w.stack.BIND.Zone
	t.Run("a Certificate on the namespace's own Issuer goes Ready", func(t *testing.T) {
		w := w.in(t)
		tsig := w.stack.TSIGSecret()
		tsig.Namespace = ns
		w.create(tsig)
		cluster := w.stack.ClusterIssuer("pebble", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
		w.create(&certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pebble"}, Spec: cluster.Spec})
		cert := certificate(ns, "web", "web-tls", dnsName)
		cert.Spec.IssuerRef.Kind = certflowv1.IssuerKind
		w.create(cert)
		w.waitReady(ns, "web")
		w.verify(w.tlsSecret(ns, "web-tls"), dnsName)
		// Deleting it is the worker's last write: a refusal leaves a private key behind.
		w.gone(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: activities.PendingKeySecretName("web")}}, time.Minute)
		// The Issuer's status is the worker's to write, in the Issuer
		// workflow's next task after its account is registered: a quick
		// issuance can be Ready first.
		w.waitIssuer(ns, "pebble", 30*time.Second, "Ready=True", func(c *metav1.Condition) bool { return c.Status == metav1.ConditionTrue })
		var lease coordinationv1.Lease
		if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: installNS, Name: "certflow-controller"}, &lease); err != nil {
			t.Errorf("the controller's leader election Lease in %s: %v", installNS, err)
		} else if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			t.Errorf("Lease %s/certflow-controller has no holder", installNS)
		}
	})

	// The status and Events the controller writes itself, off the happy path
	// (it records each Event after its status patch went through).
	t.Run("the controller reports a missing issuer", func(t *testing.T) {
		w := w.in(t)
		orphan := certificate(ns, "orphan", "orphan-tls", dnsName)
		orphan.Spec.IssuerRef = certflowv1.ObjectReference{Name: "missing", Kind: certflowv1.IssuerKind}
		w.create(orphan)
		w.waitEvent(ns, certflowv1.CertificateKind, "orphan", certflowv1.ReasonIssuerNotFound, 30*time.Second)
	})

	asViewer, asEditor := w.userBoundTo(ns, "alice", "certflow-view"), w.userBoundTo(ns, "bob", "certflow-edit")
	// carol holds both everywhere, as whoever is bound to edit cluster-wide does.
	asBoth := w.userBoundTo("", "carol", "certflow-view", "certflow-edit")
	asOtherController := w.impersonating("system:serviceaccount:"+otherNS+":certflow-controller",
		"system:serviceaccounts", "system:serviceaccounts:"+otherNS, "system:authenticated")

	t.Run("each identity may do what its role says and no more", func(t *testing.T) {
		type access struct {
			as                               *rest.Config
			verb, group, resource, object, n string // n is the namespace: "" for all, or a cluster-scoped resource
			allowed                          bool
		}
		const core, certflow, coordination = "", "certflow.dev", "coordination.k8s.io"
		for _, c := range []struct {
			name string
			access
		}{
			{"the worker cannot list Secrets anywhere", access{asWorker, "list", core, "secrets", "", "", false}},
			{"the worker cannot list a namespace's Secrets", access{asWorker, "list", core, "secrets", "", ns, false}},
			{"the worker cannot watch Secrets", access{asWorker, "watch", core, "secrets", "", "", false}},
			{"the worker reads a Secret by name", access{asWorker, "get", core, "secrets", "web-tls", ns, true}},
			{"the worker writes a Secret", access{asWorker, "update", core, "secrets", "web-tls", ns, true}},
			{"the worker cannot change a Certificate's spec", access{asWorker, "patch", certflow, "certificates", "web", ns, false}},
			{"the worker cannot take the controller's Lease", access{asWorker, "update", coordination, "leases", "certflow-controller", installNS, false}},
			{"the controller cannot create Secrets", access{asController, "create", core, "secrets", "", ns, false}},
			{"the controller cannot update Secrets", access{asController, "update", core, "secrets", "web-tls", ns, false}},
			{"the controller cannot patch Secrets", access{asController, "patch", core, "secrets", "web-tls", ns, false}},
			{"the controller cannot delete Secrets", access{asController, "delete", core, "secrets", "web-tls", ns, false}},
			{"the controller watches Secrets", access{asController, "watch", core, "secrets", "", "", true}},
			{"the controller creates Certificates for Ingresses and Gateways", access{asController, "create", certflow, "certificates", "", ns, true}},
			{"the controller cannot update Certificates, only patch them", access{asController, "update", certflow, "certificates", "web", ns, false}},
			{"the controller cannot change Ingresses", access{asController, "patch", "networking.k8s.io", "ingresses", "web", ns, false}},
			{"the controller cannot change Gateways", access{asController, "patch", "gateway.networking.k8s.io", "gateways", "web", ns, false}},
			{"a viewer gets Certificates in her namespace", access{asViewer, "get", certflow, "certificates", "web", ns, true}},
			{"a viewer lists Issuers in her namespace", access{asViewer, "list", certflow, "issuers", "", ns, true}},
			{"a viewer cannot get Certificates in another namespace", access{asViewer, "get", certflow, "certificates", "", otherNS, false}},
			{"a viewer cannot create Certificates", access{asViewer, "create", certflow, "certificates", "", ns, false}},
			{"a viewer cannot read Secrets", access{asViewer, "get", core, "secrets", "web-tls", ns, false}},
			{"a viewer cannot list Secrets", access{asViewer, "list", core, "secrets", "", ns, false}},
			{"an editor creates Certificates in his namespace", access{asEditor, "create", certflow, "certificates", "", ns, true}},
			{"an editor deletes Issuers in his namespace", access{asEditor, "delete", certflow, "issuers", "pebble", ns, true}},
			{"an editor cannot create Certificates in another namespace", access{asEditor, "create", certflow, "certificates", "", otherNS, false}},
			{"an editor cannot read Secrets", access{asEditor, "get", core, "secrets", "web-tls", ns, false}},
			{"one bound to both cluster-wide reads Certificates anywhere", access{asBoth, "get", certflow, "certificates", "", otherNS, true}},
			{"one bound to both cluster-wide cannot read ClusterIssuers", access{asBoth, "get", certflow, "clusterissuers", "pebble", "", false}},
			{"one bound to both cluster-wide cannot create ClusterIssuers", access{asBoth, "create", certflow, "clusterissuers", "", "", false}},
			{"another install's controller renews its Lease in its namespace", access{asOtherController, "update", coordination, "leases", "certflow-controller", otherNS, true}},
			{"another install's controller makes its Lease in its namespace", access{asOtherController, "create", coordination, "leases", "", otherNS, true}},
			{"another install's controller cannot renew another Lease", access{asOtherController, "update", coordination, "leases", "someone-else", otherNS, false}},
			{"another install's controller cannot renew certflow's Lease", access{asOtherController, "update", coordination, "leases", "certflow-controller", installNS, false}},
		} {
			t.Run(c.name, func(t *testing.T) {
				attrs := authorizationv1.ResourceAttributes{Verb: c.verb, Group: c.group, Resource: c.resource, Name: c.object, Namespace: c.n}
				if got := canI(t, c.as, attrs); got != c.allowed {
					t.Errorf("%s %s: allowed %v, want %v", c.verb, describe(attrs), got, c.allowed)
				}
			})
		}
	})

	t.Run("a viewer reads the Certificate and cannot make one; an editor can", func(t *testing.T) {
		w := w.in(t)
		var cert certflowv1.Certificate
		if err := kubeClient(t, asViewer).Get(w.ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &cert); err != nil {
			t.Errorf("alice (certflow-view in %s) reading Certificate web: %v", ns, err)
		}
		err := kubeClient(t, asViewer).Create(w.ctx, certificate(ns, "alice", "alice-tls", dnsName), client.DryRunAll)
		if !apierrors.IsForbidden(err) {
			t.Errorf("alice (certflow-view) creating a Certificate: %v, want forbidden", err)
		}
		if err := kubeClient(t, asEditor).Create(w.ctx, certificate(ns, "bob", "bob-tls", dnsName), client.DryRunAll); err != nil {
			t.Errorf("bob (certflow-edit) creating a Certificate: %v", err)
		}
	})

	t.Run("certflow-view joins view, edit and admin; certflow-edit joins edit and admin", func(t *testing.T) {
		w := w.in(t)
		want := map[string][]string{"view": {"certflow-view"}, "edit": {"certflow-view", "certflow-edit"}, "admin": {"certflow-view", "certflow-edit"}}
		for _, aggregate := range []string{"view", "edit", "admin"} {
			var got []string
			for _, role := range []string{"certflow-view", "certflow-edit"} {
				if w.aggregates(aggregate, role) {
					got = append(got, role)
				}
			}
			if !slices.Equal(got, want[aggregate]) {
				t.Errorf("the built-in ClusterRole %s aggregates %v, want %v", aggregate, got, want[aggregate])
			}
		}
	})

	t.Run("a renewal replaces the Secret", func(t *testing.T) {
		w := w.in(t)
		cluster, err := connect.ClusterName(w.ctx, w.stack.Kubernetes.Config)
		if err != nil {
			t.Fatal(err)
		}
		id := activities.CertificateWorkflowID(cluster, activities.CertificateRef{Namespace: ns, Name: "web"})
		if err := w.temporal.SignalWorkflow(w.ctx, id, "", workflows.SignalRenew, nil); err != nil {
			t.Fatal(err)
		}
		w.waitFor(ns, "web", 2*time.Minute, "revision 2 Ready", func(c *certflowv1.Certificate) bool {
			return c.Status.Revision != nil && *c.Status.Revision >= 2 && meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
		})
		w.verify(w.tlsSecret(ns, "web-tls"), dnsName)
	})

	t.Run("the Certificate is deleted, its finalizer removed by the controller", func(t *testing.T) {
		w := w.in(t)
		cert := &certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
		if err := w.kube.Delete(w.ctx, cert); err != nil {
			t.Fatal(err)
		}
		w.gone(cert, time.Minute)
	})

	// The shim's Certificates carry a controller reference that blocks the
	// owner's deletion: the API server's OwnerReferencesPermissionEnforcement
	// lets only who may update the owner's finalizers set it.
	t.Run("an annotated Ingress and Gateway get Certificates from the controller", func(t *testing.T) {
		w := w.in(t)
		w.create(ingress(ns, "shop", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{dnsName}, SecretName: "shop-tls"}))
		hostname := gatewayv1.Hostname(dnsName)
		w.create(&gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge", Annotations: map[string]string{"certflow.dev/cluster-issuer": "pebble"}},
			Spec: gatewayv1.GatewaySpec{GatewayClassName: "example", Listeners: []gatewayv1.Listener{{
				Name: "https", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, Hostname: &hostname,
				TLS: &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "edge-tls"}}},
			}}},
		})
		for name, kind := range map[string]string{"shop-tls": "Ingress", "edge-tls": "Gateway"} {
			cert := w.waitCertificate(ns, name)
			if owner := metav1.GetControllerOf(cert); owner == nil || owner.Kind != kind {
				t.Errorf("Certificate %s: controller %+v, want the %s", name, owner, kind)
			}
		}
	})

	t.Run("neither part was refused anything by the API server", func(t *testing.T) {
		for _, part := range []string{"controller", "worker"} {
			data, err := os.ReadFile(w.certflow[part].logPath)
			if err != nil {
				t.Fatal(err)
			}
			var refused []string
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(strings.ToLower(line), "forbidden") {
					refused = append(refused, line)
				}
			}
			if len(refused) > 0 {
				t.Errorf("certflow %s was refused %d times, first:\n%s", part, len(refused), strings.Join(refused[:min(3, len(refused))], "\n"))
			}
		}
	})
}

// waitEvent waits for an Event (events.k8s.io) with the reason about the
// object of that kind.
func (w *world) waitEvent(namespace, kind, name, reason string, timeout time.Duration) {
	w.t.Helper()
	cs, err := kubernetes.NewForConfig(w.stack.Kubernetes.Config)
	if err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		events, err := cs.EventsV1().Events(namespace).List(w.ctx, metav1.ListOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no Event %s about %s %s/%s within %s", reason, kind, namespace, name, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rbacDir is deploy/rbac in the checkout: the files that ship.
func rbacDir(t *testing.T) string {
	root, err := sandbox.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy", "rbac")
}

// kubectlApply runs `kubectl apply -n namespace -f dir` as the cluster admin.
func (w *world) kubectlApply(namespace, dir string) {
	w.t.Helper()
	bin, err := sandbox.BinDir()
	if err != nil {
		w.t.Fatal(err)
	}
	args := []string{"--kubeconfig", w.stack.Kubernetes.Kubeconfig, "apply", "-f", dir}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	cmd := exec.CommandContext(w.ctx, filepath.Join(bin, "kubectl"), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("kubectl apply -n %s -f %s: %v\n%s", namespace, dir, err, out)
	}
}

// serviceAccountKubeconfig writes a kubeconfig that reaches the API server
// as the ServiceAccount, with a token the API server issues for it, and
// returns its path.
func (w *world) serviceAccountKubeconfig(namespace, name string) string {
	w.t.Helper()
	admin := w.stack.Kubernetes.Config
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		w.t.Fatal(err)
	}
	hour := int64(time.Hour / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(w.ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatalf("asking a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(w.dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// startAs runs a certflow subcommand like start, reaching the API server
// with kubeconfig instead of the admin's: the last of a repeated flag wins.
func (w *world) startAs(subcommand, kubeconfig string, extra ...string) {
	w.t.Helper()
	as := *w
	as.args = slices.Concat(w.args, []string{"--kubeconfig", kubeconfig}, extra)
	as.start(subcommand)
}

// userBoundTo binds the ClusterRoles to a user in the namespace (RoleBindings;
// "" binds them cluster-wide) and returns a configuration that acts as them.
func (w *world) userBoundTo(namespace, user string, clusterRoles ...string) *rest.Config {
	w.t.Helper()
	for _, role := range clusterRoles {
		meta := metav1.ObjectMeta{Namespace: namespace, Name: user + "-" + role}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
		subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}
		if namespace == "" {
			w.create(&rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects})
		} else {
			w.create(&rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects})
		}
	}
	return w.impersonating(user)
}

// impersonating is the admin's configuration acting as the user in the groups.
func (w *world) impersonating(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(w.stack.Kubernetes.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// aggregates says whether the built-in ClusterRole's aggregation rule
// selects the ClusterRole role as deploy/rbac made it. The API server
// defines view, edit and admin with their rules; kube-controller-manager,
// which copies the rules, does not run here.
func (w *world) aggregates(aggregate, role string) bool {
	w.t.Helper()
	var agg, r rbacv1.ClusterRole
	if err := w.kube.Get(w.ctx, types.NamespacedName{Name: aggregate}, &agg); err != nil {
		w.t.Fatal(err)
	}
	if err := w.kube.Get(w.ctx, types.NamespacedName{Name: role}, &r); err != nil {
		w.t.Fatal(err)
	}
	if agg.AggregationRule == nil {
		w.t.Fatalf("ClusterRole %s has no aggregation rule", aggregate)
	}
	for _, s := range agg.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			w.t.Fatal(err)
		}
		if sel.Matches(labels.Set(r.Labels)) {
			return true
		}
	}
	return false
}

// canI asks the API server, as cfg's identity (SelfSubjectAccessReview),
// whether it may do what attrs say.
func canI(t *testing.T, cfg *rest.Config, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

func describe(a authorizationv1.ResourceAttributes) string {
	s := a.Resource
	if a.Group != "" {
		s += "." + a.Group
	}
	if a.Name != "" {
		s += "/" + a.Name
	}
	if a.Namespace != "" {
		return s + " in " + a.Namespace
	}
	return s + " (all namespaces or cluster-scoped)"
}

// waitAllowed waits until cfg's identity may do each of attrs.
func waitAllowed(t *testing.T, cfg *rest.Config, attrs ...authorizationv1.ResourceAttributes) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range attrs {
		for !canI(t, cfg, a) {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: still not allowed after 30s", a.Verb, describe(a))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kubeClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := connect.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
