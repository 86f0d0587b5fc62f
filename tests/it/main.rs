//! The one integration-test binary. Each area is a module; shared helpers live in `common`.

mod common;
mod corpus;
mod corpus_xml;
mod verify;
mod xml_props;
