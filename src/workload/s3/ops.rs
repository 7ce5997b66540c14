//! The S3 operations, each timed to first and last byte: put, multipart
//! put, get (content and checksum verified), stat, delete, list, and the
//! dispatch of a drawn operation.

use std::sync::atomic::Ordering;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use super::sdk::classify;
use super::{Checksum, Obj, OpResult, S3Executor, data_loss, failure, short};
use crate::api::workload::S3Operation;
use crate::workload::record::{ErrorClass, Failure};

impl S3Executor {
    /// PUT of `obj`; adds it to the pool once acknowledged.
    pub(super) async fn put_object(&self, obj: Obj, body: Bytes) -> Result<Instant, Failure> {
        let r = self
            .client
            .put_object()
            .bucket(&self.w.bucket)
            .key(self.key(obj.id))
            .content_length(i64::try_from(obj.size).unwrap_or(i64::MAX))
            .body(ByteStream::from(body))
            .send()
            .await;
        let t = Instant::now();
        r.map_err(|e| classify(&e))?;
        self.give_back(obj);
        Ok(t)
    }

    async fn multipart_put(&self, obj: Obj, body: Bytes) -> Result<Instant, Failure> {
        let key = self.key(obj.id);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let first = Instant::now();
        let upload_id = created
            .upload_id()
            .ok_or_else(|| failure(ErrorClass::InvalidPayload, "no upload id"))?
            .to_string();
        let part_size = usize::try_from(self.w.part_size.get().max(1)).unwrap_or(usize::MAX);
        let mut parts = Vec::new();
        let mut offset = 0usize;
        let mut number = 1i32;
        let result: Result<(), Failure> = async {
            loop {
                let end = (offset + part_size).min(body.len());
                let r = self
                    .client
                    .upload_part()
                    .bucket(&self.w.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body.slice(offset..end)))
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(r.e_tag().map(str::to_string))
                        .build(),
                );
                offset = end;
                number += 1;
                if offset >= body.len() {
                    break;
                }
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.w.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(&e))?;
            Ok(())
        }
        .await;
        if let Err(f) = result {
            // Best effort: do not leave the parts behind.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.w.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(f);
        }
        self.give_back(obj);
        Ok(first)
    }

    async fn get(&self, obj: Obj) -> Result<(Instant, u64), Failure> {
        let key = self.key(obj.id);
        let resp = match self
            .client
            .get_object()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let f = classify(&e);
                if f.class == ErrorClass::Http(404) {
                    return Err(self.lost(format!("object {key} was written but GET says 404")));
                }
                self.give_back(obj);
                return Err(f);
            }
        };
        let first = Instant::now();
        let mut body = resp.body;
        let mut sum = Checksum::default();
        let mut n = 0u64;
        loop {
            match body.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    n += chunk.len() as u64;
                    sum.update(&chunk);
                }
                Some(Err(e)) => {
                    self.give_back(obj);
                    return Err(failure(
                        ErrorClass::Stream,
                        short(&format!("body of {key} broke after {n} bytes: {e}")),
                    ));
                }
            }
        }
        if n != obj.size || sum.finish() != obj.checksum {
            return Err(self.lost(format!(
                "object {key}: read {n} bytes (expected {}), checksum mismatch",
                obj.size
            )));
        }
        self.give_back(obj);
        Ok((first, n))
    }

    async fn stat(&self, obj: Obj) -> Result<Instant, Failure> {
        let key = self.key(obj.id);
        match self
            .client
            .head_object()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(r) => {
                let t = Instant::now();
                let len = r.content_length().and_then(|l| u64::try_from(l).ok());
                if len != Some(obj.size) {
                    return Err(self.lost(format!(
                        "object {key}: HEAD says {len:?} bytes, expected {}",
                        obj.size
                    )));
                }
                self.give_back(obj);
                Ok(t)
            }
            Err(e) => {
                let f = classify(&e);
                if f.class == ErrorClass::Http(404) {
                    return Err(self.lost(format!("object {key} was written but HEAD says 404")));
                }
                self.give_back(obj);
                Err(f)
            }
        }
    }

    /// A delete whose outcome is unknown (failed) leaves the object out of
    /// the pool: it may or may not exist, so it must not be verified later.
    async fn delete(&self, obj: Obj) -> Result<Instant, Failure> {
        self.client
            .delete_object()
            .bucket(&self.w.bucket)
            .key(self.key(obj.id))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(Instant::now())
    }

    async fn list(&self) -> Result<Instant, Failure> {
        let prefix = format!("{}/{}/", self.w.key_prefix, self.instance);
        let max = i32::try_from(self.w.list_max_keys).unwrap_or(i32::MAX);
        self.client
            .list_objects_v2()
            .bucket(&self.w.bucket)
            .prefix(prefix)
            .max_keys(max)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(Instant::now())
    }

    fn lost(&self, message: String) -> Failure {
        self.data_loss.fetch_add(1, Ordering::Relaxed);
        tracing::error!(message = %message, "data loss");
        data_loss(message)
    }

    /// Runs the drawn operation (a get, stat or delete with no object to
    /// work on becomes a put).
    pub(super) async fn run_op(
        &self,
        op: S3Operation,
        rng: &mut SmallRng,
    ) -> Result<OpResult, Failure> {
        let needs_obj = matches!(
            op,
            S3Operation::Get | S3Operation::Stat | S3Operation::Delete
        );
        let obj = if needs_obj { self.take(rng) } else { None };
        let op = if needs_obj && obj.is_none() {
            S3Operation::Put
        } else {
            op
        };
        match (op, obj) {
            (S3Operation::Get, Some(o)) => {
                let (first, n) = self.get(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: first,
                    end: Instant::now(),
                    bytes: n,
                })
            }
            (S3Operation::Stat, Some(o)) => {
                let t = self.stat(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::Delete, Some(o)) => {
                let t = self.delete(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::List, _) => {
                let t = self.list().await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::MultipartPut, _) => {
                let (obj, body) = self.new_object();
                let size = obj.size;
                let first = self.multipart_put(obj, body).await?;
                Ok(OpResult {
                    op,
                    first_byte: first,
                    end: Instant::now(),
                    bytes: size,
                })
            }
            _ => {
                let (obj, body) = self.new_object();
                let size = obj.size;
                let t = self.put_object(obj, body).await?;
                Ok(OpResult {
                    op: S3Operation::Put,
                    first_byte: t,
                    end: t,
                    bytes: size,
                })
            }
        }
    }
}
