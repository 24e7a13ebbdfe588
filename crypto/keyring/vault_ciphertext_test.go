package keyring

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

func TestParseVaultCiphertext(t *testing.T) {
	body := base64.StdEncoding.EncodeToString(make([]byte, nonceSize+tagSize+5))
	short := base64.StdEncoding.EncodeToString(make([]byte, nonceSize+tagSize-1))
	padded := base64.StdEncoding.EncodeToString(make([]byte, nonceSize+tagSize+1)) // ends in "="
	for _, tc := range []struct {
		in      string
		version int
		ok      bool
	}{
		{"vault:v1:" + body, 1, true},
		{"vault:v42:" + body, 42, true},
		{"vault:v0:" + body, 0, false},  // Vault reads v0 as v1
		{"vault:v01:" + body, 0, false}, // not canonical
		{"vault:v:" + body, 0, false},
		{"vault:v-1:" + body, 0, false},
		{"vault:v+1:" + body, 0, false},
		{"vault:v1234567890:" + body, 0, false},
		{"vault:v1:", 0, false},
		{"vault:v1:" + short, 0, false},
		{"vault:v1:" + padded, 1, true},
		{"vault:v1:" + body + "\n", 0, false},
		{"vault:v1:" + body[:8] + "\n" + body[8:], 0, false},
		{"vault:v1:" + strings.TrimRight(padded, "="), 0, false},
		{"Vault:v1:" + body, 0, false},
		{"vault:v1" + body, 0, false},
		{"", 0, false},
	} {
		v, ok := parseVaultCiphertext([]byte(tc.in))
		if v != tc.version || ok != tc.ok {
			t.Errorf("parseVaultCiphertext(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.version, tc.ok)
		}
	}
	// Non-zero padding bits: 32 zero bytes end in "AAA="; "AAB=" decodes
	// to the same bytes in lenient base64, as Vault decodes it.
	canonical := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if _, ok := parseVaultCiphertext([]byte("vault:v1:" + canonical)); !ok {
		t.Fatalf("parseVaultCiphertext rejects canonical %q", canonical)
	}
	lenient := strings.TrimSuffix(canonical, "A=") + "B="
	if raw, err := base64.StdEncoding.DecodeString(lenient); err != nil || len(raw) != 32 {
		t.Fatalf("test vector: %q decodes to %d bytes, %v", lenient, len(raw), err)
	}
	if _, ok := parseVaultCiphertext([]byte("vault:v1:" + lenient)); ok {
		t.Errorf("parseVaultCiphertext accepts non-zero padding bits %q", lenient)
	}
}

// FuzzParseVaultCiphertext checks that every accepted ciphertext is the one
// canonical spelling of its version and bytes, so that a modified wrapped
// secret never reaches Vault looking like the original.
func FuzzParseVaultCiphertext(f *testing.F) {
	body := base64.StdEncoding.EncodeToString(make([]byte, nonceSize+tagSize+1))
	f.Add([]byte("vault:v1:" + body))
	f.Add([]byte("vault:v0:" + body))
	f.Add([]byte("vault:v12:" + body + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseVaultCiphertext(b)
		if !ok {
			return
		}
		rest := strings.TrimPrefix(string(b), "vault:v"+strconv.Itoa(v)+":")
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || v < 1 {
			t.Fatalf("accepted %q (version %d): %v", b, v, err)
		}
		if canon := "vault:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(raw); canon != string(b) {
			t.Fatalf("accepted %q, which is not the canonical %q", b, canon)
		}
	})
}
