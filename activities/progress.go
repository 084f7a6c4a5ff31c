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

// Progress is what a Certificate's status says while a step of its issuance
// runs: the step, and the authorizations when the step has them.
type Progress struct {
	Certificate    CertificateRef
	Step           string
	Authorizations []Authorization
}

// InProgress is the input of a step that shows in the Certificate's status
// when it takes a while: the worker writes its Progress then, so that a
// step that waits (for DNS, for the CA) is seen without a status write for
// every step of every issuance.
type InProgress interface {
	Progress() Progress
}

func (in EnsurePendingKeyInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepOrdering}
}

func (in BeginOrderInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepOrdering}
}

func (in PresentInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepPresenting, Authorizations: in.Authorizations}
}

func (in WaitPropagationInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepPropagating}
}

func (in ValidateInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepValidating, Authorizations: in.Authorizations}
}

func (in FinalizeInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepFinalizing}
}

func (in StoreSecretInput) Progress() Progress {
	return Progress{Certificate: in.Certificate, Step: StepStoring}
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
