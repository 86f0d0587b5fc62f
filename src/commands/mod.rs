//! One module per CLI command: the glue between flags, settings, the run directory and the
//! pure stages. Each `run` returns an exit code from [`crate::exit`].

pub mod action;
pub mod ci;
pub mod dashboard;
pub mod diagnose;
pub mod doctor;
pub mod formats;
pub mod gate_check;
pub mod history;
pub mod init;
pub mod mcp;
pub mod merge;
pub mod notify;
pub mod publish;
pub mod report;
pub mod status;
pub mod verify;
