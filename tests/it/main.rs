//! The one integration-test binary. Each area is a module; shared helpers live in `common`.
#![allow(clippy::disallowed_macros)] // tests print diagnostics; only the product is bound to crate::ui

mod action;
mod action_publish;
mod builtin_runners;
mod common;
mod corpus;
mod corpus_json;
mod corpus_junit;
mod corpus_xml;
mod dashboard;
mod diagnose;
mod diagnose_corpus;
mod fake_github;
mod faults;
mod fuzz_replay;
mod gate;
mod gitlab;
mod guard;
mod history;
mod hostile;
mod junit_merged;
mod lint_parsers;
mod mcp;
mod merge;
mod notify;
mod onboard;
mod parser_props;
mod pipeline;
mod polish;
mod recipes;
mod report;
mod secrets;
mod verify;
mod xml_props;
