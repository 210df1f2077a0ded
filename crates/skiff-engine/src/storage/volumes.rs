//! Named volumes.

/// Whether `name` is a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}` (Docker's rule, so it
/// is also a safe directory name).
pub fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}
