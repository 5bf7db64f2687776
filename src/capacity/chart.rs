//! The capacity chart, `capacity.svg`: users against delivery p99 and
//! requests per second, measured and modelled.

use super::report::{CapacityReport, StepReport};

/// A two-axis chart: delivery p99 (left, ms; dots filled where every SLO
/// held, hollow where one broke) and requests per second (right, measured
/// solid and modelled dashed) against users, with the `delivery.p99`
/// objective as a line and the knee marked only when one was found (a step
/// held and a later one broke).
pub(crate) fn chart(r: &CapacityReport) -> String {
    use crate::load::chart::{self, err, nice_max, number_label, Entry, Mark, BLUE, GREEN, RED};
    use crate::load::slo::{Slo, Threshold};
    use plotters::prelude::*;

    let slo_ms: Option<(f64, &str)> = r.slos.iter().find_map(|t| {
        let s = Slo::parse(t).ok()?;
        match (s.metric.as_str(), s.threshold) {
            ("delivery.p99", Threshold::Duration(us)) => Some((us as f64 / 1000.0, t.as_str())),
            _ => None,
        }
    });
    let knee = match (&r.knee, &r.first_break) {
        (Some(k), Some(_)) => Some(k.users),
        _ => None,
    };
    let max_users = nice_max(r.steps.iter().map(|s| s.users).max().unwrap_or(0) as f64);
    let max_ms = nice_max(
        r.steps
            .iter()
            .map(|s| s.delivery_p99_ms)
            .chain(slo_ms.map(|s| s.0))
            .fold(0.0, f64::max),
    );
    let max_rps = nice_max(
        r.steps
            .iter()
            .map(|s| s.requests_per_second.max(s.predicted_requests_per_second))
            .fold(0.0, f64::max),
    );
    let slo_name = slo_ms.map(|(_, t)| format!("SLO {t}"));
    let knee_name = knee.map(|k| format!("knee: {k} users"));
    let mut legend = vec![
        Entry {
            name: "delivery p99 (left; hollow: an SLO broke)",
            colour: RED,
            mark: Mark::Dot,
        },
        Entry {
            name: "req/s measured (right)",
            colour: BLUE,
            mark: Mark::Line,
        },
        Entry {
            name: "req/s model",
            colour: BLUE,
            mark: Mark::Dashed,
        },
    ];
    if let Some(n) = &slo_name {
        legend.push(Entry {
            name: n,
            colour: RED,
            mark: Mark::Dashed,
        });
    }
    if let Some(n) = &knee_name {
        legend.push(Entry {
            name: n,
            colour: GREEN,
            mark: Mark::Dashed,
        });
    }
    let title = format!(
        "{} on {}: users against delivery p99 and req/s",
        r.scenario, r.target
    );
    chart::svg(&title, &legend, |area| {
        let mut c = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0f64..max_users, 0f64..max_ms)
            .map_err(err)?
            .set_secondary_coord(0f64..max_users, 0f64..max_rps);
        c.configure_mesh()
            .x_labels(10)
            .y_labels(6)
            .x_label_formatter(&|x| number_label(*x))
            .y_label_formatter(&|y| format!("{} ms", number_label(*y)))
            .x_desc("users")
            .y_desc("delivery p99 (ms)")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()
            .map_err(err)?;
        c.configure_secondary_axes()
            .y_labels(6)
            .y_label_formatter(&|y| number_label(*y))
            .y_desc("requests per second")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        if let Some((ms, _)) = slo_ms {
            c.draw_series(DashedLineSeries::new(
                [(0.0, ms), (max_users, ms)],
                6,
                4,
                RED.stroke_width(1),
            ))
            .map_err(err)?;
        }
        if let Some(k) = knee {
            c.draw_series(DashedLineSeries::new(
                [(f64::from(k), 0.0), (f64::from(k), max_ms)],
                4,
                4,
                GREEN.stroke_width(2),
            ))
            .map_err(err)?;
        }
        let users = |s: &StepReport| f64::from(s.users);
        c.draw_series(LineSeries::new(
            r.steps.iter().map(|s| (users(s), s.delivery_p99_ms)),
            RED.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_series(r.steps.iter().map(|s| {
            let style = if s.held { RED.filled() } else { WHITE.filled() };
            Circle::new((users(s), s.delivery_p99_ms), 5, style)
        }))
        .map_err(err)?;
        c.draw_series(
            r.steps
                .iter()
                .filter(|s| !s.held)
                .map(|s| Circle::new((users(s), s.delivery_p99_ms), 5, RED.stroke_width(2))),
        )
        .map_err(err)?;
        c.draw_secondary_series(LineSeries::new(
            r.steps.iter().map(|s| (users(s), s.requests_per_second)),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_secondary_series(DashedLineSeries::new(
            r.steps
                .iter()
                .map(|s| (users(s), s.predicted_requests_per_second)),
            6,
            4,
            BLUE.stroke_width(2),
        ))
        .map_err(err)?;
        Ok(())
    })
}
