package rendezvous

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleFrames are valid frames of every op, used as round-trip cases and fuzz seeds.
func sampleFrames() []frame {
	rng := rand.New(rand.NewPCG(7, 11))
	blob := make([]byte, 300)
	for i := range blob {
		blob[i] = byte(rng.IntN(256))
	}
	return []frame{
		{op: opSet, key: "rank/0", value: []byte("10.0.0.1:4000")},
		{op: opGet, key: "rank/1"},
		{op: opWait, key: strings.Repeat("w", MaxKeySize)},
		{op: opAdd, key: "ctr", value: binary.BigEndian.AppendUint64(nil, 5)},
		{op: opCAS, key: "k", value: []byte("old"), aux: blob},
		{op: opOK, value: blob[:17]},
		{op: opErr, value: []byte("rendezvous: no"), aux: []byte{codeNotCounter}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	frames := sampleFrames()
	for _, f := range frames {
		require.NoError(t, writeFrame(&stream, f))
	}
	for _, want := range frames {
		got, err := readFrame(&stream)
		require.NoError(t, err)
		require.Equal(t, want.op, got.op)
		require.Equal(t, want.key, got.key)
		require.Equal(t, len(want.value), len(got.value))
		require.Equal(t, string(want.value), string(got.value))
		require.Equal(t, string(want.aux), string(got.aux))
	}
	_, err := readFrame(&stream)
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameRejectsBeforeAllocating(t *testing.T) {
	// A header claiming 1<<60 bytes fails at once; a reader that allocated first would panic
	// or run out of memory.
	h := binary.BigEndian.AppendUint32([]byte{opSet}, 1)
	h = binary.BigEndian.AppendUint64(h, 1<<60)
	h = binary.BigEndian.AppendUint64(h, 0)
	allocs := testing.AllocsPerRun(10, func() {
		_, err := readFrame(bytes.NewReader(h))
		require.ErrorIs(t, err, ErrValueTooLarge)
	})
	require.Less(t, allocs, 10.0)

	bad := append([]byte{0x42}, make([]byte, frameHeaderSize-1)...)
	_, err := readFrame(bytes.NewReader(bad))
	require.ErrorContains(t, err, "unknown op")

	short := appendFrame(nil, frame{op: opSet, key: "k", value: []byte("value")})
	_, err = readFrame(bytes.NewReader(short[:len(short)-1]))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func FuzzFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(appendFrame(nil, fr))
	}
	f.Add([]byte{})
	f.Add([]byte("\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := readFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		require.True(t, validOp(fr.op))
		require.LessOrEqual(t, len(fr.key), MaxKeySize)
		require.LessOrEqual(t, len(fr.value), MaxValueSize)
		require.LessOrEqual(t, len(fr.aux), MaxValueSize)
		enc := appendFrame(nil, fr)
		require.Equal(t, data[:len(enc)], enc, "a decoded frame encodes back to its bytes")
		// Appending to the value must not clobber aux (the slices do not overlap in capacity).
		aux := string(fr.aux)
		_ = append(fr.value, 0xEE)
		require.Equal(t, aux, string(fr.aux))
	})
}
