// Command legoproviders writes activities/dns/lego/providers_gen.go: lego's
// DNS providers that certflow includes, by lego's name, each with its
// constructor and the variables lego documents for it, and the providers it
// leaves out, each with the reason; and the same lists for users, in
// docs/lego-providers.md.
//
// It reads lego's own registry (providers/dns/zz_gen_dns_providers.go),
// each provider's description (<name>.toml) and its package's Go source
// from the module cache, at the version in go.mod. A provider is left out
// when its package does not build with the modules go.mod and go.sum
// already hold (go list -mod=readonly; go.mod is never changed), or when it
// may act on the worker's machine: run a program, read a local file, or use
// the worker's own cloud identity. Variables through which an included one
// would are forbidden, and sets of variables it must be given whole are
// required. From the source come the variables its Env constants name,
// which the description may leave out, and whether its CleanUp needs what
// its Present remembered (stateful).
//
// Run it from the module root: go run ./hack/legoproviders
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

const (
	legoModule = "github.com/go-acme/lego/v5"
	output     = "activities/dns/lego/providers_gen.go"
	docOutput  = "docs/lego-providers.md"
)

// unsafe are providers that act on the worker's machine or borrow its
// identity, whatever a Secret says; certflow never builds them.
var unsafe = map[string]string{
	"exec":        "runs a program on the worker",
	"manual":      "waits for a person at the worker's terminal",
	"dnsupdate":   "reads TSIG and Kerberos key files on the worker (use the rfc2136 solver)",
	"acmedns":     "keeps its accounts in a file on the worker (use the acmeDNS solver)",
	"route53":     "falls back to the worker's AWS identity (use the route53 solver)",
	"lightsail":   "falls back to the worker's AWS identity",
	"gcloud":      "reads a service account file, or uses the worker's Google identity (use the cloudDNS solver)",
	"azuredns":    "reads a certificate file, or uses the worker's Azure identity (use the azureDNS solver)",
	"designate":   "reads OpenStack clouds.yaml on the worker",
	"edgedns":     "reads an .edgerc file on the worker",
	"oraclecloud": "reads an OCI configuration and key file on the worker",
	"hyperone":    "reads a passport file on the worker (HYPERONE_PASSPORT_LOCATION, or ~/.h1/passport.json)",
	"ibmcloud":    "reads the worker's ~/.softlayer and SL_* variables (SoftLayer's session)",
}

// forbidden are variables, by provider, through which a Secret would make
// the worker read its files or use its identity; certflow hides them from
// the provider and refuses a Secret that sets them.
var forbidden = map[string]map[string]string{
	"infoblox": {"INFOBLOX_CA_CERTIFICATE": "it is the path of a file on the worker"},
	"alidns":   {"ALICLOUD_RAM_ROLE": "it has the worker use the RAM role of its ECS instance"},
}

// requireOneOf are, by provider, the sets of variables of which a Secret
// must set one whole, for providers that take what is missing from the
// worker.
//
// ovh: go-ovh (v1.9.0) loads its configuration in every constructor lego
// calls (NewClient, NewOAuth2Client, NewAccessTokenClient, and
// NewDefaultClient when no keys are given): each value left empty is taken
// from OVH_* variables or from /etc/ovh.conf, ~/.ovh.conf and ./ovh.conf.
// The endpoint is never empty (lego defaults it to ovh-eu), and the OVH_*
// variables are hidden, so with one whole set of keys from the Secret the
// files can only add another method, which go-ovh refuses ("can't use
// multiple authentication methods"); a part of a set (an application key
// without its consumer key) would be completed with the worker's.
var requireOneOf = map[string][][]string{
	"ovh": {
		{"OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY"},
		{"OVH_CLIENT_ID", "OVH_CLIENT_SECRET"},
		{"OVH_ACCESS_TOKEN"},
	},
}

// provider is one of lego's DNS providers.
type provider struct {
	Names     []string          // lego's name and its aliases
	Package   string            // import path
	Ident     string            // package name
	Variables []string          // documented and allowed, sorted
	Hidden    []string          // read by its package besides Variables, sorted
	Forbidden map[string]string // variables a Secret may not set, and why
	OneOf     [][]string        // sets of variables a Secret must set one of
	Stateful  bool              // its CleanUp needs what its Present remembered
	Forgets   string            // how its CleanUp says it does not remember a record
	Excluded  string            // why certflow leaves it out, "" when included
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "legoproviders:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	providers, err := registry(filepath.Join(dir, "providers", "dns", "zz_gen_dns_providers.go"))
	if err != nil {
		return err
	}
	broken, err := unbuildable(providers)
	if err != nil {
		return err
	}
	for i := range providers {
		p := &providers[i]
		pkgDir := filepath.Join(dir, "providers", "dns", p.Ident)
		if p.Variables, err = variables(filepath.Join(pkgDir, p.Ident+".toml")); err != nil {
			return err
		}
		src, err := readSource(pkgDir)
		if err != nil {
			return err
		}
		if err := restrict(p, src.env); err != nil {
			return err
		}
		p.Stateful, p.Forgets = src.stateful, src.forgets
		p.Excluded = exclusion(*p, broken[p.Package])
	}
	data, err := split(providers)
	if err != nil {
		return err
	}
	var src, doc bytes.Buffer
	if err := generated.Execute(&src, data); err != nil {
		return err
	}
	code, err := format.Source(src.Bytes())
	if err != nil {
		return err
	}
	if err := documented.Execute(&doc, data); err != nil {
		return err
	}
	if err := os.WriteFile(output, code, 0o644); err != nil {
		return err
	}
	return os.WriteFile(docOutput, doc.Bytes(), 0o644)
}

// moduleDir is where the lego module of go.mod is in the module cache.
func moduleDir() (string, error) {
	out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-f", "{{.Dir}}", legoModule).Output()
	if err != nil {
		return "", fmt.Errorf("finding %s in the module cache: %w", legoModule, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// exclusion says why a provider is left out, "" when it is not.
func exclusion(p provider, buildError string) string {
	for _, name := range p.Names {
		if why, ok := unsafe[name]; ok {
			return why
		}
	}
	for _, v := range p.Variables {
		if strings.HasSuffix(v, "_FILE") || strings.HasSuffix(v, "_PATH") {
			return "reads a local file (" + v + ")"
		}
	}
	if buildError != "" {
		return "does not build with certflow's go.mod: " + buildError
	}
	return ""
}

// restrict splits what the package reads (documented, or named by its Env
// constants) into the variables a Secret may set and those only hidden,
// and applies forbidden and requireOneOf, which must name variables it
// reads.
func restrict(p *provider, env []string) error {
	reads := slices.Concat(p.Variables, env)
	slices.Sort(reads)
	reads = slices.Compact(reads)
	for _, name := range p.Names {
		for v, why := range forbidden[name] {
			if !slices.Contains(reads, v) {
				return fmt.Errorf("lego provider %s does not read %s, which forbidden names", name, v)
			}
			if p.Forbidden == nil {
				p.Forbidden = map[string]string{}
			}
			p.Forbidden[v] = why
		}
		for _, set := range requireOneOf[name] {
			for _, v := range set {
				if !slices.Contains(p.Variables, v) {
					return fmt.Errorf("lego provider %s does not document %s, which requireOneOf names", name, v)
				}
			}
			p.OneOf = append(p.OneOf, set)
		}
	}
	p.Variables = slices.DeleteFunc(p.Variables, func(v string) bool { _, ok := p.Forbidden[v]; return ok })
	p.Hidden = slices.DeleteFunc(reads, func(v string) bool { return slices.Contains(p.Variables, v) })
	return nil
}

// unbuildable lists, by import path, the packages that do not build with
// the modules go.mod and go.sum hold, with one error of each.
func unbuildable(providers []provider) (map[string]string, error) {
	args := []string{"list", "-mod=readonly", "-e", "-json=ImportPath,Error,DepsErrors"}
	for _, p := range providers {
		args = append(args, p.Package)
	}
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	type listError struct{ Err string }
	broken := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var pkg struct {
			ImportPath string
			Error      *listError
			DepsErrors []listError
		}
		if err := dec.Decode(&pkg); err != nil {
			return nil, fmt.Errorf("reading go list: %w", err)
		}
		switch {
		case pkg.Error != nil:
			broken[pkg.ImportPath] = firstLine(pkg.Error.Err)
		case len(pkg.DepsErrors) > 0:
			// go list orders them differently from run to run.
			var msgs []string
			for _, e := range pkg.DepsErrors {
				msgs = append(msgs, firstLine(e.Err))
			}
			broken[pkg.ImportPath] = slices.Min(msgs)
		}
	}
	return broken, nil
}

// firstLine keeps what names the missing module: "missing go.sum entry for
// module providing package github.com/ovh/go-ovh/ovh".
func firstLine(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if _, after, ok := strings.Cut(msg, ": "); ok && strings.Contains(msg, ".go:") {
		msg = after
	}
	msg, _, _ = strings.Cut(msg, " (imported")
	return strings.TrimSpace(msg)
}

// variables reads the names under [Configuration.Credentials] and
// [Configuration.Additional] of a provider's description. The files are
// simple TOML: one "NAME = ..." a line, multi-line strings between triple quotes.
func variables(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	inMultiline, inConfig := false, false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.Count(line, "'''")%2 == 1 {
			inMultiline = !inMultiline
			continue
		}
		if inMultiline {
			continue
		}
		if strings.HasPrefix(line, "[") {
			inConfig = line == "[Configuration.Credentials]" || line == "[Configuration.Additional]"
			continue
		}
		if name, _, ok := strings.Cut(line, "="); ok && inConfig {
			names = append(names, strings.TrimSpace(name))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

var generated = template.Must(template.New("").Parse(`// Code generated by hack/legoproviders from lego {{.Version}}; DO NOT EDIT.

package lego

import (
	"github.com/go-acme/lego/v5/challenge"
{{range .Included}}	"{{.Package}}"
{{end}})

// providers are lego's DNS providers in this build, by lego's name (and
// aliases), with the variables lego documents for each.
var providers = map[string]legoProvider{
{{range .Included}}{{$p := .}}{{range .Names}}	"{{.}}": {
		variables: []string{ {{range $p.Variables}}"{{.}}", {{end}} },
{{if $p.Hidden}}		hidden: []string{ {{range $p.Hidden}}"{{.}}", {{end}} },
{{end}}{{if $p.Forbidden}}		forbidden: map[string]string{ {{range $v, $why := $p.Forbidden}}"{{$v}}": {{printf "%q" $why}}, {{end}} },
{{end}}{{if $p.OneOf}}		oneOf: [][]string{ {{range $p.OneOf}}{ {{range .}}"{{.}}", {{end}} }, {{end}} },
{{end}}{{if $p.Stateful}}		stateful: true,
{{end}}{{if $p.Forgets}}		forgets: {{printf "%q" $p.Forgets}},
{{end}}		build: func() (challenge.Provider, error) { return {{$p.Ident}}.NewDNSProvider() },
	},
{{end}}{{end}}}

// excluded are lego's DNS providers left out of this build, and why.
var excluded = map[string]string{
{{range .Excluded}}{{$p := .}}{{range .Names}}	"{{.}}": {{printf "%q" $p.Excluded}},
{{end}}{{end}}}
`))

var documented = template.Must(template.New("").Parse(`<!-- Code generated by hack/legoproviders from lego {{.Version}}; DO NOT EDIT. -->
# lego's DNS providers in certflow

A dns01 solver's ` + "`lego`" + ` section names one of these providers (lego {{.Version}}); its
settings Secret holds the variables listed, as lego documents them at
https://go-acme.github.io/lego/dns/. The worker's own values of the
variables a provider reads are never used.

## Included ({{len .Included}})

| provider | variables | notes |
| --- | --- | --- |
{{range .Included}}| {{range $i, $n := .Names}}{{if $i}}, {{end}}` + "`{{$n}}`" + `{{end}} | {{range $i, $v := .Variables}}{{if $i}}, {{end}}` + "`{{$v}}`" + `{{end}} | {{template "notes" .}} |
{{end}}
## Providers that remember records ({{len .Stateful}})

These providers remove a record with what they remembered when they made
it (its ID, mostly). certflow keeps a provider built with the same
settings for an hour on the worker that built it, so a clean-up on that
worker finds the record. A clean-up on another worker, or after the worker
restarted, cannot: certflow then stops with an error that names the
record, which must be removed by hand.{{if .Silent}} Of them,
` + "{{range $i, $p := .Silent}}{{if $i}}, {{end}}`{{index $p.Names 0}}`{{end}}" + ` do not say that they do not
know a record: their clean-up on another worker leaves it, with no error or
another one.{{end}}

{{range $i, $p := .Stateful}}{{if $i}}, {{end}}` + "`{{index $p.Names 0}}`" + `{{end}}

## Left out ({{len .Excluded}})

| provider | why |
| --- | --- |
{{range .Excluded}}| {{range $i, $n := .Names}}{{if $i}}, {{end}}` + "`{{$n}}`" + `{{end}} | {{.Excluded}} |
{{end}}
{{- define "notes"}}{{$sep := ""}}{{range $v, $why := .Forbidden}}{{$sep}}` + "`{{$v}}`" + ` is refused: {{$why}}{{$sep = "; "}}{{end}}{{if .OneOf}}{{$sep}}the Secret sets all of one of {{range $i, $set := .OneOf}}{{if $i}}, {{end}}{{range $j, $v := $set}}{{if $j}} + {{end}}` + "`{{$v}}`" + `{{end}}{{end}}{{$sep = "; "}}{{end}}{{if .Stateful}}{{$sep}}remembers records (below){{end}}{{end}}`))

// listing is what both templates list.
type listing struct {
	Version            string
	Included, Excluded []provider
	// Stateful are the included providers that remember records, Silent
	// those of them whose CleanUp says nothing of a record it does not know.
	Stateful, Silent []provider
}

// split sorts the providers into those certflow includes and those it
// leaves out.
func split(providers []provider) (listing, error) {
	version, err := exec.Command("go", "list", "-mod=readonly", "-m", "-f", "{{.Version}}", legoModule).Output()
	if err != nil {
		return listing{}, fmt.Errorf("reading the version of %s: %w", legoModule, err)
	}
	data := listing{Version: strings.TrimSpace(string(version))}
	for _, p := range providers {
		if p.Excluded == "" {
			data.Included = append(data.Included, p)
			if p.Stateful {
				data.Stateful = append(data.Stateful, p)
			}
			if p.Stateful && p.Forgets == "" {
				data.Silent = append(data.Silent, p)
			}
		} else {
			data.Excluded = append(data.Excluded, p)
		}
	}
	return data, nil
}
