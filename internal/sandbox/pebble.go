package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/certflow/certflow/internal/pki"
)

// PebbleOptions configures StartPebble.
type PebbleOptions struct {
	// Dir receives the config, the web server's certificate and pebble.log.
	Dir string
	// DNSServer is the resolver Pebble's validation uses (the sandbox's BIND).
	DNSServer string
	// NonceRejectPercent is PEBBLE_WFE_NONCEREJECT; nil keeps Pebble's 5%.
	NonceRejectPercent *int
	// AuthzReusePercent is PEBBLE_AUTHZREUSE; nil keeps Pebble's 50%.
	AuthzReusePercent *int
	// AlternateRoots is PEBBLE_ALTERNATE_ROOTS: how many other roots the
	// CA's intermediates are cross-signed by, offered as alternate chains.
	AlternateRoots int
	// RetryAfterSeconds is what Pebble sends in Retry-After on order and
	// authorization polls; 0 sends none.
	RetryAfterSeconds int
	// ExternalAccountMACKeys, when set, make Pebble require external account
	// binding and accept these: key ID to its HMAC key, base64url-encoded,
	// as a CA such as ZeroSSL hands them out.
	ExternalAccountMACKeys map[string]string
}

// Pebble is a running Pebble ACME test CA.
type Pebble struct {
	// DirectoryURL is the ACME directory (https, signed by CACertPEM).
	DirectoryURL string
	// CACertPEM is the root that signs Pebble's web server certificate: what an
	// Issuer's caBundle holds. It is not the root of issued certificates (Roots).
	CACertPEM []byte
	// ManagementURL serves Pebble's roots and intermediates (/roots/0, ...).
	ManagementURL string
	// HTTPPort is where Pebble connects for HTTP-01 validation.
	HTTPPort int

	client *http.Client
	proc   *process
}

type pebbleProfile struct {
	Description    string `json:"description"`
	ValidityPeriod int    `json:"validityPeriod"`
}

// StartPebble starts Pebble on free loopback ports with PEBBLE_VA_NOSLEEP=1 and
// waits until its directory answers over TLS. A port taken in between (the
// tests start many stacks at once) costs a new choice, not the start.
func StartPebble(ctx context.Context, opts PebbleOptions) (*Pebble, error) {
	return retryOnTakenPort(func() (*Pebble, error) { return startPebble(ctx, opts) })
}

func startPebble(ctx context.Context, opts PebbleOptions) (*Pebble, error) {
	bin, err := binary("pebble")
	if err != nil {
		return nil, err
	}
	ca, err := pki.NewCA("certflow sandbox Pebble web CA")
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(opts.Dir, "pebble-web.crt"), filepath.Join(opts.Dir, "pebble-web.key")
	if err := os.WriteFile(certPath, serving.CertPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing Pebble certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, serving.KeyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing Pebble key: %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	const day = 24 * 60 * 60
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":           loopback(ports[0]),
		"managementListenAddress": loopback(ports[1]),
		"httpPort":                ports[2],
		"tlsPort":                 ports[3],
		"certificate":             certPath,
		"privateKey":              keyPath,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": opts.RetryAfterSeconds, "order": opts.RetryAfterSeconds},
		// Let's Encrypt's profiles (DESIGN.md section 9).
		"profiles": map[string]pebbleProfile{
			"classic":    {Description: "90 days", ValidityPeriod: 90 * day},
			"tlsserver":  {Description: "45 days", ValidityPeriod: 45 * day},
			"shortlived": {Description: "160 hours", ValidityPeriod: 160 * 60 * 60},
		},
	}}
	if len(opts.ExternalAccountMACKeys) > 0 {
		pebbleConfig := config["pebble"].(map[string]any)
		pebbleConfig["externalAccountBindingRequired"] = true
		pebbleConfig["externalAccountMACKeys"] = opts.ExternalAccountMACKeys
	}
	configPath := filepath.Join(opts.Dir, "pebble.json")
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding Pebble config: %w", err)
	}
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("writing Pebble config: %w", err)
	}

	env := []string{"PEBBLE_VA_NOSLEEP=1"}
	if opts.NonceRejectPercent != nil {
		env = append(env, "PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(*opts.NonceRejectPercent))
	}
	if opts.AuthzReusePercent != nil {
		env = append(env, "PEBBLE_AUTHZREUSE="+strconv.Itoa(*opts.AuthzReusePercent))
	}
	if opts.AlternateRoots > 0 {
		env = append(env, "PEBBLE_ALTERNATE_ROOTS="+strconv.Itoa(opts.AlternateRoots))
	}
	args := []string{"-config", configPath}
	if opts.DNSServer != "" {
		args = append(args, "-dnsserver", opts.DNSServer)
	}
	proc, err := startProcess("pebble", filepath.Join(opts.Dir, "pebble.log"), env, bin, args...)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	p := &Pebble{
		DirectoryURL:  "https://" + loopback(ports[0]) + "/dir",
		CACertPEM:     ca.CertPEM,
		ManagementURL: "https://" + loopback(ports[1]),
		HTTPPort:      ports[2],
		client:        &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
		proc:          proc,
	}
	if err := proc.waitReady(ctx, func(ctx context.Context) error {
		_, err := p.get(ctx, p.DirectoryURL)
		return err
	}); err != nil {
		_ = proc.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// HTTPClient trusts Pebble's web server certificate.
func (p *Pebble) HTTPClient() *http.Client { return p.client }

// Root returns the PEM root that issued certificates chain to.
func (p *Pebble) Root(ctx context.Context) ([]byte, error) { return p.RootAt(ctx, 0) }

// RootAt returns root i: 0 is the default chain's, the others the
// alternate chains' (AlternateRoots).
func (p *Pebble) RootAt(ctx context.Context, i int) ([]byte, error) {
	return p.get(ctx, p.ManagementURL+"/roots/"+strconv.Itoa(i))
}

func (p *Pebble) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// Stop stops Pebble. Pebble keeps everything in memory: a restart forgets it all.
func (p *Pebble) Stop() error { return p.proc.stop(5 * time.Second) }

// LogPath is Pebble's log file.
func (p *Pebble) LogPath() string { return p.proc.logPath }
