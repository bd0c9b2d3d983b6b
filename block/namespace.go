package block

import (
	"errors"
	"fmt"
)

// MaxNamespaceLen is the longest namespace [ValidateNamespace] accepts.
const MaxNamespaceLen = 128

// ErrBadNamespace is wrapped by every error [ValidateNamespace] returns.
var ErrBadNamespace = errors.New("block: bad namespace")

// ValidateNamespace reports whether ns is a valid namespace: 1 to 128 bytes
// of [A-Za-z0-9._-], and neither "." nor "..". A valid namespace is safe to
// use as one path element or one object-key segment: it holds no separator,
// no NUL and cannot climb out of a directory. It is the module's only
// namespace check; every package that takes a namespace calls it.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("%w: empty, want 1 to %d bytes of [A-Za-z0-9._-]", ErrBadNamespace, MaxNamespaceLen)
	}
	if len(ns) > MaxNamespaceLen {
		return fmt.Errorf("%w %q: %d bytes, want at most %d", ErrBadNamespace, clip(ns), len(ns), MaxNamespaceLen)
	}
	if ns == "." || ns == ".." {
		return fmt.Errorf("%w %q: a path element that names a directory, not a namespace", ErrBadNamespace, ns)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%w %q: byte %s at offset %d, want only [A-Za-z0-9._-]", ErrBadNamespace, clip(ns), quoteByte(c), i)
	}
	return nil
}
