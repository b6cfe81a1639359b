//! The throughput chart: verified tasks per second from the snapshots, as an inline SVG.

use yew::prelude::*;

use crate::format;
use crate::state::HISTORY_POINTS;

/// The chart's drawing width in SVG units.
const WIDTH: f64 = 600.0;
/// The chart's drawing height in SVG units.
const HEIGHT: f64 = 160.0;

/// Properties of [`ThroughputChart`].
#[derive(Properties, PartialEq)]
pub struct ThroughputChartProps {
    /// Tasks per second, oldest first.
    pub history: Vec<f32>,
}

/// The readable tops of the y axis within one power of ten.
const STEPS: [f64; 11] = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// The y-axis top: the peak of the window shown, rounded up to the next readable figure
/// (at most a third above it), so the line uses the chart's height at any rate: 0.3 /s
/// from a few phones on big tiles as well as 500 /s from a rack.
fn scale_top(peak: f64) -> f64 {
    if peak.is_nan() || peak <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(peak.log10().floor());
    // A relative tolerance keeps 0.3 (0.1 × 3 = 0.30000000000000004) at 0.3.
    STEPS.into_iter().map(|m| m * power).find(|top| *top >= peak * (1.0 - 1e-9)).unwrap_or(peak)
}

/// The chart.
#[function_component]
pub fn ThroughputChart(props: &ThroughputChartProps) -> Html {
    let history = &props.history;
    let peak = history.iter().copied().fold(0.0f32, f32::max);
    let top = scale_top(f64::from(peak));
    let step = WIDTH / (HISTORY_POINTS - 1) as f64;
    let offset = (HISTORY_POINTS - history.len().min(HISTORY_POINTS)) as f64 * step;
    let points: Vec<(f64, f64)> = history
        .iter()
        .enumerate()
        .map(|(i, v)| (offset + i as f64 * step, HEIGHT - 2.0 - f64::from(*v) / top * (HEIGHT - 8.0)))
        .collect();
    let line = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
    let area = match (points.first(), points.last()) {
        (Some((first, _)), Some((last, _))) => format!("{first:.1},{HEIGHT} {line} {last:.1},{HEIGHT}"),
        _ => String::new(),
    };
    let current = history.last().copied().unwrap_or(0.0);
    let grid = [0.25, 0.5, 0.75].map(|f| {
        let y = format!("{:.1}", HEIGHT * f);
        html! { <line class="grid" x1="0" x2={WIDTH.to_string()} y1={y.clone()} y2={y} /> }
    });
    html! {
        <div class="chart-wrap">
            <div class="chart-head">
                <h2>{ "Throughput" }</h2>
                <span class="muted">{ format!("now {} /s · peak {} /s", format::rate(current), format::rate(peak)) }</span>
            </div>
            <svg id="throughput-chart" class="chart" viewBox={format!("0 0 {WIDTH} {HEIGHT}")}
                preserveAspectRatio="none" role="img" aria-label="Verified tasks per second over time">
                { for grid }
                if history.len() > 1 {
                    <polygon class="area" points={area} />
                    <polyline class="line" points={line} />
                }
            </svg>
            <div class="chart-axis muted">
                <span>{ format!("{} min ago", HISTORY_POINTS * 2 / 60) }</span>
                <span>{ format!("scale 0–{} /s", format::rate(top as f32)) }</span>
                <span>{ "now" }</span>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::scale_top;

    #[test]
    fn the_scale_follows_the_data_up_to_a_readable_top() {
        assert_eq!(scale_top(0.0), 1.0);
        assert_eq!(scale_top(1.5), 1.5);
        assert_eq!(scale_top(3.1), 4.0);
        assert_eq!(scale_top(7.0), 8.0);
        assert_eq!(scale_top(42.0), 50.0);
        assert_eq!(scale_top(61.0), 80.0);
        assert_eq!(scale_top(101.0), 120.0);
        assert!((scale_top(0.3) - 0.3).abs() < 1e-12, "slow swarms get a scale below 1 /s");
        assert!((scale_top(0.07) - 0.08).abs() < 1e-12);
        for peak in [0.013, 0.5, 1.0, 9.99, 33.0, 999.0, 12_345.0] {
            let top = scale_top(peak);
            assert!(top >= peak && top <= peak * 1.34, "{peak} → {top}");
        }
    }
}
