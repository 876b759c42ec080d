package quic

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Identity is an endpoint's key pair and the self-signed certificate it presents in every
// handshake, as client and as server. Peers recognise it by its Fingerprint, never by a
// certificate authority.
type Identity struct {
	cert tls.Certificate
	fp   [32]byte
}

// NewIdentity makes a fresh ECDSA P-256 key and a self-signed certificate for it.
func NewIdentity() (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("quic: new identity: %w", err)
	}
	return IdentityFromKey(key)
}

// IdentityFromKey makes an Identity for an existing ECDSA key, with a new self-signed
// certificate. The fingerprint depends on the key only, so it is the same for every certificate
// made for one key.
func IdentityFromKey(key *ecdsa.PrivateKey) (*Identity, error) {
	if key == nil {
		return nil, errors.New("quic: identity from key: nil key")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("quic: identity from key: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "chorus peer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("quic: identity from key: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("quic: identity from key: parse certificate: %w", err)
	}
	return &Identity{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		fp:   sha256.Sum256(leaf.RawSubjectPublicKeyInfo),
	}, nil
}

// Fingerprint returns the SHA-256 digest of the identity's public key (its DER
// SubjectPublicKeyInfo). Publish it through rendezvous; peers pin it with Config.Allowed.
func (id *Identity) Fingerprint() [32]byte { return id.fp }

// Certificate returns the TLS certificate the identity presents.
func (id *Identity) Certificate() tls.Certificate { return id.cert }

// String returns the first bytes of the fingerprint in hex, enough to tell peers apart in logs.
func (id *Identity) String() string { return shortFP(id.fp) }

func shortFP(fp [32]byte) string { return hex.EncodeToString(fp[:8]) }

// AllowFingerprints returns a Config.Allowed that accepts exactly the given fingerprints.
func AllowFingerprints(fps ...[32]byte) func(fp [32]byte) bool {
	set := make(map[[32]byte]struct{}, len(fps))
	for _, fp := range fps {
		set[fp] = struct{}{}
	}
	return func(fp [32]byte) bool {
		_, ok := set[fp]
		return ok
	}
}

// ErrNotAllowed: the peer presented a key that Config.Allowed refuses.
var ErrNotAllowed = errors.New("chorus: quic: peer key not allowed")

// verifyPin returns the tls.Config.VerifyPeerCertificate that checks the peer's key against
// allowed. TLS 1.3 has already checked that the peer holds the certificate's private key (its
// CertificateVerify signature) when this runs.
func verifyPin(allowed func([32]byte) bool) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return fmt.Errorf("quic: peer presented no certificate: %w", ErrNotAllowed)
		}
		cert, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("quic: peer certificate: %w", err)
		}
		fp := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		if !allowed(fp) {
			return fmt.Errorf("quic: peer key %s: %w", shortFP(fp), ErrNotAllowed)
		}
		return nil
	}
}
