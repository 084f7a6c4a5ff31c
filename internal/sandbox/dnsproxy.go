package sandbox

import (
	"bytes"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSProxy forwards DNS messages, over UDP and TCP, to one server (the
// sandbox's BIND) and can hold back chosen kinds of message: for tests that
// need an issuance to stay in its presenting step (RFC 2136 updates) or its
// propagating step (queries) long enough to stop a process in it. It forwards
// each message's bytes as they are, so TSIG signatures stay valid, and it
// knows nothing of the upstream's state: while the upstream is down, clients
// get no answer, as they would from the server itself.
type DNSProxy struct {
	// Addr is the proxy's 127.0.0.1:port, for UDP and TCP.
	Addr string

	upstream string
	udp      net.PacketConn
	tcp      net.Listener
	closed   chan struct{}

	mu     sync.Mutex
	delays map[DNSKind]time.Duration
	counts map[DNSKind]int
}

// DNSKind is a kind of DNS message, as DNSProxy tells them apart.
type DNSKind string

const (
	// DNSUpdate is an RFC 2136 dynamic update (a DNS-01 provider's Present
	// or CleanUp).
	DNSUpdate DNSKind = "update"
	// DNSQuery is any other message: lookups, such as propagation checks.
	DNSQuery DNSKind = "query"
)

// upstreamTimeout bounds one exchange with the upstream.
const upstreamTimeout = 5 * time.Second

// StartDNSProxy listens on a free loopback port (UDP and TCP) and forwards to
// upstream (host:port).
func StartDNSProxy(upstream string) (*DNSProxy, error) {
	var lastErr error
	for range 5 { // the free port may be taken before we bind it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := listenDNSProxy(loopback(port), upstream)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("starting DNS proxy: %w", lastErr)
}

func listenDNSProxy(addr, upstream string) (*DNSProxy, error) {
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		udp.Close()
		return nil, err
	}
	p := &DNSProxy{
		Addr: addr, upstream: upstream, udp: udp, tcp: tcp, closed: make(chan struct{}),
		delays: map[DNSKind]time.Duration{}, counts: map[DNSKind]int{},
	}
	go p.serveUDP()
	go p.serveTCP()
	return p, nil
}

// Delay holds every message of a kind until it has waited d, counted from
// its arrival: messages held now follow the new d too, so a long d freezes a
// kind of message and a shorter one lets the held ones go. 0 ends the delay.
func (p *DNSProxy) Delay(kind DNSKind, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays[kind] = d
}

// Count is how many messages of a kind reached the proxy.
func (p *DNSProxy) Count(kind DNSKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[kind]
}

// Stop closes the proxy; messages it holds are dropped.
func (p *DNSProxy) Stop() error {
	close(p.closed)
	return errors.Join(p.udp.Close(), p.tcp.Close())
}

// hold counts a message and holds it for the delay of its kind.
func (p *DNSProxy) hold(msg []byte) {
	arrived := time.Now()
	kind := DNSQuery
	var m dns.Msg
	if m.Unpack(msg) == nil && m.Opcode == dns.OpcodeUpdate {
		kind = DNSUpdate
	}
	p.mu.Lock()
	p.counts[kind]++
	p.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Since(arrived) < p.delay(kind) {
		select {
		case <-tick.C:
		case <-p.closed:
			return
		}
	}
}

func (p *DNSProxy) delay(kind DNSKind) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delays[kind]
}

func (p *DNSProxy) serveUDP() {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := p.udp.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		go p.forwardUDP(bytes.Clone(buf[:n]), from)
	}
}

// forwardUDP sends one message upstream and its answer back; when the
// upstream does not answer, neither does the proxy.
func (p *DNSProxy) forwardUDP(msg []byte, from net.Addr) {
	p.hold(msg)
	up, err := net.Dial("udp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(upstreamTimeout))
	if _, err := up.Write(msg); err != nil {
		return
	}
	answer := make([]byte, dns.MaxMsgSize)
	n, err := up.Read(answer)
	if err != nil {
		return
	}
	_, _ = p.udp.WriteTo(answer[:n], from)
}

func (p *DNSProxy) serveTCP() {
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			return // closed
		}
		go p.forwardTCP(c)
	}
}

// forwardTCP holds the connection's first message by its kind, then joins
// the client to the upstream: later messages on the connection (clients send
// one per connection) and the answers pass as they come.
func (p *DNSProxy) forwardTCP(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	var length [2]byte
	if _, err := io.ReadFull(c, length[:]); err != nil {
		return
	}
	msg := make([]byte, byteorder.BigEndian.Uint16(length[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		return
	}
	p.hold(msg)
	up, err := net.DialTimeout("tcp", p.upstream, upstreamTimeout)
	if err != nil {
		return // the client sees its connection closed, as with a server gone
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(time.Minute))
	if _, err := up.Write(append(length[:], msg...)); err != nil {
		return
	}
	// Whichever side closes first ends both copies.
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
}
