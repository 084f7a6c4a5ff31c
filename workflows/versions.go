package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// The versions of the workflows' steps (workflow.GetVersion): a run records
// the version it started with and replays with it, so a certflow upgrade
// never breaks a workflow in flight. Each change keeps the code of the
// versions before it until no run of them can remain.
const (
	// changeOrderSteps is the Order's change ID (its first version's name).
	changeOrderSteps = "account-limiter"
	// orderAsksLimiter: the Order asks its issuer's account limiter for a
	// permit first.
	orderAsksLimiter workflow.Version = 1
	// orderLocalShortSteps: the removal of the records (as soon as the CA
	// has validated them) and the Secret write run as local activities; the
	// steps write their status only when they take a while.
	orderLocalShortSteps workflow.Version = 2
	// orderLocalCACalls: the permit request, the Present and the CA's
	// validation and finalization run as local activities too, so that an
	// issuance makes two activities (the order with its new key, and the
	// wait for DNS propagation) and four workflow tasks.
	orderLocalCACalls workflow.Version = 3
	// orderQuickLook: DNS propagation is first checked with a quick look in
	// a local activity, and waited for in the heartbeating activity only
	// when the records are not visible at once; an issuance whose records
	// are visible at once makes one activity (the order) and three workflow
	// tasks.
	orderQuickLook workflow.Version = 4
	// orderLocalBegin: BeginOrder runs as a local activity too, in the
	// workflow task of the permit's arrival, so that an issuance whose
	// records are visible at once makes no activity and two workflow tasks
	// (the request for a permit, and the rest).
	orderLocalBegin workflow.Version = 5

	// changeCertificateSteps is the Certificate workflow's change ID.
	changeCertificateSteps = "local-short-steps"
	// certificateLocalShortSteps: the Secret inspection and the renewal
	// window question run as local activities.
	certificateLocalShortSteps workflow.Version = 1
)

// orderVersion is the version of the Order steps this run follows.
func orderVersion(ctx workflow.Context) workflow.Version {
	return workflow.GetVersion(ctx, changeOrderSteps, workflow.DefaultVersion, orderLocalBegin)
}

// certificateVersion is the version of the Certificate steps this run follows.
func certificateVersion(ctx workflow.Context) workflow.Version {
	return workflow.GetVersion(ctx, changeCertificateSteps, workflow.DefaultVersion, certificateLocalShortSteps)
}
