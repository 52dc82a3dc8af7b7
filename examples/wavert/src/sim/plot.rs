//! One SVG per scenario: the ring's fill level at each timer copy and the
//! silence the audio engine heard in each 10 ms period.

use std::path::Path;

use plotters::prelude::*;

use super::Trace;

/// Writes `path`: fill level (ms) and silence per 10 ms period (ms) against
/// time (ms).
pub fn write_svg(
    path: &Path,
    title: &str,
    trace: &Trace,
    window: (f64, f64),
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (from, to) = window;
    let in_window = |&&(t, _): &&(f64, f64)| t >= from && t <= to;
    // The same scale for every scenario: the ring holds 40 ms; the legend
    // sits above that.
    let y_max = trace
        .fill
        .iter()
        .filter(in_window)
        .map(|p| p.1)
        .fold(40.0f64, f64::max)
        .ceil()
        + 12.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(from..to, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("time (ms)")
        .y_desc("ms")
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            trace.fill.iter().filter(in_window).copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label("ring fill level (ms of audio)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    // Silence per period as steps, so a gap reads as a block.
    let mut steps = Vec::new();
    let mut last = from;
    for &(t, s) in trace.silence.iter().filter(in_window) {
        steps.push((last, s));
        steps.push((t, s));
        last = t;
    }
    chart
        .draw_series(LineSeries::new(steps, RED.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("silence heard in each 10 ms period (ms)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
