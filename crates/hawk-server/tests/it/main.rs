//! Integration tests of `hawk-server`: one binary (see STYLE.md). `routes` drives the
//! router in memory through `oneshot`, a table of cases per route; `socket` runs the
//! real server on a loopback port for the streaming routes and shutdown.

mod helpers;

mod openapi;
mod routes;
mod socket;
