//! codeloop: the CI evidence loop as a library. `main.rs` is a thin shell over [`app::run`].
//!
//! Layout: the pure core ([`model`], [`parsers`]) does no I/O and reads no clock; [`artifact`]
//! owns the run directory; [`pipeline`] runs the stages over one run; [`commands`] adapt
//! flags and action inputs to it (see docs/architecture.md).

pub mod app;
pub mod artifact;
pub mod badge;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod exit;
pub mod gate;
pub mod history;
pub mod interrupt;
pub mod mcp;
pub mod merge;
pub mod model;
pub mod notify;
pub mod parsers;
pub mod pipeline;
pub mod publish;
pub mod redact;
pub mod report;
pub mod runners;
pub mod settings;
pub mod setup;
pub mod ui;
