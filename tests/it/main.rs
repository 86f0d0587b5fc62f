//! The one integration-test binary. Each area is a module; shared helpers live in `common`.

mod action;
mod common;
mod corpus;
mod fake_github;
