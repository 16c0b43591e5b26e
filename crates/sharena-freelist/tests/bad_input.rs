//! Bad input: each a specific error, the heap unchanged (its stats, and the
//! blocks already live, read back the same).

mod common;

use shm_layout::{Error, Offset, Recover, RegionId, ShmAllocator};

fn setup() -> (
    common::Seg,
    sharena_freelist::FreeList<common::Seg>,
    Vec<Offset>,
) {
    let seg = common::segment(4 << 20);
    let h = common::attach(&seg);
    let blocks: Vec<Offset> = [24u64, 100, 3000, 200_000]
        .iter()
        .map(|&n| {
            let at = h.alloc(n).unwrap();
            h.write(at, &n.to_le_bytes()).unwrap();
            at
        })
        .collect();
    (seg, h, blocks)
}

fn unchanged(
    h: &sharena_freelist::FreeList<common::Seg>,
    blocks: &[Offset],
    before: shm_layout::AllocStats,
) {
    assert_eq!(h.stats(), before);
    for (at, n) in blocks.iter().zip([24u64, 100, 3000, 200_000]) {
        assert_eq!(h.read(*at, 8).unwrap(), n.to_le_bytes());
    }
}

#[test]
fn sizes_and_alignments() {
    let (_seg, h, blocks) = setup();
    let before = h.stats();
    assert!(matches!(h.alloc(0), Err(Error::ZeroSize)));
    let max = h.max_alloc();
    for size in [max + 1, u64::MAX, u64::MAX - 15, 1 << 60] {
        assert!(
            matches!(h.alloc(size), Err(Error::SizeTooLarge { max: m, .. }) if m == max),
            "{size}"
        );
    }
    for align in [0u64, 3, 24, 8192, 1 << 63] {
        assert!(
            matches!(
                h.alloc_aligned(64, align),
                Err(Error::InvalidAlignment { max: 4096, .. })
            ),
            "{align}"
        );
    }
    // Larger than what is free now: out of memory, naming the request.
    assert!(matches!(h.alloc(max), Err(Error::OutOfMemory { requested, .. }) if requested == max));
    unchanged(&h, &blocks, before);
}

#[test]
fn offsets_that_are_not_blocks() {
    let (seg, h, blocks) = setup();
    let before = h.stats();
    let pool = seg.as_ref().region(RegionId::Pool);
    let end = pool.offset + pool.len;
    let invalid = |off: u64| {
        let r = h.free(Offset::new(off));
        assert!(
            matches!(r, Err(Error::InvalidOffset { .. })),
            "{off}: {r:?}"
        );
        assert!(matches!(
            h.usable_size(Offset::new(off)),
            Err(Error::InvalidOffset { .. })
        ));
    };
    invalid(0); // null
    invalid(8); // the header page
    invalid(pool.offset); // no room for a header before it
    invalid(end); // past the pool
    invalid(u64::MAX - 7);
    invalid(blocks[1].get() + 8); // misaligned
    invalid(blocks[1].get() + 16); // inside a block
    invalid(blocks[2].get() + 1024);
    invalid(blocks[3].get() + 4096); // inside a huge block
    invalid(end - 4096); // a chunk nobody holds
                         // From another segment: an offset that is a block there, not here.
    let other = common::segment(4 << 20);
    let o = common::attach(&other);
    let mut far = o.alloc(64).unwrap();
    while far.get() <= blocks[3].get() + 300_000 {
        far = o.alloc(60_000).unwrap();
    }
    invalid(far.get());
    unchanged(&h, &blocks, before);
}

#[test]
fn double_frees() {
    let (seg, h, blocks) = setup();
    let other = common::attach(&seg);
    h.free(blocks[0]).unwrap();
    h.free(blocks[3]).unwrap();
    let before = h.stats();
    for at in [blocks[0], blocks[3]] {
        assert!(matches!(h.free(at), Err(Error::DoubleFree { .. })));
        assert!(matches!(other.free(at), Err(Error::DoubleFree { .. })));
    }
    // A remote free, then a second free from either side.
    other.free(blocks[1]).unwrap();
    assert!(matches!(h.free(blocks[1]), Err(Error::DoubleFree { .. })));
    assert!(matches!(
        other.free(blocks[1]),
        Err(Error::DoubleFree { .. })
    ));
    assert!(h.stats().used <= before.used);
    // Once the owner takes it in, it is reusable.
    assert_eq!(h.collect().unwrap(), 1);
    assert!(matches!(h.free(blocks[1]), Err(Error::DoubleFree { .. })));
}

#[test]
fn corrupt_params_are_refused_by_init() {
    for (shift, span, arenas, word) in [
        (11, 0, 0, "params[0]"),
        (25, 0, 0, "params[0]"),
        (0, 5000, 0, "params[1]"),
        (0, 0, 5000, "params[2]"),
    ] {
        let r = common::try_segment_with(1 << 20, shift, span, arenas);
        assert!(
            matches!(&r, Err(Error::BadField { field, .. }) if *field == word),
            "{r:?}"
        );
    }
}

/// The segment offsets of the state region's words that hold `value`.
fn state_words_holding(seg: &common::Seg, value: u64) -> Vec<Offset> {
    let view = seg.as_ref();
    let state = view.region(RegionId::State);
    (0..state.len / 8)
        .map(|i| Offset::new(state.offset + i * 8))
        .filter(|&at| {
            let mut w = [0u8; 8];
            view.read_bytes(at, &mut w).unwrap();
            u64::from_le_bytes(w) == value
        })
        .collect()
}

/// A bin head is a block offset read from the segment; the insert that
/// links a block before it names the head's `prev` field. A head near
/// `u64::MAX` once overflowed there (a panic in the overflow-checked test
/// profile); now it is an offset outside the pool, so `Error::Corrupt`.
#[test]
fn a_bin_head_near_the_top_of_the_address_space_is_corrupt() {
    let seg = common::segment(4 << 20);
    let h = common::attach(&seg);
    // Every other block freed: the first few fill the class cache, the
    // rest go into a bin. The used blocks between keep them apart (no
    // coalescing).
    let blocks: Vec<Offset> = (0..16).map(|_| h.alloc(3000).unwrap()).collect();
    for b in blocks.iter().step_by(2).take(6) {
        h.free(*b).unwrap();
    }
    // The cache is LIFO-filled by the first four; the last freed heads
    // the bin.
    let heads = state_words_holding(&seg, blocks[10].get() - 16);
    assert_eq!(
        heads.len(),
        1,
        "the bin head is the one word naming it: {heads:?}"
    );
    seg.as_ref()
        .write_bytes(heads[0], &(u64::MAX - 7).to_le_bytes())
        .unwrap();
    let r = h.free(blocks[13]);
    assert!(matches!(r, Err(Error::Corrupt { .. })), "{r:?}");
    let _ = h.check();
}

/// A link word is decoded before any arithmetic trusts it: one that says
/// the block before is FREE but gives it fewer granules than a block has,
/// or a size no span holds (with or without slack bits), is refused as
/// `Error::Corrupt` naming the link, whatever the size would have pointed
/// at.
#[test]
fn hostile_link_words_are_corrupt() {
    const PREV_FREE: u64 = 1 << 32;
    let hostile = [
        PREV_FREE,
        PREV_FREE | 1,
        PREV_FREE | 1 | u64::MAX << 33,
        PREV_FREE | (1 << 31),
        PREV_FREE | u64::from(u32::MAX),
        u64::MAX,
    ];
    for word in hostile {
        let seg = common::segment(4 << 20);
        let h = common::attach(&seg);
        // Four frees fill the class cache (the used blocks between keep
        // them apart), so the next frees of that size coalesce.
        let blocks: Vec<Offset> = (0..12).map(|_| h.alloc(3000).unwrap()).collect();
        for b in blocks.iter().skip(5).step_by(2) {
            h.free(*b).unwrap();
        }
        h.free(blocks[1]).unwrap();
        let link = Offset::new(blocks[2].get() - 8);
        seg.as_ref().write_bytes(link, &word.to_le_bytes()).unwrap();
        match h.free(blocks[2]) {
            Err(Error::Corrupt { what, .. }) => {
                assert!(what.contains("link word"), "{word:#x}: {what}");
            }
            r => panic!("{word:#x}: {r:?}"),
        }
        let _ = h.check();
        drop(h);
        drop(seg);
    }
}

/// A huge block's link word gives its payload's distance from the run
/// start: a hostile one makes the offset no block start (not a sum that
/// overflows).
#[test]
fn a_hostile_huge_link_word_is_no_block_start() {
    for word in [u64::MAX, u64::from(u32::MAX), 1 << 32 | 1] {
        let seg = common::segment(4 << 20);
        let h = common::attach(&seg);
        let at = h.alloc(1 << 20).unwrap();
        let link = Offset::new(at.get() - 8);
        seg.as_ref().write_bytes(link, &word.to_le_bytes()).unwrap();
        let r = h.free(at);
        assert!(
            matches!(r, Err(Error::InvalidOffset { .. })),
            "{word:#x}: {r:?}"
        );
        let _ = h.check();
    }
}
