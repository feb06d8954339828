//! `-l` checked before any request, with Kubernetes' label selector grammar: `key`, `!key`,
//! `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, joined by commas.
//! A typo is then a usage error naming `-l`, not an API error from whichever LIST went first.

/// Why `selector` is not a label selector, if it is not.
pub fn check(selector: &str) -> Result<(), String> {
    let usage = "use key=value, key!=value, key, !key, 'key in (a,b)' or 'key notin (a,b)', joined by commas";
    if selector.trim().is_empty() {
        return Err(format!("-l {selector:?}: empty; {usage}"));
    }
    for requirement in split_requirements(selector) {
        check_requirement(requirement.trim()).map_err(|why| format!("-l {selector:?}: {why}; {usage}"))?;
    }
    Ok(())
}

/// Commas inside `in (...)` belong to the set, not between requirements.
fn split_requirements(selector: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
}

fn check_requirement(requirement: &str) -> Result<(), String> {
    if requirement.is_empty() {
        return Err("an empty requirement (two commas, or one at an end)".into());
    }
    if let Some(key) = requirement.strip_prefix('!') {
        return check_key(key.trim());
    }
    for operator in ["!=", "==", "="] {
        if let Some((key, value)) = requirement.split_once(operator) {
            check_key(key.trim())?;
            return check_value(value.trim());
        }
    }
    let words: Vec<&str> = requirement.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words[..] {
        let rest = rest.trim_start();
        let set = rest
            .strip_prefix("notin")
            .or_else(|| rest.strip_prefix("in"))
            .ok_or_else(|| format!("{requirement:?}: expected an operator after {key:?}"))?
            .trim();
        check_key(key)?;
        let values = set
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("{requirement:?}: the values of in/notin go in parentheses"))?;
        return values.split(',').try_for_each(|v| check_value(v.trim()));
    }
    check_key(requirement)
}

/// `[prefix/]name`: the prefix a DNS subdomain, the name 1–63 characters of [A-Za-z0-9-_.]
/// starting and ending with a letter or digit.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let dns = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !dns {
            return Err(format!("{key:?}: the prefix before '/' is not a DNS name"));
        }
    }
    if name.is_empty() || !is_name(name) {
        return Err(format!("{key:?} is not a label key"));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn the_forms_kubectl_accepts_are_accepted() {
        for selector in [
            "app=backend",
            "app==backend,tier!=db",
            "team",
            "!legacy",
            "env in (prod, staging),app",
            "env notin (dev)",
            "app.kubernetes.io/name=web",
            "app=",
        ] {
            assert_eq!(check(selector), Ok(()), "{selector}");
        }
    }

    #[test]
    fn typos_are_refused_naming_the_flag() {
        for selector in [
            "",
            "app=back end",
            "app=,",
            "=backend",
            "env in prod",
            "env between (a)",
            "Bad_Prefix/x=y",
            "app=-x",
        ] {
            let error = check(selector).unwrap_err();
            assert!(error.starts_with("-l "), "{selector}: {error}");
        }
    }
}
