package policy

import (
	"strings"
	"testing"
)

// TestAppendHeaderLine: a header field goes to the inspection with every
// line ending in CRLF, whether go-milter handed its folded value over
// with LF or CRLF; a bare CR is kept.
func TestAppendHeaderLine(t *testing.T) {
	for _, tt := range []struct{ name, value, want string }{
		{"Subject", "hello", "Subject: hello\r\n"},
		{"Subject", "", "Subject: \r\n"},
		{"Subject", "=?ISO-2022-JP?B?GyRCJDMbKEI=?=\n =?ISO-2022-JP?B?GyRCJHMbKEI=?=", "Subject: =?ISO-2022-JP?B?GyRCJDMbKEI=?=\r\n =?ISO-2022-JP?B?GyRCJHMbKEI=?=\r\n"},
		{"Received", "from a\r\n\tby b\n\tfor c", "Received: from a\r\n\tby b\r\n\tfor c\r\n"},
		{"X", "\na\r\r\nb\rc", "X: \r\na\r\r\nb\rc\r\n"},
	} {
		got := string(appendHeaderLine([]byte("prev\r\n"), tt.name, tt.value))
		if want := "prev\r\n" + tt.want; got != want {
			t.Errorf("%q: %q, want %q", tt.value, got, want)
		}
		// The same as the field rebuilt by replacing line ends.
		old := tt.name + ": " + strings.ReplaceAll(strings.ReplaceAll(tt.value, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
		if old != tt.want {
			t.Errorf("%q: case disagrees with the replacement: %q", tt.value, old)
		}
	}
}
