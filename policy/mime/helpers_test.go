package mime

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"testing"
	"unicode/utf8"
)

func b64enc(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func isValidUTF8(s string) bool { return utf8.ValidString(s) }

// storeZip builds a zip with one stored (uncompressed) entry.
func storeZip(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
