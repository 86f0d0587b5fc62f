//! Setting a project up: the starter files ([`starter`]: `codeloop init`, the MCP tool
//! `codeloop_init`) and the setup check ([`doctor`]: `codeloop doctor`, `codeloop_doctor`).
//! The commands and the MCP server print what these return.

pub mod doctor;
pub mod starter;
