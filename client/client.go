// Package client is a small Go client of `kvprefetch serve` (package
// server): put, get and head blocks, send hints, read the status. It
// imports nothing of the module but block and the wire format it shares
// with the server (server/wire), so an engine's Go sidecar builds no store
// and no pipeline.
//
//	c, err := client.New("http://127.0.0.1:8420", client.Options{})
//	err = c.Put(ctx, "tp-default", h, payload, block.Meta{Parent: p, Seq: 3})
//	b, err := c.Get(ctx, "tp-default", h)  // b.Payload, b.Meta, b.Tier
//	res, err := c.Hint(ctx, client.HintGroup{Namespace: "tp-default", Blocks: hs, Lead: time.Second})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server/wire"
)

// Options configure [New]. Zero fields mean the defaults.
type Options struct {
	// Token is the server's bearer token, sent on every request when set.
	Token string
	// HTTPClient sends the requests (nil: http.DefaultClient).
	HTTPClient *http.Client
}

// Client talks to one server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of the server at baseURL ("http://127.0.0.1:8420").
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http://host:port or https://host:port", baseURL)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: o.Token, hc: hc}, nil
}

// ErrNotFound is matched (errors.Is) by the error of a read of a block
// neither tier holds.
var ErrNotFound = errors.New("client: block not found")

// Error is an error answer of the server: its HTTP status and its JSON
// body's stable code, message and field.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	Field      string
}

// Error returns "client: <status>: <code>: <message>".
func (e *Error) Error() string {
	s := fmt.Sprintf("client: %d: %s: %s", e.StatusCode, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Is reports whether e is a not-found answer, for errors.Is(err,
// ErrNotFound).
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// Block is a block read back: its payload, the metadata the server's
// index holds (PayloadBytes is the payload's size; LastAccessNs is not
// sent) and the tier it came from ("flat" or "cold").
type Block struct {
	Payload []byte
	Meta    block.Meta
	Tier    string
}

func (c *Client) blockURL(ns string, h block.Hash) string {
	return c.base + "/v1/blocks/" + url.PathEscape(ns) + "/" + block.Key(h)
}

// Put stores payload as block h of namespace ns with metadata m (its
// Parent, Seq, Model, Layout and Flags; the size is the payload's).
func (c *Client) Put(ctx context.Context, ns string, h block.Hash, payload []byte, m block.Meta) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.blockURL(ns, h), bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	wire.SetMeta(req.Header, m)
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Get reads block h of namespace ns: from flat, else from cold. A block
// neither holds is an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, ns string, h block.Hash) (*Block, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.blockURL(ns, h), nil)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: GET %s: %w", block.Key(h), err)
	}
	if resp.ContentLength >= 0 && int64(len(payload)) != resp.ContentLength {
		return nil, fmt.Errorf("client: GET %s: %d bytes of the %d announced", block.Key(h), len(payload), resp.ContentLength)
	}
	m, err := metaOf(resp.Header)
	if err != nil {
		return nil, err
	}
	m.PayloadBytes = uint64(len(payload))
	return &Block{Payload: payload, Meta: m, Tier: resp.Header.Get(wire.HeaderTier)}, nil
}

// Head is Get without the payload: the block's metadata (PayloadBytes is
// its size) and tier.
func (c *Client) Head(ctx context.Context, ns string, h block.Hash) (*Block, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.blockURL(ns, h), nil)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	m, err := metaOf(resp.Header)
	if err != nil {
		return nil, err
	}
	m.PayloadBytes = uint64(max(resp.ContentLength, 0))
	return &Block{Meta: m, Tier: resp.Header.Get(wire.HeaderTier)}, nil
}

// metaOf reads the metadata headers of an answer (wire.ParseMeta).
func metaOf(hdr http.Header) (block.Meta, error) {
	m, err := wire.ParseMeta(hdr)
	if err != nil {
		return m, fmt.Errorf("client: answer headers: %w", err)
	}
	return m, nil
}

// HintGroup is blocks of one namespace a request will read at about one
// time: at Due, or Lead from now (with neither, the server's default
// lead, 1 s). Groups of higher Priority in one call are added first.
type HintGroup struct {
	Namespace string
	Blocks    []block.Hash
	Due       time.Time
	Lead      time.Duration
	Priority  int
}

// HintResult is the server's answer to hints: how many it accepted and
// how many were dropped, by reason.
type HintResult = wire.HintResult

// Hint sends hint groups in one request (POST /v1/hints). The server
// answers at once; its hint pipeline fetches the blocks into flat.
func (c *Client) Hint(ctx context.Context, groups ...HintGroup) (HintResult, error) {
	batch := struct {
		Hints []wire.HintGroup `json:"hints"`
	}{Hints: make([]wire.HintGroup, 0, len(groups))}
	for _, g := range groups {
		w := wire.HintGroup{Namespace: g.Namespace, Blocks: make([]string, len(g.Blocks)), Priority: g.Priority}
		for i, h := range g.Blocks {
			w.Blocks[i] = h.String()
		}
		switch {
		case !g.Due.IsZero():
			w.Due = g.Due.Format(time.RFC3339Nano)
		case g.Lead != 0:
			ms := g.Lead.Milliseconds()
			w.LeadMs = &ms
		}
		batch.Hints = append(batch.Hints, w)
	}
	return c.postHints(ctx, batch)
}

// HintDynamo sends a hint in Dynamo's router_hint shape: 64-bit block
// hashes (each naming the block whose key's hex digits are %064x of it),
// due lead from now.
func (c *Client) HintDynamo(ctx context.Context, ns string, blockHashes []uint64, lead time.Duration) (HintResult, error) {
	ms := lead.Milliseconds()
	body := map[string]any{
		"router_hint": map[string]any{"block_hashes": blockHashes},
		"lead_ms":     ms,
	}
	if ns != "" {
		body["namespace"] = ns
	}
	return c.postHints(ctx, body)
}

func (c *Client) postHints(ctx context.Context, body any) (HintResult, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return HintResult{}, fmt.Errorf("client: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/hints", bytes.NewReader(data))
	if err != nil {
		return HintResult{}, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var res HintResult
	return res, c.doJSON(req, &res)
}

// Status is what the client reads of GET /v1/status.
type Status struct {
	Ready    bool `json:"ready"`
	Policies []struct {
		Name   string `json:"name"`
		About  string `json:"about"`
		Cycles uint64 `json:"cycles"`
	} `json:"policies"`
	Flat  wire.FlatStatus            `json:"flat"`
	Index wire.IndexStatus           `json:"index"`
	Hints map[string]wire.HintStatus `json:"hints"`
}

// Status reads the server's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/status", nil)
	if err != nil {
		return Status{}, fmt.Errorf("client: %w", err)
	}
	var st Status
	return st, c.doJSON(req, &st)
}

// Ready returns nil when the server is ready (GET /readyz answers 200).
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// do sends req with the token and turns an error answer into an *Error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &Error{StatusCode: resp.StatusCode}
	var body struct{ Code, Message, Field string }
	if data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)); json.Unmarshal(data, &body) == nil && body.Code != "" {
		e.Code, e.Message, e.Field = body.Code, body.Message, body.Field
	} else {
		e.Code, e.Message = "http", http.StatusText(resp.StatusCode)
		if req.Method == http.MethodHead && resp.StatusCode == http.StatusNotFound {
			e.Code = "not_found"
		}
	}
	return nil, e
}

// doJSON sends req and decodes its JSON answer into v.
func (c *Client) doJSON(req *http.Request, v any) error {
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("client: %s %s: decoding the answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}
