//go:build unix

package store

import "syscall"

// openNonblock opens a flat block without waiting: should a fifo take a
// block's place between the lstat that checks it and the open, the open
// returns at once instead of waiting for a writer.
const openNonblock = syscall.O_NONBLOCK
