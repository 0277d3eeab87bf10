package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/moatmq/moat/internal/auth/password"
)

// Client is a SCRAM client (RFC 5802 section 3) written for these
// tests, independent of the server's parsing code.
type Client struct {
	Mechanism string // SCRAM-SHA-256 or SCRAM-SHA-512
	User      string
	Password  string
	GS2       string // gs2 header; "n,," when empty
	Nonce     string // client nonce; random when empty

	bare    string // client-first-message-bare
	salted  []byte
	authMsg string
}

func clientHash(mech string) func() hash.Hash {
	if mech == password.SCRAMSHA512 {
		return sha512.New
	}
	return sha256.New
}

// saslName escapes a user name for n= and a=.
func saslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

func hmacOf(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// First returns the client-first-message.
func (c *Client) First() []byte {
	if c.GS2 == "" {
		c.GS2 = "n,,"
	}
	if c.Nonce == "" {
		b := make([]byte, 18)
		rand.Read(b)
		c.Nonce = base64.StdEncoding.EncodeToString(b)
	}
	c.bare = "n=" + saslName(c.User) + ",r=" + c.Nonce
	return []byte(c.GS2 + c.bare)
}

// serverFirst is a parsed server-first-message.
type serverFirst struct {
	nonce string
	salt  []byte
	iter  int
}

func parseServerFirst(data []byte) (serverFirst, error) {
	var sf serverFirst
	f := strings.Split(string(data), ",")
	if len(f) != 3 || !strings.HasPrefix(f[0], "r=") || !strings.HasPrefix(f[1], "s=") || !strings.HasPrefix(f[2], "i=") {
		return sf, fmt.Errorf("malformed server-first-message %q", data)
	}
	sf.nonce = f[0][2:]
	var err error
	if sf.salt, err = base64.StdEncoding.DecodeString(f[1][2:]); err != nil {
		return sf, err
	}
	if sf.iter, err = strconv.Atoi(f[2][2:]); err != nil {
		return sf, err
	}
	return sf, nil
}

// Final returns the client-final-message answering the
// server-first-message data.
func (c *Client) Final(data []byte) ([]byte, error) {
	sf, err := parseServerFirst(data)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(sf.nonce, c.Nonce) || len(sf.nonce) <= len(c.Nonce) {
		return nil, errors.New("server nonce does not extend the client's")
	}
	h := clientHash(c.Mechanism)
	if c.salted, err = pbkdf2.Key(h, c.Password, sf.salt, sf.iter, h().Size()); err != nil {
		return nil, err
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.GS2)) + ",r=" + sf.nonce
	return []byte(withoutProof + ",p=" + c.proof(string(data), withoutProof)), nil
}

// proof returns ClientProof in base64 and remembers the AuthMessage.
func (c *Client) proof(serverFirst, withoutProof string) string {
	h := clientHash(c.Mechanism)
	c.authMsg = c.bare + "," + serverFirst + "," + withoutProof
	clientKey := hmacOf(h, c.salted, "Client Key")
	d := h()
	d.Write(clientKey)
	sig := hmacOf(h, d.Sum(nil), c.authMsg)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Verify checks the server-final-message, proving the server knew the
// credential.
func (c *Client) Verify(data []byte) error {
	h := clientHash(c.Mechanism)
	want := "v=" + base64.StdEncoding.EncodeToString(hmacOf(h, hmacOf(h, c.salted, "Server Key"), c.authMsg))
	if !hmac.Equal(data, []byte(want)) {
		return fmt.Errorf("server signature %q, want %q", data, want)
	}
	return nil
}
