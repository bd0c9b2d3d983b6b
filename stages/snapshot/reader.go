package snapshot

import "github.com/wombatkv/prefetch/index"

// Reader returns the index s streams, so the pipeline can find out what the
// index offers beyond All (pipeline.ReaderSource): over an *index.Memory
// the cycle scans its columns in place.
func (s *Index) Reader() index.Reader { return s.Index }
