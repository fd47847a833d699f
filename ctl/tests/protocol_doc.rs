//! Keeps PROTOCOL.md honest: every example line parses with the protocol
//! types and says nothing they would drop, the error table matches
//! `ErrorCode`, and the example programs are the ones the document shows.

use std::path::Path;

use ser_ctl::protocol::{ErrorCode, Message, Request, RequestEnvelope, ServerEnvelope};
use serde_json::Value;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("PROTOCOL.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bodies of the fenced blocks tagged `lang`, with the line each starts on.
fn blocks(doc: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == format!("```{lang}") => {
                current = Some((i + 2, String::new()))
            }
            Some(_) if line.trim_end() == "```" => out.push(current.take().unwrap()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated ```{lang} block");
    out
}

/// Equal as JSON, numbers compared with f32 precision (probabilities are f32).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-6 * x.abs().max(1.0)
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

#[test]
fn every_example_line_parses_and_round_trips() {
    let doc = doc();
    let mut requests = Vec::new();
    let mut server = Vec::new();
    let mut refused: Option<(String, String, Option<u64>)> = None;
    for (start, body) in blocks(&doc, "jsonl") {
        for (n, line) in body.lines().enumerate() {
            let at = format!("PROTOCOL.md:{}", start + n);
            let original: Value = if let Some(json) = line.strip_prefix("-> ") {
                let env: RequestEnvelope = match serde_json::from_str(json) {
                    Ok(env) => env,
                    Err(e) => {
                        // Only allowed as the example of a refused request:
                        // the next line must be the error reply to it.
                        let orig: Value = serde_json::from_str(json)
                            .unwrap_or_else(|_| panic!("{at}: not JSON: {json}"));
                        refused = Some((at.clone(), e.to_string(), orig["id"].as_u64()));
                        continue;
                    }
                };
                assert!(env.id.is_some(), "{at}: examples always carry an id");
                let back = serde_json::to_value(&env).unwrap();
                let orig: Value = serde_json::from_str(json).unwrap();
                assert!(
                    same(&orig, &back),
                    "{at}: fields lost in a round trip:\n{orig}\n{back}"
                );
                requests.push(env.request);
                orig
            } else if let Some(json) = line.strip_prefix("<- ") {
                let env: ServerEnvelope = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("{at}: not a server line: {e}\n{json}"));
                if let Some((req_at, why, id)) = refused.take() {
                    assert!(
                        matches!(env.message, Message::Error(_)) && env.id == id,
                        "{req_at}: not a request ({why}), and not followed by its error reply"
                    );
                }
                let back = serde_json::to_value(&env).unwrap();
                let orig: Value = serde_json::from_str(json).unwrap();
                assert!(
                    same(&orig, &back),
                    "{at}: fields lost in a round trip:\n{orig}\n{back}"
                );
                server.push(env);
                orig
            } else {
                panic!("{at}: example lines start with `-> ` or `<- `: {line:?}");
            };
            assert!(original.is_object(), "{at}");
            assert!(line.len() < ser_ctl::protocol::MAX_LINE_BYTES);
        }
    }
    if let Some((at, why, _)) = refused {
        panic!("{at}: not a request: {why}");
    }
    // Every command and every event has an example, and every example's
    // command is one of the names the daemon accepts.
    for request in &requests {
        let tag = serde_json::to_value(request).unwrap()["cmd"].clone();
        assert_eq!(
            tag,
            request.name(),
            "Request::name disagrees with serde's tag"
        );
    }
    let names: std::collections::BTreeSet<_> = requests.iter().map(Request::name).collect();
    for name in &names {
        assert!(
            Request::NAMES.contains(name),
            "`{name}` is missing from Request::NAMES"
        );
    }
    for cmd in Request::NAMES {
        assert!(names.contains(cmd), "no example request for `{cmd}`");
        assert!(
            doc.contains(&format!("### `{cmd}`")),
            "no section for `{cmd}`"
        );
    }
    let has = |f: fn(&Message) -> bool| server.iter().any(|e| e.id.is_none() && f(&e.message));
    assert!(has(|m| matches!(m, Message::Hello(_))));
    assert!(has(|m| matches!(m, Message::Utterance(_))));
    assert!(has(|m| matches!(m, Message::Mood(_))));
    assert!(has(|m| matches!(m, Message::State(_))));
    assert!(has(|m| matches!(m, Message::Lagged(_))));
    // Probabilities in the examples sum to 1, as the document promises.
    for env in &server {
        let probs = match &env.message {
            Message::Utterance(u) => vec![u.probs],
            Message::Mood(m) => m.probs.into_iter().collect(),
            Message::Analysis(r) => r
                .probs
                .into_iter()
                .chain(r.segments.iter().map(|s| s.probs))
                .collect(),
            Message::History(h) => h.entries.iter().map(|u| u.probs).collect(),
            _ => vec![],
        };
        for p in probs {
            let sum: f32 = p.0.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "probs sum to {sum} in {env:?}");
        }
    }
}

#[test]
fn the_error_table_lists_exactly_the_error_codes() {
    let doc = doc();
    let section = doc
        .split("### Errors")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("an Errors section");
    let listed: Vec<ErrorCode> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let code = &l[..l.find('`').unwrap()];
            let parsed: ErrorCode = serde_json::from_value(Value::String(code.into())).unwrap();
            assert_ne!(parsed, ErrorCode::Unknown, "`{code}` is not an ErrorCode");
            assert_eq!(parsed.as_str(), code);
            parsed
        })
        .collect();
    for code in [
        ErrorCode::Malformed,
        ErrorCode::UnknownCommand,
        ErrorCode::InvalidArgument,
        ErrorCode::LineTooLong,
        ErrorCode::AnalysisFailed,
        ErrorCode::InvalidConfig,
        ErrorCode::ShuttingDown,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ] {
        assert!(listed.contains(&code), "{code} missing from the table");
    }
    assert_eq!(listed.len(), 9, "a code is listed twice");
}

#[test]
fn the_document_states_the_limits_in_code() {
    let doc = doc();
    assert!(doc.contains(&format!(
        "protocol **{}**",
        ser_ctl::protocol::PROTOCOL_VERSION
    )));
    assert!(doc.contains(&format!("**{} bytes**", ser_ctl::protocol::MAX_LINE_BYTES)));
    assert!(doc.contains(&format!(
        "clamped to\n  {}",
        ser_ctl::protocol::MAX_HISTORY_LIMIT
    )));
}

#[test]
fn the_example_programs_are_the_ones_shown() {
    let doc = doc();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (lang, file) in [("python", "subscribe.py"), ("sh", "subscribe.sh")] {
        let shown = blocks(&doc, lang);
        assert_eq!(shown.len(), 1, "one ```{lang} block");
        let program = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            program.ends_with(&shown[0].1),
            "examples/{file} differs from the ```{lang} block in PROTOCOL.md"
        );
    }
}

#[test]
fn the_readmes_show_the_same_programs_and_a_valid_report() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for readme_path in [dir.join("README.md"), dir.join("../README.md")] {
        let name = readme_path.display().to_string();
        let readme = std::fs::read_to_string(&readme_path).unwrap();
        for (lang, file) in [("python", "subscribe.py"), ("sh", "subscribe.sh")] {
            let program = std::fs::read_to_string(dir.join("examples").join(file)).unwrap();
            assert!(
                blocks(&readme, lang)
                    .iter()
                    .any(|(_, body)| body.contains("sock") && program.ends_with(body.as_str())),
                "{name}: no ```{lang} block equal to examples/{file}"
            );
        }
        let mut reports = 0;
        for (start, body) in blocks(&readme, "json") {
            for line in body.lines().filter(|l| l.starts_with(r#"{"path""#)) {
                let r: ser_ctl::protocol::FileReport = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{name}:{start}: not a FileReport: {e}"));
                let orig: Value = serde_json::from_str(line).unwrap();
                assert!(
                    same(&orig, &serde_json::to_value(&r).unwrap()),
                    "{name}:{start}"
                );
                reports += 1;
            }
        }
        assert!(reports > 0, "{name} shows no analyze --json report");
    }
}
