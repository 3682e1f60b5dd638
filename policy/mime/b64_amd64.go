package mime

import "golang.org/x/sys/cpu"

// b64fast is whether this processor reads base64 characters 32 at a time.
var b64fast = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT && cpu.X86.HasBMI1

//go:noescape
func b64countAVX2(b []byte) int

// b64countBlocks counts the alphabet characters of b's longest prefix it
// can take at once, and returns the count and the prefix's length.
func b64countBlocks(b []byte) (n, done int) {
	if !b64fast || len(b) < 32 {
		return 0, 0
	}
	done = len(b) &^ 31
	return b64countAVX2(b[:done]), done
}

//go:noescape
func b64compactAVX2(dst, src []byte) (n, done int)

// b64compactBlocks copies the alphabet characters of a prefix of src to
// dst, and returns how many it wrote and the prefix's length.
func b64compactBlocks(dst, src []byte) (n, done int) {
	if !b64fast || len(src) < 32 {
		return 0, 0
	}
	return b64compactAVX2(dst, src)
}
