//! A request-scoped bump arena: a server keeps one arena for all its
//! requests, takes a `mark()` when a request starts, allocates whatever the
//! request needs (a copy of the body, scratch for parsing, the response)
//! with one atomic add each, and `rewind`s to the mark when the request is
//! done, which releases all of it at once. A `reset()` releases everything
//! and starts a new generation: offsets from before it are reported stale,
//! never silently reused.
//!
//! ```text
//! cargo run --release --example request_arena [-- REQUESTS]
//! ```
//! The arena is anonymous (shared with children forked later, gone when
//! the last process exits), so nothing is left in /dev/shm.

use sharena::{Bump, Error, ShmAllocator};

/// Handles one request inside the arena; returns the response's length.
fn handle(arena: &Bump, id: u64, body: &[u8]) -> sharena::Result<u64> {
    let mark = arena.mark()?;
    // The request's body, copied into the arena.
    let copy = arena.alloc(body.len() as u64)?;
    arena.write(copy, body)?;
    // Scratch for parsing: the words of the body, 8-byte aligned.
    let words: Vec<&[u8]> = body.split(|b| *b == b' ').collect();
    let scratch = arena.alloc_aligned(8 * words.len() as u64, 8)?;
    for (i, w) in words.iter().enumerate() {
        arena.write_at(scratch, 8 * i as u64, &(w.len() as u64).to_le_bytes())?;
    }
    // The response, built from what the arena holds.
    let response = format!("request {id}: {} words", words.len());
    let out = arena.alloc(response.len() as u64)?;
    arena.write(out, response.as_bytes())?;
    assert_eq!(arena.read(out, response.len() as u64)?, response.as_bytes());
    assert_eq!(arena.read(copy, body.len() as u64)?, body);
    // Everything this request allocated goes back at once.
    arena.rewind(mark)?;
    Ok(response.len() as u64)
}

/// Serves REQUESTS requests (default 10,000) from one 1 MiB arena.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: u64 = std::env::args().nth(1).map_or(Ok(10_000), |a| a.parse())?;
    let arena = Bump::anonymous(1 << 20)?;
    let before = arena.stats().used;

    // Something that lives across requests: allocated before the first mark.
    let banner = arena.alloc(12)?;
    arena.write(banner, b"sharena demo")?;

    let mut bytes = 0;
    for id in 0..requests {
        let body = format!("GET /orders/{id} please reply with the order");
        bytes += handle(&arena, id, body.as_bytes())?;
    }
    // Every request rewound its own blocks: only the banner is left.
    let used = arena.stats().used - before;
    println!(
        "{requests} requests served ({bytes} response bytes); arena in use after them: {used} bytes (the banner)"
    );
    assert_eq!(arena.read(banner, 12)?, b"sharena demo");

    // A reset releases everything and starts a new generation: the banner's
    // offset is now stale, and the checked API says so.
    arena.reset()?;
    match arena.read(banner, 12) {
        Err(Error::Stale { .. }) => println!("after reset: the old offset is reported stale"),
        other => return Err(format!("expected a stale offset, got {other:?}").into()),
    }
    Ok(())
}
