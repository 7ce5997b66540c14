//! The workload registry: [`WORKLOADS`] lists one [`Workload`] per workload
//! type (one line each) and [`find`] looks one up for the loadgen entry
//! point; nothing else in `crate::workload` matches on the type.

use super::chroma_run::ChromaRun;
use super::embeddings_run::EmbeddingsRun;
use super::openai_run::OpenAiRun;
use super::rag_run::RagRun;
use super::runner::Workload;
use super::s3_run::S3Run;
use crate::api::workload::WorkloadType;

/// Every workload this build can run, one line each.
pub static WORKLOADS: &[&dyn Workload] = &[&OpenAiRun, &S3Run, &ChromaRun, &EmbeddingsRun, &RagRun];

/// The workload that runs `kind`, if there is one.
pub fn find(kind: WorkloadType) -> Option<&'static dyn Workload> {
    WORKLOADS.iter().copied().find(|w| w.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_type_has_one_workload() {
        for kind in [
            WorkloadType::OpenAi,
            WorkloadType::S3,
            WorkloadType::Chroma,
            WorkloadType::Embeddings,
            WorkloadType::Rag,
        ] {
            assert_eq!(find(kind).map(Workload::kind), Some(kind));
            assert_eq!(WORKLOADS.iter().filter(|w| w.kind() == kind).count(), 1);
        }
    }

    #[test]
    fn validation_and_runners_agree_on_stop_at_saturation() {
        for w in WORKLOADS {
            assert_eq!(
                w.stops_at_saturation(),
                w.kind().stops_at_saturation(),
                "{} workload",
                w.kind()
            );
        }
    }
}
