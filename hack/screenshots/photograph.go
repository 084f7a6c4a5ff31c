package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// The list query: certificates that are not Ready, from the search attribute
// certflow's workflows upsert (their current runs: an earlier run keeps the
// values it had). Without it (-unfiltered), the running workflows, stuck or
// not.
const (
	stuckQuery      = `ExecutionStatus="Running" AND CertflowReady=false`
	unfilteredQuery = `ExecutionStatus="Running"`
)

// photograph takes the three pictures of the stuck Certificate into out and
// returns their paths: the list of stuck certificates, the Certificate's
// current run on its User Metadata tab (the current details say what failed
// and when the next attempt is) and the run's history: the failed attempt's
// steps, each with its summary, and the timer it waits on. Each waits
// until Temporal's visibility store lists what the page shows, and then
// until the page shows it.
func photograph(ctx context.Context, stack *sandbox.Stack, out, dir string, cert *certflowv1.Certificate, unfiltered bool) ([]string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", out, err)
	}
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	certID := activities.CertificateWorkflowID(sandbox.ClusterName, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name})
	query := stuckQuery
	if unfiltered {
		query = unfilteredQuery
	}
	current, err := listed(ctx, tc, query, func(e *workflowpb.WorkflowExecutionInfo) bool { return e.Execution.WorkflowId == certID })
	if err != nil {
		return nil, err
	}
	reason := certflowv1.ReasonFailed
	if issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing); issuing != nil {
		reason = issuing.Reason
	}

	base := stack.Temporal.UIURL + "/namespaces/" + url.PathEscape(stack.Temporal.Namespace) + "/workflows"
	run := func(e *workflowpb.WorkflowExecutionInfo) string {
		return base + "/" + url.PathEscape(e.Execution.WorkflowId) + "/" + url.PathEscape(e.Execution.RunId)
	}
	pages := []struct {
		file, url string
		height    int      // the run's timeline and its last events need more than 900 pixels
		want      []string // text that shows the page has its data
	}{
		{"webui-stuck-list.png", base + "?query=" + url.QueryEscape(query), 900, []string{certID}},
		{"webui-stuck-certificate.png", run(current) + "/user-metadata", 900, []string{"Current Details", "Certificate " + cert.Namespace + "/" + cert.Name, reason}},
		{"webui-stuck-history.png", run(current) + "/history", 1300, []string{"Timer Started"}},
	}
	b, err := startBrowser(ctx, filepath.Join(dir, "chromium"))
	if err != nil {
		return nil, err
	}
	defer b.close()
	var written []string
	for _, p := range pages {
		file := filepath.Join(out, p.file)
		if err := b.shoot(ctx, file, p.url, p.height, p.want...); err != nil {
			return written, err
		}
		fmt.Printf("screenshots: %s of %s\n", p.file, p.url)
		written = append(written, file)
	}
	return written, nil
}

// listed waits, for thirty seconds at most, until a workflow that query
// lists passes ok, and returns the first one.
func listed(ctx context.Context, tc client.Client, query string, ok func(*workflowpb.WorkflowExecutionInfo) bool) (*workflowpb.WorkflowExecutionInfo, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return nil, fmt.Errorf("listing workflows %s (does the server know certflow's search attributes? -unfiltered lists the running ones): %w", query, err)
		}
		if i := slices.IndexFunc(resp.Executions, ok); i >= 0 {
			return resp.Executions[i], nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("listing workflows %s: none of the %d listed is the one wanted after 30s", query, len(resp.Executions))
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(time.Second):
		}
	}
}
