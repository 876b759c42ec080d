package quic

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

func TestHeaderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	b := make([]byte, headerLen)
	for range 1000 {
		h := hdr{kind: kindData, tag: transport.Tag{
			Comm: r.Uint64(), Seq: r.Uint64(), Check: r.Uint64(),
			Epoch: r.Uint32(), Step: r.Uint32(), Chunk: r.Uint32(),
		}, length: r.Uint32N(MaxFrame + 1)}
		encodeHeader(b, h)
		got, err := decodeHeader(b)
		require.NoError(t, err)
		require.Equal(t, h, got)
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := make([]byte, headerLen)
	encodeHeader(good, hdr{kind: kindData, length: 10})
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short":         {good[:headerLen-1], errBadFrame},
		"magic":         {edit(func(b []byte) { b[0] = 'x' }), errBadFrame},
		"version":       {edit(func(b []byte) { b[3] = 2 }), errBadFrame},
		"kind":          {edit(func(b []byte) { b[4] = 7 }), errBadFrame},
		"reserved":      {edit(func(b []byte) { b[6] = 1 }), errBadFrame},
		"hello payload": {edit(func(b []byte) { b[4] = kindHello }), errBadFrame},
		"too large":     {edit(func(b []byte) { b[44], b[45], b[46], b[47] = 1, 0, 0, 1 }), transport.ErrTooLarge},
	} {
		_, err := decodeHeader(tc.b)
		require.ErrorIs(t, err, tc.want, name)
	}
	b := edit(func(b []byte) { b[44], b[45], b[46], b[47] = 0, 0, 0, 1 }) // exactly MaxFrame
	h, err := decodeHeader(b)
	require.NoError(t, err)
	require.Equal(t, uint32(MaxFrame), h.length)
}

func FuzzDecodeHeader(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, h := range []hdr{
		{kind: kindHello},
		{kind: kindData},
		{kind: kindData, length: MaxFrame},
		{kind: kindData, tag: transport.Tag{Comm: r.Uint64(), Seq: 7, Check: r.Uint64(), Epoch: 1, Step: 3, Chunk: 2}, length: 256 << 10},
	} {
		b := make([]byte, headerLen)
		encodeHeader(b, h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, errBadFrame) && !errors.Is(err, transport.ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if h.length > MaxFrame {
			t.Fatalf("accepted a length of %d", h.length)
		}
		again := make([]byte, headerLen)
		encodeHeader(again, h)
		if string(again) != string(b[:headerLen]) {
			t.Fatalf("decode/encode changed the header: %x -> %x", b[:headerLen], again)
		}
	})
}

func TestPayloadPool(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 4096, 256 << 10, 256<<10 + 1} {
		p := getPayload(n)
		require.Len(t, p, n)
		require.GreaterOrEqual(t, cap(p), n)
		putPayload(p)
	}
	putPayload(nil)
	putPayload(make([]byte, 100)) // not from the pools: ignored
}
