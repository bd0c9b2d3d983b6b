package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// TestNameSafety feeds every entry point names that could escape the flat
// root or the namespace's part of the bucket, and checks that each is
// refused with a clear error before any filesystem or network call: the
// S3 server sees no request and nothing appears on disk, in the root or
// beside it.
func TestNameSafety(t *testing.T) {
	ctx := context.Background()
	good := newBlock(t, 10)
	badNS := []struct{ name, ns string }{
		{"empty", ""},
		{"dot", "."},
		{"dot-dot", ".."},
		{"absolute path", "/etc"},
		{"climbs out", "../escape"},
		{"separator", "a/b"},
		{"backslash", `a\b`},
		{"NUL", "a\x00b"},
		{"space", "a b"},
		{"too long", strings.Repeat("n", block.MaxNamespaceLen+1)},
	}
	badKeys := []struct{ name, key string }{
		{"empty", ""},
		{"path traversal", "../../../../etc/passwd"},
		{"absolute path", "/wombatkv/v1/block/b3=" + good.hash.String()},
		{"bare hex, no prefix", good.hash.String()},
		{"short", block.KeyPrefix + good.hash.String()[:63]},
		{"long", block.KeyPrefix + good.hash.String() + "0"},
		{"uppercase hex", block.KeyPrefix + strings.ToUpper(good.hash.String())},
		{"traversal after the prefix", block.KeyPrefix + "../../" + good.hash.String()[6:]},
		{"NUL", block.KeyPrefix + good.hash.String()[:63] + "\x00"},
		{"separator in the digits", block.KeyPrefix + good.hash.String()[:32] + "/" + good.hash.String()[33:]},
	}

	parent := t.TempDir()
	flat := filepath.Join(parent, "flat")
	f := startS3(t)
	s := open(t, Config{FlatDir: flat, ColdURL: f.url()})
	before := listTree(t, parent)
	reqs := f.reqs.Load()

	check := func(t *testing.T, err error, wantIs error) {
		t.Helper()
		if !errors.Is(err, wantIs) {
			t.Errorf("err = %v, want one wrapping %v", err, wantIs)
		}
		if got := pipeline.FailureReason(err); got != ReasonBadName {
			t.Errorf("reason = %q, want %q", got, ReasonBadName)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("error %q does not start with \"store: \"", err)
		}
	}
	for _, tc := range badNS {
		t.Run("namespace/"+tc.name, func(t *testing.T) {
			_, found, err := s.Materialize(ctx, tc.ns, good.hash, good.meta())
			check(t, err, block.ErrBadNamespace)
			if found {
				t.Errorf("Materialize found = true")
			}
			check(t, s.Put(ctx, tc.ns, good.key(), good.payload), block.ErrBadNamespace)
			data, err := s.Get(ctx, tc.ns, good.key())
			check(t, err, block.ErrBadNamespace)
			if data != nil {
				t.Errorf("Get returned %d bytes", len(data))
			}
			if s.ContainsFlat(ctx, tc.ns, good.hash) {
				t.Errorf("ContainsFlat = true")
			}
			if s.InFlight(tc.ns, good.hash) {
				t.Errorf("InFlight = true")
			}
		})
	}
	for _, tc := range badKeys {
		t.Run("key/"+tc.name, func(t *testing.T) {
			check(t, s.Put(ctx, testNS, tc.key, good.payload), block.ErrBadKey)
			data, err := s.Get(ctx, testNS, tc.key)
			check(t, err, block.ErrBadKey)
			if data != nil {
				t.Errorf("Get returned %d bytes", len(data))
			}
		})
	}
	if got := f.reqs.Load() - reqs; got != 0 {
		t.Errorf("the S3 server saw %d requests for bad names, want 0", got)
	}
	if diff := cmp.Diff(before, listTree(t, parent)); diff != "" {
		t.Errorf("bad names changed the disk (-before +after):\n%s", diff)
	}
}

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// FuzzNames checks that whatever namespace and key the store accepts, the
// flat path stays three levels below the root, inside it, and the cold
// object name is exactly "<namespace>/<key>" with no path tricks; and that
// whatever it refuses is refused as a bad name.
func FuzzNames(f *testing.F) {
	h := block.Hash{0xab, 0xcd}
	for _, seed := range [][2]string{
		{"tp-default", block.Key(h)},
		{"..", block.Key(h)},
		{".", block.Key(h)},
		{"a/b", block.Key(h)},
		{"/abs", block.Key(h)},
		{"ns\x00", block.Key(h)},
		{"ns", "../" + block.Key(h)},
		{"ns", block.KeyPrefix + "../../../etc/passwd/0000000000000000000000000000000000000000"},
		{"...", block.Key(h)},
		{"-", block.Key(h)},
	} {
		f.Add(seed[0], seed[1])
	}
	root := filepath.Join(string(filepath.Separator), "flat", "root")
	f.Fuzz(func(t *testing.T, ns, key string) {
		n, err := parseName(ns, key)
		if err != nil {
			if pipeline.FailureReason(err) != ReasonBadName {
				t.Fatalf("parseName(%q, %q) refused with reason %q, want %q", ns, key, pipeline.FailureReason(err), ReasonBadName)
			}
			if block.ValidateNamespace(ns) == nil {
				if _, kerr := block.ParseKey(key); kerr == nil {
					t.Fatalf("parseName(%q, %q) refused a valid name: %v", ns, key, err)
				}
			}
			return
		}
		rel := n.rel()
		if !filepath.IsLocal(rel) {
			t.Fatalf("accepted (%q, %q): flat path %q is not local", ns, key, rel)
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 || parts[0] != ns || parts[1] != parts[2][:2] || !isLowerHex(parts[2], 64) {
			t.Fatalf("accepted (%q, %q): flat path %q, want <ns>/<2 hex>/<64 hex>", ns, key, rel)
		}
		full := filepath.Join(root, rel)
		if r, err := filepath.Rel(root, full); err != nil || r != rel {
			t.Fatalf("accepted (%q, %q): %q resolves outside %q", ns, key, full, root)
		}
		if relOfID(n.id()) != rel {
			t.Fatalf("accepted (%q, %q): index key %q maps to %q, want %q", ns, key, n.id(), relOfID(n.id()), rel)
		}
		obj := n.object()
		if obj != ns+"/"+key {
			t.Fatalf("accepted (%q, %q): object %q, want %q", ns, key, obj, ns+"/"+key)
		}
		for _, seg := range strings.Split(obj, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\x00\\") {
				t.Fatalf("accepted (%q, %q): object %q has segment %q", ns, key, obj, seg)
			}
		}
		if h2, _ := block.ParseKey(key); func() name { m, _ := nameOf(ns, h2); return m }() != n {
			t.Fatalf("accepted (%q, %q): nameOf and parseName disagree", ns, key)
		}
	})
}
