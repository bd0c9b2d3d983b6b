package presets_test

import (
	"context"
	"fmt"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
)

// ExampleNew picks a preset by the name a flag or a config file gives.
func ExampleNew() {
	idx, st, clock := exampleSetup()
	for _, name := range []string{"v3", "v4"} {
		p, err := presets.New(name, presets.Options{
			Index: idx, Store: st, TopK: 3, Clock: clock,
			Emitters: []pipeline.Emitter{report},
		})
		if err != nil {
			fmt.Println(err)
			continue
		}
		p.Run(context.Background())
	}
	// Output:
	// scored=5 selected=3 skipped_already_flat=1 fetched=2 failed=0 bytes=2048 failed_by=map[]
	// presets: unknown preset "v4", want one of v1, v2, v3, warmup, hints
}

func ExampleNames() {
	fmt.Println(presets.Names())
	// Output:
	// [v1 v2 v3 warmup hints]
}
