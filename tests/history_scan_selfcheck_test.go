package tests

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

// The self-check proves each detector of the history scan without a stack:
// it stores keys and credentials in Secrets as certflow does, plants each in
// a history event in an encoding a serializer could produce, and asserts that
// scanEvent finds it, by the detector meant to find it; and that events of
// public data only (a CSR, a chain, a public key) find nothing. A scan that
// found nothing in a real history proves little without it.

// storedKey is a private key as certflow stores it in a Certificate's Secret.
type storedKey struct {
	name string // "an RSA 2048 key stored as PKCS1"
	key  crypto.Signer
	pem  []byte // tls.key, pki.EncodeKey's PEM
	// der names the DER in the PEM, as the scan's forms do: "PKCS#1", "SEC 1" or "PKCS#8".
	der    string
	secret corev1.Secret
	// what is how the scan names the key: "Secret team/rsa-pkcs1-tls tls.key".
	what string
	// csr and chain are what history may hold of the key: public data.
	csr   []byte
	chain []*x509.Certificate
}

// selfCheck is a cluster's Secrets and issuers, and the needles of them.
type selfCheck struct {
	keys    []storedKey
	secrets []corev1.Secret
	issuers []issuerAt
	// stackTSIG is the TSIG secret secretNeedles gets as its argument;
	// issuerTSIG the one a ClusterIssuer names; eab the EAB HMAC an Issuer
	// names. Each as stored: TSIG secrets base64, EAB HMACs base64url.
	stackTSIG, issuerTSIG, eab string
	// legoToken and cloudflareToken are what other DNS providers' Secrets
	// hold: a whole Secret of settings (lego) and one entry (cloudflare).
	legoToken, cloudflareToken string
	// vaultToken is what a Vault issuer's token Secret holds.
	vaultToken string
	// ringSecret holds the key ring that ring encrypts with.
	ringSecret corev1.Secret
	ring       *codec.Codec
	n          *needles
}

const selfCheckNS = "team"

func newSelfCheck(t *testing.T) *selfCheck {
	t.Helper()
	s := &selfCheck{
		stackTSIG:  base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		issuerTSIG: base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		eab:        base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)),

		legoToken:       hex.EncodeToString(randomBytes(t, 24)),
		cloudflareToken: hex.EncodeToString(randomBytes(t, 20)),
		vaultToken:      "hvs." + hex.EncodeToString(randomBytes(t, 16)),
	}
	ca := newSelfCheckCA(t)
	for _, k := range []struct {
		name, algorithm, encoding, der, secret string
	}{
		{"an RSA 2048 key stored as PKCS1", pki.RSA, pki.PKCS1, "PKCS#1", "rsa-pkcs1-tls"},
		{"an RSA 2048 key stored as PKCS8", pki.RSA, pki.PKCS8, "PKCS#8", "rsa-pkcs8-tls"},
		{"an ECDSA P-256 key stored as PKCS1", pki.ECDSA, pki.PKCS1, "SEC 1", "ecdsa-pkcs1-tls"},
		{"an ECDSA P-256 key stored as PKCS8", pki.ECDSA, pki.PKCS8, "PKCS#8", "ecdsa-pkcs8-tls"},
		{"an Ed25519 key stored as PKCS8", pki.Ed25519, pki.PKCS8, "PKCS#8", "ed25519-tls"},
	} {
		key, err := pki.GenerateKey(k.algorithm, 0)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := pki.EncodeKey(key, k.encoding)
		if err != nil {
			t.Fatal(err)
		}
		sk := storedKey{name: k.name, key: key, pem: keyPEM, der: k.der, what: "Secret " + selfCheckNS + "/" + k.secret + " tls.key"}
		sk.csr, sk.chain = ca.issue(t, key, k.secret+".certflow.test")
		sk.secret = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: selfCheckNS, Name: k.secret},
			Type:       corev1.SecretTypeTLS,
			Data: map[string][]byte{
				"tls.key": keyPEM,
				"tls.crt": pki.EncodeChain(sk.chain),
				"ca.crt":  pki.EncodeChain(sk.chain[1:]),
			},
		}
		s.keys = append(s.keys, sk)
		s.secrets = append(s.secrets, sk.secret)
	}

	ringBytes := randomBytes(t, codec.KeySize)
	ringKey, err := codec.NewKey("selfcheck", ringBytes)
	if err != nil {
		t.Fatal(err)
	}
	if s.ring, err = codec.New([]codec.Key{ringKey}, "the self-check"); err != nil {
		t.Fatal(err)
	}
	// A key file as --payload-key-secret reads it (codec.ParseKeys).
	s.ringSecret = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "payload-keys"},
		Data:       map[string][]byte{"keys": []byte("# certflow encrypts with the first\nselfcheck:" + base64.StdEncoding.EncodeToString(ringBytes) + "\n")},
	}
	s.secrets = append(s.secrets,
		corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "rfc2136"},
			Data:       map[string][]byte{"secret": []byte(s.issuerTSIG)},
		},
		corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: selfCheckNS, Name: "eab"},
			Data:       map[string][]byte{"hmac": []byte(s.eab)},
		},
		corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "hetzner"},
			Data:       map[string][]byte{"HETZNER_API_TOKEN": []byte(s.legoToken)},
		},
		corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "cloudflare"},
			Data:       map[string][]byte{"api-token": []byte(s.cloudflareToken)},
		},
		corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: selfCheckNS, Name: "vault-token"},
			Data:       map[string][]byte{"token": []byte(s.vaultToken)},
		},
		s.ringSecret,
	)
	ref := func(name, key string) certflowv1.SecretKeySelector {
		return certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: name}, Key: key}
	}
	tsigRef, cloudflareRef := ref("rfc2136", "secret"), ref("cloudflare", "api-token")
	s.issuers = []issuerAt{
		{name: "ClusterIssuer selfcheck", namespace: sandbox.ClusterResourceNamespace, spec: certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
			Server: "https://acme.certflow.test/directory", PrivateKey: ref("account", "tls.key"),
			Solvers: []certflowv1.ACMEChallengeSolver{
				{DNS01: &certflowv1.ACMEChallengeSolverDNS01{RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{
					Nameserver: "127.0.0.1:53", TSIGKeyName: "certflow", TSIGSecret: &tsigRef,
				}}},
				{DNS01: &certflowv1.ACMEChallengeSolverDNS01{Lego: &certflowv1.ACMEIssuerDNS01ProviderLego{
					Provider: "hetzner", Settings: certflowv1.LocalObjectReference{Name: "hetzner"},
				}}},
				{DNS01: &certflowv1.ACMEChallengeSolverDNS01{Cloudflare: &certflowv1.ACMEIssuerDNS01ProviderCloudflare{
					APIToken: &cloudflareRef,
				}}},
			},
		}}},
		{name: "Issuer " + selfCheckNS + "/eab", namespace: selfCheckNS, spec: certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
			Server: "https://acme.certflow.test/directory", PrivateKey: ref("account", "tls.key"),
			ExternalAccountBinding: &certflowv1.ACMEExternalAccountBinding{KeyID: "kid-1", Key: ref("eab", "hmac")},
		}}},
		{name: "Issuer " + selfCheckNS + "/vault", namespace: selfCheckNS, spec: certflowv1.IssuerSpec{Vault: &certflowv1.VaultIssuer{
			Server: "https://vault.certflow.test:8200", Path: "pki/sign/web",
			Auth: certflowv1.VaultAuth{TokenSecretRef: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "vault-token"}}},
		}}},
	}

	var seen secretsSeen
	s.n, seen = secretNeedles(s.secrets, s.issuers, s.stackTSIG)
	if seen.keys != len(s.keys) || seen.credentials != 6 || len(seen.unparsed) > 0 {
		t.Fatalf("secretNeedles saw %d private keys and %d credentials (unparsed: %v); want %d and 6", seen.keys, seen.credentials, seen.unparsed, len(s.keys))
	}
	return s
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// selfCheckCA signs the certificates of the self-check's keys. Its own key is
// in no Secret: it is not a needle.
type selfCheckCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newSelfCheckCA(t *testing.T) *selfCheckCA {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self-check CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &selfCheckCA{cert: cert, key: key.(*ecdsa.PrivateKey)}
}

// issue is the key's CSR for name and the chain (leaf, CA) issued for it.
func (ca *selfCheckCA) issue(t *testing.T, key crypto.Signer, name string) (csr []byte, chain []*x509.Certificate) {
	t.Helper()
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr, []*x509.Certificate{leaf, ca.cert}
}

// Events as Temporal records them; payloads as the SDK's default data
// converter makes them (the converter certflow wraps with its codec):
// encoding/json for structs, the bytes themselves for a []byte.

func payloadsOf(t *testing.T, values ...any) *commonpb.Payloads {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(values...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func activityCompleted(t *testing.T, result any) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 7, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
		Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
			Result: payloadsOf(t, result), ScheduledEventId: 5, StartedEventId: 6, Identity: "worker@selfcheck",
		}}}
}

func activityScheduled(t *testing.T, activityType string, input any) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 5, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
		Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			ActivityId: "5", ActivityType: &commonpb.ActivityType{Name: activityType}, Input: payloadsOf(t, input),
		}}}
}

func activityFailed(message string) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 7, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
		Attributes: &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{
			Failure: &failurepb.Failure{Message: message, Source: "GoSDK", FailureInfo: &failurepb.Failure_ApplicationFailureInfo{
				ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: "wrapError"},
			}},
			ScheduledEventId: 5, StartedEventId: 6,
		}}}
}

func workflowStarted(t *testing.T, input any) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
			WorkflowType: &commonpb.WorkflowType{Name: "IssueCertificate"}, Input: payloadsOf(t, input),
		}}}
}

func signaled(t *testing.T, input any) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 9, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{WorkflowExecutionSignaledEventAttributes: &historypb.WorkflowExecutionSignaledEventAttributes{
			SignalName: "renew", Input: payloadsOf(t, input),
		}}}
}

func markerRecorded(t *testing.T, details any) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: 11, EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
		Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
			MarkerName: "SideEffect", Details: map[string]*commonpb.Payloads{"data": payloadsOf(t, details)},
		}}}
}

// planting is a secret planted in an event, and the detector that must find it.
type planting struct {
	name  string // the sentence: "an RSA 2048 key stored as PKCS1: D as a decimal string"
	event *historypb.HistoryEvent
	// what is part of the found needle's what: "Secret team/rsa-pkcs1-tls tls.key".
	what string
	// forms: the found needle's form begins with one of these ("RSA D, decimal").
	forms []string
	// where the needle is found: "payload" (a payload's data) or "the event" (its protojson).
	where string
}

// pemMarker is how the scan names the PEM header needles.
const pemMarker = "a PEM private key"

// plantings are the self-check's secrets, each in the encodings a serializer could produce.
func (s *selfCheck) plantings(t *testing.T) []planting {
	var rows []planting
	for _, k := range s.keys {
		plant := func(sentence string, ev *historypb.HistoryEvent, what string, forms ...string) {
			where := "payload"
			if ev.EventType == enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED {
				where = "the event"
			}
			rows = append(rows, planting{name: k.name + ": " + sentence, event: ev, what: what, forms: forms, where: where})
		}
		block, _ := pem.Decode(k.pem)
		header := "header BEGIN " + block.Type
		pemLines := strings.Split(strings.TrimSpace(string(k.pem)), "\n")
		body := strings.Join(pemLines[1:len(pemLines)-1], "\n")
		pkcs8, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			t.Fatal(err)
		}

		plant("its PEM as a string field", activityCompleted(t, struct{ KeyPEM string }{string(k.pem)}), pemMarker, header+", raw")
		plant("its PEM in an activity failure's message", activityFailed("parsing key "+string(k.pem)+": bad"), pemMarker, header+", raw")
		// An Ed25519 PKCS#8 DER is 48 bytes: its one PEM line is its whole base64.
		plant("its PEM without the BEGIN and END lines", activityCompleted(t, struct{ Body string }{body}), k.what, k.der+" PEM line", k.der+" DER, base64 (std)")
		plant("the Secret that holds it, marshalled with encoding/json: its PEM header", activityCompleted(t, k.secret), pemMarker, header+", base64 (std)")
		plant("the Secret that holds it, marshalled with encoding/json: its PEM lines", activityCompleted(t, k.secret), k.what, k.der+" PEM line, base64 (std)")
		plant("its PKCS#8 DER as a []byte field", activityCompleted(t, struct{ DER []byte }{pkcs8}), k.what, "PKCS#8 DER, base64 (std)")
		plant("its PKCS#8 DER after one byte of other data, as a []byte field", activityCompleted(t, struct{ DER []byte }{append([]byte{0x04}, pkcs8...)}), k.what, "PKCS#8 DER, base64 (std)")
		plant("its PKCS#8 DER after two bytes of other data, as a []byte field", activityCompleted(t, struct{ DER []byte }{append([]byte{0x04, 0x82}, pkcs8...)}), k.what, "PKCS#8 DER, base64 (std)")
		plant("its PKCS#8 DER as a binary payload", activityCompleted(t, pkcs8), k.what, "PKCS#8 DER, raw")
		plant("its PKCS#8 DER as hex", activityCompleted(t, struct{ DER string }{hex.EncodeToString(pkcs8)}), k.what, "PKCS#8 DER, hex")
		plant("its PKCS#8 DER as a list of numbers", activityCompleted(t, struct{ DER []int }{bytesAsInts(pkcs8)}), k.what, "PKCS#8 DER, decimal bytes [1,2]")
		plant("its PKCS#8 DER formatted with %v in a failure message", activityFailed(fmt.Sprintf("parsing %v", pkcs8)), k.what, "PKCS#8 DER, decimal bytes [1 2]")

		switch key := k.key.(type) {
		case *rsa.PrivateKey:
			d, p := key.D, key.Primes
			plant("the key marshalled with encoding/json", activityCompleted(t, struct{ Key crypto.PrivateKey }{key}), k.what, "RSA D, decimal")
			plant("the key formatted with %v in a failure message", activityFailed(fmt.Sprintf("signing with %v", key)), k.what, "RSA D, decimal")
			plant("its PKCS#1 DER as a []byte field", activityCompleted(t, struct{ DER []byte }{x509.MarshalPKCS1PrivateKey(key)}), k.what, "PKCS#1 DER, base64 (std)")
			plant("D as a decimal string in the workflow's input", workflowStarted(t, struct{ D string }{d.String()}), k.what, "RSA D, decimal")
			plant("D as a *big.Int field", activityCompleted(t, struct{ D *big.Int }{d}), k.what, "RSA D, decimal")
			plant("D as hex", activityCompleted(t, struct{ D string }{d.Text(16)}), k.what, "RSA D, hex")
			plant("D as upper-case hex", activityCompleted(t, struct{ D string }{fmt.Sprintf("%X", d)}), k.what, "RSA D, HEX")
			plant("D's bytes as a []byte field", activityCompleted(t, struct{ D []byte }{d.Bytes()}), k.what, "RSA D, base64 (std)")
			plant("D as base64url without padding, as in a JWK", activityCompleted(t, struct{ D string }{base64.RawURLEncoding.EncodeToString(d.Bytes())}), k.what, "RSA D, base64")
			plant("the first prime as a decimal string", activityCompleted(t, struct{ P string }{p[0].String()}), k.what, "RSA prime 1, decimal")
			plant("the second prime as hex", activityCompleted(t, struct{ Q string }{p[1].Text(16)}), k.what, "RSA prime 2, hex")
			plant("the CRT exponent Dp as a *big.Int field", activityCompleted(t, struct{ Dp *big.Int }{key.Precomputed.Dp}), k.what, "RSA Dp, decimal")
			plant("the CRT coefficient Qinv as base64", activityCompleted(t, struct{ Qinv []byte }{key.Precomputed.Qinv.Bytes()}), k.what, "RSA Qinv, base64 (std)")
		case *ecdsa.PrivateKey:
			d, err := key.Bytes() // 32 bytes, leading zeros kept, as in a JWK
			if err != nil {
				t.Fatal(err)
			}
			D := new(big.Int).SetBytes(d)
			plant("the key marshalled with encoding/json", activityCompleted(t, struct{ Key crypto.PrivateKey }{key}), k.what, "ECDSA D, decimal")
			plant("the key formatted with %v in a failure message", activityFailed(fmt.Sprintf("signing with %v", key)), k.what, "ECDSA D, decimal")
			plant("its SEC 1 DER as a []byte field", activityCompleted(t, struct{ DER []byte }{mustSEC1(t, key)}), k.what, "SEC 1 DER, base64 (std)")
			plant("D as a decimal string in a signal's input", signaled(t, struct{ D string }{D.String()}), k.what, "ECDSA D, decimal")
			plant("D as 64 hex digits", activityCompleted(t, struct{ D string }{hex.EncodeToString(d)}), k.what, "ECDSA D, hex")
			plant("D's 32 bytes as a []byte field", activityCompleted(t, struct{ D []byte }{d}), k.what, "ECDSA D, base64 (std)")
			plant("D as base64url without padding, as in a JWK", activityCompleted(t, struct{ D string }{base64.RawURLEncoding.EncodeToString(d)}), k.what, "ECDSA D, base64")
			plant("D's 32 bytes as a [32]byte field", activityCompleted(t, struct{ D [32]byte }{[32]byte(d)}), k.what, "ECDSA D, decimal bytes [1,2]")
		case ed25519.PrivateKey:
			seed := key.Seed()
			plant("the key marshalled with encoding/json", activityCompleted(t, struct{ Key crypto.PrivateKey }{key}), k.what, "Ed25519 seed, base64 (std)")
			plant("the key formatted with %v in a failure message", activityFailed(fmt.Sprintf("signing with %v", key)), k.what, "Ed25519 seed, decimal bytes [1 2]")
			plant("its seed as hex in a marker's details", markerRecorded(t, struct{ Seed string }{hex.EncodeToString(seed)}), k.what, "Ed25519 seed, hex")
			plant("its seed as a []byte field", activityCompleted(t, struct{ Seed []byte }{seed}), k.what, "Ed25519 seed, base64 (std)")
			plant("its seed as base64url without padding", activityCompleted(t, struct{ Seed string }{base64.RawURLEncoding.EncodeToString(seed)}), k.what, "Ed25519 seed, base64")
			plant("its seed as a [32]byte field", activityCompleted(t, struct{ Seed [32]byte }{[32]byte(seed)}), k.what, "Ed25519 seed, decimal bytes [1,2]")
		default:
			t.Fatalf("no plantings for %T", k.key)
		}
	}

	credential := func(name string, ev *historypb.HistoryEvent, what string, forms ...string) {
		rows = append(rows, planting{name: name, event: ev, what: what, forms: forms, where: "payload"})
	}
	stackTSIG, issuerTSIG, eab := decodeStd(t, s.stackTSIG), decodeStd(t, s.issuerTSIG), decodeRawURL(t, s.eab)
	const (
		stack  = "the stack's TSIG secret"
		issuer = "dns01.rfc2136.tsigSecretSecretRef of solver 0 of ClusterIssuer selfcheck"
		binder = "EAB HMAC of Issuer " + selfCheckNS + "/eab"
	)
	credential("the stack's TSIG secret as stored, in a signal's input", signaled(t, struct{ Secret string }{s.stackTSIG}), stack, "as stored, raw")
	credential("the stack's TSIG secret decoded, as hex", activityCompleted(t, struct{ Secret string }{hex.EncodeToString(stackTSIG)}), stack, "decoded, hex")
	credential("the stack's TSIG secret decoded, as a binary payload", activityCompleted(t, stackTSIG), stack, "decoded, raw")
	credential("the TSIG secret an issuer names, as stored, in a marker's details", markerRecorded(t, struct{ Secret string }{s.issuerTSIG}), issuer, "as stored, raw")
	credential("the TSIG secret an issuer names, decoded, as base64url", activityCompleted(t, struct{ Secret string }{base64.URLEncoding.EncodeToString(issuerTSIG)}), issuer, "decoded, base64", "as stored, raw")
	credential("a lego provider's setting, in an activity's input", activityScheduled(t, "Present", struct{ Token string }{s.legoToken}),
		"dns01.lego.settingsSecretRef of solver 1 of ClusterIssuer selfcheck", "as stored, raw")
	credential("a Cloudflare API token, in a marker's details", markerRecorded(t, struct{ Token string }{s.cloudflareToken}),
		"dns01.cloudflare.apiTokenSecretRef of solver 2 of ClusterIssuer selfcheck", "as stored, raw")
	credential("a Vault token, in an activity's result", activityCompleted(t, struct{ Token string }{s.vaultToken}),
		"Vault token of Issuer "+selfCheckNS+"/vault", "as stored, raw")
	credential("an EAB HMAC as stored, in an activity's input", activityScheduled(t, "RegisterAccount", struct{ HMAC string }{s.eab}), binder, "as stored, raw")
	credential("an EAB HMAC decoded, as a []byte field", activityCompleted(t, struct{ HMAC []byte }{eab}), binder, "decoded, base64 (std)")
	credential("an EAB HMAC decoded, as a [32]byte field", activityCompleted(t, struct{ HMAC [32]byte }{[32]byte(eab)}), binder, "decoded, decimal bytes [1,2]")
	return rows
}

func mustSEC1(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func bytesAsInts(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func decodeStd(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeRawURL(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// found says whether the scan holds a finding the planting wants.
func (p planting) found(scan eventScan) bool {
	for _, f := range scan.findings {
		if !strings.Contains(f.what, p.what) || !strings.HasPrefix(f.where, p.where) {
			continue
		}
		for _, form := range p.forms {
			if strings.HasPrefix(f.form, form) {
				return true
			}
		}
	}
	return false
}

func TestHistoryScanFindsEveryPlantedSecret(t *testing.T) {
	s := newSelfCheck(t)
	opener := newPayloadOpener(s.secrets)
	rows := s.plantings(t)
	t.Logf("%d plantings of %d private keys and 3 credentials, looked for as %d needles", len(rows), len(s.keys), len(s.n.list))
	for _, p := range rows {
		t.Run(p.name, func(t *testing.T) {
			scan, err := s.n.scanEvent(p.event, opener)
			if err != nil {
				t.Fatal(err)
			}
			if !p.found(scan) {
				t.Errorf("the scan did not find %s as %s in %s; it found: %v", p.what, strings.Join(p.forms, " or "), p.where, scan.report())
			}
		})
	}
}

// encrypted is the event with its payloads encrypted by the codec.
func encrypted(t *testing.T, c *codec.Codec, ev *historypb.HistoryEvent) *historypb.HistoryEvent {
	t.Helper()
	attrs := ev.GetActivityTaskCompletedEventAttributes()
	sealed, err := c.Encode(attrs.Result.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	attrs.Result = &commonpb.Payloads{Payloads: sealed}
	return ev
}

func TestHistoryScanFindsASecretInAnEncryptedPayload(t *testing.T) {
	s := newSelfCheck(t)
	k := s.keys[0]
	rsaKey := k.key.(*rsa.PrivateKey)
	withRing := newPayloadOpener(s.secrets)
	var others []corev1.Secret
	for _, sec := range s.secrets {
		if sec.Name != s.ringSecret.Name {
			others = append(others, sec)
		}
	}
	withoutRing := newPayloadOpener(others)

	for _, tc := range []struct {
		name  string
		event *historypb.HistoryEvent
		form  string
	}{
		{"its PEM in an encrypted result", activityCompleted(t, struct{ KeyPEM string }{string(k.pem)}), k.der + " PEM line"},
		{"D as a decimal string in an encrypted result", activityCompleted(t, struct{ D string }{rsaKey.D.String()}), "RSA D, decimal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := encrypted(t, s.ring, tc.event)
			if p := ev.GetActivityTaskCompletedEventAttributes().Result.Payloads[0]; !codec.IsEncrypted(p) || bytes.Contains(p.Data, []byte("PRIVATE KEY")) {
				t.Fatalf("the payload is not encrypted: %s", p.Metadata)
			}
			scan, err := s.n.scanEvent(ev, withRing)
			if err != nil {
				t.Fatal(err)
			}
			want := planting{what: k.what, forms: []string{tc.form}, where: "payload"}
			if !want.found(scan) || scan.opened != 1 || scan.sealed != 0 {
				t.Errorf("with the key ring from Secret %s/%s: %d payloads opened, %d sealed, found %v; want %s as %s, found once the payload is opened",
					s.ringSecret.Namespace, s.ringSecret.Name, scan.opened, scan.sealed, scan.report(), k.what, tc.form)
			}
			// The ciphertext alone shows nothing: the opening is what finds it.
			scan, err = s.n.scanEvent(ev, withoutRing)
			if err != nil {
				t.Fatal(err)
			}
			if len(scan.findings) != 0 || scan.sealed != 1 {
				t.Errorf("without the key ring: %d payloads sealed, found %v; want 1 sealed and nothing found", scan.sealed, scan.report())
			}
		})
	}
}

func TestHistoryScanFindsNothingInPublicData(t *testing.T) {
	s := newSelfCheck(t)
	opener := newPayloadOpener(s.secrets)
	var events []struct {
		name  string
		event *historypb.HistoryEvent
	}
	clean := func(name string, ev *historypb.HistoryEvent) {
		events = append(events, struct {
			name  string
			event *historypb.HistoryEvent
		}{name, ev})
	}
	for _, k := range s.keys {
		leaf := k.chain[0]
		pub, err := x509.MarshalPKIXPublicKey(k.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(pub)
		cert := activities.CertificateRef{Namespace: selfCheckNS, Name: k.secret.Name}
		iss := activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: "selfcheck"}
		finalized := activities.FinalizeResult{
			ChainPEM: string(pki.EncodeChain(k.chain)), CAPEM: string(pki.EncodeChain(k.chain[1:])), Issued: activities.IssuedFrom(leaf),
		}
		clean(k.name+": EnsurePendingKey's result with its CSR", activityCompleted(t, activities.EnsurePendingKeyResult{
			Secret: k.secret.Name + "-pending", PublicKeySHA256: hex.EncodeToString(sum[:]), CSR: k.csr, IssuerType: activities.IssuerTypeACME,
		}))
		clean(k.name+": Finalize's input with its CSR", activityScheduled(t, "Finalize", activities.FinalizeInput{
			Certificate: cert, Issuer: iss, OrderURL: "https://acme.certflow.test/order/1", FinalizeURL: "https://acme.certflow.test/finalize/1", CSR: k.csr,
		}))
		clean(k.name+": Finalize's result with its chain", activityCompleted(t, finalized))
		clean(k.name+": Finalize's result with its chain, encrypted", encrypted(t, s.ring, activityCompleted(t, finalized)))
		clean(k.name+": its public key marshalled with encoding/json", activityCompleted(t, struct{ Key crypto.PublicKey }{k.key.Public()}))
		clean(k.name+": its public key formatted with %v in a failure message", activityFailed(fmt.Sprintf("key %v does not match", k.key.Public())))
		clean(k.name+": its public key as PKIX DER", activityCompleted(t, struct{ DER []byte }{pub}))
	}
	for _, e := range events {
		t.Run(e.name, func(t *testing.T) {
			scan, err := s.n.scanEvent(e.event, opener)
			if err != nil {
				t.Fatal(err)
			}
			if len(scan.findings) > 0 {
				t.Errorf("the scan found secrets in public data: %v", scan.report())
			}
			if scan.sealed > 0 {
				t.Errorf("%d payloads left sealed: the scan saw only ciphertext", scan.sealed)
			}
		})
	}
}
