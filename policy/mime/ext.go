package mime

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Ext returns the extension a file name is judged by: lower-cased, without
// the dot, "" if none. The rules, chosen so that a name is judged the way the
// file would be opened or the way a person reads it, whichever is riskier:
//   - control and format characters are removed first (NUL, U+200B–U+200F,
//     U+202A–U+202E, U+2066–U+2069, U+FEFF and the rest of Unicode
//     categories Cc and Cf), so "\u202Eexe.pdf"-style names reveal the real
//     order of their characters;
//   - a path keeps only its last element (after the last "/" or "\");
//   - full-width forms fold to their ASCII counterparts (U+FF0E "．" is a
//     dot, "ｅｘｅ" is "exe");
//   - trailing dots and white space (including U+3000) are dropped, as
//     Windows drops them: "evil.exe. " is "exe";
//   - the last extension counts: "invoice.pdf.exe" is "exe",
//     "archive.tar.gz" is "gz";
//   - a name whose only dot is its first character has no extension:
//     ".bashrc" is "", but "..exe" is "exe".
func Ext(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return -1
		}
		return r
	}, name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = width.Fold.String(name)
	name = strings.TrimRightFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(name[i+1:])
}
