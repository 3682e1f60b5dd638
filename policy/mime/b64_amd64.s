#include "textflag.h"

// The alphabet test of Muła and Lemire ("Faster Base64 Encoding and
// Decoding using AVX2 Instructions", 2018): a byte is in the base64
// alphabet when the table entries picked by its low and its high nibble
// share no bit. Bytes of 0x80 and above pick 0x10 by their high nibble,
// which every low-nibble entry has.
DATA b64lo<>+0x00(SB)/8, $0x1111111111111115
DATA b64lo<>+0x08(SB)/8, $0x1A1B1B1B1A131111
DATA b64lo<>+0x10(SB)/8, $0x1111111111111115
DATA b64lo<>+0x18(SB)/8, $0x1A1B1B1B1A131111
GLOBL b64lo<>(SB), RODATA|NOPTR, $32

DATA b64hi<>+0x00(SB)/8, $0x0804080402011010
DATA b64hi<>+0x08(SB)/8, $0x1010101010101010
DATA b64hi<>+0x10(SB)/8, $0x0804080402011010
DATA b64hi<>+0x18(SB)/8, $0x1010101010101010
GLOBL b64hi<>(SB), RODATA|NOPTR, $32

DATA nibble<>+0x00(SB)/8, $0x0F0F0F0F0F0F0F0F
DATA nibble<>+0x08(SB)/8, $0x0F0F0F0F0F0F0F0F
DATA nibble<>+0x10(SB)/8, $0x0F0F0F0F0F0F0F0F
DATA nibble<>+0x18(SB)/8, $0x0F0F0F0F0F0F0F0F
GLOBL nibble<>(SB), RODATA|NOPTR, $32

// TABLES loads the tables into Y6-Y8 and zero into Y9.
#define TABLES \
	VMOVDQU b64lo<>(SB), Y6 \
	VMOVDQU b64hi<>(SB), Y7 \
	VMOVDQU nibble<>(SB), Y8 \
	VPXOR   Y9, Y9, Y9

// CLASSIFY loads the 32 bytes at SI into Y0 and sets bit i of DX when
// byte i is in the alphabet.
#define CLASSIFY \
	VMOVDQU (SI), Y0 \
	VPSRLW  $4, Y0, Y1 \
	VPAND   Y8, Y1, Y1 \
	VPAND   Y8, Y0, Y2 \
	VPSHUFB Y2, Y6, Y3 \
	VPSHUFB Y1, Y7, Y4 \
	VPAND   Y3, Y4, Y3 \
	VPCMPEQB Y9, Y3, Y3 \
	VPMOVMSKB Y3, DX

// func b64countAVX2(b []byte) int
// counts the alphabet characters of b, whose length is a multiple of 32.
TEXT ·b64countAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	TABLES

loop:
	CMPQ CX, $32
	JB   done
	CLASSIFY
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     loop

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func b64compactAVX2(dst, src []byte) (n, done int)
// copies the alphabet characters of src to dst, 32 bytes at a time while
// at least 32 are left, and returns how many it wrote and how many bytes
// of src it took. dst is not src and is at least as long. Each round
// stores the whole block, then keeps its leading run of characters and
// skips the run of other bytes after it: a base64 line of 76 characters
// and CRLF takes three rounds.
TEXT ·b64compactAVX2(SB), NOSPLIT, $0-64
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), R10
	MOVQ DI, R8
	MOVQ SI, R9
	TABLES

cloop:
	CMPQ R10, $32
	JB   cdone
	CLASSIFY
	VMOVDQU Y0, (DI)
	CMPL    DX, $0xFFFFFFFF
	JNE     partial
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, R10
	JMP     cloop

partial:
	// CX: the leading characters, kept.
	MOVL    DX, CX
	NOTL    CX
	TZCNTL  CX, CX
	ADDQ    CX, DI
	ADDQ    CX, SI
	SUBQ    CX, R10
	// DX: the other bytes after them, skipped (at most the block's rest).
	SHRL    CX, DX
	TZCNTL  DX, DX
	MOVL    $32, R11
	SUBL    CX, R11
	CMPL    DX, R11
	CMOVLGT R11, DX
	ADDQ    DX, SI
	SUBQ    DX, R10
	JMP     cloop

cdone:
	VZEROUPPER
	SUBQ R8, DI
	SUBQ R9, SI
	MOVQ DI, n+48(FP)
	MOVQ SI, done+56(FP)
	RET
