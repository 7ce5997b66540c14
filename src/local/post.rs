//! The post-actions `aifbench run` carries out itself: `report` (client
//! results merged into summary.json/csv and report.md) and `uploadResults`
//! (the results folder into `results.s3`).

use crate::api::status::ComponentKind;
use crate::engine::ActionOutcome;
use crate::results::report::write_report;
use crate::results::s3::{ResultsStore, StoreConfig, credentials_from_source, join_key, s3_url};

use super::Driver;

impl Driver {
    /// `uploadResults`: the whole results folder to
    /// `<results.s3.prefix>/<folder name>/`.
    pub(super) async fn upload_results(&mut self) -> ActionOutcome {
        let Some(s3) = self.b.spec.results.as_ref().and_then(|r| r.s3.clone()) else {
            return ActionOutcome::Failed("uploadResults needs spec.results.s3".to_string());
        };
        let creds = match credentials_from_source(&s3.credentials, &|k| std::env::var(k).ok()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot upload the results");
                return ActionOutcome::Failed(e.to_string());
            }
        };
        let store = ResultsStore::new(&StoreConfig::from_spec(&s3), &creds);
        let folder = self
            .dir
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = join_key(&[&s3.key_prefix(), &folder]);
        match store.upload_dir(&self.dir.root, &prefix).await {
            Ok(files) => {
                tracing::info!(files, url = %s3_url(store.bucket(), &prefix), "results uploaded");
                self.uploaded = Some((store, prefix));
                ActionOutcome::Succeeded
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot upload the results");
                ActionOutcome::Failed(e.to_string())
            }
        }
    }

    /// After an upload, `status.yaml` and `environment.json` are written
    /// once more at the very end: upload those again (best effort).
    pub(super) async fn upload_final_files(&self) {
        let Some((store, prefix)) = &self.uploaded else {
            return;
        };
        for path in [self.dir.status_yaml(), self.dir.environment_json()] {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(e) = store.put_file(&join_key(&[prefix, &name]), &path).await {
                tracing::warn!(error = %e, "cannot upload the final {name}");
            }
        }
    }

    pub(super) fn report(&mut self) -> ActionOutcome {
        let instances: Vec<String> = self
            .planned
            .values()
            .filter(|p| p.kind == ComponentKind::Client)
            .map(|p| p.id.clone())
            .collect();
        let name = self.b.metadata.name.clone().unwrap_or_default();
        let percentiles = self.b.spec.execution.percentiles.clone();
        match write_report(&self.dir, &name, &instances, &percentiles) {
            Ok(r) => {
                if !r.missing.is_empty() {
                    tracing::warn!(missing = ?r.missing, "some client instances wrote no results");
                }
                self.report = Some(r);
                ActionOutcome::Succeeded
            }
            Err(e) => {
                tracing::error!(error = %e, "report failed");
                ActionOutcome::Failed(e.to_string())
            }
        }
    }
}
