//! The SVG plots of a report.

use std::path::Path;

use super::results::Report;
use crate::plot::{self, Line};

/// `throughput-<page>.svg` and `latency-<page>.svg` of every page: one line
/// per server kind.
pub fn write(report: &Report, out: &Path) -> Result<(), String> {
    for page in &report.pages {
        let throughput: Vec<Line> = (page.kinds.iter())
            .map(|(label, kind)| Line {
                label,
                points: kind.throughput(),
            })
            .collect();
        let path = out.join(format!("throughput-{}.svg", page.name));
        plot::throughput(&path, page.name, &throughput)?;
        let latency: Vec<Line> = (page.kinds.iter())
            .filter_map(|(label, kind)| {
                let points = kind.percentiles(report.workers)?;
                Some(Line { label, points })
            })
            .collect();
        let path = out.join(format!("latency-{}.svg", page.name));
        plot::latency(&path, page.name, report.workers, &latency)?;
    }
    Ok(())
}
