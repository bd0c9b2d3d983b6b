package filter_test

import (
	"context"
	"testing"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

var (
	_ pipeline.Filter = (*filter.AlreadyFlat)(nil)
	_ pipeline.Filter = (*filter.NotInFlight)(nil)
	_ filter.Flat     = filter.FlatFunc(nil)
)

type ctxKey struct{}

func TestAlreadyFlat(t *testing.T) {
	flat := map[string]map[block.Hash]bool{
		"ns-a": {{1}: true},
		"ns-b": {{2}: true},
	}
	var sawCtx context.Context
	f := filter.NewAlreadyFlat(filter.FlatFunc(func(ctx context.Context, ns string, h block.Hash) bool {
		sawCtx = ctx
		return flat[ns][h]
	}))
	ctx := context.WithValue(context.Background(), ctxKey{}, "the cycle's")
	tests := []struct {
		ns   string
		h    block.Hash
		want string
	}{
		{"ns-a", block.Hash{1}, pipeline.SkipAlreadyFlat},
		{"ns-a", block.Hash{2}, ""}, // flat in another namespace only
		{"ns-b", block.Hash{2}, pipeline.SkipAlreadyFlat},
		{"ns-b", block.Hash{3}, ""},
	}
	for _, tt := range tests {
		cy := &pipeline.Cycle{Namespace: tt.ns}
		if got := f.Skip(ctx, cy, pipeline.Candidate{Hash: tt.h}); got != tt.want {
			t.Errorf("Skip(%s, %x) = %q, want %q", tt.ns, tt.h[:1], got, tt.want)
		}
	}
	if sawCtx != ctx {
		t.Error("ContainsFlat was not handed the cycle's context")
	}
	if pipeline.SkipAlreadyFlat != "already_flat" {
		t.Errorf("SkipAlreadyFlat = %q, want the seed's already_flat", pipeline.SkipAlreadyFlat)
	}
}

type inFlightSet map[string]map[block.Hash]bool

func (s inFlightSet) InFlight(ns string, h block.Hash) bool { return s[ns][h] }

func TestNotInFlight(t *testing.T) {
	f := filter.NewNotInFlight(inFlightSet{"ns-a": {{5}: true}})
	for _, tt := range []struct {
		ns   string
		h    block.Hash
		want string
	}{
		{"ns-a", block.Hash{5}, pipeline.SkipInFlight},
		{"ns-a", block.Hash{6}, ""},
		{"ns-b", block.Hash{5}, ""},
	} {
		if got := f.Skip(context.Background(), &pipeline.Cycle{Namespace: tt.ns}, pipeline.Candidate{Hash: tt.h}); got != tt.want {
			t.Errorf("Skip(%s, %x) = %q, want %q", tt.ns, tt.h[:1], got, tt.want)
		}
	}
}
