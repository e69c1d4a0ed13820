//! The RWKV G1 chat prompt (spec §6.5): `System: …\n\nUser: …\n\nAssistant: …\n\nAssistant:`.

use crate::error::ApiError;

/// One chat message after its content was reduced to text.
pub struct ChatTurn {
    pub role: String,
    pub text: String,
}

/// Builds the prompt text. Texts are cleaned (`\r\n` to `\n`, runs of newlines to one, trimmed) so a
/// message can never contain the `\n\n` turn separator; earlier assistant turns lose their
/// `<think>…</think>` part. The prompt ends with `Assistant:` (the model writes the leading space).
pub fn format_chat(turns: &[ChatTurn]) -> Result<String, ApiError> {
    if turns.is_empty() {
        return Err(ApiError::bad_param("messages", "messages is empty: give at least one message"));
    }
    let mut parts = Vec::with_capacity(turns.len() + 1);
    for (i, t) in turns.iter().enumerate() {
        let label = match t.role.as_str() {
            "system" | "developer" => "System",
            "user" => "User",
            "assistant" => "Assistant",
            other => {
                return Err(ApiError::bad_param(
                    &format!("messages[{i}].role"),
                    format!("messages[{i}].role is '{other}', expected system, developer, user or assistant"),
                ))
            }
        };
        let text = if label == "Assistant" { clean(&strip_think(&t.text)) } else { clean(&t.text) };
        if text.is_empty() && label != "Assistant" {
            return Err(ApiError::bad_param(
                &format!("messages[{i}].content"),
                format!("messages[{i}].content is empty"),
            ));
        }
        parts.push(if text.is_empty() { format!("{label}:") } else { format!("{label}: {text}") });
    }
    parts.push("Assistant:".to_string());
    Ok(parts.join("\n\n"))
}

fn clean(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let mut last_newline = false;
    for c in text.chars() {
        if c == '\n' && last_newline {
            continue;
        }
        last_newline = c == '\n';
        out.push(c);
    }
    out.trim().to_string()
}

/// The text after the last `</think>` (the whole text when there is none).
fn strip_think(text: &str) -> String {
    match text.rfind("</think>") {
        Some(i) => text[i + "</think>".len()..].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: &str, text: &str) -> ChatTurn {
        ChatTurn { role: role.into(), text: text.into() }
    }

    #[test]
    fn formats_single_multi_and_system_turns() {
        assert_eq!(format_chat(&[turn("user", "Hi")]).unwrap(), "User: Hi\n\nAssistant:");
        let t = [turn("system", "Be brief."), turn("user", "a\r\n\r\n\nb "), turn("assistant", "<think>hm</think> ok"), turn("user", "c")];
        assert_eq!(format_chat(&t).unwrap(), "System: Be brief.\n\nUser: a\nb\n\nAssistant: ok\n\nUser: c\n\nAssistant:");
    }

    #[test]
    fn rejects_empty_and_unknown() {
        assert!(format_chat(&[]).is_err());
        assert!(format_chat(&[turn("user", " \n ")]).unwrap_err().to_string().contains("messages[0].content is empty"));
        assert!(format_chat(&[turn("tool", "x")]).unwrap_err().to_string().contains("'tool'"));
    }
}
