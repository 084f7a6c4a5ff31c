package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/miekg/dns"
)

// BINDOptions configures StartBIND.
type BINDOptions struct {
	// Dir receives named.conf, the zone file, its journal and named.log.
	Dir string
	// Zone is the zone BIND is authoritative for; default "certflow.test".
	Zone string
	// Records are added to the zone file as they are, one per line
	// ("_acme-challenge.alias IN CNAME _acme-challenge.target").
	Records []string
	// MoreZones are served too, with the same key and no records of their
	// own ("delegated.test"): the target zones of CNAME delegation.
	MoreZones []string
}

// BIND is a running BIND 9 authoritative for its zones, accepting RFC 2136
// updates of TXT records signed with one TSIG key.
type BIND struct {
	// Addr is the server's 127.0.0.1:port, for UDP and TCP.
	Addr string
	// Zone is the zone apex without the trailing dot ("certflow.test").
	Zone string
	// TSIGKeyName, TSIGAlgorithm and TSIGSecret (base64) sign updates.
	TSIGKeyName   string
	TSIGAlgorithm string
	TSIGSecret    string

	bin, conf string
	proc      *process
}

const namedConf = `options {
	directory "{{.Dir}}";
	pid-file "{{.Dir}}/named.pid";
	session-keyfile "{{.Dir}}/session.key";
	managed-keys-directory "{{.Dir}}";
	dump-file "{{.Dir}}/named_dump.db";
	statistics-file "{{.Dir}}/named.stats";
	listen-on port {{.Port}} { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-query { any; };
	notify no;
};
controls { };
key "{{.KeyName}}" {
	algorithm {{.Algorithm}};
	secret "{{.Secret}}";
};
{{range .Zones}}zone "{{.}}" {
	type primary;
	file "{{$.Dir}}/{{.}}.zone";
	journal "{{$.Dir}}/{{.}}.zone.jnl";
	update-policy { grant {{$.KeyName}} zonesub TXT CNAME; };
};
{{end}}`

// The zone resolves every name to 127.0.0.1, so HTTP-01 validation and the
// certificates' names reach servers on this machine.
const zoneFile = `$TTL 60
@	IN SOA ns1.{{.Zone}}. hostmaster.{{.Zone}}. ( 1 60 60 86400 60 )
@	IN NS ns1.{{.Zone}}.
@	IN A 127.0.0.1
ns1	IN A 127.0.0.1
*	IN A 127.0.0.1
{{range .Records}}{{.}}
{{end}}`

// StartBIND starts named on a free loopback port and waits until it answers
// SOA. A port taken in between costs a new choice, not the start.
func StartBIND(ctx context.Context, opts BINDOptions) (*BIND, error) {
	bin, err := systemBinary("named", "/usr/sbin")
	if err != nil {
		return nil, err
	}
	if opts.Zone == "" {
		opts.Zone = "certflow.test"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", opts.Dir, err)
	}
	return retryOnTakenPort(func() (*BIND, error) { return startBIND(ctx, bin, dir, opts) })
}

func startBIND(ctx context.Context, bin, dir string, opts BINDOptions) (*BIND, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating TSIG secret: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &BIND{
		bin:           bin,
		conf:          filepath.Join(dir, "named.conf"),
		Addr:          loopback(port),
		Zone:          strings.TrimSuffix(opts.Zone, "."),
		TSIGKeyName:   "certflow-sandbox",
		TSIGAlgorithm: "hmac-sha256",
		TSIGSecret:    base64.StdEncoding.EncodeToString(secret),
	}
	zones := []string{b.Zone}
	for _, z := range opts.MoreZones {
		zones = append(zones, strings.TrimSuffix(z, "."))
	}
	conf := map[string]any{
		"Dir": dir, "Port": port, "Zones": zones,
		"KeyName": b.TSIGKeyName, "Algorithm": b.TSIGAlgorithm, "Secret": b.TSIGSecret,
	}
	if err := writeTemplate(b.conf, namedConf, conf); err != nil {
		return nil, err
	}
	for _, z := range zones {
		zone := map[string]any{"Zone": z}
		if z == b.Zone {
			zone["Records"] = opts.Records
		}
		if err := writeTemplate(filepath.Join(dir, z+".zone"), zoneFile, zone); err != nil {
			return nil, err
		}
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Start runs named with the configuration StartBIND wrote and waits until it
// answers SOA. After a Stop it starts the same server again: the same port,
// key and zone, with the records added by dynamic update before the stop
// (named wrote each to the zone's journal before it answered the update, and
// replays the journal when it loads the zone).
func (b *BIND) Start(ctx context.Context) error {
	// -g: foreground, log to stderr; -4: IPv4 only; -n 1: one worker, plenty for tests.
	proc, err := startProcess("named", filepath.Join(filepath.Dir(b.conf), "named.log"), nil, b.bin, "-g", "-4", "-n", "1", "-c", b.conf)
	if err != nil {
		return err
	}
	b.proc = proc
	if err := proc.waitReady(ctx, b.answersSOA); err != nil {
		_ = proc.stop(5 * time.Second)
		return err
	}
	return nil
}

func (b *BIND) answersSOA(ctx context.Context) error {
	msg := new(dns.Msg)
	msg.SetQuestion(dns.Fqdn(b.Zone), dns.TypeSOA)
	resp, _, err := new(dns.Client).ExchangeContext(ctx, msg, b.Addr)
	if err != nil {
		return err
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
		return fmt.Errorf("SOA %s: %s with %d answers", b.Zone, dns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	return nil
}

// TSIGKeyFQDN is the key name as it appears in DNS messages (with the trailing dot).
func (b *BIND) TSIGKeyFQDN() string { return dns.Fqdn(b.TSIGKeyName) }

// Stop stops named with SIGTERM, which lets it finish writing the zone's
// journal; Start runs it again.
func (b *BIND) Stop() error { return b.proc.stop(5 * time.Second) }

// LogPath is named's log file.
func (b *BIND) LogPath() string { return b.proc.logPath }

func writeTemplate(path, text string, values any) error {
	var sb strings.Builder
	if err := template.Must(template.New(filepath.Base(path)).Parse(text)).Execute(&sb, values); err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
