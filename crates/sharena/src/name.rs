//! Segment name rules: one leading `/`, no other `/`, at most
//! 255 bytes in all, printable ASCII, and something after the slash.

use shm_layout::{Error, Result};

/// The longest name accepted, leading `/` included.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a POSIX segment name, returning it unchanged if it is valid.
///
/// ```
/// assert!(sharena::validate_name("/orders").is_ok());
/// assert!(sharena::validate_name("orders").is_err());
/// assert!(sharena::validate_name("/a/b").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<&str> {
    let bad = |reason: &'static str| Error::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if !name.starts_with('/') {
        return Err(bad("it must start with '/'"));
    }
    if name.len() == 1 {
        return Err(bad("there must be something after the '/'"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("it is longer than 255 bytes"));
    }
    if name[1..].contains('/') {
        return Err(bad("only the leading '/' is allowed"));
    }
    if name.bytes().any(|b| b == 0) {
        return Err(bad("it contains a NUL byte"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("it must be printable ASCII without spaces"));
    }
    if name == "/." || name == "/.." {
        return Err(bad("'.' and '..' are not names"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for ok in ["/a", "/sharena-1", &format!("/{}", "x".repeat(254))] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "a",
            "/a/b",
            "/a b",
            "/a\0b",
            "/é",
            "/.",
            "/..",
            &format!("/{}", "x".repeat(255)),
        ] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }
}
