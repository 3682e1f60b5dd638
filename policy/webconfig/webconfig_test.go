package webconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sekisho test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// serve serves a handler that answers with the user it was let in as,
// under the web configuration path, and returns its address.
func serve(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s", User(r))
	})}
	Serve(ln, srv, path, slog.New(slog.DiscardHandler), "test endpoint")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func get(t *testing.T, c *http.Client, url, user, pw string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBasicAuthAndTLS: with a web configuration of users and a
// certificate, a request without credentials or with a wrong password is
// refused with 401, one with them is served and knows its user, and plain
// HTTP is not served. Without a configuration, plain HTTP with no login.
func TestBasicAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("関所-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, pool := selfSigned(t, dir)
	auth := filepath.Join(dir, "auth.yml")
	os.WriteFile(auth, []byte(fmt.Sprintf("basic_auth_users:\n  admin: %s\n", hash)), 0o600)
	full := filepath.Join(dir, "web.yml")
	os.WriteFile(full, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  admin: %s\n", cert, key, hash)), 0o600)
	for _, p := range []string{auth, full} {
		if err := Validate(p); err != nil {
			t.Fatalf("Validate(%s): %v", p, err)
		}
	}

	plain := &http.Client{Timeout: 10 * time.Second}
	addr := serve(t, auth)
	for _, c := range []struct {
		user, pw string
		code     int
	}{{"", "", 401}, {"admin", "wrong", 401}, {"root", "関所-pw", 401}, {"admin", "関所-pw", 200}} {
		code, body := get(t, plain, "http://"+addr+"/", c.user, c.pw)
		if code != c.code || (code == 200 && body != "user=admin") {
			t.Errorf("basic auth as %q/%q: %d %q, want %d", c.user, c.pw, code, body, c.code)
		}
	}

	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	addr = serve(t, full)
	if code, body := get(t, tlsClient, "https://"+addr+"/", "admin", "関所-pw"); code != 200 || body != "user=admin" {
		t.Errorf("https with credentials: %d %q", code, body)
	}
	if code, _ := get(t, tlsClient, "https://"+addr+"/", "", ""); code != 401 {
		t.Errorf("https without credentials: %d, want 401", code)
	}
	if code, body := get(t, plain, "http://"+addr+"/", "admin", "関所-pw"); code == 200 {
		t.Errorf("plain HTTP served on a TLS endpoint: %q", body)
	}

	addr = serve(t, "")
	if code, body := get(t, plain, "http://"+addr+"/", "", ""); code != 200 || body != "user=" {
		t.Errorf("no web configuration: %d %q", code, body)
	}
}

// TestUserUnverified: where no login is asked for (no web configuration,
// or one without basic_auth_users), a user name the client sends is not
// reported: nothing checked it. With users, only the one whose password
// matches is.
func TestUserUnverified(t *testing.T) {
	dir := t.TempDir()
	noUsers := filepath.Join(dir, "no-users.yml")
	os.WriteFile(noUsers, []byte("http_server_config:\n  http2: true\n"), 0o600)
	if err := Validate(noUsers); err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"", noUsers} {
		addr := serve(t, path)
		for _, who := range []string{"root", "admin"} {
			if code, body := get(t, plain, "http://"+addr+"/", who, "anything"); code != 200 || body != "user=" {
				t.Errorf("web_config %q, basic auth as %s: %d %q, want no user", path, who, code, body)
			}
		}
	}

	// With users, User checks the password itself: a request that
	// reaches it with other credentials names no one.
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	auth := filepath.Join(dir, "auth.yml")
	os.WriteFile(auth, []byte(fmt.Sprintf("basic_auth_users:\n  admin: %s\n", hash)), 0o600)
	for _, c := range []struct{ user, pw, want string }{{"admin", "pw", "admin"}, {"admin", "wrong", ""}, {"root", "pw", ""}} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(c.user, c.pw)
		r = r.WithContext(context.WithValue(r.Context(), configKey{}, auth))
		if got := User(r); got != c.want {
			t.Errorf("User as %s/%s: %q, want %q", c.user, c.pw, got, c.want)
		}
	}
}

// TestValidate: a missing file, bad YAML, an unknown key, or a password
// that is not a bcrypt hash is an error that names the file.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"yaml":    "basic_auth_users: [\n",
		"key":     "basic_auth_user:\n  admin: x\n",
		"bcrypt":  "basic_auth_users:\n  admin: plain-password\n",
		"cert":    "tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n",
		"missing": "",
	} {
		p := filepath.Join(dir, name+".yml")
		if name != "missing" {
			os.WriteFile(p, []byte(content), 0o600)
		}
		err := Validate(p)
		if err == nil || !strings.Contains(err.Error(), "web_config "+p) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Validate(""); err != nil {
		t.Errorf("no file: %v", err)
	}
}
