//go:build go1.23

package mr_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/mr"
)

func TestPipeAll(t *testing.T) {
	got, err := mr.MapReduce(context.Background(), upTo(1000), square,
		func(_ context.Context, results *mr.Pipe[int]) (int, error) {
			total := 0
			for v := range results.All() {
				total += v
			}
			return total, nil
		})
	require.NoError(t, err)
	assert.Equal(t, sumOfSquares(1000), got)

	// Stopping early leaves the rest of the pipe to the next call.
	got, err = mr.MapReduce(context.Background(), upTo(100), square,
		func(_ context.Context, results *mr.Pipe[int]) (int, error) {
			n := 0
			for range results.All() {
				n++
				if n == 10 {
					break
				}
			}
			for range results.All() {
				n++
			}
			return n, nil
		}, mr.WithWorkers(3))
	require.NoError(t, err)
	assert.Equal(t, 100, got)
}
