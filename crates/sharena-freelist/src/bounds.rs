//! Checked byte access at the size asked for: `write`, `read` and their
//! kin refuse any byte past the size the block's allocation requested
//! (recorded as the *slack* in its link word, `block.rs`), while
//! `usable_size` and `block_ptr`, the zero-copy path, reach to the end of
//! the rounded block.

use crate::block::{slack_of, HEADER};
use crate::class::GRANULE_SHIFT;
use crate::FreeList;
use shm_layout::sync::Ordering;
use shm_layout::{Offset, Result, SegmentView};

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// The size the allocation of the live block at `offset` asked for:
    /// what `read`, `write` and the typed helpers may touch. At most
    /// [`usable_size`](shm_layout::ShmAllocator::usable_size), which the zero-copy
    /// path (`block_ptr`) may touch. Errors as `usable_size` does; a slack
    /// that leaves no byte is [`Error::Corrupt`](shm_layout::Error::Corrupt).
    pub fn requested_size(&self, offset: Offset) -> Result<u64> {
        let pool = self.pool();
        let (b, tag, head) = self.locate(&pool, offset)?;
        let usable = if tag.huge() {
            pool.chunk_off(pool.chunk_of(b)) + (u64::from(head.n()) << self.geo.chunk_shift)
                - offset.get()
        } else {
            (u64::from(tag.size()) << GRANULE_SHIFT) - HEADER
        };
        let link = pool
            .word(b + 8)
            .map_err(|f| self.corrupt(f))?
            .load(Ordering::Relaxed);
        match usable.checked_sub(slack_of(link)) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(self.corrupt(crate::arena::Fault::Block(
                b,
                "a slack past the block's usable bytes",
            ))),
        }
    }
}
