//! A rotation across clusters in waves: which clusters go together, in which order, and
//! whether the next wave may start.

/// Clusters rotated together, verified before the next wave starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub contexts: Vec<String>,
}

/// `--wave NAME=CTX[,CTX]` (repeatable, in order; the clusters no wave names form a last wave,
/// "rest"), or `--waves N` (the clusters in kubeconfig order split into N waves, the earlier
/// ones no larger than the later: a canary first), or one cluster per wave.
pub fn plan(contexts: &[String], named: &[String], count: Option<usize>) -> Result<Vec<Wave>, String> {
    if !named.is_empty() && count.is_some() {
        return Err("give --wave NAME=CONTEXTS or --waves N, not both".into());
    }
    if !named.is_empty() {
        let mut waves: Vec<Wave> = Vec::new();
        for spec in named {
            let (name, list) = spec
                .split_once('=')
                .filter(|(name, list)| !name.is_empty() && !list.is_empty())
                .ok_or_else(|| format!("--wave {spec:?}: use NAME=CONTEXT[,CONTEXT] (e.g. canary=prod-eu)"))?;
            let mut wave = Wave {
                name: name.to_string(),
                contexts: Vec::new(),
            };
            for context in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if !contexts.iter().any(|c| c == context) {
                    return Err(format!(
                        "--wave {name}: {context} is not one of the clusters selected ({})",
                        contexts.join(", ")
                    ));
                }
                if let Some(other) = waves.iter().find(|w| w.contexts.iter().any(|c| c == context)) {
                    return Err(format!("{context} is in two waves ({} and {name})", other.name));
                }
                wave.contexts.push(context.to_string());
            }
            if waves.iter().any(|w| w.name == name) {
                return Err(format!("two waves are named {name}"));
            }
            waves.push(wave);
        }
        let rest: Vec<String> = contexts
            .iter()
            .filter(|c| !waves.iter().any(|w| w.contexts.contains(c)))
            .cloned()
            .collect();
        if !rest.is_empty() {
            waves.push(Wave {
                name: "rest".into(),
                contexts: rest,
            });
        }
        return Ok(waves);
    }
    let count = count.unwrap_or(contexts.len()).clamp(1, contexts.len().max(1));
    let base = contexts.len() / count;
    let larger = contexts.len() % count;
    let mut waves = Vec::new();
    let mut next = contexts.iter();
    for index in 0..count {
        // The last `larger` waves take one more cluster.
        let size = base + usize::from(index >= count - larger);
        waves.push(Wave {
            name: format!("wave {}", index + 1),
            contexts: next.by_ref().take(size).cloned().collect(),
        });
    }
    Ok(waves)
}

/// Whether the rollout goes on after a wave: its failed clusters (each rolled back by its own
/// change) within `--max-failures`.
pub fn may_continue(failed: usize, max_failures: usize) -> bool {
    failed <= max_failures
}

/// How a cluster's part of a rotation in waves ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterOutcome {
    /// Written, restarted, and every consumer verified.
    Rotated,
    /// Written, but some consumers still run older values (or did after the bake).
    NotVerified,
    /// The change failed (rolled back, or not even that): its exit code and message.
    Failed { code: i32, reason: String },
    /// Its wave never started.
    NotStarted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    pub wave: String,
    pub context: String,
    pub outcome: ClusterOutcome,
}

impl ClusterRow {
    pub fn new(wave: &str, context: &str, outcome: ClusterOutcome) -> Self {
        ClusterRow {
            wave: wave.into(),
            context: context.into(),
            outcome,
        }
    }

    /// What this cluster adds to the exit status (the rotation's is the highest).
    pub fn exit_code(&self) -> i32 {
        match &self.outcome {
            ClusterOutcome::Rotated | ClusterOutcome::NotStarted => 0,
            ClusterOutcome::NotVerified => 1,
            ClusterOutcome::Failed { code, .. } => *code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn shape(waves: &[Wave]) -> Vec<(String, Vec<String>)> {
        waves.iter().map(|w| (w.name.clone(), w.contexts.clone())).collect()
    }

    #[test]
    fn named_waves_then_the_rest() {
        let contexts = names(&["eu", "us", "ap", "staging"]);
        let waves = plan(&contexts, &names(&["canary=staging", "first=eu"]), None).unwrap();
        assert_eq!(
            shape(&waves),
            [
                ("canary".to_string(), names(&["staging"])),
                ("first".to_string(), names(&["eu"])),
                ("rest".to_string(), names(&["us", "ap"]))
            ]
        );
        assert!(plan(&contexts, &names(&["canary=prod"]), None)
            .unwrap_err()
            .contains("not one of"));
        assert!(plan(&contexts, &names(&["a=eu", "b=eu"]), None)
            .unwrap_err()
            .contains("two waves"));
        assert!(plan(&contexts, &names(&["canary"]), None)
            .unwrap_err()
            .contains("NAME=CONTEXT"));
        assert!(plan(&contexts, &names(&["a=eu"]), Some(2)).is_err());
    }

    #[test]
    fn counted_waves_put_the_smaller_first_and_default_to_one_cluster_each() {
        let contexts = names(&["a", "b", "c", "d", "e"]);
        let sizes = |waves: Vec<Wave>| waves.iter().map(|w| w.contexts.len()).collect::<Vec<_>>();
        assert_eq!(sizes(plan(&contexts, &[], Some(2)).unwrap()), [2, 3]);
        assert_eq!(sizes(plan(&contexts, &[], Some(3)).unwrap()), [1, 2, 2]);
        assert_eq!(sizes(plan(&contexts, &[], None).unwrap()), [1, 1, 1, 1, 1]);
        assert_eq!(sizes(plan(&contexts, &[], Some(9)).unwrap()), [1, 1, 1, 1, 1]);
        let waves = plan(&contexts, &[], Some(2)).unwrap();
        assert_eq!(waves[0].contexts, ["a", "b"]);
        assert!(may_continue(0, 0) && may_continue(1, 1) && !may_continue(1, 0));
    }
}
