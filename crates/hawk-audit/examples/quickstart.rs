//! Track entries directly and through the event bus, then query them.
//!
//! Run with `cargo run -p hawk-audit --example quickstart` (writes `quickstart.db`).

use std::borrow::Cow;

use hawk_audit::{Audit, Events, NewEntry, Options, Recent, Subject};
use serde_json::json;

/// Your own types become actors and resources with two lines each.
struct User {
    id: u64,
}
impl Subject for User {
    fn subject_type(&self) -> Cow<'_, str> {
        "user".into()
    }
    fn subject_id(&self) -> String {
        self.id.to_string()
    }
}

struct Project {
    slug: String,
}
impl Subject for Project {
    fn subject_type(&self) -> Cow<'_, str> {
        "project".into()
    }
    fn subject_id(&self) -> String {
        self.slug.clone()
    }
}

#[tokio::main]
async fn main() -> hawk_audit::Result<()> {
    let bus = Events::new();
    let audit = Audit::open_with(
        "sqlite:quickstart.db",
        Options::default().events(bus.clone()),
    )
    .await?;

    let alice = User { id: 42 };
    let site = Project {
        slug: "website".into(),
    };
    let entry = audit
        .track(Some(&alice), "project.deleted", Some(&site))
        .await?;
    println!(
        "stored #{} at {}",
        entry.id,
        hawk_audit::format_time(entry.inserted_at)
    );

    audit
        .record(
            NewEntry::new("settings.updated")
                .actor(Some(&alice))
                .account("acme")
                .metadata(json!({ "field": "timezone", "to": "Europe/Paris" })),
        )
        .await?;

    // Lifecycle events emitted anywhere in the application are recorded too.
    bus.emit(
        "subscription.renewed",
        json!({ "account_id": "acme", "plan": "pro" }),
    )
    .await?;
    audit.flush().await;

    let page = audit.recent(Recent::page(1, 10)).await?;
    println!(
        "{} entries in all, {} page(s)",
        page.total_count, page.total_pages
    );
    for e in &page.entries {
        println!("  #{} {} account={:?}", e.id, e.action, e.account_id);
    }
    println!(
        "acme has {} entries",
        audit.for_account("acme").await?.len()
    );
    audit.close().await;
    Ok(())
}
