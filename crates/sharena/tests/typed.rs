//! Issue 7, typed values: `alloc_value`, `read_value`, `write_value` and
//! Pod slices respect the size and alignment of `T`.

use bytemuck::{Pod, Zeroable};
use sharena::{Error, FreeList, Offset, ShmAllocator, Slab, TypedOffset};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, align(64))]
struct Wide {
    id: u64,
    qty: u64,
    tail: [u64; 6],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Pair {
    a: u32,
    b: u32,
}

#[test]
fn values_round_trip_at_their_alignment() {
    let heap = FreeList::anonymous(8 << 20).unwrap();
    for i in 0..50u64 {
        let v = Wide {
            id: i,
            qty: i * 3,
            tail: [i; 6],
        };
        let at = heap.alloc_value(&v).unwrap();
        assert_eq!(at.offset().get() % 64, 0, "alignment of Wide");
        assert_eq!(heap.read_value(at).unwrap(), v);
        let w = Wide { qty: 9, ..v };
        heap.write_value(at, &w).unwrap();
        assert_eq!(heap.read_value(at).unwrap(), w);
    }
}

#[test]
fn pod_slices() {
    let heap = FreeList::anonymous(8 << 20).unwrap();
    let pairs: Vec<Pair> = (0..100).map(|i| Pair { a: i, b: i * i }).collect();
    let at = heap.alloc_slice(&pairs).unwrap();
    assert_eq!(heap.read_slice(at, 100).unwrap(), pairs);
    let twice: Vec<Pair> = pairs.iter().map(|p| Pair { a: p.a * 2, b: p.b }).collect();
    heap.write_slice(at, &twice[..50]).unwrap();
    let back = heap.read_slice(at, 100).unwrap();
    assert_eq!(&back[..50], &twice[..50]);
    assert_eq!(&back[50..], &pairs[50..]);
    // Past the block: refused, nothing written, no huge buffer made.
    let room = heap.usable_size(at.offset()).unwrap() / 8;
    assert!(matches!(
        heap.read_slice(at, room as usize + 1),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        heap.read_slice(at, usize::MAX),
        Err(Error::OutOfBounds { .. })
    ));
    let too_many = vec![Pair { a: 0, b: 0 }; room as usize + 1];
    assert!(matches!(
        heap.write_slice(at, &too_many),
        Err(Error::OutOfBounds { .. })
    ));
    assert_eq!(heap.read_slice(at, 100).unwrap()[..50], twice[..50]);
}

#[test]
fn misaligned_and_oversized_typed_offsets_are_errors() {
    let slab = Slab::anonymous(1 << 20, 64).unwrap();
    let at = slab.alloc_value(&7u64).unwrap();
    let skewed: TypedOffset<u64> = TypedOffset::new(Offset::new(at.offset().get() + 4));
    assert!(matches!(
        slab.read_value(skewed),
        Err(Error::InvalidOffset { .. })
    ));
    assert!(matches!(
        slab.write_value(skewed, &1),
        Err(Error::InvalidOffset { .. })
    ));
    // Two Wides (128 bytes) do not fit a 64-byte slot.
    let two: TypedOffset<[Wide; 2]> = TypedOffset::new(at.offset());
    assert!(matches!(
        slab.read_value(two),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        slab.read_value(TypedOffset::<u64>::NULL),
        Err(Error::InvalidOffset { .. })
    ));
    assert_eq!(slab.read_value(at).unwrap(), 7);
}
