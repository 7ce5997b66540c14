//! Multi-turn conversations for the OpenAI executor
//! (`workload.openai.conversation`): virtual users that each carry one
//! conversation's history across turns.
//!
//! A request checks out an idle conversation (the one its worker returned,
//! as the pool is last-in first-out) or starts the next script's when none
//! is idle, so a closed loop of `c` workers holds at most `c` conversations
//! at a time. Turn `k` is sent to `/v1/chat/completions` with every earlier
//! user message and the server's actual answers (collected from the stream
//! or the whole response); after the answer the worker waits the think time
//! before returning the conversation, so the wait never counts in a latency.
//! A failed turn ends its conversation (its history would be incomplete);
//! a finished one is followed by a new one.
//!
//! Each turn's latencies (`turn<k>.ttft`, `turn<k>.e2el`, from the send) and
//! its requests and token counts (`turns`) are kept apart, warm-up excluded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::WorkloadError;
use super::dataset_conversation::{self, Script};
use super::load::RequestContext;
use super::openai_body::entry_body;
use super::openai_labels::{LabelledLatencies, turn_label};
use super::prompt::{Entry, Prompt};
use super::record::{ErrorClass, Failure, Outcome};
use super::result::TurnStats;
use crate::api::workload::{ConversationSpec, OpenAiApi, OpenAiWorkload};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One conversation in progress: its script, the next turn, the history.
#[derive(Debug)]
pub struct Session {
    script: usize,
    next: usize,
    messages: Vec<Value>,
}

/// The conversations of one executor: scripts, idle sessions, per-turn stats.
#[derive(Debug)]
pub struct Conversations {
    scripts: Vec<Script>,
    next_script: AtomicUsize,
    idle: Mutex<Vec<Session>>,
    think: Duration,
    /// The request body without `messages` and `max_tokens`.
    template: Value,
    turns: Mutex<BTreeMap<u32, TurnStats>>,
}

impl Conversations {
    /// Conversations following `scripts` (cycled), with `think` between
    /// turns; `template` is the chat request body the turns fill in.
    pub fn new(scripts: Vec<Script>, think: Duration, template: Value) -> Self {
        Self {
            scripts,
            next_script: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            think,
            template,
            turns: Mutex::new(BTreeMap::new()),
        }
    }

    /// The conversations of `cfg` (`api: chat` only) for `model`: scripts
    /// from `spec` and the dataset (seeded), the request body of `cfg`.
    pub fn for_workload(
        cfg: &OpenAiWorkload,
        spec: &ConversationSpec,
        model: &str,
        seed: u64,
    ) -> Result<Self, WorkloadError> {
        if cfg.api != OpenAiApi::Chat {
            return Err(WorkloadError::InvalidConfig(
                "openai.conversation needs api: chat (the history is a message list)".to_string(),
            ));
        }
        let scripts =
            dataset_conversation::build(spec, cfg.dataset.as_ref(), cfg.max_tokens, seed)?;
        let empty = Entry {
            prompt: Prompt::Messages(Value::Array(Vec::new())),
            max_tokens: None,
        };
        let mut template = entry_body(cfg, model, &empty);
        if let Some(obj) = template.as_object_mut() {
            obj.remove("messages");
        }
        let think = spec.think_time.map(|d| d.get()).unwrap_or_default();
        Ok(Self::new(scripts, think, template))
    }

    /// An idle conversation, or the next script's from its first turn.
    pub fn checkout(&self) -> Session {
        if let Some(s) = lock(&self.idle).pop() {
            return s;
        }
        let n = self.scripts.len().max(1);
        Session {
            script: self.next_script.fetch_add(1, Ordering::Relaxed) % n,
            next: 0,
            messages: Vec::new(),
        }
    }

    /// Adds the session's next user message to its history; returns the
    /// turn number (from 1) and the request body.
    pub fn next_request(&self, s: &mut Session) -> Result<(u32, Bytes), Failure> {
        let turn = self
            .scripts
            .get(s.script)
            .and_then(|script| script.turns.get(s.next))
            .ok_or_else(|| Failure::new(ErrorClass::Other("conversation"), "no turn left"))?;
        s.messages
            .push(json!({"role": "user", "content": turn.text}));
        let mut body = self.template.clone();
        body["messages"] = Value::Array(s.messages.clone());
        body["max_tokens"] = json!(turn.max_tokens);
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Failure::new(ErrorClass::Other("request"), e.to_string()))?;
        Ok((
            u32::try_from(s.next + 1).unwrap_or(u32::MAX),
            Bytes::from(bytes),
        ))
    }

    /// Adds the server's answer to the history; the session back when the
    /// conversation has turns left, else `None`.
    pub fn answered(&self, mut s: Session, answer: String) -> Option<Session> {
        s.messages
            .push(json!({"role": "assistant", "content": answer}));
        s.next += 1;
        let left = self
            .scripts
            .get(s.script)
            .is_some_and(|script| s.next < script.turns.len());
        left.then_some(s)
    }

    /// Makes `s` available to the next request.
    pub fn checkin(&self, s: Session) {
        lock(&self.idle).push(s);
    }

    /// Counts a measured request of `turn`.
    fn count(&self, turn: u32, outcome: &Outcome) {
        let mut turns = lock(&self.turns);
        let t = turns.entry(turn).or_default();
        match outcome {
            Ok(s) => {
                t.requests += 1;
                t.input_tokens += s.input_tokens;
                t.output_tokens += s.output_tokens;
            }
            Err(_) => t.errors += 1,
        }
    }

    /// Measured requests by turn.
    pub fn turn_stats(&self) -> BTreeMap<u32, TurnStats> {
        lock(&self.turns).clone()
    }
}

/// What sends one turn's body and collects the answer's text: the OpenAI
/// executor (a test double in the tests).
pub trait TurnSender {
    /// Sends `body`, appending the answer's text to `answer`.
    fn send_turn(&self, body: Bytes, answer: &mut String) -> impl Future<Output = Outcome> + Send;
}

/// Sends the next turn of a conversation; see the module documentation.
pub async fn execute(
    ex: &impl TurnSender,
    conv: &Conversations,
    labelled: &LabelledLatencies,
    ctx: RequestContext,
) -> Outcome {
    let mut session = conv.checkout();
    let (turn, body) = conv.next_request(&mut session)?;
    let mut answer = String::new();
    let sent = Instant::now();
    let outcome = ex.send_turn(body, &mut answer).await;
    if !ctx.warmup {
        conv.count(turn, &outcome);
        if let Ok(success) = &outcome {
            labelled.record(&turn_label(turn), sent, success);
        }
    }
    if outcome.is_ok()
        && let Some(session) = conv.answered(session, answer)
    {
        if !conv.think.is_zero() {
            tokio::time::sleep(conv.think).await;
        }
        conv.checkin(session);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::dataset_conversation::UserTurn;
    use crate::workload::openai_stream::{append_delta, whole_answer};

    fn scripts() -> Vec<Script> {
        let turn = |t: &str| UserTurn {
            text: t.to_string(),
            max_tokens: 5,
        };
        vec![
            Script {
                turns: vec![turn("a1"), turn("a2")],
            },
            Script {
                turns: vec![turn("b1")],
            },
        ]
    }

    #[test]
    fn a_session_carries_its_history_and_ends_after_its_last_turn() {
        let c = Conversations::new(scripts(), Duration::ZERO, json!({"model": "m"}));
        let mut s = c.checkout();
        let (turn, body) = c.next_request(&mut s).unwrap();
        assert_eq!(turn, 1);
        let b: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(b["model"], "m");
        assert_eq!(b["max_tokens"], 5);
        assert_eq!(b["messages"], json!([{"role": "user", "content": "a1"}]));
        let s = c.answered(s, "A1".into()).unwrap();
        c.checkin(s);
        // The same conversation comes back for its second turn.
        let mut s = c.checkout();
        let (turn, body) = c.next_request(&mut s).unwrap();
        assert_eq!(turn, 2);
        let b: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": "a1"},
                {"role": "assistant", "content": "A1"},
                {"role": "user", "content": "a2"}
            ])
        );
        assert!(c.answered(s, "A2".into()).is_none());
        // None idle: the next script starts, then the first again.
        let mut s = c.checkout();
        let (_, body) = c.next_request(&mut s).unwrap();
        assert!(String::from_utf8_lossy(&body).contains("b1"));
        let mut s = c.checkout();
        let (turn, _) = c.next_request(&mut s).unwrap();
        assert_eq!(turn, 1);
    }

    #[test]
    fn answers_are_read_from_chunks_and_whole_responses() {
        let mut a = String::new();
        append_delta(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#, &mut a);
        append_delta(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#, &mut a);
        append_delta(r#"{"choices":[{"delta":{"content":"lo"}}]}"#, &mut a);
        append_delta("[DONE]", &mut a);
        assert_eq!(a, "Hello");
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"Hi!"}}]}"#;
        assert_eq!(whole_answer(body), "Hi!");
        assert_eq!(whole_answer(b"nope"), "");
    }
}
