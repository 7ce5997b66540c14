//! The RAG workload's data, pure: the corpus (synthetic documents of
//! common words, seeded, or the texts of a JSONL file), the S3 key of each
//! document, the questions (synthetic, each made of words of one seeded
//! document, or from a JSONL file) and the prompt that puts the fetched
//! documents before the question.

use std::path::Path;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use serde::Deserialize;

use super::WorkloadError;
use super::prompt::{sample_len, synthetic_prompt};
use crate::api::workload::RagCorpus;

/// Words of a document a synthetic question is made of.
const QUESTION_WORDS: usize = 8;

/// The S3 key of document `n` of instance `instance`:
/// `<prefix>/<instance>/doc-<n>.txt` (also its id in the collection).
pub fn document_key(prefix: &str, instance: &str, n: usize) -> String {
    format!("{}/{instance}/doc-{n:06}.txt", prefix.trim_end_matches('/'))
}

/// The documents of `corpus`: `documents` synthetic texts with lengths
/// drawn from `length` (seeded by `seed`), or the `text` of each line of
/// `path` (at most `documents`).
pub fn documents(corpus: &RagCorpus) -> Result<Vec<String>, WorkloadError> {
    let max = corpus.documents.max(1) as usize;
    if let Some(path) = &corpus.path {
        #[derive(Deserialize)]
        struct Doc {
            text: String,
        }
        let docs: Vec<String> = jsonl::<Doc>(path, "rag.corpus.path")?
            .into_iter()
            .map(|d| d.text)
            .take(max)
            .collect();
        if docs.is_empty() {
            return Err(WorkloadError::InvalidConfig(format!(
                "rag.corpus.path: {path} holds no documents"
            )));
        }
        return Ok(docs);
    }
    let dist = corpus.length_dist();
    let mut rng = SmallRng::seed_from_u64(corpus.seed);
    (0..max)
        .map(|_| {
            let len = sample_len(&dist, &mut rng)
                .map_err(|e| WorkloadError::InvalidConfig(format!("rag.corpus.length: {e}")))?;
            Ok(synthetic_prompt(len, &mut rng))
        })
        .collect()
}

/// `count` synthetic questions over `docs`: question `i` asks about the
/// first words of document `(i * 7919 + seed) mod docs`, so every document
/// is asked about and retrieval has something to find.
pub fn synthetic_questions(docs: &[String], count: usize, seed: u64) -> Vec<String> {
    let n = docs.len().max(1) as u64;
    (0..count as u64)
        .filter_map(|i| {
            let d = (i.wrapping_mul(7919).wrapping_add(seed) % n) as usize;
            let words: Vec<&str> = docs
                .get(d)?
                .split_whitespace()
                .take(QUESTION_WORDS)
                .collect();
            Some(format!(
                "What do the documents say about {}?",
                words.join(" ")
            ))
        })
        .collect()
}

/// The `question` of each line of `path`.
pub fn file_questions(path: &str) -> Result<Vec<String>, WorkloadError> {
    #[derive(Deserialize)]
    struct Q {
        question: String,
    }
    let qs: Vec<String> = jsonl::<Q>(path, "rag.questions.path")?
        .into_iter()
        .map(|q| q.question)
        .collect();
    if qs.is_empty() {
        return Err(WorkloadError::InvalidConfig(format!(
            "rag.questions.path: {path} holds no questions"
        )));
    }
    Ok(qs)
}

/// The non-empty lines of a JSONL file, each parsed as `T`; errors name
/// the file, the field and the line.
fn jsonl<T: for<'de> Deserialize<'de>>(path: &str, field: &str) -> Result<Vec<T>, WorkloadError> {
    let text = std::fs::read_to_string(Path::new(path)).map_err(|e| WorkloadError::ConfigFile {
        path: path.into(),
        reason: format!("{field}: {e}"),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l).map_err(|e| WorkloadError::ConfigFile {
                path: path.into(),
                reason: format!("{field}: line {}: {e}", k + 1),
            })
        })
        .collect()
}

/// The prompt of the generate hop: the fetched documents, numbered, then
/// the question.
pub fn prompt(question: &str, docs: &[String]) -> String {
    let mut p = String::from("Answer the question using only these documents.\n\n");
    for (k, d) in docs.iter().enumerate() {
        p.push_str(&format!("Document {}:\n{}\n\n", k + 1, d.trim()));
    }
    p.push_str(&format!("Question: {question}\nAnswer:"));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workload::{LengthDist, LengthDistType};

    fn corpus(n: u32, words: u32) -> RagCorpus {
        RagCorpus {
            documents: n,
            length: Some(LengthDist {
                kind: LengthDistType::Fixed,
                value: Some(words),
                ..LengthDist::default()
            }),
            seed: 5,
            path: None,
        }
    }

    #[test]
    fn synthetic_documents_are_seeded_and_of_set_length() {
        let a = documents(&corpus(4, 12)).unwrap();
        assert_eq!(a, documents(&corpus(4, 12)).unwrap());
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|d| d.split_whitespace().count() == 12));
        let mut other = corpus(4, 12);
        other.seed = 6;
        assert_ne!(a, documents(&other).unwrap());
        assert_eq!(
            document_key("rag/", "c-1", 7),
            "rag/c-1/doc-000007.txt".to_string()
        );
    }

    #[test]
    fn questions_ask_about_every_document_and_prompts_hold_the_documents() {
        let docs = documents(&corpus(3, 20)).unwrap();
        let qs = synthetic_questions(&docs, 6, 0);
        assert_eq!(qs.len(), 6);
        for (i, d) in docs.iter().enumerate() {
            let head: Vec<&str> = d.split_whitespace().take(QUESTION_WORDS).collect();
            assert!(
                qs.iter().any(|q| q.contains(&head.join(" "))),
                "no question about document {i}"
            );
        }
        let p = prompt(&qs[0], &docs[..2]);
        assert!(p.contains(&docs[0]) && p.contains(&docs[1]), "{p}");
        assert!(!p.contains(&docs[2]));
        assert!(p.ends_with("Answer:"));
        assert!(p.find("Document 2:").unwrap() < p.find("Question:").unwrap());
    }

    #[test]
    fn files_give_documents_and_questions_or_say_which_line_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs.jsonl");
        std::fs::write(
            &docs,
            "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n{\"text\": \"three\"}\n",
        )
        .unwrap();
        let c = RagCorpus {
            documents: 2,
            path: Some(docs.display().to_string()),
            ..RagCorpus::default()
        };
        assert_eq!(documents(&c).unwrap(), ["one", "two"]);
        let qs = dir.path().join("q.jsonl");
        std::fs::write(&qs, "{\"question\": \"why?\"}\n{\"nope\": 1}\n").unwrap();
        let e = file_questions(&qs.display().to_string()).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        std::fs::write(&qs, "{\"question\": \"why?\"}\n").unwrap();
        assert_eq!(file_questions(&qs.display().to_string()).unwrap(), ["why?"]);
    }
}
