//go:build amd64 && !purego

#include "textflag.h"

// Vector loops of the kernels. Every loop takes dst, src and n, the number of bytes, which is a
// multiple of the vector size (64 bytes for the Z loops, AVX-512; 32 for the Y loops, AVX2), and
// computes dst = dst OP src in place. The Go code does the heads and tails.
//
// The float operations put dst in the first source operand, so that a NaN result is a quieted
// dst if dst is a NaN, else a quieted src, else the default NaN: the rule of scalar.go.

// BINZ defines name as the AVX-512 loop dst = OP(dst, src), four vectors at a time.
#define BINZ(name, MOV, OP) \
TEXT name(SB), NOSPLIT, $0-24; \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
loop4: \
	CMPQ CX, $256; \
	JB   loop1; \
	MOV  (DI), Z0; \
	MOV  64(DI), Z1; \
	MOV  128(DI), Z2; \
	MOV  192(DI), Z3; \
	OP   (SI), Z0, Z0; \
	OP   64(SI), Z1, Z1; \
	OP   128(SI), Z2, Z2; \
	OP   192(SI), Z3, Z3; \
	MOV  Z0, (DI); \
	MOV  Z1, 64(DI); \
	MOV  Z2, 128(DI); \
	MOV  Z3, 192(DI); \
	ADDQ $256, DI; \
	ADDQ $256, SI; \
	SUBQ $256, CX; \
	JMP  loop4; \
loop1: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Z0; \
	OP    (SI), Z0, Z0; \
	MOV   Z0, (DI); \
	ADDQ  $64, DI; \
	ADDQ  $64, SI; \
	SUBQ  $64, CX; \
	JMP   loop1; \
done: \
	VZEROUPPER; \
	RET

// BINY defines name as the AVX2 loop dst = OP(dst, src), four vectors at a time.
#define BINY(name, MOV, OP) \
TEXT name(SB), NOSPLIT, $0-24; \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
loop4: \
	CMPQ CX, $128; \
	JB   loop1; \
	MOV  (DI), Y0; \
	MOV  32(DI), Y1; \
	MOV  64(DI), Y2; \
	MOV  96(DI), Y3; \
	OP   (SI), Y0, Y0; \
	OP   32(SI), Y1, Y1; \
	OP   64(SI), Y2, Y2; \
	OP   96(SI), Y3, Y3; \
	MOV  Y0, (DI); \
	MOV  Y1, 32(DI); \
	MOV  Y2, 64(DI); \
	MOV  Y3, 96(DI); \
	ADDQ $128, DI; \
	ADDQ $128, SI; \
	SUBQ $128, CX; \
	JMP  loop4; \
loop1: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Y0; \
	OP    (SI), Y0, Y0; \
	MOV   Y0, (DI); \
	ADDQ  $32, DI; \
	ADDQ  $32, SI; \
	SUBQ  $32, CX; \
	JMP   loop1; \
done: \
	VZEROUPPER; \
	RET

// MINMAXZ defines name as the AVX-512 float min or max loop with the rules of scalar.go: with
// a = dst and b = src, MN(a, b) | MN(b, a) (min; & for max) orders -0 and +0 whatever the
// order of the inputs, and where a or b is a NaN the result is a+b, the rule's NaN.
#define MINMAXZ(name, MOV, MN, LOGIC, CMP, ADD) \
TEXT name(SB), NOSPLIT, $0-24; \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
loop: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Z0; \
	MOV   (SI), Z1; \
	MN    Z1, Z0, Z2; \
	MN    Z0, Z1, Z3; \
	LOGIC Z3, Z2, Z2; \
	CMP   $3, Z1, Z0, K1; \
	ADD   Z1, Z0, K1, Z2; \
	MOV   Z2, (DI); \
	ADDQ  $64, DI; \
	ADDQ  $64, SI; \
	SUBQ  $64, CX; \
	JMP   loop; \
done: \
	VZEROUPPER; \
	RET

// MINMAXY is MINMAXZ for AVX2, with a blend in place of the mask.
#define MINMAXY(name, MOV, MN, LOGIC, CMP, ADD, BLEND) \
TEXT name(SB), NOSPLIT, $0-24; \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
loop: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Y0; \
	MOV   (SI), Y1; \
	MN    Y1, Y0, Y2; \
	MN    Y0, Y1, Y3; \
	LOGIC Y3, Y2, Y2; \
	CMP   $3, Y1, Y0, Y3; \
	ADD   Y1, Y0, Y4; \
	BLEND Y3, Y4, Y2, Y2; \
	MOV   Y2, (DI); \
	ADDQ  $32, DI; \
	ADDQ  $32, SI; \
	SUBQ  $32, CX; \
	JMP   loop; \
done: \
	VZEROUPPER; \
	RET

// DIVZ defines name as the AVX-512 loop dst = dst / d over n bytes.
#define DIVZ(name, FRAME, MOV, BCAST, DIV) \
TEXT name(SB), NOSPLIT, FRAME; \
	MOVQ  dst+0(FP), DI; \
	MOVQ  n+8(FP), CX; \
	BCAST d+16(FP), Z7; \
loop4: \
	CMPQ CX, $256; \
	JB   loop1; \
	MOV  (DI), Z0; \
	MOV  64(DI), Z1; \
	MOV  128(DI), Z2; \
	MOV  192(DI), Z3; \
	DIV  Z7, Z0, Z0; \
	DIV  Z7, Z1, Z1; \
	DIV  Z7, Z2, Z2; \
	DIV  Z7, Z3, Z3; \
	MOV  Z0, (DI); \
	MOV  Z1, 64(DI); \
	MOV  Z2, 128(DI); \
	MOV  Z3, 192(DI); \
	ADDQ $256, DI; \
	SUBQ $256, CX; \
	JMP  loop4; \
loop1: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Z0; \
	DIV   Z7, Z0, Z0; \
	MOV   Z0, (DI); \
	ADDQ  $64, DI; \
	SUBQ  $64, CX; \
	JMP   loop1; \
done: \
	VZEROUPPER; \
	RET

// DIVY is DIVZ for AVX2.
#define DIVY(name, FRAME, MOV, BCAST, DIV) \
TEXT name(SB), NOSPLIT, FRAME; \
	MOVQ  dst+0(FP), DI; \
	MOVQ  n+8(FP), CX; \
	BCAST d+16(FP), Y7; \
loop4: \
	CMPQ CX, $128; \
	JB   loop1; \
	MOV  (DI), Y0; \
	MOV  32(DI), Y1; \
	MOV  64(DI), Y2; \
	MOV  96(DI), Y3; \
	DIV  Y7, Y0, Y0; \
	DIV  Y7, Y1, Y1; \
	DIV  Y7, Y2, Y2; \
	DIV  Y7, Y3, Y3; \
	MOV  Y0, (DI); \
	MOV  Y1, 32(DI); \
	MOV  Y2, 64(DI); \
	MOV  Y3, 96(DI); \
	ADDQ $128, DI; \
	SUBQ $128, CX; \
	JMP  loop4; \
loop1: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Y0; \
	DIV   Y7, Y0, Y0; \
	MOV   Y0, (DI); \
	ADDQ  $32, DI; \
	SUBQ  $32, CX; \
	JMP   loop1; \
done: \
	VZEROUPPER; \
	RET

// AVX-512 (F, plus DQ for mulI64Z and BW for the byte loops; reduce_amd64.go checks).
BINZ(·addF32Z, VMOVUPS, VADDPS)
BINZ(·mulF32Z, VMOVUPS, VMULPS)
BINZ(·addF64Z, VMOVUPD, VADDPD)
BINZ(·mulF64Z, VMOVUPD, VMULPD)
BINZ(·addI32Z, VMOVDQU64, VPADDD)
BINZ(·mulI32Z, VMOVDQU64, VPMULLD)
BINZ(·minI32Z, VMOVDQU64, VPMINSD)
BINZ(·maxI32Z, VMOVDQU64, VPMAXSD)
BINZ(·minU32Z, VMOVDQU64, VPMINUD)
BINZ(·maxU32Z, VMOVDQU64, VPMAXUD)
BINZ(·addI64Z, VMOVDQU64, VPADDQ)
BINZ(·mulI64Z, VMOVDQU64, VPMULLQ)
BINZ(·minI64Z, VMOVDQU64, VPMINSQ)
BINZ(·maxI64Z, VMOVDQU64, VPMAXSQ)
BINZ(·minU64Z, VMOVDQU64, VPMINUQ)
BINZ(·maxU64Z, VMOVDQU64, VPMAXUQ)
BINZ(·addI8Z, VMOVDQU64, VPADDB)
BINZ(·minI8Z, VMOVDQU64, VPMINSB)
BINZ(·maxI8Z, VMOVDQU64, VPMAXSB)
BINZ(·minU8Z, VMOVDQU64, VPMINUB)
BINZ(·maxU8Z, VMOVDQU64, VPMAXUB)
MINMAXZ(·minF32Z, VMOVUPS, VMINPS, VPORD, VCMPPS, VADDPS)
MINMAXZ(·maxF32Z, VMOVUPS, VMAXPS, VPANDD, VCMPPS, VADDPS)
MINMAXZ(·minF64Z, VMOVUPD, VMINPD, VPORQ, VCMPPD, VADDPD)
MINMAXZ(·maxF64Z, VMOVUPD, VMAXPD, VPANDQ, VCMPPD, VADDPD)
DIVZ(·divF32Z, $0-20, VMOVUPS, VBROADCASTSS, VDIVPS)
DIVZ(·divF64Z, $0-24, VMOVUPD, VBROADCASTSD, VDIVPD)

// AVX2.
BINY(·addF32Y, VMOVUPS, VADDPS)
BINY(·mulF32Y, VMOVUPS, VMULPS)
BINY(·addF64Y, VMOVUPD, VADDPD)
BINY(·mulF64Y, VMOVUPD, VMULPD)
BINY(·addI32Y, VMOVDQU, VPADDD)
BINY(·mulI32Y, VMOVDQU, VPMULLD)
BINY(·minI32Y, VMOVDQU, VPMINSD)
BINY(·maxI32Y, VMOVDQU, VPMAXSD)
BINY(·minU32Y, VMOVDQU, VPMINUD)
BINY(·maxU32Y, VMOVDQU, VPMAXUD)
BINY(·addI64Y, VMOVDQU, VPADDQ)
BINY(·addI8Y, VMOVDQU, VPADDB)
BINY(·minI8Y, VMOVDQU, VPMINSB)
BINY(·maxI8Y, VMOVDQU, VPMAXSB)
BINY(·minU8Y, VMOVDQU, VPMINUB)
BINY(·maxU8Y, VMOVDQU, VPMAXUB)
MINMAXY(·minF32Y, VMOVUPS, VMINPS, VORPS, VCMPPS, VADDPS, VBLENDVPS)
MINMAXY(·maxF32Y, VMOVUPS, VMAXPS, VANDPS, VCMPPS, VADDPS, VBLENDVPS)
MINMAXY(·minF64Y, VMOVUPD, VMINPD, VORPD, VCMPPD, VADDPD, VBLENDVPD)
MINMAXY(·maxF64Y, VMOVUPD, VMAXPD, VANDPD, VCMPPD, VADDPD, VBLENDVPD)
DIVY(·divF32Y, $0-20, VMOVUPS, VBROADCASTSS, VDIVPS)
DIVY(·divF64Y, $0-24, VMOVUPD, VBROADCASTSD, VDIVPD)

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xgetbv0() (lo uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, lo+0(FP)
	RET
