package topology

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeRoundTrip(t *testing.T) {
	local, err := Local(7)
	require.NoError(t, err)
	for _, p := range []Peer{validPeer(), local, {Rank: 0, Host: "x"}} {
		b, err := Encode(p)
		require.NoError(t, err)
		got, err := Decode(b)
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
}

func TestEncodeFieldNames(t *testing.T) {
	b, err := Encode(validPeer())
	require.NoError(t, err)
	require.JSONEq(t, `{"rank":2,"host":"h","hostname":"node-a","pid":42,"numa":[0,1],"cpus":"0-2",
		"interfaces":[{"name":"eth0","mtu":1500,"addrs":["10.0.0.2/24","fe80::1/64"]}],
		"gpus":[{"index":0,"uuid":"GPU-1234","bus_id":"0000:3b:00.0"}]}`, string(b))
}

func TestEncodeRefusesInvalid(t *testing.T) {
	_, err := Encode(Peer{Rank: 1})
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "no host identity")
}

func TestDecodeRejects(t *testing.T) {
	huge := `{"rank":0,"host":"h","hostname":"` + strings.Repeat("a", MaxEncodedSize) + `"}`
	cases := map[string]string{
		"":                                        "not a JSON object",
		"   ":                                     "not a JSON object",
		"[1,2]":                                   "not a JSON object",
		"null":                                    "not a JSON object",
		`{"rank":0,"host":"h"} {}`:                "data after the object",
		`{"rank":0,"host":"h"} x`:                 "data after the object",
		`{"rank":0,"host":"h","color":"blue"}`:    "unknown field",
		`{"rank":"0","host":"h"}`:                 "cannot unmarshal",
		`{"rank":0,"host":"h"`:                    "unexpected EOF",
		`{"rank":0}`:                              "no host identity",
		`{"rank":-4,"host":"h"}`:                  "rank -4 out of range",
		`{"rank":1e30,"host":"h"}`:                "cannot unmarshal",
		`{"rank":0,"host":"h","cpus":"9-1"}`:      "runs backwards",
		`{"rank":0,"host":"h","cpus":[1,2]}`:      "cannot unmarshal",
		`{"rank":0,"host":"h","numa":[3,3]}`:      "numa nodes",
		`{"rank":0,"host":"h","interfaces":[{}]}`: "interface without a name",
		huge:                             "at most 1048576",
		`{"rank":0,"host":"h","pid":-1}`: "negative pid",
		`{"rank":0,"host":"h","gpus":[{"index":-1}]}`: "gpu index",
		`{"rank":0,"host":"h","cpus":"1",}`:           "invalid character",
	}
	for in, want := range cases {
		_, err := Decode([]byte(in))
		require.ErrorIs(t, err, ErrMalformed, "%.60q", in)
		require.ErrorContains(t, err, want, "%.60q", in)
	}
}

// TestDecodeRepeatedKeys: a key given again keeps its last value; "cpus" repeated up to the size
// limit decodes (its list is expanded once, not once per repetition; BenchmarkDecode shows the
// cost).
func TestDecodeRepeatedKeys(t *testing.T) {
	p, err := Decode([]byte(repeatedCPUs()))
	require.NoError(t, err)
	require.Len(t, p.CPUs, MaxCPU)

	p, err = Decode([]byte(`{"rank":0,"host":"h","cpus":"1-3","numa":[0],"cpus":"","numa":[1]}`))
	require.NoError(t, err)
	require.Empty(t, p.CPUs)
	require.Equal(t, []int{1}, p.NUMA)
}

// repeatedCPUs is a description just under MaxEncodedSize that repeats the largest CPU list.
func repeatedCPUs() string {
	var b strings.Builder
	b.WriteString(`{"rank":0,"host":"h"`)
	for b.Len() < MaxEncodedSize-100 {
		b.WriteString(`,"cpus":"0-65535"`)
	}
	b.WriteString("}")
	return b.String()
}

func FuzzDecode(f *testing.F) {
	for _, p := range []Peer{validPeer(), {Rank: 0, Host: "x"}, {Rank: 3, Host: "boot:1/mnt:2", CPUs: CPUSet{0, 1, 5}}} {
		b, err := Encode(p)
		require.NoError(f, err)
		f.Add(b)
	}
	if p, err := Local(1); err == nil {
		b, err := Encode(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{"rank":0,"host":"h","cpus":"0-65535"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		// Whatever Decode accepts, Encode writes and Decode reads back to the same encoding.
		b, err := Encode(p)
		require.NoError(t, err, fmt.Sprintf("%+v", p))
		q, err := Decode(b)
		require.NoError(t, err)
		b2, err := Encode(q)
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, b2), "%s\n%s", b, b2)
	})
}

// TestEncodeLargestPeer checks that the bounds of Validate keep every valid description under
// MaxEncodedSize, with every string made of the characters JSON escapes.
func TestEncodeLargestPeer(t *testing.T) {
	long := func(c string) string { return strings.Repeat(c, maxName) }
	p := Peer{Rank: MaxRanks - 1, Host: strings.Repeat(`"`, maxHostID), Hostname: long(`\`), PID: 1<<63 - 1}
	for n := range MaxNUMA {
		p.NUMA = append(p.NUMA, n)
	}
	for c := 0; c < MaxCPU; c += 2 {
		p.CPUs = append(p.CPUs, c)
	}
	for i := range maxInterfaces {
		ifc := Interface{Name: long(`"`), MTU: 1<<63 - 1, Loopback: true}
		for range maxAddrs / maxInterfaces {
			ifc.Addrs = append(ifc.Addrs, fmt.Sprintf("ffff:ffff:ffff:ffff:ffff:ffff:ffff:%04x/128", i))
		}
		p.Interfaces = append(p.Interfaces, ifc)
	}
	for i := range maxGPUs {
		p.GPUs = append(p.GPUs, GPU{Index: i, UUID: long(`"`), BusID: long(`\`)})
	}
	require.NoError(t, p.Validate())
	b, err := Encode(p)
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), MaxEncodedSize)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, p, got)
}
