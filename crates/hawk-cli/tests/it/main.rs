//! Integration tests of the `hawk` binary: each test runs the real executable against
//! its own SQLite file in a temporary directory.

mod crash;
mod demo;
mod errors;
mod export;
mod filters;
mod flags;
mod helpers;
mod import;
mod keys;
mod open;
mod output;
mod parallel;
mod prune;
mod queries;
mod readme;
mod serve;
mod sinks;
mod track;
mod verify;
