//! Reports of a conformance run: one model, one exporter per format. Every
//! exporter is a pure function of the [`model::Report`].

pub mod console;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;

use std::path::Path;

pub use model::{Outcome, Report};

/// Writes `report.json`, `junit.xml` and `report.md` into `dir` (created if
/// needed). Each file is written to a temporary name and renamed, so a reader
/// never sees half a file.
pub fn write_all(dir: &Path, report: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join("report.json"), &json::render(report))?;
    write_atomic(&dir.join("junit.xml"), &junit::render(report))?;
    write_atomic(&dir.join("report.md"), markdown::render(report).as_bytes())?;
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
