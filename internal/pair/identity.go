// Package pair is the peer channel between the two ctsyncd of a pair and
// what travels over it: each node's status for the pair view, and
// handover requests. The channel is TLS 1.3 with both ends authenticated
// by pinned public keys; it carries nothing the failover path needs (the
// VRRP hook never uses it), so a dead channel, peer or ctsyncd never
// delays a failover.
package pair

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/paths"
)

// ErrNoIdentity means ctsyncd has not made its key yet.
var ErrNoIdentity = errors.New("no identity yet: ctsyncd makes its key at its first start")

// Identity is this node's key and the self-signed certificate made from
// it. Only the key is stored: the certificate is a wrapper TLS needs, and
// the peer checks nothing in it but the public key.
type Identity struct {
	Cert        tls.Certificate
	Fingerprint string // "sha256:" + hex of the SHA-256 of the SubjectPublicKeyInfo
}

// Fingerprint names a public key by the SHA-256 of its DER
// SubjectPublicKeyInfo, as the operator pins it.
func Fingerprint(spki []byte) string {
	sum := sha256.Sum256(spki)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoadOrCreate reads the key under root, making it (mode 0600) when there
// is none. Ed25519: small keys, fast handshakes, and TLS 1.3 supports it.
func LoadOrCreate(root paths.Root) (*Identity, error) {
	key, err := readKey(root.PairKey())
	if errors.Is(err, ErrNoIdentity) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("making the pair key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, fmt.Errorf("encoding the pair key: %w", merr)
		}
		if err := os.MkdirAll(filepath.Dir(root.PairKey()), 0o750); err != nil {
			return nil, err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := atomicfile.WriteFile(root.PairKey(), data, 0o600); err != nil {
			return nil, fmt.Errorf("writing the pair key: %w", err)
		}
		key, err = priv, nil
	}
	if err != nil {
		return nil, err
	}
	return identityFrom(key)
}

// ReadFingerprint is this node's identity as stored, for `show
// high-availability identity`; it works with ctsyncd stopped.
func ReadFingerprint(root paths.Root) (string, error) {
	key, err := readKey(root.PairKey())
	if err != nil {
		return "", err
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", err
	}
	return Fingerprint(spki), nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("reading the pair key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return priv, nil
}

func identityFrom(key ed25519.PrivateKey) (*Identity, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ctsyncd"},
		// Nothing checks the dates (the pin is the key), but TLS stacks
		// want a certificate valid now.
		NotBefore:   time.Now().Add(-24 * time.Hour),
		NotAfter:    time.Now().Add(100 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making the pair certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{
		Cert:        tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Fingerprint: Fingerprint(cert.RawSubjectPublicKeyInfo),
	}, nil
}

// ValidFingerprint reports whether s has the form the schema allows.
func ValidFingerprint(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}
