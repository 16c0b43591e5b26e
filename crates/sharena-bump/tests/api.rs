//! The public surface: allocation, checked access, reset, mark/rewind,
//! statistics, and every kind of bad input (each a specific error, with the
//! state unchanged).

mod common;

use common::{arena, HeapSegment};
use sharena_bump::{Bump, ShmAllocator, MAX_ALIGN, MAX_BLOCK};
use shm_layout::{AllocatorKind, Error, Offset, RegionId};

#[test]
fn alloc_write_read_and_alignment() {
    let a = arena(64 * 1024, 0);
    let x = a.alloc(5).unwrap();
    assert_eq!(x.get() % 8, 0);
    assert_eq!(a.usable_size(x).unwrap(), 8);
    a.write(x, b"hello").unwrap();
    assert_eq!(a.read(x, 5).unwrap(), b"hello");
    for shift in 0..=12 {
        let align = 1u64 << shift;
        let y = a.alloc_aligned(24, align).unwrap();
        assert_eq!(y.get() % align, 0, "align {align}");
        assert_eq!(a.usable_size(y).unwrap(), 24);
    }
    let v = a.alloc_value(&0xDEAD_BEEF_u64).unwrap();
    assert_eq!(a.read_value(v).unwrap(), 0xDEAD_BEEF);
    let s = a.alloc_slice(&[1u32, 2, 3]).unwrap();
    assert_eq!(a.read_slice(s, 3).unwrap(), vec![1, 2, 3]);
    // Bytes past the size asked for (5, in a block of 8) are refused,
    // naming that size, and nothing is written; the zero-copy path
    // reaches to the usable size.
    assert_eq!(a.requested_size(x).unwrap(), 5);
    for (at, len) in [(0u64, 6u64), (0, 9), (5, 1), (4, 2)] {
        assert!(
            matches!(
                a.write_at(x, at, &vec![0; len as usize]),
                Err(Error::OutOfBounds { block_len: 5, .. })
            ),
            "write {len} at {at}"
        );
    }
    assert!(matches!(
        a.read(x, 6),
        Err(Error::OutOfBounds { block_len: 5, .. })
    ));
    let mut six = [0u8; 6];
    assert!(matches!(
        a.read_into(x, &mut six),
        Err(Error::OutOfBounds { block_len: 5, .. })
    ));
    assert!(matches!(
        a.read_slice(s, 4),
        Err(Error::OutOfBounds { block_len: 12, .. })
    ));
    assert!(a.block_ptr(x, 0, 8).is_ok());
    assert!(a.block_ptr(x, 0, 9).is_err());
    assert_eq!(a.read(x, 5).unwrap(), b"hello");
    let st = a.stats();
    assert_eq!(st.allocations, 16);
    assert_eq!(st.used + st.available, st.capacity);
    assert!(st.high_water >= st.used);
}

#[test]
fn bad_requests_are_specific_errors_and_change_nothing() {
    let a = arena(64 * 1024, 0);
    a.alloc(16).unwrap();
    let before = a.stats();
    for align in [0, 3, 24, 8192, u64::MAX] {
        assert!(matches!(
            a.alloc_aligned(8, align),
            Err(Error::InvalidAlignment { max: MAX_ALIGN, .. })
        ));
    }
    assert!(matches!(a.alloc(0), Err(Error::ZeroSize)));
    assert!(matches!(
        a.alloc(u64::MAX),
        Err(Error::SizeTooLarge {
            size: u64::MAX,
            max: MAX_BLOCK
        })
    ));
    assert!(matches!(
        a.alloc_aligned(u64::MAX - 7, 4096),
        Err(Error::SizeTooLarge { .. })
    ));
    match a.alloc(1 << 20) {
        Err(Error::OutOfMemory {
            requested,
            available,
        }) => {
            assert_eq!(requested, 1 << 20);
            assert_eq!(available, before.available);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.free(Offset::new(8192)),
        Err(Error::Unsupported { .. })
    ));
    assert_eq!(a.stats(), before);
}

#[test]
fn bad_offsets_are_specific_errors() {
    let a = arena(64 * 1024, 0);
    let other = arena(64 * 1024, 0);
    let x = a.alloc(64).unwrap();
    a.write(x, &[0xAB; 64]).unwrap();
    let foreign = other.alloc(64).unwrap();
    let pool = a.view().region(RegionId::Pool);
    let before = a.stats();
    let invalid = |o: u64| match a.usable_size(Offset::new(o)) {
        Err(Error::InvalidOffset { offset, .. }) => assert_eq!(offset, o),
        r => panic!("offset {o}: {r:?}"),
    };
    invalid(0); // null
    invalid(x.get() + 4); // misaligned
    invalid(x.get() + 8); // inside a block
    invalid(x.get() + 56); // inside a block, near its end
    invalid(pool.offset + pool.len); // past the pool
    invalid(pool.offset + pool.len + 4096); // far past
    invalid(u64::MAX - 7);
    invalid(100); // in the header
    invalid(pool.offset); // pool start: no room for a header
    invalid(pool.offset + 4096); // past the cursor
                                 // A block start of another segment, at the same offset as ours.
    assert_eq!(foreign, x);
    assert!(other.usable_size(foreign).is_ok());
    let b = a.alloc(64).unwrap();
    let foreign2 = other.alloc(64).unwrap();
    assert_eq!(a.usable_size(b).unwrap(), 64);
    assert_eq!(foreign2, b);
    // Same offsets mean the same blocks only in the same segment: the
    // segments' salts differ, so a forged header would not decode.
    let y = other.alloc(8).unwrap();
    invalid(y.get());
    // Checked reads and writes through bad offsets fail the same way.
    assert!(matches!(
        a.read(Offset::new(x.get() + 8), 8),
        Err(Error::InvalidOffset { .. })
    ));
    assert!(matches!(
        a.write(Offset::new(0), b"x"),
        Err(Error::InvalidOffset { .. })
    ));
    let mut after = before;
    after.allocations += 1;
    after.used = a.stats().used;
    after.available = a.stats().available;
    after.high_water = a.stats().high_water;
    assert_eq!(a.stats(), after);
    assert_eq!(a.read(x, 64).unwrap(), vec![0xAB; 64]);
}

#[test]
fn reset_makes_offsets_stale_and_frees_everything() {
    let a = arena(4096, 256);
    let mut old = Vec::new();
    while let Ok(o) = a.alloc(40) {
        old.push(o);
    }
    assert!(a.stats().available < 48);
    assert_eq!(a.reset().unwrap(), 1);
    assert_eq!(a.generation().unwrap(), 1);
    let st = a.stats();
    assert_eq!((st.used, st.allocations, st.available), (0, 0, 4096));
    for &o in &old {
        match a.usable_size(o) {
            Err(Error::Stale {
                offset,
                generation: 0,
                current: 1,
            }) => assert_eq!(offset, o.get()),
            r => panic!("{o:?}: {r:?}"),
        }
        assert!(matches!(a.write(o, b"x"), Err(Error::Stale { .. })));
    }
    // Everything is reusable, to the last byte.
    let big = a.alloc(4096 - 8).unwrap();
    assert_eq!(a.usable_size(big).unwrap(), 4088);
    assert_eq!(a.stats().available, 0);
    assert!(matches!(
        a.alloc(1),
        Err(Error::OutOfMemory {
            requested: 1,
            available: 0
        })
    ));
    // Twice more: generations count up.
    assert_eq!(a.reset().unwrap(), 2);
    assert!(matches!(
        a.usable_size(big),
        Err(Error::Stale {
            generation: 1,
            current: 2,
            ..
        })
    ));
}

#[test]
fn mark_and_rewind_nest() {
    let a = arena(64 * 1024, 512);
    let keep = a.alloc(100).unwrap();
    let outer = a.mark().unwrap();
    let used_at_outer = a.stats().used;
    let mid = a.alloc(200).unwrap();
    let inner = a.mark().unwrap();
    let gone: Vec<_> = (0..50).map(|_| a.alloc(64).unwrap()).collect();
    assert_eq!(a.stats().allocations, 52);
    let peak = a.stats().used;
    a.rewind(inner).unwrap();
    assert!(a.stats().high_water >= peak);
    assert_eq!(a.stats().allocations, 2);
    for &g in &gone {
        assert!(
            matches!(a.usable_size(g), Err(Error::Stale { .. })),
            "{g:?}"
        );
    }
    assert_eq!(a.usable_size(mid).unwrap(), 200);
    // The released bytes are handed out again, starting at the mark.
    let again = a.alloc(64).unwrap();
    assert_eq!(again, gone[0]);
    for &g in &gone[1..] {
        assert!(
            matches!(a.usable_size(g), Err(Error::Stale { .. })),
            "{g:?}"
        );
    }
    a.rewind(inner).unwrap(); // a mark may be rewound to repeatedly
    a.rewind(outer).unwrap();
    assert_eq!(a.stats().used, used_at_outer);
    assert_eq!(a.stats().allocations, 1);
    assert!(matches!(a.usable_size(mid), Err(Error::Stale { .. })));
    assert_eq!(a.usable_size(keep).unwrap(), 104);
    // `inner` lies past the cursor now: refused.
    assert!(matches!(a.rewind(inner), Err(Error::Stale { .. })));
    // Marks of an older generation are stale.
    let g = a.reset().unwrap();
    assert_eq!(g, 4); // three rewinds and a reset
    assert!(matches!(
        a.rewind(outer),
        Err(Error::Stale {
            generation: 0,
            current: 4,
            ..
        })
    ));
    // Marks of another segment are refused.
    let other = arena(64 * 1024, 0);
    let foreign = other.mark().unwrap();
    assert!(matches!(
        a.rewind(foreign),
        Err(Error::InvalidOffset { .. })
    ));
    assert_eq!(a.stats().high_water, 0);
}

#[test]
fn large_blocks_and_exact_capacity() {
    let a = arena(1 << 20, 4096);
    let small = a.alloc(24).unwrap();
    let big = a.alloc(100_000).unwrap();
    let small2 = a.alloc(24).unwrap();
    for o in [small, big, small2] {
        assert!(a.usable_size(o).is_ok());
    }
    assert!(big.get() > small.get());
    // Fill to the last byte: whatever is left, less one header.
    let left = a.stats().available;
    let last = a.alloc(left - 8).unwrap();
    assert_eq!(a.usable_size(last).unwrap(), left - 8);
    let st = a.stats();
    assert_eq!((st.available, st.used, st.allocations), (0, 1 << 20, 4));
    assert!(matches!(
        a.alloc(8),
        Err(Error::OutOfMemory { available: 0, .. })
    ));
}

#[test]
fn a_second_handle_sees_the_same_segment() {
    let seg = HeapSegment::new(1 << 16, 256).unwrap();
    // SAFETY: `second` is dropped before `first` (which owns the buffer).
    let opened = unsafe { seg.open_again() };
    let first = Bump::attach(seg).unwrap();
    let second = Bump::attach(opened).unwrap();
    let x = first.alloc(32).unwrap();
    let y = second.alloc(32).unwrap();
    assert_ne!(x, y);
    second.write(x, b"from the second").unwrap();
    assert_eq!(first.read(x, 15).unwrap(), b"from the second");
    // A reset by one retires the other's chunk.
    first.reset().unwrap();
    assert!(matches!(second.usable_size(y), Err(Error::Stale { .. })));
    let z = second.alloc(32).unwrap();
    let w = first.alloc(32).unwrap();
    assert_ne!(z, w);
    assert!(first.usable_size(z).is_ok() && second.usable_size(w).is_ok());
    drop(second);
}

#[test]
fn interleaved_arenas_on_one_thread() {
    let a = arena(1 << 16, 256);
    let b = arena(1 << 16, 256);
    for i in 0..200u64 {
        let x = a.alloc(8).unwrap();
        let y = b.alloc(8).unwrap();
        a.write(x, &i.to_le_bytes()).unwrap();
        b.write(y, &(!i).to_le_bytes()).unwrap();
        assert_eq!(a.read(x, 8).unwrap(), i.to_le_bytes());
    }
    assert_eq!(a.stats().allocations, 200);
    assert_eq!(b.stats().allocations, 200);
}

#[test]
fn attach_checks_kind_and_state() {
    use shm_layout::AllocatorKind::{Bump as BumpKind, Raw};
    let raw = HeapSegment::with(Raw, 4096, 1024, [0; 8], false).unwrap();
    assert!(matches!(
        Bump::attach(raw),
        Err(Error::KindMismatch {
            found: Raw,
            expected: BumpKind,
            ..
        })
    ));
    // Never initialised: magic is zero.
    let blank = HeapSegment::with(BumpKind, 4096, 1024, [0; 8], false).unwrap();
    assert!(matches!(Bump::attach(blank), Err(Error::Corrupt { .. })));
    // State region too small for the state: init refuses, attach too.
    assert!(matches!(
        HeapSegment::with(BumpKind, 4096, 128, [0; 8], true),
        Err(Error::InvalidSize { .. })
    ));
    let short = HeapSegment::with(BumpKind, 4096, 128, [0; 8], false).unwrap();
    assert!(matches!(Bump::attach(short), Err(Error::Corrupt { .. })));
    // A bad chunk parameter.
    let mut p = [0; 8];
    p[0] = 12;
    assert!(matches!(
        HeapSegment::with(BumpKind, 4096, 1024, p, true),
        Err(Error::InvalidSize { .. })
    ));
    // Corrupt words: capacity, head cursor, head epoch tag, head lane tag,
    // magic.
    let state_word = |seg: &mut HeapSegment, word: u64, v: u64| {
        let at = seg.as_ref().region(RegionId::State).offset + word;
        // SAFETY: `byte_ptr` checked the bounds; the word is 8-aligned and
        // nobody else uses the segment.
        unsafe { seg.byte_ptr(at).cast::<u64>().write(v) };
    };
    for (word, v, at) in [
        (0x008, 1u64 << 40, 0x008),
        (0x100, (1 << 40) - 1, 0x100),
        (0x100, 7 << 52, 0x100),
        (0x100, 255 << 44, 0x100),
        (0x100, 1 << 63, 0x100),
        (0x000, 0, 0x000),
    ] {
        let mut seg = HeapSegment::new(4096, 0).unwrap();
        let state = seg.as_ref().region(RegionId::State).offset;
        state_word(&mut seg, word, v);
        match Bump::attach(seg) {
            Err(Error::Corrupt { at: got, .. }) => assert_eq!(got, state + at, "word {word:#x}"),
            r => panic!("word {word:#x} = {v:#x}: {r:?}"),
        }
    }
}

#[test]
fn a_corrupted_cursor_after_attach_is_an_error() {
    let mut seg = HeapSegment::new(4096, 0).unwrap();
    let head = seg.as_ref().region(RegionId::State).offset + 0x100;
    let p = seg.byte_ptr(head).cast::<u64>();
    let a = Bump::attach(seg).unwrap();
    let x = a.alloc(8).unwrap();
    // SAFETY: `p` points at the head word inside the buffer `a` owns, which
    // is alive; 8-aligned.
    unsafe { p.write_volatile(1 << 43) };
    a.reset().unwrap_err();
    assert!(matches!(a.usable_size(x), Err(Error::Corrupt { .. })));
    assert!(matches!(a.alloc(1 << 12), Err(Error::Corrupt { .. })));
    let st = a.stats();
    assert_eq!((st.available, st.used), (0, 4096));
    let _ = AllocatorKind::Bump;
}
