//! The fake's routes: creating and patching posts (with the checks the real server and its click
//! route make on buttons), direct channels and users.

use super::{Answer, Inner, MAX_MESSAGE_CHARS, Post, app_error, is_id, pair};
use axum::http::StatusCode;
use serde_json::{Value, json};

fn bad(id: &str, message: impl Into<String>) -> Answer {
    app_error(400, id, &message.into())
}

/// Checks `props` as the server and the click route would: attachments with actions whose ids
/// match `[A-Za-z0-9]+`, are unique, and carry string-only contexts.
pub fn check_props(props: &Value) -> Result<(), String> {
    let obj = props.as_object().ok_or("props must be a JSON object")?;
    let Some(atts) = obj.get("attachments") else {
        return Ok(());
    };
    let atts = atts.as_array().ok_or("attachments must be an array")?;
    let mut ids = Vec::new();
    for att in atts {
        let Some(actions) = att.get("actions") else {
            continue;
        };
        for a in actions.as_array().ok_or("actions must be an array")? {
            let id = a["id"].as_str().unwrap_or("");
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("action id `{id}` does not match [A-Za-z0-9]+"));
            }
            if ids.contains(&id) {
                return Err(format!("action id `{id}` is not unique in the post"));
            }
            ids.push(id);
            if a["integration"]["url"].as_str().is_none_or(str::is_empty) {
                return Err(format!("action `{id}` has no integration.url"));
            }
            if let Some(ctx) = a["integration"].get("context") {
                let ctx = ctx.as_object().ok_or("context must be an object")?;
                if let Some((k, _)) = ctx.iter().find(|(_, v)| !v.is_string()) {
                    return Err(format!("context value `{k}` of `{id}` is not a string"));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn create_post(inner: &mut Inner, body: Option<&Value>) -> Answer {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return bad(
            "api.context.invalid_body_param.app_error",
            "post is not a JSON object",
        );
    };
    let channel = body["channel_id"].as_str().unwrap_or("");
    if !is_id(channel) {
        return bad(
            "api.context.invalid_url_param.app_error",
            "Invalid channel_id parameter.",
        );
    }
    if inner.forbidden_channels.iter().any(|c| c == channel) {
        return app_error(
            403,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
        );
    }
    let message = body["message"].as_str().unwrap_or("").to_string();
    let props = body.get("props").cloned().unwrap_or_else(|| json!({}));
    if let Err(why) = check_props(&props) {
        return bad("model.post.is_valid.props.app_error", why);
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return bad(
            "model.post.is_valid.msg.app_error",
            "Invalid message length.",
        );
    }
    if message.is_empty() && props.get("attachments").is_none() {
        return bad("api.post.create_post.empty.app_error", "Post is empty.");
    }
    let post = Post {
        id: inner.new_id('p'),
        channel_id: channel.to_string(),
        user_id: inner.bot_user_id.clone(),
        message,
        props,
        edits: 0,
    };
    let answer = post_json(&post);
    inner.posts.push(post);
    (StatusCode::CREATED, answer)
}

pub(super) fn patch_post(inner: &mut Inner, id: &str, body: Option<&Value>) -> Answer {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return bad(
            "api.context.invalid_body_param.app_error",
            "patch is not a JSON object",
        );
    };
    if let Some(props) = body.get("props") {
        if let Err(why) = check_props(props) {
            return bad("model.post.is_valid.props.app_error", why);
        }
    }
    let Some(post) = inner.posts.iter_mut().find(|p| p.id == id) else {
        return app_error(404, "app.post.get.app_error", "Unable to get the post.");
    };
    if let Some(message) = body.get("message").and_then(Value::as_str) {
        post.message = message.to_string();
    }
    if let Some(props) = body.get("props") {
        // The whole map is replaced, not merged: what is not sent is gone.
        post.props = props.clone();
    }
    post.edits += 1;
    (StatusCode::OK, post_json(post))
}

fn post_json(post: &Post) -> Value {
    json!({
        "id": post.id, "create_at": 1_700_000_000_000_i64, "update_at": 1_700_000_000_000_i64,
        "user_id": post.user_id, "channel_id": post.channel_id, "message": post.message,
        "props": post.props,
    })
}

pub(super) fn direct(inner: &mut Inner, body: Option<&Value>) -> Answer {
    let ids: Vec<&str> = body
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ids.len() != 2 || ids.iter().any(|id| !inner.users.contains_key(*id)) {
        return bad(
            "api.channel.create_direct_channel.invalid_user.app_error",
            "Invalid user ID for direct channel creation.",
        );
    }
    let key = pair(ids[0], ids[1]);
    let id = match inner.direct.get(&key) {
        Some(id) => id.clone(),
        None => {
            let id = inner.new_id('d');
            inner.direct.insert(key.clone(), id.clone());
            id
        }
    };
    let name = format!("{}__{}", key.0, key.1);
    (
        StatusCode::CREATED,
        json!({"id": id, "type": "D", "name": name}),
    )
}

pub(super) fn get_user(inner: &Inner, id: &str) -> Answer {
    match inner.users.get(id) {
        Some(u) => (StatusCode::OK, u.clone()),
        None => app_error(
            404,
            "app.user.missing_account.const",
            "Unable to find the user.",
        ),
    }
}
