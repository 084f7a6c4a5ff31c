package lego

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/challenge"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

const apiKey = "k3y-0f-the-s3cret"

// fake is a provider of lego's that remembers the records it made, as
// lego's cloudflare, ovh, porkbun... do, and fails as it is told.
type fake struct {
	mu      sync.Mutex
	records map[string]bool
	fail    error
}

func (f *fake) Present(_ context.Context, _, token, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.records[token] = true
	return nil
}

func (f *fake) CleanUp(_ context.Context, domain, token, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.records[token] {
		return fmt.Errorf("fake: unknown record ID for '%s'", domain)
	}
	delete(f.records, token)
	return nil
}

// statusError is an API error with a status, as statusOf finds them.
type statusError struct{ StatusCode int }

func (e statusError) Error() string { return fmt.Sprintf("status %d", e.StatusCode) }

// register adds a fake provider of lego's to the build, built by build.
func register(t *testing.T, lp legoProvider) {
	t.Helper()
	providers["certflow-fake"] = lp
	t.Cleanup(func() { delete(providers, "certflow-fake") })
}

func stateful(build func() (challenge.Provider, error)) legoProvider {
	return legoProvider{variables: []string{"FAKE_API_KEY"}, stateful: true, forgets: "fake: unknown record ID for", build: build}
}

func newFake() (challenge.Provider, error) { return &fake{records: map[string]bool{}}, nil }

func record(name, keyAuth string) certflowdns.TXT {
	sum := sha256.Sum256([]byte(keyAuth))
	return certflowdns.TXT{FQDN: "_acme-challenge." + name + ".certflow.test.", Value: base64.RawURLEncoding.EncodeToString(sum[:]), KeyAuthorization: keyAuth}
}

func TestErrorsShowNoValueOfTheSettingsNorQueryStrings(t *testing.T) {
	raw := fmt.Errorf("fake: update with key %s: %w", apiKey+"/+", &url.Error{
		Op: "Get", URL: "https://dns.example/update?domains=x&token=" + url.QueryEscape(apiKey+"/+"), Err: statusError{StatusCode: 401},
	})
	f := &fake{records: map[string]bool{}, fail: raw}
	register(t, stateful(func() (challenge.Provider, error) { return f, nil }))
	p, err := New(context.Background(), "certflow-fake", map[string]string{"FAKE_API_KEY": apiKey + "/+"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Present(context.Background(), record("redacted", "redacted-key-authorization"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, apiKey) || strings.Contains(msg, "token=") || strings.Contains(msg, "?") {
		t.Fatalf("error %q shows a value of the settings or a query string", msg)
	}
	if !strings.Contains(msg, `Get "https://dns.example/update"`) || !strings.Contains(msg, "update with key [redacted]:") {
		t.Fatalf("error %q lost what it says besides the values", msg)
	}
	if !certflowdns.IsPermanent(err) {
		t.Fatalf("error %q is not Permanent, though the service refused the credentials", msg)
	}
	var ue *url.Error
	var se statusError
	if errors.As(err, &ue) || errors.As(err, &se) {
		t.Fatalf("error %q unwraps to lego's error", msg)
	}
}

func TestAShortValueIsRedactedWhereItStandsAlone(t *testing.T) {
	got := newRedactor(map[string]string{"FAKE_TTL": "t"}).redact(errors.New("certflow: key t, not t1")).Error()
	if want := "certflow: key [redacted], not t1"; got != want {
		t.Fatalf("redacted %q, want %q", got, want)
	}
}

func TestAConstructionErrorShowsNoValueOfTheSettings(t *testing.T) {
	register(t, legoProvider{variables: []string{"FAKE_API_KEY"}, build: func() (challenge.Provider, error) {
		return nil, errors.New(`fake: key "` + apiKey + `" is malformed`)
	}})
	_, err := New(context.Background(), "certflow-fake", map[string]string{"FAKE_API_KEY": apiKey})
	if err == nil || !certflowdns.IsPermanent(err) || strings.Contains(err.Error(), apiKey) || !strings.Contains(err.Error(), `key "[redacted]" is malformed`) {
		t.Fatalf("error %v, want a Permanent one without the key", err)
	}
}

func TestCleanUpFindsWhatPresentRemembered(t *testing.T) {
	register(t, stateful(newFake))
	settings := map[string]string{"FAKE_API_KEY": "shared"}
	rec := record("shared", "shared-key-authorization")
	p, err := New(context.Background(), "certflow-fake", settings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	q, err := New(context.Background(), "certflow-fake", settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.CleanUp(context.Background(), rec); err != nil {
		t.Fatalf("a provider built with the same settings does not find the record: %v", err)
	}
	if err := q.CleanUp(context.Background(), rec); err != nil {
		t.Fatalf("a repeated clean-up fails: %v", err)
	}
}

func TestACleanUpOfARecordPresentedElsewhereIsPermanentAndNamesIt(t *testing.T) {
	register(t, stateful(newFake))
	p, err := New(context.Background(), "certflow-fake", map[string]string{"FAKE_API_KEY": "another-key"})
	if err != nil {
		t.Fatal(err)
	}
	rec := record("elsewhere", "elsewhere-key-authorization")
	err = p.CleanUp(context.Background(), rec)
	if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "remove the TXT record "+rec.FQDN) {
		t.Fatalf("error %v, want a Permanent one asking to remove %s by hand", err, rec.FQDN)
	}
}

func TestForbiddenVariablesAndIncompleteSetsAreRefused(t *testing.T) {
	register(t, legoProvider{
		variables: []string{"FAKE_KEY", "FAKE_SECRET", "FAKE_TOKEN"},
		hidden:    []string{"FAKE_ROLE"},
		forbidden: map[string]string{"FAKE_ROLE": "it uses the worker's role"},
		oneOf:     [][]string{{"FAKE_KEY", "FAKE_SECRET"}, {"FAKE_TOKEN"}},
		build:     newFake,
	})
	for _, tc := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"FAKE_TOKEN": "t", "FAKE_ROLE": "admin"}, "sets FAKE_ROLE, which certflow does not allow: it uses the worker's role"},
		{map[string]string{"FAKE_KEY": "forbidden-key"}, "must set all of one of FAKE_KEY + FAKE_SECRET, FAKE_TOKEN"},
	} {
		_, err := New(context.Background(), "certflow-fake", tc.settings)
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("settings %v: error %v, want a Permanent one containing %q", tc.settings, err, tc.want)
		}
	}
	if _, err := New(context.Background(), "certflow-fake", map[string]string{"FAKE_KEY": "k", "FAKE_SECRET": "s", "FAKE_TOKEN": ""}); err != nil {
		t.Fatal(err)
	}
}

func TestWaitingForAStuckConstructorEndsWithTheContext(t *testing.T) {
	register(t, legoProvider{variables: []string{"FAKE_API_KEY"}, build: newFake})
	environment <- struct{}{} // a constructor stuck on the network
	defer func() { <-environment }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := New(ctx, "certflow-fake", map[string]string{"FAKE_API_KEY": "waiting"})
	if err == nil || certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("error %v, want a retryable one saying the context ended", err)
	}
}

func TestInstancesExpireAndTheLeastRecentlyUsedGoes(t *testing.T) {
	c := newCache()
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	first := c.add("first", &fake{})
	for i := range maxInstances - 1 {
		c.add(fmt.Sprint(i), &fake{})
	}
	if c.get("first") != first {
		t.Fatal("an instance is gone before the cache is full")
	}
	c.add("one more", &fake{})
	if c.get("first") == nil || c.get("0") != nil {
		t.Fatal("the instance used least recently did not go first")
	}
	now = now.Add(instanceIdle + time.Second)
	if c.get("first") != nil {
		t.Fatal("an instance unused for longer than instanceIdle is kept")
	}
}
