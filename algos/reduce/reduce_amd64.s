//go:build amd64 && !purego

#include "textflag.h"

// ARGS loads the arguments of the binary loops: dst in DI, src in SI, n in CX.
#define ARGS \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX

// Vector loops of the kernels. Every loop takes dst, src and n, the number of bytes, which is a
// multiple of the vector size (64 bytes for the Z loops, AVX-512; 32 for the Y loops, AVX2), and
// computes dst = dst OP src in place. The Go code does the heads and tails.
//
// The float operations put dst in the first source operand, so that a NaN result is a quieted
// dst if dst is a NaN, else a quieted src, else the default NaN: the rule of scalar.go.

// BINZ defines name as the AVX-512 loop dst = OP(dst, src), four vectors at a time.
#define BINZ(name, MOV, OP) \
TEXT name(SB), NOSPLIT, $0-24; \
	ARGS; \
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
	ARGS; \
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

// The float operations on a (Z0 or Y0) and b (Z1 or Y1), result in Z2 or Y2, temporaries
// Z3, K1 or Y3, Y4. Min and max follow the rules of scalar.go: MN(a, b) | MN(b, a) (& for
// max) orders -0 and +0 whatever the order of the inputs (MINPS returns its second operand
// when they compare equal or either is a NaN), and where a or b is a NaN the result is a+b,
// which is the rule's NaN.
#define ADDPSZ VADDPS Z1, Z0, Z2
#define MULPSZ VMULPS Z1, Z0, Z2
#define MINPSZ VMINPS Z1, Z0, Z2; VMINPS Z0, Z1, Z3; VPORD Z3, Z2, Z2; VCMPPS $3, Z1, Z0, K1; VADDPS Z1, Z0, K1, Z2
#define MAXPSZ VMAXPS Z1, Z0, Z2; VMAXPS Z0, Z1, Z3; VPANDD Z3, Z2, Z2; VCMPPS $3, Z1, Z0, K1; VADDPS Z1, Z0, K1, Z2
#define MINPDZ VMINPD Z1, Z0, Z2; VMINPD Z0, Z1, Z3; VPORQ Z3, Z2, Z2; VCMPPD $3, Z1, Z0, K1; VADDPD Z1, Z0, K1, Z2
#define MAXPDZ VMAXPD Z1, Z0, Z2; VMAXPD Z0, Z1, Z3; VPANDQ Z3, Z2, Z2; VCMPPD $3, Z1, Z0, K1; VADDPD Z1, Z0, K1, Z2
#define ADDPSY VADDPS Y1, Y0, Y2
#define MULPSY VMULPS Y1, Y0, Y2
#define MINPSY VMINPS Y1, Y0, Y2; VMINPS Y0, Y1, Y3; VORPS Y3, Y2, Y2; VCMPPS $3, Y1, Y0, Y3; VADDPS Y1, Y0, Y4; VBLENDVPS Y3, Y4, Y2, Y2
#define MAXPSY VMAXPS Y1, Y0, Y2; VMAXPS Y0, Y1, Y3; VANDPS Y3, Y2, Y2; VCMPPS $3, Y1, Y0, Y3; VADDPS Y1, Y0, Y4; VBLENDVPS Y3, Y4, Y2, Y2
#define MINPDY VMINPD Y1, Y0, Y2; VMINPD Y0, Y1, Y3; VORPD Y3, Y2, Y2; VCMPPD $3, Y1, Y0, Y3; VADDPD Y1, Y0, Y4; VBLENDVPD Y3, Y4, Y2, Y2
#define MAXPDY VMAXPD Y1, Y0, Y2; VMAXPD Y0, Y1, Y3; VANDPD Y3, Y2, Y2; VCMPPD $3, Y1, Y0, Y3; VADDPD Y1, Y0, Y4; VBLENDVPD Y3, Y4, Y2, Y2

// OPZ defines name as an AVX-512 loop that applies the operation macro OPM to floats, one
// vector at a time (min and max).
#define OPZ(name, MOV, OPM) \
TEXT name(SB), NOSPLIT, $0-24; \
	ARGS; \
loop: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Z0; \
	MOV   (SI), Z1; \
	OPM; \
	MOV   Z2, (DI); \
	ADDQ  $64, DI; \
	ADDQ  $64, SI; \
	SUBQ  $64, CX; \
	JMP   loop; \
done: \
	VZEROUPPER; \
	RET

// OPY is OPZ for AVX2.
#define OPY(name, MOV, OPM) \
TEXT name(SB), NOSPLIT, $0-24; \
	ARGS; \
loop: \
	TESTQ CX, CX; \
	JZ    done; \
	MOV   (DI), Y0; \
	MOV   (SI), Y1; \
	OPM; \
	MOV   Y2, (DI); \
	ADDQ  $32, DI; \
	ADDQ  $32, SI; \
	SUBQ  $32, CX; \
	JMP   loop; \
done: \
	VZEROUPPER; \
	RET

// DIVARGSZ and DIVARGSY load the arguments of the half division loops: dst in DI, n in CX,
// the divisor in every lane of Z1 or Y1 (where the binary loops load src).
#define DIVARGSZ \
	MOVQ         dst+0(FP), DI; \
	MOVQ         n+8(FP), CX; \
	VBROADCASTSS d+16(FP), Z1

#define DIVARGSY \
	MOVQ         dst+0(FP), DI; \
	MOVQ         n+8(FP), CX; \
	VBROADCASTSS d+16(FP), Y1

#define DIVPSZ VDIVPS Z1, Z0, Z2
#define DIVPSY VDIVPS Y1, Y0, Y2

// The loads of src into Z1 or Y1 for the half loops, widened to float32; NOSRC for division.
#define SRCF16Z(off) VCVTPH2PS off(SI), Z1
#define SRCF16Y(off) VCVTPH2PS off(SI), Y1
#define SRCBF16Z(off) VPMOVZXWD off(SI), Z1; VPSLLD $16, Z1, Z1
#define SRCBF16Y(off) VPMOVZXWD off(SI), Y1; VPSLLD $16, Y1, Y1
#define NOSRC(off)

// F16Z defines name as an AVX-512 float16 loop: widen 16 halves of dst (and of src, with SRC)
// to float32, apply OPM, round back to nearest even (VCVTPS2PH with immediate 0, which rounds
// like Float16From: overflow to Inf, subnormals kept, NaNs quieted with their top payload
// bits); two vectors (64 bytes of dst) at a time. PRO loads the arguments.
#define F16Z(name, FRAME, PRO, SRC, OPM) \
TEXT name(SB), NOSPLIT, FRAME; \
	PRO; \
loop: \
	TESTQ     CX, CX; \
	JZ        done; \
	VCVTPH2PS (DI), Z0; \
	SRC(0); \
	OPM; \
	VCVTPS2PH $0, Z2, (DI); \
	VCVTPH2PS 32(DI), Z0; \
	SRC(32); \
	OPM; \
	VCVTPS2PH $0, Z2, 32(DI); \
	ADDQ      $64, DI; \
	ADDQ      $64, SI; \
	SUBQ      $64, CX; \
	JMP       loop; \
done: \
	VZEROUPPER; \
	RET

// F16Y is F16Z for AVX2 and F16C: 8 halves a vector, 32 bytes of dst a step.
#define F16Y(name, FRAME, PRO, SRC, OPM) \
TEXT name(SB), NOSPLIT, FRAME; \
	PRO; \
loop: \
	TESTQ     CX, CX; \
	JZ        done; \
	VCVTPH2PS (DI), Y0; \
	SRC(0); \
	OPM; \
	VCVTPS2PH $0, Y2, (DI); \
	VCVTPH2PS 16(DI), Y0; \
	SRC(16); \
	OPM; \
	VCVTPS2PH $0, Y2, 16(DI); \
	ADDQ      $32, DI; \
	ADDQ      $32, SI; \
	SUBQ      $32, CX; \
	JMP       loop; \
done: \
	VZEROUPPER; \
	RET

// BF16 narrowing of the float32 bits in Z2 (Y2) to 16-bit lanes, as BFloat16From: add 0x7fff
// plus the lowest kept bit and shift, or for a NaN keep the top half and set the quiet bit.
// Constants: Z29/Y13 = 0x7fff, Z30/Y14 = 1, Z31/Y15 = 0x40 in every lane.
#define BF16NARROWZ(off) \
	VPSRLD    $16, Z2, Z3; \
	VPANDD    Z30, Z3, Z4; \
	VPADDD    Z29, Z2, Z5; \
	VPADDD    Z4, Z5, Z5; \
	VPSRLD    $16, Z5, Z5; \
	VPORD     Z31, Z3, Z3; \
	VCMPPS    $3, Z2, Z2, K2; \
	VMOVDQA32 Z3, K2, Z5; \
	VPMOVDW   Z5, off(DI)

#define BF16NARROWY(off) \
	VPSRLD       $16, Y2, Y3; \
	VPAND        Y14, Y3, Y4; \
	VPADDD       Y13, Y2, Y5; \
	VPADDD       Y4, Y5, Y5; \
	VPSRLD       $16, Y5, Y5; \
	VPOR         Y15, Y3, Y3; \
	VCMPPS       $3, Y2, Y2, Y6; \
	VBLENDVPS    Y6, Y3, Y5, Y5; \
	VEXTRACTI128 $1, Y5, X6; \
	VPACKUSDW    X6, X5, X5; \
	VMOVDQU      X5, off(DI)

// BF16Z defines name as an AVX-512 bfloat16 loop: widen (zero-extend and shift left 16),
// apply OPM, narrow; two vectors of 16 (64 bytes of dst) at a time.
#define BF16Z(name, FRAME, PRO, SRC, OPM) \
TEXT name(SB), NOSPLIT, FRAME; \
	PRO; \
	MOVL         $0x7fff, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $1, AX; \
	VPBROADCASTD AX, Z30; \
	MOVL         $0x40, AX; \
	VPBROADCASTD AX, Z31; \
loop: \
	TESTQ     CX, CX; \
	JZ        done; \
	VPMOVZXWD (DI), Z0; \
	VPSLLD    $16, Z0, Z0; \
	SRC(0); \
	OPM; \
	BF16NARROWZ(0); \
	VPMOVZXWD 32(DI), Z0; \
	VPSLLD    $16, Z0, Z0; \
	SRC(32); \
	OPM; \
	BF16NARROWZ(32); \
	ADDQ      $64, DI; \
	ADDQ      $64, SI; \
	SUBQ      $64, CX; \
	JMP       loop; \
done: \
	VZEROUPPER; \
	RET

// BF16Y is BF16Z for AVX2: 8 elements a vector, 32 bytes of dst a step.
#define BF16Y(name, FRAME, PRO, SRC, OPM) \
TEXT name(SB), NOSPLIT, FRAME; \
	PRO; \
	MOVL         $0x7fff, AX; \
	MOVD         AX, X13; \
	VPBROADCASTD X13, Y13; \
	MOVL         $1, AX; \
	MOVD         AX, X14; \
	VPBROADCASTD X14, Y14; \
	MOVL         $0x40, AX; \
	MOVD         AX, X15; \
	VPBROADCASTD X15, Y15; \
loop: \
	TESTQ     CX, CX; \
	JZ        done; \
	VPMOVZXWD (DI), Y0; \
	VPSLLD    $16, Y0, Y0; \
	SRC(0); \
	OPM; \
	BF16NARROWY(0); \
	VPMOVZXWD 16(DI), Y0; \
	VPSLLD    $16, Y0, Y0; \
	SRC(16); \
	OPM; \
	BF16NARROWY(16); \
	ADDQ      $32, DI; \
	ADDQ      $32, SI; \
	SUBQ      $32, CX; \
	JMP       loop; \
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
OPZ(·minF32Z, VMOVUPS, MINPSZ)
OPZ(·maxF32Z, VMOVUPS, MAXPSZ)
OPZ(·minF64Z, VMOVUPD, MINPDZ)
OPZ(·maxF64Z, VMOVUPD, MAXPDZ)
F16Z(·addF16Z, $0-24, ARGS, SRCF16Z, ADDPSZ)
F16Z(·mulF16Z, $0-24, ARGS, SRCF16Z, MULPSZ)
F16Z(·minF16Z, $0-24, ARGS, SRCF16Z, MINPSZ)
F16Z(·maxF16Z, $0-24, ARGS, SRCF16Z, MAXPSZ)
F16Z(·divF16Z, $0-20, DIVARGSZ, NOSRC, DIVPSZ)
BF16Z(·addBF16Z, $0-24, ARGS, SRCBF16Z, ADDPSZ)
BF16Z(·mulBF16Z, $0-24, ARGS, SRCBF16Z, MULPSZ)
BF16Z(·minBF16Z, $0-24, ARGS, SRCBF16Z, MINPSZ)
BF16Z(·maxBF16Z, $0-24, ARGS, SRCBF16Z, MAXPSZ)
BF16Z(·divBF16Z, $0-20, DIVARGSZ, NOSRC, DIVPSZ)
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
OPY(·minF32Y, VMOVUPS, MINPSY)
OPY(·maxF32Y, VMOVUPS, MAXPSY)
OPY(·minF64Y, VMOVUPD, MINPDY)
OPY(·maxF64Y, VMOVUPD, MAXPDY)
F16Y(·addF16Y, $0-24, ARGS, SRCF16Y, ADDPSY)
F16Y(·mulF16Y, $0-24, ARGS, SRCF16Y, MULPSY)
F16Y(·minF16Y, $0-24, ARGS, SRCF16Y, MINPSY)
F16Y(·maxF16Y, $0-24, ARGS, SRCF16Y, MAXPSY)
F16Y(·divF16Y, $0-20, DIVARGSY, NOSRC, DIVPSY)
BF16Y(·addBF16Y, $0-24, ARGS, SRCBF16Y, ADDPSY)
BF16Y(·mulBF16Y, $0-24, ARGS, SRCBF16Y, MULPSY)
BF16Y(·minBF16Y, $0-24, ARGS, SRCBF16Y, MINPSY)
BF16Y(·maxBF16Y, $0-24, ARGS, SRCBF16Y, MAXPSY)
BF16Y(·divBF16Y, $0-20, DIVARGSY, NOSRC, DIVPSY)
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
