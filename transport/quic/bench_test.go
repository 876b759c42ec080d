package quic

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// BenchmarkQUICSendRecv moves messages one way over one connection on loopback, with a few
// messages in flight (as the engine pipelines chunks), and copies each into the receiver's
// buffer.
func BenchmarkQUICSendRecv(b *testing.B) {
	for _, size := range []int{256 << 10, 4 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			const depth = 4
			ctx := b.Context()
			ta, tb := newTransports(b)
			d, acc := connect(b, ta, listen(b, tb))
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i)
			}
			dst := make([]byte, size)
			fn := func(p []byte) error {
				if len(p) != size {
					return fmt.Errorf("got %d bytes, want %d", len(p), size)
				}
				copy(dst, p)
				return nil
			}
			tag := func(i int) transport.Tag { return transport.Tag{Comm: 1, Seq: uint64(i)} }
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				require.NoError(b, d.Send(ctx, tag(i), msg))
				if i >= depth {
					require.NoError(b, acc.Recv(ctx, tag(i-depth), fn))
				}
				i++
			}
			for j := max(i-depth, 0); j < i; j++ {
				require.NoError(b, acc.Recv(ctx, tag(j), fn))
			}
		})
	}
}
