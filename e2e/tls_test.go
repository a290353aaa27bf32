package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// webTLS is a certificate authority and a server certificate for
// 127.0.0.1 it signed, in PEM files.
type webTLS struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newWebTLS(t *testing.T, dir string) webTLS {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oomtrace test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "oomtrace"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	w := webTLS{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	w.pool.AddCert(ca)
	for _, f := range []struct {
		name, kind string
		der        []byte
	}{{w.caFile, "CERTIFICATE", caDER}, {w.certFile, "CERTIFICATE", der}, {w.keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.name, pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// The agent speaks the exporters' convention for TLS and basic auth
// (--web.config.file, as node_exporter does), and a real Prometheus scrapes
// it over TLS with a password; without the password it gets nothing.
func TestServeTLSPrometheus(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	certs := newWebTLS(t, dir)
	const user, password = "prometheus", "s3cret with spaces"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	config := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", certs.certFile, certs.keyFile, user, hash)
	if err := os.WriteFile(webConfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServedPod(t, "--web.config.file", webConfig)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.pool}}}
	get := func(scheme, user, password string) (int, string, error) {
		req, err := http.NewRequest("GET", scheme+"://"+s.addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := get("https", user, password); err != nil || code != http.StatusOK || !strings.Contains(body, "oomtrace_build_info") {
		t.Errorf("https with the password: %d %v", code, err)
	}
	for _, c := range []struct{ user, password string }{{"", ""}, {user, "wrong"}, {"nobody", password}} {
		if code, _, err := get("https", c.user, c.password); err != nil || code != http.StatusUnauthorized {
			t.Errorf("https as %q with password %q: %d %v, want 401", c.user, c.password, code, err)
		}
	}
	if code, body, err := get("http", user, password); err == nil && strings.Contains(body, "oomtrace_") {
		t.Errorf("plain http served metrics (%d)", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get("https://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the password: %d, want 401", path, resp.StatusCode)
		}
	}

	// Prometheus scrapes with the CA and the password; a second job with a
	// wrong password finds the target down.
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	job := func(name, passwordLine string) string {
		return fmt.Sprintf(`  - job_name: %s
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: %s
      %s
    static_configs:
      - targets: [%q]
`, name, certs.caFile, user, passwordLine, s.addr)
	}
	prom := startPrometheusConfig(t, "global:\n  scrape_interval: 200ms\nscrape_configs:\n"+
		job("oomtrace", "password_file: "+pwFile)+job("intruder", "password: wrong"))
	const kills = 2
	s.kill(t, kills)
	if v := prom.waitValue(t, `sum(oomtrace_oom_kills_total{job="oomtrace",namespace="shop",pod="api-7d9",container="api"})`, kills); v != kills {
		t.Errorf("Prometheus sees %v kills over TLS, want %d", v, kills)
	}
	if v := prom.waitValue(t, `up{job="intruder"}`, 0); v != 0 {
		t.Errorf("up of the job with a wrong password: %v, want 0", v)
	}
	if v := prom.waitValue(t, `up{job="oomtrace"}`, 1); v != 1 {
		t.Errorf("up of the job with the password: %v, want 1", v)
	}
}

// A web config that cannot be used stops serve before it traces.
func TestServeTLSBadConfig(t *testing.T) {
	requireRoot(t)
	bad := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(oomtraceBin, "serve", "--listen", freeAddr(t), "--web.config.file", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "web config") {
		t.Errorf("serve with a broken web config: %v\n%s", err, out)
	}
}
