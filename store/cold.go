package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Cold is the cold tier as the store uses it: whole objects under string
// keys, each with string metadata, shared by every node. The store opens
// file:// and mem:// tiers itself ([OpenCold]), without gocloud.dev;
// package github.com/wombatkv/prefetch/store/gocloud adapts any
// gocloud.dev/blob bucket, S3 included. Its methods take and return
// standard types alone, so an implementation need not import this
// package. An implementation must be safe for concurrent use.
type Cold interface {
	// NewReader opens object key for reading: its body, its size in bytes
	// and its metadata, whose keys the store matches without regard to
	// case. A missing object is an error wrapping fs.ErrNotExist. ctx
	// bounds the whole read, body included; the caller closes body.
	NewReader(ctx context.Context, key string) (body io.ReadCloser, size int64, meta map[string]string, err error)
	// WriteAll stores data as object key with metadata meta, replacing
	// any object under key. A reader never sees part of the data.
	WriteAll(ctx context.Context, key string, data []byte, meta map[string]string) error
	// Delete removes object key. A missing object is an error wrapping
	// fs.ErrNotExist.
	Delete(ctx context.Context, key string) error
	// Close releases what the tier holds. No other call may follow.
	Close() error
}

// ErrUnsupportedScheme is wrapped by the error of [OpenCold] (and of
// [Open] and [Config.Validate], for Config.ColdURL) for a URL whose scheme
// the store does not open itself: open such a tier with its own package
// (s3:// with github.com/wombatkv/prefetch/store/gocloud) and pass it as
// Config.Cold.
var ErrUnsupportedScheme = errors.New("store: the store opens only file:// and mem:// cold tiers itself")

// schemeError is the error for a ColdURL of a scheme the store does not
// open: it names the package that does.
type schemeError struct{ url, scheme string }

func (e *schemeError) Error() string {
	return fmt.Sprintf("store: ColdURL = %q: the store opens only file:// and mem:// cold tiers itself, not %s://; "+
		"open it with github.com/wombatkv/prefetch/store/gocloud (cold, err := gocloud.Open(ctx, url)) and pass it as Config.Cold", e.url, e.scheme)
}

func (e *schemeError) Is(target error) bool { return target == ErrUnsupportedScheme }

// OpenCold opens the cold tier at rawURL, of a scheme the store opens
// itself, without gocloud.dev:
//   - "file:///abs/path": a directory, laid out as gocloud.dev's fileblob
//     lays it out (an object is a file at its key, its metadata a JSON
//     "<key>.attrs" file beside it), so either opens the other's. Query
//     parameters: "create_dir" (any value: create the directory if
//     missing), "dir_file_mode" (the mode of the directories it creates,
//     decimal, default 511 = 0o777), "metadata=skip" (write no
//     metadata), and "no_tmp_dir", accepted for fileblob's sake:
//     temporary files always go beside their object. "file://./rel"
//     names a path relative to the working directory. Every file
//     operation goes through an [os.Root] on the directory, so no key
//     reaches outside it.
//   - "mem://": in memory, empty, for tests; each OpenCold opens a new
//     one.
//
// Any other scheme fails with an error wrapping [ErrUnsupportedScheme]
// that names the package to use. The caller closes the tier.
func OpenCold(ctx context.Context, rawURL string) (Cold, error) {
	u, err := parseColdURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		c, err := openFileCold(u)
		if err != nil {
			return nil, fmt.Errorf("store: open cold tier %q: %w", rawURL, err)
		}
		return c, nil
	default: // "mem", as parseColdURL checked
		return newMemCold(), nil
	}
}

// parseColdURL parses a cold tier URL of a scheme the store opens itself,
// checking its parameters.
func parseColdURL(rawURL string) (*url.URL, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return nil, fieldErr("ColdURL", nil, "= %q, want a URL with a scheme (file:///path, mem://, or s3://bucket?region=... through store/gocloud)", rawURL)
	}
	switch scheme {
	case "file", "mem":
	default:
		return nil, &schemeError{url: rawURL, scheme: scheme}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fieldErr("ColdURL", err, "= %q: %v", rawURL, err)
	}
	if u.Fragment != "" || strings.HasSuffix(rawURL, "#") {
		return nil, fieldErr("ColdURL", nil, "= %q has a fragment (#...), which names no directory: escape a '#' in a path as %%23", rawURL)
	}
	if u.Scheme == "mem" {
		if len(u.Query()) > 0 || u.Host != "" || u.Path != "" {
			return nil, fieldErr("ColdURL", nil, "= %q, want mem:// alone", rawURL)
		}
		return u, nil
	}
	if _, err := fileOptions(u); err != nil {
		return nil, fieldErr("ColdURL", err, "= %q: %v", rawURL, err)
	}
	return u, nil
}
