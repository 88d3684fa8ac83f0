//! The charts: the load the provider saw over time, one line per strategy, one chart per
//! scenario, as SVG and PNG.
//!
//! Text is drawn with plotters' pure-Rust `ab_glyph` renderer and an embedded font (DejaVu
//! Sans, from the `dejavu` crate), so that no system font library is needed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::report::{load_over_time, Metrics};
use crate::scenario::Scenario;
use crate::sim::Run;
use crate::strategy::Strategy;

/// The width of the buckets the load is counted in.
pub const LOAD_BUCKET: Duration = Duration::from_millis(500);

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 620;
const FONT: &str = "sans-serif";

/// Why a chart could not be written.
#[derive(Debug)]
pub struct PlotError(String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlotError {}

/// Writes `herd-<scenario>.svg` and `herd-<scenario>.png` into `dir` (made if missing) for
/// every scenario among `runs`, and returns the paths written.
///
/// # Errors
/// If the directory or a file cannot be written.
pub fn write_charts(runs: &[Run], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for scenario in Scenario::ALL {
        let of_scenario: Vec<&Run> = runs.iter().filter(|r| r.scenario == scenario).collect();
        if let Some(chart) = scenario_chart(scenario, &of_scenario) {
            let stem = dir.join(format!("herd-{}", scenario.name()));
            written.extend(chart.write(&stem)?);
        }
    }
    Ok(written)
}

/// The load the provider saw over time: one line per series, its capacity, and a span shaded
/// (when it was down, say).
#[derive(Clone, Debug)]
pub struct LoadChart {
    /// Above the chart.
    pub title: String,
    /// What the time axis counts from.
    pub since: String,
    /// Requests per second it serves.
    pub capacity: f64,
    /// The time axis's end.
    pub until: Duration,
    /// The width of the buckets each line counts requests in.
    pub bucket: Duration,
    /// Each line: its label, colour and the rate in each bucket (requests per second).
    pub lines: Vec<(String, RGBColor, Vec<f64>)>,
    /// A span from the start, shaded, with its label.
    pub shaded: Option<(Duration, String)>,
}

impl LoadChart {
    /// Writes `<stem>.svg` and `<stem>.png` (the directory made if missing); the paths.
    ///
    /// # Errors
    /// If the directory or a file cannot be written.
    pub fn write(&self, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| PlotError(format!("cannot create {}: {e}", dir.display())))?;
        }
        register_embedded_font()?;
        let svg = stem.with_extension("svg");
        self.draw(SVGBackend::new(&svg, (WIDTH, HEIGHT)).into_drawing_area())
            .map_err(|e| PlotError(format!("cannot draw {}: {e}", svg.display())))?;
        let png = stem.with_extension("png");
        self.draw(BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area())
            .map_err(|e| PlotError(format!("cannot draw {}: {e}", png.display())))?;
        Ok(vec![svg, png])
    }
}

/// A scenario's chart: its runs' loads, until the last client of the slowest is done and a
/// third beyond, which keeps the legend off the lines.
fn scenario_chart(scenario: Scenario, runs: &[&Run]) -> Option<LoadChart> {
    let first = runs.first()?;
    let last_done = runs
        .iter()
        .map(|run| Metrics::of(run).last_done)
        .max()
        .unwrap_or_default()
        + LOAD_BUCKET;
    let until = last_done + last_done / 3;
    let lines = identical_loads_together(runs, until)
        .into_iter()
        .map(|(strategies, load)| {
            let label = strategies
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(" = ");
            (label, colour(strategies[0]), load)
        })
        .collect();
    let outage = scenario.provider(first.setup.capacity).outage;
    Some(LoadChart {
        title: format!(
            "{} ({} clients, capacity {} req/s)",
            scenario.title(),
            first.setup.clients,
            first.setup.capacity
        ),
        since: "the herd started".to_owned(),
        capacity: f64::from(first.setup.capacity),
        until,
        bucket: LOAD_BUCKET,
        lines,
        shaded: (outage > Duration::ZERO)
            .then(|| (outage, "provider down (503 to all)".to_owned())),
    })
}

/// Makes the embedded font the one plotters draws `sans-serif` text with, once per process.
fn register_embedded_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError("the embedded font could not be read".into()))
    }
}

/// A colour per strategy, fixed so that a strategy looks the same in every chart.
fn colour(strategy: Strategy) -> RGBColor {
    match strategy {
        Strategy::NoJitter => RGBColor(214, 39, 40),
        Strategy::FullJitter => RGBColor(31, 119, 180),
        Strategy::EqualJitter => RGBColor(44, 160, 44),
        Strategy::Decorrelated => RGBColor(148, 103, 189),
        Strategy::IgnoringRetryAfter => RGBColor(255, 127, 14),
        Strategy::Budgeted => RGBColor(23, 190, 207),
        Strategy::Breaker => RGBColor(140, 86, 75),
        Strategy::Paced => RGBColor(227, 119, 194),
        Strategy::Adaptive => RGBColor(127, 127, 127),
    }
}

/// The load of each run over `0..until`, runs with the same load drawn as one line: in the
/// rate-limit scenario every strategy that honours `Retry-After` waits what the provider says,
/// whatever its backoff, and their lines would hide each other.
fn identical_loads_together(runs: &[&Run], until: Duration) -> Vec<(Vec<Strategy>, Vec<f64>)> {
    let mut loads: Vec<(Vec<Strategy>, Vec<f64>)> = Vec::new();
    for run in runs {
        let load = load_over_time(run, LOAD_BUCKET, until);
        match loads.iter_mut().find(|(_, other)| *other == load) {
            Some((strategies, _)) => strategies.push(run.strategy),
            None => loads.push((vec![run.strategy], load)),
        }
    }
    loads
}

/// The lowest value of the log-scale axis: a bucket without requests is drawn there.
const AXIS_FLOOR: f64 = 1.0;

impl LoadChart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let peak = self
            .lines
            .iter()
            .flat_map(|(_, _, load)| load.iter().copied())
            .fold(self.capacity, f64::max);
        let bucket = self.bucket.as_secs_f64();
        let until = self.until.as_secs_f64();
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..until, (AXIS_FLOOR..peak * 1.5).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(format!("time since {} (s)", self.since))
            .y_desc(format!(
                "requests per second (per {} ms, log scale)",
                self.bucket.as_millis()
            ))
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 14))
            .x_label_formatter(&|v| {
                // Tenths on a short axis, or its labels repeat.
                if until < 10.0 {
                    format!("{v:.1}")
                } else {
                    format!("{v:.0}")
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        if let Some((span, label)) = &self.shaded {
            let shade = BLACK.mix(0.08).filled();
            chart
                .draw_series([Rectangle::new(
                    [(0.0, AXIS_FLOOR), (span.as_secs_f64(), peak * 1.5)],
                    shade,
                )])?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], shade));
        }
        for (label, colour, load) in &self.lines {
            let style = colour.stroke_width(2);
            // A step line: each bucket's rate holds across the bucket.
            let points = load.iter().enumerate().flat_map(|(i, rate)| {
                let rate = rate.max(AXIS_FLOOR);
                [(i as f64 * bucket, rate), ((i + 1) as f64 * bucket, rate)]
            });
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
        }
        let limit = BLACK.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, self.capacity), (until, self.capacity)],
                8,
                6,
                limit,
            ))?
            .label("provider capacity")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], limit));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()
    }
}
