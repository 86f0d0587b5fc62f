//! The one integration-test binary. Each area is a module; shared helpers live in `common`.

mod common;
mod corpus;
mod corpus_json;
mod corpus_xml;
mod verify;
mod diagnose;
mod gate;
mod xml_props;
mod corpus_junit;
mod lint_parsers;
