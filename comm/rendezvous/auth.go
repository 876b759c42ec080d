package rendezvous

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// The handshake proves to each side that the other holds the job secret; the secret itself
// never travels. It is HMAC-SHA256 challenge-response, both ways:
//
//	server -> client: "CRDV" 'O' serverNonce[32]   (or "CRDV" 'B' and close: at connection limit)
//	client -> server: HMAC(K, serverNonce || "chorus-rendezvous-v1") clientNonce[32]
//	server -> client: 1 HMAC(K, clientNonce || "chorus-rendezvous-v1-server")
//	                  (or 0 and close: wrong secret)
//
// An empty secret on both sides works the same way with an empty HMAC key, which amounts to no
// authentication; a secret on one side only fails with ErrAuth. K is SHA-256(secret).
const (
	helloMagic   = "CRDV"
	helloOK      = 'O'
	helloBusy    = 'B'
	nonceSize    = 32
	macSize      = sha256.Size
	clientLabel  = "chorus-rendezvous-v1"
	serverLabel  = "chorus-rendezvous-v1-server"
	authAccepted = 1
	authRefused  = 0
)

// errAuthRefused is the server's reason for a refusal, for its log.
var errAuthRefused = errors.New("rendezvous: client proof does not match the job secret")

// mac returns HMAC-SHA256(SHA-256(secret), nonce || label). The key is hashed first because
// HMAC pads short keys with zeros, which would make "s" and "s\x00" the same secret.
func mac(secret, nonce []byte, label string) []byte {
	key := sha256.Sum256(secret)
	h := hmac.New(sha256.New, key[:])
	h.Write(nonce)
	h.Write([]byte(label))
	return h.Sum(nil)
}

// serverHandshake runs the server side of the handshake on rw.
func serverHandshake(rw io.ReadWriter, secret []byte) error {
	hello := make([]byte, 0, len(helloMagic)+1+nonceSize)
	hello = append(hello, helloMagic...)
	hello = append(hello, helloOK)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("rendezvous: nonce: %w", err)
	}
	hello = append(hello, nonce...)
	if _, err := rw.Write(hello); err != nil {
		return fmt.Errorf("rendezvous: handshake write: %w", err)
	}
	var answer [macSize + nonceSize]byte
	if _, err := io.ReadFull(rw, answer[:]); err != nil {
		return fmt.Errorf("rendezvous: handshake read: %w", err)
	}
	if !hmac.Equal(answer[:macSize], mac(secret, nonce, clientLabel)) {
		_, _ = rw.Write([]byte{authRefused})
		return errAuthRefused
	}
	reply := append([]byte{authAccepted}, mac(secret, answer[macSize:], serverLabel)...)
	if _, err := rw.Write(reply); err != nil {
		return fmt.Errorf("rendezvous: handshake write: %w", err)
	}
	return nil
}

// clientHandshake runs the client side of the handshake on rw.
func clientHandshake(rw io.ReadWriter, secret []byte) error {
	var hello [len(helloMagic) + 1 + nonceSize]byte
	if _, err := io.ReadFull(rw, hello[:len(helloMagic)+1]); err != nil {
		return fmt.Errorf("rendezvous: handshake read: %w", err)
	}
	if string(hello[:len(helloMagic)]) != helloMagic {
		return fmt.Errorf("rendezvous: handshake: not a rendezvous server (magic %q)", hello[:len(helloMagic)])
	}
	switch hello[len(helloMagic)] {
	case helloOK:
	case helloBusy:
		return ErrBusy
	default:
		return fmt.Errorf("rendezvous: handshake: bad hello status %#x", hello[len(helloMagic)])
	}
	if _, err := io.ReadFull(rw, hello[len(helloMagic)+1:]); err != nil {
		return fmt.Errorf("rendezvous: handshake read: %w", err)
	}
	serverNonce := hello[len(helloMagic)+1:]
	clientNonce := make([]byte, nonceSize)
	if _, err := rand.Read(clientNonce); err != nil {
		return fmt.Errorf("rendezvous: nonce: %w", err)
	}
	answer := append(mac(secret, serverNonce, clientLabel), clientNonce...)
	if _, err := rw.Write(answer); err != nil {
		return fmt.Errorf("rendezvous: handshake write: %w", err)
	}
	var status [1]byte
	if _, err := io.ReadFull(rw, status[:]); err != nil {
		// A server that refuses may close before the status byte arrives.
		return fmt.Errorf("rendezvous: handshake: connection closed before acceptance: %w", ErrAuth)
	}
	if status[0] != authAccepted {
		return ErrAuth
	}
	var proof [macSize]byte
	if _, err := io.ReadFull(rw, proof[:]); err != nil {
		return fmt.Errorf("rendezvous: handshake read: %w", err)
	}
	if !hmac.Equal(proof[:], mac(secret, clientNonce, serverLabel)) {
		return fmt.Errorf("rendezvous: server proof does not match the job secret: %w", ErrAuth)
	}
	return nil
}
