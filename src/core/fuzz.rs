//! Property tests over the parsers of untrusted input: whatever bytes a file, a manifest, a
//! sealed value or a kubeconfig annotation holds, parsing ends in a value or a clear error,
//! never a panic, and an error never quotes the input.

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::core::secret_value::SecretValue;
    use crate::core::{annotations, manifest, propagate, seal};

    const MARKER: &str = "Zq7canaryXw";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn manifests_and_env_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), name in "[a-z.]{1,12}") {
            let _ = manifest::parse(&name, &bytes);
        }

        #[test]
        fn manifest_errors_never_quote_the_content(prefix in prop_oneof![Just("kind: Secret\ndata:\n  A: "), Just("kind: Secret\nstringData: ["), Just("{\"kind\": \"Secret\", \"data\": "), Just("A=1\nnot valid ")], garbage in "[ -~]{0,40}") {
            let text = format!("{prefix}{MARKER}{garbage}");
            if let Err(e) = manifest::parse("x.yaml", text.as_bytes()) {
                prop_assert!(!e.to_string().contains(MARKER), "{}", e);
            }
            if let Err(e) = manifest::parse("x.env", text.as_bytes()) {
                prop_assert!(!e.to_string().contains(MARKER), "{}", e);
            }
        }

        #[test]
        fn sealed_values_and_keys_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert!(seal::decrypt(&[], b"ns/name", &bytes).is_none());
            let _ = seal::parse_private_keys("k", &bytes);
            let _ = seal::parse_cert("c", &bytes);
        }

        #[test]
        fn propagate_round_trips_any_text(old in "[ -~]{8,24}", new in "[ -~]{1,24}", before in "[ -~]{0,20}", after in "[ -~]{0,20}") {
            let container = SecretValue::new(format!("{before}{old}{after}").into_bytes());
            let old_value = SecretValue::new(old.clone().into_bytes());
            if let Some(encoding) = propagate::find(&container, &old_value) {
                let replaced = propagate::replace(&container, &old_value, &SecretValue::new(new.clone().into_bytes()), encoding).unwrap();
                prop_assert!(propagate::find(&replaced, &old_value).is_none() || before.contains(&old) || after.contains(&old) || new.contains(&old));
            }
        }

        #[test]
        fn revision_annotations_never_panic(text in "\\PC{0,64}") {
            let _ = annotations::parse_revisions(&text);
        }
    }
}
