//! Charts of the HTML and SVG reports, drawn with plotters' SVG backend into
//! a string: inline SVG, no script and no external asset, so a report opens
//! offline (on a CI runner without network, from an archive years later).
//!
//! Every chart has a title, labelled axes with units, tick labels inside
//! their label area (none cut at the edge), and its legend in a strip of
//! its own above the plot, where it cannot cover data.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::hist::{Hist, HistSummary};
use super::stats::Tick;

/// Size of every chart, pixels.
pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 380;

const FONT: &str = "sans-serif";
/// Height of the legend strip under the title.
const LEGEND_H: u32 = 26;

pub const RED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
pub const BLUE: RGBColor = RGBColor(0x29, 0x80, 0xb9);
pub const GREEN: RGBColor = RGBColor(0x27, 0xae, 0x60);
pub const GREY: RGBColor = RGBColor(0x7f, 0x8c, 0x8d);
pub const ORANGE: RGBColor = RGBColor(0xe6, 0x7e, 0x22);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Line,
    Dashed,
    /// A dot and a line through it.
    Dot,
}

/// One legend entry.
pub struct Entry<'a> {
    pub name: &'a str,
    pub colour: RGBColor,
    pub mark: Mark,
}

/// A drawing error as text (plotters' errors carry the backend's error).
pub type Result<T> = std::result::Result<T, String>;

pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws into a fresh SVG string: `draw` gets the area under the title and
/// legend strip, and the legend is drawn in its strip. On a drawing error the
/// chart is replaced by a small SVG saying so (a report is still written).
pub fn svg(
    title: &str,
    legend: &[Entry<'_>],
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> String {
    let mut buf = String::new();
    let result = (|| -> Result<()> {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(title, (FONT, 17).into_font().color(&BLACK))
            .map_err(err)?;
        let (strip, plot) = root.split_vertically(LEGEND_H);
        draw_legend(&strip, legend)?;
        draw(&plot)?;
        root.present().map_err(err)
    })();
    match result {
        Ok(()) => buf,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"60\"><text x=\"10\" y=\"30\" font-family=\"{FONT}\">{}: chart not drawn ({})</text></svg>",
            xml(title),
            xml(&e)
        ),
    }
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, entries: &[Entry<'_>]) -> Result<()> {
    let style = (FONT, 13).into_font().color(&BLACK);
    let mut x = 80;
    let y = (LEGEND_H / 2) as i32;
    for e in entries {
        let line = e.colour.stroke_width(2);
        match e.mark {
            Mark::Line => area
                .draw(&PathElement::new(vec![(x, y), (x + 24, y)], line))
                .map_err(err)?,
            Mark::Dashed => area
                .draw(&DashedPathElement::new(
                    vec![(x, y), (x + 24, y)],
                    5,
                    3,
                    line,
                ))
                .map_err(err)?,
            Mark::Dot => {
                area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], line))
                    .map_err(err)?;
                area.draw(&Circle::new((x + 12, y), 4, e.colour.filled()))
                    .map_err(err)?;
            }
        }
        area.draw(&Text::new(
            e.name.to_owned(),
            (x + 30, y - 7),
            style.clone(),
        ))
        .map_err(err)?;
        // About 6 px a character of 13 px sans-serif (no font measuring here).
        x += 30 + 6 * e.name.chars().count() as i32 + 24;
    }
    Ok(())
}

/// A duration in µs as a tick label: `250 µs`, `1.5 ms`, `20 ms`, `3 s`.
pub fn duration_label(us: f64) -> String {
    let (v, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else {
        (us, "µs")
    };
    format!("{} {unit}", number_label(v))
}

/// A number with at most three significant digits and no trailing zeros.
pub fn number_label(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The percentile at `x` decades on the HdrHistogram axis: 0 → `0%`,
/// 1 → `90%`, 2 → `99%`, 3 → `99.9%`; between whole decades, nothing.
fn percentile_label(x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    match x.round() as i32 {
        0 => "0%".into(),
        n => format!(
            "{:.*}%",
            (n - 2).max(0) as usize,
            100.0 - 100.0 * 10f64.powi(-n)
        ),
    }
}

/// Decades of the percentile axis for histograms of at most `count` values:
/// past 1 − 1/count every curve is flat at its maximum.
fn decades(count: u64) -> u32 {
    ((count.max(1) as f64).log10().ceil() as u32).clamp(2, 5)
}

/// Latency against percentile on the usual HdrHistogram axis (90%, 99%,
/// 99.9%, ... spaced by 1/(1−p)) with a log time axis, so that quantities
/// of different magnitudes (request latency in µs, delivery in hundreds of
/// ms) are all readable on one chart.
pub fn percentiles(title: &str, curves: &[(&str, RGBColor, &HistSummary)]) -> String {
    let decoded: Vec<(&str, RGBColor, Hist)> = curves
        .iter()
        .filter_map(|(n, c, s)| {
            let h = Hist::decode(&s.hdr).ok()?;
            (!h.is_empty()).then_some((*n, *c, h))
        })
        .collect();
    let d = decades(decoded.iter().map(|c| c.2.len()).max().unwrap_or(1));
    let lo = decoded
        .iter()
        .map(|c| c.2.quantile_us(0.0).max(1))
        .min()
        .unwrap_or(1) as f64;
    let hi = decoded
        .iter()
        .map(|c| c.2.quantile_us(1.0))
        .max()
        .unwrap_or(1000) as f64;
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
    let names: Vec<String> = decoded
        .iter()
        .map(|(n, _, h)| format!("{n} ({})", h.len()))
        .collect();
    let legend: Vec<Entry> = decoded
        .iter()
        .zip(&names)
        .map(|((_, c, _), n)| Entry {
            name: n,
            colour: *c,
            mark: Mark::Line,
        })
        .collect();
    svg(title, &legend, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(30)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..d as f64, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(d as usize + 1)
            .y_labels(8)
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| duration_label(*y))
            .x_desc("percentile (log scale of 1/(1 − p))")
            .y_desc("latency (log scale)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        if decoded.is_empty() {
            area.draw(&Text::new(
                "no data",
                (WIDTH as i32 / 2 - 20, (HEIGHT / 2) as i32 - 40),
                (FONT, 15),
            ))
            .map_err(err)?;
        }
        for (_, colour, h) in &decoded {
            // 20 points a decade, and the maximum at the right edge.
            let pts = (0..=20 * d).map(|i| {
                let x = f64::from(i) / 20.0;
                let q = if i == 20 * d {
                    1.0
                } else {
                    1.0 - 10f64.powf(-x)
                };
                (x, (h.quantile_us(q).max(1) as f64).clamp(lo, hi))
            });
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Requests and errors per second (left axis) and active users (right
/// axis) over the seconds of a run.
pub fn timeline(title: &str, ticks: &[Tick]) -> String {
    let end = ticks.iter().map(|t| t.t).max().unwrap_or(0).max(1) as f64;
    let rmax = nice_max(ticks.iter().map(|t| t.requests).max().unwrap_or(0) as f64);
    let umax = nice_max(ticks.iter().map(|t| t.users).max().unwrap_or(0) as f64);
    let legend = [
        Entry {
            name: "requests/s (left)",
            colour: BLUE,
            mark: Mark::Line,
        },
        Entry {
            name: "errors/s (left)",
            colour: RED,
            mark: Mark::Line,
        },
        Entry {
            name: "active users (right)",
            colour: GREEN,
            mark: Mark::Dashed,
        },
    ];
    svg(title, &legend, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0f64..end, 0f64..rmax)
            .map_err(err)?
            .set_secondary_coord(0f64..end, 0f64..umax);
        chart
            .configure_mesh()
            .x_labels(12)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{} s", number_label(*x)))
            .y_label_formatter(&|y| number_label(*y))
            .x_desc("time since the first user started (s)")
            .y_desc("requests per second")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_labels(6)
            .y_label_formatter(&|y| number_label(*y))
            .y_desc("active users")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(err)?;
        let at = |t: &Tick| f64::from(t.t);
        chart
            .draw_series(LineSeries::new(
                ticks.iter().map(|t| (at(t), f64::from(t.requests))),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                ticks.iter().map(|t| (at(t), f64::from(t.errors))),
                RED.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_secondary_series(DashedLineSeries::new(
                ticks.iter().map(|t| (at(t), f64::from(t.users))),
                6,
                4,
                GREEN.stroke_width(2),
            ))
            .map_err(err)?;
        Ok(())
    })
}

/// An axis maximum a little above `v`, at a round number (at least 1).
pub fn nice_max(v: f64) -> f64 {
    let v = (v * 1.1).max(1.0);
    let step = 10f64.powf(v.log10().floor());
    let m = v / step;
    let nice = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .find(|&n| n >= m - 1e-9)
        .unwrap_or(10.0);
    nice * step
}

fn xml(s: &str) -> String {
    crate::report::escape_xml(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use quick_xml::events::Event;

    fn hist(values: impl IntoIterator<Item = u64>) -> HistSummary {
        let mut h = Hist::new();
        values.into_iter().for_each(|v| h.record_us(v));
        h.summary()
    }

    /// Parses `svg` as XML, returning every `<text>` element's content
    /// (entities resolved, surrounding white space trimmed).
    pub(crate) fn texts(svg: &str) -> Vec<String> {
        let mut r = quick_xml::Reader::from_str(svg);
        let (mut out, mut cur) = (Vec::new(), None::<String>);
        loop {
            match r.read_event() {
                Ok(Event::Start(e)) if e.name().as_ref() == b"text" => cur = Some(String::new()),
                Ok(Event::Text(t)) => {
                    if let Some(c) = &mut cur {
                        c.push_str(&t.decode().expect("text decodes"));
                    }
                }
                Ok(Event::GeneralRef(e)) => {
                    if let Some(c) = &mut cur {
                        let name = e.decode().expect("entity decodes");
                        let ch = quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("unknown entity {name}"));
                        c.push_str(ch);
                    }
                }
                Ok(Event::End(e)) if e.name().as_ref() == b"text" => {
                    out.extend(cur.take().map(|c| c.trim().to_owned()));
                }
                Ok(Event::Eof) => break,
                Err(e) => panic!("not XML at {}: {e}\n{svg}", r.buffer_position()),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn labels() {
        assert_eq!(duration_label(750_000.0), "750 ms");
        assert_eq!(duration_label(12_500.0), "12.5 ms");
        assert_eq!(duration_label(1e6), "1 s");
        assert_eq!(duration_label(100.0), "100 µs");
        assert_eq!(duration_label(2500.0), "2.5 ms");
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
        assert_eq!(percentile_label(0.5), "");
        assert_eq!(nice_max(90.0), 100.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(12.0), 15.0);
    }

    #[test]
    fn percentile_chart_is_xml_with_title_axes_and_every_curve() {
        // Request latency around 300 µs, delivery around 500 ms: three
        // decades apart, both on the chart's log axis.
        let requests = hist((0..1000).map(|i| 200 + i % 300));
        let delivery = hist((0..100).map(|i| 300_000 + i * 4_000));
        let svg = percentiles(
            "Latency by percentile",
            &[
                ("all requests", BLUE, &requests),
                ("delivery", RED, &delivery),
                ("catch-up", ORANGE, &hist([])),
            ],
        );
        let t = texts(&svg);
        for want in [
            "Latency by percentile",
            "all requests (1000)",
            "delivery (100)",
            "percentile (log scale of 1/(1 − p))",
            "latency (log scale)",
            "90%",
            "99.9%",
            "100 µs",
            "1 s",
        ] {
            assert!(t.iter().any(|s| s == want), "{want:?} not in {t:?}");
        }
        // An empty histogram has no curve and no legend entry.
        assert!(!t.iter().any(|s| s.starts_with("catch-up")), "{t:?}");
        assert!(svg.contains("stroke=\"#2980B9\"") && svg.contains("stroke=\"#C0392B\""));
        assert!(!svg.contains("#E67E22"), "{svg}");
        insta::assert_snapshot!(svg);
    }

    #[test]
    fn percentile_chart_without_data_says_so() {
        let svg = percentiles("Latency by percentile", &[("delivery", RED, &hist([]))]);
        assert!(texts(&svg).iter().any(|s| s == "no data"));
    }

    #[test]
    fn timeline_chart_has_both_axes() {
        let ticks: Vec<Tick> = (0..9)
            .map(|t| Tick {
                t,
                requests: [140, 60, 58, 62, 61, 20, 0, 0, 0][t as usize],
                errors: u32::from(t == 3) * 4,
                users: if t == 0 { 6 } else { 12 },
            })
            .collect();
        let svg = timeline("Requests per second and active users", &ticks);
        let t = texts(&svg);
        for want in [
            "requests per second",
            "active users",
            "time since the first user started (s)",
            "0 s",
            "8 s",
            "200",
            "15",
        ] {
            assert!(t.iter().any(|s| s == want), "{want:?} not in {t:?}");
        }
        insta::assert_snapshot!(svg);
    }
}
