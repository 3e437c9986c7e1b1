//! DHIS2-style identifiers: 11 characters, a letter then letters or digits.

use rand::RngExt;

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new random UID from the operating system's CSPRNG (the original used a time-seeded
/// generator and could collide under concurrency).
pub fn generate() -> String {
    let mut rng = rand::rng();
    let mut uid = String::with_capacity(11);
    uid.push(LETTERS[rng.random_range(0..LETTERS.len())] as char);
    for _ in 0..10 {
        uid.push(ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char);
    }
    uid
}

/// A UID determined by `bytes` (e.g. a digest of a partner's record id): the same bytes give
/// the same UID. At least 11 bytes are needed; 62^10 values leave collisions negligible.
pub fn from_bytes(bytes: &[u8]) -> String {
    assert!(bytes.len() >= 11, "a UID needs 11 bytes of input");
    let first = LETTERS[bytes[0] as usize % LETTERS.len()] as char;
    std::iter::once(first)
        .chain(bytes[1..11].iter().map(|b| ALPHANUMERIC[*b as usize % ALPHANUMERIC.len()] as char))
        .collect()
}

/// Whether `text` has the shape of a DHIS2 UID.
pub fn is_valid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 11 && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uids_are_valid_and_distinct() {
        let uids: std::collections::HashSet<_> = (0..1000).map(|_| generate()).collect();
        assert_eq!(uids.len(), 1000);
        assert!(uids.iter().all(|u| is_valid(u)));
    }

    #[test]
    fn uids_from_bytes_are_valid_and_stable() {
        let a = from_bytes(&[200; 32]);
        assert!(is_valid(&a) && a == from_bytes(&[200; 32]) && a != from_bytes(&[201; 32]));
    }

    #[test]
    fn validation_follows_the_dhis2_shape() {
        assert!(is_valid("DiszpKrYNg8"));
        for bad in ["", "1iszpKrYNg8", "DiszpKrYNg", "DiszpKrYNg8x", "Disz-KrYNg8", "DiszpKrYNgé"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
