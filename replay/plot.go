package replay

import (
	"fmt"
	"image/color"
	"io"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotAxis is what a plot's x axis shows.
type PlotAxis int

const (
	// ByCapacity plots share of the oracle against flat capacity, one
	// line per policy (and lead, when there are several).
	ByCapacity PlotAxis = iota
	// ByLead plots share of the oracle against lead time, one line per
	// policy (and capacity, when there are several).
	ByLead
)

// Plot draws results as a PNG to w: one panel per trace and accounting
// (per block, prefix), share of the oracle's stall reduction on the y
// axis, capacity or lead on the x axis. Restart scenarios are left out of
// a capacity plot (they share a capacity with a plain scenario).
func Plot(w io.Writer, results []Result, axis PlotAxis) error {
	var traces []string
	for _, r := range results {
		if !slices.Contains(traces, r.Trace) {
			traces = append(traces, r.Trace)
		}
	}
	if len(traces) == 0 {
		return fmt.Errorf("replay: nothing to plot")
	}
	var panels [][]*plot.Plot
	for _, tr := range traces {
		var row []*plot.Plot
		for _, prefix := range []bool{false, true} {
			p, err := panel(results, tr, axis, prefix)
			if err != nil {
				return err
			}
			row = append(row, p)
		}
		panels = append(panels, row)
	}
	const pw, ph = 460, 360 // points per panel
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(pw*2), vg.Points(ph*float64(len(panels)))), vgimg.UseDPI(100))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: len(panels), Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	cs := plot.Align(panels, tiles, dc)
	for i := range panels {
		for j, p := range panels[i] {
			p.Draw(cs[i][j])
		}
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("replay: writing the plot: %w", err)
	}
	return nil
}

// panel draws one trace's shares under one accounting.
func panel(results []Result, trace string, axis PlotAxis, prefix bool) (*plot.Plot, error) {
	p := plot.New()
	acc := "per block"
	if prefix {
		acc = "prefix"
	}
	p.Title.Text = fmt.Sprintf("%s (%s)", trace, acc)
	p.Y.Label.Text = "share of the oracle's stall reduction"
	if axis == ByLead {
		p.X.Label.Text = "lead time (ms)"
	} else {
		p.X.Label.Text = "flat capacity (% of unique bytes)"
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	// Line labels: the policy, plus what else varies.
	scenarios, leads := map[string]bool{}, map[float64]bool{}
	for _, r := range results {
		if r.Trace == trace {
			scenarios[r.Scenario], leads[r.Settings.LeadMs] = true, true
		}
	}
	type line struct {
		label string
		xys   plotter.XYs
	}
	var lines []*line
	find := func(label string) *line {
		for _, l := range lines {
			if l.label == label {
				return l
			}
		}
		l := &line{label: label}
		lines = append(lines, l)
		return l
	}
	for _, r := range results {
		if r.Trace != trace {
			continue
		}
		y := r.Share
		if prefix {
			y = r.PrefixShare
		}
		label := r.Policy
		var x float64
		switch axis {
		case ByLead:
			x = r.Settings.LeadMs
			if len(scenarios) > 1 {
				label += " @" + r.Scenario
			}
		default:
			if strings.HasSuffix(r.Scenario, "+restart") {
				continue
			}
			x = 100 * float64(r.CapacityBytes) / float64(max(r.UniqueBytes, 1))
			if len(leads) > 1 {
				label += fmt.Sprintf(" lead %gms", r.Settings.LeadMs)
			}
		}
		if r.Settings.MaxGetsPerS > 0 && r.Policy != PolicyNone {
			label += fmt.Sprintf(" (%g GET/s)", r.Settings.MaxGetsPerS)
		}
		l := find(label)
		l.xys = append(l.xys, plotter.XY{X: x, Y: y})
	}
	top := 1.0
	for _, l := range lines {
		for _, xy := range l.xys {
			top = max(top, xy.Y)
		}
	}
	p.Y.Max = top + 0.08*float64(len(lines)) // room for the legend
	for i, l := range lines {
		slices.SortFunc(l.xys, func(a, b plotter.XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
		lp, pts, err := plotter.NewLinePoints(l.xys)
		if err != nil {
			return nil, fmt.Errorf("replay: plotting %s: %w", l.label, err)
		}
		lp.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		lp.Width = vg.Points(1.5)
		lp.Dashes = plotutil.Dashes(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(lp, pts)
		p.Legend.Add(l.label, lp, pts)
	}
	return p, nil
}
