package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/wombatkv/prefetch/store/gocloud"
)

// Every cold tier the store is tested against is a Cold.
var (
	_ Cold = (*fileCold)(nil)
	_ Cold = (*memCold)(nil)
	_ Cold = (*gocloud.Bucket)(nil)
)

// coldImpl opens one implementation of Cold for the conformance suite.
type coldImpl struct {
	name string
	open func(t *testing.T) Cold
}

func coldImpls() []coldImpl {
	return []coldImpl{
		{"file", func(t *testing.T) Cold { return openCold(t, "file://"+t.TempDir()) }},
		{"mem", func(t *testing.T) Cold { return openCold(t, "mem://") }},
		{"gocloud-mem", func(t *testing.T) Cold {
			c := gocloud.New(memblob.OpenBucket(nil))
			t.Cleanup(func() { c.Close() })
			return c
		}},
		{"gocloud-file", func(t *testing.T) Cold {
			return gocloud.New(openBucket(t, "file://"+t.TempDir()+"?no_tmp_dir=true"))
		}},
		{"gocloud-s3", func(t *testing.T) Cold {
			return gocloud.New(openBucket(t, startS3(t).url()))
		}},
	}
}

// readObject reads object key of c whole.
func readObject(t *testing.T, c Cold, key string) (data []byte, meta map[string]string, err error) {
	t.Helper()
	body, size, meta, err := c.NewReader(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	data, err = io.ReadAll(body)
	if err == nil && int64(len(data)) != size {
		t.Errorf("NewReader(%q) declares %d bytes, its body has %d", key, size, len(data))
	}
	return data, meta, err
}

// TestColdConformance runs what the store asks of a cold tier against
// every implementation.
func TestColdConformance(t *testing.T) {
	ctx := context.Background()
	const key = "tp-test/wombatkv/v1/block/b3=00ff"
	for _, impl := range coldImpls() {
		t.Run(impl.name, func(t *testing.T) {
			c := impl.open(t)
			if _, _, _, err := c.NewReader(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("NewReader of a missing object: err = %v, want fs.ErrNotExist", err)
			}
			payload := bytes.Repeat([]byte("kv"), 5000)
			if err := c.WriteAll(ctx, key, payload, map[string]string{ChecksumKey: "abc", "Other": "x"}); err != nil {
				t.Fatalf("WriteAll: %v", err)
			}
			data, meta, err := readObject(t, c, key)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			mustEqual(t, "read", payload, data)
			if v, ok := lookupMeta(meta); !ok || v != "abc" {
				t.Errorf("metadata = %v, want %s=abc", meta, ChecksumKey)
			}
			if v := lookupOther(meta); v != "x" {
				t.Errorf("metadata = %v, want other=x, its key in any case", meta)
			}

			// A rewrite replaces data and metadata, and an empty object
			// is an object.
			if err := c.WriteAll(ctx, key, nil, map[string]string{ChecksumKey: "def"}); err != nil {
				t.Fatalf("WriteAll of an empty object: %v", err)
			}
			data, meta, err = readObject(t, c, key)
			if err != nil || len(data) != 0 {
				t.Fatalf("read the empty object: %d bytes, %v; want 0, nil", len(data), err)
			}
			if v, _ := lookupMeta(meta); v != "def" {
				t.Errorf("metadata after a rewrite = %v, want %s=def", meta, ChecksumKey)
			}

			// A key is its own: a prefix of it, or a key beside it, is
			// another object.
			other := "tp-test/wombatkv/v1/block/b3=00fe"
			if err := c.WriteAll(ctx, other, []byte("other"), nil); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := c.NewReader(ctx, "tp-test/wombatkv/v1/block"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("NewReader of a key's prefix: err = %v, want fs.ErrNotExist", err)
			}

			if err := c.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, _, _, err := c.NewReader(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("NewReader after Delete: err = %v, want fs.ErrNotExist", err)
			}
			if err := c.Delete(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Delete of a missing object: err = %v, want fs.ErrNotExist", err)
			}
			if data, _, err := readObject(t, c, other); err != nil || string(data) != "other" {
				t.Errorf("the object beside the deleted one: %q, %v; want \"other\"", data, err)
			}

			canceled, cancel := context.WithCancel(ctx)
			cancel()
			if err := c.WriteAll(canceled, key, payload, nil); err == nil {
				t.Errorf("WriteAll under a canceled context succeeded, want an error")
			}
			if body, _, _, err := c.NewReader(canceled, other); err == nil {
				_, err = io.ReadAll(body)
				body.Close()
				if err == nil {
					t.Errorf("a read under a canceled context succeeded, want an error")
				}
			}
		})
	}
}

// TestColdConcurrentWrites rewrites one object from several goroutines
// while others read it: every read sees one write whole, with its own
// metadata or, in the file tiers' window between metadata and data, with
// the next write's (which the store's checksum refuses).
func TestColdConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	const key = "tp-test/k"
	for _, impl := range coldImpls()[:2] { // the store's own tiers
		t.Run(impl.name, func(t *testing.T) {
			c := impl.open(t)
			payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 10_000) }
			if err := c.WriteAll(ctx, key, payload(0), nil); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					for range 20 {
						if err := c.WriteAll(ctx, key, payload(i), nil); err != nil {
							t.Errorf("WriteAll: %v", err)
						}
					}
				})
				wg.Go(func() {
					for range 20 {
						data, _, err := readObject(t, c, key)
						if err != nil || len(data) != 10_000 || !bytes.Equal(data, payload(int(data[0]-'a'))) {
							t.Errorf("read %d bytes (%v), want one write's 10000 whole", len(data), err)
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func lookupOther(m map[string]string) string {
	for k, v := range m {
		if strings.EqualFold(k, "other") {
			return v
		}
	}
	return ""
}

// TestFileColdInterop writes through the store's file:// tier and reads
// through gocloud.dev's fileblob, and the other way round, on one
// directory: the layout is the same, metadata file included, byte for
// byte.
func TestFileColdInterop(t *testing.T) {
	ctx := context.Background()
	keys := []string{
		"tp-test/wombatkv/v1/block/b3=" + strings.Repeat("ab", 32),
		"ns../wombatkv/v1/block/b3=00", // fileblob escapes the '/' after ".."
		"a//b",                         // ... a second '/' in a row
		"ctl\x01key",                   // ... and control characters
	}
	dir := t.TempDir()
	mine := openCold(t, "file://"+dir)
	theirs := openBucket(t, "file://"+dir+"?no_tmp_dir=true")
	for i, key := range keys {
		payload := []byte(strings.Repeat(string(rune('a'+i)), 100+i))
		meta := map[string]string{ChecksumKey: sumOf(payload)}

		// Ours, then theirs reads it.
		if err := mine.WriteAll(ctx, key, payload, meta); err != nil {
			t.Fatalf("WriteAll(%q): %v", key, err)
		}
		got, err := theirs.ReadAll(ctx, key)
		if err != nil {
			t.Fatalf("fileblob ReadAll(%q) of the store's object: %v", key, err)
		}
		mustEqual(t, "fileblob reads the store's object", payload, got)
		a, err := theirs.Attributes(ctx, key)
		if err != nil {
			t.Fatalf("fileblob Attributes(%q): %v", key, err)
		}
		if diff := cmp.Diff(meta, a.Metadata); diff != "" {
			t.Errorf("fileblob reads the store's metadata of %q: mismatch (-want +got):\n%s", key, diff)
		}
		if a.ContentType != "application/octet-stream" || len(a.MD5) != 16 {
			t.Errorf("fileblob reads content type %q and MD5 %x, want application/octet-stream and the payload's MD5", a.ContentType, a.MD5)
		}
		ourAttrs := attrsFile(t, dir, key)

		// Theirs (as the store wrote through gocloud.dev), then ours.
		if err := theirs.WriteAll(ctx, key, payload, &blob.WriterOptions{ContentType: "application/octet-stream", Metadata: meta}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(ourAttrs), string(attrsFile(t, dir, key))); diff != "" {
			t.Errorf("metadata files of %q differ (-store +fileblob):\n%s", key, diff)
		}
		data, gotMeta, err := readObject(t, mine, key)
		if err != nil {
			t.Fatalf("the store's tier reads fileblob's %q: %v", key, err)
		}
		mustEqual(t, "the store reads fileblob's object", payload, data)
		if diff := cmp.Diff(meta, gotMeta); diff != "" {
			t.Errorf("the store reads fileblob's metadata: mismatch (-want +got):\n%s", diff)
		}
	}

	// Each deletes what the other wrote, metadata file included.
	if err := mine.Delete(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := theirs.WriteAll(ctx, keys[0], []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := theirs.Delete(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := mine.Delete(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	if ok, err := theirs.Exists(ctx, keys[1]); ok || err != nil {
		t.Errorf("fileblob Exists after the store's Delete = %v, %v; want false", ok, err)
	}
	if err := theirs.Delete(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := mine.NewReader(ctx, keys[2]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the store's tier after fileblob's Delete: err = %v, want fs.ErrNotExist", err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return err
	})
	want := []string{escapeKey(keys[3]), escapeKey(keys[3]) + attrsExt}
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("files left mismatch (-want +got):\n%s", diff)
	}
}

// TestFileColdNoMetadata: with metadata=skip neither writes a metadata
// file, and an object without one reads with no metadata.
func TestFileColdNoMetadata(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mine := openCold(t, "file://"+dir+"?metadata=skip")
	if err := mine.WriteAll(ctx, "ns/k", []byte("data"), map[string]string{ChecksumKey: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "ns", "k"+attrsExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("metadata file with metadata=skip: %v, want none", err)
	}
	_, meta, err := readObject(t, mine, "ns/k")
	if err != nil || meta != nil {
		t.Errorf("read: metadata %v, %v; want none", meta, err)
	}
	theirs, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	if a, err := theirs.Attributes(ctx, "ns/k"); err != nil || len(a.Metadata) != 0 {
		t.Errorf("fileblob reads metadata %v, %v; want none", a, err)
	}
}

// attrsFile returns the metadata file of key in the file:// tier at dir.
func attrsFile(t *testing.T, dir, key string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, escapeKey(key)) + attrsExt)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFileColdHardening: no key and no entry of the directory leads the
// file:// tier outside it, opens a fifo, or makes it read a huge metadata
// file.
func TestFileColdHardening(t *testing.T) {
	ctx := context.Background()
	dir, outside := t.TempDir(), t.TempDir()
	c := openCold(t, "file://"+dir)
	for _, key := range []string{"", "..", ".", "a/..", "x" + attrsExt, "bad\xffutf8"} {
		if err := c.WriteAll(ctx, key, []byte("x"), nil); err == nil {
			t.Errorf("WriteAll(%q) succeeded, want it refused", key)
		}
	}
	// Keys that look like a way out are, escaped as fileblob escapes
	// them, names inside the directory.
	for _, key := range []string{"../x", "../../etc/x", "a/../../x", "/x/../../y", "//x", "x/"} {
		if err := c.WriteAll(ctx, key, []byte(key), nil); err != nil {
			t.Errorf("WriteAll(%q): %v", key, err)
			continue
		}
		if data, _, err := readObject(t, c, key); err != nil || string(data) != key {
			t.Errorf("read back %q: %q, %v", key, data, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 2 { // dir and outside
		t.Errorf("the directory above the tier's holds %d entries, want 2", len(entries))
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "ns")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readObject(t, c, "link"); err == nil {
		t.Errorf("read through a symlink to outside the directory succeeded, want an error")
	}
	if err := c.WriteAll(ctx, "ns/k", []byte("x"), nil); err == nil {
		t.Errorf("write through a symlinked directory to outside succeeded, want an error")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("outside the directory holds %d entries, want only the first", len(entries))
	}

	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, _, err := readObject(t, c, "fifo"); err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Errorf("read of a fifo: err = %v, want it refused as a fifo", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "big"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"+attrsExt), bytes.Repeat([]byte(" "), maxAttrsBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readObject(t, c, "big"); err == nil {
		t.Errorf("read with a metadata file past %d bytes succeeded, want an error", maxAttrsBytes)
	}
}

// TestOpenColdURLs: the file:// tier opens what fileblob's URLs name.
func TestOpenColdURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := OpenCold(ctx, "file://"+dir+"/new"); err == nil {
		t.Errorf("OpenCold of a missing directory without create_dir succeeded, want an error")
	}
	c := openCold(t, "file://"+dir+"/new/sub?create_dir=true&dir_file_mode=448&no_tmp_dir=true")
	if err := c.WriteAll(ctx, "ns/k", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "new", "sub", "ns")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory made for a key: %v, %v; want mode 0700 (dir_file_mode=448)", fi, err)
	}
	t.Chdir(dir)
	rel := openCold(t, "file://./new/sub")
	if data, _, err := readObject(t, rel, "ns/k"); err != nil || string(data) != "x" {
		t.Errorf("read through a relative file:// URL: %q, %v; want \"x\"", data, err)
	}
	if _, err := OpenCold(ctx, "s3://bucket"); !errors.Is(err, ErrUnsupportedScheme) || !strings.Contains(err.Error(), "store/gocloud") {
		t.Errorf("OpenCold(s3://) err = %v, want ErrUnsupportedScheme naming store/gocloud", err)
	}
}

// FuzzFileColdKey: whatever the key, the store's file:// tier writes
// inside its directory or refuses, and what it writes fileblob reads back
// under the same key.
func FuzzFileColdKey(f *testing.F) {
	for _, k := range []string{"ns/k", "../x", "a//b", "x/", "/", "..", "a/..", "ctl\x01", "ns../k", `a\b`, "é/ü", "x.attrs", "__0x2f__"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		parent := t.TempDir()
		dir := filepath.Join(parent, "cold")
		c := openCold(t, (&url.URL{Scheme: "file", Path: dir, RawQuery: "create_dir=true"}).String())
		if err := c.WriteAll(ctx, key, []byte(key), nil); err != nil {
			return // refused, or a name the file system refuses
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("WriteAll(%q) wrote beside the tier's directory: %d entries there", key, len(entries))
		}
		theirs, err := fileblob.OpenBucket(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer theirs.Close()
		got, err := theirs.ReadAll(ctx, key)
		if err != nil || string(got) != key {
			t.Fatalf("fileblob ReadAll(%q) of the store's object = %q, %v", key, got, err)
		}
	})
}
