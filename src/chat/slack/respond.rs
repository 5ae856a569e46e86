//! Ephemeral answers to a Slack click through the interaction's `response_url`.
//!
//! Only URLs under the configured prefix (`https://hooks.slack.com/` in production) are called,
//! so a forged-but-signed payload cannot make jitpe POST to an arbitrary host.

use crate::ports::ChatError;
use serde_json::json;
use std::time::Duration;

/// Posts ephemeral replies to `response_url`s.
#[derive(Clone, Debug)]
pub struct SlackResponder {
    client: reqwest::Client,
    allowed_prefix: String,
}

impl SlackResponder {
    /// A responder that only calls URLs starting with `allowed_prefix`.
    pub fn new(allowed_prefix: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            client,
            allowed_prefix: allowed_prefix.into(),
        }
    }

    /// Shows `text` to the clicking user only, leaving the card as it is.
    pub async fn ephemeral(&self, response_url: &str, text: &str) -> Result<(), ChatError> {
        if !response_url.starts_with(&self.allowed_prefix) {
            return Err(ChatError::Refused(format!(
                "response_url outside {}",
                self.allowed_prefix
            )));
        }
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let resp = self
            .client
            .post(response_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ChatError::Unavailable(e.without_url().to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(ChatError::Unavailable(format!(
                "response_url answered {}",
                resp.status()
            )))
        }
    }
}
