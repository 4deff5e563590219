//! `hawk keys`: the API keys `hawk serve` asks for.

use hawk_audit::Scope;

use super::{Access, Context, open};
use crate::KeysCommand;
use crate::output::Out;

pub(crate) async fn run(cx: &Context, out: &mut Out, command: KeysCommand) -> anyhow::Result<()> {
    let access = match command {
        KeysCommand::Create { .. } => Access::Create,
        KeysCommand::List => Access::Read,
        KeysCommand::Revoke { .. } => Access::Write,
    };
    let audit = open(&cx.db, access).await?;
    match command {
        KeysCommand::Create { scope, account } => {
            let scope: Scope = scope.parse()?;
            let created = audit.create_key(scope, account.as_deref()).await;
            audit.close().await;
            let (key, info) = created?;
            out.new_key(&key, &info)?;
        }
        KeysCommand::List => out.keys(&audit.keys().await?)?,
        KeysCommand::Revoke { id } => {
            let revoked = audit.revoke_key(id).await;
            audit.close().await;
            out.keys(&[revoked?])?
        }
    }
    Ok(())
}
