package shim

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/api/v1alpha1"
)

// The bounds the Certificate's schema sets (api/v1alpha1), checked here so
// that a bad value is a Warning Event that names the annotation, not an
// API server refusal that names a field of an object the user never wrote.
const (
	maxCommonName      = 64
	minDuration        = time.Hour
	defaultDuration    = 2160 * time.Hour
	minRenewBefore     = 5 * time.Minute
	maxRevisionHistory = 1<<31 - 1
)

var (
	keySizes = map[v1alpha1.PrivateKeyAlgorithm][]int{
		v1alpha1.RSAKeyAlgorithm:   {2048, 3072, 4096, 8192},
		v1alpha1.ECDSAKeyAlgorithm: {256, 384, 521},
	}
	// keyUsages are the values of the KeyUsage enum.
	keyUsages = []v1alpha1.KeyUsage{
		v1alpha1.UsageSigning, v1alpha1.UsageDigitalSignature, v1alpha1.UsageContentCommitment,
		v1alpha1.UsageKeyEncipherment, v1alpha1.UsageKeyAgreement, v1alpha1.UsageDataEncipherment,
		v1alpha1.UsageCertSign, v1alpha1.UsageCRLSign, v1alpha1.UsageEncipherOnly, v1alpha1.UsageDecipherOnly,
		v1alpha1.UsageAny, v1alpha1.UsageServerAuth, v1alpha1.UsageClientAuth, v1alpha1.UsageCodeSigning,
		v1alpha1.UsageEmailProtection, v1alpha1.UsageSMIME, v1alpha1.UsageIPsecEndSystem, v1alpha1.UsageIPsecTunnel,
		v1alpha1.UsageIPsecUser, v1alpha1.UsageTimestamping, v1alpha1.UsageOCSPSigning, v1alpha1.UsageMicrosoftSGC,
		v1alpha1.UsageNetscapeSGC,
	}
)

// tune sets the Certificate fields the tuning annotations name, as
// cert-manager's ingress-shim does:
//
//	common-name                  commonName, at most 64 characters
//	duration                     duration, a Go duration of at least 1h
//	renew-before                 renewBefore, at least 5m and shorter than duration (2160h when unset)
//	usages                       usages, a comma-separated list ("digital signature, server auth")
//	private-key-algorithm        privateKey.algorithm: RSA, ECDSA or Ed25519
//	private-key-size             privateKey.size: RSA 2048, 3072, 4096, 8192; ECDSA 256, 384, 521
//	private-key-rotation-policy  privateKey.rotationPolicy: Never or Always
//	revision-history-limit       revisionHistoryLimit, at least 1
//
// It returns every bad value, each naming its annotation; spec is then not
// to be used.
func (a annotations) tune(spec *v1alpha1.CertificateSpec) error {
	var errs []error
	bad := func(key, value, why string) { errs = append(errs, &badAnnotation{key: key, value: value, why: why}) }

	if key, v, ok := a.get(CommonNameAnnotation); ok {
		if utf8.RuneCountInString(v) > maxCommonName {
			bad(key, v, "is longer than the 64 characters X.509 allows a common name")
		}
		spec.CommonName = v
	}
	if key, v, ok := a.get(DurationAnnotation); ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad(key, v, "is not a duration such as 2160h or 1h30m")
		case d < minDuration:
			bad(key, v, "is shorter than 1h")
		default:
			spec.Duration = &metav1.Duration{Duration: d}
		}
	}
	if key, v, ok := a.get(RenewBeforeAnnotation); ok {
		d, err := time.ParseDuration(v)
		lifetime := defaultDuration
		if spec.Duration != nil {
			lifetime = spec.Duration.Duration
		}
		switch {
		case err != nil:
			bad(key, v, "is not a duration such as 720h or 1h30m")
		case d < minRenewBefore:
			bad(key, v, "is shorter than 5m")
		case d >= lifetime:
			bad(key, v, "is not shorter than the duration ("+lifetime.String()+")")
		default:
			spec.RenewBefore = &metav1.Duration{Duration: d}
		}
	}
	if key, v, ok := a.get(UsagesAnnotation); ok {
		spec.Usages = nil
		for u := range strings.SplitSeq(v, ",") {
			usage := v1alpha1.KeyUsage(strings.TrimSpace(u))
			if !slices.Contains(keyUsages, usage) {
				bad(key, v, "names "+strconv.Quote(string(usage))+", which is not a key usage such as \"digital signature\" or \"server auth\"")
				continue
			}
			spec.Usages = append(spec.Usages, usage)
		}
	}
	var key v1alpha1.CertificatePrivateKey
	if k, v, ok := a.get(PrivateKeyAlgorithmAnnotation); ok {
		switch alg := v1alpha1.PrivateKeyAlgorithm(v); alg {
		case v1alpha1.RSAKeyAlgorithm, v1alpha1.ECDSAKeyAlgorithm, v1alpha1.Ed25519KeyAlgorithm:
			key.Algorithm = alg
		default:
			bad(k, v, "is not a private key algorithm: RSA, ECDSA or Ed25519")
		}
	}
	if k, v, ok := a.get(PrivateKeySizeAnnotation); ok {
		size, err := strconv.Atoi(v)
		alg := key.Algorithm
		if alg == "" {
			alg = v1alpha1.RSAKeyAlgorithm
		}
		switch {
		case err != nil:
			bad(k, v, "is not a number of bits such as 2048")
		case alg == v1alpha1.Ed25519KeyAlgorithm:
			bad(k, v, "is set for an Ed25519 key, whose size is fixed: remove it")
		case !slices.Contains(keySizes[alg], size):
			bad(k, v, "is not a size of an "+string(alg)+" key: "+intsString(keySizes[alg]))
		default:
			key.Size = size
		}
	}
	if k, v, ok := a.get(PrivateKeyRotationPolicyAnnotation); ok {
		switch p := v1alpha1.PrivateKeyRotationPolicy(v); p {
		case v1alpha1.RotationPolicyNever, v1alpha1.RotationPolicyAlways:
			key.RotationPolicy = p
		default:
			bad(k, v, "is not a rotation policy: Never or Always")
		}
	}
	if key != (v1alpha1.CertificatePrivateKey{}) {
		spec.PrivateKey = &key
	}
	if k, v, ok := a.get(RevisionHistoryLimitAnnotation); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > maxRevisionHistory {
			bad(k, v, "is not a number of revisions of at least 1")
		} else {
			limit := int32(n)
			spec.RevisionHistoryLimit = &limit
		}
	}
	return errors.Join(errs...)
}

// intsString is "2048, 3072 or 4096".
func intsString(n []int) string {
	s := make([]string, len(n))
	for i, v := range n {
		s[i] = strconv.Itoa(v)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
