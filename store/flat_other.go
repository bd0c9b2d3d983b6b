//go:build !unix

package store

// openNonblock is 0 where there are no fifos to wait on.
const openNonblock = 0
