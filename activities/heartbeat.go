package activities

import "time"

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
