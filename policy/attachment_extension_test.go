package policy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"hash/crc32"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// extReply is the rule's default reply, which goes on with the file's
// name (see TestReplyPlaceholders).
const extReply = "550 5.7.1 Attachment type not allowed: "

// flaggedZip returns a zip archive whose one entry, note.txt, carries
// the encrypted flag, as a traditional PKWARE-encrypted entry looks to a
// reader without the password.
func flaggedZip(t testing.TB) []byte {
	t.Helper()
	data := []byte("stand-in ciphertext of the note")
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	h := &zip.FileHeader{
		Name:               "note.txt",
		Method:             zip.Store,
		Flags:              0x1,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
	}
	fw, err := w.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAttachmentExtensionEncrypted(t *testing.T) {
	raw := multipartMail(jisWord(t, "資料送付"), japaneseText,
		attachment{"application/zip", "資料.zip", flaggedZip(t)})
	tests := []struct {
		name   string
		cfg    string
		action policy.Action
		reply  string
	}{
		{"accepted by default", "", policy.Continue, ""},
		{"accept", `encrypted = "accept"`, policy.Continue, ""},
		{"reject", `encrypted = "reject"`, policy.Reject, "550 5.7.1 Encrypted archives are not accepted: ??.zip"},
		{"tempfail", `encrypted = "tempfail"`, policy.Tempfail, "450 4.7.1 Encrypted archives are not accepted: ??.zip"},
		{"reply of its own", "encrypted = \"reject\"\nencrypted_reply = \"554 5.7.1 No password-protected zip: {filename}\"",
			policy.Reject, "554 5.7.1 No password-protected zip: ??.zip"},
		// The rule's own reply is not the one an encrypted archive gets.
		{"rule reply kept apart", "encrypted = \"reject\"\nreply = \"550 5.7.1 Executables are not allowed\"",
			policy.Reject, "550 5.7.1 Encrypted archives are not accepted: ??.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, "[rules.attachment_extension]\n"+tt.cfg+"\n\n[rules.blank]\n[rules.ascii_only]\n", nil)
			v := e.Run(context.Background(), policy.StageEOB, rawMessage(t, raw))
			if tt.action == policy.Continue {
				expectContinue(t, v)
				return
			}
			expect(t, v, "attachment_extension", tt.action, tt.reply, `"資料.zip" (part 2) is an encrypted archive`)
		})
	}
}
