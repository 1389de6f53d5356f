//! SVG plots of a report (plotters).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::KindResult;

const COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Throughput by worker count, one line per server kind.
pub fn throughput(
    path: &Path,
    page: &str,
    kinds: &BTreeMap<&'static str, KindResult>,
) -> Result<(), String> {
    let max_workers = kinds
        .values()
        .flat_map(|k| k.throughput().into_iter().map(|(w, _)| w))
        .max()
        .unwrap_or(1);
    let max_rps = kinds
        .values()
        .flat_map(|k| k.throughput().into_iter().map(|(_, r)| r))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{page}: throughput by workers"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..(max_workers as f64 + 0.5), 0f64..max_rps * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("workers")
        .y_desc("requests/s")
        .draw()
        .map_err(err)?;
    let lines = kinds.iter().map(|(label, kind)| {
        let points = kind.throughput().into_iter().map(|(w, r)| (w as f64, r));
        (*label, points.collect())
    });
    draw_lines(&mut chart, lines)?;
    root.present().map_err(err)
}

/// Latency percentiles (p50, p90, p99, p99.9) at `workers`, one line per kind.
pub fn latency(
    path: &Path,
    page: &str,
    kinds: &BTreeMap<&'static str, KindResult>,
    workers: usize,
) -> Result<(), String> {
    let max_ms = kinds
        .values()
        .filter_map(|k| k.percentiles(workers))
        .flat_map(|p| p.into_iter())
        .fold(0.1, f64::max);
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{page}: latency at {workers} workers (closed loop)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..3.2, 0f64..max_ms * 1.15)
        .map_err(err)?;
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
        .map_err(err)?;
    let lines = kinds.iter().filter_map(|(label, kind)| {
        let p = kind.percentiles(workers)?;
        let points = p.into_iter().enumerate().map(|(x, y)| (x as f64, y));
        Some((*label, points.collect()))
    });
    draw_lines(&mut chart, lines)?;
    root.present().map_err(err)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One line with markers and a legend entry per (label, points), then the legend.
fn draw_lines<'a, 'b: 'a, 'p>(
    chart: &mut Chart<'a, 'b>,
    lines: impl Iterator<Item = (&'p str, Vec<(f64, f64)>)>,
) -> Result<(), String> {
    for (i, (label, points)) in lines.enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
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
