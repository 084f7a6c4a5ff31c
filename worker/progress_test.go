package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"

	"github.com/certflow/certflow/activities"
)

// sleepingActivity stands in for the next interceptor: an activity that
// takes d.
type sleepingActivity struct {
	interceptor.ActivityInboundInterceptorBase
	d time.Duration
}

func (s *sleepingActivity) ExecuteActivity(context.Context, *interceptor.ExecuteActivityInput) (any, error) {
	time.Sleep(s.d)
	return nil, nil
}

func TestAStepWritesItsStatusOnlyWhenItTakesAWhile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		takes  time.Duration
		writes int
	}{
		{"a step quicker than the delay writes nothing", 0, 0},
		{"a step that takes longer writes its status once, before it returns", 300 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				written []activities.CertificateStatus
			)
			p := &progressInterceptor{delay: 50 * time.Millisecond, write: func(_ context.Context, st activities.CertificateStatus) error {
				time.Sleep(20 * time.Millisecond) // a write under way when the step ends is waited for
				mu.Lock()
				defer mu.Unlock()
				written = append(written, st)
				return nil
			}}
			i := p.InterceptActivity(t.Context(), &sleepingActivity{d: tc.takes})
			ref := activities.CertificateRef{Namespace: "default", Name: "web"}
			in := activities.ValidateInput{Certificate: ref, Status: &activities.CertificateStatus{
				Certificate: ref, Conditions: []activities.Condition{{Type: "Issuing", Status: "True", Reason: "Issuing"}},
			}}
			if _, err := i.ExecuteActivity(t.Context(), &interceptor.ExecuteActivityInput{Args: []any{in}}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(written) != tc.writes || (tc.writes > 0 && (written[0].Step != "validating" || written[0].Certificate != ref ||
				len(written[0].Conditions) != 1 || written[0].Conditions[0].Status != "True")) {
				t.Fatalf("written %+v, want %d write(s) of the attempt's status at step validating", written, tc.writes)
			}
		})
	}
}

func TestAStepThatIsNotAnIssuancesWritesNothing(t *testing.T) {
	p := &progressInterceptor{delay: time.Millisecond, write: func(context.Context, activities.CertificateStatus) error {
		t.Error("wrote the progress of a step that is not an issuance's")
		return nil
	}}
	i := p.InterceptActivity(t.Context(), &sleepingActivity{d: 20 * time.Millisecond})
	// The last carries no status to write.
	for _, arg := range []any{activities.EnsureAccountInput{}, activities.InspectSecretInput{}, activities.ValidateInput{}} {
		if _, err := i.ExecuteActivity(t.Context(), &interceptor.ExecuteActivityInput{Args: []any{arg}}); err != nil {
			t.Fatal(err)
		}
	}
}
