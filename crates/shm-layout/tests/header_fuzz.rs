//! Random bytes written over a valid header, then open: always an error or a
//! valid segment, never a panic, never a hang (issue 2: at least 10,000
//! cases). Some cases re-seal the checksum so that the checks behind it
//! (regions, lengths) see hostile values too.

use proptest::prelude::*;
use shm_layout::{
    AllocatorKind, Header, LayoutSpec, Offset, RegionId, SegmentView, WaitPolicy, HEADER_LEN,
    INIT_WORD_OFFSET,
};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

const LEN: usize = 8 * 4096;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

fn fresh() -> Vec<Page> {
    let mut mem: Vec<Page> = (0..LEN / 4096).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let spec = LayoutSpec {
        kind: AllocatorKind::FreeList,
        total_len: LEN as u64,
        metadata_len: 4096,
        state_len: 4096,
        params: [1, 2, 3, 4, 5, 6, 7, 8],
    };
    // SAFETY: `mem` is 4096-aligned, LEN bytes, and outlives the view.
    unsafe { SegmentView::initialize("/fuzz", base, LEN as u64, &spec, true, |_| Ok(())) }.unwrap();
    mem
}

fn bytes(mem: &mut [Page]) -> &mut [u8] {
    // SAFETY: `Page` is a plain byte array; the Vec holds LEN contiguous bytes.
    unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr().cast::<u8>(), LEN) }
}

fn open(mem: &mut [Page], mapping_len: u64, alive: bool) -> shm_layout::Result<SegmentView> {
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let wait = WaitPolicy {
        timeout: Duration::ZERO,
    };
    // SAFETY: `mem` is 4096-aligned and at least `mapping_len` bytes long.
    unsafe { SegmentView::open("/fuzz", base, mapping_len, None, wait, |_| alive) }
}

/// Uses a valid view the way an allocator would, to prove the regions it
/// reports really are inside the mapping.
fn exercise(view: &SegmentView) {
    for id in RegionId::ALL {
        let r = view.region(id);
        if r.len > 0 {
            let mut buf = vec![0u8; r.len.min(256) as usize];
            view.read_bytes(Offset::new(r.offset), &mut buf).unwrap();
            let _ = view
                .atomic_u64(Offset::new(r.offset))
                .unwrap()
                .load(shm_layout::sync::Ordering::Relaxed);
        }
    }
    assert!(view.len() <= LEN as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_over_a_valid_header(
        edits in prop::collection::vec((0..HEADER_LEN as usize + 64, any::<u8>()), 1..24),
        keep_init_word in any::<bool>(),
        reseal in any::<bool>(),
        alive in any::<bool>(),
        short in 0..3u8,
    ) {
        let mut mem = fresh();
        let b = bytes(&mut mem);
        for (at, v) in edits {
            let in_word = (INIT_WORD_OFFSET as usize..INIT_WORD_OFFSET as usize + 8).contains(&at);
            if !(keep_init_word && in_word) {
                b[at] = v;
            }
        }
        if reseal {
            let mut h: Header = bytemuck::pod_read_unaligned(&b[..256]);
            h.seal();
            b[..256].copy_from_slice(bytemuck::bytes_of(&h));
        }
        let mapping_len = match short { 0 => LEN as u64, 1 => LEN as u64 - 4096, _ => 4095 };
        let t = Instant::now();
        match open(&mut mem, mapping_len, alive) {
            Ok(view) => exercise(&view),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        prop_assert!(t.elapsed() < Duration::from_secs(1), "open took {:?}", t.elapsed());
    }

    #[test]
    fn a_wholly_random_header_sealed(
        raw in prop::collection::vec(any::<u8>(), 256),
        small_regions in any::<bool>(),
    ) {
        let mut mem = fresh();
        let b = bytes(&mut mem);
        let mut h: Header = bytemuck::pod_read_unaligned(&raw);
        h.magic = *b"SHARENA\0";
        h.layout_version = 1;
        h.kind %= 5;
        h.header_len = HEADER_LEN;
        h.region_count = 3;
        if small_regions {
            h.total_len %= 2 * LEN as u64;
            for r in &mut h.regions {
                r.offset %= 2 * LEN as u64;
                r.len %= LEN as u64;
            }
        }
        h.seal();
        b[..256].copy_from_slice(bytemuck::bytes_of(&h));
        if let Ok(view) = open(&mut mem, LEN as u64, true) {
            exercise(&view);
        }
    }
}
