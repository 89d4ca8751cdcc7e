package pair

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// ErrIdentityMismatch is a peer whose key is not the pinned one.
var ErrIdentityMismatch = errors.New("identity mismatch")

// MismatchError says which key a refused peer presented.
type MismatchError struct {
	Presented, Pinned string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("identity mismatch: the peer presented %s, the pinned peer-identity is %s", e.Presented, e.Pinned)
}

func (e *MismatchError) Unwrap() error { return ErrIdentityMismatch }

// verifyPinned checks the peer's leaf certificate against the pinned
// fingerprint and nothing else: no CA, no names, no dates. The TLS
// handshake has already proved the peer holds the private key of the
// certificate it sent (CertificateVerify), so its public key is who it
// is.
func verifyPinned(pinned string, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the peer sent no certificate")
	}
	got := Fingerprint(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
	if got != pinned {
		return &MismatchError{Presented: got, Pinned: pinned}
	}
	return nil
}

// serverConfig answers only a client holding the pinned key. onVerify
// learns the outcome of every client's check, for the pair view.
func serverConfig(id *Identity, pinned string, onVerify func(error)) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		// Any certificate, so that VerifyConnection sees it: the pin is
		// the whole check.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyPinned(pinned, cs)
			if onVerify != nil {
				onVerify(err)
			}
			return err
		},
	}
}

// clientConfig talks only to a server holding the pinned key.
func clientConfig(id *Identity, pinned string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		// The chain and name checks are replaced, not skipped:
		// VerifyConnection runs for every handshake and checks the pin.
		InsecureSkipVerify: true, //nolint:gosec // pinned key checked in VerifyConnection
		ServerName:         "ctsyncd",
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(pinned, cs)
		},
	}
}
