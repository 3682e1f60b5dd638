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

// func b64countAVX2(b []byte) int
// counts the alphabet characters of b, whose length is a multiple of 32.
TEXT ·b64countAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	VMOVDQU b64lo<>(SB), Y6
	VMOVDQU b64hi<>(SB), Y7
	VMOVDQU nibble<>(SB), Y8
	VPXOR   Y9, Y9, Y9

loop:
	CMPQ CX, $32
	JB   done
	VMOVDQU (SI), Y0
	VPSRLW  $4, Y0, Y1
	VPAND   Y8, Y1, Y1
	VPAND   Y8, Y0, Y2
	VPSHUFB Y2, Y6, Y3
	VPSHUFB Y1, Y7, Y4
	VPAND   Y3, Y4, Y3
	VPCMPEQB Y9, Y3, Y3
	VPMOVMSKB Y3, DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     loop

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
