package reduce

import (
	"fmt"
	"testing"
	"time"
)

// benchSizes are the dst sizes of the benchmarks: in L2, in L3 (or not), and well out of cache.
var benchSizes = []int{64 << 10, 1 << 20, 16 << 20, 64 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// benchBufs returns dst and src of size bytes holding small positive numbers of type d, so that
// repeated sums neither overflow soon nor create subnormals.
func benchBufs(d DType, size int) (dst, src []byte) {
	dst, src = make([]byte, size), make([]byte, size)
	for i := range size / d.Size() {
		putBits(d, dst, i, floatOrInt(d, float64(i%7)))
		putBits(d, src, i, floatOrInt(d, 0.25+float64(i%3)))
	}
	return dst, src
}

func floatOrInt(d DType, v float64) uint64 {
	if d.IsFloat() {
		return floatBits(d, v)
	}
	return uint64(v)
}

func BenchmarkSumFloat32(b *testing.B) { benchSum(b, Float32) }

func BenchmarkSumFloat64(b *testing.B) { benchSum(b, Float64) }

func benchSum(b *testing.B, d DType) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			dst, src := benchBufs(d, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				Reduce(d, Sum, dst, src)
			}
		})
	}
}

// BenchmarkCopy is the baseline: Go's copy of the same number of bytes (dst <- src).
func BenchmarkCopy(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			dst, src := benchBufs(Uint8, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkSumVsCopy times Reduce(Sum) and copy over the same dst and src, alternately in one
// run, and reports ratio-vs-copy = (sum bytes/s) / (copy bytes/s), bytes counted in dst. A
// sum reads two streams and writes one where a copy reads one and writes one, so where memory
// bandwidth is the limit the ratio tends to 2/3 (less where copy's non-temporal stores save the
// read of dst that a cached store costs).
func BenchmarkSumVsCopy(b *testing.B) {
	for _, d := range []DType{Float32, Float64} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%v/%s", d, sizeName(size)), func(b *testing.B) {
				dst, src := benchBufs(d, size)
				reps := max(1, (1<<20)/size) // time at least 1 MiB at once: clock resolution
				var sumT, copyT time.Duration
				b.SetBytes(int64(2 * size * reps))
				b.ReportAllocs()
				for b.Loop() {
					t0 := time.Now()
					for range reps {
						Reduce(d, Sum, dst, src)
					}
					t1 := time.Now()
					for range reps {
						copy(dst, src)
					}
					t2 := time.Now()
					sumT += t1.Sub(t0)
					copyT += t2.Sub(t1)
				}
				bytes := float64(size) * float64(reps) * float64(b.N)
				b.ReportMetric(bytes/sumT.Seconds()/1e9, "sum-GB/s")
				b.ReportMetric(bytes/copyT.Seconds()/1e9, "copy-GB/s")
				b.ReportMetric(copyT.Seconds()/sumT.Seconds(), "ratio-vs-copy")
			})
		}
	}
}

// BenchmarkSumPaths compares the code paths (AVX-512, AVX2, portable Go) on float32 and float64.
func BenchmarkSumPaths(b *testing.B) {
	for _, path := range accelPaths() {
		for _, d := range []DType{Float32, Float64} {
			for _, size := range []int{64 << 10, 64 << 20} {
				b.Run(fmt.Sprintf("%s/%v/%s", path, d, sizeName(size)), func(b *testing.B) {
					dst, src := benchBufs(d, size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					withPath(path, func() {
						for b.Loop() {
							Reduce(d, Sum, dst, src)
						}
					})
				})
			}
		}
	}
}

// BenchmarkReduce runs every dtype × op over 1 MiB (in cache) on the best path.
func BenchmarkReduce(b *testing.B) {
	const size = 1 << 20
	for _, d := range DTypes() {
		for _, op := range []Op{Sum, Prod, Min, Max} {
			b.Run(fmt.Sprintf("%v/%v", d, op), func(b *testing.B) {
				dst, src := benchBufs(d, size)
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					Reduce(d, op, dst, src)
				}
			})
		}
	}
}

// BenchmarkDivide divides 1 MiB of each dtype by 3 (refilled, untimed, before each division so
// that the values stay normal).
func BenchmarkDivide(b *testing.B) {
	const size = 1 << 20
	for _, d := range DTypes() {
		b.Run(d.String(), func(b *testing.B) {
			dst, orig := benchBufs(d, size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copy(dst, orig)
				b.StartTimer()
				Divide(d, dst, 3)
			}
		})
	}
}
