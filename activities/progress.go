package activities

import "time"

// Steps of an issuance, as a Certificate's status.step names them.
const (
	StepOrdering    = "ordering"
	StepPresenting  = "presenting"
	StepPropagating = "propagating"
	StepValidating  = "validating"
	StepFinalizing  = "finalizing"
	StepStoring     = "storing"
)

// InProgress is the input of a step of an issuance attempt. It carries the
// attempt's status, which the worker writes, with the step, when the step
// takes a while: a step that waits (for DNS, for the CA) is seen without a
// status write for every step of every issuance.
type InProgress interface {
	// Progress is the status to write while the step runs; nil when the
	// input carries none.
	Progress() *CertificateStatus
}

// during is st as it reads while step runs, with the step's authorizations
// when it has them; nil when st is.
func during(st *CertificateStatus, step string, authorizations []Authorization) *CertificateStatus {
	if st == nil {
		return nil
	}
	p := *st
	p.Step, p.Event = step, nil
	if authorizations != nil {
		p.Authorizations = authorizations
	}
	return &p
}

func (in EnsurePendingKeyInput) Progress() *CertificateStatus {
	return during(in.Status, StepOrdering, nil)
}

func (in BeginOrderInput) Progress() *CertificateStatus {
	return during(in.Status, StepOrdering, nil)
}

func (in PresentInput) Progress() *CertificateStatus {
	return during(in.Status, StepPresenting, in.Authorizations)
}

func (in WaitPropagationInput) Progress() *CertificateStatus {
	return during(in.Status, StepPropagating, nil)
}

func (in ValidateInput) Progress() *CertificateStatus {
	return during(in.Status, StepValidating, in.Authorizations)
}

func (in FinalizeInput) Progress() *CertificateStatus {
	return during(in.Status, StepFinalizing, nil)
}

func (in StoreSecretInput) Progress() *CertificateStatus {
	return during(in.Status, StepStoring, nil)
}

// BeatEvery calls beat every interval until the returned stop is called, for
// an activity that waits (its turn, a slow answer) without a loop of its own
// to heartbeat from; stop returns once beat is no longer running.
func BeatEvery(interval time.Duration, beat func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				beat()
			}
		}
	}()
	return func() { close(done); <-exited }
}
