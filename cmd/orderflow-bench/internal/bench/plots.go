package bench

import (
	"fmt"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// nines maps a quantile (percent) to the x position of a percentile plot: −log10(1 − q), so
// 90, 99 and 99.9 are evenly spaced.
func nines(q float64) float64 { return -math.Log10(1 - math.Min(q, 99.999)/100) }

type namedLatency struct {
	name string
	lat  Latency
}

// latencyPlot draws latency-by-percentile curves (PNG or SVG, by the extension of path).
func latencyPlot(path, title string, series []namedLatency) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks []plot.Tick
	for _, q := range []float64{0, 50, 90, 99, 99.9, 99.99} {
		ticks = append(ticks, plot.Tick{Value: nines(q), Label: fmt.Sprint(q)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	var args []any
	for _, s := range series {
		var pts plotter.XYs
		for _, d := range s.lat.Distribution {
			if d.Quantile <= 0 || d.Quantile > 99.99 {
				continue
			}
			pts = append(pts, plotter.XY{X: nines(d.Quantile), Y: math.Max(d.Millis, 0.01)})
		}
		if len(pts) > 0 {
			args = append(args, s.name, pts)
		}
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = -vg.Points(14) // below the title
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

type namedLag struct {
	name   string
	points []LagPoint
}

// lagPlot draws total consumer lag over time (PNG or SVG, by the extension of path).
func lagPlot(path, title string, series []namedLag) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the step started"
	p.Y.Label.Text = "lag (messages, all processors)"
	var args []any
	for _, s := range series {
		var pts plotter.XYs
		for _, l := range s.points {
			pts = append(pts, plotter.XY{X: l.Seconds, Y: float64(l.Messages)})
		}
		if len(pts) > 0 {
			args = append(args, s.name, pts)
		}
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = -vg.Points(14) // below the title
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// plotFile returns the path of a plot in dir.
func plotFile(dir, name string) string { return filepath.Join(dir, name) }
