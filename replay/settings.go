package replay

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Defaults of [Settings]: the reference model of docs/replay-model.md.
const (
	DefaultBlockTokens   = 512
	DefaultBytesPerToken = 131072 // 32 layers x 8 KV heads x 128 dims x 2 (K,V) x 2 bytes
	DefaultGetLatency    = 30 * time.Millisecond
	DefaultGetBandwidth  = 1e9 // bytes per second, per GET
	// The prefetcher's defaults are those of the packages that own them.
	DefaultTopK          = pipeline.DefaultTopK
	DefaultInterval      = pipeline.DefaultInterval
	DefaultLimit         = fetch.DefaultLimit               // v3: GETs in flight per cycle
	DefaultGetsPerSecond = presets.DefaultHintGetsPerSecond // hint budget: the oracle's rate, K per interval
	DefaultBurst         = presets.DefaultHintBurst
	DefaultHalfLife      = score.DefaultHalfLife // RFC 0008's recency half-life
)

// DefaultWeights are RFC 0008's weights: recency, chain head, model.
func DefaultWeights() [3]float64 {
	return [3]float64{score.DefaultRecencyWeight, score.DefaultChainWeight, score.DefaultModelWeight}
}

// Settings are the model's constants and the prefetcher's budget. Zero
// fields mean the defaults, which reproduce the reference figures.
type Settings struct {
	// BlockTokens is the tokens per block (512); a request's last block
	// holds the rest of its input, clamped to 1..BlockTokens.
	BlockTokens int
	// BytesPerToken is the KV payload per token (131072 B).
	BytesPerToken int64
	// GetLatency and GetBandwidth price one GET: latency + bytes /
	// bandwidth, truncated to whole nanoseconds (30 ms, 1e9 B/s).
	GetLatency   time.Duration
	GetBandwidth float64
	// TopK is the candidates a cycle selects (8).
	TopK int
	// Interval is the time between grid cycles (500 ms).
	Interval time.Duration
	// Limit is v3's GETs in flight per cycle (8).
	Limit int
	// Lead is how long before it is served a request becomes visible as a
	// hint (default 0, which keeps the reference figures).
	Lead time.Duration
	// Admission is where a prefetched block enters flat, for policies
	// that do not set their own (default MRU).
	Admission Admission
	// GetsPerSecond and Burst are the token bucket of budgeted policies:
	// its rate and its depth (16 GETs/s, the grid's own rate, TopK per
	// Interval, from a bucket 16 deep: the hints preset's defaults).
	GetsPerSecond float64
	Burst         int
	// MaxInFlight caps the budgeted policies' GETs in flight at once,
	// every cycle's counted (default Limit: the oracle's own 8).
	MaxInFlight int
	// Lease is what the hint policy asks of flat for a hinted block it
	// already holds (snapshot.LeaseTouch, LeasePin or LeaseNone; empty
	// means the preset's default, touch).
	Lease snapshot.LeaseMode
	// LinkBandwidth, in bytes per second, puts every GET, the requests'
	// cold loads and the prefetches, on one shared link, the loads served
	// first (see link.go); each GET still takes GetLatency and moves at
	// most GetBandwidth. 0, the default, is no shared link: every GET its
	// own GetBandwidth, the reference model.
	LinkBandwidth float64
	// Weights (recency, chain head, model) and HalfLife are the RFC 0008
	// scorer's, for the rfc0008 policies (default 1.0, 0.3, 0.2 and 600 s,
	// the seed's; all three weights zero means the default). HalfLife is
	// also recency-v3's.
	Weights  [3]float64
	HalfLife time.Duration
	// CountHalfLife, when above 0, has the lab's index keep a decayed
	// access count per block with that half-life
	// (index.Options.CountHalfLife), for a policy that ranks by it
	// (score.Frequency, the "frequency" scorer of a policy file). 0, the
	// default, keeps none, as a node's index keeps none unless asked.
	CountHalfLife time.Duration
}

// WithDefaults returns s with its zero fields set to the defaults.
func (s Settings) WithDefaults() Settings {
	if s.BlockTokens == 0 {
		s.BlockTokens = DefaultBlockTokens
	}
	if s.BytesPerToken == 0 {
		s.BytesPerToken = DefaultBytesPerToken
	}
	if s.GetLatency == 0 {
		s.GetLatency = DefaultGetLatency
	}
	if s.GetBandwidth == 0 {
		s.GetBandwidth = DefaultGetBandwidth
	}
	if s.TopK == 0 {
		s.TopK = DefaultTopK
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Limit == 0 {
		s.Limit = DefaultLimit
	}
	if s.Admission.Mode == "" {
		s.Admission = Admission{Mode: AdmitMRU}
	}
	if s.GetsPerSecond == 0 {
		s.GetsPerSecond = DefaultGetsPerSecond
	}
	if s.Burst == 0 {
		s.Burst = DefaultBurst
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = s.Limit
	}
	if s.Weights == [3]float64{} {
		s.Weights = DefaultWeights()
	}
	if s.HalfLife == 0 {
		s.HalfLife = DefaultHalfLife
	}
	return s
}

// Validate reports every problem with s at once. Call it on
// s.WithDefaults().
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("replay: "+format, args...)) }
	if s.BlockTokens <= 0 {
		bad("BlockTokens = %d, want >= 1 (0 means the default, %d)", s.BlockTokens, DefaultBlockTokens)
	}
	if s.BytesPerToken <= 0 || s.BytesPerToken > 1<<34 {
		bad("BytesPerToken = %d, want 1..2^34 (0 means the default, %d)", s.BytesPerToken, DefaultBytesPerToken)
	}
	if s.GetLatency < 0 {
		bad("GetLatency = %v, want >= 0 (0 means the default, %v)", s.GetLatency, DefaultGetLatency)
	}
	if !(s.GetBandwidth > 0) || math.IsInf(s.GetBandwidth, 0) {
		bad("GetBandwidth = %v, want a finite number > 0 (0 means the default, %g)", s.GetBandwidth, float64(DefaultGetBandwidth))
	}
	if s.TopK <= 0 {
		bad("TopK = %d, want >= 1 (0 means the default, %d)", s.TopK, DefaultTopK)
	}
	if s.Interval <= 0 {
		bad("Interval = %v, want > 0 (0 means the default, %v)", s.Interval, DefaultInterval)
	}
	if s.Limit <= 0 {
		bad("Limit = %d, want >= 1 (0 means the default, %d)", s.Limit, DefaultLimit)
	}
	if s.Lead < 0 {
		bad("Lead = %v, want >= 0", s.Lead)
	}
	if err := s.Admission.validate(); err != nil {
		errs = append(errs, err)
	}
	if !(s.GetsPerSecond > 0) || math.IsInf(s.GetsPerSecond, 0) {
		bad("GetsPerSecond = %v, want a finite number > 0 (0 means the default, %d)", s.GetsPerSecond, DefaultGetsPerSecond)
	}
	if s.Burst <= 0 {
		bad("Burst = %d, want >= 1 (0 means the default, %d)", s.Burst, DefaultBurst)
	}
	if s.MaxInFlight <= 0 {
		bad("MaxInFlight = %d, want >= 1 (0 means the default, Limit)", s.MaxInFlight)
	}
	if s.Lease != "" {
		if err := s.Lease.Validate(); err != nil {
			bad("Lease: %v", err)
		}
	}
	if !(s.LinkBandwidth >= 0) || math.IsInf(s.LinkBandwidth, 0) {
		bad("LinkBandwidth = %v, want a finite number of bytes per second > 0 (0 means no shared link)", s.LinkBandwidth)
	}
	for i, w := range s.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			bad("Weights[%d] = %v, want a finite number", i, w)
		}
	}
	if s.HalfLife <= 0 {
		bad("HalfLife = %v, want > 0 (0 means the default, %v)", s.HalfLife, DefaultHalfLife)
	}
	if s.CountHalfLife < 0 {
		bad("CountHalfLife = %v, want >= 0 (0 means the index keeps no access counts)", s.CountHalfLife)
	}
	return errors.Join(errs...)
}

// GetCost returns the time one GET of n bytes takes: GetLatency +
// n / GetBandwidth seconds, truncated to whole nanoseconds, or the
// largest Duration if that is longer (such a GET never lands).
func (s Settings) GetCost(n int64) time.Duration {
	return time.Duration(addSat(int64(s.GetLatency), transferNs(uint64(n), s.GetBandwidth)))
}

// addSat returns a + b for b >= 0, or the largest int64 if that
// overflows: an instant past every other.
func addSat(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

// transferNs returns floor(n * 1e9 / bw), exactly when bw is a whole
// number, or the largest int64 if that is larger.
func transferNs(n uint64, bw float64) int64 {
	if bw == math.Trunc(bw) && bw >= 1 && bw < 1<<63 {
		hi, lo := bits.Mul64(n, 1e9)
		d := uint64(bw)
		if hi < d {
			q, _ := bits.Div64(hi, lo, d)
			if q < 1<<63 {
				return int64(q)
			}
		}
	}
	if ns := math.Floor(float64(n) * 1e9 / bw); ns < 1<<63 {
		return int64(ns)
	}
	return math.MaxInt64
}

// Admission modes: where a prefetched block enters the flat LRU. They are
// the store's (store.Config.Admission), parsed and simulated by the same
// code, so the lab evicts what the store would.
const (
	// AdmitMRU inserts at the most recently used end, as a demand load.
	AdmitMRU = slru.ModeMRU
	// AdmitLRU inserts at the least recently used end: the next eviction
	// takes it unless a request reads it first.
	AdmitLRU = slru.ModeLRU
	// AdmitProbation inserts into a probation segment of at most
	// floor(Fraction x capacity) bytes, evicted before the main LRU
	// (oldest first); a read promotes the block to the main MRU end. A
	// block larger than the segment is wasted and evicts nothing (the
	// store does not fetch it).
	AdmitProbation = slru.ModeProbation
	// AdmitGuess inserts into a guess segment of at most
	// floor(Fraction x capacity) bytes: a block there is evicted after
	// the main LRU until it is TTL old, and before every other block from
	// then on; a read promotes it to the main MRU end.
	AdmitGuess = slru.ModeGuess
)

// Admission is where a prefetched block enters flat: a mode, and for
// probation the segment's share of the capacity.
type Admission struct {
	// Mode is AdmitMRU, AdmitLRU, AdmitProbation or AdmitGuess.
	Mode string
	// Fraction is the probation (or guess) segment's share of the
	// capacity, in (0, 1] (1: prefetched blocks may take all of flat, but
	// go before any block a request read); AdmitProbation and AdmitGuess
	// only.
	Fraction float64
	// TTL is how long a guess is protected (AdmitGuess only).
	TTL time.Duration
}

// ParseAdmission parses "mru", "lru", "probation:F" with 0 < F <= 1 or
// "guess:F:TTL", as the store parses Config.Admission.
func ParseAdmission(s string) (Admission, error) {
	a, err := slru.ParseAdmission(s)
	if err != nil {
		return Admission{}, fmt.Errorf("replay: admission %q: %w", s, err)
	}
	return Admission(a), nil
}

func (a Admission) validate() error {
	if err := slru.Admission(a).Validate(); err != nil {
		return fmt.Errorf("replay: admission %q: %w", a.String(), err)
	}
	return nil
}

// String returns the admission as ParseAdmission reads it.
func (a Admission) String() string { return slru.Admission(a).String() }

// Scenario is one flat-tier setting: capacity as a fraction of the trace's
// unique bytes, and whether the node restarts at the time midpoint.
type Scenario struct {
	// Fraction is the flat capacity as a share of the unique bytes.
	Fraction float64
	// Restart empties flat and cancels the GETs in flight at the time
	// midpoint, (first + last request time) / 2.
	Restart bool
}

// Name returns the scenario as the reference names it: "10%",
// "20%+restart".
func (sc Scenario) Name() string {
	n := strconv.FormatFloat(math.Round(sc.Fraction*1e8)/1e6, 'f', -1, 64) + "%"
	if sc.Restart {
		n += "+restart"
	}
	return n
}

// Capacity returns floor(Fraction x unique bytes).
func (sc Scenario) Capacity(uniqueBytes int64) int64 {
	return int64(math.Floor(sc.Fraction * float64(uniqueBytes)))
}

// DefaultScenarios are the reference's: flat at 5, 10, 20 and 40% of the
// unique bytes, and 20% with a restart.
func DefaultScenarios() []Scenario {
	return []Scenario{{Fraction: 0.05}, {Fraction: 0.1}, {Fraction: 0.2}, {Fraction: 0.4}, {Fraction: 0.2, Restart: true}}
}
