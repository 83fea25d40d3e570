//! `deckcast token ...` and `deckcast platform secret|token ...`: one keyring secret each.
use anyhow::Context;
use deckcast_companion::keys::{self, Keys};

use super::args::TokenAction;
use super::{blocking, read_secret};

/// `show` (creating the dashboard token if missing), `rotate` or `set` for a keyring secret.
pub async fn command(action: TokenAction, account: &'static str) -> anyhow::Result<()> {
    let keys = tokio::task::spawn_blocking(Keys::open).await?;
    let secret = match action {
        TokenAction::Show if account == keys::DASHBOARD_TOKEN => {
            blocking(move || keys.dashboard_token()).await?
        }
        TokenAction::Show => blocking(move || keys.get(account))
            .await?
            .with_context(|| format!("no {account} in the keyring yet (use rotate or set)"))?,
        TokenAction::Rotate => {
            let t = keys::random_token()?;
            let stored = t.clone();
            blocking(move || keys.set(account, &stored)).await?;
            t
        }
        TokenAction::Set => {
            let t = read_secret(account)?.context("the value is empty")?;
            if account == keys::DASHBOARD_TOKEN && t.expose().trim().len() < keys::MIN_TOKEN_LEN {
                anyhow::bail!(
                    "the dashboard token must be at least {} characters long (deckcast token rotate makes a strong one)",
                    keys::MIN_TOKEN_LEN
                );
            }
            blocking(move || keys.set(account, &t)).await?;
            eprintln!("stored");
            return Ok(());
        }
    };
    println!("{}", secret.expose());
    Ok(())
}
