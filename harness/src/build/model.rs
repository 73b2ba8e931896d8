//! Model import on the host: .tflite -> the reference runtime's blob, checked against the
//! board's budget before anything is built.
use std::path::{Path, PathBuf};

use anyhow::Context;
use mcubench_workloads::import::{import_tflite, ImportedModel};
use mcubench_workloads::workload::Workload;

use super::hash::sha256_hex;

/// An imported model with its blob written to the cache.
#[derive(Debug)]
pub struct PreparedModel {
    pub imported: ImportedModel,
    pub blob_path: PathBuf,
    pub tflite_path: PathBuf,
    pub tflite_sha256: String,
}

/// Imports a workload's model and writes the blob to `<cache>/models/<id>-<hash>.blob`.
pub fn prepare(workload: &Workload, models_dir: &Path, cache: &Path) -> anyhow::Result<PreparedModel> {
    let tflite_path = models_dir.join(workload.model_file);
    let bytes = std::fs::read(&tflite_path).with_context(|| {
        format!(
            "cannot read the model for {} at {} (set MCUBENCH_MODELS_DIR to the folder holding the MLPerf Tiny .tflite files)",
            workload.id,
            tflite_path.display()
        )
    })?;
    let imported =
        import_tflite(&bytes).with_context(|| format!("cannot import {} ({})", tflite_path.display(), workload.id))?;
    let dir = cache.join("models");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let blob_path = dir.join(format!("{}-{}.blob", workload.id, &sha256_hex(&imported.blob)[..16]));
    if !blob_path.exists() {
        let tmp = blob_path.with_extension(super::hash::tmp_suffix());
        std::fs::write(&tmp, &imported.blob).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &blob_path)?;
    }
    Ok(PreparedModel { imported, blob_path, tflite_path, tflite_sha256: sha256_hex(&bytes) })
}

/// The workload's model converted to TinyMaix's format, written to
/// `<cache>/models/<id>-<hash>.tmdl`; returns (path, sha256 of the file).
pub fn tinymaix_file(workload: &Workload, model: &PreparedModel, cache: &Path) -> anyhow::Result<(PathBuf, String)> {
    let bytes = std::fs::read(&model.tflite_path).with_context(|| format!("cannot read {}", model.tflite_path.display()))?;
    let converted = mcubench_workloads::tinymaix::convert_tflite(&bytes)
        .with_context(|| format!("cannot convert {} ({}) to a TinyMaix model", model.tflite_path.display(), workload.id))?;
    let sha = sha256_hex(&converted.bytes);
    let dir = cache.join("models");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}-{}.tmdl", workload.id, &sha[..16]));
    if !path.exists() {
        let tmp = path.with_extension(super::hash::tmp_suffix());
        std::fs::write(&tmp, &converted.bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok((path, sha))
}
