//! `-o jsonpath=TEMPLATE`, as kubectl reads it: text, `{EXPR}` (a JSONPath expression, `$`
//! optional), `{range EXPR}...{end}` and `{"text"}` literals, applied to the same document
//! `-o json` prints. The expressions are RFC 9535 JSONPath evaluated by jsonpath-rust (already
//! kube's); only the template around them is read here.

use jsonpath_rust::JsonPath;
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Node>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Query(String),
    Range(String, Vec<Node>),
}

impl Template {
    /// Read a template; the error says what is wrong with it (for a usage error naming -o).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut frames: Vec<(Option<String>, Vec<Node>)> = vec![(None, Vec::new())];
        let mut text_run = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if c != '{' {
                text_run.push(c);
                continue;
            }
            let mut quote: Option<char> = None;
            let mut end = None;
            for (i, c) in chars.by_ref() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '}') => {
                        end = Some(i);
                        break;
                    }
                    (None, _) => {}
                }
            }
            let end = end.ok_or_else(|| format!("the `{{` at character {} is never closed", start + 1))?;
            let action = text[start + 1..end].trim();
            let frame = &mut frames.last_mut().expect("the top frame is never popped").1;
            if !text_run.is_empty() {
                frame.push(Node::Text(std::mem::take(&mut text_run)));
            }
            if let Some(expr) = action.strip_prefix("range ") {
                let expr = expr.trim();
                check(expr)?;
                frames.push((Some(expr.to_string()), Vec::new()));
            } else if action == "end" {
                let (Some(expr), body) = frames.pop().expect("at least the top frame") else {
                    return Err("{end} without a {range ...} before it".into());
                };
                frames
                    .last_mut()
                    .expect("a range sits inside a frame")
                    .1
                    .push(Node::Range(expr, body));
            } else if action.starts_with('"') {
                let literal: String =
                    serde_json::from_str(action).map_err(|_| format!("{{{action}}} is not a quoted string"))?;
                frame.push(Node::Text(literal));
            } else if action.is_empty() {
                return Err("an empty {} holds no expression".into());
            } else {
                check(action)?;
                frame.push(Node::Query(action.to_string()));
            }
        }
        if frames.len() > 1 {
            return Err("a {range ...} has no {end}".into());
        }
        let mut nodes = frames.pop().expect("the top frame").1;
        if !text_run.is_empty() {
            nodes.push(Node::Text(text_run));
        }
        Ok(Template(nodes))
    }

    /// The template applied to `document`. A path that matches nothing prints nothing (as
    /// kubectl's `-o jsonpath` does).
    pub fn render(&self, document: &Value) -> String {
        let mut out = String::new();
        render_nodes(&self.0, document, document, &mut out);
        out
    }
}

/// kubectl's expressions start at the current object with or without `$`/`@`; RFC 9535 wants
/// `$` first. `$` is the document itself, `@` and a bare path the object a range is at.
fn rfc_query(expr: &str) -> (bool, String) {
    if expr.starts_with('$') {
        (true, expr.to_string())
    } else if let Some(rest) = expr.strip_prefix('@') {
        (false, format!("${rest}"))
    } else if expr.starts_with('.') || expr.starts_with('[') {
        (false, format!("${expr}"))
    } else {
        (false, format!("$.{expr}"))
    }
}

fn check(expr: &str) -> Result<(), String> {
    Value::Null
        .query(&rfc_query(expr).1)
        .map(|_| ())
        .map_err(|e| format!("{{{expr}}} is not a JSONPath expression ({e})"))
}

fn evaluate<'a>(expr: &str, root: &'a Value, current: &'a Value) -> Vec<&'a Value> {
    let (from_root, query) = rfc_query(expr);
    let on = if from_root { root } else { current };
    on.query(&query).unwrap_or_default()
}

fn render_nodes(nodes: &[Node], root: &Value, current: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Query(expr) => {
                let shown: Vec<String> = evaluate(expr, root, current).into_iter().map(shown).collect();
                out.push_str(&shown.join(" "));
            }
            Node::Range(expr, body) => {
                let found = evaluate(expr, root, current);
                // `{range .items}` walks the list itself, `{range .items[*]}` its matches.
                let items: Vec<&Value> = match found.as_slice() {
                    [Value::Array(list)] => list.iter().collect(),
                    _ => found,
                };
                for item in items {
                    render_nodes(body, root, item, out);
                }
            }
        }
    }
}

/// What one expression (a bare path is relative to `item`) finds in `item`, each as text.
pub fn values(expr: &str, item: &Value) -> Vec<String> {
    evaluate(expr, item, item).into_iter().map(shown).collect()
}

/// A string as itself, anything else as compact JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "kind": "SecretList",
            "secrets": [
                {"name": "app", "namespace": "shop", "keys": ["A", "B"], "consumers": 2},
                {"name": "db", "namespace": "shop", "keys": ["P"], "consumers": 0}
            ]
        })
    }

    fn rendered(template: &str) -> String {
        Template::parse(template).unwrap().render(&document())
    }

    #[test]
    fn templates_read_as_kubectl_reads_them() {
        assert_eq!(rendered("{.kind}"), "SecretList");
        assert_eq!(rendered("{$.kind}"), "SecretList");
        assert_eq!(rendered("kind is {.kind}"), "kind is SecretList");
        assert_eq!(rendered("{.secrets[*].name}"), "app db");
        assert_eq!(rendered("{.secrets[0].keys}"), r#"["A","B"]"#);
        assert_eq!(
            rendered(r#"{range .secrets[*]}{.name}{"\t"}{.consumers}{"\n"}{end}"#),
            "app\t2\ndb\t0\n"
        );
        assert_eq!(rendered("{range .secrets}{@.name},{end}"), "app,db,");
        assert_eq!(rendered(r#"{.secrets[?(@.consumers==0)].name}"#), "db");
        assert_eq!(
            rendered("{range .secrets[*]}{$.kind}/{.name} {end}"),
            "SecretList/app SecretList/db "
        );
        assert_eq!(rendered("{.missing}"), "", "nothing found prints nothing");
        // A union lists each name's matches in turn, as kubectl's own example shows.
        assert_eq!(rendered("{.secrets[*]['name', 'consumers']}"), "app db 2 0");
        assert_eq!(
            rendered(r#"{.secrets[?(@.name=="}")].name}"#),
            "",
            "a brace inside quotes"
        );
    }

    #[test]
    fn a_broken_template_says_what_is_wrong() {
        assert!(Template::parse("{.kind").unwrap_err().contains("never closed"));
        assert!(Template::parse("{range .secrets[*]}{.name}")
            .unwrap_err()
            .contains("no {end}"));
        assert!(Template::parse("{.name}{end}")
            .unwrap_err()
            .contains("without a {range"));
        assert!(Template::parse("{.secrets[?(}")
            .unwrap_err()
            .contains("not a JSONPath expression"));
        assert!(Template::parse("{}").unwrap_err().contains("empty"));
    }
}
