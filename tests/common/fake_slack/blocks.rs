//! A minimal Block Kit check: the limits jitpe's cards can run into, as the Slack reference
//! states them. Real Slack answers `invalid_blocks` when one is broken; so does the fake.

use serde_json::Value;
use std::collections::HashSet;

/// The first broken rule in `blocks`, if any, as a sentence for `response_metadata`.
pub fn check_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = blocks.as_array().ok_or("blocks must be an array")?;
    if blocks.len() > 50 {
        return Err(format!("{} blocks; at most 50", blocks.len()));
    }
    let mut block_ids = HashSet::new();
    for block in blocks {
        if let Some(id) = block.get("block_id") {
            let id = id.as_str().ok_or("block_id must be a string")?;
            within("block_id", id, 255)?;
            if !block_ids.insert(id) {
                return Err(format!("block_id {id} is used twice"));
            }
        }
        match block.get("type").and_then(Value::as_str) {
            Some("section") => check_section(block)?,
            Some("actions") => check_actions(block)?,
            Some("context" | "divider" | "header") => {}
            other => return Err(format!("unsupported block type {other:?}")),
        }
    }
    Ok(())
}

fn check_section(block: &Value) -> Result<(), String> {
    let text = block.get("text");
    let fields = block.get("fields").and_then(Value::as_array);
    if text.is_none() && fields.is_none() {
        return Err("a section needs text or fields".into());
    }
    if let Some(t) = text {
        text_object("section text", t, 3000)?;
    }
    let fields = fields.map_or(&[][..], Vec::as_slice);
    if fields.len() > 10 {
        return Err("a section has at most 10 fields".into());
    }
    for f in fields {
        text_object("section field", f, 2000)?;
    }
    Ok(())
}

fn check_actions(block: &Value) -> Result<(), String> {
    let elements = block
        .get("elements")
        .and_then(Value::as_array)
        .ok_or("an actions block needs elements")?;
    if elements.is_empty() || elements.len() > 25 {
        return Err("an actions block has 1 to 25 elements".into());
    }
    let mut action_ids = HashSet::new();
    for e in elements {
        if e.get("type").and_then(Value::as_str) != Some("button") {
            return Err("only buttons are checked by this fake".into());
        }
        let id = e.get("action_id").and_then(Value::as_str).unwrap_or("");
        within("action_id", id, 255)?;
        if !id.is_empty() && !action_ids.insert(id) {
            return Err(format!("action_id {id} is used twice in one block"));
        }
        plain_text("button text", &e["text"], 75)?;
        if let Some(v) = e.get("value") {
            within(
                "button value",
                v.as_str().ok_or("value must be a string")?,
                2000,
            )?;
        }
        if let Some(s) = e.get("style") {
            if !matches!(s.as_str(), Some("primary" | "danger")) {
                return Err(format!("button style {s} is not primary or danger"));
            }
        }
        if let Some(c) = e.get("confirm") {
            plain_text("confirm title", &c["title"], 100)?;
            text_object("confirm text", &c["text"], 300)?;
            plain_text("confirm confirm", &c["confirm"], 30)?;
            plain_text("confirm deny", &c["deny"], 30)?;
        }
    }
    Ok(())
}

fn text_object(what: &str, t: &Value, max: usize) -> Result<(), String> {
    match t.get("type").and_then(Value::as_str) {
        Some("mrkdwn" | "plain_text") => {}
        other => return Err(format!("{what} has text type {other:?}")),
    }
    let s = t
        .get("text")
        .and_then(Value::as_str)
        .ok_or(format!("{what} has no text"))?;
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    within(what, s, max)
}

fn plain_text(what: &str, t: &Value, max: usize) -> Result<(), String> {
    if t.get("type").and_then(Value::as_str) != Some("plain_text") {
        return Err(format!("{what} must be plain_text"));
    }
    text_object(what, t, max)
}

fn within(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n > max {
        return Err(format!("{what} has {n} characters; at most {max}"));
    }
    Ok(())
}
