//! `report.json`: the model as pretty JSON (schema: `report.schema.json`).

use super::model::Report;

/// The JSON Schema of `report.json`, as shipped in the repository (generated
/// from [`Report`] by `report::schema::generate`).
pub const SCHEMA: &str = include_str!("report.schema.json");

pub fn render(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    out.push(b'\n');
    out
}
