package sandbox

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/certflow/certflow/internal/pki"
)

// listenTLS listens on a free loopback port with a serving certificate for
// localhost and 127.0.0.1 from a new CA named name, whose PEM it returns for
// the clients to trust (the proxies in front of Pebble and the API server).
func listenTLS(name string) (net.Listener, []byte, error) {
	ca, err := pki.NewCA(name)
	if err != nil {
		return nil, nil, err
	}
	serving, err := ca.IssueServing([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the certificate of %s: %w", name, err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		return nil, nil, fmt.Errorf("listening: %w", err)
	}
	return l, ca.CertPEM, nil
}
