package store

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"maps"
	"sync"
)

// memCold is the mem:// cold tier: objects in a map, for tests.
type memCold struct {
	mu   sync.Mutex
	objs map[string]memObject
}

// memObject is one object of a memCold; neither field changes once stored.
type memObject struct {
	data []byte
	meta map[string]string
}

func newMemCold() *memCold { return &memCold{objs: make(map[string]memObject)} }

// NewReader opens object key.
func (c *memCold) NewReader(ctx context.Context, key string) (io.ReadCloser, int64, map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	c.mu.Lock()
	o, ok := c.objs[key]
	c.mu.Unlock()
	if !ok {
		return nil, 0, nil, &fs.PathError{Op: "open", Path: key, Err: fs.ErrNotExist}
	}
	return ctxBody{ctx, io.NopCloser(bytes.NewReader(o.data))}, int64(len(o.data)), maps.Clone(o.meta), nil
}

// WriteAll stores a copy of data and meta as object key.
func (c *memCold) WriteAll(ctx context.Context, key string, data []byte, meta map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := memObject{data: bytes.Clone(data), meta: lowerKeys(meta)}
	c.mu.Lock()
	c.objs[key] = o
	c.mu.Unlock()
	return nil
}

// Delete removes object key.
func (c *memCold) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.objs[key]; !ok {
		return &fs.PathError{Op: "remove", Path: key, Err: fs.ErrNotExist}
	}
	delete(c.objs, key)
	return nil
}

// Close does nothing: the objects go with the last reference.
func (c *memCold) Close() error { return nil }
