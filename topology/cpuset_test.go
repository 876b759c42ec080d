package topology

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCPUSetRoundTrip(t *testing.T) {
	cases := map[string]CPUSet{
		"":            nil,
		"0":           {0},
		"0-3":         {0, 1, 2, 3},
		"0-1,3,5-6,9": {0, 1, 3, 5, 6, 9},
		"7,65535":     {7, MaxCPU - 1},
		"10-11,13-14": {10, 11, 13, 14},
	}
	for text, set := range cases {
		got, err := ParseCPUSet(text)
		require.NoError(t, err, text)
		require.Equal(t, set, got, text)
		require.Equal(t, text, set.String())
	}
	got, err := ParseCPUSet(" 0-1 , 4\n")
	require.NoError(t, err)
	require.Equal(t, CPUSet{0, 1, 4}, got)
	require.Equal(t, CPUSet{1, 2, 5}, NewCPUSet(5, 1, 2, 5, 1))
}

func TestCPUSetRejects(t *testing.T) {
	for _, text := range []string{"x", "1-", "-1", "3-1", "1,1", "2,1", "0-2,2", "+1", "65536", "1,,2", "1-2-3", "99999999999999999999"} {
		_, err := ParseCPUSet(text)
		require.Error(t, err, "%q", text)
	}
}

func TestCPUSetJSON(t *testing.T) {
	b, err := json.Marshal(struct{ C CPUSet }{CPUSet{0, 1, 2, 8}})
	require.NoError(t, err)
	require.JSONEq(t, `{"C":"0-2,8"}`, string(b))
	var v struct{ C CPUSet }
	require.NoError(t, json.Unmarshal([]byte(`{"C":"4-5"}`), &v))
	require.Equal(t, CPUSet{4, 5}, v.C)
	require.Error(t, json.Unmarshal([]byte(`{"C":"5-4"}`), &v))
}

func TestCPUSetIntersect(t *testing.T) {
	require.Equal(t, CPUSet{2, 3, 8}, CPUSet{0, 2, 3, 5, 8}.Intersect(CPUSet{1, 2, 3, 4, 8, 9}))
	require.Empty(t, CPUSet{0, 1}.Intersect(CPUSet{2, 3}))
	require.Empty(t, CPUSet(nil).Intersect(CPUSet{2, 3}))
}
