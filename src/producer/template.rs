//! Body templates for repeated sends: `{{seq}}`, `{{uuid}}`, `{{now}}`, `{{rand_int(a,b)}}` and
//! `{{rand_choice(a|b|c)}}`. Parsed once, rendered per event; the load generator uses the same.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Seq,
    Uuid,
    Now,
    RandInt(i64, i64),
    RandChoice(Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("unknown placeholder `{{{{{0}}}}}` (known: seq, uuid, now, rand_int(a,b), rand_choice(a|b))")]
    Unknown(String),
    #[error("`rand_int({0})` needs two integers, the first not above the second")]
    BadRange(String),
    #[error("`rand_choice()` needs at least one choice")]
    NoChoices,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + start))?;
            parts.push(placeholder(after[..end].trim())?);
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Whether rendering can give different bodies (otherwise one render serves every event).
    #[must_use]
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The body of the event numbered `seq`.
    #[must_use]
    pub fn render(&self, seq: u64, rng: &mut fastrand::Rng) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
                Part::Uuid => {
                    let _ = write!(
                        out,
                        "{}",
                        uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes()).into_uuid()
                    );
                }
                Part::Now => out.push_str(
                    &time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                ),
                Part::RandInt(low, high) => {
                    let _ = write!(out, "{}", rng.i64(*low..=*high));
                }
                Part::RandChoice(choices) => {
                    out.push_str(&choices[rng.usize(..choices.len())]);
                }
            }
        }
        out
    }
}

fn placeholder(inner: &str) -> Result<Part, TemplateError> {
    Ok(match inner {
        "seq" => Part::Seq,
        "uuid" => Part::Uuid,
        "now" => Part::Now,
        _ => {
            if let Some(args) = call(inner, "rand_int") {
                let bad = || TemplateError::BadRange(args.to_string());
                let (low, high) = args.split_once(',').ok_or_else(bad)?;
                let low: i64 = low.trim().parse().map_err(|_| bad())?;
                let high: i64 = high.trim().parse().map_err(|_| bad())?;
                if low > high {
                    return Err(bad());
                }
                Part::RandInt(low, high)
            } else if let Some(args) = call(inner, "rand_choice") {
                let choices: Vec<String> = args
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
                if choices.is_empty() {
                    return Err(TemplateError::NoChoices);
                }
                Part::RandChoice(choices)
            } else {
                return Err(TemplateError::Unknown(inner.to_string()));
            }
        }
    })
}

/// `name(args)` → `args`.
fn call<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let t = Template::parse(r#"{"n": {{seq}}, "id": "{{uuid}}", "at": "{{now}}", "v": {{rand_int(5, 7)}}, "c": "{{rand_choice(a|b)}}"}"#)
            .expect("parses");
        assert!(!t.is_constant());
        let mut rng = fastrand::Rng::with_seed(7);
        for seq in 0..50 {
            let body: serde_json::Value =
                serde_json::from_str(&t.render(seq, &mut rng)).expect("JSON");
            assert_eq!(body["n"], seq);
            assert_eq!(body["id"].as_str().expect("id").len(), 36);
            assert!(body["at"].as_str().expect("at").ends_with('Z'));
            assert!((5..=7).contains(&body["v"].as_i64().expect("v")));
            assert!(["a", "b"].contains(&body["c"].as_str().expect("c")));
        }
    }

    #[test]
    fn plain_text_is_constant() {
        let t = Template::parse("hello { world }").expect("parses");
        assert!(t.is_constant());
        assert_eq!(t.render(3, &mut fastrand::Rng::new()), "hello { world }");
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(Template::parse("a {{seq"), Err(TemplateError::Unclosed(2)));
        assert_eq!(
            Template::parse("{{sequence}}"),
            Err(TemplateError::Unknown("sequence".into()))
        );
        assert_eq!(
            Template::parse("{{rand_int(9,1)}}"),
            Err(TemplateError::BadRange("9,1".into()))
        );
        assert_eq!(
            Template::parse("{{rand_int(x)}}"),
            Err(TemplateError::BadRange("x".into()))
        );
        assert_eq!(
            Template::parse("{{rand_choice()}}"),
            Err(TemplateError::NoChoices)
        );
    }
}
