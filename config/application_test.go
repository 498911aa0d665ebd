package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certFile writes a PEM file with a self-signed certificate valid from nb to na and its key.
func certFile(t *testing.T, nb, na time.Time, mode os.FileMode, mutate func(certPEM, keyPEM []byte) []byte) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portico-test"}, NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	k := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	b := append(append([]byte{}, k...), c...)
	if mutate != nil {
		b = mutate(c, k)
	}
	p := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplicationSettings(t *testing.T) {
	now := time.Now()
	good := certFile(t, now.Add(-time.Hour), now.Add(24*time.Hour), 0o600, nil)
	next := certFile(t, now.Add(-time.Hour), now.Add(48*time.Hour), 0o600, nil)
	expired := certFile(t, now.Add(-48*time.Hour), now.Add(-time.Hour), 0o600, nil)
	future := certFile(t, now.Add(time.Hour), now.Add(48*time.Hour), 0o600, nil)
	open := certFile(t, now.Add(-time.Hour), now.Add(24*time.Hour), 0o644, nil)
	noKey := certFile(t, now.Add(-time.Hour), now.Add(24*time.Hour), 0o600, func(c, _ []byte) []byte { return c })
	otherKey := certFile(t, now.Add(-time.Hour), now.Add(24*time.Hour), 0o600, func(c, _ []byte) []byte {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		d, _ := x509.MarshalPKCS8PrivateKey(k)
		return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: d}), c...)
	})
	ecKey := certFile(t, now.Add(-time.Hour), now.Add(24*time.Hour), 0o600, func(c, _ []byte) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		d, _ := x509.MarshalPKCS8PrivateKey(k)
		return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: d}), c...)
	})

	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		want  []string // substrings of the error; none: valid
		check func(t *testing.T, c *Config)
	}{
		{name: "default is delegated, no background", check: func(t *testing.T, c *Config) {
			if c.GraphMode != GraphModeDelegated || c.Application() || c.Background || c.AppTokensEnabled() || c.Inviters != nil {
				t.Errorf("defaults: mode=%s background=%t inviters=%v", c.GraphMode, c.Background, c.Inviters)
			}
		}},
		{name: "application with secret", env: map[string]string{"PORTICO_GRAPH_MODE": "application", "PORTICO_INVITERS": "Portico.Invite, 95e79109-95c0-4d8e-aee3-d01accf2d47b"},
			check: func(t *testing.T, c *Config) {
				if !c.Application() || !c.AppTokensEnabled() || len(c.Inviters) != 2 || c.Inviters[0] != "Portico.Invite" {
					t.Errorf("mode=%s inviters=%v", c.GraphMode, c.Inviters)
				}
			}},
		{name: "flag wins over the environment", env: map[string]string{"PORTICO_GRAPH_MODE": "delegated"}, args: []string{"-graph-mode", "application"},
			check: func(t *testing.T, c *Config) {
				if !c.Application() {
					t.Error("-graph-mode application ignored")
				}
			}},
		{name: "certificate only, rotation with two", env: map[string]string{"PORTICO_CLIENT_SECRET": "", "PORTICO_GRAPH_MODE": "application", "PORTICO_CLIENT_CERTIFICATE_FILE": good + "," + next},
			check: func(t *testing.T, c *Config) {
				if len(c.ClientCertificates) != 2 || c.ClientCertificates[0].Path != good || c.ClientCertificates[1].Path != next {
					t.Errorf("certificates = %v", c.ClientCertificates)
				}
				if s := c.String(); !strings.Contains(s, "certificates=2") {
					t.Errorf("String = %s", s)
				}
				// The private key never prints, however the certificate or the config is formatted.
				cc := c.ClientCertificates[0]
				d := cc.Key.(*rsa.PrivateKey).D.String()
				for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", cc, cc, cc, cc), fmt.Sprintf("%v %+v %#v", *cc, *cc, *cc), fmt.Sprintf("%v %+v %#v", c, *c, c)} {
					if strings.Contains(out, d) || strings.Contains(out, "PRIVATE") {
						t.Fatalf("key material printed: %.200s", out)
					}
				}
			}},
		{name: "background on", env: map[string]string{"PORTICO_BACKGROUND": "on"}, check: func(t *testing.T, c *Config) {
			if !c.Background || !c.AppTokensEnabled() || c.Application() {
				t.Error("PORTICO_BACKGROUND=on not applied")
			}
		}},
		{name: "every problem at once", env: map[string]string{
			"PORTICO_GRAPH_MODE": "app-only", "PORTICO_BACKGROUND": "yes", "PORTICO_INVITERS": "all,Portico.Invite",
			"PORTICO_CLIENT_CERTIFICATE_FILE": expired + "," + open + "," + good,
		}, want: []string{
			`PORTICO_GRAPH_MODE "app-only" must be delegated or application`,
			`PORTICO_BACKGROUND "yes" must be on or off`,
			`PORTICO_INVITERS: "all" cannot be combined`,
			"PORTICO_CLIENT_CERTIFICATE_FILE lists 3 files",
			"PORTICO_CLIENT_CERTIFICATE_FILE: " + expired + ": the certificate (subject \"CN=portico-test\") expired on",
			"PORTICO_CLIENT_CERTIFICATE_FILE: " + open + " holds a private key but is readable by group or others (mode 0644)",
		}},
		{name: "not yet valid", env: map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": future}, want: []string{"is not valid before"}},
		{name: "no key", env: map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": noKey}, want: []string{"holds no PEM PRIVATE KEY block"}},
		{name: "key of another certificate", env: map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": otherKey}, want: []string{"the private key does not belong to the certificate"}},
		{name: "not RSA", env: map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": ecKey}, want: []string{"need an RSA key"}},
		{name: "missing file", env: map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": "/nonexistent/app.pem"}, want: []string{"PORTICO_CLIENT_CERTIFICATE_FILE: cannot read /nonexistent/app.pem"}},
		{name: "application without credentials", env: map[string]string{"PORTICO_CLIENT_SECRET": "", "PORTICO_GRAPH_MODE": "application"},
			want: []string{"PORTICO_CLIENT_SECRET (or PORTICO_CLIENT_SECRET_FILE, or PORTICO_CLIENT_CERTIFICATE_FILE) is not set",
				"PORTICO_GRAPH_MODE=application needs application credentials"}},
		{name: "demo permissions outside demo", args: []string{"-demo-app-permissions", "User.Read.All"}, want: []string{"only applies in demo mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv()
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := Load(tt.args, env(e), io.Discard)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			var p Problems
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want problems", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDemoApplicationSettings(t *testing.T) {
	c, err := Load([]string{"-demo", "-graph-mode", "application", "-demo-app-permissions", "User.Invite.All,User.Read.All"}, env(map[string]string{}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Application() || c.DemoAppCredential != "certificate" || strings.Join(c.DemoAppPermissions, ",") != "User.Invite.All,User.Read.All" {
		t.Errorf("demo: mode=%s credential=%s permissions=%v", c.GraphMode, c.DemoAppCredential, c.DemoAppPermissions)
	}
	if _, err := Load([]string{"-demo", "-demo-app-credential", "password"}, env(map[string]string{}), io.Discard); err == nil || !strings.Contains(err.Error(), "must be certificate or secret") {
		t.Errorf("bad -demo-app-credential: %v", err)
	}
}

func TestGuestGroups(t *testing.T) {
	g1, g2 := "0b6b8a52-3c1e-4a57-9d6e-2f1a0c9b7e11", "5D2C1B0A-9E8F-4D7C-8B6A-5F4E3D2C1B0A"
	e := validEnv()
	e["PORTICO_GUEST_GROUPS"] = g1 + ", " + g2 + "," + g1
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.GuestGroups) != 2 || c.GuestGroups[0] != g1 || c.GuestGroups[1] != strings.ToLower(g2) {
		t.Errorf("GuestGroups = %v", c.GuestGroups)
	}
	e["PORTICO_GUEST_GROUPS"] = g1 + ",Marketing"
	_, err = Load(nil, env(e), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `PORTICO_GUEST_GROUPS: "marketing" is not a group object id`) {
		t.Errorf("a name accepted: %v", err)
	}
}
