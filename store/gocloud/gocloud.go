// Package gocloud adapts gocloud.dev/blob buckets to the store's cold tier
// ([github.com/wombatkv/prefetch/store.Cold]): S3 and S3-compatible
// servers above all, or any bucket whose driver the program links. It
// does not import the store: a Cold takes and returns standard types
// alone.
//
// The store opens file:// and mem:// cold tiers itself; a node whose cold
// tier is elsewhere opens it here and hands it to the store, so that only
// such a node builds gocloud.dev, its S3 driver and the AWS SDK:
//
//	cold, err := gocloud.Open(ctx, "s3://bucket?region=us-east-1")
//	if err != nil { ... }
//	defer cold.Close()
//	st, err := store.Open(ctx, store.Config{FlatDir: "/var/lib/node/flat", Cold: cold})
//
// A [*Bucket] asks for an object's body and metadata in one GET where the
// driver carries the metadata with it (S3), and in two calls elsewhere.
package gocloud

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/memblob"  // mem:// buckets
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets
	"gocloud.dev/gcerrors"
)

// Bucket is a gocloud.dev/blob bucket as a store.Cold, for
// store.Config.Cold. It is safe for concurrent use.
type Bucket struct {
	b *blob.Bucket
}

// New adapts b. Closing the Bucket closes b.
func New(b *blob.Bucket) *Bucket { return &Bucket{b: b} }

// Open opens the bucket at url through gocloud.dev/blob's URL openers:
//   - "s3://bucket?region=us-east-1" for AWS S3, and for S3-compatible
//     servers "s3://bucket?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1"
//     (see gocloud.dev/aws.V2ConfigFromURLParams for every parameter;
//     credentials come from the usual AWS environment and files, or
//     "anonymous=true" for none);
//   - "file:///abs/path" and "mem://", through gocloud.dev's own drivers
//     (the store's built-in tiers need no gocloud.dev for them);
//   - any other scheme whose gocloud.dev driver the program imports
//     (gs://, azblob://).
//
// The caller closes the Bucket.
func Open(ctx context.Context, url string) (*Bucket, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("gocloud: open cold tier %q: %w", url, err)
	}
	return New(b), nil
}

// NewReader opens object key: its body, its size and its metadata. A
// missing object is an error wrapping fs.ErrNotExist; ctx bounds the body's
// reads too.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, int64, map[string]string, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, nil, notFound(err)
	}
	body := ctxBody{ctx, r}
	var out s3.GetObjectOutput
	if r.As(&out) { // an S3 GET carries the metadata
		return body, r.Size(), out.Metadata, nil
	}
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		r.Close()
		return nil, 0, nil, notFound(err)
	}
	return body, r.Size(), a.Metadata, nil
}

// ctxBody ends an object's body reads at ctx's end, for the drivers whose
// reads ignore it (fileblob, memblob).
type ctxBody struct {
	ctx context.Context
	r   *blob.Reader
}

func (b ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b ctxBody) Close() error { return b.r.Close() }

// WriteAll stores data as object key with metadata meta, as
// application/octet-stream.
func (b *Bucket) WriteAll(ctx context.Context, key string, data []byte, meta map[string]string) error {
	return b.b.WriteAll(ctx, key, data, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		Metadata:    meta,
	})
}

// Delete removes object key. A missing object is an error wrapping
// fs.ErrNotExist (s3blob asks before it deletes, since S3 does not tell).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return notFound(b.b.Delete(ctx, key))
}

// Close closes the bucket.
func (b *Bucket) Close() error { return b.b.Close() }

// notFound makes err, when gocloud.dev says NotFound, an error wrapping
// fs.ErrNotExist too.
func notFound(err error) error {
	if err != nil && gcerrors.Code(err) == gcerrors.NotFound {
		return missing{err}
	}
	return err
}

// missing is a gocloud.dev NotFound error that is also fs.ErrNotExist.
type missing struct{ err error }

func (m missing) Error() string   { return m.err.Error() }
func (m missing) Unwrap() []error { return []error{m.err, fs.ErrNotExist} }
