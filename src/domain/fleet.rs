//! Fleet mode's pure parts: which kubeconfig contexts the patterns select, and the combined
//! answer of one command across them (one entry per context, the worst exit code).

use serde::Serialize;

/// `--contexts PATTERN`: a glob (`prod-*`, `eu-?`, `[ab]-db`), or a regular expression between
/// slashes (`/^prod-(eu|us)$/`), as kubectl-foreach reads them. Matched against context names.
#[derive(Debug, Clone)]
pub enum ContextPattern {
    Glob {
        text: String,
        matcher: globset::GlobMatcher,
    },
    Regex {
        text: String,
        regex: regex::Regex,
    },
}

impl std::str::FromStr for ContextPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(inner) = text
            .strip_prefix('/')
            .and_then(|t| t.strip_suffix('/'))
            .filter(|t| !t.is_empty())
        {
            let regex =
                regex::Regex::new(inner).map_err(|e| format!("--contexts {text}: not a regular expression ({e})"))?;
            return Ok(ContextPattern::Regex {
                text: text.to_string(),
                regex,
            });
        }
        let glob = globset::Glob::new(text).map_err(|e| format!("--contexts {text}: not a glob ({e})"))?;
        Ok(ContextPattern::Glob {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }
}

impl ContextPattern {
    pub fn matches(&self, context: &str) -> bool {
        match self {
            ContextPattern::Glob { matcher, .. } => matcher.is_match(context),
            ContextPattern::Regex { regex, .. } => regex.is_match(context),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            ContextPattern::Glob { text, .. } | ContextPattern::Regex { text, .. } => text,
        }
    }
}

/// The contexts any pattern matches (all of them for `--all-contexts`), in the kubeconfig's
/// order, each once; an error naming the pattern that matches nothing.
pub fn select(contexts: &[String], patterns: &[ContextPattern], all: bool) -> Result<Vec<String>, String> {
    if all {
        return if contexts.is_empty() {
            Err("the kubeconfig has no context".into())
        } else {
            Ok(contexts.to_vec())
        };
    }
    if let Some(unmatched) = patterns.iter().find(|p| !contexts.iter().any(|c| p.matches(c))) {
        return Err(format!(
            "--contexts {} matches no context of the kubeconfig (its contexts: {})",
            unmatched.text(),
            contexts.join(", ")
        ));
    }
    Ok(contexts
        .iter()
        .filter(|c| patterns.iter().any(|p| p.matches(c)))
        .cloned()
        .collect())
}

/// One context's answer: its report, or the error that stopped it (never both).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetEntry<T> {
    pub context: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// What the command alone would have exited with for this context.
    pub exit_code: i32,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<T>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSummary {
    pub contexts: usize,
    pub answered: usize,
    pub failed: usize,
    /// The worst (highest) exit code of any context: the command's own.
    pub exit_code: i32,
}

/// `-o json|yaml` of a command across contexts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport<T> {
    /// verify, list, audit, diff or history.
    pub command: String,
    pub contexts: Vec<FleetEntry<T>>,
    pub summary: FleetSummary,
}

impl<T> FleetReport<T> {
    pub fn new(command: &str, contexts: Vec<FleetEntry<T>>) -> Self {
        let summary = FleetSummary {
            contexts: contexts.len(),
            answered: contexts.iter().filter(|e| e.error.is_none()).count(),
            failed: contexts.iter().filter(|e| e.error.is_some()).count(),
            exit_code: contexts.iter().map(|e| e.exit_code).max().unwrap_or(0),
        };
        FleetReport {
            command: command.to_string(),
            contexts,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn patterns(list: &[&str]) -> Vec<ContextPattern> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn globs_and_regexes_select_in_kubeconfig_order_once() {
        let contexts = names(&["prod-eu", "staging", "prod-us", "arn:aws:eks:eu-west-1:1:cluster/prod"]);
        assert_eq!(
            select(&contexts, &patterns(&["prod-*", "prod-eu"]), false).unwrap(),
            ["prod-eu", "prod-us"]
        );
        assert_eq!(
            select(&contexts, &patterns(&["/^prod-(eu|us)$/", "*cluster/prod"]), false).unwrap(),
            ["prod-eu", "prod-us", "arn:aws:eks:eu-west-1:1:cluster/prod"]
        );
        assert_eq!(select(&contexts, &[], true).unwrap().len(), 4);
        let err = select(&contexts, &patterns(&["prod-*", "dev-*"]), false).unwrap_err();
        assert!(
            err.contains("--contexts dev-* matches no context") && err.contains("staging"),
            "{err}"
        );
        assert!("/(/".parse::<ContextPattern>().is_err());
        assert!("[".parse::<ContextPattern>().is_err());
    }

    #[test]
    fn the_worst_exit_code_is_the_fleets() {
        let entry = |context: &str, exit_code: i32, error: Option<&str>| FleetEntry::<()> {
            context: context.into(),
            server: String::new(),
            exit_code,
            duration_ms: 1,
            error: error.map(str::to_string),
            report: None,
        };
        let report = FleetReport::new(
            "verify",
            vec![
                entry("a", 1, None),
                entry("b", 0, None),
                entry("c", 4, Some("unreachable")),
            ],
        );
        assert_eq!(
            report.summary,
            FleetSummary {
                contexts: 3,
                answered: 2,
                failed: 1,
                exit_code: 4
            }
        );
        assert_eq!(FleetReport::<()>::new("list", vec![]).summary.exit_code, 0);
    }
}
