package console

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoopbackHost: a console without a login answers only requests made
// to a loopback name, so that a page of another site whose name resolves
// to 127.0.0.1 (DNS rebinding) can neither read it nor post to it.
func TestLoopbackHost(t *testing.T) {
	h := loopbackHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for host, ok := range map[string]bool{
		"127.0.0.1:10031": true, "[::1]:10031": true, "localhost:10031": true, "localhost": true, "127.0.0.1": true,
		"evil.example:10031": false, "evil.example": false, "192.0.2.1:10031": false, "": false, "127.0.0.1.evil.example:10031": false,
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if (rec.Code == 200) != ok {
			t.Errorf("Host %q: %d, want served %v", host, rec.Code, ok)
		}
	}
}

// TestCheckAccess: beyond loopback the console needs a web configuration
// with users; on loopback none is needed.
func TestCheckAccess(t *testing.T) {
	dir := t.TempDir()
	tlsOnly := filepath.Join(dir, "tls.yml")
	users := filepath.Join(dir, "users.yml")
	os.WriteFile(tlsOnly, []byte("http_server_config:\n  http2: false\n"), 0o600)
	os.WriteFile(users, []byte("basic_auth_users:\n  yamada: $2y$10$ZQtlNq6Y7D.3uPS8XXhuYOVvsblSqMbjmJm5Ge3N0YI4cqY5ZpuKi\n"), 0o600)
	for _, c := range []struct {
		addr, web, want string
	}{
		{"127.0.0.1:10031", "", ""},
		{"127.0.0.1:10031", tlsOnly, ""},
		{"192.0.2.25:10031", tlsOnly, "has no basic_auth_users: beyond loopback the console needs a login"},
		{"192.0.2.25:10031", users, ""},
		{"192.0.2.25:10031", filepath.Join(dir, "none.yml"), "web_config " + filepath.Join(dir, "none.yml")},
	} {
		err := CheckAccess(c.addr, c.web)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckAccess(%s, %s) = %v, want %q", c.addr, c.web, err, c.want)
		}
	}
}
