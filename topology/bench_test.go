package topology

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkDecode compares Decode (with its checks) against plain json.Unmarshal of the same
// bytes, the baseline it adds to.
func BenchmarkDecode(b *testing.B) {
	p := validPeer()
	for i := range 8 {
		p.Interfaces = append(p.Interfaces, Interface{Name: fmt.Sprintf("veth%d", i), MTU: 1500, Addrs: []string{"10.1.0.1/16", "fe80::1/64"}})
	}
	enc, err := Encode(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			var q Peer
			if err := json.Unmarshal(enc, &q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The worst description: 1 MiB of repeated CPU lists, against plain JSON of one 1 MiB string.
	big := []byte(repeatedCPUs())
	plain, err := json.Marshal(struct{ S string }{string(big[:len(big)-20])})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json.Unmarshal/1MiB-string", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			var v struct{ S string }
			if err := json.Unmarshal(plain, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode/1MiB-repeated-cpus", func(b *testing.B) {
		b.SetBytes(int64(len(big)))
		for b.Loop() {
			if _, err := Decode(big); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBuild builds a 4096-rank system on 512 hosts and takes its ring and a tree.
func BenchmarkBuild(b *testing.B) {
	hosts := make([]string, 4096)
	for r := range hosts {
		hosts[r] = fmt.Sprintf("host-%d", r%512)
	}
	peers := peersOn(hosts...)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Build(peers, Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Ring()
		if _, err := s.Tree(17); err != nil {
			b.Fatal(err)
		}
	}
}
