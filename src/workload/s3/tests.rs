//! The S3 workload's pure parts: deterministic contents and chunk-proof
//! checksums, the size distributions, the operation mix, the key layout.

use std::collections::BTreeMap;

use super::*;
use crate::api::bytesize::ByteSize;
use crate::api::workload::{S3OperationWeight, SizeDistribution, SizeDistributionKind};

#[test]
fn content_is_deterministic_and_checksums_ignore_chunking() {
    let a = object_content(7, 3, 1001);
    assert_eq!(a.len(), 1001);
    assert_eq!(a, object_content(7, 3, 1001));
    assert_ne!(a, object_content(7, 4, 1001));
    assert_ne!(a, object_content(8, 3, 1001));
    let whole = Checksum::of(&a);
    for split in [1, 3, 8, 9, 500] {
        let mut c = Checksum::default();
        for chunk in a.chunks(split) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), whole, "chunks of {split}");
    }
    let mut flipped = a.clone();
    flipped[500] ^= 1;
    assert_ne!(Checksum::of(&flipped), whole);
    assert_ne!(Checksum::of(&a[..1000]), whole);
    let mut zero_padded = a[..1000].to_vec();
    zero_padded.push(0);
    assert_ne!(Checksum::of(&zero_padded), Checksum::of(&a[..1000]));
}

#[test]
fn sizes_follow_the_distribution() {
    let fixed = SizeDistribution::default();
    assert_eq!(object_size(&fixed, 1, 2), 65536);
    let uni = SizeDistribution {
        distribution: SizeDistributionKind::Uniform,
        min: ByteSize(100),
        max: ByteSize(200),
        ..Default::default()
    };
    let sizes: Vec<u64> = (0..2000).map(|i| object_size(&uni, 9, i)).collect();
    assert!(sizes.iter().all(|s| (100..=200).contains(s)));
    let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64;
    assert!((mean - 150.0).abs() < 5.0, "{mean}");
    let log = SizeDistribution {
        distribution: SizeDistributionKind::LogUniform,
        min: ByteSize(1000),
        max: ByteSize(1_000_000),
        ..Default::default()
    };
    let small = (0..3000)
        .filter(|i| object_size(&log, 9, *i) < 31_623)
        .count();
    assert!((1300..1700).contains(&small), "{small}");
    assert_eq!(object_size(&uni, 9, 5), object_size(&uni, 9, 5));
}

#[test]
fn warp_mix_is_drawn_in_proportion() {
    let w = S3Workload {
        preset: Some(crate::api::workload::S3Preset::WarpMixed),
        ..Default::default()
    };
    let p = OpPicker::new(&w.effective_operations()).unwrap();
    assert!(p.needs_objects());
    let mut counts = BTreeMap::new();
    for r in 0..100 {
        *counts.entry(p.pick_at(r)).or_insert(0) += 1;
    }
    assert_eq!(counts[&S3Operation::Get], 45);
    assert_eq!(counts[&S3Operation::Stat], 30);
    assert_eq!(counts[&S3Operation::Put], 15);
    assert_eq!(counts[&S3Operation::Delete], 10);
    let put_only = OpPicker::new(&S3Workload::default().effective_operations()).unwrap();
    assert!(!put_only.needs_objects());
    assert!(
        OpPicker::new(&[S3OperationWeight {
            op: S3Operation::Get,
            weight: 0
        }])
        .is_none()
    );
}

#[test]
fn keys_spread_over_prefixes() {
    assert_eq!(object_key("p", "c-1", 1, 42), "p/c-1/0000/obj-0000000042");
    assert_eq!(object_key("p", "c-1", 4, 42), "p/c-1/0002/obj-0000000042");
}
