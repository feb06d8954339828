//! Pause points for the fault-injection tests, in debug builds only (release builds have
//! none): `KUBECTL_SECRETS_FAILPOINT=NAME:SECONDS` makes the tool say "failpoint NAME" on
//! stderr and wait there, so a test can cut the API server off, press Ctrl-C or kill -9 the
//! tool at an exact phase of a rotation (like etcd's gofail failpoints).

/// Wait at the pause point `name` if the test asked for it.
pub async fn pause(name: &str) {
    #[cfg(debug_assertions)]
    {
        let Ok(spec) = std::env::var("KUBECTL_SECRETS_FAILPOINT") else {
            return;
        };
        let Some((point, seconds)) = spec.split_once(':') else {
            return;
        };
        if point == name && seconds == "panic" {
            // A crash at this point, with a message the test chose (to check it is never shown).
            panic!(
                "{}",
                std::env::var("KUBECTL_SECRETS_FAILPOINT_PANIC").unwrap_or_default()
            );
        }
        if point == name {
            crate::render::step(&format!("failpoint {name}"));
            let seconds: u64 = seconds.parse().unwrap_or(5);
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
