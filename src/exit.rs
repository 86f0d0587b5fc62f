//! Exit codes: the one place they are defined. Documented in the README.

/// The gate passed (or, for `verify` alone, every runner passed).
pub const OK: i32 = 0;
/// The gate failed (or, for `verify` alone, a runner failed).
pub const GATE_FAILED: i32 = 1;
/// Usage or configuration error: bad flags, invalid config.json/plugins.json.
pub const USAGE: i32 = 2;
/// No results where results were required (`fail_on_empty`, `require`).
pub const NO_RESULTS: i32 = 3;
/// Infrastructure failure: the run directory cannot be written, an API is unreachable when
/// publishing was required to succeed, codeloop was interrupted.
pub const INFRA: i32 = 4;
