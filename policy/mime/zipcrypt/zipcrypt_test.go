package zipcrypt

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// content is compressible, so that deflate is used.
var content = bytes.Repeat([]byte("MZ and the rest of a file that compresses\n"), 200)

// build runs a program in a directory holding a.txt and returns the zip it
// writes to out.zip; without the program the test fails.
func build(t testing.TB, prog string, args ...string) *zip.Reader {
	zr, _ := buildRaw(t, prog, args...)
	return zr
}

// buildRaw is build that also returns the archive's bytes.
func buildRaw(t testing.TB, prog string, args ...string) (*zip.Reader, []byte) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Fatalf("%s not found: run bash testdata/install-deps.sh as root to install it", prog)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), content, 0o644)
	os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o644)
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return zr, data
}

func file(t *testing.T, zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no %s in the archive", name)
	return nil
}

func readAll(f *zip.File, pw string) ([]byte, error) {
	rc, err := Open(f, []byte(pw))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		name, scheme string
		prog         string
		args         []string
	}{
		{"zipcrypto deflate", "zipcrypto", "zip", []string{"-q", "-P", "pw€1", "out.zip", "a.txt", "empty.txt"}},
		{"zipcrypto stored", "zipcrypto", "zip", []string{"-q", "-0", "-P", "pw€1", "out.zip", "a.txt", "empty.txt"}},
		// Written to a pipe, zip puts the CRC in a data descriptor: the
		// check byte is then the high byte of the time.
		{"zipcrypto descriptor", "zipcrypto", "sh", []string{"-c", "zip -q -P 'pw€1' - a.txt empty.txt > out.zip"}},
		{"aes-128", "aes-128", "7z", []string{"a", "-bd", "-bso0", "-tzip", "-ppw1", "-mem=AES128", "out.zip", "a.txt", "empty.txt"}},
		{"aes-192", "aes-192", "7z", []string{"a", "-bd", "-bso0", "-tzip", "-ppw1", "-mem=AES192", "out.zip", "a.txt", "empty.txt"}},
		{"aes-256", "aes-256", "7z", []string{"a", "-bd", "-bso0", "-tzip", "-ppw1", "-mem=AES256", "out.zip", "a.txt", "empty.txt"}},
		{"aes-256 stored", "aes-256", "7z", []string{"a", "-bd", "-bso0", "-tzip", "-mx0", "-ppw1", "-mem=AES256", "out.zip", "a.txt", "empty.txt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			zr := build(t, c.prog, c.args...)
			pw := "pw1"
			if c.scheme == "zipcrypto" {
				pw = "pw€1"
			}
			f := file(t, zr, "a.txt")
			if s := Scheme(f); s != c.scheme {
				t.Errorf("Scheme = %q, want %q", s, c.scheme)
			}
			if c.name == "zipcrypto descriptor" && f.Flags&flagDescriptor == 0 {
				t.Errorf("no data descriptor (flags %#x)", f.Flags)
			}
			got, err := readAll(f, pw)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("right password: %d bytes, %v", len(got), err)
			}
			if got, err := readAll(file(t, zr, "empty.txt"), pw); err != nil || len(got) != 0 {
				t.Errorf("empty entry: %q, %v", got, err)
			}
			// Wrong passwords: the check value refuses most at once; the
			// few that pass it fail at the checksum, as wrong passwords.
			for _, wrong := range []string{"pw", "pw2", "", "PW1", "pw€1x", "pw1 "} {
				if _, err := readAll(f, wrong); !errors.Is(err, ErrPassword) {
					t.Errorf("password %q: %v, want ErrPassword", wrong, err)
				}
			}
		})
	}
}

// TestWrongPasswordPassingCheck finds wrong passwords that pass the
// ZipCrypto check byte (one in 256) and checks that the CRC catches them.
func TestWrongPasswordPassingCheck(t *testing.T) {
	zr := build(t, "zip", "-q", "-P", "pw€1", "out.zip", "a.txt")
	f := file(t, zr, "a.txt")
	passed := 0
	for i := 0; i < 3000 && passed < 5; i++ {
		pw := []byte{byte(i), byte(i >> 8), 'x'}
		rc, err := Open(f, pw)
		if errors.Is(err, ErrPassword) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		passed++
		_, err = io.ReadAll(rc)
		if !errors.Is(err, ErrPassword) {
			t.Errorf("password %q passed the check byte and read with %v, want ErrPassword", pw, err)
		}
	}
	if passed == 0 {
		t.Error("no wrong password passed the check byte in 3000")
	}
}

// TestCorrupt: with AES, data altered after the verifier is caught by the
// authentication code, not taken for a wrong password.
func TestCorrupt(t *testing.T) {
	for _, m := range []string{"AES128", "AES256"} {
		t.Run(m, func(t *testing.T) {
			zr, raw := buildRaw(t, "7z", "a", "-bd", "-bso0", "-tzip", "-mx0", "-ppw1", "-mem="+m, "out.zip", "a.txt")
			f := file(t, zr, "a.txt")
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			raw[off+int64(f.CompressedSize64)/2] ^= 0x01
			zr2, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAll(file(t, zr2, "a.txt"), "pw1"); !errors.Is(err, ErrAuthentication) {
				t.Errorf("altered data: %v, want ErrAuthentication", err)
			}
		})
	}
	f := &zip.File{FileHeader: zip.FileHeader{Name: "plain"}}
	if _, err := Open(f, []byte("x")); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("plain entry: %v", err)
	}
}

// FuzzOpen opens every encrypted entry of a zip archive with one password
// and reads it, bounded: bad input must fail with an error, not a crash.
func FuzzOpen(f *testing.F) {
	for _, c := range [][]string{
		{"zip", "-q", "-P", "pw", "out.zip", "a.txt", "empty.txt"},
		{"7z", "a", "-bd", "-bso0", "-tzip", "-ppw", "-mem=AES256", "out.zip", "a.txt"},
		{"7z", "a", "-bd", "-bso0", "-tzip", "-mx0", "-ppw", "-mem=AES128", "out.zip", "a.txt"},
	} {
		_, data := buildRaw(f, c[0], c[1:]...)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, file := range zr.File {
			Scheme(file)
			rc, err := Open(file, []byte("pw"))
			if err != nil {
				continue
			}
			io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
			rc.Close()
		}
	})
}
