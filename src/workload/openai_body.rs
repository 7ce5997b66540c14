//! The JSON body of an OpenAI-compatible request: the configured single
//! prompt ([`request_body`]) or one dataset entry ([`entry_body`]), for
//! `/v1/completions` or `/v1/chat/completions`, streamed with usage or not.
//! Pure; a leaf used by the executor and the conversations.

use serde_json::{Value, json};

use super::prompt::{Entry, Prompt};
use crate::api::workload::{OpenAiApi, OpenAiWorkload};

/// The JSON body of a request with the configured prompt and `maxTokens`.
pub fn request_body(cfg: &OpenAiWorkload, model: &str) -> Value {
    let entry = Entry {
        prompt: Prompt::Text(cfg.prompt.clone()),
        max_tokens: Some(cfg.max_tokens),
    };
    entry_body(cfg, model, &entry)
}

/// The JSON body of a request for one dataset entry.
pub fn entry_body(cfg: &OpenAiWorkload, model: &str, entry: &Entry) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": entry.max_tokens.unwrap_or(cfg.max_tokens),
        "stream": cfg.stream,
    });
    match (&entry.prompt, cfg.api) {
        (Prompt::Text(text), OpenAiApi::Completions) => body["prompt"] = json!(text),
        (Prompt::Text(text), OpenAiApi::Chat) => {
            body["messages"] = json!([{"role": "user", "content": text}]);
        }
        (Prompt::Messages(messages), OpenAiApi::Chat) => body["messages"] = messages.clone(),
        // A completions endpoint gets the messages' text, one per line.
        (Prompt::Messages(messages), OpenAiApi::Completions) => {
            let text: Vec<&str> = messages
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .collect();
            body["prompt"] = json!(text.join("\n"));
        }
    }
    if cfg.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(t) = cfg.temperature {
        body["temperature"] = json!(t);
    }
    if cfg.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    body
}
