//! Encryption at rest of DHIS2 server credentials (AES-256-GCM, a fresh nonce per value),
//! with a key derived from `server.credentials_key`. Each value is bound to its server (the
//! server's UID is the associated data), so a value copied onto another server's row does
//! not open there: its credentials cannot be sent to that server's address.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

use crate::infra::config::Secret;

pub struct CredentialsKey(LessSafeKey);

#[derive(Debug, thiserror::Error)]
#[error("stored credentials cannot be decrypted: server.credentials_key changed or the value is damaged")]
pub struct UndecryptableCredentials;

impl CredentialsKey {
    /// `None` when no key is configured: servers with credentials cannot be stored then.
    pub fn from_config(secret: &Secret) -> Option<CredentialsKey> {
        if secret.is_empty() {
            return None;
        }
        let key = Sha256::digest(secret.expose().as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, &key).expect("a SHA-256 digest is a valid AES-256 key");
        Some(CredentialsKey(LessSafeKey::new(key)))
    }

    /// Nonce followed by the ciphertext and its tag, bound to the server `owner` (its UID).
    pub fn seal(&self, plaintext: &str, owner: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random source works");
        let mut sealed = plaintext.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(owner.as_bytes()), &mut sealed)
            .expect("sealing in memory cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens a value sealed for `owner`; `None` opens one sealed before values were bound to
    /// their server (to re-seal it at start-up).
    pub fn open(&self, sealed: &[u8], owner: Option<&str>) -> Result<String, UndecryptableCredentials> {
        if sealed.len() < NONCE_LEN {
            return Err(UndecryptableCredentials);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UndecryptableCredentials)?;
        let aad = Aad::from(owner.unwrap_or_default().as_bytes());
        let mut buffer = ciphertext.to_vec();
        let plaintext = self.0.open_in_place(nonce, aad, &mut buffer).map_err(|_| UndecryptableCredentials)?;
        String::from_utf8(plaintext.to_vec()).map_err(|_| UndecryptableCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let key = CredentialsKey::from_config(&Secret::new("k".repeat(32))).unwrap();
        let sealed = key.seal("district", "ServerUid01");
        assert!(!sealed.windows(8).any(|w| w == b"district"), "no plaintext at rest");
        assert_ne!(sealed, key.seal("district", "ServerUid01"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed, Some("ServerUid01")).unwrap(), "district");
        assert!(key.open(&sealed, Some("ServerUid02")).is_err(), "bound to its server");
        assert!(key.open(&sealed, None).is_err());
        let other = CredentialsKey::from_config(&Secret::new("o".repeat(32))).unwrap();
        assert!(other.open(&sealed, Some("ServerUid01")).is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(key.open(&damaged, Some("ServerUid01")).is_err());
        assert!(CredentialsKey::from_config(&Secret::default()).is_none());
    }
}
