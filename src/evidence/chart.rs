//! The bundle's chart (`metrics/chart.svg`): errors per minute by class above, p99 latency with
//! its alert threshold below, and every rollout revision and canary start as a vertical marker,
//! because people read a chart faster than JSON.

use plotters::prelude::*;

use super::metrics::RangeResult;

/// A vertical marker: when, and its label (`rev 3`, `canary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: jiff::Timestamp,
    pub label: String,
}

pub struct ChartInput<'a> {
    pub title: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    /// Per-minute error series (auth, 429, 5xx).
    pub errors: Vec<&'a RangeResult>,
    pub latency: Option<&'a RangeResult>,
    pub latency_limit_ms: f64,
    pub markers: Vec<Marker>,
}

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 700;
const COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

/// Renders the chart as an SVG document.
pub fn render_svg(input: &ChartInput) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(&input.title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2 - 10);
        let (x0, x1) = (
            input.start.as_second() as f64,
            input.end.as_second().max(input.start.as_second() + 60) as f64,
        );

        let error_max = input
            .errors
            .iter()
            .flat_map(|r| {
                r.series
                    .iter()
                    .flat_map(|s| s.values.iter().map(|(_, v)| *v))
            })
            .fold(1.0_f64, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .caption("errors per minute", ("sans-serif", 15))
            .build_cartesian_2d(x0..x1, 0.0..error_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_label_formatter(&|t| hhmm(*t))
            .y_desc("/min")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, result) in input.errors.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            for series in &result.series {
                chart
                    .draw_series(LineSeries::new(
                        series.values.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(result.title)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
        }
        draw_markers(&mut chart, &input.markers, error_max)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;

        let latency_max = input
            .latency
            .iter()
            .flat_map(|r| {
                r.series
                    .iter()
                    .flat_map(|s| s.values.iter().map(|(_, v)| *v))
            })
            .fold(input.latency_limit_ms, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
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
                .map_err(|e| e.to_string())?
                .label("p99")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2))
                });
        }
        let limit = input.latency_limit_ms;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, limit), (x1, limit)],
                6,
                4,
                RED.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("alert: p99 > {limit:.0} ms"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(1)));
        draw_markers(&mut chart, &input.markers, latency_max)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    markers: &[Marker],
    top: f64,
) -> Result<(), String> {
    let grey = RGBColor(90, 90, 90);
    for marker in markers {
        let t = marker.at.as_second() as f64;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(t, 0.0), (t, top)],
                4,
                4,
                grey.stroke_width(1),
            ))
            .map_err(|e| format!("{e:?}"))?;
        chart
            .draw_series(std::iter::once(Text::new(
                marker.label.clone(),
                (t, top * 0.97),
                ("sans-serif", 12).into_font().color(&grey),
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
            markers: vec![Marker {
                at: jiff::Timestamp::from_second(1_795_001_800).unwrap(),
                label: "rev 4".into(),
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

    #[test]
    fn an_empty_window_still_renders() {
        let svg = render_svg(&ChartInput {
            title: "empty".into(),
            start: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            end: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            errors: vec![],
            latency: None,
            latency_limit_ms: 5000.0,
            markers: vec![],
        })
        .unwrap();
        assert!(svg.contains("p99 latency (ms)"));
    }
}
