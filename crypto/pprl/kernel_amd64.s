//go:build amd64 && !purego

#include "textflag.h"

// Popcount of each byte by nibble look-up (Muła): the low and the high
// nibble of every byte index a 16-entry table of bit counts with VPSHUFB.
DATA nibbleOnes<>+0(SB)/8, $0x0302020102010100
DATA nibbleOnes<>+8(SB)/8, $0x0403030203020201
DATA nibbleOnes<>+16(SB)/8, $0x0302020102010100
DATA nibbleOnes<>+24(SB)/8, $0x0403030203020201
GLOBL nibbleOnes<>(SB), RODATA|NOPTR, $32

DATA lowNibbles<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lowNibbles<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lowNibbles<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lowNibbles<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL lowNibbles<>(SB), RODATA|NOPTR, $32

// BYTEONES replaces each byte of x by its bit count (0-8). Y8 is
// clobbered; Y14 holds the low-nibble mask and Y15 the table.
#define BYTEONES(x) \
	VPSRLW  $4, x, Y8   \
	VPAND   Y14, x, x   \
	VPAND   Y14, Y8, Y8 \
	VPSHUFB x, Y15, x   \
	VPSHUFB Y8, Y15, Y8 \
	VPADDB  Y8, x, x

// COUNT sets the four 64-bit lanes of r to partial counts of |q ∧ s|
// (each at most 256, summing to |q ∧ s|) for the encoding s at off(DI).
// The query is in Y0-Y3 and Y13 is zero; Y4-Y8 are clobbered.
#define COUNT(off, r) \
	VPAND   off+0(DI), Y0, Y4  \
	VPAND   off+32(DI), Y1, Y5 \
	VPAND   off+64(DI), Y2, Y6 \
	VPAND   off+96(DI), Y3, Y7 \
	BYTEONES(Y4)               \
	BYTEONES(Y5)               \
	BYTEONES(Y6)               \
	BYTEONES(Y7)               \
	VPADDB  Y5, Y4, Y4         \
	VPADDB  Y7, Y6, Y6         \
	VPADDB  Y6, Y4, r          \
	VPSADBW Y13, r, r

// func andCountsAVX2(q *CLK, set []CLK, counts []uint16)
TEXT ·andCountsAVX2(SB), NOSPLIT, $0-56
	MOVQ    q+0(FP), SI
	MOVQ    set_base+8(FP), DI
	MOVQ    set_len+16(FP), CX
	MOVQ    counts_base+32(FP), DX
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPXOR   Y13, Y13, Y13
	VMOVDQU lowNibbles<>(SB), Y14
	VMOVDQU nibbleOnes<>(SB), Y15
	CMPQ    CX, $4
	JB      tail

loop4:
	// Four encodings at a time. Their lane counts are packed into the four
	// 16-bit fields of each 64-bit lane (no field can exceed 1024), so one
	// horizontal sum yields all four counts and one store writes them.
	COUNT(0, Y9)
	COUNT(128, Y10)
	COUNT(256, Y11)
	COUNT(384, Y12)
	VPSLLQ       $16, Y10, Y10
	VPSLLQ       $32, Y11, Y11
	VPSLLQ       $48, Y12, Y12
	VPOR         Y10, Y9, Y9
	VPOR         Y12, Y11, Y11
	VPOR         Y11, Y9, Y9
	VEXTRACTI128 $1, Y9, X10
	VPADDW       X10, X9, X9
	VPSHUFD      $0x4e, X9, X10
	VPADDW       X10, X9, X9
	VMOVQ        X9, (DX)
	ADDQ         $512, DI
	ADDQ         $8, DX
	SUBQ         $4, CX
	CMPQ         CX, $4
	JAE          loop4

tail:
	TESTQ CX, CX
	JZ    done

loop1:
	COUNT(0, Y9)
	VEXTRACTI128 $1, Y9, X10
	VPADDQ       X10, X9, X9
	VPSHUFD      $0x4e, X9, X10
	VPADDQ       X10, X9, X9
	VMOVQ        X9, AX
	MOVW         AX, (DX)
	ADDQ         $128, DI
	ADDQ         $2, DX
	DECQ         CX
	JNZ          loop1

done:
	VZEROUPPER
	RET

// WORDS adds the bit counts of a[off/8] ∧ b[off/8], a[off/8] and b[off/8]
// to and, na and nb; R8-R10 are clobbered.
#define WORDS(off, and, na, nb) \
	MOVQ    off(SI), R8 \
	MOVQ    off(DI), R9 \
	MOVQ    R8, R10     \
	ANDQ    R9, R10     \
	POPCNTQ R8, R8      \
	POPCNTQ R9, R9      \
	POPCNTQ R10, R10    \
	ADDQ    R10, and    \
	ADDQ    R8, na      \
	ADDQ    R9, nb

// func diceCountsPOPCNT(a *CLK, b *CLK) (and int, na int, nb int)
TEXT ·diceCountsPOPCNT(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	// even words into AX, BX, CX and odd words into R11-R13: two
	// independent chains of additions
	XORL AX, AX
	XORL BX, BX
	XORL CX, CX
	XORL R11, R11
	XORL R12, R12
	XORL R13, R13
	WORDS(0, AX, BX, CX)
	WORDS(8, R11, R12, R13)
	WORDS(16, AX, BX, CX)
	WORDS(24, R11, R12, R13)
	WORDS(32, AX, BX, CX)
	WORDS(40, R11, R12, R13)
	WORDS(48, AX, BX, CX)
	WORDS(56, R11, R12, R13)
	WORDS(64, AX, BX, CX)
	WORDS(72, R11, R12, R13)
	WORDS(80, AX, BX, CX)
	WORDS(88, R11, R12, R13)
	WORDS(96, AX, BX, CX)
	WORDS(104, R11, R12, R13)
	WORDS(112, AX, BX, CX)
	WORDS(120, R11, R12, R13)
	ADDQ R11, AX
	ADDQ R12, BX
	ADDQ R13, CX
	MOVQ AX, and+16(FP)
	MOVQ BX, na+24(FP)
	MOVQ CX, nb+32(FP)
	RET
