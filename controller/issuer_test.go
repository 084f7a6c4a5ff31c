package controller

import (
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

func TestIssuers(t *testing.T) {
	t.Parallel()
	vault := v1alpha1.IssuerSpec{Vault: &v1alpha1.VaultIssuer{Server: "https://vault.example.test:8200", Path: "pki/sign/web",
		Auth: v1alpha1.VaultAuth{TokenSecretRef: &v1alpha1.SecretKeySelector{LocalObjectReference: v1alpha1.LocalObjectReference{Name: "vault-token"}}}}}
	cases := []struct {
		name    string
		cluster bool
		spec    v1alpha1.IssuerSpec
		typ     string
	}{
		{"an ACME ClusterIssuer starts its issuer workflow, again for each spec change", true, acmeIssuerSpec(), activities.IssuerTypeACME},
		{"an ACME Issuer starts its issuer workflow, again for each spec change", false, acmeIssuerSpec(), activities.IssuerTypeACME},
		{"a CA Issuer starts its issuer workflow, again for each spec change", false, v1alpha1.IssuerSpec{CA: &v1alpha1.CAIssuer{SecretName: "ca-key-pair"}}, activities.IssuerTypeCA},
		{"a selfSigned ClusterIssuer starts its issuer workflow, again for each spec change", true, v1alpha1.IssuerSpec{SelfSigned: &v1alpha1.SelfSignedIssuer{}}, activities.IssuerTypeSelfSigned},
		{"a Vault Issuer starts its issuer workflow, again for each spec change", false, vault, activities.IssuerTypeVault},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			ns := newNamespace(t, ctx)
			var obj client.Object
			ref := activities.IssuerRef{Kind: "Issuer", Namespace: ns, Name: "issuer"}
			if tc.cluster {
				obj = &v1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "issuer-" + ns}, Spec: tc.spec}
				ref = activities.IssuerRef{Kind: "ClusterIssuer", Name: "issuer-" + ns}
			} else {
				obj = &v1alpha1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "issuer"}, Spec: tc.spec}
			}
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			waitForIssuerWorkflow(t, activities.IssuerWorkflowID(testCluster, ref, string(obj.GetUID()), 1), workflows.IssuerInput{Issuer: ref, Generation: 1, Type: tc.typ})
			obj.(v1alpha1.IssuerObject).IssuerSpec().RetryBackoff = &v1alpha1.RetryBackoff{Initial: &metav1.Duration{Duration: time.Minute}}
			if err := k8s.Update(ctx, obj); err != nil {
				t.Fatal(err)
			}
			waitForIssuerWorkflow(t, activities.IssuerWorkflowID(testCluster, ref, string(obj.GetUID()), 2), workflows.IssuerInput{Issuer: ref, Generation: 2, Type: tc.typ})
		})
	}
}

func waitForIssuerWorkflow(t *testing.T, id string, want workflows.IssuerInput) {
	t.Helper()
	ctx := testContext(t)
	eventually(t, "workflow "+id+" exists", func() (bool, string) {
		_, err := describe(ctx, id)
		return err == nil, fmt.Sprint(err)
	})
	desc, err := describe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.IssuerWorkflowName || info.GetTaskQueue() != testTaskQueue ||
		info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow %s: type %q on %q, %s", id, info.GetType().GetName(), info.GetTaskQueue(), info.GetStatus())
	}
	var in workflows.IssuerInput
	startInput(t, ctx, id, &in)
	if in != want {
		t.Fatalf("input of %s: %+v, want %+v", id, in, want)
	}
}
