//! The pure parts of the S3 workload's objects: contents derived from
//! `(seed, object number)`, their checksums, sizes drawn from the size
//! distribution, and keys spread over prefixes.

use crate::api::workload::{SizeDistribution, SizeDistributionKind};

/// SplitMix64: a tiny, fast, well-mixed generator for object contents.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The content of object `object` (`size` bytes) under `seed`.
pub fn object_content(seed: u64, object: u64, size: u64) -> Vec<u8> {
    let len = usize::try_from(size).unwrap_or(usize::MAX);
    let mut state = seed ^ object.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut out = Vec::with_capacity(len);
    while out.len() + 8 <= len {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let rest = len - out.len();
    out.extend_from_slice(&splitmix64(&mut state).to_le_bytes()[..rest]);
    out
}

/// A streaming 64-bit checksum (not cryptographic: it detects corruption,
/// truncation and mix-ups, not forgery). Chunk boundaries do not matter.
#[derive(Clone, Debug, Default)]
pub struct Checksum {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl Checksum {
    fn mix(&mut self, word: u64) {
        self.h = (self.h ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.h ^= self.h >> 29;
    }

    /// Adds `bytes`.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            let word = u64::from_le_bytes(self.tail);
            self.mix(word);
            self.tail_len = 0;
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The checksum of everything added.
    pub fn finish(mut self) -> u64 {
        if self.tail_len > 0 {
            let mut w = [0u8; 8];
            w[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            self.mix(u64::from_le_bytes(w));
        }
        let len = self.len;
        self.mix(len);
        self.h
    }

    /// Checksum of one buffer.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut c = Self::default();
        c.update(bytes);
        c.finish()
    }
}

/// The size of object `object`: drawn from `dist` with a generator seeded
/// by `(seed, object)`, so it is reproducible.
pub fn object_size(dist: &SizeDistribution, seed: u64, object: u64) -> u64 {
    let mut state = seed ^ object.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5151;
    let u = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    let (min, max) = (dist.min.get().max(1), dist.max.get().max(1));
    match dist.distribution {
        SizeDistributionKind::Fixed => dist.size.get(),
        SizeDistributionKind::Uniform => {
            let span = max.saturating_sub(min) as f64 + 1.0;
            (min + (u * span) as u64).min(max)
        }
        SizeDistributionKind::LogUniform => {
            let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
            ((lo + u * (hi - lo)).exp().round() as u64).clamp(min, max)
        }
    }
}

/// The key of object `object` of instance `instance`.
pub fn object_key(prefix: &str, instance: &str, prefixes: u32, object: u64) -> String {
    let sub = object % u64::from(prefixes.max(1));
    format!("{prefix}/{instance}/{sub:04}/obj-{object:010}")
}
