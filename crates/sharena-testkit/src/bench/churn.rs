//! The churn workloads (docs/WORKLOADS.md): W2 and W2P2 (64-byte blocks) and
//! W3 and W4 (sizes in [16, 4096]; W4 is W3 with P=2, printed `wl=W3 P=2`):
//! their subjects, run interleaved, then each once more as the
//! fragmentation pass.

use super::harness::RunOut;
use super::mutex_shm::mutex_shm_run;
use super::pool::{system_run, Pass, Sizes};
use super::rts::{self, rts_run};
use super::subjects::{freelist_run, slab_run};
use super::treiber::treiber_run;
use super::{interleave, Figure, Runner, POOL_SEGMENT};
use crate::run::{Failure, Progress};

type RunFn<'a> = Box<dyn Fn(usize, Pass) -> std::io::Result<RunOut> + 'a>;

/// A subject of a churn workload.
pub struct Subject<'a> {
    name: &'static str,
    /// The block alignment it gives (its native default).
    align: u64,
    /// One run with `p` processes.
    run: RunFn<'a>,
}

impl std::fmt::Debug for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

impl<'a> Subject<'a> {
    /// The subject's name, as the figures print it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One run with `p` processes.
    pub fn run(&self, p: usize, pass: Pass) -> std::io::Result<RunOut> {
        (self.run)(p, pass)
    }

    fn new(
        name: &'static str,
        align: u64,
        run: impl Fn(usize, Pass) -> std::io::Result<RunOut> + 'a,
    ) -> Self {
        Subject {
            name,
            align,
            run: Box::new(run),
        }
    }
}

/// W2 / W2P2: `ops` pairs of 64 bytes per process.
pub fn w2_subjects(ops: u64) -> Vec<Subject<'static>> {
    let seg = POOL_SEGMENT;
    let fixed = Sizes::Fixed(64);
    vec![
        Subject::new("slab", 64, move |p, pass| slab_run(p, ops, seg, pass)),
        Subject::new("limit-treiber-slab", 64, move |p, pass| {
            treiber_run(p, ops, seg, pass)
        }),
        Subject::new("system", 16, move |p, pass| system_run(p, ops, fixed, pass)),
        Subject::new("mutex-shm", 16, move |p, pass| {
            mutex_shm_run(p, ops, fixed, seg, pass)
        }),
        Subject::new("rts-alloc", rts::ALIGN, move |p, pass| {
            rts_run(p, ops, fixed, seg, pass)
        }),
    ]
}

/// W3 / W4: `ops` pairs of variable size per process.
pub fn w3_subjects(ops: u64) -> Vec<Subject<'static>> {
    let seg = POOL_SEGMENT;
    let var = Sizes::Variable;
    vec![
        Subject::new("freelist", 16, move |p, pass| {
            freelist_run(p, ops, seg, pass)
        }),
        Subject::new("mutex-shm", 16, move |p, pass| {
            mutex_shm_run(p, ops, var, seg, pass)
        }),
        Subject::new("system", 16, move |p, pass| system_run(p, ops, var, pass)),
        Subject::new("rts-alloc", rts::ALIGN, move |p, pass| {
            rts_run(p, ops, var, seg, pass)
        }),
    ]
}

/// Runs `subjects` with each process count of `ps` (subject by subject,
/// all interleaved, median of `reps`), then the fragmentation pass once for
/// each process count of `frag_ps`.
pub fn run(
    wl: &'static str,
    ps: &[usize],
    frag_ps: &[usize],
    reps: usize,
    subjects: &[Subject<'_>],
    progress: &mut dyn Progress,
) -> Result<Vec<Figure>, Failure> {
    let mut runners: Vec<Runner<'_>> = Vec::new();
    for s in subjects {
        for &p in ps {
            runners.push(Runner {
                subject: s.name,
                wl,
                p,
                align: s.align,
                run: Box::new(move || (s.run)(p, Pass::Timed)),
            });
        }
    }
    let mut figs = interleave(reps, &runners, progress)?;
    for &p in frag_ps {
        for s in subjects {
            progress.update(None, &format!("{wl} P={p} {}: fragmentation pass", s.name));
            let run = (s.run)(p, Pass::Frag)
                .map_err(|e| Failure::op(format!("{wl} P={p} {} (frag): {e}", s.name)))?;
            figs.push(Figure {
                subject: s.name,
                wl,
                p,
                run,
                unit: "B",
                align: s.align,
                bytes_checksum: None,
            });
        }
    }
    Ok(figs)
}
