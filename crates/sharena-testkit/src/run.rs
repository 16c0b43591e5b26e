//! What an engine run (`stress`, `bench`) tells its caller besides its
//! results: how far it is ([`Progress`], drawn by the caller however it
//! likes) and how it failed ([`Failure`]).

/// A run's progress line. The engine calls it from its own loop (it starts
/// no thread: the engines fork, and forking a threaded process is
/// unsafe), so an implementation draws in the caller's thread or not at
/// all.
pub trait Progress {
    /// The run is `done` of the way (`0.0..=1.0`; `None`: unknown), doing
    /// `text`.
    fn update(&mut self, done: Option<f64>, text: &str);

    /// The run is over: take the line away (before a summary is printed).
    fn finish(&mut self) {}
}

/// No progress line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: Option<f64>, _: &str) {}
}

/// Why a run did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// What was asked for cannot run (the command: bad usage).
    Usage(String),
    /// The run failed.
    Op(String),
}

impl Failure {
    /// The run failed.
    pub fn op(message: impl std::fmt::Display) -> Self {
        Failure::Op(message.to_string())
    }

    /// What was asked for cannot run.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure::Usage(message.to_string())
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Op(m) => m,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Failure {}
