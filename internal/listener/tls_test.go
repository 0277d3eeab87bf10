package listener_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/listener"
)

// selfSigned returns a server certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// After a TLS handshake the handler runs on a goroutine of its own; Release
// still runs once, after the handler, and Wait still waits for it.
func TestTLSHandlerReleaseAndWait(t *testing.T) {
	released := make(chan struct{}, 2)
	entered, leave := make(chan *tls.ConnectionState, 1), make(chan struct{})
	l := &listener.TCP{Name: "tls", TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}},
		Release: func(string, netip.AddrPort) { released <- struct{}{} },
		Handle: func(a listener.Accepted) {
			entered <- a.TLS
			<-leave
			a.Conn.Close()
		}}
	served := start(t, l)
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- test server
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case st := <-entered:
		if st == nil || !st.HandshakeComplete {
			t.Fatalf("handler got TLS state %v", st)
		}
	case <-time.After(waitLimit):
		t.Fatal("handler not called")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-served
	waited := make(chan struct{})
	go func() {
		l.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("Wait returned while the handler was running")
	case <-released:
		t.Fatal("released while the handler was running")
	case <-time.After(100 * time.Millisecond):
	}
	close(leave)
	select {
	case <-waited:
	case <-time.After(waitLimit):
		t.Fatal("Wait did not return after the handler ended")
	}
	select {
	case <-released:
	default:
		t.Fatal("not released when Wait returned")
	}
	select {
	case <-released:
		t.Fatal("released twice")
	case <-time.After(100 * time.Millisecond):
	}
}
