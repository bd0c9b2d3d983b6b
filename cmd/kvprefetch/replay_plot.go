package main

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/samber/lo"
	"github.com/wombatkv/prefetch/replay"
)

// plotAxis is what a plot's x axis shows.
type plotAxis int

const (
	// byCapacity: one panel per lead, share against flat capacity, the
	// restart scenarios beside the plain ones.
	byCapacity plotAxis = iota
	// byLead: one panel per scenario (restart included), share against
	// lead time.
	byLead
)

// axisOf plots against lead time when the results hold several leads,
// against capacity otherwise.
func axisOf(results []replay.Result) plotAxis {
	for _, r := range results {
		if r.Settings.LeadMs != results[0].Settings.LeadMs {
			return byLead
		}
	}
	return byCapacity
}

// Sizes of a figure, in points.
const (
	panelW, panelH = 300, 230
	margin         = 10
)

// figure is what a plot shows, gathered from the results.
type figure struct {
	axis     plotAxis
	traces   []string
	groups   []string // one panel per group: scenario names (byLead) or leads (byCapacity)
	cats     []string // the x axis's categories, in order
	restarts int      // byCapacity: the first restart category (len(cats) if none)
	policies []string // one line each; none and oracle-v3 are the reference lines
	labels   []string // the policies' legend labels
	y        map[point]float64
	lo, hi   float64 // y range, shared by every panel
	rate     string  // the GET rate cap of every line, when they share one
	link     float64 // the shared link's bytes/s of every result, when they share one; 0: none
}

// point is one y value: a policy's share in one panel at one category.
type point struct {
	trace, group string
	prefix       bool
	policy, cat  string
}

// writePlot draws results as a PNG to w: one panel per trace, accounting
// (per block, prefix) and scenario (against lead time, with several
// leads) or lead (against flat capacity), each policy a line, the legend
// above the panels.
func writePlot(w io.Writer, results []replay.Result) error {
	f, err := newFigure(results)
	if err != nil {
		return err
	}
	rows, cols := len(f.traces), 2
	if len(f.groups) > 1 {
		rows, cols = 2*len(f.traces), len(f.groups)
	}
	panels := make([][]*plot.Plot, rows)
	for i := range panels {
		panels[i] = make([]*plot.Plot, cols)
	}
	for ti, tr := range f.traces {
		for gi, g := range f.groups {
			for ai, prefix := range []bool{false, true} {
				r, c := ti, ai
				if len(f.groups) > 1 {
					r, c = 2*ti+ai, gi
				}
				p, err := f.panel(tr, g, prefix)
				if err != nil {
					return err
				}
				panels[r][c] = p
			}
		}
	}
	width := vg.Points(float64(cols*panelW + 2*margin))
	head := f.header(width - 2*margin)
	headerH := head.height()
	height := vg.Points(float64(rows*panelH+2*margin)) + headerH
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	body := draw.Crop(dc, margin, -margin, margin, -(headerH + margin))
	head.draw(draw.Crop(dc, margin, -margin, height-headerH-margin, -margin))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(14)}
	for i, row := range plot.Align(panels, tiles, body) {
		for j, c := range row {
			panels[i][j].Draw(c)
		}
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("replay: writing the plot: %w", err)
	}
	return nil
}

func newFigure(results []replay.Result) (*figure, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("replay: nothing to plot")
	}
	f := &figure{axis: axisOf(results), y: map[point]float64{}, lo: -0.05, hi: 1.05}
	type scenario struct {
		name     string
		restart  bool
		fraction float64
	}
	var scs []scenario
	var leads []float64
	// Each in the order the results first name it.
	f.traces = lo.Uniq(lo.Map(results, func(r replay.Result, _ int) string { return r.Trace }))
	for _, r := range lo.UniqBy(results, func(r replay.Result) string { return r.Scenario }) {
		scs = append(scs, scenario{r.Scenario, strings.HasSuffix(r.Scenario, "+restart"),
			float64(r.CapacityBytes) / float64(max(r.UniqueBytes, 1))})
	}
	leads = lo.Uniq(lo.Map(results, func(r replay.Result, _ int) float64 { return r.Settings.LeadMs }))
	ranked := lo.Reject(results, func(r replay.Result, _ int) bool { return reference(r.Policy) })
	f.policies = lo.Uniq(lo.Map(ranked, func(r replay.Result, _ int) string { return r.Policy }))
	rates := lo.Uniq(lo.Map(ranked, func(r replay.Result, _ int) float64 { return r.Settings.MaxGetsPerS }))
	slices.Sort(leads)
	// Plain capacities in increasing order, then the restarts.
	slices.SortStableFunc(scs, func(a, b scenario) int {
		if a.restart != b.restart {
			if a.restart {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.fraction, b.fraction)
	})
	var scNames, leadNames []string
	for _, s := range scs {
		scNames = append(scNames, s.name)
	}
	for _, l := range leads {
		leadNames = append(leadNames, leadString(l))
	}
	if f.axis == byLead {
		f.groups, f.cats, f.restarts = scNames, leadNames, len(leadNames)
	} else {
		f.groups, f.cats = leadNames, scNames
		f.restarts = slices.IndexFunc(scs, func(s scenario) bool { return s.restart })
		if f.restarts < 0 {
			f.restarts = len(scs)
		}
	}
	for _, r := range results {
		if reference(r.Policy) {
			continue
		}
		grp, cat := leadString(r.Settings.LeadMs), r.Scenario
		if f.axis == byLead {
			grp, cat = cat, grp
		}
		for _, prefix := range []bool{false, true} {
			y := r.Share
			if prefix {
				y = r.PrefixShare
			}
			f.y[point{r.Trace, grp, prefix, r.Policy, cat}] = y
			f.lo, f.hi = min(f.lo, y-0.05), max(f.hi, y+0.05)
		}
	}
	if len(rates) == 1 {
		f.rate = fmt.Sprintf("%g GET/s", rates[0])
	}
	if len(results) > 0 {
		f.link = results[0].Settings.LinkBandwidthBPS
		for _, r := range results {
			if r.Settings.LinkBandwidthBPS != f.link {
				f.link = 0 // merged runs of several links: the title cannot say one
				break
			}
		}
	}
	for _, p := range f.policies {
		label := p
		if f.rate == "" {
			label += fmt.Sprintf(" (%g GET/s)", rateOf(results, p))
		}
		f.labels = append(f.labels, label)
	}
	return f, nil
}

// reference reports the policies whose shares are 0 and 1 by definition.
func reference(policy string) bool {
	return policy == replay.PolicyNone || policy == replay.PolicyOracleV3
}

func rateOf(results []replay.Result, policy string) float64 {
	for _, r := range results {
		if r.Policy == policy {
			return r.Settings.MaxGetsPerS
		}
	}
	return 0
}

// style is the look of the i-th policy's line.
func style(i int) (color.Color, draw.GlyphDrawer) {
	return plotutil.DarkColors[i%len(plotutil.DarkColors)], plotutil.Shape(i)
}

var (
	gray     = color.Gray{Y: 110}
	lightGry = color.Gray{Y: 215}
)

// panel draws one trace's shares in one group under one accounting.
func (f *figure) panel(trace, group string, prefix bool) (*plot.Plot, error) {
	p := plot.New()
	acc := "per block"
	if prefix {
		acc = "prefix"
	}
	var where string
	switch {
	case f.axis == byLead:
		where = strings.Replace(group, "%", "% flat", 1)
		where = strings.Replace(where, "+restart", " + restart", 1) + ", "
	case len(f.groups) > 1:
		where = "lead " + group + ", "
	}
	p.Title.Text = fmt.Sprintf("%s\n%s%s", trace, where, acc)
	p.Title.TextStyle.Font.Size = 10
	p.Title.Padding = vg.Points(4)
	p.Y.Label.Text = "share of the oracle's reduction"
	if f.axis == byLead {
		p.X.Label.Text = "lead time"
	} else {
		p.X.Label.Text = "flat capacity (of the unique bytes)"
	}
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font.Size = 9
		ax.Tick.Label.Font.Size = 8.5
		ax.Label.Padding = vg.Points(2)
	}
	n := len(f.cats)
	p.X.Min, p.X.Max = -0.4, float64(n)-0.6
	p.Y.Min, p.Y.Max = f.lo, f.hi
	var xt plot.ConstantTicks
	for i, c := range f.cats {
		xt = append(xt, plot.Tick{Value: float64(i), Label: strings.Replace(c, "+restart", "\n+restart", 1)})
	}
	p.X.Tick.Marker = xt
	p.Y.Tick.Marker = yTicks(f.lo, f.hi)
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = lightGry, lightGry
	p.Add(grid)

	span := func(y float64) plotter.XYs { return plotter.XYs{{X: p.X.Min, Y: y}, {X: p.X.Max, Y: y}} }
	for _, ref := range []struct {
		y      float64
		dashed bool
	}{{0, false}, {1, true}} {
		l, err := plotter.NewLine(span(ref.y))
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = gray, vg.Points(1.2)
		if ref.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
	}
	if f.restarts > 0 && f.restarts < n {
		x := float64(f.restarts) - 0.5
		sep, err := plotter.NewLine(plotter.XYs{{X: x, Y: f.lo}, {X: x, Y: f.hi}})
		if err != nil {
			return nil, err
		}
		sep.Color, sep.Width, sep.Dashes = gray, vg.Points(0.8), []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(sep)
	}
	for i, pol := range f.policies {
		clr, shape := style(i)
		// Each policy a little aside of the category, so that equal
		// shares (often 0) show as points side by side, not one on another.
		dodge := (float64(i) - float64(len(f.policies)-1)/2) * min(0.07, 0.5/float64(len(f.policies)))
		// A line over the categories before the restarts; the restarts
		// as points alone (they are not a larger capacity).
		var line, alone plotter.XYs
		for ci, c := range f.cats {
			y, ok := f.y[point{trace, group, prefix, pol, c}]
			if !ok {
				continue
			}
			xy := plotter.XY{X: float64(ci) + dodge, Y: y}
			if ci < f.restarts {
				line = append(line, xy)
			} else {
				alone = append(alone, xy)
			}
		}
		if len(line) > 0 {
			l, err := plotter.NewLine(line)
			if err != nil {
				return nil, fmt.Errorf("replay: plotting %s: %w", pol, err)
			}
			l.Color, l.Width = clr, vg.Points(1.6)
			p.Add(l)
		}
		if pts := append(line, alone...); len(pts) > 0 {
			s, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, fmt.Errorf("replay: plotting %s: %w", pol, err)
			}
			s.Color, s.Shape, s.Radius = clr, shape, vg.Points(2.8)
			p.Add(s)
		}
	}
	return p, nil
}

// yTicks marks the shares every 0.2 (0.5 on a tall range), labelled.
func yTicks(lo, hi float64) plot.ConstantTicks {
	step := 0.2
	if hi-lo > 2 {
		step = 0.5
	}
	var ts plot.ConstantTicks
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		v := math.Round(v*100)/100 + 0 // + 0: no -0
		label := fmt.Sprintf("%.1f", v)
		if v == 0 {
			label = "0"
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

// header is the figure's title and legend, laid out to a width: the
// title wrapped at words, the legend's entries in rows.
type header struct {
	title   []string
	legends [][]plot.Legend // rows of one-entry legends
	widths  [][]vg.Length
}

var titleStyle = draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 12), Handler: plot.DefaultTextHandler}

const titleLine, legendRow = 16, 17 // heights, in points

// header lays out the title and the legend to width.
func (f *figure) header(width vg.Length) *header {
	title := "Share of the oracle's stall reduction against lead time (how early a request is known)"
	if f.axis == byCapacity {
		title = "Share of the oracle's stall reduction against flat capacity"
		if len(f.groups) == 1 {
			title += ", lead time " + f.groups[0]
		}
	}
	if f.rate != "" {
		title += "; every policy at most " + f.rate
	}
	if f.link > 0 {
		bw := strings.NewReplacer("e+0", "e", "e+", "e").Replace(fmt.Sprintf("%g", f.link))
		title += "; every GET on one shared link of " + bw + " B/s"
	}
	h := &header{}
	line := ""
	for _, w := range strings.Fields(title) {
		if line != "" && titleStyle.Width(line+" "+w) > width {
			h.title, line = append(h.title, line), ""
		}
		line = strings.TrimSpace(line + " " + w)
	}
	h.title = append(h.title, line)

	ref := func(dashed bool) plot.Thumbnailer {
		l, _ := plotter.NewLine(plotter.XYs{{}, {X: 1}})
		l.Color, l.Width = gray, vg.Points(1.2)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		return l
	}
	add := func(label string, thumbs ...plot.Thumbnailer) {
		lg := plot.NewLegend()
		lg.Left, lg.Top = true, true
		lg.TextStyle.Font.Size = 10
		lg.ThumbnailWidth = vg.Points(26)
		lg.Add(label, thumbs...)
		w := lg.ThumbnailWidth + lg.TextStyle.Width(" "+label) + vg.Points(18)
		n := len(h.legends)
		if n == 0 || sum(h.widths[n-1])+w > width {
			h.legends, h.widths = append(h.legends, nil), append(h.widths, nil)
			n++
		}
		h.legends[n-1], h.widths[n-1] = append(h.legends[n-1], lg), append(h.widths[n-1], w)
	}
	add("none (0)", ref(false))
	add("oracle-v3 (1)", ref(true))
	for i, label := range f.labels {
		clr, shape := style(i)
		l, _ := plotter.NewLine(plotter.XYs{{}, {X: 1}})
		l.Color, l.Width = clr, vg.Points(1.6)
		sc, _ := plotter.NewScatter(plotter.XYs{{}})
		sc.Color, sc.Shape, sc.Radius = clr, shape, vg.Points(2.8)
		add(label, l, sc)
	}
	return h
}

func sum(ls []vg.Length) (s vg.Length) {
	for _, l := range ls {
		s += l
	}
	return s
}

// height is the header's height, a gap below included.
func (h *header) height() vg.Length {
	return vg.Points(float64(titleLine*len(h.title)+legendRow*len(h.legends)) + 22)
}

// draw draws the header from the top of c down.
func (h *header) draw(c draw.Canvas) {
	y := c.Max.Y
	for _, l := range h.title {
		y -= vg.Points(titleLine)
		c.FillText(titleStyle, vg.Point{X: c.Min.X, Y: y}, l)
	}
	y -= vg.Points(6)
	for i, row := range h.legends {
		x := c.Min.X
		for j := range row {
			row[j].Draw(draw.Crop(c, x-c.Min.X, 0, y-vg.Points(legendRow)-c.Min.Y, y-c.Max.Y))
			x += h.widths[i][j]
		}
		y -= vg.Points(legendRow)
	}
}
