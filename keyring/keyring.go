// Package keyring seals and opens small secrets with AES-256-GCM under a list of rotating keys.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of every key: AES-256.
const KeySize = 32

const (
	version   byte = 1
	idSize         = 4
	nonceSize      = 12
	headerLen      = 1 + idSize + nonceSize
)

// ErrOpen is returned (wrapped) when sealed data cannot be opened by any key of the ring.
var ErrOpen = errors.New("keyring: cannot open sealed data")

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Ring holds AES-256-GCM keys, newest first: the first seals, all of them open.
type Ring struct {
	keys []key
}

// New builds a ring from raw 32-byte keys, newest first.
func New(keys ...[]byte) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: at least one key is needed")
	}
	r := &Ring{keys: make([]key, 0, len(keys))}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("keyring: key %d is %d bytes; each key must be exactly %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(k)
		var id [idSize]byte
		copy(id[:], sum[:idSize])
		r.keys = append(r.keys, key{id: id, aead: aead})
	}
	return r, nil
}

// Errors of DecodeKey.
var (
	ErrNotBase64 = errors.New("keyring: not base64")
	ErrKeySize   = errors.New("keyring: a key must be 32 bytes, base64-encoded")
)

// DecodeKey decodes one key written in base64, standard or URL alphabet, padded or not (what
// `openssl rand -base64 32` prints); it must decode to exactly KeySize bytes. It is the only decoder
// of PORTICO_DATA_KEY.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil || s == "" {
		return nil, ErrNotBase64
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w (this one decodes to %d bytes)", ErrKeySize, len(b))
	}
	return b, nil
}

// Seal encrypts plain with the newest key, binding aad; the output is version | key id | nonce | ciphertext.
func (r *Ring) Seal(plain, aad []byte) ([]byte, error) {
	k := r.keys[0]
	out := make([]byte, headerLen, headerLen+len(plain)+k.aead.Overhead())
	out[0] = version
	copy(out[1:1+idSize], k.id[:])
	if _, err := rand.Read(out[1+idSize : headerLen]); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1+idSize:headerLen], plain, aad), nil
}

// Open decrypts data produced by Seal with any key of the ring, checking aad.
func (r *Ring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerLen {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrOpen, sealed[0])
	}
	id := sealed[1 : 1+idSize]
	nonce := sealed[1+idSize : headerLen]
	ct := sealed[headerLen:]
	matched := false
	// Key ids are 4 bytes of a hash, so two keys may share one: try every key that matches.
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(k.id[:], id) != 1 {
			continue
		}
		matched = true
		if plain, err := k.aead.Open(nil, nonce, ct, aad); err == nil {
			return plain, nil
		}
	}
	if !matched {
		return nil, fmt.Errorf("%w: no key with id %x", ErrOpen, id)
	}
	return nil, fmt.Errorf("%w: authentication failed", ErrOpen)
}

// Len reports how many keys the ring holds.
func (r *Ring) Len() int { return len(r.keys) }
