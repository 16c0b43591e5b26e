//! Criterion benches for sharena live beside this file; this library is empty.
//! Run them with `cargo bench` from the repository root.
