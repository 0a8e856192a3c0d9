package flood

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette gives each variant a colour; levee's lines are solid, the
// peers' dashed, the unprotected one black.
var palette = map[string]color.RGBA{
	"unprotected":         {0, 0, 0, 255},
	"levee-breaker":       {31, 119, 180, 255},
	"levee-limit":         {44, 160, 44, 255},
	"levee-limit-breaker": {23, 190, 207, 255},
	"levee-shedder":       {214, 39, 40, 255},
	"levee-all":           {148, 103, 189, 255},
	"gozero-breaker":      {31, 119, 180, 255},
	"gozero-shedder":      {214, 39, 40, 255},
	"failsafe-limit":      {44, 160, 44, 255},
}

// WriteChart draws goodput over time, one line per variant, as a
// fraction of capacity, and saves it to each path (the extension picks
// the format: .png, .svg, .pdf).
func WriteChart(cfg Config, results []Result, paths ...string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Goodput through a %g× flood (capacity %d searches/s, timeout %v, %s backend)", cfg.FloodFactor, cfg.Capacity, cfg.Timeout, cfg.Backend)
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "goodput / capacity"
	p.Y.Min, p.Y.Max = 0, 1.6
	p.X.Min, p.X.Max = 0, cfg.Total().Seconds()
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"}, {Value: 0.75}, {Value: 1, Label: "1"}})
	p.X.Tick.Marker = secondTicks{}
	p.Add(plotter.NewGrid())

	// The flood, shaded.
	fb, fe := cfg.Before.Seconds(), (cfg.Before + cfg.Flood).Seconds()
	shade, err := plotter.NewPolygon(plotter.XYs{{X: fb, Y: 0}, {X: fe, Y: 0}, {X: fe, Y: 1.6}, {X: fb, Y: 1.6}})
	if err != nil {
		return err
	}
	shade.Color = color.NRGBA{R: 255, G: 170, B: 60, A: 50}
	shade.LineStyle.Width = 0
	p.Add(shade)

	// The offered load, capped at the capacity: what a perfect guard serves.
	n, f, end := min(cfg.NormalFactor, 1), min(cfg.FloodFactor, 1), cfg.Total().Seconds()
	ideal := plotter.XYs{{X: 0, Y: n}, {X: fb, Y: n}, {X: fb, Y: f}, {X: fe, Y: f}, {X: fe, Y: n}, {X: end, Y: n}}
	il, err := plotter.NewLine(ideal)
	if err != nil {
		return err
	}
	il.Color = color.Gray{150}
	il.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	il.Width = vg.Points(1)
	p.Add(il)
	p.Legend.Add("offered, up to capacity", il)

	for _, r := range results {
		pts := make(plotter.XYs, len(r.Series))
		for i, s := range r.Series {
			pts[i] = plotter.XY{X: float64(s.Second) + 0.5, Y: float64(s.OK) / float64(cfg.Capacity)}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		c, ok := palette[r.Variant]
		if !ok {
			c = color.RGBA{127, 127, 127, 255}
		}
		l.Color = c
		l.Width = vg.Points(1.6)
		if !r.Levee && r.Variant != "unprotected" {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		if r.Variant == "unprotected" {
			// Drawn first and thick, so it shows under the lines that
			// collapse with it.
			l.Width = vg.Points(4)
		}
		if r.Variant == "levee-all" || r.Variant == "levee-limit-breaker" {
			l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
			l.Width = vg.Points(2.2)
		}
		p.Add(l)
		p.Legend.Add(r.Variant, l)
	}
	p.Legend.Top = true
	p.Legend.Padding = vg.Points(1)
	p.Legend.Left = false
	p.Legend.XOffs = vg.Points(-4)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.ThumbnailWidth = vg.Points(24)
	for _, path := range paths {
		if err := p.Save(28*vg.Centimeter, 14*vg.Centimeter, path); err != nil {
			return fmt.Errorf("flood: chart %s: %w", path, err)
		}
	}
	return nil
}

// secondTicks labels every fifth second and marks every second.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for s := math.Ceil(lo); s <= hi; s++ {
		t := plot.Tick{Value: s}
		if int(s)%5 == 0 {
			t.Label = strconv.Itoa(int(s))
		}
		ts = append(ts, t)
	}
	return ts
}
