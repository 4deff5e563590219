//! Integration tests of `hawk-audit`: one binary (see STYLE.md).

mod helpers;

mod checkpoint;
mod conformance;
mod fast_paths;
mod faults;
mod filters;
mod model;
mod postgres;
mod prune;
mod tamper;
