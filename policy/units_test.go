package policy_test

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Size
		ok   bool
	}{
		{"3MB", 3000000, true},
		{"3MiB", 3145728, true},
		{"500KB", 500000, true},
		{"500KiB", 512000, true},
		{"1.5MiB", 1572864, true},
		{"1GB", 1000000000, true},
		{"2GiB", 2 << 30, true},
		{"0", 0, true},
		{"0B", 0, true},
		{"1024", 1024, true},
		{"1024B", 1024, true},
		{"3 MB", 3000000, true},
		{" 3mb ", 3000000, true},
		{"10k", 10000, true},
		{"10M", 10000000, true},

		{"-1MB", 0, false},
		{"MB", 0, false},
		{"3XB", 0, false},
		{"1e400", 0, false},
		{"", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"3 M B", 0, false},
		{"5000000000GB", 0, false},
	}
	for _, tt := range tests {
		got, err := policy.ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   policy.Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{3000000, "3MB"},
		{3145728, "3MiB"},
		{1572864, "1536KiB"},
		{1 << 30, "1GiB"},
		{2000000000, "2GB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

// TestSizeRoundTrip: String writes what ParseSize reads back unchanged.
func TestSizeRoundTrip(t *testing.T) {
	for _, z := range []policy.Size{0, 1, 999, 1000, 1024, 1536, 3000000, 3145728, 1572864, 50 << 20, 1 << 40, 7e12} {
		b, err := z.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back policy.Size
		if err := back.UnmarshalText(b); err != nil || back != z {
			t.Errorf("Size(%d) → %q → %d, %v", int64(z), b, int64(back), err)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10m", 10 * time.Minute, true},
		{"2s", 2 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true},
		{" 30s ", 30 * time.Second, true},
		{"0", 0, true},
		{"-1s", 0, false},
		{"10", 0, false},
		{"10 minutes", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		var d policy.Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err == nil) != tt.ok || d.D() != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok=%v", tt.in, d.D(), err, tt.want, tt.ok)
		}
		if err == nil {
			b, _ := d.MarshalText()
			var back policy.Duration
			if err := back.UnmarshalText(b); err != nil || back != d {
				t.Errorf("%q → %q → %v, %v", tt.in, b, back.D(), err)
			}
		}
	}
}

// TestUnitsInConfig: sizes and durations are read from the configuration.
func TestUnitsInConfig(t *testing.T) {
	c, err := policy.Parse("t.toml", []byte("read_timeout = \"90s\"\n[inspect]\nmax_header_size = \"4MiB\"\nmax_archive_size = \"10MB\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadTimeout.D() != 90*time.Second || c.Inspect.MaxHeaderSize != 4<<20 || c.Inspect.MaxArchiveSize != 10e6 {
		t.Errorf("read_timeout %v, max_header_size %v, max_archive_size %v", c.ReadTimeout.D(), c.Inspect.MaxHeaderSize, c.Inspect.MaxArchiveSize)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"3MB", "3MiB", "1.5MiB", "1e400", "-1MB", "0x10", "3 MB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := policy.ParseSize(s)
		if err != nil {
			return
		}
		if z < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, z)
		}
		back, err := policy.ParseSize(z.String())
		if err != nil || back != z {
			t.Fatalf("ParseSize(%q) = %d; String %q reads back as %d, %v", s, z, z.String(), back, err)
		}
	})
}
