package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

type series struct {
	label string
	name  func(n int) string // benchmark name at N
}

// panel draws ns/op against N, one line per series, on log axes.
func panel(set *resultSet, title string, ns []int, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "N (entries)"
	p.Y.Label.Text = "ns/op (median)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		var xys plotter.XYs
		for _, n := range ns {
			if v, ok := set.median(s.name(n), "ns/op"); ok {
				xys = append(xys, plotter.XY{X: float64(n), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.label, l, pts)
	}
	return p, nil
}

// saveRow draws the panels side by side into one PNG.
func saveRow(path string, panels []*plot.Plot) error {
	const w, h = 420, 380 // points per panel
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(w*float64(len(panels))), vg.Points(h)), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	grid := [][]*plot.Plot{panels}
	cs := plot.Align(grid, tiles, dc)
	for j, p := range panels {
		p.Draw(cs[0][j])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var selectNs = []int{1e3, 1e4, 1e5, 1e6}

// plotSelect plots selection alone (random order), one panel per K.
func plotSelect(set *resultSet, path string) error {
	var panels []*plot.Plot
	for _, k := range []int{8, 64, 1024} {
		var ss []series
		for _, sel := range []string{"fullsort", "heap", "quickselect"} {
			ss = append(ss, series{sel, func(n int) string {
				return fmt.Sprintf("Select/n=%d/k=%d/order=random/sel=%s", n, k, sel)
			}})
		}
		p, err := panel(set, fmt.Sprintf("Select, K = %d (random order)", k), selectNs, ss)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	return saveRow(path, panels)
}

var cycleNs = []int{1e4, 1e5, 1e6}

// plotCycle plots the front half of a cycle per path, one panel per K and
// age layout.
func plotCycle(set *resultSet, path string) error {
	var panels []*plot.Plot
	for _, c := range []struct {
		k    int
		ages string
	}{{8, "random"}, {1024, "random"}, {1024, "asc"}} {
		var ss []series
		for _, path := range []string{"seed", "general", "func-scorer", "row-floor", "default", "floor"} {
			ss = append(ss, series{path, func(n int) string {
				return fmt.Sprintf("Cycle/n=%d/k=%d/ages=%s/path=%s", n, c.k, c.ages, path)
			}})
		}
		p, err := panel(set, fmt.Sprintf("Cycle, K = %d, %s ages", c.k, c.ages), cycleNs, ss)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	return saveRow(path, panels)
}
