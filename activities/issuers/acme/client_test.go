package acme

import (
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"testing"
	"time"
)

func TestPollsWaitForTheCAsRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("retry-after"); v != "" {
			w.Header().Set("Retry-After", v)
		}
	}))
	defer srv.Close()
	hints := &retryAfters{rt: http.DefaultTransport}
	client := &http.Client{Transport: hints}
	const fallback = 500 * time.Millisecond
	httpDate := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		retryAfter string
		min, max   time.Duration
	}{
		{"no Retry-After polls at the fallback interval", "", fallback, fallback},
		{"a Retry-After in seconds is honoured", "2", 2 * time.Second, 2 * time.Second},
		{"a Retry-After as an HTTP date is honoured", httpDate, time.Second, 3 * time.Second},
		{"a long Retry-After is capped so the activity keeps heartbeating", "3600", maxPollWait, maxPollWait},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.URL + "/order?retry-after=" + neturl.QueryEscape(tc.retryAfter)
			resp, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := hints.wait(url, fallback); got < tc.min || got > tc.max {
				t.Fatalf("wait = %s, want between %s and %s", got, tc.min, tc.max)
			}
		})
	}
}
