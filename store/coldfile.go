package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The file:// cold tier: a directory in gocloud.dev's fileblob layout, so
// that a directory either of them wrote opens with the other. An object
// is the file at its key (fileblob's key escaping applied), its metadata
// the JSON file "<that path>.attrs" beside it. A write goes to a
// temporary file "<path>.<hex nanoseconds>.tmp" beside its object (where
// fileblob's no_tmp_dir puts it), which is renamed into place once the
// metadata file is. Unlike fileblob it reaches every file through an
// os.Root on the directory: no key, and no symlink in the directory,
// leads outside it.

// attrsExt is the suffix of an object's metadata file; no key may end
// with it.
const attrsExt = ".attrs"

// maxAttrsBytes bounds the metadata file read with an object: the store's
// is under 200 bytes.
const maxAttrsBytes = 1 << 20

// fileAttrs is fileblob's metadata file, field for field.
type fileAttrs struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
	MD5                []byte            `json:"md5"`
}

// fileColdOptions are a file:// URL's parameters.
type fileColdOptions struct {
	createDir bool
	dirMode   fs.FileMode
	noMeta    bool
}

// fileOptions reads the parameters of the file:// URL u.
func fileOptions(u *url.URL) (fileColdOptions, error) {
	o := fileColdOptions{dirMode: 0o777}
	q := u.Query()
	for k := range q {
		switch k {
		case "create_dir", "dir_file_mode", "metadata", "no_tmp_dir":
		default:
			return o, fmt.Errorf("unknown query parameter %q, want create_dir, dir_file_mode, metadata=skip or no_tmp_dir (fileblob's signed URLs, base_url and secret_key_path, are not served: open the bucket with store/gocloud for them)", k)
		}
	}
	o.createDir = q.Get("create_dir") != ""
	if v := q.Get("dir_file_mode"); v != "" {
		m, err := strconv.ParseUint(v, 10, 32)
		if err != nil || m > 0o777 {
			return o, fmt.Errorf("dir_file_mode = %q, want a decimal file mode up to 511 (0o777)", v)
		}
		o.dirMode = fs.FileMode(m)
	}
	switch v, ok := q["metadata"]; {
	case !ok, v[0] == "":
	case v[0] == "skip":
		o.noMeta = true
	default:
		return o, fmt.Errorf("metadata = %q, want \"skip\" or nothing", v[0])
	}
	if u.Path == "" || u.Host != "" && u.Host != "." && u.Host != "localhost" {
		return o, errors.New(`want file:///absolute/path or file://./relative/path`)
	}
	return o, nil
}

// fileCold is the file:// cold tier.
type fileCold struct {
	root *os.Root
	opts fileColdOptions
}

// openFileCold opens the directory of the file:// URL u.
func openFileCold(u *url.URL) (*fileCold, error) {
	opts, err := fileOptions(u)
	if err != nil {
		return nil, err
	}
	dir := u.Path
	if u.Host == "." || os.PathSeparator != '/' {
		dir = strings.TrimPrefix(dir, "/")
	}
	dir = filepath.FromSlash(dir)
	if opts.createDir {
		if err := os.MkdirAll(dir, opts.dirMode); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &fileCold{root: root, opts: opts}, nil
}

// path returns key's file, relative to the root, as fileblob names it.
func (c *fileCold) path(key string) (string, error) {
	rel := filepath.Clean(string(os.PathSeparator) + escapeKey(key))[1:]
	switch {
	case !utf8.ValidString(key):
		return "", fmt.Errorf("key %q is not valid UTF-8", key)
	case rel == "":
		return "", fmt.Errorf("key %q names the bucket's directory, not an object", key)
	case strings.HasSuffix(rel, attrsExt):
		return "", fmt.Errorf("key %q ends with %q, which names metadata files", key, attrsExt)
	}
	return rel, nil
}

// NewReader opens object key.
func (c *fileCold) NewReader(ctx context.Context, key string) (io.ReadCloser, int64, map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	rel, err := c.path(key)
	if err != nil {
		return nil, 0, nil, err
	}
	// Stat first, so that a fifo in an object's place is never opened.
	fi, err := c.root.Stat(rel)
	switch {
	case err != nil:
		return nil, 0, nil, err
	case fi.IsDir():
		return nil, 0, nil, &fs.PathError{Op: "open", Path: rel, Err: fs.ErrNotExist}
	case !fi.Mode().IsRegular():
		return nil, 0, nil, fmt.Errorf("open %s: a %s, not a plain file", rel, kindOf(fi.Mode()))
	}
	f, err := c.root.OpenFile(rel, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, 0, nil, err
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("open %s: replaced while opened", rel)
	}
	meta, err := c.attrs(rel)
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return ctxBody{ctx, f}, fi.Size(), meta, nil
}

// attrs reads the metadata of the object at rel; an object without a
// metadata file has none.
func (c *fileCold) attrs(rel string) (map[string]string, error) {
	f, err := c.root.Open(rel + attrsExt)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAttrsBytes+1))
	switch {
	case err != nil:
		return nil, err
	case len(data) > maxAttrsBytes:
		return nil, fmt.Errorf("read %s%s: more than %d bytes", rel, attrsExt, maxAttrsBytes)
	}
	var a fileAttrs
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("read %s%s: %w", rel, attrsExt, err)
	}
	return lowerKeys(a.Metadata), nil
}

// WriteAll writes object key: data to a temporary file, then its metadata
// file, then the rename that publishes the data. As with fileblob, a
// reader in between sees the new metadata with the old data (which the
// store's checksum then refuses), and ctx is last checked before the
// metadata is written.
func (c *fileCold) WriteAll(ctx context.Context, key string, data []byte, meta map[string]string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, err := c.path(key)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := c.root.MkdirAll(dir, c.opts.dirMode); err != nil {
			return err
		}
	}
	tmp, err := c.writeTemp(rel, data)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.root.Remove(tmp)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.opts.noMeta {
		sum := md5.Sum(data)
		a := fileAttrs{ContentType: "application/octet-stream", Metadata: lowerKeys(meta), MD5: sum[:]}
		if len(a.Metadata) == 0 {
			a.Metadata = nil
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(a); err != nil {
			return err
		}
		atmp, err := c.writeTemp(rel+attrsExt, buf.Bytes())
		if err != nil {
			return err
		}
		if err := c.root.Rename(atmp, rel+attrsExt); err != nil {
			c.root.Remove(atmp)
			return err
		}
	}
	if err := c.root.Rename(tmp, rel); err != nil {
		if !c.opts.noMeta { // as fileblob: no metadata rather than another object's
			c.root.Remove(rel + attrsExt)
		}
		return err
	}
	return nil
}

// writeTemp writes data to a new temporary file beside rel and returns its
// name.
func (c *fileCold) writeTemp(rel string, data []byte) (string, error) {
	for try := 0; ; try++ {
		tmp := rel + "." + strconv.FormatInt(time.Now().UnixNano(), 16) + ".tmp"
		f, err := c.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			c.root.Remove(tmp)
			return "", err
		}
		return tmp, nil
	}
}

// Delete removes object key and its metadata file.
func (c *fileCold) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, err := c.path(key)
	if err != nil {
		return err
	}
	if err := c.root.Remove(rel); err != nil {
		return err
	}
	if err := c.root.Remove(rel + attrsExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Close closes the directory.
func (c *fileCold) Close() error { return c.root.Close() }

// escapeKey escapes key as fileblob does before it names a file: control
// characters, a '/' after "..", a second '/' in a row and a trailing '/'
// become "__0x<hex>__" (and, where the path separator is not '/', that
// separator and the characters Windows refuses in names), then '/'
// becomes the path separator.
func escapeKey(key string) string {
	r := []rune(key)
	escape := func(i int) bool {
		c := r[i]
		switch {
		case c < 32:
			return true
		case os.PathSeparator != '/' && c == os.PathSeparator:
			return true
		case i > 1 && c == '/' && r[i-1] == '.' && r[i-2] == '.':
			return true
		case i > 0 && c == '/' && r[i-1] == '/':
			return true
		case c == '/' && i == len(r)-1:
			return true
		case os.PathSeparator == '\\' && strings.ContainsRune(`><:"|?*`, c):
			return true
		}
		return false
	}
	var b strings.Builder
	for i, c := range r {
		if escape(i) {
			fmt.Fprintf(&b, "__%#x__", c)
		} else {
			b.WriteRune(c)
		}
	}
	s := b.String()
	if os.PathSeparator != '/' {
		s = strings.ReplaceAll(s, "/", string(os.PathSeparator))
	}
	return s
}

// lowerKeys returns m with its keys in lower case, as gocloud.dev writes
// and reads them.
func lowerKeys(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	l := make(map[string]string, len(m))
	for k, v := range m {
		l[strings.ToLower(k)] = v
	}
	return l
}

// ctxBody is an object's body whose reads end at ctx's end.
type ctxBody struct {
	ctx context.Context
	io.ReadCloser
}

func (b ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}
