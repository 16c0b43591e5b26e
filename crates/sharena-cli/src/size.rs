//! SIZE arguments: bytes, or a number with a binary suffix.

/// Parses `4096`, `64M`, `64MiB`, `1G`: exactly the suffixes K, M, G, KiB,
/// MiB and GiB, each a power of 1024 (K = KiB = 1024). Anything else is
/// refused, `16MB` and `16mb` included (MB usually means 10^6 bytes), as
/// are zero, negative, fractional and exponent forms, with a message saying
/// what to write instead.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "invalid size {s:?}: expected a whole number of bytes, optionally with K, M, G, KiB, MiB or GiB (e.g. 64M)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {s:?}: the number is too large"))?;
    let lower = suffix.to_ascii_lowercase();
    if lower.starts_with('.')
        || (lower.starts_with('e')
            && lower[1..].starts_with(|c: char| c.is_ascii_digit() || c == '+'))
    {
        return Err(format!(
            "invalid size {s:?}: write a whole number of bytes, without a fraction or an exponent (e.g. 1000000000, or 954M)"
        ));
    }
    let mult: u64 = match suffix {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown suffix {suffix:?} (use K, M, G, KiB, MiB or GiB, powers of 1024; e.g. {n}M)"
            ))
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("invalid size {s:?}: it overflows 64 bits"))?;
    if bytes == 0 {
        return Err(format!(
            "invalid size {s:?}: a size must be greater than zero"
        ));
    }
    Ok(bytes)
}

/// Parses an octal permission mode such as `600` or `0o640`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let t = s.trim_start_matches("0o");
    let mode = u32::from_str_radix(t, 8)
        .map_err(|_| format!("invalid mode {s:?}: expected octal permission bits such as 600"))?;
    if mode > 0o777 {
        return Err(format!("invalid mode {s:?}: at most 777"));
    }
    Ok(mode)
}

/// Bytes as a short human figure (binary units).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("16K"), Ok(16 << 10));
        assert_eq!(parse_size("16KiB"), Ok(16 << 10));
        // Only the suffixes the README lists: MB is not MiB.
        for bad in [
            "16MB", "16mb", "16m", "16k", "16KB", "1T", "1TiB", "8B", "1 M",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(
                e.contains("unknown suffix") && e.contains("KiB"),
                "{bad}: {e}"
            );
        }
        for bad in [
            "0",
            "-1",
            "1e9",
            "",
            "M",
            "1.5G",
            "12Q",
            "99999999999999999999",
            "20000000000G",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("invalid size"), "{bad}: {e}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert!(parse_mode("800").is_err());
        assert!(parse_mode("7777").is_err());
    }

    #[test]
    fn human_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(64 << 20), "64.0 MiB");
    }
}
