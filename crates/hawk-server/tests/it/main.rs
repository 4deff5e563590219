//! Integration tests of `hawk-server`: one binary (see STYLE.md). `routes` drives the
//! router in memory through `oneshot`, a table of cases per route; `socket` runs the
//! real server on a loopback port for the streaming routes and shutdown; `auth` checks
//! API keys: scopes, account isolation on every route and the rate limit.

mod helpers;

mod auth;
mod openapi;
mod routes;
mod socket;
