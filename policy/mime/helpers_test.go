package mime

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

func b64enc(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func isValidUTF8(s string) bool { return utf8.ValidString(s) }

// storeZip builds a zip of stored (uncompressed) entries, given as name
// and data pairs.
func storeZip(t testing.TB, fs ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := 0; i < len(fs); i += 2 {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: fs[i].(string), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(fs[i+1].([]byte))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inspectString inspects the message msg with the default limits.
func inspectString(t testing.TB, msg string) *Result {
	t.Helper()
	res, err := Inspect(strings.NewReader(msg), DefaultLimits())
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return res
}
