package reduce

import (
	"testing"
)

// FuzzReduce checks, on arbitrary bytes, that every code path (and the scratch path of
// strict-alignment CPUs) gives the bits of the portable Go kernels, and that Divide agrees
// across paths too. The first two bytes pick the dtype and op, the third the byte offsets; the
// rest is split into dst and src.
func FuzzReduce(f *testing.F) {
	seed := make([]byte, 3+2*300)
	for i := range seed {
		seed[i] = byte(i*7 + i>>3)
	}
	for d := range DTypes() {
		for o := range Ops() {
			f.Add(append([]byte{byte(d), byte(o), byte(d*8 + o)}, seed[3:]...))
		}
	}
	f.Add([]byte{9, 3, 0, 0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0xff, 0, 0, 0, 0x80, 1, 0, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		ds, ops := DTypes(), Ops()
		d, op := ds[int(data[0])%len(ds)], ops[int(data[1])%len(ops)]
		offD, offS := int(data[2]&7), int(data[2]>>3&7)
		div := int(data[2]>>6) + int(data[1]>>3)*4 + 1 // 1..128
		data = data[3:]
		n := len(data) / 2 / d.Size()
		dst0, src := data[:n*d.Size()], placed(data[n*d.Size():2*n*d.Size()], offS)

		want := append([]byte(nil), dst0...)
		reduceGo(d, op, want, src)
		for _, path := range accelPaths() {
			got := placed(dst0, offD)
			withPath(path, func() { Reduce(d, op, got, src) })
			requireSameBits(t, d, want, got, "%s Reduce %v %v", path, d, op)
		}
		got := placed(dst0, offD)
		reduceScratch(d, op, got, src)
		requireSameBits(t, d, want, got, "scratch Reduce %v %v", d, op)

		wantDiv := append([]byte(nil), want...)
		divideGo(d, wantDiv, div)
		for _, path := range accelPaths() {
			got := placed(want, offD)
			withPath(path, func() { Divide(d, got, div) })
			requireSameBits(t, d, wantDiv, got, "%s Divide %v by %d", path, d, div)
		}
	})
}
