//! SVG line charts (plotters) of plain (x, y) points.

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One line of a chart, drawn with markers and named in the legend.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// Throughput by worker count: points are (workers, requests/s).
pub fn throughput(path: &Path, page: &str, lines: &[Line]) -> Result<(), String> {
    let max_workers = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(w, _)| *w))
        .reduce(f64::max)
        .unwrap_or(1.0);
    let axes = Axes {
        caption: format!("{page}: throughput by workers"),
        x: 0.5..(max_workers + 0.5),
        y: 0.0..max_y(lines, 1.0) * 1.15,
    };
    draw(path, axes, lines, |chart| {
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("requests/s")
            .draw()
            .map_err(err)
    })
}

/// Latency percentiles at `workers`: points are (0..=3 for p50, p90, p99,
/// p99.9; ms).
pub fn latency(path: &Path, page: &str, workers: usize, lines: &[Line]) -> Result<(), String> {
    let axes = Axes {
        caption: format!("{page}: latency at {workers} workers (closed loop)"),
        x: 0.0..3.2,
        y: 0.0..max_y(lines, 0.1) * 1.15,
    };
    draw(path, axes, lines, |chart| {
        chart
            .configure_mesh()
            .x_labels(4)
            .x_label_formatter(&|x| {
                ["p50", "p90", "p99", "p99.9"]
                    .get(x.round() as usize)
                    .unwrap_or(&"")
                    .to_string()
            })
            .y_desc("ms")
            .draw()
            .map_err(err)
    })
}

/// The largest y of any point, and at least `floor`.
fn max_y(lines: &[Line], floor: f64) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(_, y)| *y))
        .fold(floor, f64::max)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The caption and axis ranges of a chart.
struct Axes {
    caption: String,
    x: Range<f64>,
    y: Range<f64>,
}

/// A 640x400 white SVG at `path` with `axes`, the grid and labels that
/// `mesh` draws, and `lines`.
fn draw(
    path: &Path,
    axes: Axes,
    lines: &[Line],
    mesh: impl FnOnce(&mut Chart) -> Result<(), String>,
) -> Result<(), String> {
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(axes.caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(axes.x, axes.y)
        .map_err(err)?;
    mesh(&mut chart)?;
    draw_lines(&mut chart, lines)?;
    root.present().map_err(err)
}

/// Each line with markers and a legend entry, then the legend.
fn draw_lines<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, lines: &[Line]) -> Result<(), String> {
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|p| Circle::new(*p, 4, color.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(err)
}
