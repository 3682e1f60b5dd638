//go:build !amd64

package mime

// b64fast is false: on this architecture the byte table counts all.
var b64fast = false

// b64countBlocks takes nothing: the byte table counts all of b.
func b64countBlocks(b []byte) (n, done int) { return 0, 0 }

// b64compactBlocks copies nothing: the byte table copies all of src.
func b64compactBlocks(dst, src []byte) (n, done int) { return 0, 0 }
