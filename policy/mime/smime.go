package mime

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/smallstep/pkcs7"
)

// S/MIME (RFC 8551) messages are read as mail clients show them: an
// opaque-signed message (application/pkcs7-mime; smime-type=signed-data,
// which Outlook sends when "clear text signed" is off) is the signed
// entity, judged like any other; the signature is not verified. An
// encrypted one (enveloped-data, authEnveloped-data) only the recipient's
// key opens: it is a GapEncrypted, and its body text is not judged as
// blank or ASCII. The CMS structure is parsed by smallstep/pkcs7, which
// also reads the BER with indefinite lengths that S/MIME agents write.

// encrypted records that the content at part is encrypted for the
// recipient; the body text is then encrypted when it is not inside an
// attachment.
func (in *inspector) encrypted(part, why string, inAttach bool) {
	in.gap(GapEncrypted, part, why)
	if !inAttach {
		in.res.Text.Encrypted = true
	}
}

// smime reads the decoded content of an S/MIME part.
func (in *inspector) smime(body io.Reader, ctParams []param, path string, depth int, inAttach bool) {
	data, err := io.ReadAll(io.LimitReader(body, in.lim.MaxArchiveBytes+1))
	if err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
	if int64(len(data)) > in.lim.MaxArchiveBytes {
		in.gap(GapArchive, path, fmt.Sprintf("S/MIME message too big: more than %d bytes", in.lim.MaxArchiveBytes))
		io.Copy(io.Discard, body)
		return
	}
	kind := strings.ToLower(paramText(ctParams, "smime-type"))
	if kind == "" {
		kind = cmsKind(data)
	}
	switch kind {
	case "signed-data":
		p7, err := parseCMS(data)
		switch {
		case err != nil:
			in.gap(GapStructure, path, fmt.Sprintf("opaque-signed S/MIME message that cannot be read: %v", err))
		case len(p7.Content) == 0:
			in.gap(GapStructure, path, "opaque-signed S/MIME message without its content")
		default:
			in.message(bytes.NewReader(p7.Content), path, depth+1, inAttach)
		}
	case "enveloped-data", "authenveloped-data":
		in.encrypted(path, "S/MIME encrypted message: only the recipient's key opens it", inAttach)
	case "certs-only":
		// A certificate transfer (RFC 8551 section 3.6): no content.
	default:
		in.gap(GapStructure, path, fmt.Sprintf("S/MIME message of type %q not read", clipText(kind)))
	}
}

// parseCMS parses CMS content; a panic of the parser on hostile input is
// an error.
func parseCMS(data []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if p := recover(); p != nil {
			p7, err = nil, fmt.Errorf("the CMS parser failed: %v", p)
		}
	}()
	return pkcs7.Parse(data)
}

// cmsKind tells the smime-type of CMS content from its content type
// (RFC 5652 section 3 and 5.1, RFC 5083): "signed-data",
// "enveloped-data", "authenveloped-data", "compressed-data", or "".
func cmsKind(b []byte) string {
	head := b[:min(len(b), 32)]
	switch {
	case bytes.Contains(head, []byte("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02")):
		return "signed-data"
	case bytes.Contains(head, []byte("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03")):
		return "enveloped-data"
	case bytes.Contains(head, []byte("\x06\x0b\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x17")):
		return "authenveloped-data"
	case bytes.Contains(head, []byte("\x06\x0b\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x09")):
		return "compressed-data"
	}
	return ""
}
