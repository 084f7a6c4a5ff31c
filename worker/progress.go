package worker

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/certflow/certflow/activities"
)

// progressDelay is how long a step runs before its status is written: a step
// that waits (for DNS, for the CA) shows in the Certificate's status within
// it, and the many steps that take less cost no status write.
const progressDelay = time.Second

// progressInterceptor writes the status an activity's input carries
// (activities.InProgress) into the Certificate when the activity runs longer
// than delay.
type progressInterceptor struct {
	interceptor.WorkerInterceptorBase
	write func(context.Context, activities.CertificateStatus) error
	delay time.Duration
}

func (p *progressInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &progressInbound{p: p}
	i.Next = next
	return i
}

type progressInbound struct {
	interceptor.ActivityInboundInterceptorBase
	p *progressInterceptor
}

func (i *progressInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if len(in.Args) > 0 {
		if r, ok := in.Args[0].(activities.InProgress); ok {
			if st := r.Progress(); st != nil {
				defer i.writeLater(ctx, *st)()
			}
		}
	}
	return i.Next.ExecuteActivity(ctx, in)
}

// writeLater writes st after the delay unless the returned stop is called
// first; stop waits for a write under way, so that it lands before the
// workflow's next one.
func (i *progressInbound) writeLater(ctx context.Context, st activities.CertificateStatus) (stop func()) {
	done := make(chan struct{})
	timer := time.AfterFunc(i.p.delay, func() {
		defer close(done)
		if err := i.p.write(ctx, st); err != nil {
			activity.GetLogger(ctx).Warn("writing the status of a step that takes a while", "step", st.Step, "error", err)
		}
	})
	return func() {
		if timer.Stop() {
			return
		}
		<-done
	}
}
