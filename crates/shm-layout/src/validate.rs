//! Validation of a header copy, before anything in the segment is used.
//!
//! The checks run in the order `docs/FORMAT.md` lists them (magic,
//! version, kind, length, regions, checksum) and each failure is its own [`Error`]
//! variant naming the segment and the field. Validation works on a private
//! copy of the header, so another process changing the bytes afterwards
//! cannot invalidate what was checked.

use crate::consts::{
    HEADER_LEN, LAYOUT_VERSION, MAGIC, MAX_SEGMENT_LEN, REGION_ALIGN, REGION_COUNT,
};
use crate::error::{Error, Result};
use crate::header::{Header, RegionId};
use crate::kind::AllocatorKind;

/// Checks a header copy against the length actually mapped, and against the
/// allocator kind the caller expects (`None`: any kind).
pub fn validate_header(
    segment: &str,
    header: &Header,
    mapping_len: u64,
    expected: Option<AllocatorKind>,
) -> Result<AllocatorKind> {
    let seg = || segment.to_string();
    if mapping_len < HEADER_LEN {
        return Err(Error::TooSmall {
            segment: seg(),
            len: mapping_len,
            min: HEADER_LEN,
        });
    }
    if header.magic != MAGIC {
        return Err(Error::BadMagic {
            segment: seg(),
            found: header.magic,
        });
    }
    if header.layout_version != LAYOUT_VERSION {
        return Err(Error::VersionMismatch {
            segment: seg(),
            found: header.layout_version,
            expected: LAYOUT_VERSION,
        });
    }
    let kind = AllocatorKind::from_raw(header.kind).ok_or_else(|| Error::UnknownKind {
        segment: seg(),
        found: header.kind,
    })?;
    if let Some(expected) = expected {
        if kind != expected {
            return Err(Error::KindMismatch {
                segment: seg(),
                found: kind,
                expected,
            });
        }
    }
    let bad = |field: &'static str, value: u64, expected: &'static str| Error::BadField {
        segment: seg(),
        field,
        value,
        expected,
    };
    if header.header_len != HEADER_LEN {
        return Err(bad("header_len", header.header_len, "4096"));
    }
    if header.region_count as usize != REGION_COUNT {
        return Err(bad("region_count", header.region_count.into(), "3"));
    }
    if header.total_len > mapping_len {
        return Err(Error::LengthMismatch {
            segment: seg(),
            header: header.total_len,
            mapping: mapping_len,
        });
    }
    if header.total_len < HEADER_LEN || header.total_len > MAX_SEGMENT_LEN {
        return Err(bad(
            "total_len",
            header.total_len,
            "at least 4096 and at most 2^47",
        ));
    }
    validate_regions(segment, header)?;
    let computed = header.compute_checksum();
    if computed != header.checksum {
        return Err(Error::ChecksumMismatch {
            segment: seg(),
            stored: header.checksum,
            computed,
        });
    }
    Ok(kind)
}

fn validate_regions(segment: &str, header: &Header) -> Result<()> {
    let mut spans: [(u64, u64, &'static str); REGION_COUNT] = [(0, 0, ""); REGION_COUNT];
    for (i, id) in RegionId::ALL.into_iter().enumerate() {
        let r = header.region(id);
        let in_bounds = r.offset >= HEADER_LEN && r.end().is_some_and(|e| e <= header.total_len);
        if !in_bounds {
            return Err(Error::RegionOutOfBounds {
                segment: segment.to_string(),
                region: id.name(),
                offset: r.offset,
                len: r.len,
                segment_len: header.total_len,
            });
        }
        if r.offset % REGION_ALIGN != 0 || r.len % REGION_ALIGN != 0 {
            return Err(Error::RegionMisaligned {
                segment: segment.to_string(),
                region: id.name(),
                offset: r.offset,
                len: r.len,
            });
        }
        // In bounds, so `end` cannot overflow.
        spans[i] = (r.offset, r.offset + r.len, id.name());
    }
    for i in 0..REGION_COUNT {
        for j in i + 1..REGION_COUNT {
            let (a, b) = (spans[i], spans[j]);
            let empty = a.0 == a.1 || b.0 == b.1;
            if !empty && a.0 < b.1 && b.0 < a.1 {
                return Err(Error::RegionsOverlap {
                    segment: segment.to_string(),
                    first: a.2,
                    second: b.2,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::LayoutSpec;

    fn good(len: u64) -> Header {
        LayoutSpec {
            kind: AllocatorKind::Bump,
            total_len: len,
            metadata_len: 4096,
            state_len: 256,
            params: [0; 8],
        }
        .build(1, 2)
        .unwrap()
    }

    fn check(h: &Header, len: u64) -> Result<AllocatorKind> {
        validate_header("/t", h, len, Some(AllocatorKind::Bump))
    }

    #[test]
    fn a_built_header_validates() {
        let h = good(1 << 20);
        assert_eq!(check(&h, 1 << 20).unwrap(), AllocatorKind::Bump);
        assert_eq!(h.region(RegionId::Pool).offset, 3 * 4096);
        assert_eq!(h.region(RegionId::Pool).len, (1 << 20) - 3 * 4096);
    }

    #[test]
    fn each_field_has_its_error() {
        let len = 1 << 20;
        let mut h = good(len);
        h.magic[0] ^= 1;
        assert!(matches!(check(&h, len), Err(Error::BadMagic { .. })));
        let mut h = good(len);
        h.layout_version = 2;
        assert!(matches!(
            check(&h, len),
            Err(Error::VersionMismatch { found: 2, .. })
        ));
        let mut h = good(len);
        h.kind = 99;
        assert!(matches!(
            check(&h, len),
            Err(Error::UnknownKind { found: 99, .. })
        ));
        let h = good(len);
        assert!(matches!(
            validate_header("/t", &h, len, Some(AllocatorKind::Slab)),
            Err(Error::KindMismatch { .. })
        ));
        assert!(matches!(
            check(&h, len - 64),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(check(&h, 100), Err(Error::TooSmall { .. })));
        let mut h = good(len);
        h.regions[2].len += 64;
        h.seal();
        assert!(matches!(
            check(&h, len),
            Err(Error::RegionOutOfBounds { region: "pool", .. })
        ));
        let mut h = good(len);
        h.regions[1].offset += 8;
        h.seal();
        assert!(matches!(
            check(&h, len),
            Err(Error::RegionMisaligned {
                region: "state",
                ..
            })
        ));
        let mut h = good(len);
        h.regions[1].offset = h.regions[0].offset;
        h.seal();
        assert!(matches!(check(&h, len), Err(Error::RegionsOverlap { .. })));
        let mut h = good(len);
        h.regions[0].offset = u64::MAX - 63;
        h.seal();
        assert!(matches!(
            check(&h, len),
            Err(Error::RegionOutOfBounds { .. })
        ));
        let mut h = good(len);
        h.params[3] = 1;
        assert!(matches!(
            check(&h, len),
            Err(Error::ChecksumMismatch { .. })
        ));
    }
}
