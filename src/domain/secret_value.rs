//! Secret bytes in a type that cannot be printed by accident, and the per-run fingerprint that
//! lets a table say "same" or "changed" without revealing anything.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// A secret value. No Display; Debug prints only its length. Wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretValue(Zeroizing::new(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, for writing to the API server or encrypting: never for display.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0.len())
    }
}

/// HMAC-SHA256 under a key drawn at random for each run: two values can be compared within
/// one run's output, and nothing can be learnt or matched across runs.
pub struct Fingerprinter {
    key: Zeroizing<[u8; 32]>,
}

impl Fingerprinter {
    pub fn new(key: [u8; 32]) -> Self {
        Fingerprinter {
            key: Zeroizing::new(key),
        }
    }

    /// Eight hex digits: enough to tell values apart in a table, for people. Never used to
    /// decide that two values are equal (32 bits collide among tens of thousands of values).
    pub fn fingerprint(&self, value: &SecretValue) -> String {
        hex::encode(&self.digest(value)[..4])
    }

    /// The whole keyed digest, for deciding equality (reuse); never printed.
    pub fn digest(&self, value: &SecretValue) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&*self.key).expect("HMAC accepts any key length");
        mac.update(value.expose());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let value = SecretValue::new(b"hunter2-canary".to_vec());
        let wrapped = Some(&value);
        let shown = format!("{value:?} {wrapped:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted, 14 bytes>"));
    }

    #[test]
    fn fingerprints_compare_within_a_run_only() {
        let a = SecretValue::new(b"same".to_vec());
        let b = SecretValue::new(b"same".to_vec());
        let run1 = Fingerprinter::new([1; 32]);
        let run2 = Fingerprinter::new([2; 32]);
        assert_eq!(run1.fingerprint(&a), run1.fingerprint(&b));
        assert_ne!(run1.fingerprint(&a), run2.fingerprint(&a));
        assert_ne!(
            run1.fingerprint(&a),
            run1.fingerprint(&SecretValue::new(b"other".to_vec()))
        );
        assert_eq!(run1.fingerprint(&a).len(), 8);
    }
}
