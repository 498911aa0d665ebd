package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestRoundTrip(t *testing.T) {
	r, err := New(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range [][]byte{nil, []byte("x"), []byte("https://login.example/redeem?ticket=T"), bytes.Repeat([]byte("a"), 5000)} {
		sealed, err := r.Seal(plain, []byte("inv-1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Fatal("sealed output contains the plaintext")
		}
		got, err := r.Open(sealed, []byte("inv-1"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("got %q, want %q", got, plain)
		}
	}
	a, _ := r.Seal([]byte("same"), nil)
	b, _ := r.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical: nonce not random")
	}
	if a[0] != version || len(a) != headerLen+4+16 {
		t.Fatalf("unexpected layout: version %d, len %d", a[0], len(a))
	}
}

func TestRotation(t *testing.T) {
	keyA, keyB := testKey('A'), testKey('B')
	ringA, err := New(keyA)
	if err != nil {
		t.Fatal(err)
	}
	sealedA, err := ringA.Seal([]byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	ringBA, err := New(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ringBA.Open(sealedA, []byte("aad")); err != nil || string(got) != "secret" {
		t.Fatalf("B,A opening A's data: %q, %v", got, err)
	}
	sealedB, err := ringBA.Seal([]byte("new"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ringA.Open(sealedB, nil); err == nil {
		t.Fatal("ring A opened data sealed by B")
	}
	ringB, err := New(keyB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ringB.Open(sealedA, []byte("aad")); !errors.Is(err, ErrOpen) {
		t.Fatalf("ring B alone opened A's data: %v", err)
	}
}

func TestKeyIDCollision(t *testing.T) {
	// Force two keys to share an id: Open must try both.
	r, err := New(testKey(1), testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	r.keys[0].id = r.keys[1].id
	old, _ := New(testKey(2))
	sealed, _ := old.Seal([]byte("p"), nil)
	if got, err := r.Open(sealed, nil); err != nil || string(got) != "p" {
		t.Fatalf("collision: %q, %v", got, err)
	}
}

func TestTamperingAndAAD(t *testing.T) {
	r, _ := New(testKey(7))
	sealed, _ := r.Seal([]byte("payload"), []byte("inv-1"))
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x40
		if _, err := r.Open(bad, []byte("inv-1")); !errors.Is(err, ErrOpen) {
			t.Fatalf("flipping byte %d not detected: %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, sealed[:headerLen-1], sealed[:headerLen], sealed[:len(sealed)-1]} {
		if _, err := r.Open(bad, []byte("inv-1")); err == nil {
			t.Fatalf("truncated input of %d bytes opened", len(bad))
		}
	}
	if _, err := r.Open(sealed, []byte("inv-2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("AAD mismatch not detected: %v", err)
	}
	if _, err := r.Open(sealed, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("missing AAD not detected: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	tests := []struct {
		name string
		keys [][]byte
		ok   bool
	}{
		{name: "none", keys: nil},
		{name: "short", keys: [][]byte{make([]byte, 16)}},
		{name: "long", keys: [][]byte{make([]byte, 33)}},
		{name: "second bad", keys: [][]byte{testKey(1), make([]byte, 31)}},
		{name: "good", keys: [][]byte{testKey(1), testKey(2)}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys...)
			if (err == nil) != tt.ok {
				t.Fatalf("New: err=%v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "keyring: ") {
				t.Fatalf("error not prefixed: %v", err)
			}
		})
	}
}

func TestDecodeKeyAlphabets(t *testing.T) {
	raw := []byte(strings.Repeat("\xfb\xff", 16)) // encodes with '+' and '/' in one alphabet, '-' and '_' in the other
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		s := enc.EncodeToString(raw)
		got, err := DecodeKey(" " + s + "\n")
		if err != nil || string(got) != string(raw) {
			t.Errorf("DecodeKey(%q) = %x, %v; want %x", s, got, err, raw)
		}
	}
	for s, want := range map[string]error{
		"":         ErrNotBase64,
		"!!!":      ErrNotBase64,
		"a+b-c":    ErrNotBase64, // mixed alphabets
		"AAECAwQ=": ErrKeySize,
	} {
		if _, err := DecodeKey(s); !errors.Is(err, want) {
			t.Errorf("DecodeKey(%q) error = %v, want %v", s, err, want)
		}
	}
}
