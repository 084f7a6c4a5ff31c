package tests

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/sandbox"
)

// The history scan enforces DESIGN.md section 5: no private key, TSIG secret,
// EAB HMAC or keystore password of the cluster may be in a workflow's history. Every world runs
// it when its test ends (newWorldWith), over every history of every Temporal
// namespace. A secret can reach history through any serializer, so the scan
// looks for each one in every encoding a serializer could produce: the
// numbers of a key as bytes, base64, hex and decimal (encoding/json writes a
// *big.Int as a number), bytes as a list of decimal numbers (encoding/json
// writes a [32]byte so, fmt's %v a []byte), the key as PKCS#1, PKCS#8 and
// SEC 1 DER, and PEM. history_scan_selfcheck_test.go proves each detector.

// minNeedle is the length of the shortest encoding looked for: a shorter one
// (the hex of a few bytes) could turn up by chance in unrelated data.
const minNeedle = 16

// needle is one encoding of one secret.
type needle struct {
	// what is the secret: "the private key in Secret certflow/pebble-account tls.key".
	what string
	// form is its encoding: "RSA D, decimal".
	form string
	data []byte
}

// needles finds many needles in one pass over a haystack: every needle is at
// least minNeedle bytes, so each position is looked up by the minNeedle
// bytes there (lead filters most positions out with their first two bytes).
type needles struct {
	list     []needle
	seen     map[string]bool
	lead     []bool // by the first two bytes of a needle, 1<<16 long
	byPrefix map[[minNeedle]byte][]int
}

func newNeedles() *needles {
	return &needles{seen: map[string]bool{}, lead: make([]bool, 1<<16), byPrefix: map[[minNeedle]byte][]int{}}
}

// add adds a needle, unless it is too short or its bytes are a needle already.
func (n *needles) add(what, form string, data []byte) {
	if len(data) < minNeedle || n.seen[string(data)] {
		return
	}
	n.seen[string(data)] = true
	n.list = append(n.list, needle{what: what, form: form, data: bytes.Clone(data)})
	n.lead[int(data[0])<<8|int(data[1])] = true
	prefix := [minNeedle]byte(data)
	n.byPrefix[prefix] = append(n.byPrefix[prefix], len(n.list)-1)
}

// find returns the needles in haystack.
func (n *needles) find(haystack []byte) []needle {
	var hits []int
	for i := 0; i+minNeedle <= len(haystack); i++ {
		if !n.lead[int(haystack[i])<<8|int(haystack[i+1])] {
			continue
		}
		for _, id := range n.byPrefix[[minNeedle]byte(haystack[i:])] {
			if bytes.HasPrefix(haystack[i:], n.list[id].data) && !slices.Contains(hits, id) {
				hits = append(hits, id)
			}
		}
	}
	found := make([]needle, len(hits))
	for i, id := range hits {
		found[i] = n.list[id]
	}
	return found
}

// addBytes adds a secret byte string as itself, in hex (lower and upper case),
// in base64, standard and URL alphabet, and as a list of decimal numbers
// (encoding/json writes a [32]byte as [1,2], fmt's %v writes a []byte or an
// ed25519.PrivateKey as [1 2]). The base64 needles are the encoding of the
// bytes from each of the first three offsets, cut to whole groups of 4:
// whatever the bytes' offset in a longer encoded value, and with or without
// padding, one of them is part of its base64.
func (n *needles) addBytes(what, form string, b []byte) {
	n.add(what, form+", raw", b)
	n.add(what, form+", hex", []byte(hex.EncodeToString(b)))
	n.add(what, form+", HEX", []byte(strings.ToUpper(hex.EncodeToString(b))))
	for _, sep := range []string{",", " ", ", "} {
		n.add(what, form+", decimal bytes [1"+sep+"2]", decimalBytes(b, sep))
	}
	for _, alphabet := range []struct {
		name string
		enc  *base64.Encoding
	}{{"std", base64.StdEncoding}, {"URL", base64.URLEncoding}} {
		for shift := 0; shift < 3 && shift < len(b); shift++ {
			rest := b[shift:]
			n.add(what, form+", base64 ("+alphabet.name+")", []byte(alphabet.enc.EncodeToString(rest[:len(rest)/3*3])))
		}
	}
}

// decimalBytes is b as decimal numbers joined by sep, without brackets: the
// bytes may be part of a longer list.
func decimalBytes(b []byte, sep string) []byte {
	out := make([]byte, 0, len(b)*(3+len(sep)))
	for i, c := range b {
		if i > 0 {
			out = append(out, sep...)
		}
		out = strconv.AppendUint(out, uint64(c), 10)
	}
	return out
}

// addNumber adds a secret integer as its big-endian bytes (addBytes; the
// bytes without leading zeros are part of any fixed-width encoding), as hex
// without leading zeros (big.Int.Text) and as decimal (what encoding/json
// writes for a *big.Int).
func (n *needles) addNumber(what, form string, x *big.Int) {
	if x == nil || x.Sign() == 0 {
		return
	}
	n.addBytes(what, form, x.Bytes())
	n.add(what, form+", hex", []byte(x.Text(16)))
	n.add(what, form+", HEX", []byte(strings.ToUpper(x.Text(16))))
	n.add(what, form+", decimal", []byte(x.String()))
}

// pemMarkers are the first lines of the PEM blocks certflow stores keys in
// (pki.EncodeKey).
var pemMarkers = []string{"-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----"}

// addPEMMarkers adds the first line of every PEM private key block, whoever's
// key follows it.
func (n *needles) addPEMMarkers() {
	for _, m := range pemMarkers {
		n.addBytes("a PEM private key", "header "+strings.Trim(m, "-"), []byte(m))
	}
}

// addKey adds the secret numbers of a private key and the key in each DER
// encoding, raw and base64, and the lines of the PEM of each: a PEM without
// its header has a line break every 64 characters, which no longer needle
// spans. The lines that hold only public data are left out: the CSR and the
// certificate in history hold the public key.
func (n *needles) addKey(what string, key crypto.PrivateKey) error {
	var (
		ders   = map[string][]byte{}
		public crypto.PublicKey
		err    error
	)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		n.addNumber(what, "RSA D", k.D)
		for i, p := range k.Primes {
			n.addNumber(what, fmt.Sprintf("RSA prime %d", i+1), p)
		}
		n.addNumber(what, "RSA Dp", k.Precomputed.Dp)
		n.addNumber(what, "RSA Dq", k.Precomputed.Dq)
		n.addNumber(what, "RSA Qinv", k.Precomputed.Qinv)
		ders["PKCS#1"] = x509.MarshalPKCS1PrivateKey(k)
		public = &k.PublicKey
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			return fmt.Errorf("encoding the ECDSA scalar: %w", err)
		}
		n.addNumber(what, "ECDSA D", new(big.Int).SetBytes(d))
		if ders["SEC 1"], err = x509.MarshalECPrivateKey(k); err != nil {
			return err
		}
		public = &k.PublicKey
	case ed25519.PrivateKey:
		n.addBytes(what, "Ed25519 seed", k.Seed())
		public = k.Public()
	default:
		return fmt.Errorf("unsupported private key type %T", key)
	}
	if ders["PKCS#8"], err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return err
	}
	publicDER, err := x509.MarshalPKIXPublicKey(public)
	if err != nil {
		return err
	}
	for _, form := range []string{"PKCS#1", "PKCS#8", "SEC 1"} {
		der, ok := ders[form]
		if !ok {
			continue
		}
		n.addDER(what, form, der, publicDER)
	}
	return nil
}

// addDER adds a DER private key (addBytes) and the 64-character lines of its
// PEM body that hold some secret data (not only bytes of publicDER), each as
// text and encoded again (addBytes): a Secret marshalled with encoding/json
// holds its PEM in base64.
func (n *needles) addDER(what, form string, der, publicDER []byte) {
	n.addBytes(what, form+" DER", der)
	for off := 0; off+48 <= len(der); off += 48 {
		if chunk := der[off : off+48]; !bytes.Contains(publicDER, chunk) {
			n.addBytes(what, form+" PEM line", []byte(base64.StdEncoding.EncodeToString(chunk)))
		}
	}
}

// addSecretValue adds a credential from a Secret as it is stored (TSIG
// secrets and EAB HMACs are stored as base64) and, when it decodes, the bytes
// it stands for.
func (n *needles) addSecretValue(what string, value []byte) {
	value = bytes.TrimSpace(value)
	n.addBytes(what, "as stored", value)
	s := strings.TrimRight(string(value), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if decoded, err := enc.DecodeString(s); err == nil {
			n.addBytes(what, "decoded", decoded)
			return
		}
	}
}

// issuerAt is an issuer's spec and the namespace of the Secrets it names.
type issuerAt struct {
	name      string // "ClusterIssuer pebble"
	namespace string
	spec      certflowv1.IssuerSpec
}

// secretsSeen says what secretNeedles found to look for.
type secretsSeen struct {
	keys, credentials int
	// unparsed names the key blocks that did not parse (their DER is looked for as stored).
	unparsed []string
}

// secretNeedles are the needles of the PEM markers, of every private key in
// the Secrets (blocks of the types pki.EncodeKey writes), of tsigSecret (the
// stack's), and of the TSIG secrets and EAB HMACs the issuers name.
func secretNeedles(secrets []corev1.Secret, issuers []issuerAt, tsigSecret string) (*needles, secretsSeen) {
	n, seen := newNeedles(), secretsSeen{}
	n.addPEMMarkers()
	keys := map[string]bool{} // by PKCS#8 DER: a key in two Secrets is added once
	for _, s := range secrets {
		for _, entry := range slices.Sorted(maps.Keys(s.Data)) {
			for rest := s.Data[entry]; ; {
				var block *pem.Block
				if block, rest = pem.Decode(rest); block == nil {
					break
				}
				what := fmt.Sprintf("the private key in Secret %s/%s %s", s.Namespace, s.Name, entry)
				key, err := parsePrivateKeyBlock(block)
				if err != nil {
					seen.unparsed = append(seen.unparsed, fmt.Sprintf("%s (%v)", what, err))
					n.addBytes(what, block.Type+" DER as stored", block.Bytes)
					continue
				}
				if key == nil {
					if strings.Contains(block.Type, "PRIVATE KEY") {
						seen.unparsed = append(seen.unparsed, fmt.Sprintf("%s (a %s block)", what, block.Type))
						n.addBytes(what, block.Type+" DER as stored", block.Bytes)
					}
					continue
				}
				pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
				if err != nil || keys[string(pkcs8)] {
					continue
				}
				keys[string(pkcs8)] = true
				if err := n.addKey(what, key); err != nil {
					seen.unparsed = append(seen.unparsed, fmt.Sprintf("%s (%v)", what, err))
					continue
				}
				seen.keys++
			}
		}
	}
	if tsigSecret != "" {
		n.addSecretValue("the stack's TSIG secret", []byte(tsigSecret))
		seen.credentials++
	}
	for _, iss := range issuers {
		refs := map[string]*certflowv1.SecretKeySelector{}
		if v := iss.spec.Vault; v != nil {
			if a := v.Auth; a.TokenSecretRef != nil {
				refs["Vault token"] = a.TokenSecretRef
			} else if a.AppRole != nil {
				refs["Vault AppRole secret ID"] = &a.AppRole.SecretRef
			} else if a.Kubernetes != nil && a.Kubernetes.SecretRef != nil {
				refs["Vault Kubernetes JWT"] = a.Kubernetes.SecretRef
			}
		}
		if iss.spec.ACME == nil {
			addRefs(n, &seen, secrets, iss, refs)
			continue
		}
		if eab := iss.spec.ACME.ExternalAccountBinding; eab != nil {
			refs["EAB HMAC"] = &eab.Key
		}
		for i, solver := range iss.spec.ACME.Solvers {
			if solver.DNS01 == nil {
				continue
			}
			for path, ref := range solverSecretRefs(reflect.ValueOf(*solver.DNS01), "dns01") {
				refs[fmt.Sprintf("%s of solver %d", path, i)] = ref
			}
		}
		addRefs(n, &seen, secrets, iss, refs)
	}
	return n, seen
}

// addRefs adds the Secret entries an issuer's references name (every entry
// of the Secret when a reference names no key), by label.
func addRefs(n *needles, seen *secretsSeen, secrets []corev1.Secret, iss issuerAt, refs map[string]*certflowv1.SecretKeySelector) {
	for _, label := range slices.Sorted(maps.Keys(refs)) {
		ref := refs[label]
		for _, s := range secrets {
			if s.Namespace != iss.namespace || s.Name != ref.Name {
				continue
			}
			for entry, value := range s.Data {
				if ref.Key == "" || ref.Key == entry {
					n.addSecretValue(fmt.Sprintf("the %s of %s (Secret %s/%s %s)", label, iss.name, s.Namespace, s.Name, entry), value)
					seen.credentials++
				}
			}
		}
	}
}

// addKeystorePasswords adds the password of every keystore the Certificates
// ask for: written in the Certificate (spec.keystores.*.password) or in the
// entry of a Secret of its namespace that passwordSecretRef names. Each as
// the bytes the keystore is encrypted with (addBytes), whatever they look
// like. It returns how many it added. A password shorter than minNeedle
// could turn up by chance and is not looked for: the tests' are longer.
func (n *needles) addKeystorePasswords(secrets []corev1.Secret, certs []certflowv1.Certificate) int {
	added := 0
	for _, c := range certs {
		ks := c.Spec.Keystores
		if ks == nil {
			continue
		}
		type source struct {
			kind   string
			ref    *certflowv1.KeystorePasswordSecretRef
			inline *string
		}
		var sources []source
		if ks.PKCS12 != nil {
			sources = append(sources, source{"pkcs12", ks.PKCS12.PasswordSecretRef, ks.PKCS12.Password})
		}
		if ks.JKS != nil {
			sources = append(sources, source{"jks", ks.JKS.PasswordSecretRef, ks.JKS.Password})
		}
		for _, src := range sources {
			what := fmt.Sprintf("the %s keystore password of Certificate %s/%s", src.kind, c.Namespace, c.Name)
			if src.inline != nil && *src.inline != "" {
				n.addBytes(what+" (inline)", "as written", []byte(*src.inline))
				added++
			}
			if src.ref == nil {
				continue
			}
			for _, s := range secrets {
				if value := s.Data[src.ref.Key]; s.Namespace == c.Namespace && s.Name == src.ref.Name && len(value) > 0 {
					n.addBytes(fmt.Sprintf("%s (Secret %s/%s %s)", what, s.Namespace, s.Name, src.ref.Key), "as stored", value)
					added++
				}
			}
		}
	}
	return added
}

// parsePrivateKeyBlock parses a PEM block of a type pki.EncodeKey writes; a
// block of another type is nil, no error.
func parsePrivateKeyBlock(block *pem.Block) (crypto.PrivateKey, error) {
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	return nil, nil
}

// payloadOpener opens encrypted payloads with the key rings found in Secrets
// (what certflow's --payload-key-secret reads): a secret inside a payload is
// in its plaintext, and the ciphertext alone shows nothing.
type payloadOpener struct {
	codecs []*codec.Codec
}

// newPayloadOpener makes a codec of every Secret entry that reads as a key file.
func newPayloadOpener(secrets []corev1.Secret) *payloadOpener {
	o := &payloadOpener{}
	for _, s := range secrets {
		for entry, value := range s.Data {
			keys, err := codec.ParseKeys(value)
			if err != nil {
				continue
			}
			if c, err := codec.New(keys, "Secret "+s.Namespace+"/"+s.Name+" "+entry); err == nil {
				o.codecs = append(o.codecs, c)
			}
		}
	}
	return o
}

// open is the payload's data, decrypted when it is encrypted; sealed when no
// key ring opens it (its ciphertext is returned).
func (o *payloadOpener) open(p *commonpb.Payload) (data []byte, sealed bool) {
	if !codec.IsEncrypted(p) {
		return p.Data, false
	}
	if o != nil {
		for _, c := range o.codecs {
			if opened, err := c.Decode([]*commonpb.Payload{p}); err == nil {
				return opened[0].Data, false
			}
		}
	}
	return p.Data, true
}

// finding is a needle found in an event.
type finding struct {
	// where is "the event" (its protojson) or the path of a payload in it.
	where string
	needle
}

// eventScan is what scanEvent found in one event.
type eventScan struct {
	findings []finding
	// payloads counts the event's payloads; opened those decrypted, sealed
	// those encrypted with a key no Secret holds (their ciphertext is scanned).
	payloads, opened, sealed int
}

// scanEvent looks for the needles in the event as protojson and in the data
// of every payload in it, decrypted by opener when encrypted.
func (n *needles) scanEvent(ev *historypb.HistoryEvent, opener *payloadOpener) (eventScan, error) {
	var scan eventScan
	raw, err := protojson.Marshal(ev)
	if err != nil {
		return scan, fmt.Errorf("rendering event %d as JSON: %w", ev.EventId, err)
	}
	for _, nd := range n.find(raw) {
		scan.findings = append(scan.findings, finding{where: "the event", needle: nd})
	}
	eachPayload(ev.ProtoReflect(), "", func(path string, p *commonpb.Payload) {
		scan.payloads++
		data, sealed := opener.open(p)
		switch {
		case sealed:
			scan.sealed++
		case codec.IsEncrypted(p):
			scan.opened++
		}
		for _, nd := range n.find(data) {
			scan.findings = append(scan.findings, finding{where: "payload " + path, needle: nd})
		}
	})
	return scan, nil
}

// report is one line per secret found in the event: the encodings it was
// found in and where.
func (s eventScan) report() []string {
	forms, wheres := map[string][]string{}, map[string][]string{}
	var whats []string
	for _, f := range s.findings {
		if !slices.Contains(whats, f.what) {
			whats = append(whats, f.what)
		}
		if !slices.Contains(forms[f.what], f.form) {
			forms[f.what] = append(forms[f.what], f.form)
		}
		if !slices.Contains(wheres[f.what], f.where) {
			wheres[f.what] = append(wheres[f.what], f.where)
		}
	}
	var lines []string
	for _, what := range whats {
		lines = append(lines, fmt.Sprintf("%s (as %s) in %s", what, strings.Join(forms[what], "; "), strings.Join(wheres[what], ", ")))
	}
	return lines
}

// assertNoSecretsInHistories reads the history of every workflow in every
// namespace of the test's Temporal (but the server's own, temporal-system)
// and fails when one holds a secret of the cluster (secretNeedles).
func (w *world) assertNoSecretsInHistories(t *testing.T) {
	t.Helper()
	var secrets corev1.SecretList
	if err := w.kube.List(w.ctx, &secrets); err != nil {
		t.Fatalf("listing Secrets for the history scan: %v", err)
	}
	var issuers []issuerAt
	var cis certflowv1.ClusterIssuerList
	if err := w.kube.List(w.ctx, &cis); err != nil {
		t.Fatalf("listing ClusterIssuers for the history scan: %v", err)
	}
	for _, ci := range cis.Items {
		issuers = append(issuers, issuerAt{name: "ClusterIssuer " + ci.Name, namespace: sandbox.ClusterResourceNamespace, spec: ci.Spec})
	}
	var iss certflowv1.IssuerList
	if err := w.kube.List(w.ctx, &iss); err != nil {
		t.Fatalf("listing Issuers for the history scan: %v", err)
	}
	for _, is := range iss.Items {
		issuers = append(issuers, issuerAt{name: "Issuer " + is.Namespace + "/" + is.Name, namespace: is.Namespace, spec: is.Spec})
	}
	n, seen := secretNeedles(secrets.Items, issuers, w.stack.BIND.TSIGSecret)
	var certs certflowv1.CertificateList
	if err := w.kube.List(w.ctx, &certs); err != nil {
		t.Fatalf("listing Certificates for the history scan: %v", err)
	}
	seen.credentials += n.addKeystorePasswords(secrets.Items, certs.Items)
	for _, what := range slices.Sorted(maps.Keys(w.credentials)) {
		n.addSecretValue(what, w.credentials[what])
		seen.credentials++
	}
	for _, u := range seen.unparsed {
		t.Logf("history scan: %s: looking for its DER as stored only", u)
	}
	opener := newPayloadOpener(secrets.Items)

	svc := w.temporal.WorkflowService()
	var namespaces []string
	for token := []byte(nil); ; {
		resp, err := svc.ListNamespaces(w.ctx, &workflowservice.ListNamespacesRequest{NextPageToken: token})
		if err != nil {
			t.Fatalf("listing Temporal namespaces: %v", err)
		}
		for _, d := range resp.Namespaces {
			if name := d.GetNamespaceInfo().GetName(); name != "temporal-system" {
				namespaces = append(namespaces, name)
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	executions, events := 0, 0
	var total eventScan
	for _, ns := range namespaces {
		for token := []byte(nil); ; {
			resp, err := svc.ListWorkflowExecutions(w.ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, NextPageToken: token})
			if err != nil {
				t.Fatalf("listing workflows in Temporal namespace %s: %v", ns, err)
			}
			for _, ex := range resp.Executions {
				executions++
				for page := []byte(nil); ; {
					h, err := svc.GetWorkflowExecutionHistory(w.ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
						Namespace: ns, Execution: ex.Execution, NextPageToken: page,
					})
					if err != nil {
						t.Fatalf("reading the history of %s run %s: %v", ex.Execution.WorkflowId, ex.Execution.RunId, err)
					}
					for _, ev := range h.GetHistory().GetEvents() {
						events++
						scan, err := n.scanEvent(ev, opener)
						if err != nil {
							t.Fatal(err)
						}
						total.payloads, total.opened, total.sealed = total.payloads+scan.payloads, total.opened+scan.opened, total.sealed+scan.sealed
						for _, line := range scan.report() {
							t.Errorf("Temporal namespace %s, workflow %s run %s, event %d (%s) holds %s",
								ns, ex.Execution.WorkflowId, ex.Execution.RunId, ev.EventId, ev.EventType, line)
						}
					}
					if page = h.NextPageToken; len(page) == 0 {
						break
					}
				}
			}
			if token = resp.NextPageToken; len(token) == 0 {
				break
			}
		}
	}
	if executions == 0 || events == 0 || seen.keys == 0 || seen.credentials == 0 {
		t.Fatalf("history scan: %d executions, %d events, %d private keys, %d credentials: it saw nothing to check", executions, events, seen.keys, seen.credentials)
	}
	t.Logf("history scan: %d events of %d executions in Temporal namespaces %v, %d payloads (%d decrypted with a key ring from a Secret), for %d encodings of %d private keys and %d credentials",
		events, executions, namespaces, total.payloads, total.opened, len(n.list), seen.keys, seen.credentials)
	if total.sealed > 0 {
		t.Logf("history scan: %d encrypted payloads open with no key ring in the cluster's Secrets: only their ciphertext was scanned", total.sealed)
	}
}

// solverSecretRefs finds every Secret a DNS provider's section refers to, by
// its field path: the SecretKeySelectors (TSIG secrets, API tokens, keys),
// and the Secrets whose every entry is a setting (lego's settingsSecretRef,
// as a selector without a key).
func solverSecretRefs(v reflect.Value, path string) map[string]*certflowv1.SecretKeySelector {
	refs := map[string]*certflowv1.SecretKeySelector{}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			maps.Copy(refs, solverSecretRefs(v.Elem(), path))
		}
	case reflect.Struct:
		switch ref := v.Interface().(type) {
		case certflowv1.SecretKeySelector:
			refs[path] = &ref
			return refs
		case certflowv1.LocalObjectReference:
			if strings.HasSuffix(path, "SecretRef") {
				refs[path] = &certflowv1.SecretKeySelector{LocalObjectReference: ref}
			}
			return refs
		}
		for i := range v.NumField() {
			field := v.Type().Field(i)
			if field.IsExported() {
				name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
				maps.Copy(refs, solverSecretRefs(v.Field(i), path+"."+name))
			}
		}
	}
	return refs
}
