package tlsconf_test

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestVersionsAccepted(t *testing.T) {
	f := newFixture(t)
	rsaCert := f.serverCA.issue(t, leafOpts{cn: "rsa", dns: []string{"rsa.example.com"}, rsa: true})
	f.cfg.Certificates = append(f.cfg.Certificates, certKey(t, f.dir, "rsa", rsaCert))
	_, srv := f.start(t, nil)

	for _, tc := range []struct {
		name       string
		serverName string
		version    uint16
	}{
		{"TLS 1.2 ECDSA", "localhost", tls.VersionTLS12},
		{"TLS 1.2 RSA", "rsa.example.com", tls.VersionTLS12},
		{"TLS 1.3 ECDSA", "localhost", tls.VersionTLS13},
		{"TLS 1.3 RSA", "rsa.example.com", tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.client()
			cfg.ServerName = tc.serverName
			cfg.MaxVersion = tc.version
			conn, h, err := srv.connect(t, cfg)
			if err != nil || h.err != nil {
				t.Fatalf("client error %v, server error %v", err, h.err)
			}
			if got := conn.ConnectionState().Version; got != tc.version {
				t.Errorf("version = %x, want %x", got, tc.version)
			}
		})
	}

	t.Run("TLS 1.3 preferred", func(t *testing.T) {
		conn, _, err := srv.connect(t, f.client())
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().Version; got != tls.VersionTLS13 {
			t.Errorf("version = %x, want TLS 1.3", got)
		}
	})
}

func TestOldVersionsRefused(t *testing.T) {
	f := newFixture(t)
	_, srv := f.start(t, nil)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := f.client()
		cfg.MinVersion, cfg.MaxVersion = v, v
		_, h, err := srv.connect(t, cfg)
		if err == nil || h.err == nil {
			t.Errorf("version %x: accepted (client %v, server %v)", v, err, h.err)
			continue
		}
		if !strings.Contains(h.err.Error(), "version") {
			t.Errorf("version %x: server error %q does not mention the version", v, h.err)
		}
	}
}

func TestMinVersion13(t *testing.T) {
	f := newFixture(t)
	f.cfg.MinVersion = "1.3"
	_, srv := f.start(t, nil)
	cfg := f.client()
	cfg.MaxVersion = tls.VersionTLS12
	if _, h, err := srv.connect(t, cfg); err == nil || h.err == nil {
		t.Fatal("TLS 1.2 accepted with min_version 1.3")
	}
}

func TestCBCSuiteRefused(t *testing.T) {
	f := newFixture(t)
	_, srv := f.start(t, nil)
	cfg := f.client()
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	_, h, err := srv.connect(t, cfg)
	if err == nil || h.err == nil {
		t.Fatalf("CBC suite accepted (client %v, server %v)", err, h.err)
	}
	if !strings.Contains(h.err.Error(), "cipher suite") {
		t.Errorf("server error %q does not mention the cipher suite", h.err)
	}
}

func TestConfiguredSuitesAndCurves(t *testing.T) {
	f := newFixture(t)
	f.cfg.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}
	f.cfg.Curves = []string{"P384"}
	_, srv := f.start(t, nil)

	cfg := f.client()
	cfg.MaxVersion = tls.VersionTLS12
	conn, _, err := srv.connect(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := conn.ConnectionState()
	if st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 || st.CurveID != tls.CurveP384 {
		t.Errorf("negotiated %s with %v, want ChaCha20 with P384", tls.CipherSuiteName(st.CipherSuite), st.CurveID)
	}

	cfg = f.client()
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	if _, h, err := srv.connect(t, cfg); err == nil || h.err == nil {
		t.Error("a suite outside cipher_suites was accepted")
	}

	cfg = f.client()
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	if _, h, err := srv.connect(t, cfg); err == nil || h.err == nil {
		t.Error("a curve outside curves was accepted")
	}
}

func TestSNI(t *testing.T) {
	f := newFixture(t)
	mqtt := f.serverCA.issue(t, leafOpts{cn: "mqtt", dns: []string{"mqtt.example.com"}})
	iot := f.serverCA.issue(t, leafOpts{cn: "iot", dns: []string{"*.iot.example.com"}})
	f.cfg.Certificates = append(f.cfg.Certificates, certKey(t, f.dir, "mqtt", mqtt), certKey(t, f.dir, "iot", iot))
	_, srv := f.start(t, nil)

	for _, tc := range []struct {
		serverName string
		want       *issued
	}{
		{"mqtt.example.com", mqtt},
		{"MQTT.Example.COM", mqtt},
		{"dev1.iot.example.com", iot},
		{"a.dev1.iot.example.com", f.server}, // wildcards cover one label
		{"iot.example.com", f.server},
		{"localhost", f.server},
		{"unknown.example.org", f.server},
	} {
		cfg := f.client()
		cfg.ServerName = tc.serverName
		cfg.InsecureSkipVerify = true // the fallback does not match the name
		conn, h, err := srv.connect(t, cfg)
		if err != nil || h.err != nil {
			t.Fatalf("%s: client error %v, server error %v", tc.serverName, err, h.err)
		}
		got := conn.ConnectionState().PeerCertificates[0]
		if got.SerialNumber.Cmp(tc.want.cert.SerialNumber) != 0 {
			t.Errorf("%s: got certificate %q, want %q", tc.serverName, got.Subject.CommonName, tc.want.cert.Subject.CommonName)
		}
	}
}

func TestSessionResumption(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "required", "cn")
	src, srv := f.start(t, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.clientWith(f.clientCA.issue(t, leafOpts{cn: "resumer", client: true}))
		cfg.MaxVersion = v
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		if _, _, err := srv.connect(t, cfg); err != nil {
			t.Fatal(err)
		}
		conn, h, err := srv.connect(t, cfg)
		if err != nil || h.err != nil {
			t.Fatalf("client %v, server %v", err, h.err)
		}
		if !conn.ConnectionState().DidResume {
			t.Errorf("version %x: second connection did not resume the session", v)
		}
		if id, ok := src.Identity(h.state); !ok || id != "resumer" {
			t.Errorf("version %x: Identity of a resumed session = %q, %v", v, id, ok)
		}
	}
}

func TestConfigIsStable(t *testing.T) {
	f := newFixture(t)
	src, _ := f.start(t, nil)
	if a, b := src.Config(), src.Config(); a != b {
		t.Fatal("Config returned different pointers")
	}
	if src.Config().GetConfigForClient == nil || src.Config().GetCertificate == nil {
		t.Fatal("Config lacks the callbacks that read the current material")
	}
}

// TestResumptionAcrossReload checks that a certificate reload keeps the
// session ticket keys: tickets issued before it still resume (TLS 1.3 and
// 1.2).
func TestResumptionAcrossReload(t *testing.T) {
	f := newFixture(t)
	src, srv := f.start(t, nil)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := f.client()
			cfg.MaxVersion = v
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, want := range []bool{false, true, true} {
				if i == 2 {
					if err := src.Reload(); err != nil {
						t.Fatal(err)
					}
				}
				conn, h, err := srv.connect(t, cfg)
				if err != nil || h.err != nil {
					t.Fatalf("handshake %d: client error %v, server error %v", i, err, h.err)
				}
				// connect made a round trip, which read the TLS 1.3
				// ticket sent after the handshake.
				if got := conn.ConnectionState().DidResume; got != want {
					t.Errorf("handshake %d: resumed %v, want %v", i, got, want)
				}
			}
		})
	}
}
