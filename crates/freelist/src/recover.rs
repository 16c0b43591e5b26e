//! Crash recovery and self-checks for [`FreeList`] (`shm_layout::Recover`).
//!
//! SCAFFOLD: every method says Unsupported until the recovery work lands.

use crate::FreeList;
use shm_layout::{CheckReport, Error, Offset, ReclaimReport, Recover, Result, Run, SegmentView};

const UNSUPPORTED: Error = Error::Unsupported {
    op: "recovery",
    by: "this build (scaffold)",
};

impl<S: AsRef<SegmentView>> Recover for FreeList<S> {
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        Err(UNSUPPORTED)
    }

    fn check(&self) -> Result<CheckReport> {
        Err(UNSUPPORTED)
    }

    fn share(&self, _offset: Offset) -> Result<()> {
        Err(UNSUPPORTED)
    }

    fn runs(&self, _limit: usize) -> Result<Vec<Run>> {
        Err(UNSUPPORTED)
    }
}
