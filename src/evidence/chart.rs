//! The bundle's chart (`metrics/chart.svg`): errors per minute by class above, p99 latency with
//! its alert threshold below, and every rollout revision and canary start as a vertical marker,
//! because people read a chart faster than JSON.

use plotters::prelude::*;

use super::metrics::RangeResult;

/// What a vertical marker marks; each kind has its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Revision,
    CanaryStart,
    CanaryAbort,
    CanaryPromote,
    Rollback,
}

impl MarkerKind {
    fn color(self) -> RGBColor {
        match self {
            MarkerKind::Revision => RGBColor(90, 90, 90),
            MarkerKind::CanaryStart => RGBColor(31, 119, 180),
            MarkerKind::CanaryAbort => RGBColor(214, 39, 40),
            MarkerKind::CanaryPromote => RGBColor(44, 160, 44),
            MarkerKind::Rollback => RGBColor(140, 86, 75),
        }
    }
}

/// A vertical marker: when, its label (`rev 3`, `canary #2 aborted`) and what it marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: jiff::Timestamp,
    pub label: String,
    pub kind: MarkerKind,
}

pub struct ChartInput<'a> {
    pub title: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    /// Per-minute error series (auth, 429, 5xx).
    pub errors: Vec<&'a RangeResult>,
    pub latency: Option<&'a RangeResult>,
    pub latency_limit_ms: f64,
    /// Alert thresholds drawn on the errors panel: label and value per minute.
    pub error_limits: Vec<(String, f64)>,
    pub markers: Vec<Marker>,
}

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 700;
/// The legend's column, right of the plots: never on the data.
const LEGEND_WIDTH: u32 = 230;
const Y_LABELS: u32 = 60;
const MARGIN: u32 = 10;
/// Marker labels: 12 px sans-serif, about this wide a character, in rows this far apart.
const LABEL_CHAR_PX: f64 = 7.0;
const LABEL_GAP_PX: f64 = 6.0;
const COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

/// The x-range plotted: the data's (and the markers') extent with a margin, within the window;
/// the whole window when there is no data. `true` when fitted.
pub fn fitted_range(input: &ChartInput) -> (f64, f64, bool) {
    let (w0, w1) = (
        input.start.as_second() as f64,
        input.end.as_second().max(input.start.as_second() + 60) as f64,
    );
    let times: Vec<f64> = input
        .errors
        .iter()
        .copied()
        .chain(input.latency)
        .flat_map(|r| {
            r.series
                .iter()
                .flat_map(|s| s.values.iter().map(|(t, _)| *t))
        })
        .chain(input.markers.iter().map(|m| m.at.as_second() as f64))
        .filter(|t| *t >= w0 && *t <= w1)
        .collect();
    let (Some(lo), Some(hi)) = (
        times.iter().copied().reduce(f64::min),
        times.iter().copied().reduce(f64::max),
    ) else {
        return (w0, w1, false);
    };
    let pad = ((hi - lo) * 0.05).max(60.0);
    let (x0, x1) = ((lo - pad).max(w0), (hi + pad).min(w1));
    if x1 - x0 < 120.0 {
        return (w0, w1, false);
    }
    (x0, x1, x0 > w0 || x1 < w1)
}

/// The row each marker label goes in (0 = top), so that no two labels of a row overlap: the
/// labels are placed left to right, each in the first row where it clears the previous one.
/// `positions` are `(x of the marker in px, label width in px)`.
pub fn label_rows(positions: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by(|a, b| positions[*a].0.total_cmp(&positions[*b].0));
    let mut row_ends: Vec<f64> = Vec::new();
    let mut rows = vec![0; positions.len()];
    for i in order {
        let (x, width) = positions[i];
        let row = match row_ends.iter().position(|end| *end + LABEL_GAP_PX <= x) {
            Some(row) => row,
            None => {
                row_ends.push(f64::NEG_INFINITY);
                row_ends.len() - 1
            }
        };
        row_ends[row] = x + width;
        rows[i] = row;
    }
    rows
}

fn label_width(label: &str) -> f64 {
    label.chars().count() as f64 * LABEL_CHAR_PX + 4.0
}

/// One legend line: colour, dashed or not, text.
struct LegendEntry {
    color: RGBColor,
    dashed: bool,
    text: String,
}

/// Renders the chart as an SVG document.
pub fn render_svg(input: &ChartInput) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(&input.title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let (x0, x1, fitted) = fitted_range(input);
        let markers: Vec<Marker> = input
            .markers
            .iter()
            .filter(|m| (x0..=x1).contains(&(m.at.as_second() as f64)))
            .cloned()
            .collect();
        let window_note = format!(
            "{} UTC{}",
            if fitted {
                format!("data {}–{}", hhmm(x0), hhmm(x1))
            } else {
                format!("{}–{}", hhmm(x0), hhmm(x1))
            },
            if fitted {
                format!(
                    "; window {}–{} UTC",
                    hhmm(input.start.as_second() as f64),
                    hhmm(input.end.as_second() as f64)
                )
            } else {
                String::new()
            }
        );
        let (top, bottom) = root.split_vertically(HEIGHT / 2 - 10);
        let (top_plot, top_legend) = top.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (bottom_plot, bottom_legend) = bottom.split_horizontally(WIDTH - LEGEND_WIDTH);
        let plot_px = f64::from(WIDTH - LEGEND_WIDTH - Y_LABELS - 2 * MARGIN);
        let rows = label_rows(
            &markers
                .iter()
                .map(|m| {
                    let t = m.at.as_second() as f64;
                    ((t - x0) / (x1 - x0) * plot_px, label_width(&m.label))
                })
                .collect::<Vec<_>>(),
        );
        let label_rows_needed = rows.iter().max().map_or(0, |r| r + 1);

        let limit_max = input
            .error_limits
            .iter()
            .map(|(_, v)| *v)
            .fold(1.0_f64, f64::max);
        let error_max = input
            .errors
            .iter()
            .flat_map(|r| {
                r.series
                    .iter()
                    .flat_map(|s| s.values.iter().map(|(_, v)| *v))
            })
            .fold(limit_max, f64::max)
            * (1.15 + 0.08 * label_rows_needed as f64);
        let mut chart = ChartBuilder::on(&top_plot)
            .margin(MARGIN)
            .x_label_area_size(30)
            .y_label_area_size(Y_LABELS)
            .caption(
                format!("errors per minute ({window_note})"),
                ("sans-serif", 15),
            )
            .build_cartesian_2d(x0..x1, 0.0..error_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_label_formatter(&|t| hhmm(*t))
            .y_desc("/min")
            .draw()
            .map_err(|e| e.to_string())?;
        let mut legend = Vec::new();
        for (i, result) in input.errors.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            for series in &result.series {
                chart
                    .draw_series(LineSeries::new(
                        series.values.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
            }
            legend.push(LegendEntry {
                color,
                dashed: false,
                text: result.title.to_string(),
            });
        }
        for (i, (label, limit)) in input.error_limits.iter().enumerate() {
            let color = COLORS[(i + 2) % COLORS.len()];
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, *limit), (x1, *limit)],
                    6,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            legend.push(LegendEntry {
                color,
                dashed: true,
                text: label.clone(),
            });
        }
        draw_markers(&mut chart, &markers, &rows, error_max)?;
        draw_legend(&top_legend, &legend, &markers).map_err(|e| err(&e))?;

        let latency_max = input
            .latency
            .iter()
            .flat_map(|r| {
                r.series
                    .iter()
                    .flat_map(|s| s.values.iter().map(|(_, v)| *v))
            })
            .fold(input.latency_limit_ms, f64::max)
            * (1.15 + 0.08 * label_rows_needed as f64);
        let mut chart = ChartBuilder::on(&bottom_plot)
            .margin(MARGIN)
            .x_label_area_size(30)
            .y_label_area_size(Y_LABELS)
            .caption("p99 latency (ms)", ("sans-serif", 15))
            .build_cartesian_2d(x0..x1, 0.0..latency_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_label_formatter(&|t| hhmm(*t))
            .x_desc("UTC")
            .y_desc("ms")
            .draw()
            .map_err(|e| e.to_string())?;
        let blue = RGBColor(31, 119, 180);
        for series in input.latency.iter().flat_map(|r| r.series.iter()) {
            chart
                .draw_series(LineSeries::new(
                    series.values.iter().copied(),
                    blue.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
        }
        let limit = input.latency_limit_ms;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, limit), (x1, limit)],
                6,
                4,
                RED.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        draw_markers(&mut chart, &markers, &rows, latency_max)?;
        let legend = vec![
            LegendEntry {
                color: blue,
                dashed: false,
                text: "p99".into(),
            },
            LegendEntry {
                color: RED,
                dashed: true,
                text: format!("alert: p99 > {limit:.0} ms"),
            },
        ];
        draw_legend(&bottom_legend, &legend, &[]).map_err(|e| err(&e))?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The legend in its own column: the series, the thresholds, then the kinds of marker shown.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[LegendEntry],
    markers: &[Marker],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 13).into_font();
    let mut y = 40;
    let line = |area: &DrawingArea<DB, plotters::coord::Shift>,
                y: i32,
                color: RGBColor,
                dashed: bool,
                text: &str| {
        if dashed {
            for x in (10..34).step_by(8) {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 4, y)],
                    color.stroke_width(2),
                ))?;
            }
        } else {
            area.draw(&PathElement::new(
                vec![(10, y), (34, y)],
                color.stroke_width(2),
            ))?;
        }
        area.draw(&Text::new(text.to_string(), (40, y - 7), font.clone()))
    };
    for entry in entries {
        line(area, y, entry.color, entry.dashed, &entry.text)?;
        y += 20;
    }
    let mut kinds: Vec<(MarkerKind, &str)> = Vec::new();
    for marker in markers {
        let name = match marker.kind {
            MarkerKind::Revision => "rollout revision",
            MarkerKind::CanaryStart => "canary started",
            MarkerKind::CanaryAbort => "canary aborted",
            MarkerKind::CanaryPromote => "canary promoted",
            MarkerKind::Rollback => "rollback",
        };
        if !kinds.iter().any(|(k, _)| *k == marker.kind) {
            kinds.push((marker.kind, name));
        }
    }
    for (kind, name) in kinds {
        line(area, y, kind.color(), true, name)?;
        y += 20;
    }
    Ok(())
}

fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    markers: &[Marker],
    rows: &[usize],
    top: f64,
) -> Result<(), String> {
    for (marker, row) in markers.iter().zip(rows) {
        let color = marker.kind.color();
        let t = marker.at.as_second() as f64;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(t, 0.0), (t, top)],
                4,
                4,
                color.stroke_width(1),
            ))
            .map_err(|e| format!("{e:?}"))?;
        chart
            .draw_series(std::iter::once(Text::new(
                marker.label.clone(),
                (t, top * (0.99 - 0.075 * *row as f64)),
                ("sans-serif", 12).into_font().color(&color),
            )))
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn hhmm(t: f64) -> String {
    jiff::Timestamp::from_second(t as i64)
        .map(|ts| ts.strftime("%H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::metrics::Series;

    fn result(id: &'static str, title: &'static str, values: Vec<(f64, f64)>) -> RangeResult {
        RangeResult {
            id,
            title,
            unit: "/min",
            query: "q".into(),
            start: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            end: jiff::Timestamp::from_second(1_795_003_600).unwrap(),
            step_seconds: 60.0,
            series: vec![Series {
                labels: Default::default(),
                values,
            }],
        }
    }

    #[test]
    fn the_chart_has_both_panels_the_threshold_and_the_revision_markers() {
        let points: Vec<(f64, f64)> = (0..60)
            .map(|i| (1_795_000_000.0 + 60.0 * i as f64, i as f64 / 3.0))
            .collect();
        let errors = result("errors-5xx", "5xx responses per minute", points.clone());
        let latency = result(
            "latency-p99",
            "p99 latency",
            points.iter().map(|(t, v)| (*t, v * 300.0)).collect(),
        );
        let svg = render_svg(&ChartInput {
            title: "deployment/web in prod".into(),
            start: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            end: jiff::Timestamp::from_second(1_795_003_600).unwrap(),
            errors: vec![&errors],
            latency: Some(&latency),
            latency_limit_ms: 5000.0,
            error_limits: vec![("alert: 5xx > 10/min".into(), 10.0)],
            markers: vec![Marker {
                at: jiff::Timestamp::from_second(1_795_001_800).unwrap(),
                label: "rev 4".into(),
                kind: MarkerKind::Revision,
            }],
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "errors per minute",
            "p99 latency (ms)",
            "rev 4",
            "alert: p99 &gt; 5000 ms",
            "5xx responses per minute",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<polyline").count() >= 2, "two data lines");
    }

    /// Issue 18 item 4: `rev 3`/`rev 2` drawn on top of each other.
    #[test]
    fn marker_labels_never_overlap_in_a_row() {
        let labels = [
            "rev 3",
            "rev 2",
            "canary #1",
            "#1 aborted",
            "rev 4",
            "rollback",
        ];
        let positions: Vec<(f64, f64)> = [100.0, 104.0, 110.0, 150.0, 400.0, 402.0]
            .iter()
            .zip(labels)
            .map(|(x, l)| (*x, label_width(l)))
            .collect();
        let rows = label_rows(&positions);
        assert_ne!(rows[0], rows[1], "rev 3 and rev 2 share a row: {rows:?}");
        for i in 0..positions.len() {
            for j in i + 1..positions.len() {
                if rows[i] != rows[j] {
                    continue;
                }
                let (a, b) = (positions[i], positions[j]);
                let apart = a.0 + a.1 + LABEL_GAP_PX <= b.0 || b.0 + b.1 + LABEL_GAP_PX <= a.0;
                assert!(
                    apart,
                    "{} and {} overlap in row {}",
                    labels[i], labels[j], rows[i]
                );
            }
        }
        // A label with room goes back to the top row.
        assert_eq!(rows[4], 0);
    }

    /// Issue 18 item 4: the whole hour plotted for 7 minutes of data.
    #[test]
    fn the_x_range_fits_the_data_within_the_window() {
        let start = 1_795_000_000.0;
        let points: Vec<(f64, f64)> = (0..28)
            .map(|i| (start + 3000.0 + 15.0 * i as f64, 1.0))
            .collect();
        let errors = result("errors-5xx", "5xx", points);
        let input = ChartInput {
            title: "t".into(),
            start: jiff::Timestamp::from_second(start as i64).unwrap(),
            end: jiff::Timestamp::from_second(start as i64 + 3600).unwrap(),
            errors: vec![&errors],
            latency: None,
            latency_limit_ms: 5000.0,
            error_limits: vec![],
            markers: vec![],
        };
        let (x0, x1, fitted) = fitted_range(&input);
        assert!(fitted);
        assert_eq!((x0, x1), (start + 2940.0, start + 3465.0));
        let svg = render_svg(&input).unwrap();
        assert!(svg.contains("data "), "the window is noted");
        assert!(svg.contains("window "), "the window is noted");
    }

    /// Issue 18 item 4: the chart renders (as a browser or a converter would) to a PNG with
    /// something drawn, the legend is right of the plots, and the errors panel has its
    /// threshold line.
    #[test]
    fn the_chart_renders_to_a_non_empty_png_with_the_legend_beside_the_plots() {
        let points: Vec<(f64, f64)> = (0..60)
            .map(|i| {
                (
                    1_795_000_000.0 + 60.0 * i as f64,
                    if i > 40 { 80.0 } else { 2.0 },
                )
            })
            .collect();
        let errors = result("errors-5xx", "5xx responses per minute", points.clone());
        let marker = |s: i64, label: &str, kind| Marker {
            at: jiff::Timestamp::from_second(1_795_000_000 + s).unwrap(),
            label: label.into(),
            kind,
        };
        let svg = render_svg(&ChartInput {
            title: "deployment/web in prod".into(),
            start: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            end: jiff::Timestamp::from_second(1_795_003_600).unwrap(),
            errors: vec![&errors],
            latency: None,
            latency_limit_ms: 5000.0,
            error_limits: vec![("alert: 5xx > 10/min".into(), 10.0)],
            markers: vec![
                marker(2400, "canary #1", MarkerKind::CanaryStart),
                marker(2410, "rev 3", MarkerKind::Revision),
                marker(2460, "#1 aborted", MarkerKind::CanaryAbort),
            ],
        })
        .unwrap();
        assert!(
            svg.contains("alert: 5xx &gt; 10/min"),
            "threshold in the legend"
        );
        // Every legend text sits in the legend column, right of the plots.
        for text in [
            "alert: 5xx &gt; 10/min",
            "5xx responses per minute",
            "canary aborted",
        ] {
            let at = svg.find(text).unwrap_or_else(|| panic!("{text}"));
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            let x: f64 = tag
                .split("x=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no x in {tag}"));
            assert!(
                x >= f64::from(WIDTH - LEGEND_WIDTH),
                "{text} at x={x}: on the plot"
            );
        }
        let mut options = resvg::usvg::Options::default();
        options.fontdb_mut().load_system_fonts();
        // fontdb maps sans-serif to Arial; a viewer maps it to the system's sans font.
        options.fontdb_mut().set_sans_serif_family("DejaVu Sans");
        let tree = resvg::usvg::Tree::from_str(&svg, &options).expect("the SVG parses");
        let size = tree.size().to_int_size();
        let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        let png = pixmap.encode_png().unwrap();
        // To look at it: CHART_PNG_OUT=/tmp/chart.png cargo test --lib evidence::chart
        if let Some(out) = std::env::var_os("CHART_PNG_OUT") {
            std::fs::write(out, &png).unwrap();
        }
        assert!(png.len() > 10_000, "{} bytes", png.len());
        let drawn = pixmap
            .pixels()
            .iter()
            .filter(|p| p.alpha() > 0 && (p.red(), p.green(), p.blue()) != (255, 255, 255))
            .count();
        assert!(drawn > 5_000, "only {drawn} pixels drawn");
    }

    #[test]
    fn an_empty_window_still_renders() {
        let svg = render_svg(&ChartInput {
            title: "empty".into(),
            start: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            end: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            errors: vec![],
            latency: None,
            latency_limit_ms: 5000.0,
            error_limits: vec![],
            markers: vec![],
        })
        .unwrap();
        assert!(svg.contains("p99 latency (ms)"));
    }
}
