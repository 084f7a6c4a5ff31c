// Command legoproviders writes activities/dns/lego/providers_gen.go: lego's
// DNS providers that certflow includes, by lego's name, each with its
// constructor and the variables lego documents for it, and the providers it
// leaves out, each with the reason; and the same lists for users, in
// docs/lego-providers.md.
//
// It reads lego's own registry (providers/dns/zz_gen_dns_providers.go) and
// each provider's description (<name>.toml) from the module cache, at the
// version in go.mod. A provider is left out when its package does not build
// with the modules go.mod and go.sum already hold (go list -mod=readonly;
// go.mod is never changed), or when it may act on the worker's machine:
// run a program, read a local file, or use the worker's own cloud identity.
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
}

// provider is one of lego's DNS providers.
type provider struct {
	Names     []string // lego's name and its aliases
	Package   string   // import path
	Ident     string   // package name
	Variables []string // documented, sorted
	Excluded  string   // why certflow leaves it out, "" when included
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
		if p.Variables, err = variables(filepath.Join(dir, "providers", "dns", p.Ident, p.Ident+".toml")); err != nil {
			return err
		}
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
		build: func() (challenge.Provider, error) { return {{$p.Ident}}.NewDNSProvider() },
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
https://go-acme.github.io/lego/dns/.

## Included ({{len .Included}})

| provider | variables |
| --- | --- |
{{range .Included}}| {{range $i, $n := .Names}}{{if $i}}, {{end}}` + "`{{$n}}`" + `{{end}} | {{range $i, $v := .Variables}}{{if $i}}, {{end}}` + "`{{$v}}`" + `{{end}} |
{{end}}
## Left out ({{len .Excluded}})

| provider | why |
| --- | --- |
{{range .Excluded}}| {{range $i, $n := .Names}}{{if $i}}, {{end}}` + "`{{$n}}`" + `{{end}} | {{.Excluded}} |
{{end}}`))

// listing is what both templates list.
type listing struct {
	Version            string
	Included, Excluded []provider
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
		} else {
			data.Excluded = append(data.Excluded, p)
		}
	}
	return data, nil
}
