package shim

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// newRecorder returns the shim's recorder of core/v1 Events. The
// events.k8s.io recorder the other reconcilers use merges Events that differ
// only in their note into one series that keeps the first note, so a user
// who fixes one annotation and breaks another would go on reading about the
// first. core/v1's recorder tells Events apart by their message, and counts
// only repeats of the same one.
func newRecorder(mgr ctrl.Manager) (record.EventRecorder, error) {
	events, err := corev1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("making the Events client: %w", err)
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: events.Events("")})
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		b.Shutdown()
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("adding the Events recorder to the manager: %w", err)
	}
	return b.NewRecorder(mgr.GetScheme(), corev1.EventSource{Component: "certflow-controller"}), nil
}
