package mime

import (
	"bytes"
	"io"
	"testing"

	"github.com/emersion/go-message/charset"
)

// TestLookupCharset: lookupCharset resolves labels as go-message's
// charset.Reader does (the same labels known, the same bytes out), the
// second time from what it remembered.
func TestLookupCharset(t *testing.T) {
	sample := []byte("plain \x1b$B$3$s$K$A$O\x1b(B \x82\xa0\x82\xa2 \xa4\xb3\xa4\xf3 \xe6\x97\xa5\xe6\x9c\xac \x80\xff\xfe\x00a")
	for i := 0; i < 256; i++ {
		sample = append(sample, byte(i))
	}
	labels := []string{
		"iso-2022-jp", "shift_jis", "euc-jp", "utf-8", "windows-31j", "cp932", "ms932", "sjis",
		"iso-2022-jp-2", "x-euc-jp", "ansi_x3.110-1983", "x-utf_8j", "iso-8859-1", "latin1",
		"isolatin1", "windows-1252", "gb2312", "gbk", "gb18030", "big5", "koi8-r", "utf-16",
		"utf-16le", "utf-16be", "iso-2022-kr", "hz-gb-2312", "replacement", "x-user-defined",
		"ks_c_5601-1987", "euc-kr", "windows-874", "tis-620", "ibm437", "us-ascii", "utf-7",
		"unicode-1-1-utf-7", "x-unknown", "cs", "iso-8859-16", "macintosh", "x-mac-cyrillic",
	}
	for _, label := range labels {
		r, err := charset.Reader(label, bytes.NewReader(sample))
		for round := 0; round < 2; round++ {
			enc, err2 := lookupCharset(label)
			if (err == nil) != (err2 == nil) {
				t.Fatalf("%q: go-message: %v; lookupCharset: %v", label, err, err2)
			}
			if err != nil {
				break
			}
			got, gerr := enc.NewDecoder().Bytes(sample)
			if round == 0 {
				want, werr := io.ReadAll(r)
				if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
					t.Fatalf("%q: decoded %q (%v), go-message %q (%v)", label, got, gerr, want, werr)
				}
			}
		}
		if _, ok := charsets.Load(label); ok != (err == nil) {
			t.Errorf("%q remembered: %v", label, ok)
		}
	}
}
