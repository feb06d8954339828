//! Property tests over the parsers of untrusted input: whatever bytes a file, a manifest, a
//! sealed value or a kubeconfig annotation holds, parsing ends in a value or a clear error,
//! never a panic, and an error never quotes the input.

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::domain::secret_value::SecretValue;
    use crate::domain::{annotations, manifest, propagate, seal, sealed_file, tls, versioned};

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

        #[test]
        fn sealed_files_never_panic_and_edits_keep_the_data(text in "\\PC{0,300}", value in "[A-Za-z0-9+/=]{1,40}") {
            if let Ok(file) = sealed_file::parse(&text) {
                for (index, doc) in file.sealed().iter().enumerate() {
                    let mut data = doc.encrypted_data();
                    for v in data.values_mut() {
                        *v = serde_json::Value::String(value.clone());
                    }
                    let updated = file.with_encrypted_data(index, &data);
                    prop_assert_eq!(sealed_file::parse(&updated.text).ok().map(|f| f.sealed()[index].encrypted_data()), Some(data));
                }
            }
        }

        #[test]
        fn edited_sealed_files_hold_exactly_the_new_data(
            entries in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.-]{0,10}", "Ag[A-Za-z0-9+/]{4,30}={0,2}", 1..6),
            replacements in proptest::collection::vec("Ag[A-Za-z0-9+/]{4,30}", 6),
            removed in proptest::collection::vec(any::<bool>(), 6),
            added in proptest::option::of(("new[a-z]{1,6}", "Ag[A-Za-z0-9+/]{4,30}")),
            comment in "# [ -~]{0,30}",
        ) {
            let lines: Vec<String> = entries.iter().map(|(k, v)| format!("    {k}: {v}")).collect();
            let text = format!(
                "{comment}\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app\nspec:\n  encryptedData:\n{}\n  template:\n    metadata:\n      name: app\n",
                lines.join("\n")
            );
            let file = sealed_file::parse(&text).unwrap();
            let mut new = serde_json::Map::new();
            for (i, key) in entries.keys().enumerate() {
                if !removed[i] {
                    new.insert(key.clone(), serde_json::Value::String(replacements[i].clone()));
                }
            }
            if let Some((key, value)) = &added {
                new.insert(key.clone(), serde_json::Value::String(value.clone()));
            }
            prop_assume!(!new.is_empty());
            let updated = file.with_encrypted_data(0, &new);
            prop_assert_eq!(sealed_file::parse(&updated.text).unwrap().sealed()[0].encrypted_data(), new);
        }

        #[test]
        fn certificates_and_versioned_keys_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), key in "\\PC{0,40}") {
            let _ = tls::parse(&bytes, &Default::default());
            let _ = versioned::VersionedKey::parse(&key).map(|k| k.name());
        }
    }
}
