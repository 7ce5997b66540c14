//! The operation mix: draws put, get, stat, list, delete and multipart put
//! in proportion to their weights.

use rand::Rng as _;
use rand::rngs::SmallRng;

use crate::api::workload::{S3Operation, S3OperationWeight};

/// Draws operations in proportion to their weights.
#[derive(Clone, Debug)]
pub struct OpPicker {
    cumulative: Vec<(u64, S3Operation)>,
    total: u64,
}

impl OpPicker {
    /// A picker over `ops`; `None` when no weight is above 0.
    pub fn new(ops: &[S3OperationWeight]) -> Option<Self> {
        let mut total = 0u64;
        let mut cumulative = Vec::new();
        for o in ops.iter().filter(|o| o.weight > 0) {
            total += u64::from(o.weight);
            cumulative.push((total, o.op));
        }
        (total > 0).then_some(Self { cumulative, total })
    }

    /// The operation for a uniform draw `r` in `0..total`.
    pub fn pick_at(&self, r: u64) -> S3Operation {
        let r = r % self.total;
        self.cumulative
            .iter()
            .find(|(upto, _)| r < *upto)
            .map(|(_, op)| *op)
            .unwrap_or(S3Operation::Put)
    }

    /// Draws one with `rng`.
    pub fn pick(&self, rng: &mut SmallRng) -> S3Operation {
        self.pick_at(rng.random_range(0..self.total))
    }

    /// Whether any drawn operation needs existing objects.
    pub fn needs_objects(&self) -> bool {
        self.cumulative.iter().any(|(_, op)| {
            matches!(
                op,
                S3Operation::Get | S3Operation::Stat | S3Operation::Delete
            )
        })
    }
}
