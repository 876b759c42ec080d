package rendezvous

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpen(t *testing.T) {
	ctx := testCtx(t)
	secret := []byte("s")
	_, addr := startServer(t, ServerConfig{Secret: secret})

	s, err := Open(ctx, "tcp://"+addr, secret)
	require.NoError(t, err)
	require.IsType(t, &Client{}, s)
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, s.Close())

	dir := filepath.Join(t.TempDir(), "rdzv")
	a, err := Open(ctx, "file://"+dir, nil)
	require.NoError(t, err)
	b, err := Open(ctx, "file://"+dir, nil)
	require.NoError(t, err)
	require.NoError(t, a.Set(ctx, "k", []byte("shared")))
	v, err := b.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "shared", string(v), "two stores on one directory share keys")
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	_, err = Open(ctx, "tcp://"+addr, []byte("wrong"))
	require.ErrorIs(t, err, ErrAuth)
	for _, bad := range []string{"http://x", "tcp://nohost", "file://host/path", "file://", "::"} {
		_, err := Open(ctx, bad, nil)
		require.ErrorContains(t, err, "rendezvous: open", bad)
	}
}

func TestOpenEnv(t *testing.T) {
	ctx := testCtx(t)
	secret := "env secret"
	_, addr := startServer(t, ServerConfig{Secret: []byte(secret)})
	t.Setenv("CHORUS_RANK", "0")
	t.Setenv("CHORUS_SIZE", "1")
	t.Setenv("CHORUS_RDZV", addr)
	t.Setenv("CHORUS_SECRET", secret)
	s, err := Open(ctx, "env://", nil) // the secret comes from CHORUS_SECRET
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, s.Close())

	_, err = Open(ctx, "env://", []byte("not the secret"))
	require.ErrorIs(t, err, ErrAuth)

	t.Setenv("CHORUS_RDZV", "env://")
	_, err = Open(ctx, "env://", nil)
	require.ErrorContains(t, err, "names env:// itself")

	t.Setenv("CHORUS_RANK", "")
	_, err = Open(ctx, "env://", nil)
	require.ErrorContains(t, err, "no rank in the environment")
}
