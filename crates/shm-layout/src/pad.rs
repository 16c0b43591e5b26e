//! Padding hot words to a cache line, so that two of them never share one.

/// One 128-byte line ([`crate::CACHE_LINE`]) holding one hot value, so
/// that no other hot word shares it. The size is a layout constant: every
/// process agrees on it.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct Line<T>(pub T);

const _: () = assert!(core::mem::align_of::<Line<u64>>() as u64 == crate::CACHE_LINE);
