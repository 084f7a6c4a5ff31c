// Package solver is certflow's HTTP-01 responder (`certflow solver`, also
// inside `certflow run`). One responder answers every challenge: the worker
// that presents a challenge writes its key authorization into a ConfigMap in
// the responder's namespace (Record), and every replica of the responder
// serves what those ConfigMaps hold, from a watch, so no pod is started per
// challenge and any replica can answer any challenge. It answers GET and
// HEAD of /.well-known/acme-challenge/<token> for the host the token was
// issued for, and 404 for anything else.
package solver

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelToken marks the ConfigMaps that hold challenge responses; the
// responder watches only those.
const LabelToken = "certflow.dev/http01-token"

// The keys of a response's ConfigMap.
const (
	keyHost             = "host"
	keyToken            = "token"
	keyKeyAuthorization = "keyAuthorization"
)

// Name is the name of every object made for the challenge with this token:
// its ConfigMap, and its route and Service in the Certificate's namespace.
// Tokens are unique per challenge, so names never collide.
func Name(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "certflow-http01-" + hex.EncodeToString(sum[:8])
}

// Record is one challenge response the responder serves.
type Record struct {
	// Host is the name the challenge is for (the request's Host).
	Host             string
	Token            string
	KeyAuthorization string
}

// ConfigMap is the object that holds r, in the responder's namespace.
func (r Record) ConfigMap(namespace string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: Name(r.Token), Labels: map[string]string{LabelToken: "true"}},
		Data: map[string]string{
			keyHost:             r.Host,
			keyToken:            r.Token,
			keyKeyAuthorization: r.KeyAuthorization,
		},
	}
}

// recordOf reads a response's ConfigMap; ok is false when it is not one.
func recordOf(cm *corev1.ConfigMap) (r Record, ok bool) {
	r = Record{Host: strings.ToLower(cm.Data[keyHost]), Token: cm.Data[keyToken], KeyAuthorization: cm.Data[keyKeyAuthorization]}
	return r, r.Host != "" && r.Token != "" && r.KeyAuthorization != "" && cm.Name == Name(r.Token)
}
