//! Secrets the gateway keeps only as hashes: passwords (argon2id; the original dhis2gw's
//! bcrypt until their first sign-in) and the opaque tokens it hands out (refresh tokens,
//! partner API tokens; SHA-256).

use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordVerifier};
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// argon2id with the crate's defaults (OWASP's recommended parameters), off the async runtime.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(anyhow::Error::msg)
    })
    .await?
}

/// Whether a stored hash is the original dhis2gw's bcrypt (`$2a$`, `$2b$`, `$2y$`), to be
/// replaced by argon2id once a sign-in has proved the password.
pub fn is_legacy_hash(stored: &str) -> bool {
    stored.starts_with("$2")
}

/// Verifies against a stored hash (argon2id, or a bcrypt hash adopted from the original).
/// Without a stored hash (unknown user) a dummy hash is checked anyway, so response time does
/// not reveal which usernames exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| Argon2::default().hash_password(b"not a password").expect("hashing works").to_string())
                .clone()
        });
        if is_legacy_hash(&hash) {
            return known && bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false);
        }
        let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&hash) else {
            return false;
        };
        known && Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Opaque tokens (refresh tokens and partner API tokens)
// ---------------------------------------------------------------------------------------------

/// 32 random bytes, URL-safe base64, with a prefix saying what the token is.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens are stored only as their SHA-256: they are high-entropy, so no salt is needed.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_are_stable() {
        let (a, b) = (random_token("x_"), random_token("x_"));
        assert_ne!(a, b);
        assert!(a.starts_with("x_") && a.len() > 40);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong".into(), Some(hash)).await);
        assert!(!verify_password("correct horse".into(), None).await);
    }

    #[tokio::test]
    async fn bcrypt_hashes_of_the_original_verify_until_replaced() {
        // What the original's pgcrypto `crypt(p, gen_salt('bf'))` and Go's bcrypt write.
        let stored = bcrypt::hash_with_salt("@dm1n", 4, [7; 16]).unwrap().format_for_version(bcrypt::Version::TwoA);
        assert!(is_legacy_hash(&stored));
        assert!(verify_password("@dm1n".into(), Some(stored.clone())).await);
        assert!(!verify_password("@dm1n ".into(), Some(stored)).await);
        assert!(!is_legacy_hash(&hash_password("x".into()).await.unwrap()));
    }
}
