package rendezvous

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// mapEnv returns a getenv over m.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	torch := map[string]string{"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
		"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
	slurm := map[string]string{"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "2"}
	ompi := map[string]string{"OMPI_COMM_WORLD_RANK": "6", "OMPI_COMM_WORLD_SIZE": "7",
		"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"}
	chorus := map[string]string{"CHORUS_RANK": "1", "CHORUS_SIZE": "2", "CHORUS_LOCAL_RANK": "1",
		"CHORUS_LOCAL_SIZE": "2", "CHORUS_RDZV": "tcp://head:7000", "CHORUS_SECRET": "s3cret"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	rdzv := map[string]string{"CHORUS_RDZV": "head:7000"}
	cases := []struct {
		name string
		env  map[string]string
		want Job
	}{
		{"chorus wins over all", merge(torch, slurm, ompi, chorus),
			Job{Rank: 1, Size: 2, LocalRank: 1, LocalSize: 2, Addr: "tcp://head:7000", Secret: []byte("s3cret")}},
		{"torchrun over slurm and ompi", merge(slurm, ompi, torch),
			Job{Rank: 3, Size: 8, LocalRank: 1, LocalSize: 4, Addr: "10.0.0.1:29501", Secret: []byte{}, Serve: true}},
		{"slurm over ompi, no local size", merge(ompi, slurm, rdzv),
			Job{Rank: 5, Size: 16, LocalRank: 2, Addr: "head:7000", Secret: []byte{}}},
		{"ompi alone", merge(ompi, rdzv),
			Job{Rank: 6, Size: 7, LocalSize: 1, Addr: "head:7000", Secret: []byte{}}},
		{"CHORUS_RDZV over MASTER_ADDR", merge(torch, rdzv),
			Job{Rank: 3, Size: 8, LocalRank: 1, LocalSize: 4, Addr: "head:7000", Secret: []byte{}}},
		{"ipv6 master", merge(torch, map[string]string{"MASTER_ADDR": "::1"}),
			Job{Rank: 3, Size: 8, LocalRank: 1, LocalSize: 4, Addr: "[::1]:29501", Secret: []byte{}, Serve: true}},
		{"families never mix", merge(slurm, rdzv, map[string]string{"WORLD_SIZE": "99", "LOCAL_WORLD_SIZE": "9"}),
			Job{Rank: 5, Size: 16, LocalRank: 2, Addr: "head:7000", Secret: []byte{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(mapEnv(tc.env))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"CHORUS_RANK": "0", "CHORUS_SIZE": "2", "CHORUS_RDZV": "h:1"}
		for k, v := range extra {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		msg  string
	}{
		{"nothing", map[string]string{}, "no rank in the environment"},
		{"size missing", base(map[string]string{"CHORUS_SIZE": "-"}), "CHORUS_SIZE is not set"},
		{"garbled rank", base(map[string]string{"CHORUS_RANK": "one"}), `CHORUS_RANK="one" is not an integer`},
		{"negative rank", base(map[string]string{"CHORUS_RANK": "-1"}), "CHORUS_RANK=-1 is negative"},
		{"rank = size", base(map[string]string{"CHORUS_RANK": "2"}), "CHORUS_RANK=2 is not below CHORUS_SIZE=2"},
		{"zero size", base(map[string]string{"CHORUS_SIZE": "0"}), "at least one process"},
		{"local rank = local size", base(map[string]string{"CHORUS_LOCAL_RANK": "1", "CHORUS_LOCAL_SIZE": "1"}),
			"CHORUS_LOCAL_RANK=1 is not below CHORUS_LOCAL_SIZE=1"},
		{"local size above size", base(map[string]string{"CHORUS_LOCAL_SIZE": "3"}), "is above CHORUS_SIZE=2"},
		{"garbled local", base(map[string]string{"CHORUS_LOCAL_RANK": "x"}), "not an integer"},
		{"no address", base(map[string]string{"CHORUS_RDZV": "-"}), "no store address"},
		{"port missing", base(map[string]string{"CHORUS_RDZV": "-", "MASTER_ADDR": "h"}), "both are needed"},
		{"bad port", base(map[string]string{"CHORUS_RDZV": "-", "MASTER_ADDR": "h", "MASTER_PORT": "99999"}), "not a port number"},
		{"no port after", base(map[string]string{"CHORUS_RDZV": "-", "MASTER_ADDR": "h", "MASTER_PORT": "65535"}), "not a port number"},
		{"torchrun rank too big", map[string]string{"RANK": "8", "WORLD_SIZE": "8", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			"RANK=8 is not below WORLD_SIZE=8"},
		{"slurm garbled", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4x"}, `SLURM_NTASKS="4x"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromEnv(mapEnv(tc.env))
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, "rendezvous: ")
		})
	}
}

func TestJobURL(t *testing.T) {
	require.Equal(t, "tcp://h:1", Job{Addr: "h:1"}.URL())
	require.Equal(t, "file:///x", Job{Addr: "file:///x"}.URL())
}
