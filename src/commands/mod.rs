//! One module per CLI command: the glue between flags, settings, the run directory and the
//! pure stages. Each `run` returns an exit code from [`crate::exit`].

pub mod doctor;
pub mod history;
pub mod init;
pub mod report;
pub mod status;
pub mod verify;
