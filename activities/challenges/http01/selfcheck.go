package http01

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
)

// SelfCheck fetches http-01 responses as the CA will: GET of
// http://<name>/.well-known/acme-challenge/<token>, following redirects.
type SelfCheck struct {
	// Resolvers look up the names (host:port, tried in order); the
	// system's resolver when empty. They are the cluster's view of a
	// name, which may differ from the CA's.
	Resolvers []string
	// Port the fetch connects to instead of 80 (redirects to other ports
	// are followed as they are); 80 when 0, as the CA does.
	Port int
	// Timeout of one fetch; 5s when 0.
	Timeout time.Duration
}

// maxResponse is more than any key authorization (a token and a
// thumbprint): a longer body is not one.
const maxResponse = 1024

// Fetch fetches the response once: "" when the body is keyAuth, else what
// was served instead. An error is a fetch that got no answer.
func (c SelfCheck) Fetch(ctx context.Context, host, token, keyAuth string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, 5*time.Second))
	defer cancel()
	url := activities.HTTP01URL(host, token)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, err)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", url, err)
	}
	got := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("answered %s", resp.Status), nil
	case got != keyAuth:
		return fmt.Sprintf("answered %q, not the key authorization", clip(got)), nil
	}
	return "", nil
}

// client connects to the names as Resolvers resolve them, to Port for 80.
func (c SelfCheck) client() *http.Client {
	dialer := &net.Dialer{Resolver: c.resolver()}
	transport := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if port == "80" && c.Port != 0 {
				port = strconv.Itoa(c.Port)
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
		},
	}
	return &http.Client{Transport: transport}
}

// resolver asks Resolvers in order, or is the system's.
func (c SelfCheck) resolver() *net.Resolver {
	if len(c.Resolvers) == 0 {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		var err error
		for _, server := range c.Resolvers {
			var conn net.Conn
			if conn, err = d.DialContext(ctx, network, server); err == nil {
				return conn, nil
			}
		}
		return nil, err
	}}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
