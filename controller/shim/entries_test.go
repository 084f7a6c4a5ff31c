package shim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// skips collects what the entries skipped, as the Events would say it.
type skips []string

func (s *skips) skip(format string, args ...any) { *s = append(*s, fmt.Sprintf(format, args...)) }

func TestTLSEntries(t *testing.T) {
	for _, c := range []struct {
		name  string
		tls   []networkingv1.IngressTLS
		want  entries
		skips []string // a part of each skip's message
		err   string
	}{
		{name: "each entry is one Certificate named after its Secret",
			tls:  []networkingv1.IngressTLS{{Hosts: []string{"a.example", "b.example"}, SecretName: "ab"}, {Hosts: []string{"c.example"}, SecretName: "c"}},
			want: entries{want: []wanted{{secretName: "ab", hosts: []string{"a.example", "b.example"}}, {secretName: "c", hosts: []string{"c.example"}}}}},
		{name: "an entry without secretName is skipped",
			tls:   []networkingv1.IngressTLS{{Hosts: []string{"a.example"}}, {Hosts: []string{"c.example"}, SecretName: "c"}},
			want:  entries{want: []wanted{{secretName: "c", hosts: []string{"c.example"}}}},
			skips: []string{"spec.tls[0] (hosts a.example): it has no secretName"}},
		{name: "an entry without hosts is skipped and its Certificate kept",
			tls:   []networkingv1.IngressTLS{{SecretName: "a"}},
			want:  entries{keep: []string{"a"}},
			skips: []string{"spec.tls[0] (secretName a): it has no hosts"}},
		{name: "two entries with one secretName refuse the Ingress, as cert-manager does",
			tls: []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "s"}, {Hosts: []string{"b.example"}, SecretName: "s"}},
			err: `spec.tls[1].secretName "s" is also the secretName of spec.tls[0]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s skips
			got, err := tlsEntries(c.tls, s.skip)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("entries %+v, want %+v", got, c.want)
			}
			checkSkips(t, s, c.skips)
		})
	}
}

func TestListenerEntries(t *testing.T) {
	host := func(h string) *gatewayv1.Hostname { v := gatewayv1.Hostname(h); return &v }
	mode := func(m gatewayv1.TLSModeType) *gatewayv1.TLSModeType { return &m }
	group := func(g string) *gatewayv1.Group { v := gatewayv1.Group(g); return &v }
	kind := func(k string) *gatewayv1.Kind { v := gatewayv1.Kind(k); return &v }
	ns := func(n string) *gatewayv1.Namespace { v := gatewayv1.Namespace(n); return &v }
	tls := func(m *gatewayv1.TLSModeType, refs ...gatewayv1.SecretObjectReference) *gatewayv1.ListenerTLSConfig {
		return &gatewayv1.ListenerTLSConfig{Mode: m, CertificateRefs: refs}
	}
	secret := func(name string) gatewayv1.SecretObjectReference {
		return gatewayv1.SecretObjectReference{Name: gatewayv1.ObjectName(name)}
	}
	for _, c := range []struct {
		name      string
		listeners []gatewayv1.Listener
		want      entries
		skips     []string
	}{
		{name: "listeners naming one Secret share its Certificate",
			listeners: []gatewayv1.Listener{
				{Name: "a", Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("a.example"), TLS: tls(mode(gatewayv1.TLSModeTerminate), secret("shared"))},
				{Name: "b", Protocol: gatewayv1.TLSProtocolType, Hostname: host("b.example"), TLS: tls(nil, secret("shared"), secret("b"))},
				{Name: "a-again", Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("a.example"), Port: 8443, TLS: tls(nil, secret("shared"))},
			},
			want: entries{want: []wanted{{secretName: "shared", hosts: []string{"a.example", "b.example", "a.example"}}, {secretName: "b", hosts: []string{"b.example"}}}}},
		{name: "HTTP and passthrough listeners need no Certificate",
			listeners: []gatewayv1.Listener{
				{Name: "http", Protocol: gatewayv1.HTTPProtocolType, Hostname: host("a.example")},
				{Name: "pass", Protocol: gatewayv1.TLSProtocolType, Hostname: host("a.example"), TLS: tls(mode(gatewayv1.TLSModePassthrough))},
			}},
		{name: "a listener without hostname is skipped and its Certificates kept",
			listeners: []gatewayv1.Listener{{Name: "any", Protocol: gatewayv1.HTTPSProtocolType, TLS: tls(nil, secret("s"))}},
			want:      entries{keep: []string{"s"}},
			skips:     []string{"listener any (spec.listeners[0]): it has no hostname"}},
		{name: "references to other kinds and namespaces are skipped",
			listeners: []gatewayv1.Listener{{Name: "web", Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("w.example"), TLS: tls(nil,
				gatewayv1.SecretObjectReference{Name: "cm", Kind: kind("ConfigMap")},
				gatewayv1.SecretObjectReference{Name: "x", Group: group("example.com"), Kind: kind("Secret")},
				gatewayv1.SecretObjectReference{Name: "far", Namespace: ns("other")},
				gatewayv1.SecretObjectReference{Name: "near", Namespace: ns("here"), Group: group("core")},
			)}},
			want: entries{want: []wanted{{secretName: "near", hosts: []string{"w.example"}}}},
			skips: []string{"certificateRefs[0] (ConfigMap cm)", "certificateRefs[1] (Secret.example.com x)",
				"certificateRefs[2] (Secret other/far): certflow writes Secrets in the Gateway's namespace only"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s skips
			got := listenerEntries("here", c.listeners, s.skip)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("entries %+v, want %+v", got, c.want)
			}
			checkSkips(t, s, c.skips)
		})
	}
}

func TestSplitHosts(t *testing.T) {
	dns, ips := splitHosts([]string{"b.example", "192.0.2.1", "a.example", "b.example", "2001:db8::1"})
	if !reflect.DeepEqual(dns, []string{"b.example", "a.example"}) || !reflect.DeepEqual(ips, []string{"192.0.2.1", "2001:db8::1"}) {
		t.Errorf("dnsNames %v, ipAddresses %v", dns, ips)
	}
}

func checkSkips(t *testing.T, got skips, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("skipped %q, want %d skips", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("skip %d says %q, want %q in it", i, got[i], w)
		}
	}
}
