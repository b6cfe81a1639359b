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

/// The y-axis top: the peak rounded up to 1, 2 or 5 times a power of ten.
fn scale_top(peak: f64) -> f64 {
    if peak <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(peak.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|top| *top >= peak).unwrap_or(peak)
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
    fn the_scale_rounds_the_peak_up_to_a_readable_top() {
        assert_eq!(scale_top(0.0), 1.0);
        assert_eq!(scale_top(1.5), 2.0);
        assert_eq!(scale_top(3.0), 5.0);
        assert_eq!(scale_top(7.0), 10.0);
        assert_eq!(scale_top(42.0), 50.0);
    }
}
