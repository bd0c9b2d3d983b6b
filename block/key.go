package block

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KeyPrefix starts every block key. It is the node's on-store naming scheme
// (the seed's BLOCK_KEY_PREFIX) and must not change without a migration.
const KeyPrefix = "wombatkv/v1/block/b3="

// KeyLen is the length of every block key: the prefix and 64 hex digits.
const KeyLen = len(KeyPrefix) + 2*len(Hash{})

const hexDigits = "0123456789abcdef"

// Key returns the object key of the block with hash h:
// "wombatkv/v1/block/b3=" followed by the hash in 64 lowercase hex digits.
func Key(h Hash) string {
	return string(AppendKey(make([]byte, 0, KeyLen), h))
}

// AppendKey appends the key of h to dst and returns the extended slice, for
// callers that build keys without allocating.
func AppendKey(dst []byte, h Hash) []byte {
	dst = append(dst, KeyPrefix...)
	for _, b := range h {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0x0f])
	}
	return dst
}

// ErrBadKey is wrapped by every error [ParseKey] returns.
var ErrBadKey = errors.New("block: bad key")

// ParseKey parses a key made by [Key]. It is strict: the prefix must match
// exactly and the rest must be exactly 64 lowercase hex digits. The error
// says which rule the key broke.
func ParseKey(key string) (Hash, error) {
	var h Hash
	if !strings.HasPrefix(key, KeyPrefix) {
		return h, fmt.Errorf("%w %q: want prefix %q", ErrBadKey, clip(key), KeyPrefix)
	}
	digits := key[len(KeyPrefix):]
	if len(digits) != 2*len(h) {
		return h, fmt.Errorf("%w %q: %d hex digits after the prefix, want %d", ErrBadKey, clip(key), len(digits), 2*len(h))
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			return Hash{}, fmt.Errorf("%w %q: uppercase hex digit %s at offset %d, want lowercase", ErrBadKey, clip(key), quoteByte(c), len(KeyPrefix)+i)
		default:
			return Hash{}, fmt.Errorf("%w %q: non-hex byte %s at offset %d", ErrBadKey, clip(key), quoteByte(c), len(KeyPrefix)+i)
		}
		if i%2 == 0 {
			h[i/2] = v << 4
		} else {
			h[i/2] |= v
		}
	}
	return h, nil
}

// quoteByte quotes one byte of an input for an error message: 'g' for
// ASCII, '\xc3' for a byte of a multi-byte character (%q would print the
// byte as the rune of the same value, a character the input does not hold).
func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf(`'\x%02x'`, c)
}

// clip shortens s for an error message so a hostile input cannot flood logs.
func clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
