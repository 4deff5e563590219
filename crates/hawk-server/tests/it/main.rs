//! Integration tests of `hawk-server`: one binary (see STYLE.md). `routes` drives the
//! router in memory through `oneshot`, a table of cases per route; `socket` runs the
//! real server on a loopback port for the streaming routes and shutdown; `auth` checks
//! API keys: scopes, account isolation on every route and the rate limit; `browser`
//! drives the dashboard in headless Chromium; `faults` fills the disk under writes;
//! `postgres` runs two servers on one PostgreSQL database; `hardening` holds what a
//! security test of the real server found.

mod helpers;

mod auth;
mod browser;
mod faults;
mod hardening;
mod openapi;
mod postgres;
mod proofs;
mod routes;
mod socket;
