//! New secret values: `base64:N` and `hex:N` are N random bytes encoded like
//! `openssl rand -base64 N` / `-hex N` (what the runbooks use); `alnum:N` is N characters from
//! [A-Za-z0-9]. The RNG is passed in: callers use the OS CSPRNG, tests a seeded one.

use base64::Engine as _;
use rand::{CryptoRng, Rng};

use super::secret_value::SecretValue;

/// At least 32 bytes (256 bits) of entropy, whatever the old value looked like.
pub const MIN_ENTROPY_BYTES: usize = 32;
/// Kubernetes caps a Secret at 1 MiB; no generated value comes close.
const MAX_LENGTH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    Base64(usize),
    Hex(usize),
    Alnum(usize),
}

impl std::fmt::Display for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Generator::Base64(n) => write!(f, "base64:{n}"),
            Generator::Hex(n) => write!(f, "hex:{n}"),
            Generator::Alnum(n) => write!(f, "alnum:{n}"),
        }
    }
}

impl std::str::FromStr for Generator {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = "use base64:N, hex:N (N random bytes) or alnum:N (N characters)";
        let (kind, size) = text
            .split_once(':')
            .ok_or_else(|| format!("generator {text:?}: {usage}"))?;
        let size: usize = size
            .parse()
            .map_err(|_| format!("generator {text:?}: size is not a number; {usage}"))?;
        let generator = match kind {
            "base64" => Generator::Base64(size),
            "hex" => Generator::Hex(size),
            "alnum" => Generator::Alnum(size),
            _ => return Err(format!("generator {text:?}: unknown kind {kind:?}; {usage}")),
        };
        if generator.entropy_bits() < 128 {
            return Err(format!(
                "generator {text}: under 128 bits of entropy; {usage} with a larger N"
            ));
        }
        if size > MAX_LENGTH {
            return Err(format!("generator {text}: at most {MAX_LENGTH}"));
        }
        Ok(generator)
    }
}

impl Generator {
    pub fn entropy_bits(self) -> usize {
        match self {
            Generator::Base64(n) | Generator::Hex(n) => n * 8,
            // log2(62) ≈ 5.95 bits a character; rounded down.
            Generator::Alnum(n) => n * 595 / 100,
        }
    }

    /// A generator that produces values shaped like `old` (hex stays hex, base64 stays
    /// base64, anything else becomes alphanumeric), at least as long, with at least 32 bytes
    /// of entropy.
    pub fn like(old: &[u8]) -> Generator {
        let text = std::str::from_utf8(old).unwrap_or("");
        let is_hex = !text.is_empty() && text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit());
        let is_base64 = !text.is_empty()
            && text.len().is_multiple_of(4)
            && text
                .trim_end_matches('=')
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            && text.bytes().any(|b| !b.is_ascii_alphanumeric());
        if is_hex {
            Generator::Hex((text.len() / 2).max(MIN_ENTROPY_BYTES))
        } else if is_base64 {
            Generator::Base64((text.len() / 4 * 3).max(MIN_ENTROPY_BYTES))
        } else {
            Generator::Alnum(old.len().max(44))
        }
    }

    pub fn generate<R: Rng + CryptoRng>(self, rng: &mut R) -> SecretValue {
        let random_bytes = |rng: &mut R, n: usize| {
            let mut bytes = vec![0u8; n];
            rng.fill_bytes(&mut bytes);
            zeroize::Zeroizing::new(bytes)
        };
        let text = match self {
            Generator::Base64(n) => base64::engine::general_purpose::STANDARD.encode(&*random_bytes(rng, n)),
            Generator::Hex(n) => hex::encode(&*random_bytes(rng, n)),
            Generator::Alnum(n) => rng
                .sample_iter(rand::distr::Alphanumeric)
                .take(n)
                .map(char::from)
                .collect(),
        };
        SecretValue::new(text.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn parses_the_documented_forms_and_rejects_weak_ones() {
        assert_eq!("base64:48".parse(), Ok(Generator::Base64(48)));
        assert_eq!("hex:32".parse(), Ok(Generator::Hex(32)));
        assert_eq!("alnum:40".parse(), Ok(Generator::Alnum(40)));
        assert!("hex:8".parse::<Generator>().unwrap_err().contains("128 bits"));
        assert!("rot13:40".parse::<Generator>().unwrap_err().contains("unknown kind"));
        assert!("base64".parse::<Generator>().is_err());
        assert!("alnum:lots".parse::<Generator>().is_err());
    }

    #[test]
    fn generated_values_have_the_promised_shape() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let b64 = Generator::Base64(48).generate(&mut rng);
        assert_eq!(
            b64.len(),
            64,
            "48 bytes are 64 base64 characters, like openssl rand -base64 48"
        );
        let hex = Generator::Hex(32).generate(&mut rng);
        assert!(hex.len() == 64 && hex.expose().iter().all(u8::is_ascii_hexdigit));
        let alnum = Generator::Alnum(40).generate(&mut rng);
        assert!(alnum.len() == 40 && alnum.expose().iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(Generator::Alnum(40).generate(&mut rng), alnum);
    }

    #[test]
    fn default_generator_follows_the_old_value_with_a_floor() {
        assert_eq!(Generator::like(&[b'a'; 64]), Generator::Hex(32));
        assert_eq!(
            Generator::like(b"abcd1234"),
            Generator::Hex(32),
            "short hex is raised to 32 bytes"
        );
        assert_eq!(
            Generator::like(b"c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2g/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/"),
            Generator::Base64(51)
        );
        assert_eq!(Generator::like(b"your-secure-password"), Generator::Alnum(44));
        assert!(Generator::like(b"").entropy_bits() >= 256);
    }
}
