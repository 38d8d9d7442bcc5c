//! Message templates: `{{name}}` and `{{name|fallback}}`.

use super::conditions::{Attributes, attribute_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Var {
        name: &'a str,
        fallback: Option<&'a str>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("'{{{{' at character {0} is never closed with '}}}}'")]
    Unclosed(usize),
    #[error("'{{{{{0}}}}}' does not name an attribute: names use a-z, 0-9 and _")]
    BadName(String),
}

pub fn parse(text: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(text.len() - rest.len() + open + 1))?;
        let inner = &after[..close];
        let (name, fallback) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(f)),
            None => (inner.trim(), None),
        };
        if !super::Key::is_valid(name) {
            return Err(TemplateError::BadName(inner.to_owned()));
        }
        parts.push(Part::Var { name, fallback });
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

/// The names a template reads.
pub fn variables(text: &str) -> Result<Vec<&str>, TemplateError> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Var { name, .. } => Some(name),
            Part::Text(_) => None,
        })
        .collect())
}

/// Render with the user's attributes: numbers as written in JSON, lists
/// joined by `, `, missing as empty unless a fallback is given.
pub fn render(text: &str, attrs: &Attributes) -> String {
    let Ok(parts) = parse(text) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Var { name, fallback } => match (attribute_text(attrs, name), fallback) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(f)) => out.push_str(f),
                (None, None) => {}
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_renders() {
        let attrs: Attributes = serde_json::from_value(
            json!({"nickname": "ゆき", "n": 3, "tags": ["a", "b"], "blank": ""}),
        )
        .unwrap();
        assert_eq!(
            render("はじめまして、{{nickname}}さん!", &attrs),
            "はじめまして、ゆきさん!"
        );
        assert_eq!(render("{{ n }} / {{tags}}", &attrs), "3 / a, b");
        assert_eq!(render("[{{missing}}]", &attrs), "[]");
        assert_eq!(render("{{missing|ゲスト}}さん", &attrs), "ゲストさん");
        assert_eq!(render("{{blank|ゲスト}}", &attrs), "ゲスト");
        assert_eq!(variables("{{a}} and {{b|x}}").unwrap(), vec!["a", "b"]);
        assert_eq!(render("no vars }}", &attrs), "no vars }}");
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(parse("hi {{name"), Err(TemplateError::Unclosed(4)));
        assert!(matches!(
            parse("{{Nick Name}}"),
            Err(TemplateError::BadName(_))
        ));
    }
}
