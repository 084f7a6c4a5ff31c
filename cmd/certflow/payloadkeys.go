package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/connect"
)

// defaultKeySecretKey is the Secret data key --payload-key-secret reads when it names none.
const defaultKeySecretKey = "keys"

// payloadCodec is the codec of every Temporal client certflow makes, from the
// keys in --payload-key-file or --payload-key-secret, read once at start. With
// neither, it encrypts nothing but still recognises encrypted payloads, so a
// certflow started without the key says which key it lacks instead of failing
// the workflows it cannot read. A bad key file stops certflow here, before it
// connects to anything else.
func (o *options) payloadCodec(ctx context.Context) (*codec.Codec, error) {
	source := o.payloadKeySource()
	var data []byte
	var err error
	switch {
	case o.payloadKeyFile != "" && o.payloadKeySecret != "":
		return nil, errors.New("--payload-key-file and --payload-key-secret are both set: keep one")
	case o.payloadKeyFile != "":
		data, err = os.ReadFile(o.payloadKeyFile)
	case o.payloadKeySecret != "":
		data, err = o.readKeySecret(ctx)
	default:
		return codec.New(nil, "")
	}
	if err != nil {
		return nil, fmt.Errorf("reading payload keys from %s: %w", source, err)
	}
	keys, err := codec.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("reading payload keys from %s: %w", source, err)
	}
	return codec.New(keys, source)
}

// payloadKeySource names the flag the payload keys come from, for messages.
func (o *options) payloadKeySource() string {
	switch {
	case o.payloadKeyFile != "":
		return "--payload-key-file " + o.payloadKeyFile
	case o.payloadKeySecret != "":
		return "--payload-key-secret " + o.payloadKeySecret
	}
	return ""
}

// readKeySecret reads the data key of the Secret --payload-key-secret names,
// with certflow's own Kubernetes configuration.
func (o *options) readKeySecret(ctx context.Context) ([]byte, error) {
	ref, dataKey, named := strings.Cut(o.payloadKeySecret, ":")
	if !named {
		dataKey = defaultKeySecretKey
	}
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok || namespace == "" || name == "" || dataKey == "" {
		return nil, errors.New("want NAMESPACE/NAME or NAMESPACE/NAME:KEY")
	}
	cfg, err := connect.KubernetesConfig(o.kubernetes())
	if err != nil {
		return nil, err
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	timeout := o.connectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	secret, err := clientset.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data, ok := secret.Data[dataKey]
	if !ok {
		return nil, fmt.Errorf("the Secret has no key %q", dataKey)
	}
	return data, nil
}

func logPayloadEncryption(log *slog.Logger, c *codec.Codec, source string) {
	if !c.Encrypts() {
		log.Info("payload encryption off: workflow payloads are stored in clear (set --payload-key-file or --payload-key-secret to encrypt them)")
		return
	}
	log.Info("payload encryption on", "currentKeyID", c.CurrentKeyID(), "keys", source)
}
