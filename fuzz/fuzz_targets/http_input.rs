//! The HTTP API's request parsing (`hawk-server`'s `input`): bodies of
//! `POST /v1/entries` and `POST /v1/events`, and query strings. Never a panic; a
//! refusal is always a 400 or a 422; an accepted batch holds 1 to 1000 entries.
#![no_main]

use arbitrary::Arbitrary;
use hawk_server::fuzzing;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Entries(&'a [u8]),
    Event(&'a [u8]),
    Query(&'a str),
}

fn refused(status: u16) {
    assert!(status == 400 || status == 422, "status {status}");
}

fuzz_target!(|input: Input| match input {
    Input::Entries(body) => match fuzzing::entries_body(body) {
        Ok(n) => assert!((1..=hawk_server::MAX_HTTP_BATCH).contains(&n)),
        Err(status) => refused(status),
    },
    Input::Event(body) => {
        if let Err(status) = fuzzing::event_body(body) {
            refused(status);
        }
    }
    Input::Query(query) => {
        for path in ["/v1/entries", "/v1/search", "/v1/actions"] {
            if let Err(status) = fuzzing::query(&format!("{path}?{query}")) {
                refused(status);
            }
        }
    }
});
