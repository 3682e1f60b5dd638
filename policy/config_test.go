package policy_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

var update = flag.Bool("update", false, "rewrite the expected .err files of testdata/config")

// configDir is testdata/config at the root of the module. Errors name files
// relative to the root, as the daemon started there would.
const configDir = "../testdata/config"

// configName is how errors name a file of configDir.
func configName(file string) string { return "testdata/config/" + file }

// TestInvalidConfigs parses every testdata/config/invalid-NAME.toml and
// compares the whole error text with invalid-NAME.err.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configDir, "invalid-*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no invalid-*.toml files in " + configDir)
	}
	for _, path := range files {
		base := filepath.Base(path)
		t.Run(strings.TrimSuffix(base, ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = policy.Parse(configName(base), data)
			if err == nil {
				t.Fatal("Parse accepted an invalid configuration")
			}
			for _, e := range leafErrors(err) {
				var ce *policy.ConfigError
				if !errors.As(e, &ce) {
					t.Errorf("%q is a %T, want a *policy.ConfigError", e, e)
				} else if ce.File != configName(base) {
					t.Errorf("%q: File = %q, want %q", e, ce.File, configName(base))
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s\ngot:\n%s\nwant:\n%s", filepath.Base(golden), got, want)
			}
		})
	}
}

// TestInvalidConfigsHaveGolden makes sure that no .err file is left without
// its configuration.
func TestInvalidConfigsHaveGolden(t *testing.T) {
	errs, err := filepath.Glob(filepath.Join(configDir, "invalid-*.err"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if _, err := os.Stat(strings.TrimSuffix(e, ".err") + ".toml"); err != nil {
			t.Errorf("%s has no configuration beside it", filepath.Base(e))
		}
	}
}

// leafErrors unwraps errors.Join.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func TestDefaultConfig(t *testing.T) {
	c := policy.Default()
	if c.File != "(default)" {
		t.Errorf("File = %q, want (default)", c.File)
	}
	if c.Mode != "enforce" || c.OnError != "tempfail" || c.Listen != "inet:127.0.0.1:10030" {
		t.Errorf("mode, on_error, listen = %q, %q, %q", c.Mode, c.OnError, c.Listen)
	}
	if got, want := c.ErrorReply.String(), "451 4.7.1 Temporary policy failure, try again later"; got != want {
		t.Errorf("error_reply = %q, want %q", got, want)
	}
	if !c.Exempt.Authenticated || !slices.Equal(c.Exempt.Networks, []string{"127.0.0.0/8", "::1/128"}) {
		t.Errorf("exempt = %+v", c.Exempt)
	}
	rules := configEngine(t, c, nil).Rules()
	so, rl := slices.Index(rules, "send_only"), slices.Index(rules, "recipient_limit")
	if so < 0 || rl < 0 || so > rl {
		t.Errorf("Rules() = %q, want send_only and recipient_limit on, in that order", rules)
	}
	if slices.Contains(rules, "dnsbl") || slices.Contains(rules, "virus") {
		t.Errorf("Rules() = %q: the default needs no outside service", rules)
	}
	if c.Rules.RecipientLimit == nil || c.Rules.RecipientLimit.Max != 9 || !c.Rules.RecipientLimit.CountHeaders {
		t.Errorf("recipient_limit = %+v, want max 9 with count_headers", c.Rules.RecipientLimit)
	}
}

// TestDefaultConfigIsEmbedded checks that the embedded bytes are the file
// the package ships.
func TestDefaultConfigIsEmbedded(t *testing.T) {
	data, err := os.ReadFile("default.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(policy.DefaultConfig) {
		t.Error("DefaultConfig differs from default.toml")
	}
}

// TestEmptyConfig: an empty file is valid, takes every default and turns no
// rule on.
func TestEmptyConfig(t *testing.T) {
	c, err := policy.Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "enforce" || c.Header != "X-Sekisho" || c.ReadTimeout.D().Minutes() != 10 || c.Inspect.MaxHeaderSize != 256<<10 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := configEngine(t, c, nil).Rules(); len(got) != 0 {
		t.Errorf("Rules() = %q, want none", got)
	}
}

func TestRuleEnabled(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"absent table is off", ``, nil},
		{"present table is on", "[rules.send_only]\naddresses = [\"noreply@*\"]\n", []string{"send_only"}},
		{"enabled = true", "[rules.send_only]\nenabled = true\naddresses = [\"noreply@*\"]\n", []string{"send_only"}},
		{"enabled = false", "[rules.send_only]\nenabled = false\naddresses = [\"noreply@*\"]\n", nil},
		{"one of two off", "[rules.send_only]\naddresses = [\"noreply@*\"]\n[rules.recipient_limit]\nenabled = false\nmax = 5\n", []string{"send_only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRules(t, tt.toml, tt.want) })
	}
}

func TestRuleOrderIsFileOrder(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"send_only first", "[rules.send_only]\naddresses = [\"noreply@*\"]\n[rules.recipient_limit]\nmax = 5\n", []string{"send_only", "recipient_limit"}},
		{"recipient_limit first", "[rules.recipient_limit]\nmax = 5\n[rules.send_only]\naddresses = [\"noreply@*\"]\n", []string{"recipient_limit", "send_only"}},
		{"quoted and spaced", "[ rules . \"recipient_limit\" ]\nmax = 5\n[rules.send_only]\naddresses = [\"noreply@*\"]\n", []string{"recipient_limit", "send_only"}},
		{"dotted keys are in the file's order too", "[rules]\nrecipient_limit.max = 5\nsend_only.addresses = [\"noreply@*\"]\n", []string{"recipient_limit", "send_only"}},
		{"inline tables too", "rules.recipient_limit = { max = 5 }\nrules.send_only = { addresses = [\"noreply@*\"] }\n", []string{"recipient_limit", "send_only"}},
		{"commented-out table is ignored", "# [rules.recipient_limit]\n[rules.send_only]\naddresses = [\"noreply@*\"]\n[rules.recipient_limit]\nmax = 5\n", []string{"send_only", "recipient_limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRules(t, tt.toml, tt.want) })
	}
}

func TestValidOrderFile(t *testing.T) {
	c, err := policy.LoadFile(filepath.Join(configDir, "valid-order.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"recipient_limit", "send_only"}; !slices.Equal(c.Order, want) {
		t.Errorf("Order = %q, want %q", c.Order, want)
	}
	if got, want := configEngine(t, c, nil).Rules(), []string{"recipient_limit", "send_only"}; !slices.Equal(got, want) {
		t.Errorf("Rules() = %q, want %q", got, want)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := policy.LoadFile(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: %v, want an error wrapping os.ErrNotExist", err)
	}
}

// TestContribExampleParses loads the documented example configuration
// shipped in contrib/: it must always be valid.
func TestContribExampleParses(t *testing.T) {
	c, err := policy.LoadFile("../contrib/sekisho.toml")
	if err != nil {
		t.Fatal(err)
	}
	configEngine(t, c, nil)
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		in, network, addr string
		ok                bool
	}{
		{"inet:127.0.0.1:10030", "tcp", "127.0.0.1:10030", true},
		{"inet:[::1]:10030", "tcp", "[::1]:10030", true},
		{"inet6:[::1]:10030", "tcp", "[::1]:10030", true},
		{"inet:localhost:10030", "tcp", "localhost:10030", true},
		{"unix:/run/sekisho/sekisho.sock", "unix", "/run/sekisho/sekisho.sock", true},
		{"local:/run/sekisho.sock", "unix", "/run/sekisho.sock", true},
		{"unix:sekisho.sock", "", "", false},
		{"inet:127.0.0.1", "", "", false},
		{"inet:", "", "", false},
		{"10030", "", "", false},
		{"", "", "", false},
		{"udp:127.0.0.1:10030", "", "", false},
	}
	for _, tt := range tests {
		network, addr, err := policy.ParseListen(tt.in)
		if (err == nil) != tt.ok || network != tt.network || addr != tt.addr {
			t.Errorf("ParseListen(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, network, addr, err, tt.network, tt.addr, tt.ok)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/24", "10.1.2.0/24"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::1", "::1/128"},
		{"10.0.0.0/33", ""},
		{"mail.example.jp", ""},
		{"", ""},
	}
	for _, tt := range tests {
		p, err := policy.ParsePrefix(tt.in)
		got := ""
		if err == nil {
			got = p.String()
		}
		if got != tt.want {
			t.Errorf("ParsePrefix(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParse feeds configuration files to Parse: whatever the input, it
// returns a configuration or an error naming the file, and never panics.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(configDir, "*.toml"))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(policy.DefaultConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := policy.Parse("fuzz.toml", data)
		switch {
		case err == nil && c == nil:
			t.Fatal("Parse returned neither a configuration nor an error")
		case err != nil && c != nil:
			t.Fatal("Parse returned both a configuration and an error")
		case err != nil && !strings.HasPrefix(err.Error(), "fuzz.toml"):
			t.Fatalf("error does not name the file: %q", err)
		}
	})
}

// checkRules parses a configuration and compares its enabled rules, in
// evaluation order, with want.
func checkRules(t *testing.T, toml string, want []string) {
	t.Helper()
	c, err := policy.Parse("t.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	if got := configEngine(t, c, nil).Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %q, want %q", got, want)
	}
}

// TestMarshalRoundTrip: the printed configuration in force parses back to
// itself, for the built-in default, the contrib example and a file that
// sets little and relies on defaults.
func TestMarshalRoundTrip(t *testing.T) {
	sparse := "[rules.attachment_size]\n[rules.dnsbl]\nzones = [{ zone = \"bl.example\" }]\n[rules.send_only]\naddresses = [\"noreply@*\"]\naction = \"tempfail\"\n"
	for name, load := range map[string]func() (*policy.Config, error){
		"default": func() (*policy.Config, error) { return policy.Default(), nil },
		"contrib": func() (*policy.Config, error) { return policy.LoadFile("../contrib/sekisho.toml") },
		"sparse":  func() (*policy.Config, error) { return policy.Parse("sparse.toml", []byte(sparse)) },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := load()
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := policy.Parse(c.File, out)
			if err != nil {
				t.Fatalf("printed configuration does not parse: %v\n%s", err, out)
			}
			out2, err := again.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(out2) {
				t.Errorf("printed twice, differs:\n%s\n---\n%s", out, out2)
			}
			if got, want := configEngine(t, again, nil).Rules(), configEngine(t, c, nil).Rules(); !slices.Equal(got, want) {
				t.Errorf("rules %q, want %q", got, want)
			}
		})
	}
	c, err := policy.Parse("sparse.toml", []byte(sparse))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := c.Marshal()
	for _, want := range []string{"max = '3MiB'", "threshold = 1", "weight = 1", "timeout = '2s'", "on_error = 'accept'",
		"reply = '450 4.1.1 User unknown'", "[rules.uninspectable]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("printed configuration lacks %q:\n%s", want, out)
		}
	}
}
