//! Issue 7: fragmentation then compaction, pins, and bad handles.

mod support;

use sharena_handles::Handle;
use shm_layout::{Error, Recover};
use support::{heap, pattern};

/// Allocate, free every other block, an allocation larger than any hole
/// fails (and moves nothing), compact, it succeeds; every surviving handle
/// still reads its own bytes.
#[test]
fn fragmentation_then_compaction() {
    let hp = heap(32, 256);
    let data = hp.stats().capacity;
    let block = 1024u64;
    let n = data / block;
    let all: Vec<Handle> = (0..n).map(|_| hp.alloc(block).unwrap()).collect();
    for (i, &x) in all.iter().enumerate() {
        hp.write(x, &pattern(i as u64, block as usize)).unwrap();
    }
    for &x in all.iter().step_by(2) {
        hp.free(x).unwrap();
    }
    let before: Vec<u64> = all
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&x| hp.pin(x).unwrap().offset().get())
        .collect();
    // Half the data area is free, in holes of one block each.
    assert!(matches!(
        hp.alloc(2 * block),
        Err(Error::OutOfMemory { .. })
    ));
    let after_fail: Vec<u64> = all
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&x| hp.pin(x).unwrap().offset().get())
        .collect();
    assert_eq!(before, after_fail, "a failed allocation moved blocks");

    let rep = hp.compact().unwrap();
    assert!(rep.complete);
    // Every survivor (the odd blocks) slides down.
    assert_eq!(rep.blocks_moved, n / 2);
    assert_eq!(rep.bytes_moved, rep.blocks_moved * block);
    assert!(rep.largest_free_after >= (n / 2) * block, "{rep:?}");
    assert!(rep.largest_free_before < rep.largest_free_after);

    let big = hp.alloc((n / 2) * block).unwrap();
    for (i, &x) in all.iter().enumerate().skip(1).step_by(2) {
        assert_eq!(
            hp.read(x, block).unwrap(),
            pattern(i as u64, block as usize)
        );
    }
    hp.free(big).unwrap();
    assert!(hp.check().unwrap().ok());
}

#[test]
fn a_pinned_block_is_not_moved() {
    let hp = heap(16, 64);
    let a = hp.alloc(512).unwrap();
    let b = hp.alloc(512).unwrap();
    let c = hp.alloc(512).unwrap();
    hp.write(b, b"pinned").unwrap();
    hp.write(c, b"mover").unwrap();
    hp.free(a).unwrap();
    let pin = hp.pin(b).unwrap();
    let at = pin.offset();
    let rep = hp.compact().unwrap();
    assert_eq!((rep.blocks_moved, rep.pinned), (0, 1), "{rep:?}");
    assert_eq!(pin.offset(), at);
    assert!(matches!(hp.free(b), Err(Error::InvalidOffset { .. })));
    drop(pin);
    let rep = hp.compact().unwrap();
    assert_eq!(rep.blocks_moved, 2, "{rep:?}");
    assert_eq!(hp.read(b, 6).unwrap(), b"pinned");
    assert_eq!(hp.read(c, 5).unwrap(), b"mover");
    assert!(hp.pin(b).unwrap().offset() < at);
}

#[test]
fn auto_compaction() {
    let hp = heap(16, 64);
    let cap = hp.stats().capacity;
    let xs: Vec<Handle> = (0..cap / 1024).map(|_| hp.alloc(1024).unwrap()).collect();
    for &x in xs.iter().step_by(2) {
        hp.free(x).unwrap();
    }
    assert!(hp.alloc(4096).is_err());
    hp.set_auto_compact(true);
    let y = hp.alloc(4096).unwrap();
    hp.write(y, &[7; 4096]).unwrap();
    assert!(hp.check().unwrap().ok());
}

#[test]
fn stale_forged_and_out_of_range_handles() {
    let hp = heap(8, 16);
    let a = hp.alloc(64).unwrap();
    hp.free(a).unwrap();
    assert!(matches!(hp.free(a), Err(Error::DoubleFree { .. })));
    assert!(matches!(
        hp.read(a, 1),
        Err(Error::DoubleFree { .. } | Error::Stale { .. })
    ));
    let b = hp.alloc(64).unwrap(); // reuses a's entry, next generation
    assert_eq!(b.index(), a.index());
    assert_ne!(b.generation(), a.generation());
    assert!(hp.read(a, 1).is_err());
    assert!(hp.pin(a).is_err());
    // Forged: right index, wrong generation; index out of range.
    let forged = Handle::new(b.index(), b.generation().wrapping_add(7));
    assert!(matches!(hp.read(forged, 1), Err(Error::Stale { .. })));
    assert!(matches!(hp.free(forged), Err(Error::Stale { .. })));
    let far = Handle::new(1_000_000, 0);
    assert!(matches!(hp.read(far, 1), Err(Error::InvalidOffset { .. })));
    assert!(matches!(
        hp.free(Handle::from_raw(u64::MAX)),
        Err(Error::InvalidOffset { .. })
    ));
    // A never-used entry.
    assert!(matches!(
        hp.read(Handle::new(5, 0), 1),
        Err(Error::Stale { .. })
    ));
    // Bounds of the block.
    assert!(matches!(hp.read(b, 65), Err(Error::OutOfBounds { .. })));
    assert!(matches!(
        hp.write(b, &[0; 65]),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(hp.alloc(0), Err(Error::ZeroSize)));
    assert!(matches!(
        hp.alloc(u64::MAX),
        Err(Error::SizeTooLarge { .. })
    ));
    // Out of handles: 16 entries.
    let more: Vec<_> = (0..15).map(|_| hp.alloc(8).unwrap()).collect();
    assert!(matches!(hp.alloc(8), Err(Error::OutOfMemory { .. })));
    drop(more);
    assert!(hp.check().unwrap().ok());
}

/// Where every handle's block is (its segment offset, read through a pin
/// taken and dropped), and the bump cursor.
fn positions(hp: &sharena_handles::Handles<support::Mem>, xs: &[Handle]) -> (Vec<u64>, u64) {
    let at = xs
        .iter()
        .map(|&x| hp.pin(x).unwrap().offset().get())
        .collect();
    (at, hp.stats().high_water)
}

/// Blocks of 1 KiB filling the data area (the tail shorter than a block
/// stays free).
fn filled(hp: &sharena_handles::Handles<support::Mem>) -> Vec<Handle> {
    let n = hp.stats().capacity / 1024;
    (0..n).map(|_| hp.alloc(1024).unwrap()).collect()
}

/// Auto-compaction on, a request larger than every free byte together:
/// the allocation fails without compacting, so no live block moves.
#[test]
fn a_request_past_the_free_bytes_moves_nothing() {
    let hp = heap(32, 256);
    hp.set_auto_compact(true);
    let all = filled(&hp);
    for &x in all.iter().step_by(2) {
        hp.free(x).unwrap();
    }
    let live: Vec<Handle> = all.iter().skip(1).step_by(2).copied().collect();
    let s = hp.stats();
    let free = s.capacity - s.used;
    let before = positions(&hp, &live);
    let r = hp.alloc(free + 8);
    assert!(
        matches!(r, Err(Error::OutOfMemory { requested, .. }) if requested == free + 8),
        "{r:?}"
    );
    assert_eq!(
        positions(&hp, &live),
        before,
        "a failed allocation moved blocks"
    );
    // What fits once compacted still succeeds (and moves them).
    let big = hp.alloc(free).unwrap();
    assert_ne!(positions(&hp, &live).0, before.0);
    hp.free(big).unwrap();
    assert!(hp.check().unwrap().ok());
}

/// Auto-compaction on, free bytes enough in all, but only counting the
/// space behind a pinned block (which compaction leaves where it is):
/// compaction cannot make room, so the allocation fails and moves nothing.
/// Once the pin goes, the same allocation compacts and succeeds.
#[test]
fn room_only_behind_a_pin_moves_nothing() {
    let hp = heap(32, 256);
    hp.set_auto_compact(true);
    let all = filled(&hp);
    let n = all.len();
    hp.free(all[0]).unwrap();
    hp.free(all[n - 2]).unwrap();
    let live: Vec<Handle> = all[1..n - 2].iter().chain(&all[n - 1..]).copied().collect();
    let s = hp.stats();
    assert!(s.capacity - s.used >= 2048, "{s:?}");
    let pin = hp.pin(all[n - 1]).unwrap();
    let before = positions(&hp, &live);
    let r = hp.alloc(2048);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    assert_eq!(
        positions(&hp, &live),
        before,
        "a failed allocation moved blocks"
    );
    drop(pin);
    let x = hp.alloc(2048).unwrap();
    assert_ne!(positions(&hp, &live).0, before.0);
    hp.free(x).unwrap();
    assert!(hp.check().unwrap().ok());
}

/// A pinned block in the middle leaves enough room after it: compaction
/// runs around the pin and the allocation succeeds.
#[test]
fn room_past_a_pin_is_made() {
    let hp = heap(32, 256);
    hp.set_auto_compact(true);
    let all = filled(&hp);
    let n = all.len();
    hp.free(all[0]).unwrap();
    hp.free(all[1]).unwrap();
    hp.free(all[n - 3]).unwrap();
    hp.free(all[n - 2]).unwrap();
    let mid = all[n / 2];
    hp.write(mid, b"stays").unwrap();
    let pin = hp.pin(mid).unwrap();
    let at = pin.offset();
    // Two blocks' room after the pin, two before it: only the first two
    // can be used by a bump allocation after compaction.
    let x = hp.alloc(2048).unwrap();
    assert_eq!(pin.offset(), at);
    assert!(matches!(hp.alloc(1024), Err(Error::OutOfMemory { .. })));
    drop(pin);
    assert_eq!(hp.read(mid, 5).unwrap(), b"stays");
    hp.free(x).unwrap();
    assert!(hp.check().unwrap().ok());
}
